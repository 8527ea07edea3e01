package apcera

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cairn/fsm"
	"cairn/node/workload"
)

// routeIndex indexes a job by the endpoints of its ports' HTTP routes
// (host names, lower case), for the router.
func routeIndex() fsm.Index {
	return fsm.Index{Name: "route", Values: func(body json.RawMessage) ([]string, error) {
		var probe struct {
			Ports []struct {
				Routes []struct {
					Endpoint string `json:"endpoint"`
					Type     string `json:"type"`
				} `json:"routes"`
			} `json:"ports"`
		}
		if json.Unmarshal(body, &probe) != nil {
			return nil, nil
		}
		var out []string
		for _, p := range probe.Ports {
			for _, r := range p.Routes {
				if h := routeHost(r.Endpoint); h != "" && (r.Type == "" || r.Type == "http") {
					out = append(out, h)
				}
			}
		}
		sort.Strings(out)
		return out, nil
	}}
}

// routeHost is the host name a route endpoint names ("app.example.com",
// also given as http://app.example.com/ by the Docker job call).
func routeHost(endpoint string) string {
	e := strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(endpoint), "http://"), "https://")
	e, _, _ = strings.Cut(e, "/")
	if h, _, err := net.SplitHostPort(e); err == nil {
		e = h
	}
	return e
}

// Router is Cairn's HTTP router for Apcera routes: a request whose Host
// is a route's endpoint goes to a RUNNING instance of the job, on the
// port the route is on, round-robin among them; any other Host, or a
// route without a running instance, is 404 (502 when the instance does
// not answer). It reads this node's store, so every node routes alike,
// and a route removed from the job stops routing at once.
func (a *API) Router() http.Handler {
	rt := &router{api: a, proxies: map[string]*httputil.ReverseProxy{}}
	return rt
}

type router struct {
	api  *API
	next atomic.Uint64
	mu   sync.Mutex
	// proxies holds one reverse proxy per backend address.
	proxies map[string]*httputil.ReverseProxy
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := routeHost(r.Host)
	backends := rt.backends(host)
	if len(backends) == 0 {
		http.Error(w, "no running application is routed at "+host, http.StatusNotFound)
		return
	}
	addr := backends[int(rt.next.Add(1)%uint64(len(backends)))]
	rt.proxy(addr).ServeHTTP(w, r)
}

// backends are host:port of the running instances routed at host.
func (rt *router) backends(host string) []string {
	v := rt.api.Node.View()
	jobs, err := v.Lookup(KindJob, "route", host)
	if err != nil {
		return nil
	}
	var out []string
	for _, jr := range jobs {
		job := decodeObject(jr)
		if job.str("state") != jobStarted {
			continue
		}
		var port int64
		for _, p := range job.list("ports") {
			pm, _ := p.(map[string]any)
			for _, ro := range object(pm).list("routes") {
				rm, _ := ro.(map[string]any)
				if routeHost(object(rm).str("endpoint")) == host {
					port = object(pm).int64Of("number")
				}
			}
		}
		wr := v.Get(workload.KindWorkload, jr.ID)
		pr := v.Get(workload.KindPlacement, jr.ID)
		if wr == nil || pr == nil {
			continue
		}
		spec, err := workload.ParseSpec(wr.Body)
		if err != nil {
			continue
		}
		slot := -1
		for i, name := range spec.Ports {
			if name == portName(port) {
				slot = i
			}
		}
		var pb workload.PlacementBody
		if slot < 0 || json.Unmarshal(pr.Body, &pb) != nil {
			continue
		}
		for _, p := range pb.Instances {
			sr := v.Get(workload.KindInstance, workload.InstanceID(jr.ID, p.Index))
			var st workload.Status
			if sr == nil || json.Unmarshal(sr.Body, &st) != nil || st.State != workload.InstanceRunning || st.Node != p.Node ||
				p.Index >= spec.Instances || slot >= len(p.Ports) || p.Host == "" {
				continue
			}
			out = append(out, net.JoinHostPort(p.Host, strconv.Itoa(p.Ports[slot])))
		}
	}
	sort.Strings(out)
	return out
}

func (rt *router) proxy(addr string) *httputil.ReverseProxy {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if p, ok := rt.proxies[addr]; ok {
		return p
	}
	target := &url.URL{Scheme: "http", Host: addr}
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // the application sees the route's host
			pr.SetXForwarded()
		},
		Transport: &http.Transport{ResponseHeaderTimeout: time.Minute, IdleConnTimeout: 90 * time.Second, MaxIdleConnsPerHost: 16},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "the application instance at "+addr+" did not answer: "+err.Error(), http.StatusBadGateway)
		},
	}
	if len(rt.proxies) > 1024 { // instances come and go: do not grow forever
		clear(rt.proxies)
	}
	rt.proxies[addr] = p
	return p
}
