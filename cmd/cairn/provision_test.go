package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Test_Provision_FourNamespaces_ControllerLinksZone1Leader runs the
// Vagrantfile's provisioning script (cmd/cairn/dist/provision.sh),
// unchanged, against network namespaces instead of VMs: one namespace per
// "VM" (c1, z1, z2, z3), joined by veth pairs on a bridge, the .deb
// unpacked into a directory per namespace (CAIRN_ROOT). The keys are made
// once, as on the host; each node is provisioned as Vagrant would; then
// following the controller's links reaches zone1's leader.
func Test_Provision_FourNamespaces_ControllerLinksZone1Leader(t *testing.T) {
	t.Parallel() // mostly waiting on its zone: runs beside another test
	requireBinary(t)
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	for _, tool := range []string{"ip", "dpkg-deb", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the provisioning is not tried here", tool)
		}
	}
	var rnd [3]byte
	rand.Read(rnd[:])
	tag := hex.EncodeToString(rnd[:])
	subnet := fmt.Sprintf("10.%d.%d", 100+int(rnd[0])%100, rnd[1])
	bridge := "cb" + tag
	if out, err := exec.Command("ip", "link", "add", bridge, "type", "bridge").CombinedOutput(); err != nil {
		t.Skipf("cannot make a bridge here (%v: %s): the provisioning is not tried", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", bridge).Run() })
	mustRun(t, "ip", "addr", "add", subnet+".1/24", "dev", bridge)
	mustRun(t, "ip", "link", "set", bridge, "up")

	names := []string{"c1", "z1", "z2", "z3"}
	ips := make([]string, len(names))
	netns := make([]string, len(names))
	for i, name := range names {
		ips[i] = fmt.Sprintf("%s.%d", subnet, 10+i)
		netns[i] = "cairn-" + tag + "-" + name
		host, peer := fmt.Sprintf("cv%s%d", tag, i), fmt.Sprintf("cp%s%d", tag, i)
		mustRun(t, "ip", "netns", "add", netns[i])
		ns := netns[i]
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		mustRun(t, "ip", "link", "add", host, "type", "veth", "peer", "name", peer)
		mustRun(t, "ip", "link", "set", peer, "netns", ns)
		mustRun(t, "ip", "link", "set", host, "master", bridge)
		mustRun(t, "ip", "link", "set", host, "up")
		mustRun(t, "ip", "-n", ns, "link", "set", "lo", "up")
		mustRun(t, "ip", "-n", ns, "addr", "add", ips[i]+"/24", "dev", peer)
		mustRun(t, "ip", "-n", ns, "link", "set", peer, "up")
	}

	shared := filepath.Join(t.TempDir(), "shared")
	if err := os.MkdirAll(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	deb := mustBuildDeb(t)
	if err := os.Rename(deb, filepath.Join(shared, filepath.Base(deb))); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("dist/provision.sh")
	if err != nil {
		t.Fatal(err)
	}
	t.Log(mustRun(t, "sh", append([]string{script, "keys", shared}, ips...)...))

	roots := make([]string, len(names))
	for i, name := range names {
		roots[i] = filepath.Join(t.TempDir(), name)
		root := roots[i]
		// Stop the agent this run started, by its pid, whatever happens.
		t.Cleanup(func() {
			b, err := os.ReadFile(filepath.Join(root, "run/cairn.pid"))
			if err != nil {
				return
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if pid <= 0 {
				return
			}
			syscall.Kill(pid, syscall.SIGTERM)
			for range 100 {
				if syscall.Kill(pid, 0) != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			syscall.Kill(pid, syscall.SIGKILL)
		})
		cmd := exec.Command("ip", "netns", "exec", netns[i], "sh", script, "node", shared, name, ips[i])
		cmd.Env = append(childEnv(nil), "CAIRN_ROOT="+root)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("provisioning %s: %v\n%s", name, err, out)
		}
		t.Logf("%s: %s", name, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, name := range names {
				b, _ := os.ReadFile(filepath.Join(roots[i], "var/log/cairn.log"))
				t.Logf("%s's log:\n%s", name, lastLines(b, 40))
			}
		}
	})

	password, err := os.ReadFile(filepath.Join(shared, "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	if ca, err := os.ReadFile(filepath.Join(shared, "ca.pem")); err == nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	}
	get := func(url string) (map[string]any, error) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		req.SetBasicAuth("admin", strings.TrimSpace(string(password)))
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
		}
		var doc map[string]any
		return doc, json.Unmarshal(b, &doc)
	}
	// From the controller's root, as a client would: the zones, zone1's
	// href, and the zone document found there names itself the leader.
	var last, leaderURL string
	var zoneDoc map[string]any
	schemes := []string{"http", "https"}
	waitFor(t, "the controller's link to zone1's leader", 90*time.Second, func() bool {
		for _, scheme := range schemes {
			root, err := get(scheme + "://" + ips[0] + ":8180/management/domain")
			if err != nil {
				last = err.Error()
				continue
			}
			zones, err := get(href(root, "zones"))
			if err != nil {
				last = err.Error()
				return false
			}
			list, _ := zones["value"].([]any)
			last = fmt.Sprint(list)
			for _, z := range list {
				l, _ := z.(map[string]any)
				if h, _ := l["href"].(string); l["name"] == "zone1" && h != "" {
					doc, err := get(h)
					if err != nil {
						last = err.Error()
						return false
					}
					if doc["leader"] != "" && doc["leader"] == doc["name"] {
						leaderURL, zoneDoc = h, doc
						return true
					}
					last = fmt.Sprint(doc)
				}
			}
			return false
		}
		return false
	}, func() string { return last })
	t.Logf("the controller links zone1's leader %v at %s", zoneDoc["leader"], leaderURL)
	if runtimes, _ := zoneDoc["runtimes"].([]any); len(runtimes) != 3 {
		t.Errorf("zone1's document lists runtimes %v, want 3", runtimes)
	}
}
