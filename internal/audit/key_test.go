package audit

import (
	"fmt"
	"testing"
)

func TestKeys(t *testing.T) {
	h := NewKeyHasher()
	if h.String("a/b") != h.Bytes([]byte("a/b")) {
		t.Fatal("String and Bytes disagree")
	}
	seen := map[Key]string{}
	for i := range 200000 {
		id := fmt.Sprintf("%016x-4f0e-9a41-5d0c9e2b7a10/ResponseComplete", i)
		k := h.String(id)
		if other, ok := seen[k]; ok {
			t.Fatalf("%q and %q share a key", id, other)
		}
		seen[k] = id
	}
	if NewKeyHasher().String("x") == h.String("x") {
		t.Fatal("two hashers gave the same key: seeds are not random")
	}
}
