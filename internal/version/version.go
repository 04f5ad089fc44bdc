// Package version says which build of stratus is running, from the build
// information the Go toolchain stamps into every binary (module version,
// VCS revision, commit time and whether the work tree had changes). It
// needs no -ldflags. It is not a release process.
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Info describes a build.
type Info struct {
	// Version is the module version: a tag such as v0.3.0 for a binary
	// built with go install module@version, or "(devel)" for one built in
	// a checkout.
	Version string `json:"version"`
	// Revision is the VCS commit the binary was built from, and Time its
	// commit time (RFC 3339); both empty when the build had no VCS
	// information (go build outside a checkout, or a test binary).
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	// Dirty says the work tree had uncommitted changes.
	Dirty bool `json:"dirty,omitempty"`
	// Go is the toolchain, such as go1.26.0, and Platform GOOS/GOARCH.
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// Get returns the running binary's build information.
func Get() Info {
	info := Info{Version: "(devel)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	if v := bi.Main.Version; v != "" {
		info.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Dirty = s.Value == "true"
		}
	}
	return info
}

// String is the one-line form `stratus version` prints, such as
// "stratus (devel) 822855c4a1b2 2026-12-07T16:00:00Z dirty go1.26.0
// linux/amd64".
func (i Info) String() string {
	parts := []string{"stratus", i.Version}
	if i.Revision != "" {
		parts = append(parts, i.Revision[:min(len(i.Revision), 12)])
	} else {
		parts = append(parts, "(no vcs revision)")
	}
	if i.Time != "" {
		parts = append(parts, i.Time)
	}
	if i.Dirty {
		parts = append(parts, "dirty")
	}
	parts = append(parts, i.Go, i.Platform)
	return strings.Join(parts, " ")
}
