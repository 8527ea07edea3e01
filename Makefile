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

.PHONY: all build run test chromium fmt-check vet bench bench-cluster bench-ab bench-overload fuzz clean cluster cluster-stop jepsen jepsen-campaign dist arm-cli container-test

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/cairn

# Starts a single-node Cairn on the embedded defaults: HTTP on
# 127.0.0.1:8180, Raft on 127.0.0.1:8181, data in ./data.
run: build
	./$(BIN) agent $(ARGS)

# The browser test drives Debian's chromium headless; this installs it
# when it is missing (as root, else with sudo). An install that fails
# does not stop make: the test then fails saying so, or skips with
# CAIRN_UI_TEST_OPTIONAL=1.
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "installing chromium (apt-get) for the web console's browser test"; \
	  sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  { $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium >/dev/null; } || \
	    echo "could not install chromium: the browser test will fail (CAIRN_UI_TEST_OPTIONAL=1 makes it a skip)"; \
	fi

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) vet -tags failpoints ./...

# Every package under the race detector, one short fault-injection run
# (cluster/jepsen's Test_Jepsen_Short) and the web console's browser test
# (cmd/cairn's Test_UI_Browser_...) among them, and the failpoints build's
# own tests. Test artifacts (the browser test's screenshots) are kept under
# $(TEST_OUTPUT)/_artifacts.
TEST_OUTPUT ?= data/test-output
test: fmt-check vet chromium
	@mkdir -p $(TEST_OUTPUT)
	$(GO) test -race -count=1 -timeout 9m -artifacts -outputdir $(abspath $(TEST_OUTPUT)) $(RACE_PKGS)
	$(GO) test -race -count=1 -tags failpoints ./node/failpoint/

# Runtime Manager's real CLI (anypoint-cli-v4 $(ARM_CLI_VERSION) with its
# runtime-mgr plugin, from the npm registry) drives a 3-node zone:
# server list/describe, serverGroup create/list, cluster create/list,
# standalone-application deploy/list/describe/redeploy/stop/start/delete,
# checking their output and the processes (cmd/cairn/arm_cli_test.go). The
# package is installed into a temporary directory, removed afterwards;
# npm and node are needed. Not part of `make test`.
ARM_CLI_VERSION ?= 1.6.12
arm-cli:
	@dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	echo "installing anypoint-cli-v4@$(ARM_CLI_VERSION) into $$dir" && \
	PUPPETEER_SKIP_DOWNLOAD=1 npm install --silent --no-audit --no-fund --prefix "$$dir" anypoint-cli-v4@$(ARM_CLI_VERSION) && \
	CAIRN_ARM_CLI="$$dir/node_modules/.bin/anypoint-cli-v4" $(GO) test -count=1 -v -timeout 10m -run '^Test_ARM_CLI_' ./cmd/cairn/

# The container driver against a real engine (node/workload's
# Test_ContainerDriver_RealEngine_...): podman and runc, installed with
# apt-get when podman is missing (as root, else with sudo); an image made
# here, without a registry, from the static busybox of Debian's
# busybox-static (apt-get download, nothing installed), imported as
# $(CONTAINER_IMAGE) unless it is there; podman configured by
# $(CONTAINERS_CONF) (see the file for why). Not part of `make test`.
CONTAINER_IMAGE ?= localhost/cairn-test/busybox:1
CONTAINERS_CONF ?= $(abspath testdata/podman/containers.conf)
container-test:
	@if ! command -v podman >/dev/null; then \
	  echo "installing podman and runc (apt-get)"; \
	  sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq podman runc >/dev/null; \
	fi
	@export CONTAINERS_CONF=$(CONTAINERS_CONF); \
	if ! podman image exists $(CONTAINER_IMAGE); then \
	  dir=$$(mktemp -d) && chmod 755 "$$dir" && trap 'rm -rf "$$dir"' EXIT && cd "$$dir" && \
	  echo "making $(CONTAINER_IMAGE) from Debian's busybox-static" && \
	  apt-get download busybox-static >/dev/null 2>&1 && dpkg-deb -x busybox-static_*.deb x && \
	  mkdir -p root/bin root/tmp && cp x/bin/busybox root/bin/ && \
	  for a in sh echo cat sleep; do ln -s busybox root/bin/$$a; done && \
	  tar -C root -cf rootfs.tar . && \
	  podman import -q --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' rootfs.tar $(CONTAINER_IMAGE) >/dev/null || exit 1; \
	fi
	CONTAINERS_CONF=$(CONTAINERS_CONF) CAIRN_CONTAINER_TEST_IMAGE=$(CONTAINER_IMAGE) \
	  $(GO) test -count=1 -v -timeout 5m -run '^Test_ContainerDriver_RealEngine_' ./node/workload/

# A fault-injection campaign (cluster/jepsen) against a zone of NODES real
# agents built with failpoints: DURATION of load and faults, drawn from
# SEED (0: from the clock; the report prints it). FAULTS narrows the
# faults (comma-separated: kill,pause,partition,member,failpoint,wipe,rogue). On a
# failed check the report names the directory kept with the history,
# porcupine's history.html and the nodes' logs.
# TLS=1 runs the zone with TLS between nodes and to the clients (a CA of
# the run's own, mutual TLS on Raft) and a gossip key.
DURATION ?= 60s
NODES    ?= 3
SEED     ?= 0
FAULTS   ?=
CLIENTS  ?= 5
TLS      ?= 0
jepsen:
	$(GO) build -tags failpoints -ldflags "$(LDFLAGS)" -o bin/cairn-failpoints ./cmd/cairn
	CAIRN_JEPSEN_BINARY=$(abspath bin/cairn-failpoints) CAIRN_JEPSEN_DURATION=$(DURATION) CAIRN_JEPSEN_NODES=$(NODES) \
	  CAIRN_JEPSEN_SEED=$(SEED) CAIRN_JEPSEN_FAULTS=$(FAULTS) CAIRN_JEPSEN_CLIENTS=$(CLIENTS) CAIRN_JEPSEN_TLS=$(TLS) \
	  $(GO) test -count=1 -v -timeout 0 -run '^Test_Jepsen_Campaign$$' ./cluster/jepsen/

# A campaign of SEEDS jepsen runs of DURATION each (default 120s here),
# seeds SEED_BASE+1.. split into one block per node count of NODES_LIST
# (20 and "3 5": seeds 1-10 on 3 nodes, 11-20 on 5), every fault unless
# FAULTS says otherwise. The binaries are built once and a failing run does
# not stop it; each run's log and summary line are kept in CAMPAIGN_DIR,
# and it ends with a markdown table of every run (CAMPAIGN_DIR/table.md),
# failing if any run did.
SEEDS        ?= 20
SEED_BASE    ?= 0
NODES_LIST   ?= 3 5
CAMPAIGN_DIR ?= data/jepsen-campaign
jepsen-campaign:
	$(GO) build -tags failpoints -ldflags "$(LDFLAGS)" -o bin/cairn-failpoints ./cmd/cairn
	GO="$(GO)" BINARY=$(abspath bin/cairn-failpoints) OUT=$(CAMPAIGN_DIR) SEEDS=$(SEEDS) SEED_BASE=$(SEED_BASE) \
	  DURATION=$(if $(filter file default undefined,$(origin DURATION)),120s,$(DURATION)) NODES_LIST="$(NODES_LIST)" \
	  FAULTS=$(FAULTS) CLIENTS=$(CLIENTS) TLS=$(TLS) ./cluster/jepsen/campaign.sh

# Benchmarks: the FSM micro-benchmarks, PUT/GET over HTTP against a real
# single node with Raft fsync on, resident memory per 100k resources, the
# workload scheduler's pass over 10k workloads, and a workload PUT to its 3
# instances RUNNING on a real 3-node zone (their go test output is kept in
# $(BENCH_DIR)/micro.txt); then
# bench-cluster, which prints everything as one table.
BENCH_DIR ?= data/bench
# bench_go runs one `go test -bench` and appends its output to
# $(BENCH_DIR)/micro.txt, showing it as it goes; it fails if the test does.
bench_go = @echo 'go test -run ^$$ $(1)'; \
	{ $(GO) test -run '^$$' $(1) 2>&1; echo $$? >$(BENCH_DIR)/micro.rc; } | tee -a $(BENCH_DIR)/micro.txt; \
	exit $$(cat $(BENCH_DIR)/micro.rc)
bench: build
	@mkdir -p $(BENCH_DIR) && : >$(BENCH_DIR)/micro.txt
	$(call bench_go,-bench . -benchmem -benchtime $(BENCHTIME) ./fsm)
	$(call bench_go,-bench . -benchmem -benchtime $(BENCHTIME) ./node)
	$(call bench_go,-bench 'BenchmarkHTTP' -benchtime $(BENCHTIME) ./cmd/cairn)
	$(call bench_go,-bench 'BenchmarkRSS' -benchtime 1x ./cmd/cairn)
	$(call bench_go,-bench . -benchtime $(BENCHTIME) ./cluster/scheduler)
	$(call bench_go,-bench 'BenchmarkWorkload_PutToAllRunning' -benchtime 10x ./cmd/cairn)
	@$(MAKE) --no-print-directory bench-cluster BENCH_EXTRA=$(BENCH_DIR)/micro.txt

# `cairn bench` against a 3-node zone of its own: `make cluster` with
# CLUSTER_DIR=$(BENCH_CLUSTER_DIR) (wiped first), so the same ports as
# `make cluster`, which must not be running. PUTs of 1 KiB at concurrency 1,
# 16 and 64 through the leader and through a follower, GETs (default and
# ?consistent) at 64, a 20/80 PUT/GET mix through a follower at 1 and 16
# (reads right after writes), each for $(BENCH_D) after a 1s warm-up; then one table
# of those runs and of the files in BENCH_EXTRA. The zone is stopped
# afterwards, also on failure or Ctrl-C.
BENCH_CLUSTER_DIR ?= $(BENCH_DIR)/cluster
BENCH_D ?= 5s
BENCH_EXTRA ?=
BENCH_NODES := http://127.0.0.1:11180 http://127.0.0.1:12180 http://127.0.0.1:13180
bench-cluster: build
	@d=$(BENCH_CLUSTER_DIR); res=$$d/results.jsonl; \
	for u in $(BENCH_NODES); do \
	  if curl -s -o /dev/null --max-time 2 $$u/health; then echo "bench-cluster: $$u already answers; stop that zone first (make cluster-stop, or make cluster-stop CLUSTER_DIR=$$d)"; exit 1; fi; \
	done; \
	rm -rf $$d && mkdir -p $$d || exit 1; \
	trap "$(MAKE) --no-print-directory cluster-stop CLUSTER_DIR=$$d" EXIT; trap 'exit 130' INT TERM; \
	$(MAKE) --no-print-directory cluster CLUSTER_DIR=$$d || exit 1; \
	leader=; \
	for t in $$(seq 300); do \
	  leader=$$(curl -sf --max-time 2 $(firstword $(BENCH_NODES))/cairn/v1/status | sed -n 's/.*"leader_http":"\([^"]*\)".*/\1/p'); \
	  ready=0; for u in $(BENCH_NODES); do curl -sf -o /dev/null --max-time 2 $$u/ready && ready=$$((ready+1)); done; \
	  [ -n "$$leader" ] && [ $$ready = 3 ] && break; sleep 0.1; \
	done; \
	follower=; for u in $(BENCH_NODES); do [ "$$u" != "$$leader" ] && follower=$$u && break; done; \
	case " $(BENCH_NODES) " in *" $$leader "*) ;; *) echo "bench-cluster: no zone leader among $(BENCH_NODES) within 30s (leader \"$$leader\"); logs in $$d/node*/agent.log"; exit 1;; esac; \
	echo "leader $$leader, follower $$follower"; \
	failed=0; \
	run() { label=$$1; shift; echo "== $$label" >&2; \
	  ./$(BIN) bench -json -label "$$label" -d $(BENCH_D) -size 1024 -keys 1000 -kind bench "$$@" >>$$res || failed=1; \
	  if tail -n 1 $$res | grep -q '"interrupted":true'; then echo "bench-cluster: interrupted" >&2; exit 130; fi; }; \
	for c in 1 16 64; do run "put leader c=$$c" -addr $$leader -op put -c $$c; done; \
	for c in 1 16 64; do run "put follower c=$$c" -addr $$follower -op put -c $$c; done; \
	run "get default leader c=64" -addr $$leader -op get -c 64; \
	run "get default follower c=64" -addr $$follower -op get -c 64; \
	run "get consistent leader c=64" -addr $$leader -op get -c 64 -consistency consistent; \
	run "get consistent follower c=64" -addr $$follower -op get -c 64 -consistency consistent; \
	for c in 1 16; do run "mixed 20/80 follower c=$$c" -addr $$follower -op mixed -ratio put=20,get=80 -c $$c; done; \
	echo; echo "3-node zone on 127.0.0.1 (Raft fsync on), 1 KiB values, 1000 ids, $(BENCH_D) a case; leader $$leader, follower $$follower:"; \
	./$(BIN) bench -table $$res $(BENCH_EXTRA) || exit 1; \
	exit $$failed

# A/B of the write path against an earlier commit (#22): builds BASE
# (a commit, default 80df368, the figures the write-path issue started
# from) in a temporary worktree, then, AB_ROUNDS times, runs the same
# cases on both, each case on a fresh 3-node loopback zone of each binary
# in turn (one zone at a time), the two sides of a case back to back
# (AB_D a case; AB_CASES to pick), and prints both tables and, per case,
# the ratio of the medians and the median of the rounds' ratios. Ports
# 2N180-2N182 (the base) and 3N180-3N182; data in $(BENCH_DIR)/ab. Run it
# on a quiet machine: only ratios count.
BASE      ?= 80df368
AB_D      ?= 10s
AB_ROUNDS ?= 2
AB_CASES  ?=
bench-ab: build
	@d=$(abspath $(BENCH_DIR))/ab; rm -rf $$d && mkdir -p $$d || exit 1; \
	wt=$$d/base-src; git worktree add -q --detach $$wt $(BASE) || exit 1; \
	( cd $$wt && $(GO) build -o $$d/cairn-base ./cmd/cairn ); rc=$$?; \
	git worktree remove --force $$wt; [ $$rc = 0 ] || exit $$rc; \
	D=$(AB_D) ROUNDS=$(AB_ROUNDS) CASES="$(AB_CASES)" cmd/cairn/bench/ab.sh $$d/cairn-base $(abspath $(BIN)) $$d

# Overload (#23 item 2): a 3-node zone of its own (as bench-cluster, same
# ports), 1 KiB PUTs at c=64 for BENCH_D through the leader and through
# all three nodes (the baselines: the overload's writes arrive at every
# node, as the second's), then OVERLOAD_C clients spread over all three
# nodes for OVERLOAD_D, then c=64 through the leader again (recovery).
# Prints each run (the overload's 503s, and the latency of the writes it
# admitted), each node's peak RSS (VmHWM) and the leader changes the zone
# saw meanwhile.
OVERLOAD_C ?= 1000
OVERLOAD_D ?= 60s
# The overload's clients wait out each 503's Retry-After, as well-behaved
# clients do; OVERLOAD_RETRY= makes them hammer instead.
OVERLOAD_RETRY ?= -retry-after
bench-overload: build
	@d=$(BENCH_CLUSTER_DIR); res=$$d/overload.jsonl; \
	for u in $(BENCH_NODES); do \
	  if curl -s -o /dev/null --max-time 2 $$u/health; then echo "bench-overload: $$u already answers; stop that zone first"; exit 1; fi; \
	done; \
	rm -rf $$d && mkdir -p $$d || exit 1; \
	trap "$(MAKE) --no-print-directory cluster-stop CLUSTER_DIR=$$d" EXIT; trap 'exit 130' INT TERM; \
	$(MAKE) --no-print-directory cluster CLUSTER_DIR=$$d || exit 1; \
	leader=; for t in $$(seq 300); do \
	  leader=$$(curl -sf --max-time 2 $(firstword $(BENCH_NODES))/cairn/v1/status | sed -n 's/.*"leader_http":"\([^"]*\)".*/\1/p'); \
	  [ -n "$$leader" ] && break; sleep 0.1; done; \
	changes() { for u in $(BENCH_NODES); do curl -sf $$u/metrics | sed -n 's/^cairn_raft_leader_changes_total \(.*\)/\1/p'; done | paste -sd+ | bc; }; \
	before=$$(changes); \
	./$(BIN) bench -json -label "put leader c=64 (before)" -addr $$leader -op put -c 64 -d $(BENCH_D) -size 1024 -kind bench >>$$res || exit 1; \
	./$(BIN) bench -json -label "put all nodes c=64 (before)" -addr $$(echo $(BENCH_NODES) | tr ' ' ,) -op put -c 64 -d $(BENCH_D) -size 1024 -kind bench >>$$res || exit 1; \
	./$(BIN) bench -json -label "put all nodes c=$(OVERLOAD_C) (overload)" -addr $$(echo $(BENCH_NODES) | tr ' ' ,) -op put -c $(OVERLOAD_C) -d $(OVERLOAD_D) -size 1024 -kind bench $(OVERLOAD_RETRY) >>$$res || exit 1; \
	./$(BIN) bench -json -label "put leader c=64 (after)" -addr $$leader -op put -c 64 -d $(BENCH_D) -size 1024 -kind bench >>$$res || exit 1; \
	./$(BIN) bench -table $$res; \
	for i in 1 2 3; do echo "node$$i peak RSS: $$(sed -n 's/^VmHWM:[[:space:]]*//p' /proc/$$(cat $$d/node$$i/pid)/status)"; done; \
	echo "leader changes seen by the nodes during the runs: $$(( $$(changes) - before ))"; \
	for f in $$res; do grep -o '"ok_latency_ms":{[^}]*}' $$f; done

# A 3-node zone on 127.0.0.1: node N serves HTTP on 127.0.0.1:1N180, Raft
# on 1N181 and gossip on 1N182, with data, logs and its PID under
# ./data/cluster/nodeN. `make cluster-stop` stops exactly those processes.
CLUSTER_DIR ?= data/cluster
# Extra agent flags for every node of `make cluster`, e.g.
# CLUSTER_ARGS="-max-writes-in-flight 64".
CLUSTER_ARGS ?=
CLUSTER_JOIN := 127.0.0.1:11182,127.0.0.1:12182,127.0.0.1:13182
cluster: build
	@for i in 1 2 3; do \
	  d=$(CLUSTER_DIR)/node$$i; mkdir -p $$d; \
	  if [ -f $$d/pid ] && kill -0 $$(cat $$d/pid) 2>/dev/null; then echo "node$$i already runs (pid $$(cat $$d/pid))"; continue; fi; \
	  nohup ./$(BIN) agent -node-id node$$i -data-dir $$d -http-addr 127.0.0.1:1$${i}180 -raft-addr 127.0.0.1:1$${i}181 \
	    -gossip-addr 127.0.0.1:1$${i}182 -maxscale-addr 127.0.0.1:1$${i}989 -apcera-addr 127.0.0.1:1$${i}190 -join $(CLUSTER_JOIN) -bootstrap-expect 3 $(CLUSTER_ARGS) >$$d/agent.out 2>$$d/agent.log & echo $$! >$$d/pid; \
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

# Release artifacts in $(DIST_DIR), per architecture of DIST_ARCHES: a
# static linux binary (CGO off, -trimpath) stamped with the version, commit
# and build date (`cairn version` prints them); a tarball of it with the
# example config and the systemd unit (cmd/cairn/dist/); and a .deb built
# with nfpm (cmd/cairn/dist, a Go module of its own). Not part of
# `make test`: cmd/cairn's Test_Dist_* build a .deb of their own. The
# Vagrantfile's keys in $(DIST_DIR)/shared are kept.
DIST_DIR    ?= dist
DIST_ARCHES ?= amd64 arm64
COMMIT      ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# SOURCE_DATE_EPOCH, when set, makes the date (and the .deb's mtimes)
# reproducible.
BUILD_DATE  ?= $(shell date -u $${SOURCE_DATE_EPOCH:+-d @$$SOURCE_DATE_EPOCH} +%Y-%m-%dT%H:%M:%SZ)
DIST_LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(BUILD_DATE)
dist:
	@rm -rf $(DIST_DIR)/cairn_* $(DIST_DIR)/SHA256SUMS && mkdir -p $(DIST_DIR)
	cd cmd/cairn/dist && $(GO) vet ./...
	@for arch in $(DIST_ARCHES); do \
	  name=cairn_$(VERSION)_linux_$$arch; d=$(DIST_DIR)/$$name; mkdir -p $$d; \
	  echo "building $$d/cairn"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags "$(DIST_LDFLAGS)" -o $$d/cairn ./cmd/cairn || exit 1; \
	  cp cmd/cairn/dist/cairn.service cmd/cairn/dist/cairn.yaml $$d/ || exit 1; \
	  tar -C $(DIST_DIR) -czf $$d.tar.gz $$name || exit 1; \
	  (cd cmd/cairn/dist && $(GO) run . -binary $(CURDIR)/$$d/cairn -arch $$arch -version $(VERSION) -out $(CURDIR)/$(DIST_DIR)) || exit 1; \
	done
	@cd $(DIST_DIR) && sha256sum *.tar.gz *.deb >SHA256SUMS && cat SHA256SUMS

FUZZTIME ?= 30s
# Every fuzz target for FUZZTIME each: the log entry decoder and the FSM,
# and the snapshot decoder a peer's InstallSnapshot reaches (fsm), and
# every dialect's request decoding through the whole HTTP
# middleware of a real node (http: no panic, no 500, a refused request
# leaves the store's digest unchanged). `make test` runs their seeds.
HTTP_FUZZ := FuzzNativeResource FuzzMaxScale FuzzMRFContribution FuzzWorkloadAndUser FuzzTopologyService FuzzARM FuzzApcera
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzApply$$' -fuzztime $(FUZZTIME) ./fsm
	$(GO) test -run '^$$' -fuzz '^FuzzRestore$$' -fuzztime $(FUZZTIME) ./fsm
	$(GO) test -run '^$$' -fuzz '^FuzzCanonical$$' -fuzztime $(FUZZTIME) ./fsm
	$(GO) test -run '^$$' -fuzz '^FuzzRestoreBackup$$' -fuzztime $(FUZZTIME) ./node
	for t in $(HTTP_FUZZ); do $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) ./http/ || exit 1; done

clean:
	rm -rf bin $(DIST_DIR)
