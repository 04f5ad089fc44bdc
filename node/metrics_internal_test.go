package node

import "testing"

func TestSettledSince(t *testing.T) {
	before := map[uint64]uint64{1: 100, 2: 50}
	for _, tc := range []struct {
		name     string
		complete bool
		id       uint64
		settled  uint64
		want     uint64
	}{
		{"a seen lease paid more", true, 1, 130, 30},
		{"a seen lease paid nothing", true, 2, 50, 0},
		{"a seen lease, after an incomplete scan", false, 1, 101, 1},
		{"a new lease, after a complete scan", true, 3, 7, 7},
		{"an unseen lease, after an incomplete scan", false, 3, 7, 0},
		{"a lower Settled never counts back", true, 1, 90, 0},
	} {
		if got := settledSince(before, tc.complete, tc.id, tc.settled); got != tc.want {
			t.Errorf("%s: settledSince = %d, want %d", tc.name, got, tc.want)
		}
	}
}
