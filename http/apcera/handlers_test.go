package apcera

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"cairn/cluster/tasks"
	"cairn/fsm"
	"cairn/node/workload"
)

// fakeNode applies commands to an in-memory store, one index each: the
// leader of a zone of one, without Raft.
type fakeNode struct {
	mu    sync.Mutex
	store *fsm.Store
	index uint64
}

func newFakeNode(t *testing.T) *fakeNode {
	schema, err := fsm.NewSchema(append(append(Kinds(), workload.Kinds()...), tasks.Kinds()...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeNode{store: fsm.NewStore(schema)}
}

func (n *fakeNode) ID() string      { return "n1" }
func (n *fakeNode) HTTPURL() string { return "http://127.0.0.1:1" }
func (n *fakeNode) View() *fsm.View { return n.store.View() }
func (n *fakeNode) WaitIndex(ctx context.Context, index uint64) error {
	return nil
}
func (n *fakeNode) Apply(_ context.Context, cmd fsm.Command) (uint64, *fsm.Result, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.index++
	res := n.store.Apply(n.index, cmd)
	return n.index, res, res.Err()
}

func do(t *testing.T, h http.Handler, method, path string, body []byte) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, bytes.NewReader(body)))
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

// Test_Handlers_ChecksAreTheWritesPreconditions: a stale version_id, a
// duplicate FQN, a policy document at another version and an upload
// that is not what the package declared are refused with their
// statuses and messages, and change nothing.
func Test_Handlers_ChecksAreTheWritesPreconditions(t *testing.T) {
	h := New(Deps{Node: newFakeNode(t)}).Listener()
	code, job := do(t, h, "POST", "/v1/jobs", []byte(`{"fqn":"job::/s/u::a","processes":{"app":{"start_command":"true"}},}`))
	if code != 200 || job["version_id"] != float64(1) || job["state"] != "ready" {
		t.Fatalf("create: %d %v", code, job)
	}
	id := job["uuid"].(string)
	job["num_instances"] = 2
	b, _ := json.Marshal(job)
	if code, j := do(t, h, "PUT", "/jobs/"+id, b); code != 200 || j["version_id"] != float64(2) {
		t.Fatalf("put: %d %v", code, j)
	}
	if code, e := do(t, h, "PUT", "/jobs/"+id, b); code != 409 || e["code"] != float64(409) {
		t.Fatalf("stale put: %d %v, want 409", code, e)
	}
	if code, e := do(t, h, "POST", "/jobs", []byte(`{"fqn":"job::/s/u::a"}`)); code != 409 || e["duplicate_key"] != true {
		t.Fatalf("duplicate FQN: %d %v", code, e)
	}
	if code, _ := do(t, h, "PUT", "/policy", []byte(`{"docs":[{"name":"p","text":"x"}]}`)); code != 200 {
		t.Fatalf("policy create: %d", code)
	}
	code, e := do(t, h, "PUT", "/policy", []byte(`{"docs":[{"name":"q","text":"x"},{"name":"p","text":"y","for_version":3}]}`))
	if code != 409 || e["message"] != "Error updating policy: policy version mismatch while updating 'p': update is for version 3, current version is 1" {
		t.Fatalf("policy mismatch: %d %v", code, e)
	}
	if code, _ := do(t, h, "GET", "/policy/q", nil); code != 404 {
		t.Fatalf("a refused policy request created q: %d", code)
	}
	blob := []byte("#!/bin/sh\necho hi\n")
	sum := sha1.Sum(blob)
	code, pkg := do(t, h, "POST", "/packages", []byte(`{"fqn":"package::/s/u::p","resource":{"length":18,"sha1":"`+hex.EncodeToString(sum[:])+`"}}`))
	if code != 200 || pkg["state"] != "uploading" {
		t.Fatalf("package: %d %v", code, pkg)
	}
	pid := pkg["uuid"].(string)
	if code, e := do(t, h, "PUT", "/packages/resources/"+pid, []byte("#!/bin/sh\necho ho\n")); code != 400 || e["code"] != float64(400) {
		t.Fatalf("wrong bytes: %d %v", code, e)
	}
	if _, p := do(t, h, "GET", "/packages/"+pid, nil); p["state"] != "uploading" {
		t.Fatalf("after a refused upload: %v", p)
	}
	if code, _ := do(t, h, "GET", "/nothing", nil); code != 404 {
		t.Fatalf("unknown path: %d", code)
	}
}
