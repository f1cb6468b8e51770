// Package testutil holds helpers shared by vigil's tests: free ports, building and running the
// vigil binary, starting real servers (skipping with an install hint locally, failing in CI), and
// a throw-away certificate authority for mTLS tests.
package testutil
