package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/storeclient"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		in   string
		want byteRange
	}{
		{"0-99", byteRange{From: 0, To: 99}},
		{"0-0", byteRange{From: 0, To: 0}},
		{"100-", byteRange{From: 100, To: -1}},
		{"-100", byteRange{Last: 100}},
		{"bytes=5-9", byteRange{From: 5, To: 9}},
		{" 7-7 ", byteRange{From: 7, To: 7}},
		{"4194300-4194399", byteRange{From: 4194300, To: 4194399}},
	}
	for _, tt := range tests {
		got, err := parseRange(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseRange(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "5", "-", "-0", "a-b", "1-b", "9-5", "+1-2", "1-+2", "1--2", "0x10-", "1.5-2", "bytes=", "99999999999999999999-"} {
		if got, err := parseRange(in); !errs.Is(err, errs.Invalid) {
			t.Errorf("parseRange(%q) = %+v, %v; want an invalid error", in, got, err)
		}
	}
}

func TestByteRangeOptions(t *testing.T) {
	tests := []struct {
		r           byteRange
		size        int64
		off, length int64
	}{
		{byteRange{To: -1}, 0, 0, -1}, // the whole object
		{byteRange{From: 5, To: -1}, 0, 5, -1},
		{byteRange{From: 0, To: 0}, 0, 0, 1},
		{byteRange{From: 10, To: 19}, 0, 10, 10},
		{byteRange{Last: 10}, 100, 90, 10},
		{byteRange{Last: 1000}, 100, 0, 100},
		{byteRange{Last: 5}, 0, 0, 0},
	}
	for _, tt := range tests {
		off, length := tt.r.options(tt.size)
		if off != tt.off || length != tt.length {
			t.Errorf("%+v.options(%d) = %d, %d; want %d, %d", tt.r, tt.size, off, length, tt.off, tt.length)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"90m", 90 * time.Minute},
		{"720h", 720 * time.Hour},
		{"0", 0},
		{"0d", 0},
		{"30d", 30 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"0.1d", 8640 * time.Second},
		{"7d30m", 7*24*time.Hour + 30*time.Minute},
		{" 2d ", 48 * time.Hour},
		{"1h30m", 90 * time.Minute},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "d", "30", "30x", "-1d", "-5m", "1d-2h", "1d+2h", "1e3d", "d12h", "1.2.3d", "1d2d", "3 days", "99999999d"} {
		if got, err := parseDuration(in); !errs.Is(err, errs.Invalid) {
			t.Errorf("parseDuration(%q) = %v, %v; want an invalid error", in, got, err)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0B"}, {1, "1B"}, {1023, "1023B"}, {1024, "1KiB"}, {1536, "1.5KiB"},
		{100000, "97.7KiB"}, {3145730, "3.0MiB"}, {9 << 20, "9MiB"}, {1 << 40, "1TiB"}, {5 << 50, "5PiB"},
	}
	for _, tt := range tests {
		if got := formatBytes(tt.in); got != tt.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestReportFaults(t *testing.T) {
	res := &storeclient.GetResult{Faults: []storeclient.Fault{
		{Provider: "did:key:bad", Segment: 0, Shard: 1, Kind: "corrupt"},
		{Provider: "did:key:down", Segment: 0, Shard: 2, Kind: "unreachable"},
		{Provider: "did:key:bad", Segment: 2, Shard: 1, Kind: "corrupt"},
		{Provider: "did:key:gone", Segment: 1, Shard: 4, Kind: "missing"},
	}}
	tests := []struct {
		json bool
		want string
	}{
		{false, "warning: provider did:key:bad sent bytes that do not match the manifest (segment 0 shard 1, segment 2 shard 1); they were rebuilt from other providers, and the object is intact\n" +
			"routed around 2 unavailable shards\n"},
		{true, "warning: provider did:key:bad sent bytes that do not match the manifest (segment 0 shard 1, segment 2 shard 1); they were rebuilt from other providers, and the object is intact\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		reportFaults(&b, res, tt.json)
		if b.String() != tt.want {
			t.Errorf("reportFaults(json %v) wrote\n%s\nwant\n%s", tt.json, b.String(), tt.want)
		}
	}
	var b bytes.Buffer
	reportFaults(&b, &storeclient.GetResult{Faults: []storeclient.Fault{{Kind: "missing"}}}, false)
	if b.String() != "routed around 1 unavailable shard\n" {
		t.Errorf("one missing shard: %q", b.String())
	}
	b.Reset()
	reportFaults(&b, &storeclient.GetResult{}, false)
	if b.Len() != 0 {
		t.Errorf("no faults: %q", b.String())
	}
}

// listDir returns the names in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestAtomicFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "out.bin")

	// An aborted write leaves nothing, and an existing file as it was.
	a, err := createAtomic(target)
	if err != nil {
		t.Fatal(err)
	}
	a.Write([]byte("half"))
	a.abort()
	if names := listDir(t, dir); len(names) != 0 {
		t.Errorf("after abort: %v", names)
	}

	a, err = createAtomic(target)
	if err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, dir); len(got) != 1 || !strings.HasSuffix(got[0], ".partial") || !strings.HasPrefix(got[0], ".out.bin.") {
		t.Errorf("while writing: %v, want one .out.bin.*.partial", got)
	}
	a.Write([]byte("whole"))
	if err := a.commit(); err != nil {
		t.Fatal(err)
	}
	a.abort() // after commit, a no-op
	if b, err := os.ReadFile(target); err != nil || string(b) != "whole" {
		t.Errorf("after commit: %q, %v", b, err)
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Errorf("after commit: %v", names)
	}

	if err := os.Chmod(target, 0o600); err != nil {
		t.Fatal(err)
	}
	a, err = createAtomic(target)
	if err != nil {
		t.Fatal(err)
	}
	a.Write([]byte("x"))
	a.abort()
	if b, _ := os.ReadFile(target); string(b) != "whole" {
		t.Errorf("an aborted write changed the existing file: %q", b)
	}
	a, err = createAtomic(target)
	if err != nil {
		t.Fatal(err)
	}
	a.Write([]byte("new"))
	if err := a.commit(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(target)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("replacing a 0600 file: %v, %v", st.Mode(), err)
	}

	if _, err := createAtomic(dir); !errs.Is(err, errs.Invalid) {
		t.Errorf("--out a folder: %v, want invalid", err)
	}
	if _, err := createAtomic(filepath.Join(dir, "no", "such", "dir", "f")); !errs.Is(err, errs.Invalid) {
		t.Errorf("--out in a missing folder: %v, want invalid", err)
	}
}

func TestOpenInput(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	tmp := os.TempDir()

	f, size, cleanup, err := openInput("-", strings.NewReader("from stdin"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil || size != 10 || string(buf) != "from stdin" {
		t.Errorf("stdin: %d bytes %q, %v", size, buf, err)
	}
	if names := listDir(t, tmp); len(names) != 1 {
		t.Errorf("stdin spooled to %v, want one file", names)
	}
	cleanup()
	if names := listDir(t, tmp); len(names) != 0 {
		t.Errorf("after cleanup: %v", names)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(path, []byte("a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, size, cleanup, err = openInput(path, strings.NewReader("not read"))
	if err != nil || size != 6 || f.Name() != path {
		t.Errorf("regular file: %v, %d, %v", f, size, err)
	}
	cleanup()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("cleanup removed the input: %v", err)
	}
	if names := listDir(t, tmp); len(names) != 0 {
		t.Errorf("a regular file was spooled: %v", names)
	}

	if _, _, _, err := openInput(filepath.Join(dir, "missing"), nil); !errs.Is(err, errs.NotFound) {
		t.Errorf("missing file: %v, want not found", err)
	}
	if _, _, _, err := openInput(dir, nil); !errs.Is(err, errs.Invalid) {
		t.Errorf("folder: %v, want invalid", err)
	}
}
