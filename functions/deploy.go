package functions

import (
	"slices"
	"strings"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
)

func deploy(ctx *ledger.Context, signer identity.Address, m *Deploy) error {
	ctx.ConsumeGas(uint64(len(m.Spec.Cron))*GasPerCronJob, "cron validation")
	s := newStore(ctx)
	p := s.params()
	if m.Spec.Scaling.Max > p.MaxReplicas {
		return errs.E(errs.Invalid, "scaling.max: at most %d replicas on this chain", p.MaxReplicas)
	}
	if b := s.kv.Get(key(prefByName, signer, m.Name)); b != nil {
		return errs.E(errs.Conflict, "you already have a deployment named %q: change it with `stratus fn update`, or remove it first", m.Name)
	}
	need, _, err := money.MulDiv(uint64(m.Spec.Scaling.Min), p.ReplicaDeposit, 1)
	if err != nil {
		return err
	}
	if m.Deposit <= need {
		return errs.E(errs.Insufficient, "deposit %s must exceed the lease deposits of scaling.min (%d) replicas, %s, to leave escrow for calls: deposit more",
			money.Format(m.Deposit), m.Spec.Scaling.Min, money.Format(need))
	}
	if err := ctx.Debit(signer, BucketEscrow, m.Deposit); err != nil {
		return err
	}
	now := s.nowMs()
	d := &Deployment{
		ID: s.nextID(), Owner: signer, Name: m.Name, Spec: m.Spec, State: StateActive,
		Deposited: m.Deposit, Escrow: m.Deposit, Payees: payeesOf(m.Spec), Replicas: []Replica{},
		CreatedMs: now, UpdatedMs: now,
	}
	for len(d.Replicas) < int(m.Spec.Scaling.Min) {
		r, err := s.openReplica(d, nil)
		if err != nil {
			return errs.E(errs.KindOf(err), "scaling.min: %d replicas are needed but only %d could be opened: %v", m.Spec.Scaling.Min, len(d.Replicas), err)
		}
		ctx.Emit("function.scaled", attrDep(d.ID), attr("from", itoa(len(d.Replicas)-1)), attr("to", itoa(len(d.Replicas))),
			attr("reason", "deploy: min "+itoa(int(m.Spec.Scaling.Min))), attr("lease", ledger.FormatInt(r.Lease)), attr("provider", r.Provider.String()))
	}
	s.setCron(d)
	s.schedule(d, now+p.EvalSeconds*msPerSecond)
	s.putDeployment(d)
	s.kv.Set(key(prefByName, signer, m.Name), key("", d.ID))
	s.kv.Set(key(prefByOwner, signer, d.ID), []byte{})
	ctx.Emit("function.deployed", attrDep(d.ID), attr("owner", signer.String()), attr("name", m.Name),
		attr("module", m.Spec.Module), attr("replicas", itoa(len(d.Replicas))), attr("deposit", ledger.FormatInt(m.Deposit)))
	return nil
}

func payeesOf(sp Spec) []market.Payee {
	if len(sp.Split) == 0 {
		return []market.Payee{{To: payeeProvider, Bps: 10_000}}
	}
	out := make([]market.Payee, len(sp.Split))
	for i, p := range sp.Split {
		out[i] = market.Payee{To: p.To, Bps: p.Bps}
	}
	return out
}

func sameSplit(a, b []market.Payee) bool {
	return slices.EqualFunc(a, b, func(x, y market.Payee) bool { return x.To == y.To && x.Bps == y.Bps })
}

// owned loads a deployment that signer owns and that is not removed.
func (s *store) owned(id uint64, signer identity.Address) (*Deployment, error) {
	d, err := s.deployment(id)
	if err != nil {
		return nil, err
	}
	if d.Owner != signer {
		return nil, errs.E(errs.Unauthorized, "deployment %d is %s's: only its owner can change it", id, d.Owner)
	}
	if d.State == StateRemoved {
		return nil, errs.E(errs.Conflict, "deployment %d was removed: deploy it again", id)
	}
	return d, nil
}

func update(ctx *ledger.Context, signer identity.Address, m *Update) error {
	ctx.ConsumeGas(uint64(len(m.Spec.Cron))*GasPerCronJob, "cron validation")
	s := newStore(ctx)
	p := s.params()
	if m.Spec.Scaling.Max > p.MaxReplicas {
		return errs.E(errs.Invalid, "scaling.max: at most %d replicas on this chain", p.MaxReplicas)
	}
	d, err := s.owned(m.ID, signer)
	if err != nil {
		return err
	}
	if m.Spec.SpendLimit < d.Charged {
		return errs.E(errs.Invalid, "spend_limit: %s is below the %s already charged; give at least that",
			money.Format(m.Spec.SpendLimit), money.Format(d.Charged))
	}
	if next := payeesOf(m.Spec); !sameSplit(next, d.Payees) {
		// A new split starts new books: what the old one left pending
		// goes to its first payee first.
		if err := s.flushPending(d); err != nil {
			return err
		}
		for _, py := range d.Payees {
			d.PaidBefore += py.Paid
		}
		d.Payees, d.SplitCharged = next, 0
	}
	s.clearCron(d)
	d.Spec = m.Spec
	d.UpdatedMs = s.nowMs()
	s.setCron(d)
	s.refresh(d)
	// Evaluate the new rule in this block's EndBlock.
	s.schedule(d, s.nowMs())
	s.putDeployment(d)
	ctx.Emit("function.updated", attrDep(d.ID), attr("module", m.Spec.Module), attr("spec_hash", m.Spec.SpecHash),
		attr("spend_limit", ledger.FormatInt(m.Spec.SpendLimit)))
	return nil
}

func topup(ctx *ledger.Context, signer identity.Address, m *Topup) error {
	s := newStore(ctx)
	d, err := s.deployment(m.ID)
	if err != nil {
		return err
	}
	if d.State == StateRemoved {
		return errs.E(errs.Conflict, "deployment %d was removed: deploy it again", d.ID)
	}
	esc, err := money.Add(d.Escrow, m.Amount)
	if err != nil {
		return err
	}
	dep, err := money.Add(d.Deposited, m.Amount)
	if err != nil {
		return err
	}
	if err := ctx.Debit(signer, BucketEscrow, m.Amount); err != nil {
		return err
	}
	d.Escrow, d.Deposited = esc, dep
	s.refresh(d)
	// A replacement that waited for escrow is tried in this block.
	s.schedule(d, s.nowMs())
	s.putDeployment(d)
	ctx.Emit("function.topup", attrDep(d.ID), attr("from", signer.String()), attr("amount", ledger.FormatInt(m.Amount)),
		attr("escrow", ledger.FormatInt(d.Escrow)))
	return nil
}

func remove(ctx *ledger.Context, signer identity.Address, m *Remove) error {
	s := newStore(ctx)
	d, err := s.owned(m.ID, signer)
	if err != nil {
		return err
	}
	var closed []string
	for _, r := range d.Replicas {
		ok, err := s.closeLease(d, r.Lease)
		if err != nil {
			return err
		}
		if ok {
			closed = append(closed, ledger.FormatInt(r.Lease))
		}
		s.dropReplicaIndex(d, r)
	}
	d.Replicas = []Replica{}
	if err := s.flushPending(d); err != nil {
		return err
	}
	refund := d.Escrow
	if refund > 0 {
		if err := ctx.Credit(BucketEscrow, d.Owner, refund); err != nil {
			return err
		}
		d.Refunded += refund
		d.Escrow = 0
	}
	s.clearCron(d)
	s.schedule(d, 0)
	s.kv.Delete(key(prefByName, d.Owner, d.Name))
	d.State, d.ExhaustedReason, d.AccruedNano, d.LowSinceMs, d.Blocked = StateRemoved, "", 0, 0, ""
	d.RemovedMs = s.nowMs()
	s.putDeployment(d)
	ctx.Emit("function.removed", attrDep(d.ID), attr("refund", ledger.FormatInt(refund)), attr("closed", strings.Join(closed, ",")))
	return nil
}

// refresh sets an active or exhausted deployment's state from the room it
// has for charges, and emits the change.
func (s *store) refresh(d *Deployment) {
	if d.State == StateRemoved {
		return
	}
	room, reason := d.room()
	switch {
	case room == 0 && d.State != StateExhausted:
		d.State, d.ExhaustedReason = StateExhausted, reason
		s.ctx.Emit("function.exhausted", attrDep(d.ID), attr("reason", reason), attr("charged", ledger.FormatInt(d.Charged)),
			attr("escrow", ledger.FormatInt(d.Escrow)))
	case room == 0:
		d.ExhaustedReason = reason
	case d.State == StateExhausted:
		d.State, d.ExhaustedReason = StateActive, ""
		s.ctx.Emit("function.active", attrDep(d.ID), attr("escrow", ledger.FormatInt(d.Escrow)),
			attr("spend_limit", ledger.FormatInt(d.Spec.SpendLimit)))
	}
}

// room is what the deployment can still be charged: its escrow, within
// its spend limit; and which of the two binds.
func (d *Deployment) room() (uint64, string) {
	var left uint64
	if d.Charged < d.Spec.SpendLimit {
		left = d.Spec.SpendLimit - d.Charged
	}
	if left <= d.Escrow {
		return left, "spend_limit"
	}
	return d.Escrow, "escrow"
}
