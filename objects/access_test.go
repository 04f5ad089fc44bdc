package objects_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/storage"
)

// epochNow is the market epoch of the chain's last block (60 s epochs).
func (c *chain) epochNow() uint64 { return uint64(c.Now.UnixMilli() / 60_000) }

func TestAnchor(t *testing.T) {
	c := newChain(t)
	c.BlockAfter(2 * time.Minute)
	p := c.providers[0]
	root := storage.Hash{1, 2, 3}
	prev := c.epochNow() - 1

	r := c.OK(p, &objects.Anchor{Epoch: prev, Root: root, Count: 3})
	ev := ledgertest.Find(r.Events, objects.EventAccessAnchored)
	if ev == nil || ev.Get(objects.AttrRoot) != root.String() || ev.Get(objects.AttrCount) != "3" || ev.Get(objects.AttrProvider) != p.Address().String() {
		t.Fatalf("events %v: want %s with the root, count and provider", r.Events, objects.EventAccessAnchored)
	}
	a, err := objects.GetAnchor(c.Query(), p.Address(), prev)
	if err != nil {
		t.Fatal(err)
	}
	if a.Root != root || a.Count != 3 || a.Epoch != prev || a.Height != c.Height {
		t.Fatalf("anchor %+v", a)
	}
	w := objects.GetAnchorWindow(c.Query())
	if w.Current != c.epochNow() || w.EpochSeconds != 60 || w.Oldest != w.Current-objects.AnchorMaxAgeSeconds/60 {
		t.Fatalf("window %+v", w)
	}
}

// The attempts of a provider to rewrite its log, and of a stranger to
// write one, each fail and change nothing.
func TestAnchorRefused(t *testing.T) {
	c := newChain(t)
	c.BlockAfter(2 * time.Minute)
	p := c.providers[0]
	prev := c.epochNow() - 1
	c.OK(p, &objects.Anchor{Epoch: prev, Root: storage.Hash{1}, Count: 3})

	t.Run("second anchor of an epoch", func(t *testing.T) {
		c.fails(p, &objects.Anchor{Epoch: prev, Root: storage.Hash{9}, Count: 2}, ledger.CodeConflict)
		if a, _ := objects.GetAnchor(c.Query(), p.Address(), prev); a.Root != (storage.Hash{1}) || a.Count != 3 {
			t.Fatalf("the anchor changed: %+v", a)
		}
	})
	t.Run("not a provider", func(t *testing.T) {
		c.fails(c.users[0], &objects.Anchor{Epoch: c.epochNow() - 1, Root: storage.Hash{1}, Count: 1}, ledger.CodeUnauthorized)
	})
	t.Run("current epoch", func(t *testing.T) {
		// The block that runs it is one second after the last; stay in
		// the same epoch by anchoring the epoch of the next block.
		next := uint64(c.Now.Add(time.Second).UnixMilli() / 60_000)
		c.fails(c.providers[1], &objects.Anchor{Epoch: next, Root: storage.Hash{1}, Count: 1}, ledger.CodeInvalid)
	})
	t.Run("future epoch", func(t *testing.T) {
		c.fails(c.providers[1], &objects.Anchor{Epoch: c.epochNow() + 5, Root: storage.Hash{1}, Count: 1}, ledger.CodeInvalid)
	})
	t.Run("too old", func(t *testing.T) {
		c.fails(c.providers[1], &objects.Anchor{Epoch: c.epochNow() - objects.AnchorMaxAgeSeconds/60 - 2, Root: storage.Hash{1}, Count: 1}, ledger.CodeInvalid)
	})
	t.Run("no records", func(t *testing.T) {
		c.fails(c.providers[1], &objects.Anchor{Epoch: c.epochNow() - 1, Root: storage.Hash{1}, Count: 0}, ledger.CodeInvalid)
	})
	t.Run("another provider's same epoch is its own", func(t *testing.T) {
		c.OK(c.providers[1], &objects.Anchor{Epoch: prev, Root: storage.Hash{2}, Count: 1})
	})
}

// Malformed anchors are refused before they run.
func TestAnchorMalformed(t *testing.T) {
	c := newChain(t)
	c.BlockAfter(2 * time.Minute)
	p := c.providers[0]
	prev := c.epochNow() - 1
	for name, body := range map[string]string{
		"short root":    `{"epoch":"` + itoa(prev) + `","root":"abcd","count":"1"}`,
		"not hex":       `{"epoch":"` + itoa(prev) + `","root":"` + strings.Repeat("zz", 32) + `","count":"1"}`,
		"count too big": `{"epoch":"` + itoa(prev) + `","root":"` + strings.Repeat("00", 32) + `","count":"2000000000"}`,
		"unknown field": `{"epoch":"` + itoa(prev) + `","root":"` + strings.Repeat("00", 32) + `","count":"1","extra":1}`,
	} {
		t.Run(name, func(t *testing.T) {
			c.Fails(c.TxGas(p, &ledgertest.RawMsg{Typ: "objects/anchor", B: []byte(body)}, ledgertest.DefaultGas), ledger.CodeInvalid, "")
		})
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
