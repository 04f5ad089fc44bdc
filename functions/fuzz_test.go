package functions_test

import (
	"bytes"
	"testing"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/functions"
)

// FuzzDecodeDeploy: a functions/deploy message decodes only from its one
// canonical encoding (so re-encoding gives the same bytes), and Validate
// never panics on what decodes.
func FuzzDecodeDeploy(f *testing.F) {
	full := spec()
	full.Cron = []functions.CronJob{{Schedule: "*/5 * * * *", Path: "/tick", Body: "{\"a\":1}\n"}, {Schedule: "@hourly", Path: "/h"}}
	for _, m := range []*functions.Deploy{
		{Name: "echo", Spec: spec(), Deposit: 5},
		{Name: "tick", Spec: full, Deposit: 1},
		{},
	} {
		w := codec.NewWriter(0)
		m.Encode(w)
		f.Add(w.Bytes())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var m functions.Deploy
		r := codec.NewReader(in)
		if err := m.Decode(r); err != nil || r.Finish() != nil {
			return
		}
		w := codec.NewWriter(len(in))
		m.Encode(w)
		if !bytes.Equal(w.Bytes(), in) {
			t.Fatalf("%q decodes to %+v, which encodes to %q", in, m, w.Bytes())
		}
		_ = m.Validate()
	})
}
