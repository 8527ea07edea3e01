// Package topology writes, on the node that runs them, the files of the API
// Gateway instances the Topology API (http/topology) adds: an instance's
// directory under this node's data dir with its envSettings.props, and a
// key pair and certificate for the instance signed by the domain's CA.
//
// The CA itself (certificate and private key, the key encrypted with the
// domain passphrase when one was given) lives in the replicated store; a
// node reads it from its own store, so every node can sign. Nothing here
// runs Raft or serves HTTP: the dialect calls Files.Create on the node the
// instance's host names (directly, or through that node's HTTP listener)
// before it commits the instance, and Files.Remove after it deletes one.
package topology

import (
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"cairn/node/pki"
)

// ErrExists means the instance's directory is already on disk.
var ErrExists = errors.New("instance directory already exists")

// instanceValidity is how long an instance's certificate lasts: two
// years.
const instanceValidity = 2 * 365 * 24 * time.Hour

// Files writes and removes instances' files under one node's data dir.
type Files struct {
	// Dir is the root of every instance's directory:
	// <Dir>/groups/<groupID>/<instanceID>/.
	Dir string
}

// Instance says what to write for one API Gateway instance.
type Instance struct {
	GroupID      string `json:"groupID"`
	ID           string `json:"id"`
	Name         string `json:"name"`
	ServicesPort int    `json:"servicesPort"`
	// SignAlg is the certificate's signing digest (sha1, sha256, sha384,
	// sha512).
	SignAlg string `json:"signAlg"`
	// KeyPassphrase, if set, encrypts the instance's private key file.
	KeyPassphrase string `json:"keyPassphrase,omitempty"`
	// DomainPassphrase unlocks the CA's key when it is encrypted.
	DomainPassphrase string `json:"domainPassphrase,omitempty"`
}

// InstanceDir returns the directory of instance id of group groupID.
func (f *Files) InstanceDir(groupID, id string) string {
	return filepath.Join(f.Dir, "groups", groupID, id)
}

// Create writes inst's directory, whole or not at all: the files are
// written into a temporary directory that is renamed into place last.
func (f *Files) Create(ca pki.CA, inst Instance, now time.Time) error {
	if !ValidID(inst.GroupID) || !ValidID(inst.ID) {
		return fmt.Errorf("group %q or instance %q is not a safe directory name", inst.GroupID, inst.ID)
	}
	final := f.InstanceDir(inst.GroupID, inst.ID)
	if _, err := os.Stat(final); err == nil {
		return fmt.Errorf("%w: %s", ErrExists, final)
	}
	parent := filepath.Dir(final)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+inst.ID+".tmp-")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	certPEM, keyPEM, err := ca.Issue(pki.Leaf{
		Subject:  pkix.Name{CommonName: inst.Name, OrganizationalUnit: []string{inst.GroupID}, SerialNumber: inst.ID},
		SignAlg:  inst.SignAlg,
		Validity: instanceValidity,
	}, inst.DomainPassphrase, inst.KeyPassphrase, now)
	if err != nil {
		return err
	}
	// The services (traffic) port only: the management port may change
	// later (PUT), and the topology is where it is kept.
	props := fmt.Sprintf("# Written by Cairn for API Gateway instance %s (%s) of group %s.\nenv.PORT.TRAFFIC=%d\n",
		inst.ID, inst.Name, inst.GroupID, inst.ServicesPort)
	files := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{"conf/envSettings.props", []byte(props), 0o644},
		{"conf/certs/instance.crt", certPEM, 0o644},
		{"conf/certs/instance.key", keyPEM, 0o600},
		{"conf/certs/domain-ca.crt", []byte(ca.CertPEM), 0o644},
	}
	for _, fl := range files {
		p := filepath.Join(tmp, fl.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, fl.data, fl.mode); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	done = true
	return nil
}

// Remove deletes instance id's directory of group groupID, and the
// group's directory once it is empty. An absent directory is no error.
func (f *Files) Remove(groupID, id string) error {
	if !ValidID(groupID) || !ValidID(id) {
		return fmt.Errorf("group %q or instance %q is not a safe directory name", groupID, id)
	}
	if err := os.RemoveAll(f.InstanceDir(groupID, id)); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(f.Dir, "groups", groupID)) // only if empty
	return nil
}

// ValidID reports whether s is an id the dialect assigns ("group-3",
// "instance-12"): nothing that could leave the data dir. Create and
// Remove refuse any other.
func ValidID(s string) bool {
	i := strings.LastIndexByte(s, '-')
	if i <= 0 {
		return false
	}
	if _, err := strconv.ParseUint(s[i+1:], 10, 64); err != nil {
		return false
	}
	for _, r := range s[:i] {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}
