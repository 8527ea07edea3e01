package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests run in-process (parseAgentFlags), and under -short too.

// mustConfigFile writes a -config file and returns its path.
func mustConfigFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cairn.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// clearCairnEnv unsets the test process's own CAIRN_* variables for the
// test, so that only the test's settings count.
func clearCairnEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "CAIRN_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

func Test_Config_Precedence_FlagsOverEnvOverFileOverDefaults(t *testing.T) {
	clearCairnEnv(t)
	p := mustConfigFile(t, `# every layer sets something
zone: from-file
http-addr: 127.0.0.1:9180
raft-addr: 127.0.0.1:9181
gossip-addr: 127.0.0.1:9182
join: [127.0.0.1:9282, 127.0.0.1:9382]
`)
	t.Setenv("CAIRN_CONFIG", p)
	t.Setenv("CAIRN_RAFT_ADDR", "127.0.0.1:7181")
	t.Setenv("CAIRN_GOSSIP_ADDR", "127.0.0.1:7182")
	f, _, err := parseAgentFlags([]string{"-gossip-addr", "127.0.0.1:6182"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"zone (file)", f.zone, "from-file"},
		{"http-addr (file)", f.httpAddr, "127.0.0.1:9180"},
		{"raft-addr (env over file)", f.raftAddr, "127.0.0.1:7181"},
		{"gossip-addr (flag over env and file)", f.gossipAddr, "127.0.0.1:6182"},
		{"join (file, a YAML list)", f.join, "127.0.0.1:9282,127.0.0.1:9382"},
		{"data-dir (default)", f.dataDir, "./data"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	// -join came from the file: the node is no lone controller.
	if f.controller {
		t.Error("controller = true with -join from the file, want false")
	}
}

func Test_Config_EveryFlag_IsAKey(t *testing.T) {
	clearCairnEnv(t)
	_, fs, err := parseAgentFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	n := 0
	fs.VisitAll(func(fl *flag.Flag) {
		if fileOnlyNot[fl.Name] {
			return
		}
		v := fl.Value.String()
		b.WriteString(fl.Name + ": \"" + v + "\"\n")
		n++
	})
	f, _, err := parseAgentFlags([]string{"-config", mustConfigFile(t, b.String())})
	if err != nil {
		t.Fatalf("a file of every flag (%d) at its default: %v\n%s", n, err, b.String())
	}
	if f.snapshotInterval != 2*time.Minute || f.httpAddr != "127.0.0.1:8180" {
		t.Errorf("defaults through the file: snapshot-interval %s, http-addr %s", f.snapshotInterval, f.httpAddr)
	}
}

func Test_Config_Mistakes_NameFileLineAndKey(t *testing.T) {
	clearCairnEnv(t)
	for _, c := range []struct {
		name, body string
		want       []string
	}{
		{"unknown key", "zone: z\nhttp_port: 80\n", []string{":2: key http_port: unknown key"}},
		{"underscore spelling", "zone: z\nnode_id: n1\n", []string{":2: key node_id: unknown key (did you mean node-id?)"}},
		{"unparsable value", "zone: z\n\nmax-body-bytes: lots\n", []string{":3: key max-body-bytes", "invalid value"}},
		{"value out of range", "max-body-bytes: 10\n", []string{":1: key max-body-bytes: -max-body-bytes must be at least"}},
		{"bad duration", "request-timeout: 5\n", []string{":1: key request-timeout", "invalid value"}},
		{"bad choice", "zone: z\nexec: maybe\n", []string{":2: key exec: -exec must be true, false or auto"}},
		{"list where one value", "http-addr: [a, b]\n", []string{":1: key http-addr: takes one value, not a list"}},
		{"mapping", "zone:\n  name: z\n", []string{":2: key zone: takes a single value, not a mapping"}},
		{"twice", "zone: a\nzone: b\n", []string{":2: key zone: given twice (first on line 1)"}},
		{"config in the file", "config: other.yaml\n", []string{":1: key config: unknown key"}},
		{"not a mapping", "- zone\n", []string{":1: the file must be a mapping"}},
		{"YAML syntax", "zone: [\n", []string{"cairn.yaml: yaml: line"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := mustConfigFile(t, c.body)
			_, _, err := parseAgentFlags([]string{"-config", p})
			if err == nil {
				t.Fatalf("%q accepted", c.body)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name the file %s", err, p)
			}
		})
	}
}

func Test_Config_EnvValueOutOfRange_NamesVariable(t *testing.T) {
	clearCairnEnv(t)
	t.Setenv("CAIRN_TOKEN_TTL", "10ms")
	_, _, err := parseAgentFlags(nil)
	if err == nil || !strings.HasPrefix(err.Error(), `CAIRN_TOKEN_TTL="10ms": -token-ttl must be`) {
		t.Fatalf("err = %v, want it to name CAIRN_TOKEN_TTL", err)
	}
}

func Test_Config_EmptyAndCommentOnlyFiles_SetNothing(t *testing.T) {
	clearCairnEnv(t)
	for _, body := range []string{"", "# nothing yet\n"} {
		f, _, err := parseAgentFlags([]string{"-config", mustConfigFile(t, body)})
		if err != nil || f.zone != "default" {
			t.Errorf("%q: zone %v, err %v", body, f, err)
		}
	}
}

func Test_Config_MissingFile_Refused(t *testing.T) {
	clearCairnEnv(t)
	_, _, err := parseAgentFlags([]string{"-config", filepath.Join(t.TempDir(), "nope.yaml")})
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("err = %v", err)
	}
}
