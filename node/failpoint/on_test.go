//go:build failpoints

package failpoint

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for spec, want := range map[string]action{
		"panic":         {kind: "panic", percent: 100, left: -1},
		"exit":          {kind: "exit", percent: 100, left: -1},
		"10%exit":       {kind: "exit", percent: 10, left: -1},
		"2*sleep(50ms)": {kind: "sleep", sleep: 50 * time.Millisecond, percent: 100, left: 2},
		"50%3*panic":    {kind: "panic", percent: 50, left: 3},
		" off ":         {kind: "off", percent: 100, left: -1},
		"1*error(EIO)":  {kind: "error", errno: syscall.EIO, percent: 100, left: 1},
	} {
		a, err := parse(spec)
		if err != nil {
			t.Errorf("parse(%q): %v", spec, err)
			continue
		}
		a.spec = ""
		if *a != want {
			t.Errorf("parse(%q) = %+v, want %+v", spec, *a, want)
		}
	}
	for _, bad := range []string{"", "crash", "0%panic", "101%panic", "x%panic", "0*panic", "sleep()", "sleep(-1s)", "sleep(2s", "error()", "error(EPERM)"} {
		if _, err := parse(bad); err == nil {
			t.Errorf("parse(%q) accepted", bad)
		}
	}
}

func TestArm_CountDisarms(t *testing.T) {
	if err := Arm(ApplyBeforeReply, "2*sleep(1ms)"); err != nil {
		t.Fatal(err)
	}
	Inject(ApplyBeforeReply)
	Inject(ApplyBeforeReply)
	mu.Lock()
	_, still := armed[ApplyBeforeReply]
	mu.Unlock()
	if still {
		t.Fatal("a 2* failpoint is still armed after firing twice")
	}
	if err := Arm(ApplyBeforeReply, "error(ENOSPC)"); err == nil {
		t.Fatal("error(ENOSPC) was armed on a failpoint that returns no error")
	}
	if err := Arm(LogStoreError, "1*error(ENOSPC)"); err != nil {
		t.Fatal(err)
	}
	if err := InjectError(LogStoreError); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("InjectError = %v, want ENOSPC", err)
	}
	if err := InjectError(LogStoreError); err != nil {
		t.Fatalf("a 1* error failpoint fired twice: %v", err)
	}
	if err := Arm("no-such-point", "panic"); err == nil {
		t.Fatal("an unknown failpoint was armed")
	}
}

func TestArmFromEnv(t *testing.T) {
	t.Setenv(EnvVar, LogBeforeStore+"=1*sleep(1ms); "+SnapshotPersist+"=10%panic")
	if err := ArmFromEnv(); err != nil {
		t.Fatal(err)
	}
	defer Arm(LogBeforeStore, "off")
	defer Arm(SnapshotPersist, "off")
	mu.Lock()
	n := len(armed)
	mu.Unlock()
	if n != 2 {
		t.Fatalf("%d failpoints armed, want 2", n)
	}
	t.Setenv(EnvVar, "nonsense")
	if err := ArmFromEnv(); err == nil {
		t.Fatal("a malformed CAIRN_FAILPOINTS was accepted")
	}
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	do := func(method, path, body string) int {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := do("PUT", HTTPPrefix+"/"+SnapshotRestore, "1*panic"); c != http.StatusNoContent {
		t.Fatalf("PUT: %d", c)
	}
	if c := do("PUT", HTTPPrefix+"/"+SnapshotRestore, "boom"); c != http.StatusBadRequest {
		t.Fatalf("PUT of a bad action: %d, want 400", c)
	}
	if c := do("PUT", HTTPPrefix+"/nope", "panic"); c != http.StatusNotFound {
		t.Fatalf("PUT of an unknown name: %d, want 404", c)
	}
	resp, err := http.Get(srv.URL + HTTPPrefix)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	buf := make([]byte, 512)
	n, _ := resp.Body.Read(buf)
	b.Write(buf[:n])
	resp.Body.Close()
	if !strings.Contains(b.String(), SnapshotRestore) {
		t.Fatalf("GET lists %s, want %s armed", b.String(), SnapshotRestore)
	}
	if c := do("DELETE", HTTPPrefix+"/"+SnapshotRestore, ""); c != http.StatusNoContent {
		t.Fatalf("DELETE: %d", c)
	}
}
