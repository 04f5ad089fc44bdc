package functions_test

import (
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/ledger"
)

// TestScheduleRunsEveryYear: a schedule is accepted only when it runs in
// every year, with robfig/cron's day-of-month/day-of-week rule.
func TestScheduleRunsEveryYear(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want string // "" for accepted
	}{
		{"*/5 * * * *", ""},
		{"@hourly", ""},
		{"@yearly", ""},
		{"@every 1m", ""},
		{"@every 8784h", ""},
		{"0 0 31 12 *", ""},
		{"0 0 31 * *", ""},
		{"0 0 28 2 *", ""},
		{"0 0 31 2,3 *", ""},
		{"0 0 30 2 mon", ""}, // either field: every Monday of February
		{"0 0 * 2 mon", ""},
		{", * * * *", "its minute field is empty"},
		{"0 , * * *", "its hour field is empty"},
		{"0 0 , * *", "its day-of-month field is empty"},
		{"0 0 * , *", "its month field is empty"},
		{"0 0 * * ,", "its day-of-week field is empty"},
		{"0 0 30 2 *", "no month it names has the day"},
		{"0 0 31 2,4,6,9,11 *", "no month it names has the day"},
		{"0 0 29 2 *", "no month it names has the day"}, // leap years only
		{"0 0 30 2 */1", "no month it names has the day"},
		{"@every 8785h", "less than once a year"},
		{"@every 30s", "once a minute"},
		{"TZ=UTC * * * * *", "time zone"},
		{"61 * * * *", "not a cron schedule"},
		{"", "is missing"},
		{strings.Repeat("1,", 100) + "1 * * * *", "too long"},
	} {
		_, err := functions.ParseSchedule(tc.spec)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.spec, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: got %v, want %q", tc.spec, err, tc.want)
		}
	}
}

// TestNextAgreesWithRobfig: for schedules the chain accepts, Next is
// robfig/cron's Next in UTC.
func TestNextAgreesWithRobfig(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	fields := [][]string{
		{"*", "0", "*/5", "7,31", "15-20", "59", "*/7"},
		{"*", "0", "23", "*/6", "9-17"},
		{"*", "1", "15", "31", "29", "28-31", "*/10", "30"},
		{"*", "1", "2", "12", "2,4", "*/3", "jan-mar"},
		{"*", "0", "mon", "1-5", "6", "*/2"},
	}
	n := 0
	for n < 400 {
		var parts []string
		for _, f := range fields {
			parts = append(parts, f[r.Intn(len(f))])
		}
		spec := strings.Join(parts, " ")
		s, err := functions.ParseSchedule(spec)
		if err != nil {
			continue
		}
		n++
		want, _ := cron.ParseStandard(spec)
		at := time.Unix(1_700_000_000+r.Int63n(5*365*86400), r.Int63n(1e9)).UTC()
		if got, w := s.Next(at), want.Next(at); !got.Equal(w) {
			t.Fatalf("%q after %v: Next %v, robfig %v", spec, at, got, w)
		}
	}
}

// TestEmptyMinuteRefused replays attack 2: a schedule whose minute field is
// empty parsed, and each Next walked five years of minutes in CheckTx and
// again in block execution. Now the deploy is refused and nothing changes.
func TestEmptyMinuteRefused(t *testing.T) {
	c := newChain(t, testParams(), 1)
	s := spec()
	s.Cron = []functions.CronJob{{Schedule: ", * * * *", Path: "/tick"}}
	before := c.Balance(c.users[0].Address())
	c.fails(c.users[0], &functions.Deploy{Name: "never", Spec: s, Deposit: 5 * str}, ledger.CodeInvalid,
		`cron[0].schedule: ", * * * *" never runs: its minute field is empty; a schedule must run at least once a year`)
	if got := c.Balance(c.users[0].Address()); got != before {
		t.Fatalf("balance %d, was %d: a message that fails its own checks is not charged", got, before)
	}
}

// FuzzParseSchedule: whatever the input, validating a schedule and
// computing its next run takes bounded time (50ms is a bound far above the
// microseconds it takes, and far below the 62ms one Next took before), and
// an accepted schedule runs within a year and agrees with robfig/cron.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{", * * * *", "*/5 * * * *", "0 0 29 2 *", "0 0 30 2 mon", "@every 1h", "@yearly", "0 0 31 2,4 *", "1-59/58 */23 31 */11 6"} {
		f.Add(s, int64(1_700_000_000))
	}
	f.Fuzz(func(t *testing.T, spec string, at int64) {
		at %= 1 << 40
		from := time.Unix(at, 0).UTC()
		start := time.Now()
		s, err := functions.ParseSchedule(spec)
		var next time.Time
		if err == nil {
			next = s.Next(from)
		}
		if took := time.Since(start); took > 50*time.Millisecond {
			t.Fatalf("%q took %v", spec, took)
		}
		if err != nil {
			return
		}
		if next.IsZero() || next.Sub(from) > 367*24*time.Hour {
			t.Fatalf("%q accepted, but its next run after %v is %v", spec, from, next)
		}
		if r, err := cron.ParseStandard(spec); err == nil {
			if w := r.Next(from); !w.Equal(next) {
				t.Fatalf("%q after %v: Next %v, robfig %v", spec, from, next, w)
			}
		}
	})
}
