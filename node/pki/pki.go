// Package pki is the domain's certificate authority, shared by the
// dialects that hand out certificates (the Topology API's API Gateway
// instances, Runtime Manager's registered servers): making the CA,
// unlocking its key, signing a certificate for a key made here or for a
// client's certificate request, and keeping the CA in the replicated
// store (store.go). Each dialect keeps its CA in a kind of its own: the
// Topology API's key may be encrypted with a domain passphrase that no
// other API's request carries.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// ErrPassphrase means the domain passphrase does not unlock the domain
// CA's private key.
var ErrPassphrase = errors.New("the domain passphrase does not unlock the domain's private key")

// ErrCSR means a certificate signing request could not be read or its
// signature does not verify; the message says which.
var ErrCSR = errors.New("invalid certificate request")

// CA is the domain's certificate authority as the store keeps it: PEM
// certificate and PEM private key, the key encrypted (legacy PEM
// encryption, AES-256) when the domain has a passphrase.
type CA struct {
	CertPEM string `json:"cert"`
	KeyPEM  string `json:"key"`
}

// caValidity is how long the CA's certificate lasts: ten years, as
// Axway's managedomain makes it.
const caValidity = 10 * 365 * 24 * time.Hour

// NewCA makes a domain CA: an ECDSA P-256 key and a self-signed
// certificate. ECDSA rather than RSA because a key is made on a request's
// path (RSA-2048 generation takes up to seconds under the race detector).
func NewCA(domainPassphrase string, now time.Time) (CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return CA{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Cairn Domain CA", Organization: []string{"Cairn"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return CA{}, err
	}
	keyPEM, err := keyToPEM(key, domainPassphrase)
	if err != nil {
		return CA{}, err
	}
	return CA{CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), KeyPEM: string(keyPEM)}, nil
}

// SignatureAlgorithm maps the API's signAlg parameter to the certificate
// signature made with the CA's ECDSA key; ok is false for an unknown one.
func SignatureAlgorithm(signAlg string) (alg x509.SignatureAlgorithm, ok bool) {
	switch strings.ToLower(strings.ReplaceAll(signAlg, "-", "")) {
	case "sha1":
		return x509.ECDSAWithSHA1, true
	case "sha256":
		return x509.ECDSAWithSHA256, true
	case "sha384":
		return x509.ECDSAWithSHA384, true
	case "sha512":
		return x509.ECDSAWithSHA512, true
	}
	return 0, false
}

// Unlock returns the CA's certificate and private key; the key's
// passphrase is domainPassphrase when it is encrypted (ErrPassphrase if it
// does not fit).
func (ca CA) Unlock(domainPassphrase string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, _ := pem.Decode([]byte(ca.CertPEM))
	kb, _ := pem.Decode([]byte(ca.KeyPEM))
	if cb == nil || kb == nil {
		return nil, nil, errors.New("the stored domain CA is not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("the stored domain CA certificate: %w", err)
	}
	der := kb.Bytes
	//lint:ignore SA1019 legacy PEM encryption is what Axway's tooling reads
	if x509.IsEncryptedPEMBlock(kb) {
		//lint:ignore SA1019 as above
		der, err = x509.DecryptPEMBlock(kb, []byte(domainPassphrase))
		if err != nil {
			return nil, nil, ErrPassphrase
		}
	}
	key, err := x509.ParseECPrivateKey(der)
	if err != nil {
		return nil, nil, fmt.Errorf("the stored domain CA key: %w", err)
	}
	return cert, key, nil
}

// Leaf is what a certificate the CA issues says of its holder.
type Leaf struct {
	Subject pkix.Name
	// DNSNames are the host names it is valid for (TLS clients check
	// them, not the subject).
	DNSNames []string
	// SignAlg is the signing digest (sha1, sha256, sha384, sha512).
	SignAlg  string
	Validity time.Duration
}

// Issue makes a key pair and a certificate for it signed by ca with
// leaf.SignAlg: PEM certificate, and PEM private key encrypted with
// keyPassphrase when it is set. domainPassphrase unlocks ca's key.
func (ca CA) Issue(leaf Leaf, domainPassphrase, keyPassphrase string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	certPEM, err = ca.sign(leaf, &key.PublicKey, domainPassphrase, now)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = keyToPEM(key, keyPassphrase)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// sign makes a PEM certificate for pub, as leaf says, signed by ca.
func (ca CA) sign(leaf Leaf, pub any, domainPassphrase string, now time.Time) ([]byte, error) {
	alg, ok := SignatureAlgorithm(leaf.SignAlg)
	if !ok {
		return nil, fmt.Errorf("unknown signing algorithm %q", leaf.SignAlg)
	}
	caCert, caKey, err := ca.Unlock(domainPassphrase)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:       serial(),
		Subject:            leaf.Subject,
		NotBefore:          now.Add(-time.Hour),
		NotAfter:           now.Add(leaf.Validity),
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		SignatureAlgorithm: alg,
		DNSNames:           leaf.DNSNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, pub, caKey)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// ParseCSR reads a PEM certificate signing request and checks its
// signature. The PEM may come on one line, as Runtime Manager's
// registration example sends it ("-----BEGIN CERTIFICATE
// REQUEST-----MIIB...-----END CERTIFICATE REQUEST-----"), which
// encoding/pem does not take: the base64 between the markers is read
// whatever whitespace it holds.
func ParseCSR(text string) (*x509.CertificateRequest, error) {
	const begin, end = "-----BEGIN CERTIFICATE REQUEST-----", "-----END CERTIFICATE REQUEST-----"
	t := strings.TrimSpace(text)
	i, j := strings.Index(t, begin), strings.LastIndex(t, end)
	if i < 0 || j < i+len(begin) {
		return nil, fmt.Errorf("%w: not a PEM certificate request (no %q ... %q)", ErrCSR, begin, end)
	}
	b64 := strings.Join(strings.Fields(t[i+len(begin):j]), "")
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: the request's base64 does not decode: %v", ErrCSR, err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: its signature does not verify: %v", ErrCSR, err)
	}
	return csr, nil
}

// SignCSR signs csr's public key with ca for validity, with csr's subject
// (a CN of commonName when it has none), and returns the PEM certificate.
func (ca CA) SignCSR(csr *x509.CertificateRequest, commonName string, validity time.Duration, now time.Time) ([]byte, error) {
	subject := csr.Subject
	if subject.CommonName == "" {
		subject.CommonName = commonName
	}
	return ca.sign(Leaf{Subject: subject, SignAlg: "sha256", Validity: validity}, csr.PublicKey, "", now)
}

// keyToPEM encodes key as "EC PRIVATE KEY", encrypted with passphrase
// when it is not empty.
func keyToPEM(key *ecdsa.PrivateKey, passphrase string) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if passphrase == "" {
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
	}
	//lint:ignore SA1019 legacy PEM encryption ("Proc-Type: 4,ENCRYPTED") is what OpenSSL-era tooling reads
	b, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", der, []byte(passphrase), x509.PEMCipherAES256)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(b), nil
}

// serial is a random 128-bit certificate serial number.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}
