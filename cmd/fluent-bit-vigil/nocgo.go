//go:build !cgo

// Without cgo (no C compiler, or CGO_ENABLED=0) the plugin cannot be built: this stub keeps
// `go build ./...` and `go vet ./...` working and says what to do.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "fluent-bit-vigil is a Fluent Bit plugin: build it with `make fluent-bit-plugin` (CGO_ENABLED=1, gcc)")
	os.Exit(2)
}
