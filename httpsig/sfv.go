package httpsig

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/stratus-cloud/stratus/errs"
)

// This file is the subset of RFC 8941 structured fields that the two
// signature headers and Content-Digest use: dictionaries whose members are
// inner lists of strings or bare items, with parameters. Decimals are not
// supported. The parser is strict and bounded: it never allocates more
// than the input's size and rejects what it does not understand.

const (
	maxMembers = 8  // dictionary members per header
	maxItems   = 16 // items in an inner list
	maxParams  = 8  // parameters on one item or list
)

type itemKind int

const (
	kindInt itemKind = iota + 1
	kindString
	kindToken
	kindBytes
	kindBool
)

type sfItem struct {
	kind   itemKind
	i      int64
	s      string // string or token
	b      []byte
	bool   bool
	params []sfParam
}

type sfParam struct {
	key string
	val sfItem // without params
}

type sfMember struct {
	key    string
	inner  bool
	items  []sfItem // when inner
	item   sfItem   // when not inner
	params []sfParam
	raw    string // the member's value as sent, from after "=" to the end of its parameters
}

type sfParser struct {
	s string
	i int
}

func sfErr(format string, args ...any) error {
	return errs.E(errs.Unauthorized, format, args...)
}

func (p *sfParser) eof() bool { return p.i >= len(p.s) }

func (p *sfParser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.i]
}

func (p *sfParser) skipSP() {
	for !p.eof() && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func isLCAlpha(c byte) bool { return 'a' <= c && c <= 'z' }
func isAlpha(c byte) bool   { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool   { return '0' <= c && c <= '9' }

func isTchar(c byte) bool {
	return isAlpha(c) || isDigit(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func (p *sfParser) key() (string, error) {
	start := p.i
	if c := p.peek(); !isLCAlpha(c) && c != '*' {
		return "", sfErr("a structured-field key must start with a lowercase letter or '*' at offset %d", p.i)
	}
	p.i++
	for !p.eof() {
		c := p.s[p.i]
		if !isLCAlpha(c) && !isDigit(c) && c != '_' && c != '-' && c != '.' && c != '*' {
			break
		}
		p.i++
	}
	return p.s[start:p.i], nil
}

func (p *sfParser) bareItem() (sfItem, error) {
	c := p.peek()
	switch {
	case c == '-' || isDigit(c):
		return p.integer()
	case c == '"':
		return p.str()
	case c == ':':
		return p.bytes()
	case c == '?':
		if p.i+1 < len(p.s) && (p.s[p.i+1] == '0' || p.s[p.i+1] == '1') {
			v := p.s[p.i+1] == '1'
			p.i += 2
			return sfItem{kind: kindBool, bool: v}, nil
		}
		return sfItem{}, sfErr("bad boolean at offset %d", p.i)
	case isAlpha(c) || c == '*':
		start := p.i
		p.i++
		for !p.eof() && (isTchar(p.s[p.i]) || p.s[p.i] == ':' || p.s[p.i] == '/') {
			p.i++
		}
		return sfItem{kind: kindToken, s: p.s[start:p.i]}, nil
	}
	return sfItem{}, sfErr("unexpected character %q at offset %d", c, p.i)
}

func (p *sfParser) integer() (sfItem, error) {
	start := p.i
	if p.peek() == '-' {
		p.i++
	}
	digits := p.i
	for !p.eof() && isDigit(p.s[p.i]) {
		p.i++
	}
	n := p.i - digits
	if n == 0 || n > 15 {
		return sfItem{}, sfErr("bad integer at offset %d: give 1 to 15 digits", start)
	}
	if p.peek() == '.' {
		return sfItem{}, sfErr("decimals are not supported (offset %d)", p.i)
	}
	v, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
	if err != nil {
		return sfItem{}, sfErr("bad integer at offset %d", start)
	}
	return sfItem{kind: kindInt, i: v}, nil
}

func (p *sfParser) str() (sfItem, error) {
	start := p.i
	p.i++ // opening quote
	var b strings.Builder
	for !p.eof() {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '\\':
			if p.eof() || (p.s[p.i] != '"' && p.s[p.i] != '\\') {
				return sfItem{}, sfErr("bad escape in string at offset %d", p.i-1)
			}
			b.WriteByte(p.s[p.i])
			p.i++
		case c == '"':
			return sfItem{kind: kindString, s: b.String()}, nil
		case c < 0x20 || c > 0x7e:
			return sfItem{}, sfErr("non-printable character in string at offset %d", p.i-1)
		default:
			b.WriteByte(c)
		}
	}
	return sfItem{}, sfErr("unterminated string starting at offset %d", start)
}

func (p *sfParser) bytes() (sfItem, error) {
	start := p.i
	p.i++
	end := strings.IndexByte(p.s[p.i:], ':')
	if end < 0 {
		return sfItem{}, sfErr("unterminated byte sequence starting at offset %d", start)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(p.s[p.i : p.i+end])
	if err != nil {
		return sfItem{}, sfErr("bad base64 in byte sequence at offset %d", start)
	}
	p.i += end + 1
	return sfItem{kind: kindBytes, b: b}, nil
}

func (p *sfParser) params() ([]sfParam, error) {
	var ps []sfParam
	for p.peek() == ';' {
		p.i++
		p.skipSP()
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		val := sfItem{kind: kindBool, bool: true}
		if p.peek() == '=' {
			p.i++
			if val, err = p.bareItem(); err != nil {
				return nil, err
			}
		}
		for _, q := range ps {
			if q.key == k {
				return nil, sfErr("parameter %q appears twice", k)
			}
		}
		if len(ps) == maxParams {
			return nil, sfErr("more than %d parameters", maxParams)
		}
		ps = append(ps, sfParam{key: k, val: val})
	}
	return ps, nil
}

func (p *sfParser) innerList() ([]sfItem, error) {
	p.i++ // '('
	var items []sfItem
	for {
		p.skipSP()
		if p.eof() {
			return nil, sfErr("unterminated inner list")
		}
		if p.peek() == ')' {
			p.i++
			return items, nil
		}
		it, err := p.bareItem()
		if err != nil {
			return nil, err
		}
		if it.params, err = p.params(); err != nil {
			return nil, err
		}
		if len(items) == maxItems {
			return nil, sfErr("more than %d items in an inner list", maxItems)
		}
		items = append(items, it)
		if c := p.peek(); c != ' ' && c != ')' {
			return nil, sfErr("items in an inner list must be separated by spaces (offset %d)", p.i)
		}
	}
}

// parseDictionary parses a structured-field dictionary, rejecting duplicate
// keys.
func parseDictionary(s string) ([]sfMember, error) {
	p := &sfParser{s: s}
	var ms []sfMember
	p.skipSP()
	for !p.eof() {
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		m := sfMember{key: k, item: sfItem{kind: kindBool, bool: true}}
		if p.peek() == '=' {
			p.i++
			start := p.i
			if p.peek() == '(' {
				m.inner = true
				if m.items, err = p.innerList(); err != nil {
					return nil, err
				}
			} else if m.item, err = p.bareItem(); err != nil {
				return nil, err
			}
			if m.params, err = p.params(); err != nil {
				return nil, err
			}
			m.raw = s[start:p.i]
		} else if m.params, err = p.params(); err != nil {
			return nil, err
		}
		for _, o := range ms {
			if o.key == k {
				return nil, sfErr("dictionary key %q appears twice", k)
			}
		}
		if len(ms) == maxMembers {
			return nil, sfErr("more than %d dictionary members", maxMembers)
		}
		ms = append(ms, m)
		p.skipOWS()
		if p.eof() {
			return ms, nil
		}
		if p.peek() != ',' {
			return nil, sfErr("expected ',' between dictionary members at offset %d", p.i)
		}
		p.i++
		p.skipOWS()
		if p.eof() {
			return nil, sfErr("trailing comma in dictionary")
		}
	}
	return ms, nil
}

// sfString serializes s as a structured-field string. s must be printable
// ASCII; callers check.
func sfString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
