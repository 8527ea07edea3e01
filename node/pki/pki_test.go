package pki_test

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"testing"
	"time"

	"cairn/node/pki"
)

// The Runtime Manager seed's request: PEM on one line, RSA-1024 signed
// with SHA-1. It is read, verified and signed by a new CA.
func Test_ParseCSR_SeedOneLinePEM_SignedByTheCA(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/arm/register-server.json")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		SignatureRequest string `json:"signatureRequest"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	csr, err := pki.ParseCSR(body.SignatureRequest)
	if err != nil {
		t.Fatal(err)
	}
	if csr.Subject.CommonName != "www.google.com" {
		t.Fatalf("subject %v", csr.Subject)
	}
	ca, err := pki.NewCA("", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.SignCSR(csr, "fallback", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _, _ := ca.Unlock("")
	if err := cert.CheckSignatureFrom(caCert); err != nil {
		t.Fatalf("not signed by the CA: %v", err)
	}
	if cert.Subject.CommonName != "www.google.com" {
		t.Fatalf("certificate subject %v", cert.Subject)
	}
}

func Test_ParseCSR_Garbage_ErrCSRWithTheReason(t *testing.T) {
	for _, in := range []string{"", "hello", "-----BEGIN CERTIFICATE REQUEST-----!!!-----END CERTIFICATE REQUEST-----",
		"-----BEGIN CERTIFICATE REQUEST-----aGVsbG8=-----END CERTIFICATE REQUEST-----",
		// The markers overlap (found by FuzzARM: it panicked).
		"-----BEGIN CERTIFICATE REQUEST-----END CERTIFICATE REQUEST-----"} {
		if _, err := pki.ParseCSR(in); !errors.Is(err, pki.ErrCSR) {
			t.Errorf("%q: %v, want ErrCSR", in, err)
		}
	}
}
