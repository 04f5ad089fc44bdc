package storage

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/errs"
)

func TestIDRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, 70000} {
		id := testManifest(t, size, testParams(3, 2)).ID()
		s := id.String()
		if !strings.HasPrefix(s, "bafkrei") || len(s) != 59 {
			t.Errorf("ID %q does not look like a CIDv1 raw sha2-256", s)
		}
		got, err := ParseID(s)
		if err != nil || got != id {
			t.Errorf("ParseID(%q) = %x, %v; want %x", s, got, err, id)
		}
		j, _ := json.Marshal(struct{ ID ID }{id})
		var back struct{ ID ID }
		if err := json.Unmarshal(j, &back); err != nil || back.ID != id {
			t.Errorf("JSON round trip of %s: %s, %v", j, back.ID, err)
		}
	}
}

func TestParseIDErrors(t *testing.T) {
	good := testManifest(t, 1, testParams(3, 2)).ID().String()
	// Same length, but the codec byte is dag-pb (0x70) instead of raw.
	var dagpb ID
	b := append([]byte{0x01, 0x70, 0x12, 0x20}, dagpb[:]...)
	wrongCodec := "b" + idEncoding.EncodeToString(b)
	// The last character carries two spare bits; setting one is non-canonical.
	last := strings.IndexByte("abcdefghijklmnopqrstuvwxyz234567", good[len(good)-1])
	nonCanonical := good[:len(good)-1] + string("abcdefghijklmnopqrstuvwxyz234567"[last|1])

	tests := []struct {
		name, s, mention string
	}{
		{"empty", "", "empty"},
		{"base58 CIDv0", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", `start with "b"`},
		{"uppercase multibase", "B" + strings.ToUpper(good[1:]), `start with "b"`},
		{"uppercase", good[:5] + "A" + good[6:], "lowercase"},
		{"short", good[:len(good)-1], "characters long"},
		{"long", good + "a", "characters long"},
		{"not base32", good[:10] + "1" + good[11:], "base32"},
		{"wrong codec", wrongCodec, "prefix"},
		{"non-canonical", nonCanonical, "canonical"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.s == good {
				t.Fatal("test case is the good ID")
			}
			_, err := ParseID(tt.s)
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("err = %v, want kind invalid", err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}

func FuzzParseID(f *testing.F) {
	f.Add(testManifest(f, 1, testParams(3, 2)).ID().String())
	f.Add("bafkrei")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		if id.String() != s {
			t.Fatalf("ParseID accepted %q, whose canonical form is %q", s, id)
		}
	})
}

func TestIDOfInvalidManifestDoesNotPanic(t *testing.T) {
	m := testManifest(t, 70000, testParams(3, 2))
	id := m.ID()
	m.Segments[0].Shards = m.Segments[0].Shards[:2]
	if m.ID() == id {
		t.Error("dropping shards kept the ID")
	}
}
