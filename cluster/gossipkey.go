package cluster

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// ErrBadGossipKey means a gossip key is not base64 of 16, 24 or 32 bytes.
var ErrBadGossipKey = errors.New("the gossip key must be base64 of 16, 24 or 32 bytes (AES-128, -192 or -256); `cairn keygen` makes one")

// ParseGossipKey decodes a gossip key given as base64 (standard, padded
// or not) and checks its length.
func ParseGossipKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if key, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return nil, fmt.Errorf("%w: not base64: %v", ErrBadGossipKey, err)
		}
	}
	switch len(key) {
	case 16, 24, 32:
		return key, nil
	}
	return nil, fmt.Errorf("%w: it is %d bytes", ErrBadGossipKey, len(key))
}

// NewGossipKey returns a new random 32-byte gossip key, base64-encoded.
func NewGossipKey() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(key), nil
}
