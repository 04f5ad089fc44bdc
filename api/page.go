package api

import (
	"net/http"
	"strconv"

	"github.com/stratus-cloud/stratus/errs"
)

// Paging of list endpoints: every one takes ?limit= and ?after= and answers
// with a Page.
const (
	// DefaultPageLimit is the page size when ?limit= is not given.
	DefaultPageLimit = 100
	// MaxPageLimit is the largest ?limit= a list endpoint accepts.
	MaxPageLimit = 1000
)

// Page is the answer of a list endpoint: up to limit items in the
// endpoint's order, and the cursor to pass as ?after= for the next page.
// Next is empty on the last page. A page may hold fewer items than the
// limit (a filter that matched few of the records read) and still have a
// next one: follow Next until it is empty.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

// PageParams reads ?limit= (default DefaultPageLimit, at most
// MaxPageLimit) and ?after= (empty for the first page) from r. It returns an
// error of kind Invalid for a limit that is not an integer from 1 to
// MaxPageLimit.
func PageParams(r *http.Request) (limit int, after string, err error) {
	q := r.URL.Query()
	limit = DefaultPageLimit
	if l := q.Get("limit"); l != "" {
		v, err := strconv.Atoi(l)
		if err != nil || v < 1 || v > MaxPageLimit {
			return 0, "", errs.E(errs.Invalid, "limit %q must be a whole number from 1 to %d: page through longer lists with ?after= and the next cursor of each page", l, MaxPageLimit)
		}
		limit = v
	}
	return limit, q.Get("after"), nil
}
