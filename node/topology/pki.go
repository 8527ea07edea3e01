package topology

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// CA is the domain's certificate authority as the store keeps it: PEM
// certificate and PEM private key, the key encrypted (legacy PEM
// encryption, AES-256) when the domain has a passphrase.
type CA struct {
	CertPEM string `json:"cert"`
	KeyPEM  string `json:"key"`
}

// caValidity and instanceValidity are how long the certificates last.
// Ten years for the domain, as Axway's managedomain makes it; two for an
// instance.
const (
	caValidity       = 10 * 365 * 24 * time.Hour
	instanceValidity = 2 * 365 * 24 * time.Hour
)

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

// Issue makes inst's key pair and a certificate for it signed by ca with
// inst.SignAlg: PEM certificate, and PEM private key encrypted with
// inst.KeyPassphrase when it is set.
func (ca CA) Issue(inst Instance, now time.Time) (certPEM, keyPEM []byte, err error) {
	alg, ok := SignatureAlgorithm(inst.SignAlg)
	if !ok {
		return nil, nil, fmt.Errorf("unknown signing algorithm %q", inst.SignAlg)
	}
	caCert, caKey, err := ca.Unlock(inst.DomainPassphrase)
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:       serial(),
		Subject:            pkix.Name{CommonName: inst.Name, OrganizationalUnit: []string{inst.GroupID}, SerialNumber: inst.ID},
		NotBefore:          now.Add(-time.Hour),
		NotAfter:           now.Add(instanceValidity),
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		SignatureAlgorithm: alg,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = keyToPEM(key, inst.KeyPassphrase)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
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
