package functions_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stratus-cloud/stratus/functions"
)

// DeploymentsAfter pages through an owner's deployments by id: the pages
// together are DeploymentsOf, each deployment once.
func TestDeploymentsAfterPages(t *testing.T) {
	c := newChain(t, testParams(), 2)
	var ids []uint64
	for i := range 5 {
		ids = append(ids, c.deploy(fmt.Sprint("d", i), spec(), 10*str))
	}
	owner := c.users[0].Address()
	var got []uint64
	var after uint64
	for pages := 1; ; pages++ {
		page, more, err := functions.DeploymentsAfter(c.Query(), owner, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page {
			got = append(got, d.ID)
		}
		if !more {
			if pages != 3 {
				t.Errorf("%d pages of 2 for 5 deployments, want 3", pages)
			}
			break
		}
		after = page[len(page)-1].ID
	}
	if !slices.Equal(got, ids) {
		t.Errorf("pages = %v, want %v", got, ids)
	}
	all, err := functions.DeploymentsOf(c.Query(), owner)
	if err != nil || len(all) != len(got) {
		t.Errorf("DeploymentsOf = %d, %v; want %d", len(all), err, len(got))
	}
}
