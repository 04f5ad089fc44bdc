package bufpool

import "testing"

func TestGetPut(t *testing.T) {
	b := Get(1 << 20)
	if len(b) != 1<<20 {
		t.Fatalf("len %d", len(b))
	}
	Put(b)
	c := Get(100)
	if len(c) != 100 {
		t.Fatalf("len %d after reuse", len(c))
	}
	Put(make([]byte, 10)) // too small to keep: must not panic or be returned short
	if d := Get(2 << 20); len(d) != 2<<20 {
		t.Fatalf("len %d", len(d))
	}
}
