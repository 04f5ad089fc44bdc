package api

import (
	"context"
	"errors"
	"net/http"

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
