# Cairn's build. `make run` and `make test` are all a fresh clone needs;
# everything else is for development.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BIN      := bin/cairn
# Extra flags for `make run`, e.g. make run ARGS="-log-level debug".
ARGS     ?=
# Packages whose tests run under the race detector (all of them: every one
# has goroutines of its own or drives a node that does).
RACE_PKGS := ./...
BENCHTIME ?= 2s

.PHONY: all build run test fmt-check vet bench fuzz clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/cairn

# Starts a single-node Cairn on the embedded defaults: HTTP on
# 127.0.0.1:8180, Raft on 127.0.0.1:8181, data in ./data.
run: build
	./$(BIN) agent $(ARGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

test: fmt-check vet
	$(GO) test -race -count=1 -timeout 9m $(RACE_PKGS)

# Benchmarks: the FSM micro-benchmarks, and PUT/GET over HTTP against a real
# single node with Raft fsync on, plus resident memory per 100k resources.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./fsm
	$(GO) test -run '^$$' -bench 'BenchmarkHTTP' -benchtime $(BENCHTIME) ./cmd/cairn
	$(GO) test -run '^$$' -bench 'BenchmarkRSS' -benchtime 1x ./cmd/cairn

FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzApply -fuzztime $(FUZZTIME) ./fsm

clean:
	rm -rf bin
