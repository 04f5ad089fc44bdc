package ledger

import (
	"fmt"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
)

// MaxDispatchDepth bounds how deeply messages dispatched from inside
// messages may nest (a contract calling a contract calling ...).
const MaxDispatchDepth = 8

// Dispatch runs msg, as signer, from inside the message being executed: the
// router that contracts (and any module acting for an account it controls)
// send messages through. The caller decides whom it may act for; a module
// must only dispatch as an account it owns (a contract's own address).
//
// The dispatched message runs under the same gas meter as its caller, so
// its work is paid for like the caller's own, and running out of gas
// fails the whole transaction, reverting everything. If the message fails
// otherwise, its writes and events are undone and its error returned; the
// caller may go on (and its gas stays used). If it succeeds, its writes and
// events stay, in order, as if the caller had done them.
func (c *Context) Dispatch(signer identity.Address, msg Msg) error {
	if c.depth >= MaxDispatchDepth {
		return errs.E(errs.Invalid, "messages dispatched from messages nest at most %d deep", MaxDispatchDepth)
	}
	if err := msg.Validate(); err != nil {
		return err
	}
	h, err := c.reg.handler(msg.Type())
	if err != nil {
		return errs.E(errs.Invalid, "%v", err)
	}
	snap, events := c.cache.Snapshot(), len(c.events)
	c.depth++
	defer func() { c.depth-- }()
	if err := h(c, signer, msg); err != nil {
		c.cache.Revert(snap)
		c.events = c.events[:events]
		return fmt.Errorf("dispatched %s: %w", msg.Type(), err)
	}
	return nil
}
