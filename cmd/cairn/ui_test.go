package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPaths are where the browser test looks for a browser, after
// $CAIRN_CHROMIUM: Debian's chromium package first (the Makefile installs
// it when missing).
var chromiumPaths = []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// mustChromium returns a headless-capable browser's path. Without one the
// test fails, since `make test` installs it, unless
// CAIRN_UI_TEST_OPTIONAL=1, which makes it a skip.
func mustChromium(t *testing.T) string {
	t.Helper()
	cands := chromiumPaths
	if p := os.Getenv("CAIRN_CHROMIUM"); p != "" {
		cands = []string{p}
	}
	for _, c := range cands {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("no Chromium found (looked for %s): install Debian's chromium package (`apt-get install -y chromium`; make test does it) or set CAIRN_CHROMIUM", strings.Join(cands, ", "))
	if os.Getenv("CAIRN_UI_TEST_OPTIONAL") == "1" {
		t.Skip(msg + "; skipped because CAIRN_UI_TEST_OPTIONAL=1")
	}
	t.Fatal(msg)
	return ""
}

// browser is one headless Chromium with one tab, ended in t.Cleanup.
type browser struct {
	t          *testing.T
	ctx        context.Context
	shots      string // where screenshots go
	mu         sync.Mutex
	exceptions []string // uncaught exceptions of the page
}

func mustBrowser(t *testing.T) *browser {
	t.Helper()
	bin := mustChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // the tests may run as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 820),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel() // closes the browser it started, and waits for it
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, shots: t.ArtifactDir()}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*cdplog.EventEntryAdded); ok && e.Entry != nil {
			// The 401s before signing in are expected; anything else
			// helps to read a failure.
			b.t.Logf("browser log: %s %s: %s (%s)", e.Entry.Level, e.Entry.Source, e.Entry.Text, e.Entry.URL)
		}
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			b.mu.Lock()
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.exceptions = append(b.exceptions, fmt.Sprintf("%s (%s:%d:%d)", msg, d.URL, d.LineNumber+1, d.ColumnNumber+1))
			b.mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	return b
}

// do runs steps, failing the test on an error.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	for {
		err := chromedp.Do(ctx, steps...)
		// The page re-renders its lists as the store changes: a node
		// found by a step's query may be replaced before the step acts
		// on it. That is the page being live, not wrong: do it again.
		if err != nil && strings.Contains(err.Error(), "Could not find node with given id") && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if err != nil {
			b.t.Fatalf("browser: %s: %v (page: %s)", what, err, b.describe())
		}
		return
	}
}

// eval evaluates a JavaScript expression into v.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("browser: evaluate %s: %v", expr, err)
	}
	return v
}

// evalAwait evaluates a JavaScript expression whose value is a promise,
// and decodes what it resolves to.
func evalAwait[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("browser: evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS waits until the JavaScript expression is true.
func (b *browser) waitJS(what, expr string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
		b.t.Fatalf("browser: waiting for %s (%s): %v; page: %s", what, expr, err, b.describe())
	}
}

// clickUntil clicks the element selector finds until the JavaScript
// expression is true, for up to timeout. A list the page draws again as
// the store changes can be replaced between the moment a click finds its
// element and the moment it lands, and the click then picks nothing
// (seen under a loaded make test): that is the page being live, so the
// click is made again; what it must bring about is still waited for.
func (b *browser) clickUntil(what, selector, expr string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b.do(what, chromedp.Click(selector))
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Second)))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("browser: %s: waiting for %s after clicking %s: %v; page: %s", what, expr, selector, err, b.describe())
		}
	}
}

// open switches the page to a view and waits until it has loaded.
func (b *browser) open(view string) {
	b.t.Helper()
	b.do("open "+view, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = %q`, "#"+view)))
	b.waitJS("the "+view+" view", fmt.Sprintf(`(() => { const v = document.querySelector('#view-%s'); return !v.hidden && !!v.dataset.loaded; })()`, view), 10*time.Second)
}

// describe is what the page shows, for failure messages.
func (b *browser) describe() string {
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " | " + document.querySelector('#conn').textContent +
		(document.querySelector('#login').open ? " | sign-in dialog open: " + document.querySelector('#login-error').textContent : "") +
		" | body data " + JSON.stringify(document.body.dataset) +
		" | " + document.querySelector('main').innerText.slice(0, 1500)`))
	if err != nil {
		s = "(unreadable: " + err.Error() + ")"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.exceptions) > 0 {
		s += "; the page threw: " + strings.Join(b.exceptions, "; ")
	}
	return s
}

// screenshot saves the viewport as name.png under the test's artifact
// directory (kept with go test -artifacts -outputdir DIR, as make test
// runs it), and in $CAIRN_UI_SCREENSHOTS if set.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	dirs := []string{b.shots}
	if d := os.Getenv("CAIRN_UI_SCREENSHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
		b.t.Logf("screenshot %s", p)
	}
}

func (b *browser) mustNoExceptions() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.exceptions) > 0 {
		b.t.Fatalf("the page threw: %s", strings.Join(b.exceptions, "; "))
	}
}

// firstPaintJS resolves to the page's first contentful paint, in ms
// after its navigation started.
const firstPaintJS = `new Promise((resolve) => new PerformanceObserver((list, obs) => {
	const e = list.getEntriesByName('first-contentful-paint')[0];
	if (e) { obs.disconnect(); resolve(e.startTime); }
}).observe({type: 'paint', buffered: true}))`

// Test_UI_Browser_ThreeNodes_LeaderKilled_ResourceCreatedAndDeleted drives
// the web console in headless Chromium against a real three-node zone
// with authentication on: the page asks for credentials, shows the three
// members and the leader, shows the new leader after the old one is
// killed with SIGKILL, and creates and deletes a resource through its
// form. Screenshots go to the test's artifact directory.
func Test_UI_Browser_ThreeNodes_LeaderKilled_ResourceCreatedAndDeleted(t *testing.T) {
	requireBinary(t)
	b := mustBrowser(t)
	const password = "ui-test-secret"
	nodes := startCluster(t, 3, agentOpts{args: []string{"-auth", "on", "-admin-password", password}})
	leader := mustAgreeOnLeader(t, nodes, electionTimeout)
	page := others(nodes, leader)[0] // the page's node survives the kill
	// The zone's first leader creates admin a moment after it is elected.
	waitFor(t, "admin to exist", 10*time.Second, func() bool {
		return page.as(creds{user: "admin", password: password}, page.url, "GET", "/cairn/v1/whoami", nil).status == http.StatusOK
	}, nil)

	// GET / redirects to the console; its files load without credentials,
	// and it asks for them since the APIs require them.
	b.do("open the console", chromedp.Navigate(page.url+"/"))
	b.waitJS("the sign-in dialog", `document.querySelector('#login').open`, 10*time.Second)
	if loc := eval[string](b, `location.pathname`); loc != "/ui/" {
		t.Fatalf("GET / led to %s, want /ui/", loc)
	}
	paint := evalAwait[float64](b, firstPaintJS)
	load := eval[float64](b, `performance.getEntriesByType('navigation')[0].duration`)
	t.Logf("console on %s: first contentful paint %.0f ms after navigation start, navigation (redirect included) %.0f ms", page.id(), paint, load)
	b.screenshot("1-sign-in")
	b.do("sign in",
		chromedp.SetValue("#login-user", "admin"),
		chromedp.SetValue("#login-password", password),
		chromedp.Click("#login-submit"))

	// Three members, the leader marked in its zone and on its card.
	zone := `document.querySelector('.zone[data-zone="default"]')`
	b.waitJS("three members and the leader", fmt.Sprintf(
		`%s && %s.querySelectorAll('.member').length === 3 && %s.dataset.leader === %q && document.querySelector('.member[data-id=%q]').dataset.state === 'Leader'`,
		zone, zone, zone, leader.id(), leader.id()), 15*time.Second)
	for _, n := range nodes {
		if got := eval[string](b, fmt.Sprintf(`document.querySelector('.member[data-id=%q]').dataset.gossip`, n.id())); got != "alive" {
			t.Fatalf("member %s shows gossip status %q, want alive", n.id(), got)
		}
	}
	b.screenshot("2-domain")
	// Once more with a browser that has started and a token it keeps.
	b.do("reload", chromedp.Reload())
	b.waitJS("the members again", `document.querySelectorAll('.member').length === 3`, 10*time.Second)
	t.Logf("reloaded: first contentful paint %.0f ms after navigation start", evalAwait[float64](b, firstPaintJS))

	// The leader killed: the page shows a new one, from the live stream.
	leader.mustKill()
	killed := time.Now()
	b.waitJS("a new leader", fmt.Sprintf(
		`(() => { const z = %s; const l = z && z.dataset.leader; return !!l && l !== %q && document.querySelector('.member[data-id="' + l + '"]').dataset.state === 'Leader'; })()`,
		zone, leader.id()), 15*time.Second)
	shown := time.Since(killed)
	newLeader := eval[string](b, zone+`.dataset.leader`)
	t.Logf("the page showed leader %s %s after the kill -9 of %s", newLeader, shown.Round(time.Millisecond), leader.id())
	survivors := others(nodes, leader)
	if got := mustAgreeOnLeader(t, survivors, electionTimeout); got.id() != newLeader {
		t.Fatalf("the page shows leader %s; the survivors agree on %s", newLeader, got.id())
	}
	if st := eval[string](b, fmt.Sprintf(`document.querySelector('.member[data-id=%q]').dataset.state`, leader.id())); st == "Leader" {
		t.Fatalf("the killed node %s is still shown leading", leader.id())
	}
	b.screenshot("3-leader-killed")

	// A resource created through the form, read back through the API of
	// the other survivor, then deleted through the page.
	other := others(survivors, page)[0]
	b.open("resources")
	b.do("create a resource",
		chromedp.SetValue("#new-kind", "widget"),
		chromedp.SetValue("#new-id", "from-the-browser"),
		chromedp.SetValue("#new-body", `{"made": "in Chromium", "n": 1}`),
		chromedp.Click("#new-submit"))
	b.waitJS("the created resource shown", `document.querySelector('#res-msg').textContent.startsWith('Created widget/from-the-browser') && document.querySelector('#res-json').textContent.includes('in Chromium') && !!document.querySelector('#kinds li[data-kind="widget"]')`, 10*time.Second)
	admin := creds{user: "admin", password: password}
	waitFor(t, "the resource on "+other.id(), catchUpTimeout, func() bool {
		r := other.as(admin, other.url, "GET", resPath("widget", "from-the-browser"), nil)
		var res struct {
			Body struct {
				Made string `json:"made"`
			} `json:"body"`
		}
		return r.status == 200 && json.Unmarshal(r.body, &res) == nil && res.Body.Made == "in Chromium"
	}, nil)
	b.screenshot("4-resource-created")
	// A write through another node shows up in the open list by itself
	// (the page's blocking read on the store).
	other.mustAs(admin, other.url, "PUT", resPath("widget", "from-the-api"), []byte(`{"made":"by curl"}`), http.StatusCreated)
	b.waitJS("the resource written through "+other.id(), `!!document.querySelector('#res-list tbody tr[data-id="from-the-api"]') && document.querySelector('#kinds li[data-kind="widget"] .count').textContent === '2'`, 10*time.Second)
	b.do("delete it", chromedp.Click("#res-delete"), chromedp.Click("#res-delete"))
	b.waitJS("the deletion", `document.querySelector('#res-msg').textContent.startsWith('Deleted widget/from-the-browser') && document.querySelector('#res-detail').hidden`, 10*time.Second)
	waitFor(t, "the resource gone from "+other.id(), catchUpTimeout, func() bool {
		return other.as(admin, other.url, "GET", resPath("widget", "from-the-browser"), nil).status == 404
	}, nil)

	// The other views load (MRF's says there is no controller: this
	// zone has none) and the page never threw.
	for _, v := range []string{"workloads", "maxscale"} {
		b.open(v)
	}
	b.do("open mrf", chromedp.Evaluate[chromedp.Void](`location.hash = '#mrf'`))
	b.mustNoExceptions()
}

// Test_UI_Browser_Domain_ShowsZonesResourcesMRFWorkloadsMaxScale fills a
// domain (a one-node controller zone and a three-node zone1) with a
// little of everything — resources, two MRF contributions and a
// deployment to both zones, a workload of three instances, MaxScale
// servers, a service and a monitor — and checks that the console on a
// zone1 follower shows each. Its screenshots are the README's; with
// CAIRN_UI_SCREENSHOTS=dir they are written there too.
func Test_UI_Browser_Domain_ShowsZonesResourcesMRFWorkloadsMaxScale(t *testing.T) {
	requireBinary(t)
	b := mustBrowser(t)
	d := startMRFDomain(t, "-zone", "controller")
	for _, a := range d.zone1 {
		killInstancesAtCleanup(t, a)
	}
	leader := mustAgreeOnLeader(t, d.zone1, electionTimeout)
	page := others(d.zone1, leader)[0]
	// The zone's first leader wrote its admin's generated password.
	admin := creds{user: "admin"}
	waitFor(t, "zone1's initial-admin-password", 10*time.Second, func() bool {
		for _, a := range d.zone1 {
			if b, err := os.ReadFile(filepath.Join(a.opts.dataDir, "initial-admin-password")); err == nil && len(b) > 0 {
				admin.password = strings.TrimSpace(string(b))
				return true
			}
		}
		return false
	}, nil)

	c := d.controller
	c.mustDo(http.MethodPut, "/management/domain/contributions/contribution/calculator.zip", sampleArchive(t, "calculator.zip"), http.StatusCreated)
	c.mustDo(http.MethodPut, "/management/domain/contributions/contribution/greeting.zip", sampleArchive(t, "greeting.zip"), http.StatusCreated)
	c.mustDo(http.MethodPut, "/management/domain/deployments/contribution/calculator.zip", nil, http.StatusCreated)
	page.mustDo(http.MethodPut, "/cairn/v1/workloads/ticker",
		[]byte(`{"command":["bash","-c","while true; do echo tick from instance $CAIRN_INSTANCE on $CAIRN_NODE; sleep 0.5; done"],"instances":3}`), http.StatusCreated)
	for i := 1; i <= 5; i++ {
		page.mustDo(http.MethodPut, resPath("widget", fmt.Sprintf("w%d", i)), fmt.Appendf(nil, `{"colour":"blue","size":%d}`, i), http.StatusCreated)
	}
	u, err := url.Parse(page.url)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct{ method, path, body string }{
		{"POST", "/maxscale/v1/services", `{"data":{"id":"RW-Split-Router","type":"services","attributes":{"router":"readwritesplit","parameters":{"user":"maxuser","password":"maxpwd"}}}}`},
		{"POST", "/maxscale/v1/servers", `{"data":{"id":"server1","type":"servers","attributes":{"parameters":{"address":"127.0.0.1","port":` + u.Port() + `}},"relationships":{"services":{"data":[{"id":"RW-Split-Router","type":"services"}]}}}}`},
		{"POST", "/maxscale/v1/servers", `{"data":{"id":"server2","type":"servers","attributes":{"parameters":{"address":"127.0.0.1","port":1}}}}`},
		{"POST", "/maxscale/v1/monitors", `{"data":{"id":"MariaDB-Monitor","type":"monitors","attributes":{"module":"mariadbmon","parameters":{"user":"u","password":"p","monitor_interval":200}},"relationships":{"servers":{"data":[{"id":"server1","type":"servers"},{"id":"server2","type":"servers"}]}}}}`},
		{"PUT", "/maxscale/v1/servers/server1/set?state=master", ""},
	} {
		var body []byte
		if w.body != "" {
			body = []byte(w.body)
		}
		page.mustAs(admin, page.url, w.method, w.path, body, http.StatusNoContent)
	}

	// Auth is off on loopback: the page signs in only because the
	// MaxScale API always requires credentials.
	b.do("open the console", chromedp.Navigate(page.url+"/"))
	b.waitJS("both zones", `document.querySelectorAll('.zone').length === 2 && document.querySelectorAll('.member').length === 4 &&
		document.querySelector('.zone[data-zone="controller"]').dataset.leader === 'c1' && !!document.querySelector('.zone[data-zone="zone1"]').dataset.leader &&
		document.querySelector('.member[data-id="c1"] .badge.ctl') !== null`, 15*time.Second)
	b.do("sign in", chromedp.Click("#signin"))
	b.waitJS("the sign-in dialog", `document.querySelector('#login').open`, 5*time.Second)
	b.do("sign in", chromedp.SetValue("#login-user", "admin"), chromedp.SetValue("#login-password", admin.password), chromedp.Click("#login-submit"))
	b.waitJS("signed in", `document.querySelector('#who').textContent === 'signed in as admin'`, 5*time.Second)
	b.screenshot("domain")

	b.open("resources")
	b.clickUntil("pick widget", `#kinds li[data-kind="widget"]`, `document.querySelectorAll('#res-list tbody tr').length === 5`, 5*time.Second)
	b.clickUntil("pick w3", `#res-list tbody tr[data-id="w3"]`, `!document.querySelector('#res-detail').hidden && JSON.parse(document.querySelector('#res-json').textContent).body.size === 3`, 5*time.Second)
	b.screenshot("resources")

	b.open("mrf")
	b.waitJS("contributions and the deployment to both zones", `document.querySelectorAll('#mrf-contributions tbody tr').length === 2 &&
		[...document.querySelectorAll('#mrf-deployments [data-uri="calculator.zip"] tbody tr')].map((r) => r.cells[0].textContent + '=' + r.cells[1].textContent).join() === 'controller=deployed,zone1=deployed'`, 5*time.Second)
	b.screenshot("mrf")

	b.open("workloads")
	b.do("pick ticker", chromedp.Click(`#wl-list tbody tr[data-id="ticker"]`))
	b.waitJS("three running instances and their logs", `[...document.querySelectorAll('#wl-instances tbody tr')].filter((r) => r.cells[2].textContent === 'RUNNING').length === 3 &&
		['z1', 'z2', 'z3'].every((n) => document.querySelector('#wl-logs').textContent.includes('on ' + n))`, 15*time.Second)
	b.screenshot("workloads")

	b.open("maxscale")
	b.waitJS("servers, service and monitor with their state", `(() => {
		const s = (id) => document.querySelector('#ms-servers tr[data-id="' + id + '"]');
		return !!s('server1') && s('server1').cells[2].textContent === 'Master, Running' && s('server2').cells[2].textContent === 'Down' &&
			!!document.querySelector('#ms-services tr[data-id="RW-Split-Router"]') && document.querySelector('#ms-monitors tr[data-id="MariaDB-Monitor"]').cells[2].textContent === 'Running';
	})()`, 15*time.Second)
	b.screenshot("maxscale")
	b.mustNoExceptions()
}
