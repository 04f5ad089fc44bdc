package functions

import (
	"fmt"
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
		Events.Scaled.Emit(ctx, depID(d), itoa(len(d.Replicas)-1), itoa(len(d.Replicas)),
			"deploy: min "+itoa(int(m.Spec.Scaling.Min)), ledger.FormatInt(r.Lease), r.Provider.String())
	}
	s.setCron(d)
	s.schedule(d, now+p.EvalSeconds*msPerSecond)
	s.putDeployment(d)
	s.putSpec(d)
	s.kv.Set(key(prefByName, signer, m.Name), key("", d.ID))
	s.kv.Set(key(prefByOwner, signer, d.ID), []byte{})
	Events.Deployed.Emit(ctx, depID(d), signer.String(), m.Name, m.Spec.Module, itoa(len(d.Replicas)), ledger.FormatInt(m.Deposit))
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
	d.ModuleError = ""
	if d.State == StateSuspended {
		s.resume(d)
	} else {
		s.setCron(d)
		s.refresh(d)
		// Evaluate the new rule in this block's EndBlock.
		s.schedule(d, s.nowMs())
	}
	s.putDeployment(d)
	s.putSpec(d)
	Events.Updated.Emit(ctx, depID(d), m.Spec.Module, m.Spec.SpecHash, ledger.FormatInt(m.Spec.SpendLimit))
	return nil
}

func scale(ctx *ledger.Context, signer identity.Address, m *Scale) error {
	s := newStore(ctx)
	p := s.params()
	if m.Max > p.MaxReplicas {
		return errs.E(errs.Invalid, "scaling.max: at most %d replicas on this chain", p.MaxReplicas)
	}
	d, err := s.owned(m.ID, signer)
	if err != nil {
		return err
	}
	if err := s.fullSpec(d); err != nil {
		return err
	}
	from := d.Spec.Scaling
	d.Spec.Scaling.Min, d.Spec.Scaling.Max = m.Min, m.Max
	d.UpdatedMs = s.nowMs()
	d.LowSinceMs = 0
	if d.State == StateSuspended {
		s.resume(d)
	} else {
		// Evaluated in this block's EndBlock: replicas above max close
		// there, through the deployment.
		s.schedule(d, s.nowMs())
	}
	s.putDeployment(d)
	s.putSpec(d)
	Events.Rescaled.Emit(ctx, depID(d), itoa(int(m.Min)), itoa(int(m.Max)), itoa(int(from.Min)), itoa(int(from.Max)))
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
	if d.State == StateSuspended {
		s.resume(d)
	} else {
		s.refresh(d)
		// A replacement that waited for escrow is tried in this block.
		s.schedule(d, s.nowMs())
	}
	s.putDeployment(d)
	Events.Topup.Emit(ctx, depID(d), signer.String(), ledger.FormatInt(m.Amount), ledger.FormatInt(d.Escrow))
	return nil
}

func remove(ctx *ledger.Context, signer identity.Address, m *Remove) error {
	s := newStore(ctx)
	d, err := s.owned(m.ID, signer)
	if err != nil {
		return err
	}
	var closed []string
	for len(d.Replicas) > 0 {
		r := d.Replicas[len(d.Replicas)-1]
		ok, err := s.closeReplica(d, r)
		if err != nil {
			return err
		}
		if ok {
			closed = append([]string{ledger.FormatInt(r.Lease)}, closed...)
		}
	}
	if err := s.flushPending(d); err != nil {
		return err
	}
	// What the replicas' final reports may still charge stays until their
	// time is up (evaluate refunds it then); the rest goes back now.
	refund := d.Escrow - min(d.Escrow, d.Reserved)
	if err := s.refund(d, refund); err != nil {
		return err
	}
	s.clearCron(d)
	s.schedule(d, 0)
	if d.Reserved > 0 {
		s.schedule(d, d.ReservedUntilMs)
	}
	s.kv.Delete(key(prefByName, d.Owner, d.Name))
	d.State, d.ExhaustedReason, d.SuspendedReason, d.AccruedNano, d.LowSinceMs, d.Blocked = StateRemoved, "", "", 0, 0, ""
	d.RemovedMs = s.nowMs()
	s.putDeployment(d)
	Events.Removed.Emit(ctx, depID(d), ledger.FormatInt(refund), strings.Join(closed, ","), ledger.FormatInt(d.Reserved), d.Spec.Module)
	return nil
}

// refund returns amt of d's escrow to its owner.
func (s *store) refund(d *Deployment, amt uint64) error {
	if amt == 0 {
		return nil
	}
	if err := s.ctx.Credit(BucketEscrow, d.Owner, amt); err != nil {
		return err
	}
	d.Refunded += amt
	d.Escrow -= amt
	return nil
}

// available is d's escrow that is not kept back for final reports: what a
// replica's deposit may take.
func (d *Deployment) available() uint64 { return d.Escrow - min(d.Escrow, d.Reserved) }

// suspend stops a deployment that cannot run: no evaluation, no cron,
// nothing written by any block until resume.
func (s *store) suspend(d *Deployment, reason string) {
	s.clearCron(d)
	d.State, d.SuspendedReason, d.LowSinceMs, d.Blocked = StateSuspended, reason, 0, ""
	s.schedule(d, 0)
	if d.Reserved > 0 {
		// Only to release the reserve when its time is up.
		s.schedule(d, d.ReservedUntilMs)
	}
	Events.Suspended.Emit(s.ctx, depID(d), reason, ledger.FormatInt(d.Escrow))
}

// resume makes a suspended deployment run again when it can pay for a
// replica: it is evaluated (and opens its replicas) in this block.
func (s *store) resume(d *Deployment) {
	p := s.params()
	switch room, why := d.room(); {
	case room == 0:
		d.SuspendedReason = "exhausted (" + why + "): top it up or raise spend_limit"
		return
	case d.available() < p.ReplicaDeposit:
		d.SuspendedReason = fmt.Sprintf("the escrow, %s, is short of a replica's lease deposit, %s: top it up",
			money.Format(d.available()), money.Format(p.ReplicaDeposit))
		return
	}
	d.State, d.ExhaustedReason, d.SuspendedReason = StateActive, "", ""
	s.setCron(d)
	s.schedule(d, s.nowMs())
	Events.Resumed.Emit(s.ctx, depID(d), ledger.FormatInt(d.Escrow))
}

// refresh sets an active or exhausted deployment's state from the room it
// has for charges, and emits the change.
func (s *store) refresh(d *Deployment) {
	if d.State == StateRemoved || d.State == StateSuspended {
		return
	}
	room, reason := d.room()
	switch {
	case room == 0 && d.State != StateExhausted:
		d.State, d.ExhaustedReason = StateExhausted, reason
		Events.Exhausted.Emit(s.ctx, depID(d), reason, ledger.FormatInt(d.Charged), ledger.FormatInt(d.Escrow))
	case room == 0:
		d.ExhaustedReason = reason
	case d.State == StateExhausted:
		d.State, d.ExhaustedReason = StateActive, ""
		Events.Active.Emit(s.ctx, depID(d), ledger.FormatInt(d.Escrow), ledger.FormatInt(d.Spec.SpendLimit))
	}
}

// room is what the deployment's live replicas can still be charged: its
// escrow less what is kept back for final reports, within its spend
// limit; and which of the two binds.
func (d *Deployment) room() (uint64, string) {
	var left uint64
	if d.Charged < d.Spec.SpendLimit {
		left = d.Spec.SpendLimit - d.Charged
	}
	if esc := d.available(); left > esc {
		return esc, "escrow"
	}
	return left, "spend_limit"
}
