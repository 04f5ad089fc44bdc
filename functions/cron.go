package functions

import (
	"encoding/binary"
	"sort"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// cronNext is a schedule's first run strictly after afterMs, in unix ms;
// 0 when it has none (a schedule stored before ParseSchedule refused
// it). It takes bounded time (Schedule.Next).
func cronNext(spec string, afterMs int64) int64 {
	sch, err := ParseSchedule(spec)
	if err != nil {
		return 0
	}
	t := sch.Next(time.UnixMilli(afterMs))
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// setCron schedules each of d's cron entries after the block's time.
func (s *store) setCron(d *Deployment) {
	d.CronNextMs = nil
	for i, c := range d.Spec.Cron {
		next := cronNext(c.Schedule, s.nowMs())
		d.CronNextMs = append(d.CronNextMs, next)
		if next != 0 {
			s.kv.Set(key(prefCron, next, d.ID, uint16(i)), []byte{})
		}
	}
}

func (s *store) clearCron(d *Deployment) {
	for i, next := range d.CronNextMs {
		if next != 0 {
			s.kv.Delete(key(prefCron, next, d.ID, uint16(i)))
		}
	}
	d.CronNextMs = nil
	// Runs of the old jobs not yet served are dropped: an index would name
	// another job of the new spec.
	d.CronRecent = nil
}

// processCron emits the cron runs due by the block's time, at most
// Params.BlockCronRuns (the rest stay due for the next blocks). Each goes
// to one active replica, by round robin over the deployment's run count.
func (s *store) processCron() error {
	now := s.nowMs()
	limit := s.params().blockCronRuns()
	type due struct {
		at  int64
		id  uint64
		idx uint16
	}
	var ds []due
	err := s.kv.Iterate([]byte(prefCron), func(k, _ []byte) error {
		k = k[len(prefCron):]
		if len(k) != 18 {
			return errs.E(errs.Internal, "functions: corrupt cron key %x", k)
		}
		at := int64(binary.BigEndian.Uint64(k[:8]))
		if at > now || len(ds) == limit {
			return ledger.ErrStop
		}
		ds = append(ds, due{at: at, id: binary.BigEndian.Uint64(k[8:16]), idx: binary.BigEndian.Uint16(k[16:])})
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range ds {
		d, err := s.deployment(e.id)
		if err != nil {
			return err
		}
		s.kv.Delete(key(prefCron, e.at, e.id, e.idx))
		if int(e.idx) >= len(d.Spec.Cron) || d.State == StateRemoved || d.State == StateSuspended {
			continue
		}
		var live []Replica
		for _, r := range d.Replicas {
			l, err := s.leaseState(r.Lease)
			if err != nil {
				return err
			}
			if isLive(l.State) {
				live = append(live, r)
			}
		}
		job := d.Spec.Cron[e.idx]
		var skipped, provider, lease string
		switch {
		case d.State == StateExhausted:
			skipped = "exhausted"
		case len(live) == 0:
			skipped = "no active replica"
		default:
			r := live[d.CronRuns%uint64(len(live))]
			provider, lease = r.Provider.String(), ledger.FormatInt(r.Lease)
			d.CronRecent = append(d.CronRecent, CronAssigned{Run: d.CronRuns, Index: int(e.idx), DueMs: e.at, Lease: r.Lease, Provider: r.Provider})
			if n := len(d.CronRecent); n > maxCronRecent {
				d.CronRecent = append([]CronAssigned(nil), d.CronRecent[n-maxCronRecent:]...)
			}
		}
		Events.Cron.Emit(s.ctx, depID(d), job.Schedule, job.Path, itoa(int(e.idx)), ledger.FormatInt(uint64(e.at)),
			ledger.FormatInt(d.CronRuns), skipped, provider, lease)
		d.CronRuns++
		next := cronNext(job.Schedule, now)
		d.CronNextMs[e.idx] = next
		if next != 0 {
			s.kv.Set(key(prefCron, next, d.ID, e.idx), []byte{})
		}
		s.putDeployment(d)
	}
	return nil
}

// maxCronRecent is how many assigned runs a deployment keeps for its
// providers to find: at most 8 jobs run at most once a minute, so 16 cover
// two minutes, and a provider looks every few seconds.
const maxCronRecent = 16

// CronAssigned is a cron run given to one replica. Its provider calls the
// function once for it (Spec.Cron[Index]) and reports the call like any
// other.
type CronAssigned struct {
	// Run numbers the deployment's runs from 0, skipped ones included.
	Run      uint64           `json:"run,string"`
	Index    int              `json:"index"`
	DueMs    int64            `json:"due_ms"`
	Lease    uint64           `json:"lease,string"`
	Provider identity.Address `json:"provider"`
}

// CronRun is one run of a deployment's schedule.
type CronRun struct {
	Index    int    `json:"index"`
	Schedule string `json:"schedule"`
	AtMs     int64  `json:"at_ms"`
}

// maxCronRuns bounds what DueCron returns.
const maxCronRuns = 10_000

// DueCron lists the runs of deployment id's schedules in [fromMs, toMs),
// in time order, at most 10000. It fails with NotFound for an unknown
// deployment and Invalid for an empty range.
func DueCron(ctx *ledger.Context, id uint64, fromMs, toMs int64) ([]CronRun, error) {
	if toMs <= fromMs {
		return nil, errs.E(errs.Invalid, "the range [%d, %d) is empty", fromMs, toMs)
	}
	d, err := newStore(ctx).deployment(id)
	if err != nil {
		return nil, err
	}
	out := []CronRun{}
	for i, c := range d.Spec.Cron {
		for at := cronNext(c.Schedule, fromMs-1); at != 0 && at < toMs && len(out) < maxCronRuns; at = cronNext(c.Schedule, at) {
			out = append(out, CronRun{Index: i, Schedule: c.Schedule, AtMs: at})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].AtMs < out[j].AtMs })
	return out, nil
}
