package cluster_test

import (
	"encoding/base64"
	"errors"
	"testing"

	"cairn/cluster"
)

func TestParseGossipKey(t *testing.T) {
	k, err := cluster.NewGossipKey()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := cluster.ParseGossipKey(k); err != nil || len(b) != 32 {
		t.Fatalf("a new key: %d bytes, %v", len(b), err)
	}
	for _, n := range []int{16, 24} {
		if _, err := cluster.ParseGossipKey(base64.StdEncoding.EncodeToString(make([]byte, n))); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(make([]byte, 20))} {
		if _, err := cluster.ParseGossipKey(bad); !errors.Is(err, cluster.ErrBadGossipKey) {
			t.Fatalf("%q: %v, want ErrBadGossipKey", bad, err)
		}
	}
}
