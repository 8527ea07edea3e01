package maxscale

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
)

// jsonInt is n as the stored parameters hold numbers.
func jsonInt(n int) json.Number { return json.Number(strconv.Itoa(n)) }

// newServer fills a server being created from its attributes: address and
// port, or socket, are required; null parameters are dropped.
func newServer(o *object, attrs inAttributes) error {
	if attrs.Parameters == nil {
		return refuse(fmt.Sprintf("Server '%s' has no 'parameters': define 'address' and 'port', or 'socket'", o.Name))
	}
	for k, v := range attrs.Parameters {
		if v != nil {
			o.Parameters[k] = v
		}
	}
	_, hasAddr := o.Parameters["address"]
	_, hasPort := o.Parameters["port"]
	_, hasSocket := o.Parameters["socket"]
	if !hasSocket && !(hasAddr && hasPort) {
		return refuse(fmt.Sprintf("Server '%s' is missing a required parameter: define 'address' and 'port', or 'socket'", o.Name))
	}
	return checkServerParameters(o)
}

// checkServerParameters validates the parameters a server must have right.
func checkServerParameters(o *object) error {
	p := o.Parameters
	_, hasAddr := p["address"]
	_, hasSocket := p["socket"]
	if hasAddr && hasSocket {
		return refuse(fmt.Sprintf("Server '%s': both 'address' and 'socket' are defined; define one of them", o.Name))
	}
	if !hasAddr && !hasSocket {
		return refuse(fmt.Sprintf("Server '%s' needs an 'address' or a 'socket'", o.Name))
	}
	for _, k := range []string{"address", "socket", "protocol"} {
		if v, ok := p[k]; ok {
			if s, isStr := v.(string); !isStr || s == "" {
				return refuse(fmt.Sprintf("Server '%s': parameter '%s' must be a non-empty string", o.Name, k))
			}
		}
	}
	if v, ok := p["port"]; ok {
		var n int64
		var err error
		switch x := v.(type) {
		case json.Number:
			n, err = x.Int64()
		case string:
			n, err = strconv.ParseInt(x, 10, 64)
			p["port"] = json.Number(x)
		default:
			err = fmt.Errorf("not a number")
		}
		if err != nil || n < 0 || n > 65535 {
			return refuse(fmt.Sprintf("Server '%s': invalid value for parameter 'port': %v (want a number from 0 to 65535)", o.Name, v))
		}
	}
	return nil
}

// statusBits maps the values of ?state= to the state bits they name
// (case-insensitive). The seed lists master, slave, maintenance, running,
// synced, ndb and stale; MaxScale 6 also accepts maint and drain.
var statusBits = map[string]string{
	"master":      "Master",
	"slave":       "Slave",
	"maintenance": "Maintenance",
	"maint":       "Maintenance",
	"running":     "Running",
	"synced":      "Synced",
	"ndb":         "NDB",
	"stale":       "Stale Status",
	"drain":       "Drained",
}

// statusOrder is the order MaxScale's state string lists the bits in
// (server/core/target.cc): maintenance and drain first, roles, then
// Running or Down last.
var statusOrder = []string{"Maintenance", "Drained", "Master", "Slave", "Synced", "NDB", "Stale Status", "Running"}

// stateString joins a server's bits as MaxScale does, e.g.
// "Maintenance, Running"; a server without Running is Down. As in
// MaxScale's status_to_string, Maintenance hides Drained (draining has no
// effect on a server in maintenance) and Master hides Slave (a master is
// no slave).
func stateString(bits []string) string {
	have := map[string]bool{}
	for _, b := range bits {
		have[b] = true
	}
	if have["Maintenance"] {
		delete(have, "Drained")
	}
	if have["Master"] {
		delete(have, "Slave")
	}
	var out []string
	for _, b := range statusOrder {
		if have[b] {
			out = append(out, b)
		}
	}
	if !have["Running"] {
		out = append(out, "Down")
	}
	return strings.Join(out, ", ")
}

// setState serves PUT /v1/servers/:name/set and /clear ?state=...; the
// request has no body.
func (a *API) setState(set bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := mux.Vars(r)["name"]
		if !a.exists(w, KindServer, name) {
			return
		}
		bit, ok := statusBits[strings.ToLower(r.URL.Query().Get("state"))]
		if !ok {
			fail(w, refuse("Invalid or missing value for the `state` parameter"))
			return
		}
		a.write(w, r, func(t *txn) error {
			o, err := t.mustGet(KindServer, name)
			if err != nil {
				return err
			}
			bits := without(o.Status, bit)
			if set {
				bits = append(bits, bit)
			}
			o.Status = bits
			t.touch(o)
			return nil
		})
	}
}
