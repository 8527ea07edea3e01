package main

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// mustBuildDeb builds a .deb of the binary under test with the packager of
// `make dist` (cmd/cairn/dist, nfpm as a Go library) into a temp dir.
func mustBuildDeb(t *testing.T) string {
	t.Helper()
	requireBinary(t)
	out := t.TempDir()
	cmd := exec.Command("go", "run", ".", "-binary", cairnBin, "-arch", runtime.GOARCH, "-version", "v1.2.3-4-gabcdef0", "-out", out)
	cmd.Dir = "dist"
	b, err := cmd.CombinedOutput()
	if err != nil {
		// nfpm comes from the module proxy the first time: offline, and
		// with an empty module cache, the packager cannot be built at all.
		for _, offline := range []string{"dial tcp", "no such host", "module lookup disabled", "i/o timeout"} {
			if strings.Contains(string(b), offline) {
				t.Skipf("the packager's modules (nfpm) cannot be downloaded here, so no .deb is built: %s", strings.TrimSpace(lastLines(b, 3)))
			}
		}
		t.Fatalf("building the .deb (cd cmd/cairn/dist && go run .): %v\n%s", err, b)
	}
	deb := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(deb, '\n'); i >= 0 {
		deb = deb[i+1:]
	}
	return deb
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	b, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
	}
	return string(b)
}

// Test_Dist_Deb_ContentsScriptsAndUnit builds the .deb and checks with
// dpkg-deb what it installs and with which owners and modes, that its
// scripts create the cairn user, that the packaged binary runs and the
// example config passes -config-check, and the unit with systemd-analyze
// verify (where that tool exists).
func Test_Dist_Deb_ContentsScriptsAndUnit(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb is not installed: the .deb cannot be inspected here")
	}
	deb := mustBuildDeb(t)
	if want := "cairn_1.2.3+4.gabcdef0_" + runtime.GOARCH + ".deb"; filepath.Base(deb) != want {
		t.Errorf("package file %s, want %s", filepath.Base(deb), want)
	}
	fields := mustRun(t, "dpkg-deb", "-f", deb, "Package", "Version", "Architecture")
	for _, want := range []string{"Package: cairn", "Version: 1.2.3+4.gabcdef0", "Architecture: " + runtime.GOARCH} {
		if !strings.Contains(fields, want) {
			t.Errorf("control fields %q lack %q", fields, want)
		}
	}
	contents := mustRun(t, "dpkg-deb", "-c", deb)
	for _, want := range [][]string{
		{"-rwxr-xr-x", "root/root", "./usr/bin/cairn"},
		{"-rw-r--r--", "root/root", "./lib/systemd/system/cairn.service"},
		{"drwxr-x---", "root/cairn", "./etc/cairn/"},
		{"-rw-r-----", "root/cairn", "./etc/cairn/cairn.yaml"},
		{"drwxr-x---", "cairn/cairn", "./var/lib/cairn/"},
	} {
		found := false
		for _, line := range strings.Split(contents, "\n") {
			f := strings.Fields(line)
			if len(f) >= 6 && f[0] == want[0] && f[1] == want[1] && f[len(f)-1] == want[2] {
				found = true
			}
		}
		if !found {
			t.Errorf("the .deb has no %s owned %s with mode %s; contents:\n%s", want[2], want[1], want[0], contents)
		}
	}
	ctl := t.TempDir()
	mustRun(t, "dpkg-deb", "-e", deb, ctl)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(ctl, name))
		if err != nil {
			t.Fatalf("control file %s: %v", name, err)
		}
		return string(b)
	}
	if s := read("preinst"); !strings.Contains(s, "useradd --system") || !strings.Contains(s, "groupadd --system cairn") {
		t.Errorf("preinst does not create the cairn user and group:\n%s", s)
	}
	if s := read("postinst"); !strings.Contains(s, "chown cairn:cairn /var/lib/cairn") {
		t.Errorf("postinst does not give /var/lib/cairn to cairn:\n%s", s)
	}
	if s := read("conffiles"); strings.TrimSpace(s) != "/etc/cairn/cairn.yaml" {
		t.Errorf("conffiles %q, want /etc/cairn/cairn.yaml", s)
	}

	root := t.TempDir()
	mustRun(t, "dpkg-deb", "-x", deb, root)
	bin := filepath.Join(root, "usr/bin/cairn")
	if out := mustRun(t, bin, "version"); out != "cairn "+testVersion+"\n" {
		t.Errorf("the packaged binary says %q", out)
	}
	conf := filepath.Join(root, "etc/cairn/cairn.yaml")
	if out := mustRun(t, bin, "agent", "-config", conf, "-config-check"); !strings.Contains(out, "are valid") {
		t.Errorf("the example config: %q", out)
	}
	unit, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/cairn.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"ReadWritePaths=/var/lib/cairn", "User=cairn", "ExecStart=/usr/bin/cairn agent -config /etc/cairn/cairn.yaml"} {
		if !strings.Contains(string(unit), "\n"+want+"\n") {
			t.Errorf("the unit has no line %q", want)
		}
	}

	t.Run("systemd-analyze verify", func(t *testing.T) {
		sa, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Skip("systemd-analyze is not installed: the unit is not verified here")
		}
		// verify checks that ExecStart's binary exists: the packaged one,
		// where it was unpacked; nothing else of the unit changes.
		u := filepath.Join(t.TempDir(), "cairn.service")
		if err := os.WriteFile(u, []byte(strings.ReplaceAll(string(unit), "ExecStart=/usr/bin/cairn", "ExecStart="+bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(sa, "verify", u).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
		}
	})
}

// Test_Agent_SdNotify_ReadyOnceReady_StoppingOnSIGTERM runs the agent the
// way systemd's Type=notify does (NOTIFY_SOCKET set) and reads what it
// says: READY=1 only once /ready answers 200, and STOPPING=1 on SIGTERM.
func Test_Agent_SdNotify_ReadyOnceReady_StoppingOnSIGTERM(t *testing.T) {
	t.Parallel()
	requireBinary(t)
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	a := mustLaunchAgent(t, agentOpts{env: []string{"NOTIFY_SOCKET=" + sock}})
	await := func(want string) {
		t.Helper()
		deadline := time.After(readyTimeout)
		for {
			select {
			case m := <-msgs:
				if strings.Contains(m, want) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q from the agent within %s", want, readyTimeout)
			}
		}
	}
	await("READY=1")
	if r, err := a.do(http.MethodGet, "/ready", nil, nil); err != nil || r.status != http.StatusOK {
		t.Fatalf("READY=1 sent while /ready says %v %v", r.status, err)
	}
	if code := a.mustStop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	await("STOPPING=1")
}
