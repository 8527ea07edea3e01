package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countedServer starts a test server (closed when the test ends) and
// counts the connections it accepts.
func countedServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, &n
}

// testClient is a client whose connections close when the test ends.
func testClient(t *testing.T, timeout time.Duration, tlsConfig *tls.Config, preferMinimal bool) *client {
	c := newClient(timeout, tlsConfig, preferMinimal)
	t.Cleanup(c.close)
	return c
}

func Test_Client_Put_SendsWhatAServerExpects_ReusesTheConnection(t *testing.T) {
	type seen struct {
		method, uri, host, ctype, ifMatch, prefer, body string
		length                                          int64
	}
	var mu sync.Mutex
	var got []seen
	ts, conns := countedServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.RequestURI, r.Host, r.Header.Get("Content-Type"), r.Header.Get("If-Match"), r.Header.Get("Prefer"), string(b), r.ContentLength})
		mu.Unlock()
		w.Header().Set("ETag", `"7"`)
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "part one,")
		w.(http.Flusher).Flush() // the rest goes chunked
		io.WriteString(w, "part two")
	})
	c := testClient(t, 5*time.Second, nil, true)
	base := ts.URL + "/prefix"
	status, hdr, err := c.send(context.Background(), http.MethodPut, base, "/cairn/v1/resources/k/a?x=1", []byte(`{"a":1}`), "If-Match", `"6"`)
	if err != nil || status != http.StatusCreated || hdr.Get("ETag") != `"7"` {
		t.Fatalf("PUT: status %d ETag %q err %v", status, hdr.Get("ETag"), err)
	}
	status, _, err = c.send(context.Background(), http.MethodGet, base, "/cairn/v1/resources/k/a", nil, "", "")
	if err != nil || status != http.StatusCreated {
		t.Fatalf("GET: status %d err %v", status, err)
	}
	want := seen{http.MethodPut, "/prefix/cairn/v1/resources/k/a?x=1", ts.Listener.Addr().String(), "application/json", `"6"`, "return=minimal", `{"a":1}`, 7}
	if len(got) != 2 || got[0] != want {
		t.Fatalf("server saw %+v, want first %+v", got, want)
	}
	if g := got[1]; g.method != http.MethodGet || g.body != "" || g.prefer != "" || g.ctype != "" {
		t.Errorf("GET seen as %+v", g)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for two requests, want 1 kept alive", n)
	}
}

func Test_Client_ConnectionClose_NextRequestOnANewConnection(t *testing.T) {
	ts, conns := countedServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	c := testClient(t, 5*time.Second, nil, false)
	for i := range 3 {
		if status, _, err := c.send(context.Background(), http.MethodPut, ts.URL, "/x", []byte("{}"), "", ""); err != nil || status != http.StatusOK {
			t.Fatalf("request %d: status %d err %v", i, status, err)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3 (each answer closed its own)", n)
	}
}

// A kept-alive connection the server has closed: a GET is sent again on
// a new one, a PUT is not (it may have been applied) and fails.
func Test_Client_ClosedIdleConnection_GetSentAgain_PutFails(t *testing.T) {
	var puts atomic.Int64
	ts, _ := countedServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			puts.Add(1)
		}
	})
	c := testClient(t, 5*time.Second, nil, false)
	send := func(method string) error {
		_, _, err := c.send(context.Background(), method, ts.URL, "/x", map[string][]byte{http.MethodPut: []byte("{}")}[method], "", "")
		return err
	}
	if err := send(http.MethodGet); err != nil {
		t.Fatal(err)
	}
	ts.CloseClientConnections()
	if err := send(http.MethodGet); err != nil {
		t.Fatalf("GET after the server closed the idle connection: %v", err)
	}
	ts.CloseClientConnections()
	err := send(http.MethodPut)
	if !errors.Is(err, errClosedBeforeAnswer) {
		t.Fatalf("PUT after the server closed the idle connection: %v, want %v", err, errClosedBeforeAnswer)
	}
	if err := send(http.MethodPut); err != nil || puts.Load() != 1 {
		t.Fatalf("the next PUT: %v, PUTs served %d (want 1)", err, puts.Load())
	}
}

func Test_Client_SlowServer_TimesOut_RunEnd_CutsShort(t *testing.T) {
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer ts.Close()
	defer close(release)

	c := testClient(t, 200*time.Millisecond, nil, false)
	_, _, err := c.send(context.Background(), http.MethodPut, ts.URL, "/x", []byte("{}"), "", "")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err %v, want a timeout", err)
	}

	c = testClient(t, time.Hour, nil, false)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, _, err = c.send(ctx, http.MethodPut, ts.URL, "/x", []byte("{}"), "", "")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want the run's end (context.Canceled)", err)
	}
}

func Test_Client_HTTPS_VerifiedWithTheGivenRoots(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || r.ProtoMajor != 1 {
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer ts.Close()
	roots := x509.NewCertPool()
	roots.AddCert(ts.Certificate())

	c := testClient(t, 5*time.Second, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, false)
	if status, _, err := c.send(context.Background(), http.MethodGet, ts.URL, "/x", nil, "", ""); err != nil || status != http.StatusOK {
		t.Fatalf("status %d err %v", status, err)
	}

	untrusting := testClient(t, 5*time.Second, &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}, false)
	var unknown x509.UnknownAuthorityError
	if _, _, err := untrusting.send(context.Background(), http.MethodGet, ts.URL, "/x", nil, "", ""); !errors.As(err, &unknown) {
		t.Fatalf("err %v, want an unknown authority", err)
	}
}
