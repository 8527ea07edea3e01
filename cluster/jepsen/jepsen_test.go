package jepsen

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// binary is the failpoints build of cairn the tests run: $CAIRN_JEPSEN_BINARY
// (make jepsen builds it), or one built into the test's temp dir.
func binary(t *testing.T) string {
	if b := os.Getenv("CAIRN_JEPSEN_BINARY"); b != "" {
		return b
	}
	out := filepath.Join(t.TempDir(), "cairn")
	cmd := exec.Command("go", "build", "-tags", "failpoints", "-o", out, "cairn/cmd/cairn")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building cairn with failpoints: %v\n%s", err, b)
	}
	return out
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s=%q is not an integer", name, s)
	}
	return n
}

func runAndReport(t *testing.T, cfg Config) {
	cfg.Binary = binary(t)
	cfg.Logf = t.Logf
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		writeSummary(t, Summary{Seed: cfg.Seed, Nodes: cfg.Nodes, Duration: cfg.Duration.String(), TLS: cfg.TLS,
			Anomalies: []string{"the run could not be carried out: " + err.Error()}, Result: "ERROR"})
		t.Fatal(err)
	}
	t.Log("\n" + rep.String())
	writeSummary(t, rep.Summary(cfg.TLS))
	if !rep.OK() {
		t.Fatalf("anomalies found; history in %s/history.json and %s/history.html; seed %d", rep.Dir, rep.Dir, rep.Seed)
	}
}

// writeSummary logs s as one line of JSON after "JEPSEN-SUMMARY " and
// appends that JSON line to the file $CAIRN_JEPSEN_SUMMARY names, if any.
func writeSummary(t *testing.T, s Summary) {
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("JEPSEN-SUMMARY %s", b)
	if f := os.Getenv("CAIRN_JEPSEN_SUMMARY"); f != "" {
		fh, err := os.OpenFile(f, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			_, err = fh.Write(append(b, '\n'))
			if cerr := fh.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			t.Errorf("writing the summary to %s: %v", f, err)
		}
	}
}

// Test_Jepsen_Short is the run `make test` includes: a 3-node zone, every
// fault, a fixed seed.
func Test_Jepsen_Short(t *testing.T) {
	if os.Getenv("CAIRN_JEPSEN_DURATION") != "" {
		t.Skip("make jepsen runs Test_Jepsen_Campaign instead")
	}
	runAndReport(t, Config{Nodes: 3, Duration: 45 * time.Second, Seed: 20261201})
}

// Test_Jepsen_Campaign is `make jepsen`: CAIRN_JEPSEN_DURATION,
// CAIRN_JEPSEN_NODES, CAIRN_JEPSEN_SEED (0: from the clock) and
// CAIRN_JEPSEN_FAULTS (comma-separated) configure it.
func Test_Jepsen_Campaign(t *testing.T) {
	ds := os.Getenv("CAIRN_JEPSEN_DURATION")
	if ds == "" {
		t.Skip("set CAIRN_JEPSEN_DURATION (make jepsen DURATION=60s) to run a campaign")
	}
	d, err := time.ParseDuration(ds)
	if err != nil {
		t.Fatalf("CAIRN_JEPSEN_DURATION=%q: %v", ds, err)
	}
	seed := uint64(envInt(t, "CAIRN_JEPSEN_SEED", 0))
	if seed == 0 {
		seed = uint64(time.Now().UnixNano() % 1_000_000_000)
	}
	var faults []string
	if s := os.Getenv("CAIRN_JEPSEN_FAULTS"); s != "" {
		faults = strings.Split(s, ",")
	}
	runAndReport(t, Config{Nodes: envInt(t, "CAIRN_JEPSEN_NODES", 3), Duration: d, Seed: seed,
		Clients: envInt(t, "CAIRN_JEPSEN_CLIENTS", 5), Faults: faults, TLS: envInt(t, "CAIRN_JEPSEN_TLS", 0) != 0})
}

// The checks are not a formality: with no faults at all, a zone whose
// state is changed behind the clients' backs (an acknowledged set member
// deleted, a register set to a value no client wrote) fails them, and the
// history and its visualization are kept.
func Test_Jepsen_DetectsTampering(t *testing.T) {
	if os.Getenv("CAIRN_JEPSEN_DURATION") != "" {
		t.Skip("make jepsen runs Test_Jepsen_Campaign instead")
	}
	var deleted, tampered string
	cfg := Config{Binary: binary(t), Nodes: 3, Duration: 5 * time.Second, Seed: 7, Faults: []string{FaultPause}, Logf: t.Logf,
		beforeChecks: func(ctx context.Context, z *Zone, h *History) {
			h.mu.Lock()
			for id, o := range h.adds {
				if o == OK {
					deleted = id
					break
				}
			}
			h.mu.Unlock()
			if deleted == "" {
				t.Fatal("no set addition was acknowledged in the run")
			}
			tampered = h.keys()[0]
			nd := z.Nodes[0]
			if _, code, err := nd.do(ctx, "DELETE", "/cairn/v1/resources/"+setKind+"/"+deleted, nil); err != nil || code != 204 {
				t.Fatalf("deleting set member %q: %d %v", deleted, code, err)
			}
			if _, code, err := nd.do(ctx, "PUT", "/cairn/v1/resources/"+registerKind+"/"+tampered, strings.NewReader(`{"v":"nobody"}`)); err != nil || code >= 300 {
				t.Fatalf("tampering with %s: %d %v", tampered, code, err)
			}
		}}
	// The only fault is a pause, which the checks must not mind.
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.String())
	defer os.RemoveAll(rep.Dir)
	all := strings.Join(rep.Anomalies, "\n")
	for _, want := range []string{"acknowledged set additions lost: [" + deleted + "]", "porcupine says Illegal"} {
		if !strings.Contains(all, want) {
			t.Errorf("anomalies lack %q:\n%s", want, all)
		}
	}
	for _, f := range []string{"history.json", "history.html"} {
		if st, err := os.Stat(filepath.Join(rep.Dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}
