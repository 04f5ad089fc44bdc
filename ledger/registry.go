package ledger

import (
	"encoding/json"
	"fmt"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
)

// Msg is the typed payload of a transaction. Each module defines its own
// message types and registers them; the core never needs to know them.
type Msg interface {
	// Type is the registered name, "module/action", e.g. "bank/transfer".
	Type() string
	// Encode writes the message in the codec's canonical form.
	Encode(w *codec.Writer)
	// Decode reads what Encode wrote; it must refuse anything else.
	Decode(r *codec.Reader) error
	// Validate checks the message on its own, without state.
	Validate() error
}

// Handler executes a message. It reads and writes state through ctx and
// returns an *errs.Error to fail the message; the message's writes are then
// undone (the fee is still paid).
type Handler func(ctx *Context, signer identity.Address, msg Msg) error

// Handle adapts a handler of one message type to a Handler: the registry
// only calls it with messages its MsgSpec's New made, so the assertion
// holds.
func Handle[M Msg](f func(*Context, identity.Address, M) error) Handler {
	return func(ctx *Context, signer identity.Address, msg Msg) error {
		return f(ctx, signer, msg.(M))
	}
}

// MsgSpec registers one message type.
type MsgSpec struct {
	New     func() Msg
	Handler Handler
}

// Module is a part of the state machine that brings its own messages,
// genesis section, end-of-block work and value buckets.
type Module interface {
	// Name is the module's genesis key and state namespace.
	Name() string
	// Msgs lists the module's message types.
	Msgs() []MsgSpec
	// InitGenesis reads the module's genesis section, which may be null.
	InitGenesis(ctx *Context, raw json.RawMessage) error
	// EndBlock runs after every block's transactions. Its cost should grow
	// with the work due in this block, not with the size of state.
	EndBlock(ctx *Context) error
}

// Registry maps message type names to their specs.
type Registry struct {
	specs   map[string]MsgSpec
	modules []Module
}

// NewRegistry builds a registry from modules. Duplicate names panic, since
// that is a programming error found at start-up.
func NewRegistry(mods ...Module) *Registry {
	r := &Registry{specs: map[string]MsgSpec{}, modules: mods}
	names := map[string]bool{}
	for _, m := range mods {
		if names[m.Name()] {
			panic("ledger: duplicate module " + m.Name())
		}
		names[m.Name()] = true
		for _, s := range m.Msgs() {
			typ := s.New().Type()
			if _, dup := r.specs[typ]; dup {
				panic("ledger: duplicate message type " + typ)
			}
			r.specs[typ] = s
		}
	}
	return r
}

func (r *Registry) decode(typ string, b []byte) (Msg, error) {
	s, ok := r.specs[typ]
	if !ok {
		return nil, errs.E(errs.Invalid, "unknown message type %q", typ)
	}
	m := s.New()
	rd := codec.NewReader(b)
	if err := m.Decode(rd); err != nil {
		return nil, errs.E(errs.Invalid, "malformed %s message: %v", typ, err)
	}
	if err := rd.Finish(); err != nil {
		return nil, errs.E(errs.Invalid, "malformed %s message: %v", typ, err)
	}
	return m, nil
}

func (r *Registry) handler(typ string) (Handler, error) {
	s, ok := r.specs[typ]
	if !ok {
		return nil, fmt.Errorf("no handler for %q", typ)
	}
	return s.Handler, nil
}
