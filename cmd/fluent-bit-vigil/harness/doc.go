// Package harness tests the Fluent Bit output plugin as Fluent Bit loads it: it builds
// out_vigil.so with -buildmode=c-shared, compiles testdata/harness.c with gcc, and the harness
// dlopen()s the library and calls its FLBPlugin* entry points with chunks encoded as Fluent Bit
// encodes them. The package has no code of its own; see harness_test.go.
package harness
