package maxscale

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"cairn/fsm"
	"cairn/http/httpx"
)

// baseURL is the API root links are built from: the request's scheme and
// Host, and the prefix the route answered under (/v1 or /maxscale/v1), as
// MaxScale builds them from the Host header.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	prefix := "/v1"
	if strings.HasPrefix(r.URL.Path, "/maxscale/") {
		prefix = MountPrefix
	}
	return scheme + "://" + r.Host + prefix
}

type links struct {
	Self    string `json:"self"`
	Related string `json:"related,omitempty"`
}

// ref is a relationship member.
type ref struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

type relationship struct {
	Links links `json:"links"`
	Data  []ref `json:"data"`
}

// resourceObject is one JSON:API resource object.
type resourceObject struct {
	ID            string                   `json:"id"`
	Type          string                   `json:"type"`
	Relationships map[string]*relationship `json:"relationships"`
	Attributes    map[string]any           `json:"attributes"`
	Links         links                    `json:"links"`
}

// document is a top-level JSON:API document.
type document struct {
	Links links `json:"links"`
	Data  any   `json:"data"`
}

// httpDate formats t as MaxScale's dates are formatted.
func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

// render builds o's resource object.
func render(t *txn, base string, o *object) (*resourceObject, error) {
	typ := typeOf[o.kind]
	ro := &resourceObject{
		ID: o.Name, Type: typ,
		Relationships: map[string]*relationship{},
		Links:         links{Self: base + "/" + typ + "/" + pathName(o.Name)},
	}
	for _, rel := range relNames[o.kind] {
		objs, err := related(t, o, rel)
		if err != nil {
			return nil, err
		}
		if len(objs) == 0 {
			continue // MaxScale omits an empty relationship
		}
		rs := &relationship{Links: relLinks(base, ro.Links.Self, rel)}
		for _, r := range objs {
			rs.Data = append(rs.Data, ref{ID: r.Name, Type: rel})
		}
		ro.Relationships[rel] = rs
	}
	params := maskedParameters(o)
	source := map[string]any{"file": nil, "type": "runtime"}
	switch o.kind {
	case KindServer:
		ro.Attributes = map[string]any{
			"name":              o.Name,
			"parameters":        params,
			"state":             stateString(o.Status),
			"state_details":     nil,
			"version_string":    "",
			"node_id":           -1,
			"master_id":         -1,
			"server_id":         -1,
			"replication_depth": -1,
			"slaves":            []int{},
			"read_only":         false,
			"gtid_current_pos":  nil,
			"gtid_binlog_pos":   nil,
			"source":            source,
			"statistics": map[string]any{
				"connections": 0, "total_connections": 0, "max_connections": 0, "active_operations": 0,
				"routed_packets": 0, "persistent_connections": 0, "reused_connections": 0, "failed_auths": 0,
			},
		}
		// Known once the server's monitor has seen it change; absent
		// before (maxctrl then shows the field empty, not "null").
		if o.LastEvent != "" {
			ro.Attributes["last_event"] = o.LastEvent
			ro.Attributes["triggered_at"] = o.TriggeredAt
		}
	case KindService:
		params["router"] = o.Router
		ls, err := related(t, o, "listeners")
		if err != nil {
			return nil, err
		}
		listeners := make([]*resourceObject, 0, len(ls))
		for _, l := range ls {
			lo, err := render(t, base, l)
			if err != nil {
				return nil, err
			}
			listeners = append(listeners, lo)
		}
		state := "Started"
		if o.Stopped {
			state = "Stopped"
		}
		ro.Attributes = map[string]any{
			"router":             o.Router,
			"state":              state,
			"started":            httpDate(o.created),
			"connections":        0,
			"total_connections":  0,
			"parameters":         params,
			"listeners":          listeners,
			"router_diagnostics": map[string]any{},
			"source":             source,
			"statistics": map[string]any{
				"connections": 0, "total_connections": 0, "max_connections": 0, "active_operations": 0,
				"routed_packets": 0, "failed_auths": 0,
			},
		}
	case KindMonitor:
		params["module"] = o.Module
		state := "Running"
		if o.Stopped {
			state = "Stopped"
		}
		ro.Attributes = map[string]any{
			"module":              o.Module,
			"state":               state,
			"ticks":               0,
			"parameters":          params,
			"monitor_diagnostics": map[string]any{},
			"source":              source,
		}
	case KindFilter:
		params["module"] = o.Module
		ro.Attributes = map[string]any{
			"module":     o.Module,
			"parameters": params,
			// Cairn runs no filter: there is nothing to diagnose.
			"filter_diagnostics": nil,
			"source":             source,
		}
	case KindListener:
		if _, ok := params["address"]; !ok {
			if _, sock := params["socket"]; !sock {
				params["address"] = "::"
			}
		}
		if _, ok := params["protocol"]; !ok {
			params["protocol"] = "mariadbclient"
		}
		ro.Attributes = map[string]any{
			"state":      listenerState,
			"parameters": params,
			"source":     source,
		}
	}
	return ro, nil
}

// masked is what a secret parameter reads back as, as MaxScale 6.4 shows
// it: the value is never served, only that one is set.
const masked = "*****"

// secretParams are the parameters of each kind that hold a password:
// always shown, as "*****" when set and null when not.
var secretParams = map[string][]string{
	KindServer:  {"monitorpw"},
	KindService: {"password"},
	KindMonitor: {"password"},
}

// maskedParameters copies o's parameters for a document, its secrets
// masked: every parameter of type password its kind or module declares
// (a monitor's replication_password too).
func maskedParameters(o *object) map[string]any {
	params := make(map[string]any, len(o.Parameters)+1)
	specs := paramSpecs(o)
	for k, v := range o.Parameters {
		if p, ok := lookupParam(k, specs...); ok && p.Type == ptPassword && v != nil {
			v = masked
		}
		params[k] = v
	}
	for _, k := range secretParams[o.kind] {
		if v, ok := params[k]; ok && v != nil {
			params[k] = masked
		} else {
			params[k] = nil
		}
	}
	return params
}

// paramSpecs are the parameter sets o's parameters are checked against.
func paramSpecs(o *object) [][]param {
	switch o.kind {
	case KindServer:
		return [][]param{serverParams}
	case KindService:
		if m := findModule("Router", o.Router); m != nil {
			return [][]param{serviceParams, m.Params}
		}
		return [][]param{serviceParams}
	case KindMonitor:
		if m := findModule("Monitor", o.Module); m != nil {
			return [][]param{monitorParams, m.Params}
		}
		return [][]param{monitorParams}
	case KindFilter:
		if m := findModule("Filter", o.Module); m != nil {
			return [][]param{m.Params}
		}
	case KindListener:
		return [][]param{listenerParams}
	}
	return nil
}

// writeDoc writes a successful read: 200, the document shaped by the
// query (sparse fieldsets, pagination), an ETag that is the quoted SHA-1
// of the compact JSON (as MaxScale's) and, when known, Last-Modified (mod:
// when what it shows last changed). If-None-Match and If-Modified-Since
// that hold answer 304; If-Match and If-Unmodified-Since that do not, 412.
func writeDoc(w http.ResponseWriter, r *http.Request, doc any, mod time.Time) {
	b, err := json.Marshal(doc)
	if err != nil {
		fail(w, err)
		return
	}
	b = shape(r, b)
	etag := etagOf(b)
	h := w.Header()
	h.Set("ETag", etag)
	if !mod.IsZero() {
		h.Set("Last-Modified", httpDate(mod))
	}
	if err := checkPreconditions(r, etag, mod); err != nil {
		fail(w, err)
		return
	}
	inm := r.Header.Get("If-None-Match")
	ims, hasIMS := httpTime(r.Header.Get("If-Modified-Since"))
	if inm != "" || hasIMS {
		match := inm == "" || etagListHas(inm, etag) || inm == "*"
		unmodified := !hasIMS || (!mod.IsZero() && !modifiedAfter(mod, ims))
		if match && unmodified {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(append(b, '\n'))
	}
}

// inDoc is a request document; only the members the dialect reads.
type inDoc struct {
	Data *inData `json:"data"`
}

type inData struct {
	ID            any             `json:"id"`
	Type          any             `json:"type"`
	Attributes    *inAttributes   `json:"attributes"`
	Relationships json.RawMessage `json:"relationships"`
}

type inAttributes struct {
	Router     any            `json:"router"`
	Module     any            `json:"module"`
	Parameters map[string]any `json:"parameters"`
	// Password and Account are an admin user's.
	Password any `json:"password"`
	Account  any `json:"account"`
}

// readDoc reads the request's JSON document; numbers stay json.Number so
// parameters keep the form the client sent.
func readDoc(r *http.Request) (*inDoc, error) {
	b, err := httpx.ReadBody(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, refuse("Missing request body")
	}
	// The store's own limits: encoding/json would turn invalid UTF-8
	// into U+FFFD, and an id of it would name another object than sent.
	if err := fsm.CheckBody(b); err != nil {
		return nil, refuse("Invalid JSON in request: " + err.Error())
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var doc inDoc
	if err := d.Decode(&doc); err != nil {
		var typeErr *json.UnmarshalTypeError
		if !errors.As(err, &typeErr) {
			return nil, refuse("Invalid JSON in request: " + err.Error())
		}
		return nil, refuse("The request body does not have the expected form: field '" + typeErr.Field + "' is a JSON " + typeErr.Value)
	}
	if d.More() {
		return nil, refuse("Invalid JSON in request: more than one JSON value")
	}
	if doc.Data == nil {
		return nil, refuse("The request body has no 'data' object")
	}
	return &doc, nil
}

// checkType refuses a document whose data.type is present and is not
// want: MaxScale refuses a server posted to /v1/services.
func (d *inDoc) checkType(want string) error {
	if d.Data.Type == nil {
		return nil
	}
	if s, ok := d.Data.Type.(string); !ok || s != want {
		return refuse(fmt.Sprintf("The '/data/type' field must be '%s', got %v", want, d.Data.Type))
	}
	return nil
}

// dataID returns the document's data.id as a name, refused unless it can
// name the object in a URL path afterwards.
func (d *inDoc) dataID() (string, error) {
	s, ok := d.Data.ID.(string)
	if !ok || strings.TrimSpace(s) == "" {
		return "", refuse("The '/data/id' field is not a string")
	}
	s = strings.TrimSpace(s)
	return s, validName(s)
}

// validName refuses a name no path could address afterwards (a '/', a
// control character, more than the store's id length), and the '@@' prefix
// MaxScale reserves for itself (config_is_valid_name). An object created
// under such a name could be listed but never changed or destroyed.
func validName(name string) error {
	switch {
	case strings.HasPrefix(name, "@@"):
		return refuse("The name '" + name + "' starts with '@@', which is a prefix reserved for MaxScale")
	case strings.ContainsRune(name, '/'):
		return refuse("The name '" + name + "' contains a '/': it could not be used in a URL path")
	case name == "." || name == "..":
		return refuse("The name '" + name + "' is a path segment of its own: it could not be used in a URL path")
	case fsm.ValidateID(canon(name)) != nil:
		return refuse(fmt.Sprintf("The name %q is not valid: %s", name, strings.TrimPrefix(fsm.ValidateID(canon(name)).Error(), fsm.ErrInvalid.Error()+": ")))
	}
	return nil
}
