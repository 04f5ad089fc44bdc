package version

import "testing"

func TestString(t *testing.T) {
	tests := []struct {
		in   Info
		want string
	}{
		{Info{Version: "v0.3.0", Revision: "822855c4a1b2c3d4e5f6", Time: "2026-12-07T16:00:00Z", Go: "go1.26.0", Platform: "linux/amd64"},
			"stratus v0.3.0 822855c4a1b2 2026-12-07T16:00:00Z go1.26.0 linux/amd64"},
		{Info{Version: "(devel)", Revision: "abc", Dirty: true, Go: "go1.26.0", Platform: "linux/arm64"},
			"stratus (devel) abc dirty go1.26.0 linux/arm64"},
		{Info{Version: "(devel)", Go: "go1.26.0", Platform: "linux/amd64"},
			"stratus (devel) (no vcs revision) go1.26.0 linux/amd64"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestGet(t *testing.T) {
	i := Get()
	if i.Version == "" || i.Go == "" || i.Platform == "" {
		t.Fatalf("Get() = %+v: version, go and platform must be set", i)
	}
}
