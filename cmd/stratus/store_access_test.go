package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/provider"
	"github.com/stratus-cloud/stratus/storage"
)

// A record that fails a check is listed as FAILED with why, and the command
// fails; an unanchored one is listed and is not a failure.
func TestPrintAccessShowsFailures(t *testing.T) {
	rec := func(reader string, sig, anchor, anchorFailed bool, problem string) provider.Checked {
		return provider.Checked{AccessEntry: provider.AccessEntry{AccessRecord: provider.AccessRecord{
			Epoch: 7, Index: 1, Provider: "did:key:zprov", Reader: reader, Shard: storage.Hash{0xab}, Bytes: 100, ServedMs: 1_700_000_000_000,
		}}, SignatureOK: sig, AnchorOK: anchor, AnchorFailed: anchorFailed, Problem: problem}
	}
	overdue := rec("did:key:zbob", true, false, false, "")
	overdue.Overdue = true
	ok := &provider.AccessReport{Object: "bafk", Records: []provider.Checked{rec("did:key:zbob", true, true, false, ""), rec("did:key:zbob", true, false, false, ""), overdue}}
	var b bytes.Buffer
	printAccess(&b, ok)
	if got := b.String(); strings.Contains(got, "FAILED") || !strings.Contains(got, "unanchored") || !strings.Contains(got, "OVERDUE") || accessError(ok) != nil {
		t.Errorf("good records:\n%s\nerror %v", got, accessError(ok))
	}

	bad := &provider.AccessReport{Object: "bafk", Records: []provider.Checked{
		rec("did:key:zbob", true, false, true, "anchor: record 1 of epoch 7 is not in the anchored log"),
		rec("did:key:zeve", false, true, false, "signature: bad signature"),
	}}
	b.Reset()
	printAccess(&b, bad)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 5 || !strings.Contains(lines[1], "ok       FAILED") || !strings.Contains(lines[2], "FAILED   ok") ||
		!strings.HasPrefix(lines[3], "FAILED: epoch 7 record 1 from did:key:zprov: anchor:") {
		t.Errorf("failed records:\n%s", b.String())
	}
	err := accessError(bad)
	if !errs.Is(err, errs.Invalid) || !strings.HasPrefix(err.Error(), "2 of 2 access records failed verification") {
		t.Errorf("error %v", err)
	}
}

func TestParseSince(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	for in, want := range map[string]int64{
		"":                     0,
		"1700000000000":        1_700_000_000_000,
		"2026-01-02T15:04:05Z": time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC).UnixMilli(),
		"24h":                  1_800_000_000_000 - 86_400_000,
		"1d":                   1_800_000_000_000 - 86_400_000,
	} {
		if got, err := parseSince(in, now); err != nil || got != want {
			t.Errorf("parseSince(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseSince("yesterday", now); !errs.Is(err, errs.Invalid) {
		t.Errorf("parseSince(yesterday): %v", err)
	}
}

// Receipts with no record are listed NOT LOGGED and fail the command.
func TestPrintReceipts(t *testing.T) {
	rep := &provider.AccessReport{Object: "bafk", Records: []provider.Checked{}, Receipts: []provider.ReceiptCheck{
		{Reader: "did:key:zbob", Shard: storage.Hash{0xab}, SignedMs: 1_700_000_000_000, Logged: true, Anchored: true},
		{Reader: "did:key:zbob", Shard: storage.Hash{0xcd}, SignedMs: 1_700_000_000_000, Problem: "not logged: did:key:zbob signed this read"},
	}}
	var b bytes.Buffer
	printAccess(&b, rep)
	out := b.String()
	if !strings.Contains(out, "NOT LOGGED: not logged: did:key:zbob") || !strings.Contains(out, "cd0000000000 NOT LOGGED") {
		t.Errorf("output:\n%s", out)
	}
	if err := accessError(rep); !errs.Is(err, errs.Invalid) || !strings.HasPrefix(err.Error(), "1 of 2 receipts have no record") {
		t.Errorf("error %v", err)
	}
}
