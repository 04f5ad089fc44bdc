package market_test

import (
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/market"
)

// TestEachLeaseStopsAtMax: EachLease visits leases in id order, stops after
// max, and says whether it saw them all.
func TestEachLeaseStopsAtMax(t *testing.T) {
	c := newSMChain(t, smOpts{genesis: []market.GenesisProvider{smProvider(market.ClassStorage, 10*smGiB, 1000)}})
	var ids []uint64
	for range 3 {
		ids = append(ids, c.open(time.Second, c.consumers[0], &market.OpenLease{Class: market.ClassStorage, Quantity: smGiB, Deposit: smSTR}))
	}
	q, err := c.M.NewQueryContext(c.St, smChainID, c.Height, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		max      int
		want     []uint64
		complete bool
	}{
		{max: 10, want: ids, complete: true},
		{max: 3, want: ids, complete: true},
		{max: 2, want: ids[:2], complete: false},
		{max: 0, want: nil, complete: false},
	} {
		var got []uint64
		complete, err := market.EachLease(q, tc.max, func(l *market.Lease) {
			if l.State != market.LeasePending {
				t.Errorf("lease %d is %s, want pending", l.ID, l.State)
			}
			got = append(got, l.ID)
		})
		if err != nil || complete != tc.complete || len(got) != len(tc.want) {
			t.Errorf("EachLease(max %d) = %v, complete %v, %v; want %v, complete %v", tc.max, got, complete, err, tc.want, tc.complete)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("EachLease(max %d) = %v, want %v", tc.max, got, tc.want)
				break
			}
		}
	}
}
