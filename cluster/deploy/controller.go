package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"cairn/cluster"
	"cairn/fsm"
)

// maxArchiveResponse bounds what the HTTP controller reads for one
// archive: its JSON form is a third larger than the bytes.
const maxArchiveResponse = 1 << 30

// httpController reaches the domain's controller over HTTP: deployments
// and archives through the native API's resource reads (the blocking
// ?index=N&wait= form for deployments), reports through MRF.
type httpController struct {
	selfID, selfURL string
	members         Members
	client          *http.Client
}

// NewHTTPController returns the Controller a zone's Deployer uses: a live
// controller from gossip (this node, selfID at selfURL, if it is one),
// over HTTP.
//
// credentials, if not nil, wraps the transport so that every call carries
// this node's own credentials (auth.NodeCredentials.Wrap): the controller
// zone may require them.
func NewHTTPController(selfID, selfURL string, ms Members, credentials func(http.RoundTripper) http.RoundTripper) Controller {
	var t http.RoundTripper = &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	if credentials != nil {
		t = credentials(t)
	}
	return &httpController{selfID: selfID, selfURL: selfURL, members: ms, client: &http.Client{Transport: t}}
}

// listPage is the native API's list document.
type listPage struct {
	Items []*fsm.Resource `json:"items"`
	Next  string          `json:"next"`
}

func (c *httpController) base() (string, error) {
	return FindController(c.selfID, c.selfURL, c.members)
}

func (c *httpController) Deployments(ctx context.Context, after uint64, wait time.Duration) ([]Deployment, uint64, error) {
	base, err := c.base()
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, wait+30*time.Second)
	defer cancel()
	var out []Deployment
	var index uint64
	q := url.Values{"limit": {"1000"}, "index": {strconv.FormatUint(after, 10)}, "wait": {wait.String()}}
	for page := 0; ; page++ {
		var p listPage
		h, err := c.getJSON(ctx, base+"/cairn/v1/resources/"+KindDeployment+"?"+q.Encode(), &p)
		if err != nil {
			return nil, 0, err
		}
		if page == 0 {
			if index, err = strconv.ParseUint(h.Get("X-Cairn-Index"), 10, 64); err != nil {
				return nil, 0, fmt.Errorf("the controller at %s answered no X-Cairn-Index", base)
			}
		}
		for _, r := range p.Items {
			d, err := DeploymentOf(r)
			if err != nil {
				// Skipped, not retried: retrying cannot mend it, and
				// every other deployment would wait forever.
				SkipCorrupt(r, err)
				continue
			}
			out = append(out, d)
		}
		if p.Next == "" {
			return out, index, nil
		}
		q = url.Values{"limit": {"1000"}, "continue": {p.Next}}
	}
}

func (c *httpController) Archive(ctx context.Context, sum string) ([]byte, error) {
	base, err := c.base()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var r fsm.Resource
	if _, err := c.getJSON(ctx, base+"/cairn/v1/resources/"+KindArchive+"/"+url.PathEscape(sum), &r); err != nil {
		return nil, err
	}
	var a Archive
	if err := Decode(&r, &a); err != nil {
		return nil, fmt.Errorf("archive %s from the controller: %w", sum, err)
	}
	return a.Data, nil
}

func (c *httpController) Report(ctx context.Context, uri string, rep ZoneReport) error {
	base, err := c.base()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	u := base + ReportPath(uri)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(MustJSON(rep)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusNotFound, http.StatusConflict:
		return fmt.Errorf("%w: POST %s: %d %s", ErrStaleReport, u, resp.StatusCode, bytes.TrimSpace(b))
	}
	return fmt.Errorf("POST %s: %d %s", u, resp.StatusCode, bytes.TrimSpace(b))
}

// getJSON GETs u and decodes its JSON answer into v; 404 is ErrArchiveGone
// (the only resource asked for by id is an archive).
func (c *httpController) getJSON(ctx context.Context, u string, v any) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("%w: GET %s: 404", ErrArchiveGone, u)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, bytes.TrimSpace(b))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxArchiveResponse)).Decode(v); err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	return resp.Header, nil
}

// ReportPath is the path of the MRF request a zone leader reports a
// deployment's state in its zone with (the dialect serves it).
func ReportPath(uri string) string {
	return "/management/domain/deployments/contribution/" + url.PathEscape(uri) + "/report"
}

// Members is what finding a controller needs of gossip: the domain's
// members, this node included.
type Members interface {
	Members() []cluster.Member
}

// ErrNoController means gossip knows no live controller of the domain.
var ErrNoController = errors.New("no controller known")

// FindController returns the HTTP URL of this node (selfID at selfURL) if
// it is a controller, or runs without gossip (ms nil), else that of the
// first live controller in ms.
func FindController(selfID, selfURL string, ms Members) (string, error) {
	if ms == nil {
		return selfURL, nil
	}
	var found string
	for _, m := range ms.Members() {
		if !m.Controller || !Live(m) || m.HTTP == "" {
			continue
		}
		if m.ID == selfID {
			return selfURL, nil
		}
		if found == "" {
			found = m.HTTP
		}
	}
	if found == "" {
		return "", fmt.Errorf("%w: no controller of the domain is known to node %s (start one with -controller)", ErrNoController, selfID)
	}
	return found, nil
}

// Live reports whether gossip still counts m as a member that serves.
func Live(m cluster.Member) bool {
	return m.Status == cluster.StatusAlive || m.Status == cluster.StatusSuspect
}
