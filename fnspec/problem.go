package fnspec

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/stratus-cloud/stratus/errs"
)

// Problem is one thing wrong with a spec: where (the field path, such as
// "limits.memory" or "cron[1].schedule", and the line when the spec came
// from a file), and what, with what to write instead.
type Problem struct {
	Line int    // 1-based line in the YAML, or 0 when unknown
	Path string // field path, or "" for the whole spec
	Msg  string
}

func (p Problem) Error() string {
	var b strings.Builder
	if p.Line > 0 {
		b.WriteString("line " + strconv.Itoa(p.Line) + ": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in a spec. Parse and Validate return it
// wrapped in an *errs.Error of kind Invalid; get it back with errors.As to
// show each problem on its own (for example in problem details).
type Problems []Problem

func (ps Problems) Error() string {
	if len(ps) == 1 {
		return ps[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the spec has %d problems:", len(ps))
	for _, p := range ps {
		b.WriteString("\n  " + p.Error())
	}
	return b.String()
}

// err returns ps as an error of kind Invalid, or nil when there are none.
func (ps Problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return errs.E(errs.Invalid, "%w", ps)
}

// add records a problem at path.
func (ps *Problems) add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// covers reports whether a problem is already recorded at path or at a
// field inside it, so that a value that failed to parse is not reported a
// second time for being zero.
func (ps Problems) covers(path string) bool {
	for _, p := range ps {
		if p.Path == path || strings.HasPrefix(path, p.Path+".") || strings.HasPrefix(path, p.Path+"[") {
			return true
		}
	}
	return false
}
