// Package errs is Stratus's one error type. An *Error carries a Kind that
// survives the trip from the state machine through the REST API to the CLI,
// where one function maps it to an HTTP status and another to an exit code.
//
// It is not a logging package and holds no stack traces: messages are for the
// person who must act on them, so they say what was wrong and what to do next.
package errs

import (
	"errors"
	"fmt"
	"net/http"
)

// Kind classifies an error by what the caller can do about it.
type Kind string

// The kinds. Their string values cross the wire in problem details.
const (
	Internal     Kind = "internal"
	Invalid      Kind = "invalid"
	NotFound     Kind = "not_found"
	Unauthorized Kind = "unauthorized"
	// Forbidden is a signer who is known but not allowed (a read of a
	// private object without a grant): signing again will not help.
	Forbidden    Kind = "forbidden"
	Insufficient Kind = "insufficient_funds"
	Conflict     Kind = "conflict"
	Unavailable  Kind = "unavailable"
	TooLarge     Kind = "too_large"
	Timeout      Kind = "timeout"
)

// Error is an error with a Kind and a message meant for a person.
type Error struct {
	Kind Kind
	Msg  string
	Err  error // the wrapped cause, if any
}

func (e *Error) Error() string {
	// E puts the cause's text in Msg already; Err is kept for Unwrap.
	if e.Msg == "" && e.Err != nil {
		return e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// E returns an *Error of kind k with a formatted message. A %w verb wraps its
// argument as the cause.
func E(k Kind, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: k, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// KindOf returns the Kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err's kind is k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// HTTPStatus maps a kind to the status the REST API answers with.
func HTTPStatus(k Kind) int {
	switch k {
	case Invalid:
		return http.StatusBadRequest
	case NotFound:
		return http.StatusNotFound
	case Unauthorized:
		return http.StatusUnauthorized
	case Forbidden:
		return http.StatusForbidden
	case Insufficient:
		return http.StatusPaymentRequired
	case Conflict:
		return http.StatusConflict
	case Unavailable:
		return http.StatusServiceUnavailable
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case Timeout:
		return http.StatusGatewayTimeout
	default:
		return http.StatusInternalServerError
	}
}

// KindForStatus is the inverse of HTTPStatus, for clients that only have a status.
func KindForStatus(status int) Kind {
	for _, k := range []Kind{Invalid, NotFound, Unauthorized, Forbidden, Insufficient, Conflict, Unavailable, TooLarge, Timeout} {
		if HTTPStatus(k) == status {
			return k
		}
	}
	return Internal
}

// ExitCode maps a kind to the CLI's exit status. 1 is kept for usage errors.
func ExitCode(k Kind) int {
	switch k {
	case Invalid:
		return 2
	case NotFound:
		return 3
	case Unauthorized, Forbidden:
		return 4
	case Insufficient:
		return 5
	case Conflict:
		return 6
	case Unavailable, Timeout:
		return 7
	case TooLarge:
		return 8
	default:
		return 10
	}
}
