package native

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"cairn/fsm"
	"cairn/http/httpx"

	"github.com/gorilla/mux"
)

// ListBody is the document GET /cairn/v1/resources/{kind} returns. Next is
// the continue token of the following page, empty on the last one.
type ListBody struct {
	Kind  string          `json:"kind"`
	Items []*fsm.Resource `json:"items"`
	Next  string          `json:"next,omitempty"`
}

func etag(version uint64) string { return `"` + strconv.FormatUint(version, 10) + `"` }

// kindAndID reads and validates the path's kind and id.
func kindAndID(r *http.Request) (kind, id string, err error) {
	v := mux.Vars(r)
	kind, id = v["kind"], v["id"]
	if err := fsm.ValidateKind(kind); err != nil {
		return "", "", fmt.Errorf("%w: %w", errBadRequest, err)
	}
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && id == "" { // list
		return kind, "", nil
	}
	if err := fsm.ValidateID(id); err != nil {
		return "", "", fmt.Errorf("%w: %w", errBadRequest, err)
	}
	// The native API's own rule (README): an id names one path segment.
	if strings.Contains(id, "/") {
		return "", "", fmt.Errorf("%w: id %q contains '/': the native API's ids are one path segment", errBadRequest, id)
	}
	return kind, id, nil
}

// mayWrite refuses kinds a dialect owns: the dialect alone writes them,
// after checking them against its schema; one record written around it
// could break every read of its collection.
func (a *API) mayWrite(kind string) error {
	if owner := a.node.View().Schema().Owner(kind); owner != "" {
		return fmt.Errorf("%w: kind %s belongs to the %s API; write it through that API", errForbidden, kind, owner)
	}
	return nil
}

// mayRead refuses kinds that hold secrets.
func (a *API) mayRead(kind string) error {
	if a.node.View().Schema().Secret(kind) {
		return fmt.Errorf("%w: kind %s holds credentials and is served only by its own API", errForbidden, kind)
	}
	return nil
}

// readView returns the view a read is served from, after the blocking wait
// and consistency the query asks for, and sets the freshness headers.
func (a *API) readView(w http.ResponseWriter, r *http.Request, p params) (*fsm.View, error) {
	if index, wait := p.Wait(); wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		// A wait that times out is not an error: the client gets the
		// current state and re-polls from its index. The same when the
		// server begins to shut down: it should not wait for the wait.
		stop := httpx.AfterShutdown(r.Context(), cancel)
		_ = a.node.WaitIndex(ctx, index+1)
		stop()
		cancel()
	}
	if p.Consistency() == Consistent && !httpx.ReadBarrierDone(r.Context()) {
		if err := a.node.ReadBarrier(r.Context()); err != nil {
			return nil, err
		}
	}
	v := a.node.View()
	h := w.Header()
	h.Set("X-Cairn-Index", strconv.FormatUint(v.Index(), 10))
	id, _ := a.node.Leader()
	h.Set("X-Cairn-Known-Leader", strconv.FormatBool(id != ""))
	h.Set("X-Cairn-Last-Contact", strconv.FormatInt(a.node.LastContact().Milliseconds(), 10))
	return v, nil
}

// read parses and validates a read request and returns the view to serve
// it from; on failure it has written the error and returns ok false.
func (a *API) read(w http.ResponseWriter, r *http.Request) (kind, id string, p params, v *fsm.View, ok bool) {
	kind, id, err := kindAndID(r)
	if err == nil {
		err = a.mayRead(kind)
	}
	if err == nil {
		p, err = parseParams(r)
	}
	if err == nil {
		v, err = a.readView(w, r, p)
	}
	if err != nil {
		fail(w, err)
		return "", "", p, nil, false
	}
	return kind, id, p, v, true
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	kind, _, p, v, ok := a.read(w, r)
	if !ok {
		return
	}
	body := ListBody{Kind: kind, Items: []*fsm.Resource{}}
	if p.by != "" {
		// Paged like a plain list: ?limit and ?continue hold here too.
		items, more, err := v.LookupPage(kind, p.by, p.value, p.after, p.limit)
		if err != nil {
			fail(w, err)
			return
		}
		body.Items = append(body.Items, items...)
		if more {
			body.Next = continueToken(items[len(items)-1].ID)
		}
	} else {
		items, more := v.List(kind, p.prefix, p.after, p.limit)
		body.Items = append(body.Items, items...)
		if more {
			body.Next = continueToken(items[len(items)-1].ID)
		}
	}
	httpx.WriteJSON(w, http.StatusOK, body)
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	kind, id, _, v, ok := a.read(w, r)
	if !ok {
		return
	}
	res := v.Get(kind, id)
	if res == nil {
		fail(w, fmt.Errorf("%w: %s %q does not exist", errNotFound, kind, id))
		return
	}
	w.Header().Set("ETag", etag(res.Version))
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagListMatches(inm, res.Version) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}

func (a *API) put(w http.ResponseWriter, r *http.Request) {
	kind, id, err := kindAndID(r)
	if err == nil {
		err = a.mayWrite(kind)
	}
	if err != nil {
		fail(w, err)
		return
	}
	op := fsm.Op{Type: fsm.OpPut, Kind: kind, ID: id}
	if op.Require, op.Version, err = writePrecondition(r); err != nil {
		fail(w, err)
		return
	}
	if op.Body, err = httpx.ReadJSON(r); err != nil {
		fail(w, err)
		return
	}
	res, err := a.apply(w, r, op)
	if err != nil {
		fail(w, err)
		return
	}
	written := res.Resources[0]
	w.Header().Set("ETag", etag(written.Version))
	status := http.StatusOK
	if !res.Existed[0] {
		status = http.StatusCreated
		w.Header().Set("Location", "/cairn/v1/resources/"+kind+"/"+url.PathEscape(id))
	}
	writeWritten(w, r, status, func() any { return written })
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) {
	kind, id, err := kindAndID(r)
	if err == nil {
		err = a.mayWrite(kind)
	}
	if err != nil {
		fail(w, err)
		return
	}
	op := fsm.Op{Type: fsm.OpDelete, Kind: kind, ID: id}
	if op.Require, op.Version, err = writePrecondition(r); err != nil {
		fail(w, err)
		return
	}
	if op.Require == fsm.RequireAbsent {
		fail(w, fmt.Errorf("%w: If-None-Match: * makes no sense on DELETE", errBadRequest))
		return
	}
	res, err := a.apply(w, r, op)
	if err != nil {
		fail(w, err)
		return
	}
	if !res.Existed[0] {
		fail(w, fmt.Errorf("%w: %s %q does not exist", errNotFound, kind, id))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// readOne reads resource kind/id for a GET, with the freshness the
// request's parameters ask for. idErr is the path's id check; missing makes
// the 404's error. On any failure it has answered and ok is false.
func (a *API) readOne(w http.ResponseWriter, r *http.Request, kind, id string, idErr error, missing func() error) (v *fsm.View, res *fsm.Resource, ok bool) {
	err := idErr
	var p params
	if err == nil {
		p, err = parseParams(r)
	}
	if err == nil {
		v, err = a.readView(w, r, p)
	}
	if err == nil {
		if res = v.Get(kind, id); res == nil {
			err = missing()
		}
	}
	if err != nil {
		fail(w, err)
		return nil, nil, false
	}
	return v, res, true
}

// apply proposes ops as one command stamped with this node's clock, says
// so when it was certainly not applied, and sets X-Cairn-Index to the
// index it was applied at.
func (a *API) apply(w http.ResponseWriter, r *http.Request, ops ...fsm.Op) (*fsm.Result, error) {
	index, res, err := a.node.Apply(r.Context(), fsm.Command{Ops: ops, Time: a.now().UTC()})
	httpx.MarkNotApplied(w, err)
	if index > 0 {
		// Set even for a refused command: it took a log index too, and a
		// client reading through another node may wait for it.
		w.Header().Set("X-Cairn-Index", strconv.FormatUint(index, 10))
	}
	return res, err
}

// writePrecondition turns If-Match / If-None-Match into the store's
// precondition. A well-formed entity tag this API did not issue ("abc"
// quoted, a weak tag) never matches, so it yields a 412 as HTTP
// prescribes; a malformed one (abc or -1 unquoted) is the client's
// mistake, a 400, not a miss. So is a second If-Match header, which would
// otherwise be silently ignored.
func writePrecondition(r *http.Request) (fsm.Require, uint64, error) {
	if n := len(r.Header.Values("If-Match")); n > 1 {
		return "", 0, fmt.Errorf("%w: send one If-Match header, got %d", errBadRequest, n)
	}
	if n := len(r.Header.Values("If-None-Match")); n > 1 {
		return "", 0, fmt.Errorf("%w: send one If-None-Match header, got %d", errBadRequest, n)
	}
	im, inm := strings.TrimSpace(r.Header.Get("If-Match")), strings.TrimSpace(r.Header.Get("If-None-Match"))
	switch {
	case im != "" && inm != "":
		return "", 0, fmt.Errorf("%w: send If-Match or If-None-Match, not both", errBadRequest)
	case im == "*":
		return fsm.RequireExists, 0, nil
	case im != "":
		if strings.Contains(im, ",") {
			return "", 0, fmt.Errorf("%w: If-Match takes one entity tag here, got %q", errBadRequest, im)
		}
		if !wellFormedETag(im) {
			return "", 0, fmt.Errorf("%w: If-Match %q is not an entity tag (this API's are \"N\", N the resource's version)", errBadRequest, im)
		}
		v, _ := parseETag(im)
		return fsm.RequireVersion, v, nil
	case inm == "*":
		return fsm.RequireAbsent, 0, nil
	case inm != "":
		return "", 0, fmt.Errorf("%w: on writes If-None-Match supports only *", errBadRequest)
	}
	return fsm.RequireNothing, 0, nil
}

// wellFormedETag reports whether s is an entity tag by RFC 9110's syntax
// (an optional W/ and a quoted string of visible characters but '"'), or
// the bare version number this API also accepts.
func wellFormedETag(s string) bool {
	if _, ok := parseETag(s); ok && !strings.HasPrefix(s, "W/") {
		return true
	}
	s = strings.TrimPrefix(s, "W/")
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return false
	}
	for _, c := range []byte(s[1 : len(s)-1]) {
		if c == '"' || c < 0x21 || c == 0x7f {
			return false
		}
	}
	return true
}

// parseETag reads a strong entity tag "N" (the quotes may be omitted); ok is
// false for anything else, including weak tags.
func parseETag(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil && v > 0
}

// etagListMatches reports whether an If-None-Match list names version (weak
// comparison, as RFC 9110 prescribes for If-None-Match).
func etagListMatches(list string, version uint64) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		if v, ok := parseETag(strings.TrimPrefix(t, "W/")); ok && v == version {
			return true
		}
	}
	return false
}
