package topology_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cairn/node/pki"
	"cairn/node/topology"
)

func mustCA(t *testing.T, passphrase string) pki.CA {
	t.Helper()
	ca, err := pki.NewCA(passphrase, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func Test_Create_WritesPropsAndACertificateTheDomainCASigned(t *testing.T) {
	ca := mustCA(t, "fred")
	f := &topology.Files{Dir: t.TempDir()}
	inst := topology.Instance{GroupID: "group-1", ID: "instance-1", Name: "APIGateway1", ServicesPort: 8087,
		SignAlg: "sha256", KeyPassphrase: "k", DomainPassphrase: "fred"}
	if err := f.Create(ca, inst, time.Now()); err != nil {
		t.Fatal(err)
	}
	dir := f.InstanceDir("group-1", "instance-1")
	props, err := os.ReadFile(filepath.Join(dir, "conf", "envSettings.props"))
	if err != nil || !containsLine(string(props), "env.PORT.TRAFFIC=8087") {
		t.Fatalf("envSettings.props %q %v", props, err)
	}
	certPEM, _ := os.ReadFile(filepath.Join(dir, "conf", "certs", "instance.crt"))
	b, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _, err := ca.Unlock("fred")
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignatureFrom(caCert); err != nil {
		t.Fatalf("not signed by the domain CA: %v", err)
	}
	if cert.SignatureAlgorithm != x509.ECDSAWithSHA256 || cert.Subject.CommonName != "APIGateway1" {
		t.Fatalf("certificate: %v %v", cert.SignatureAlgorithm, cert.Subject)
	}
	keyPEM, _ := os.ReadFile(filepath.Join(dir, "conf", "certs", "instance.key"))
	kb, _ := pem.Decode(keyPEM)
	//lint:ignore SA1019 the format written
	if !x509.IsEncryptedPEMBlock(kb) {
		t.Fatal("the key is not encrypted with keyPassphrase")
	}
	//lint:ignore SA1019 the format written
	der, err := x509.DecryptPEMBlock(kb, []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParseECPrivateKey(der); err != nil {
		t.Fatal(err)
	}
	if err := f.Create(ca, inst, time.Now()); !errors.Is(err, topology.ErrExists) {
		t.Fatalf("a second create: %v", err)
	}
	if err := f.Remove("group-1", "instance-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.Dir, "groups", "group-1")); !os.IsNotExist(err) {
		t.Fatalf("the empty group directory stays: %v", err)
	}
}

func Test_Create_WrongDomainPassphrase_NothingWritten(t *testing.T) {
	ca := mustCA(t, "fred")
	f := &topology.Files{Dir: t.TempDir()}
	err := f.Create(ca, topology.Instance{GroupID: "group-1", ID: "instance-1", Name: "x", ServicesPort: 8080, SignAlg: "sha1", DomainPassphrase: "bad"}, time.Now())
	if !errors.Is(err, pki.ErrPassphrase) {
		t.Fatalf("err %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(f.Dir, "groups", "group-1"))
	if len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
}

func Test_Remove_RefusesPathsOutsideTheDataDir(t *testing.T) {
	f := &topology.Files{Dir: t.TempDir()}
	for _, id := range []string{"..", "../x", "instance-1/..", "a/b-1", ""} {
		if err := f.Remove("group-1", id); err == nil {
			t.Errorf("Remove(%q) was allowed", id)
		}
	}
}

func containsLine(s, line string) bool { return slices.Contains(strings.Split(s, "\n"), line) }
