# vigil — make targets. `make run` starts the all-in-one role; `make test` runs every test.
GO        ?= go
BIN       ?= bin/vigil
AGENT_BIN ?= bin/vigil-agent
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
PKGS      := ./...
TEST_TIMEOUT ?= 30m
BENCH_COUNT  ?= 6

.PHONY: build agent run test test-helm test-short bench lint fmt tidy clean fluent-bit-plugin generate

## build: bin/vigil (every role) and bin/vigil-agent (the agent alone, what the DaemonSet runs)
build: agent
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/vigil

## agent: bin/vigil-agent only, built as the Dockerfile builds it (static, no symbol table or
## DWARF): fewer pages of the binary mapped at run time (benchmarks/RESULTS.md, issue 17)
agent:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(AGENT_BIN) ./cmd/vigil-agent

## fluent-bit-plugin: the Fluent Bit output plugin out_vigil (cgo: needs gcc), bin/out_vigil.so
fluent-bit-plugin:
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -o bin/out_vigil.so ./cmd/fluent-bit-vigil

## run: start vigil all-in-one on 127.0.0.1 with embedded defaults (data in ./data)
run: build
	./$(BIN)

## test: go vet, then unit and integration tests (real Prometheus etc.; see .ci/run for what they need), with -race
test:
	$(GO) vet $(PKGS)
	$(GO) build -o bin/vigil-test ./cmd/vigil # the binaries the end-to-end tests run, built once for every package
	$(GO) build -o bin/vigil-agent-test ./cmd/vigil-agent
	VIGIL_BINARY=$(CURDIR)/bin/vigil-test VIGIL_AGENT_BINARY=$(CURDIR)/bin/vigil-agent-test $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

## test-helm: render deploy/helm/vigil with Helm's engine (tools/helmcheck, a module of its own) and validate it
test-helm:
	cd tools/helmcheck && $(GO) test -count=1 ./...

test-short:
	$(GO) test -race -short -count=1 $(PKGS)

## bench: Go benchmarks, repeated for benchstat
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) $(PKGS)

## lint: golangci-lint v2, pinned in tools/go.mod
lint:
	$(GO) tool -modfile=tools/go.mod golangci-lint run ./...
	$(GO) test -count=1 ./internal/doccheck/ # every relative Markdown link resolves (also in make test)

fmt:
	$(GO) tool -modfile=tools/go.mod golangci-lint fmt ./...

clean:
	rm -rf bin

## generate: run mdatagen (pinned in tools/mdatagen/go.mod, a module of its own so that neither vigil's go.mod nor
## golangci-lint's moves) in every component folder that has a metadata.yaml
MDATAGEN   := $(GO) tool -modfile=$(CURDIR)/tools/mdatagen/go.mod mdatagen
COMPONENTS := $(patsubst %/metadata.yaml,%,$(wildcard receivers/*/metadata.yaml processors/*/metadata.yaml exporters/*/metadata.yaml extensions/*/metadata.yaml connectors/*/metadata.yaml))

generate:
	@set -e; for d in $(COMPONENTS); do echo "mdatagen $$d"; (cd $$d && $(MDATAGEN) metadata.yaml); done
