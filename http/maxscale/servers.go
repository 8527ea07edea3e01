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
	return checkServerParameters(o, nil)
}

// checkServerParameters validates a server's parameters (keys: those a
// PATCH changes; nil: all) as MaxScale 6.4 does: each one known and of its
// type, an address or a socket but not both, the address an IP or a
// hostname.
func checkServerParameters(o *object, keys []string) error {
	who := fmt.Sprintf("Server '%s'", o.Name)
	if err := checkParams(who, o.Parameters, keys, serverParams); err != nil {
		return err
	}
	p := o.Parameters
	addr, hasAddr := p["address"].(string)
	_, hasSocket := p["socket"]
	if hasAddr && hasSocket {
		return refuse(fmt.Sprintf("Server '%s': both 'address' and 'socket' are defined; define one of them", o.Name))
	}
	if !hasAddr && !hasSocket {
		return refuse(fmt.Sprintf("Server '%s': Missing a required parameter: either 'address' or 'socket' must be defined", o.Name))
	}
	for _, k := range []string{"address", "socket", "protocol"} {
		if s, ok := p[k].(string); ok && s == "" {
			return refuse(fmt.Sprintf("Server '%s': parameter '%s' must be a non-empty string", o.Name, k))
		}
	}
	if hasAddr && !validHost(addr) {
		return refuse(fmt.Sprintf("Server '%s': The 'address' parameter is not a valid IP or hostname (a Unix socket path goes in 'socket')", o.Name))
	}
	if n, ok := integer(p["port"]); ok && n > 65535 {
		return refuse(fmt.Sprintf("Server '%s': Invalid value for parameter 'port': %d (want a number from 0 to 65535)", o.Name, n))
	}
	if proto, ok := p["protocol"].(string); ok && findModule("Protocol", proto) == nil {
		return refuse(fmt.Sprintf("Server '%s': Unknown protocol module '%s'", o.Name, proto))
	}
	return nil
}

// endpointOf is where a server is reached ("address|port", or
// "socket|path"), the value of the unique index that keeps two servers
// off one address and port even when two creates race.
func endpointOf(o *object) string {
	if s, ok := o.Parameters["socket"].(string); ok {
		return "socket|" + s
	}
	addr, _ := o.Parameters["address"].(string)
	port := "3306"
	if n, ok := integer(o.Parameters["port"]); ok {
		port = strconv.FormatInt(n, 10)
	}
	return strings.ToLower(addr) + "|" + port
}

// checkEndpoint refuses a server at the address and port (or socket) of
// another, with MaxScale's messages for a create and an update.
func checkEndpoint(t *txn, o *object, creating bool) error {
	ep := endpointOf(o)
	items, _ := t.view.List(KindServer, "", "", 0)
	for _, it := range items {
		if it.ID == o.id {
			continue
		}
		// Read without a precondition: the unique index on the endpoint
		// refuses a concurrent clash, and other servers' writes need not
		// conflict with this one.
		other, err := decodeObject(it)
		if cached, ok := t.objs[key(KindServer, it.ID)]; ok {
			other = cached
		}
		if err != nil || other == nil || t.deleted[key(other.kind, other.id)] {
			continue
		}
		if endpointOf(other) == ep {
			where := strings.ReplaceAll(ep, "|", "]:")
			if strings.HasPrefix(ep, "socket|") {
				where = strings.TrimPrefix(ep, "socket|")
			} else {
				where = "[" + where
			}
			if creating {
				return refuse(fmt.Sprintf("Cannot create server '%s' at '%s', server '%s' exists there already.", o.Name, where, other.Name))
			}
			return refuse(fmt.Sprintf("Cannot update server '%s' to '%s', server '%s' exists there already.", o.Name, where, other.Name))
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
			if err := checkWrite(t, r, o); err != nil {
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
