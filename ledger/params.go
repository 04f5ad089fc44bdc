package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/stratus-cloud/stratus/errs"
)

// Parameters: every module's, and the core's, live in one store under
// params/<name>, in one encoding (JSON, as the API shows them), written only
// by genesis and, later, governance (Context.SetParams). A context checks
// them all when it is made: parameters that do not decode or validate are
// an internal error there, never silently replaced with defaults.

// ParamSet is a set of parameters: a pointer to a module's Params struct.
type ParamSet interface {
	Validate() error
}

// ParamsOwner is a module with parameters. NewParams returns a pointer to a
// zero value of them, to decode into.
type ParamsOwner interface {
	Module
	NewParams() ParamSet
}

// CoreParams is the name the core's own parameters (Params) are stored
// under.
const CoreParams = "ledger"

const prefParams = "params/"

// ParamsKey is where the parameters of name are stored.
func ParamsKey(name string) []byte { return []byte(prefParams + name) }

// loadedParams is one set of parameters as a context found it: the raw
// bytes, and what they decode to.
type loadedParams struct {
	raw []byte
	val ParamSet
}

// paramCache remembers what raw parameters decoded to, so that contexts
// made over unchanged parameters (every query, every block) share one
// decoding. Its values are never modified.
type paramCache struct{ m sync.Map } // name -> *loadedParams

// decode returns raw decoded into a fresh value from newp, strictly (an
// unknown field is an error), and validated.
func decodeParamSet(raw []byte, newp func() ParamSet) (ParamSet, error) {
	p := newp()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the parameters")
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

func (pc *paramCache) load(name string, raw []byte, newp func() ParamSet) (*loadedParams, error) {
	if v, ok := pc.m.Load(name); ok {
		if lp := v.(*loadedParams); bytes.Equal(lp.raw, raw) {
			return lp, nil
		}
	}
	if raw == nil {
		return nil, errs.E(errs.Internal, "state holds no parameters of %s: the node's state is damaged, or was made by an older release that kept parameters elsewhere: restore it or sync it again (a devnet: remove its home and start it again)", name)
	}
	p, err := decodeParamSet(raw, newp)
	if err != nil {
		return nil, errs.E(errs.Internal, "state holds corrupt parameters of %s (%v): the node's state is damaged: restore it or sync it again", name, err)
	}
	lp := &loadedParams{raw: bytes.Clone(raw), val: p}
	pc.m.Store(name, lp)
	return lp, nil
}

// paramSpaces lists the core's and every module's parameters: name and how
// to make a value to decode into.
func (r *Registry) paramSpaces() map[string]func() ParamSet {
	out := map[string]func() ParamSet{CoreParams: func() ParamSet { return &Params{} }}
	for _, m := range r.modules {
		if o, ok := m.(ParamsOwner); ok {
			out[m.Name()] = o.NewParams
		}
	}
	return out
}

// loadParams reads and checks every set of parameters into ctx, unmetered.
func (m *Machine) loadParams(ctx *Context) error {
	ctx.params = map[string]*loadedParams{}
	for name, newp := range m.reg.paramSpaces() {
		lp, err := m.params.load(name, ctx.cache.Get(ParamsKey(name)), newp)
		if err != nil {
			return err
		}
		ctx.params[name] = lp
	}
	ctx.Params = *ctx.params[CoreParams].val.(*Params)
	return nil
}

// ModuleParams returns the parameters of module name (a pointer to its
// Params; do not modify it). Inside a transaction the read is metered as
// any state read. It panics for a module without parameters, or if state
// changed under the context to something that does not decode: neither can
// happen (the context checked every set when it was made, and SetParams
// only writes valid ones).
func (c *Context) ModuleParams(name string) ParamSet {
	lp, ok := c.params[name]
	if !ok {
		panic(fmt.Sprintf("ledger: no parameters named %q", name))
	}
	raw := c.cache.Get(ParamsKey(name))
	if bytes.Equal(raw, lp.raw) {
		return lp.val
	}
	panic(fmt.Sprintf("ledger: parameters of %s changed under the context without SetParams", name))
}

// SetParams validates p and stores it as the parameters of name: the core's
// (CoreParams, a *Params) or a module's. Genesis calls it; governance will.
func (c *Context) SetParams(name string, p ParamSet) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if _, ok := c.reg.paramSpaces()[name]; !ok {
		return errs.E(errs.Invalid, "no module has parameters named %q", name)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return errs.E(errs.Internal, "parameters of %s do not marshal: %v", name, err)
	}
	c.cache.Set(ParamsKey(name), raw)
	if c.params == nil {
		c.params = map[string]*loadedParams{}
	}
	c.params[name] = &loadedParams{raw: raw, val: p}
	if name == CoreParams {
		c.Params = *p.(*Params)
	}
	return nil
}

// DecodeParams decodes raw strictly as the parameters of name and
// validates them, without storing them: what a governance proposal checks
// before it is put to a vote. Unknown names and invalid parameters are
// errs.Invalid.
func (c *Context) DecodeParams(name string, raw []byte) (ParamSet, error) {
	newp, ok := c.reg.paramSpaces()[name]
	if !ok {
		return nil, errs.E(errs.Invalid, "no module has parameters named %q: see GET /v1/params", name)
	}
	p, err := decodeParamSet(raw, newp)
	if err != nil {
		return nil, errs.E(errs.Invalid, "parameters of %s: %v", name, err)
	}
	return p, nil
}

// AllParams returns every set of parameters by name, the core's as
// "ledger", for GET /v1/params.
func (c *Context) AllParams() map[string]ParamSet {
	out := make(map[string]ParamSet, len(c.params))
	for name, lp := range c.params {
		out[name] = lp.val
	}
	return out
}
