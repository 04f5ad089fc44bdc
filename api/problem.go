package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/stratus-cloud/stratus/errs"
)

// ProblemContentType is the media type of RFC 9457 problem details.
const ProblemContentType = "application/problem+json"

// ProblemTypeBase prefixes a problem's kind to make its type URI.
const ProblemTypeBase = "https://stratus.dev/problems/"

// Problem is an RFC 9457 problem details object: the body of every error
// response. Kind is an errs.Kind, so that clients can rebuild the *errs.Error.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Kind   string `json:"kind"`
}

// titles are the short, fixed titles of each kind's problem type.
var titles = map[errs.Kind]string{
	errs.Internal:     "Internal error",
	errs.Invalid:      "Invalid request",
	errs.NotFound:     "Not found",
	errs.Unauthorized: "Unauthorized",
	errs.Insufficient: "Insufficient funds",
	errs.Conflict:     "Conflict",
	errs.Unavailable:  "Service unavailable",
	errs.TooLarge:     "Request too large",
	errs.Timeout:      "Timeout",
}

// ProblemFor describes err as a problem. Its status comes from the error's
// kind; a bare context deadline counts as a timeout.
func ProblemFor(err error) Problem {
	k := kindOf(err)
	return problem(k, errs.HTTPStatus(k), err.Error())
}

func problem(k errs.Kind, status int, detail string) Problem {
	title, ok := titles[k]
	if !ok {
		title = http.StatusText(status)
	}
	return Problem{
		Type:   ProblemTypeBase + string(k),
		Title:  title,
		Status: status,
		Detail: detail,
		Kind:   string(k),
	}
}

func kindOf(err error) errs.Kind {
	var e *errs.Error
	if !errors.As(err, &e) && errors.Is(err, context.DeadlineExceeded) {
		return errs.Timeout
	}
	return errs.KindOf(err)
}

// writeProblem writes p as the response.
func writeProblem(w http.ResponseWriter, p Problem) {
	writeBody(w, p.Status, ProblemContentType, p)
}

// maxErrorBody bounds how much of an error response a client reads.
const maxErrorBody = 1 << 20

// ErrorFromResponse turns an error response from a Stratus server into an
// *errs.Error: the kind from the problem's "kind", else from the status;
// the message from its detail or title, else naming who answered (such as
// "the node" or "the provider at URL") and the status.
func ErrorFromResponse(resp *http.Response, who string) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var p Problem
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == ProblemContentType || mt == "application/json" {
		json.Unmarshal(b, &p) // a bad body leaves p empty and falls back below
	}
	kind := errs.Kind(p.Kind)
	if kind == "" {
		kind = errs.KindForStatus(resp.StatusCode)
	}
	msg := p.Detail
	if msg == "" {
		msg = p.Title
	}
	if msg == "" {
		msg = fmt.Sprintf("%s answered %s", who, resp.Status)
		if text := strings.TrimSpace(string(b)); text != "" && len(text) <= 200 {
			msg += ": " + text
		}
	}
	return &errs.Error{Kind: kind, Msg: msg}
}
