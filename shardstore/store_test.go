package shardstore_test

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/shardstore"
)

func TestParseHash(t *testing.T) {
	h := shardstore.Hash(sha256.Sum256([]byte("x")))
	tests := []struct {
		in      string
		want    shardstore.Hash
		wantErr bool
	}{
		{h.String(), h, false},
		{strings.ToUpper(h.String()), h, false},
		{h.String()[:63], shardstore.Hash{}, true},
		{h.String() + "0", shardstore.Hash{}, true},
		{"zz" + h.String()[2:], shardstore.Hash{}, true},
		{"", shardstore.Hash{}, true},
	}
	for _, tt := range tests {
		got, err := shardstore.ParseHash(tt.in)
		if tt.wantErr {
			if errs.KindOf(err) != errs.Invalid {
				t.Errorf("ParseHash(%q) error = %v, want kind Invalid", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseHash(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestVerifySHA256(t *testing.T) {
	data := []byte("shard")
	if err := shardstore.VerifySHA256(sha256.Sum256(data), data); err != nil {
		t.Errorf("VerifySHA256 of matching bytes: %v", err)
	}
	if err := shardstore.VerifySHA256(sha256.Sum256(data), []byte("shard!")); errs.KindOf(err) != errs.Invalid {
		t.Errorf("VerifySHA256 of other bytes: %v, want kind Invalid", err)
	}
}

func TestErrorKinds(t *testing.T) {
	if k := errs.KindOf(shardstore.ErrQuota); k != errs.TooLarge {
		t.Errorf("ErrQuota kind = %s, want %s", k, errs.TooLarge)
	}
	if k := errs.KindOf(shardstore.ErrCorrupt); k != errs.Internal {
		t.Errorf("ErrCorrupt kind = %s, want %s", k, errs.Internal)
	}
}
