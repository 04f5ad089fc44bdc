package wagi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/stratus-cloud/stratus/errs"
)

// The sentinel errors below say why a call failed. Every error that Serve
// returns wraps exactly one of them inside an *errs.Error, so callers can test
// with errors.Is and map the failure with HTTPStatus and Reason.
var (
	// ErrTimeout: the call ran past Limits.Timeout and its instance was closed.
	ErrTimeout = errors.New("function timed out")
	// ErrTrap: the module trapped (unreachable, out-of-bounds access, stack overflow...).
	ErrTrap = errors.New("function trapped")
	// ErrExit: the module exited with a non-zero status.
	ErrExit = errors.New("function exited with an error")
	// ErrMemoryLimit: the module tried to grow its memory past Limits.MemoryBytes.
	ErrMemoryLimit = errors.New("function exceeded its memory limit")
	// ErrResponseTooLarge: stdout went past Limits.MaxResponseBytes; the instance was stopped.
	ErrResponseTooLarge = errors.New("function response too large")
	// ErrRequestTooLarge: the request body is larger than Limits.MaxRequestBytes.
	ErrRequestTooLarge = errors.New("request too large")
	// ErrBadResponse: stdout is not a valid CGI response.
	ErrBadResponse = errors.New("function wrote an invalid CGI response")
	// ErrInstantiate: the module could not be instantiated (unknown import, bad data segment...).
	ErrInstantiate = errors.New("function failed to instantiate")
	// ErrBusy: every concurrency slot stayed taken until the call's timeout.
	ErrBusy = errors.New("function at its concurrency limit")
	// ErrInvalidModule: Compile refused the module.
	ErrInvalidModule = errors.New("invalid function module")
	// ErrClosed: the Runtime is closed.
	ErrClosed = errors.New("function runtime closed")
)

// failures maps each sentinel to its errs kind, its HTTP status and its short reason.
var failures = []struct {
	err    error
	kind   errs.Kind
	status int
	reason string
}{
	{ErrTimeout, errs.Timeout, http.StatusGatewayTimeout, "timeout"},
	{ErrTrap, errs.Internal, http.StatusBadGateway, "trap"},
	{ErrExit, errs.Internal, http.StatusBadGateway, "exit"},
	{ErrMemoryLimit, errs.TooLarge, http.StatusInsufficientStorage, "memory_limit"},
	{ErrResponseTooLarge, errs.TooLarge, http.StatusBadGateway, "response_too_large"},
	{ErrRequestTooLarge, errs.TooLarge, http.StatusRequestEntityTooLarge, "request_too_large"},
	{ErrBadResponse, errs.Internal, http.StatusBadGateway, "bad_response"},
	{ErrInstantiate, errs.Internal, http.StatusBadGateway, "instantiate"},
	{ErrBusy, errs.Unavailable, http.StatusServiceUnavailable, "busy"},
	{ErrInvalidModule, errs.Invalid, http.StatusBadRequest, "invalid_module"},
	{ErrClosed, errs.Unavailable, http.StatusServiceUnavailable, "closed"},
}

// fail returns an *errs.Error whose kind matches sentinel and whose chain holds
// sentinel (and cause, when not nil).
func fail(sentinel error, cause error, format string, args ...any) error {
	kind := errs.Internal
	for _, f := range failures {
		if f.err == sentinel {
			kind = f.kind
		}
	}
	msg := fmt.Sprintf(format, args...)
	var wrapped error = sentinel
	if cause != nil {
		wrapped = &causeError{sentinel: sentinel, cause: cause}
	}
	return &errs.Error{Kind: kind, Msg: msg, Err: wrapped}
}

// causeError lets errors.Is find both the sentinel and the underlying cause.
type causeError struct{ sentinel, cause error }

func (e *causeError) Error() string   { return e.sentinel.Error() + ": " + e.cause.Error() }
func (e *causeError) Unwrap() []error { return []error{e.sentinel, e.cause} }

// HTTPStatus returns the status a gateway should answer for an error from
// Serve: 504 for a timeout, 502 for a trap, a bad exit or bad CGI output, 507
// for the memory limit, 413 for a too-large request, 503 when busy. Errors that
// did not come from this package map through errs.HTTPStatus.
func HTTPStatus(err error) int {
	for _, f := range failures {
		if errors.Is(err, f.err) {
			return f.status
		}
	}
	return errs.HTTPStatus(errs.KindOf(err))
}

// Reason returns a short machine-readable token for why a call failed
// ("timeout", "trap", "memory_limit", ...), or "internal".
func Reason(err error) string {
	for _, f := range failures {
		if errors.Is(err, f.err) {
			return f.reason
		}
	}
	return "internal"
}

// WriteError answers an HTTP client for a failed call: the status from
// HTTPStatus, the reason in the X-Stratus-Function-Error header, and the
// message as a plain-text body.
// ErrorHeader names the response header that carries a failed call's
// reason (Reason).
const ErrorHeader = "X-Stratus-Function-Error"

func WriteError(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set(ErrorHeader, Reason(err))
	w.WriteHeader(HTTPStatus(err))
	fmt.Fprintf(w, "function error (%s): %v\n", Reason(err), err)
}
