package functions_test

import (
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
)

// TestBadInput: each bad message fails with a clear error that names the
// problem, and changes nothing.
func TestBadInput(t *testing.T) {
	c := newChain(t, testParams(), 2)
	owner := c.users[0]
	id := c.deploy("ok", spec(), 10*str)
	prov := c.providerKey(c.dep(id).Replicas[0].Provider)
	with := func(f func(*functions.Spec)) functions.Spec { s := spec(); f(&s); return s }
	cases := []struct {
		name string
		from func() ledger.Msg
		code uint32
		want string
	}{
		{"bad name", func() ledger.Msg { return &functions.Deploy{Name: "Bad_Name", Spec: spec(), Deposit: 5 * str} }, ledger.CodeInvalid, "name"},
		{"bad module", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) { s.Module = "./echo.wasm" }), Deposit: 5 * str}
		}, ledger.CodeInvalid, "module:"},
		{"bad hash", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) { s.SpecHash = "xyz" }), Deposit: 5 * str}
		}, ledger.CodeInvalid, "spec_hash"},
		{"bad cron", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) { s.Cron = []functions.CronJob{{Schedule: "61 * * * *", Path: "/tick"}} }), Deposit: 5 * str}
		}, ledger.CodeInvalid, "cron[0].schedule: \"61 * * * *\" is not a cron schedule"},
		{"cron time zone", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) {
				s.Cron = []functions.CronJob{{Schedule: "CRON_TZ=Asia/Tokyo 0 6 * * *", Path: "/tick"}}
			}), Deposit: 5 * str}
		}, ledger.CodeInvalid, "UTC"},
		{"cron too often", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) { s.Cron = []functions.CronJob{{Schedule: "@every 10s", Path: "/tick"}} }), Deposit: 5 * str}
		}, ledger.CodeInvalid, "once a minute"},
		{"cron without path", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) { s.Cron = []functions.CronJob{{Schedule: "@hourly"}} }), Deposit: 5 * str}
		}, ledger.CodeInvalid, "cron[0].path: is missing"},
		{"cron path wildcard", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) { s.Cron = []functions.CronJob{{Schedule: "@hourly", Path: "/a/..."}} }), Deposit: 5 * str}
		}, ledger.CodeInvalid, "has a wildcard"},
		{"cron body control", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) {
				s.Cron = []functions.CronJob{{Schedule: "@hourly", Path: "/t", Body: "a\x00b"}}
			}), Deposit: 5 * str}
		}, ledger.CodeInvalid, "cron[0].body"},
		{"cron bodies over the chain's bound", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) {
				big := strings.Repeat("x", 40<<10)
				s.Cron = []functions.CronJob{{Schedule: "@hourly", Path: "/a", Body: big}, {Schedule: "@daily", Path: "/b", Body: big}}
			}), Deposit: 5 * str}
		}, ledger.CodeInvalid, "bodies add up to 81920 bytes"},
		{"env reserved", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) { s.Env = map[string]string{"PATH_INFO": "x"} }), Deposit: 5 * str}
		}, ledger.CodeInvalid, "env.PATH_INFO: is set by the runtime"},
		{"env bad name", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) { s.Env = map[string]string{"1A": "x"} }), Deposit: 5 * str}
		}, ledger.CodeInvalid, "is not a variable name"},
		{"env value newline", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) { s.Env = map[string]string{"A": "x\ny"} }), Deposit: 5 * str}
		}, ledger.CodeInvalid, "one line of printable text"},
		{"max_request too small", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) { s.MaxRequestBytes = 10 }), Deposit: 5 * str}
		}, ledger.CodeInvalid, "limits.max_request: 10B is out of range"},
		{"max_response too big", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) { s.MaxResponseBytes = 65 << 20 }), Deposit: 5 * str}
		}, ledger.CodeInvalid, "limits.max_response"},
		{"min 0", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) { s.Scaling.Min = 0 }), Deposit: 5 * str}
		}, ledger.CodeInvalid, "scaling.min"},
		{"max < min", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) { s.Scaling.Min, s.Scaling.Max = 3, 2 }), Deposit: 5 * str}
		}, ledger.CodeInvalid, "scaling.max"},
		{"no routes", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) { s.Routes = nil }), Deposit: 5 * str}
		}, ledger.CodeInvalid, "routes"},
		{"memory", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) { s.MemoryBytes = 5 << 30 }), Deposit: 5 * str}
		}, ledger.CodeInvalid, "limits.memory"},
		{"split", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) { s.Split = []market.Payee{{To: "provider", Bps: 5000}} }), Deposit: 5 * str}
		}, ledger.CodeInvalid, "add up to 5000"},
		{"zero spend limit", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) { s.SpendLimit = 0 }), Deposit: 5 * str}
		}, ledger.CodeInvalid, "spend_limit"},
		{"max over chain", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) { s.Scaling.Max = 40 }), Deposit: 5 * str}
		}, ledger.CodeInvalid, "at most 16"},
		{"deposit short", func() ledger.Msg { return &functions.Deploy{Name: "a", Spec: spec(), Deposit: 1 * str} }, ledger.CodeInsufficient, "must exceed"},
		{"more than providers", func() ledger.Msg {
			return &functions.Deploy{Name: "a", Spec: with(func(s *functions.Spec) { s.Scaling.Min = 3 }), Deposit: 5 * str}
		}, ledger.CodeNotFound, "only 2 could be opened"},
		{"duplicate name", func() ledger.Msg { return &functions.Deploy{Name: "ok", Spec: spec(), Deposit: 5 * str} }, ledger.CodeConflict, "already have"},
		{"unknown update", func() ledger.Msg { return &functions.Update{ID: 99, Spec: spec()} }, ledger.CodeNotFound, "no deployment 99"},
		{"zero topup", func() ledger.Msg { return &functions.Topup{ID: id} }, ledger.CodeInvalid, "positive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.T = t
			c.fails(owner, tc.from(), tc.code, tc.want)
		})
	}
	c.T = t
	c.fails(c.users[1], &functions.Update{ID: id, Spec: spec()}, ledger.CodeUnauthorized, "only its owner")
	c.fails(c.users[1], &functions.Remove{ID: id}, ledger.CodeUnauthorized, "only its owner")
	c.fails(c.users[1], &functions.Scale{ID: id, Min: 1, Max: 1}, ledger.CodeUnauthorized, "only its owner")
	c.fails(owner, &functions.Scale{ID: id, Min: 0, Max: 1}, ledger.CodeInvalid, "scaling.min: must be at least 1")
	c.fails(owner, &functions.Scale{ID: id, Min: 2, Max: 1}, ledger.CodeInvalid, "scaling.max: must be between min (2)")
	c.fails(owner, &functions.Scale{ID: id, Min: 1, Max: 17}, ledger.CodeInvalid, "at most 16 replicas on this chain")
	c.fails(owner, &functions.Scale{ID: 99, Min: 1, Max: 1}, ledger.CodeNotFound, "no deployment 99")
	c.fails(c.stranger, &functions.UsageReport{Deployment: id, Sequence: 1, Calls: 1, PeakConcurrency: 1}, ledger.CodeUnauthorized, "holds no replica")
	c.fails(prov, &functions.UsageReport{Deployment: id, Sequence: 1, Epoch: c.epoch() + 5, Calls: 1, PeakConcurrency: 1}, ledger.CodeInvalid, "after the block's epoch")
	c.fails(prov, &functions.UsageReport{Deployment: id, Sequence: 1, Calls: 1, PeakConcurrency: 1, AvgConcurrency: 2}, ledger.CodeInvalid, "above peak")
	c.fails(prov, &functions.UsageReport{Deployment: id, Sequence: 0, Calls: 1, PeakConcurrency: 1}, ledger.CodeInvalid, "sequence must be positive")
	c.OK(owner, &functions.Remove{ID: id})
	c.fails(owner, &functions.Remove{ID: id}, ledger.CodeConflict, "was removed")
	c.fails(owner, &functions.Topup{ID: id, Amount: 1}, ledger.CodeConflict, "was removed")
	// The removed replica's provider sends its final report, once.
	if r := c.report(prov, &functions.UsageReport{Deployment: id, Sequence: 1, Epoch: c.epoch(), Calls: 1, PeakConcurrency: 1}); r.Code != ledger.CodeOK {
		t.Fatalf("final report: %s", r.Log)
	}
	c.fails(prov, &functions.UsageReport{Deployment: id, Sequence: 2, Epoch: c.epoch(), Calls: 1, PeakConcurrency: 1}, ledger.CodeConflict, "was removed")
}
