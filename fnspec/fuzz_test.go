package fnspec

import "testing"

// FuzzParse checks that Parse never panics, and that a spec it accepts
// validates and parses back from its canonical form to the same hash.
func FuzzParse(f *testing.F) {
	f.Add([]byte(smallest))
	f.Add([]byte(full))
	f.Add([]byte(`{"name":"a","module":"a.wasm","routes":["/"],"limits":{"memory":"1MiB","timeout":"1ms"},"scaling":{"min":1,"max":1,"target_concurrency":1,"cooldown":"0s"},"spend_limit":"1ustr"}`))
	f.Add([]byte("name: echo\nenv: {A: \"\\u00e9\\t\"}\ncron: [{schedule: \"@every 1h\", path: /t, body: \"a\\nb\"}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse accepted a spec that Validate refuses: %v\n%q", err, b)
		}
		c := s.Canonical()
		back, err := Parse(c)
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\ninput: %q\ncanonical: %s", err, b, c)
		}
		if back.Hash() != s.Hash() {
			t.Fatalf("canonical form parses to another spec\ninput: %q\n%s\n%s", b, c, back.Canonical())
		}
	})
}
