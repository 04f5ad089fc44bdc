package objects_test

import (
	"slices"
	"testing"

	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/storage"
)

// ObjectsAfter pages through an owner's objects in ID order: the pages
// together are one page as large as all of them, each object once.
func TestObjectsAfterPages(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	ls := c.leases(0)
	for i := range 5 {
		_, b := manifest(t, data(600, byte(10+i)), c.providers...)
		c.OK(u, c.rc(u, &objects.Commit{Manifest: b, Leases: ls, Public: true}))
	}
	all, more, err := objects.ObjectsAfter(c.Query(), u.Address(), nil, 100)
	if err != nil || len(all) != 5 || more {
		t.Fatalf("one page of 100 = %d objects (more %v), %v; want 5", len(all), more, err)
	}
	var got []string
	var after *storage.ID
	for pages := 1; ; pages++ {
		page, more, err := objects.ObjectsAfter(c.Query(), u.Address(), after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page {
			got = append(got, o.ID)
		}
		if !more {
			if pages != 3 {
				t.Errorf("%d pages of 2 for 5 objects, want 3", pages)
			}
			break
		}
		id, err := storage.ParseID(page[len(page)-1].ID)
		if err != nil {
			t.Fatal(err)
		}
		after = &id
	}
	want := make([]string, len(all))
	for i, o := range all {
		want[i] = o.ID
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages = %v, want %v", got, want)
	}
	if page, more, err := objects.ObjectsAfter(c.Query(), c.users[1].Address(), nil, 2); err != nil || len(page) != 0 || more {
		t.Errorf("ObjectsAfter of an owner with none = %v, %v, %v", page, more, err)
	}
}
