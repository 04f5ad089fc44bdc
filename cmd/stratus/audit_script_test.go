package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

var hexString = regexp.MustCompile(`^([0-9A-Fa-f]{2})+$`)

// cmdFlipByte is the testscript command
//
//	flipbyte FILE PATH
//
// which changes one byte of the value at PATH in the JSON document FILE, as
// someone editing a file could: the last byte of a hex or base64 string
// (one bit), a number plus one, or the last character of any other string.
// PATH is dot-separated object keys and array indexes.
func cmdFlipByte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flipbyte FILE PATH")
	}
	file := ts.MkAbs(args[0])
	dec := json.NewDecoder(strings.NewReader(ts.ReadFile(args[0])))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		ts.Fatalf("%s: not JSON: %v", args[0], err)
	}
	segs := strings.Split(args[1], ".")
	parent, err := jsonWalk(doc, segs[:len(segs)-1])
	if err != nil {
		ts.Fatalf("%s: %v", args[1], err)
	}
	last := segs[len(segs)-1]
	get := func() any { return nil }
	set := func(any) {}
	switch p := parent.(type) {
	case map[string]any:
		if _, ok := p[last]; !ok {
			ts.Fatalf("%s: no field %q", args[1], last)
		}
		get, set = func() any { return p[last] }, func(v any) { p[last] = v }
	case []any:
		i, err := strconv.Atoi(last)
		if err != nil || i < 0 || i >= len(p) {
			ts.Fatalf("%s: no element %q", args[1], last)
		}
		get, set = func() any { return p[i] }, func(v any) { p[i] = v }
	default:
		ts.Fatalf("%s: not in an object or array", args[1])
	}
	was := get()
	now, err := flipValue(was)
	if err != nil {
		ts.Fatalf("%s: %v", args[1], err)
	}
	set(now)
	ts.Logf("flipbyte %s: %v -> %v", args[1], was, now)
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		ts.Fatalf("%v", err)
	}
	ts.Check(os.WriteFile(file, out.Bytes(), 0o644))
}

func jsonWalk(v any, segs []string) (any, error) {
	for _, seg := range segs {
		switch x := v.(type) {
		case map[string]any:
			f, ok := x[seg]
			if !ok {
				return nil, fmt.Errorf("no field %q", seg)
			}
			v = f
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, fmt.Errorf("no element %q", seg)
			}
			v = x[i]
		default:
			return nil, fmt.Errorf("%q is not in an object or array", seg)
		}
	}
	return v, nil
}

func flipValue(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.ParseInt(x.String(), 10, 64)
		if err != nil {
			return nil, err
		}
		return json.Number(strconv.FormatInt(n+1, 10)), nil
	case string:
		if x == "" {
			return nil, fmt.Errorf("an empty string has no byte to change")
		}
		if hexString.MatchString(x) {
			b, _ := hex.DecodeString(x)
			b[len(b)-1] ^= 1
			if strings.ToUpper(x) == x {
				return strings.ToUpper(hex.EncodeToString(b)), nil
			}
			return hex.EncodeToString(b), nil
		}
		if b, err := base64.StdEncoding.DecodeString(x); err == nil && len(b) > 0 {
			b[len(b)-1] ^= 1
			return base64.StdEncoding.EncodeToString(b), nil
		}
		r := []rune(x)
		r[len(r)-1] ^= 1
		return string(r), nil
	}
	return nil, fmt.Errorf("%v is not a string or a number", v)
}
