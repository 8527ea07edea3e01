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

.PHONY: all build run test fmt-check vet bench fuzz clean cluster cluster-stop

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

# A 3-node zone on 127.0.0.1: node N serves HTTP on 127.0.0.1:1N180, Raft
# on 1N181 and gossip on 1N182, with data, logs and its PID under
# ./data/cluster/nodeN. `make cluster-stop` stops exactly those processes.
CLUSTER_DIR := data/cluster
CLUSTER_JOIN := 127.0.0.1:11182,127.0.0.1:12182,127.0.0.1:13182
cluster: build
	@for i in 1 2 3; do \
	  d=$(CLUSTER_DIR)/node$$i; mkdir -p $$d; \
	  if [ -f $$d/pid ] && kill -0 $$(cat $$d/pid) 2>/dev/null; then echo "node$$i already runs (pid $$(cat $$d/pid))"; continue; fi; \
	  nohup ./$(BIN) agent -node-id node$$i -data-dir $$d -http-addr 127.0.0.1:1$${i}180 -raft-addr 127.0.0.1:1$${i}181 \
	    -gossip-addr 127.0.0.1:1$${i}182 -join $(CLUSTER_JOIN) -bootstrap-expect 3 >$$d/agent.out 2>$$d/agent.log & echo $$! >$$d/pid; \
	done
	@for i in 1 2 3; do \
	  for t in $$(seq 100); do curl -sf -o /dev/null http://127.0.0.1:1$${i}180/ready && break; sleep 0.1; done; \
	  echo "node$$i: http://127.0.0.1:1$${i}180 (raft 127.0.0.1:1$${i}181, gossip 127.0.0.1:1$${i}182) pid $$(cat $(CLUSTER_DIR)/node$$i/pid), log $(CLUSTER_DIR)/node$$i/agent.log"; \
	done
	@echo "members: curl -s http://127.0.0.1:11180/cairn/v1/members"
	@echo "stop with: make cluster-stop"

cluster-stop:
	@for i in 1 2 3; do \
	  f=$(CLUSTER_DIR)/node$$i/pid; [ -f $$f ] || continue; p=$$(cat $$f); \
	  if kill -0 $$p 2>/dev/null; then kill -TERM $$p; for t in $$(seq 100); do kill -0 $$p 2>/dev/null || break; sleep 0.1; done; \
	    kill -0 $$p 2>/dev/null && kill -KILL $$p; echo "stopped node$$i (pid $$p)"; fi; \
	  rm -f $$f; \
	done

FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzApply -fuzztime $(FUZZTIME) ./fsm

clean:
	rm -rf bin
