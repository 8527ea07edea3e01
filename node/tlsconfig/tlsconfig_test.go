package tlsconfig_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/node/tlsconfig"
	"cairn/node/tlsconfig/tlstest"
)

func TestLoad_RefusesACertTheCADoesNotSign(t *testing.T) {
	ca, other := tlstest.MustNewCA(t, "zone"), tlstest.MustNewCA(t, "other")
	cert, key := other.MustIssue(t, "n1", "127.0.0.1")
	if _, err := tlsconfig.Load(cert, key, ca.File); err == nil || !strings.Contains(err.Error(), "not signed by -tls-ca") {
		t.Fatalf("Load = %v, want a 'not signed by -tls-ca' error", err)
	}
	if _, err := tlsconfig.Load(cert, key, cert+".missing"); err == nil {
		t.Fatal("a missing CA file was accepted")
	}
	empty := filepath.Join(t.TempDir(), "empty.pem")
	os.WriteFile(empty, []byte("nothing"), 0o600)
	if _, err := tlsconfig.Load(cert, key, empty); !errors.Is(err, tlsconfig.ErrNoCertInCA) {
		t.Fatalf("Load with a CA file without certificates = %v", err)
	}
}

// serve starts an HTTPS server with tc's listener configuration.
func serve(t *testing.T, tc *tlsconfig.Config) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.TLS = tc.HTTPServer()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestHTTPClient_VerifiesPeersAgainstTheCA(t *testing.T) {
	ca, other := tlstest.MustNewCA(t, "zone"), tlstest.MustNewCA(t, "other")
	c1, k1 := ca.MustIssue(t, "n1", "127.0.0.1")
	c2, k2 := ca.MustIssue(t, "n2", "127.0.0.1")
	c3, k3 := other.MustIssue(t, "rogue", "127.0.0.1")
	n1, err := tlsconfig.Load(c1, k1, ca.File)
	if err != nil {
		t.Fatal(err)
	}
	n2, err := tlsconfig.Load(c2, k2, ca.File)
	if err != nil {
		t.Fatal(err)
	}
	rogue, err := tlsconfig.Load(c3, k3, other.File)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := n1.HTTPClient(0).Get(serve(t, n2) + "/"); err != nil {
		t.Fatalf("n1 -> n2: %v", err)
	} else {
		resp.Body.Close()
	}
	if _, err := n1.HTTPClient(0).Get(serve(t, rogue) + "/"); err == nil {
		t.Fatal("n1 accepted a server whose certificate another CA signed")
	}
	// A name the certificate does not hold fails too.
	u := strings.Replace(serve(t, n2), "127.0.0.1", "localhost", 1)
	if _, err := n1.HTTPClient(0).Get(u + "/"); err == nil {
		t.Fatal("n1 accepted a certificate without the name it dialled")
	}
}

func TestSelfSigned_MadeOnceReusedAndPinned(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	cert, key, err := tlsconfig.SelfSigned(dir, "0.0.0.0", "node1.example")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(cert)
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st.Mode(), err)
	}
	if _, _, err := tlsconfig.SelfSigned(dir); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(cert); string(again) != string(first) {
		t.Fatal("a second start made a new certificate")
	}
	tc, err := tlsconfig.Load(cert, key, "")
	if err != nil {
		t.Fatal(err)
	}
	leaf := tc.Certificate().Leaf
	if err := leaf.VerifyHostname("node1.example"); err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	// Without a CA a node trusts its own certificate: it reaches itself.
	resp, err := tc.HTTPClient(0).Get(serve(t, tc) + "/")
	if err != nil {
		t.Fatalf("a node did not reach itself with its self-signed certificate: %v", err)
	}
	resp.Body.Close()
	os.Remove(key)
	if _, _, err := tlsconfig.SelfSigned(dir); err == nil {
		t.Fatal("a certificate without its key was reused")
	}
}

func TestNilConfig_IsPlain(t *testing.T) {
	var tc *tlsconfig.Config
	if tc.Enabled() || tc.Scheme() != "http" || tc.HTTPServer() != nil || tc.Client("x") != nil || tc.Transport(1).TLSClientConfig != nil {
		t.Fatal("a nil Config is not plain HTTP")
	}
}

func TestSecure_ClonesATransportWithTLS(t *testing.T) {
	base := &http.Transport{MaxIdleConnsPerHost: 3}
	var off *tlsconfig.Config
	if off.Secure(base) != base {
		t.Fatal("with TLS off, Secure changed the transport")
	}
	ca := tlstest.MustNewCA(t, "zone")
	cert, key := ca.MustIssue(t, "n1", "127.0.0.1")
	tc, err := tlsconfig.Load(cert, key, ca.File)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := tc.Secure(base).(*http.Transport)
	if !ok || got == base || got.TLSClientConfig == nil || got.TLSClientConfig.RootCAs == nil || got.MaxIdleConnsPerHost != 3 {
		t.Fatalf("Secure = %+v", got)
	}
}
