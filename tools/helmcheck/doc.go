// Package helmcheck renders deploy/helm/vigil with Helm's own engine (helm.sh/helm/v4) in its
// tests. It is a module of its own so that Helm's dependencies do not move vigil's go.mod:
//
//	cd tools/helmcheck && go test ./...
package helmcheck
