package maxscale

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
)

// Listeners are recorded as MaxScale records them (a service, a port and
// address or a socket, a protocol, TLS settings), with MaxScale's rules,
// but Cairn routes no SQL: nothing listens on that port. Their state says
// so: "Stopped", never "Running", and starting one is refused.

// listenerState is the state every listener reads: Cairn does not open
// the socket.
const listenerState = "Stopped"

// newListener fills a listener being created under service svc.
func newListener(o *object, attrs inAttributes, svc string) error {
	for k, v := range attrs.Parameters {
		if v != nil {
			o.Parameters[k] = v
		}
	}
	o.Service = svc
	return checkListenerParameters(o, nil)
}

// checkListenerParameters checks a listener's parameters (keys: those a
// PATCH changes; nil: all) as MaxScale's listener.cc does: a port or a
// socket, not both; a socket is an absolute path; a known protocol.
func checkListenerParameters(o *object, keys []string) error {
	who := fmt.Sprintf("Listener '%s'", o.Name)
	if err := checkParams(who, o.Parameters, keys, listenerParams); err != nil {
		return err
	}
	port, _ := integer(o.Parameters["port"])
	socket, _ := o.Parameters["socket"].(string)
	switch {
	case port > 0 && socket != "":
		return refuse(fmt.Sprintf("Creation of listener '%s' failed because both 'socket' and 'port' are defined. Only one of them is allowed.", o.Name))
	case port == 0 && socket == "":
		return refuse(fmt.Sprintf("Listener '%s' is missing the port or socket parameter.", o.Name))
	case socket != "" && !strings.HasPrefix(socket, "/"):
		return refuse(fmt.Sprintf("Invalid path given for listener '%s' for parameter 'socket': %s", o.Name, socket))
	case port > 65535:
		return refuse(fmt.Sprintf("%s: Invalid value for parameter 'port': %d (want a number from 1 to 65535)", who, port))
	}
	if a, ok := o.Parameters["address"].(string); ok && a != "" && !validHost(a) {
		return refuse(fmt.Sprintf("%s: The 'address' parameter is not a valid IP or hostname", who))
	}
	if p, ok := o.Parameters["protocol"].(string); ok && findModule("Protocol", p) == nil {
		return refuse(fmt.Sprintf("%s: Unknown protocol module '%s'", who, p))
	}
	return nil
}

// listenAddr is the address a listener binds: its address, "::" (every
// interface) by default.
func listenAddr(o *object) string {
	if a, ok := o.Parameters["address"].(string); ok && a != "" {
		return a
	}
	return "::"
}

func allInterfaces(a string) bool { return a == "::" || a == "0.0.0.0" }

// listenerEndpoint is the value of the listeners' unique index: the
// socket, or the address and port.
func listenerEndpoint(o *object) string {
	if s, ok := o.Parameters["socket"].(string); ok && s != "" {
		return "socket|" + s
	}
	port, _ := integer(o.Parameters["port"])
	return strings.ToLower(listenAddr(o)) + "|" + strconv.FormatInt(port, 10)
}

// checkListenerClash refuses a listener on the socket of another, or on
// the port of another on the same address (an address of every
// interface clashes with any), with MaxScale's messages
// (ListenerManager::listener_is_duplicate). The unique index on the
// endpoint refuses an exact clash that races.
func checkListenerClash(t *txn, o *object) error {
	items, _ := t.view.List(KindListener, "", "", 0)
	socket, _ := o.Parameters["socket"].(string)
	port, _ := integer(o.Parameters["port"])
	addr := listenAddr(o)
	for _, it := range items {
		if it.ID == o.id {
			continue
		}
		other, err := decodeObject(it)
		if err != nil || t.deleted[key(KindListener, it.ID)] {
			continue
		}
		oSocket, _ := other.Parameters["socket"].(string)
		oPort, _ := integer(other.Parameters["port"])
		oAddr := listenAddr(other)
		switch {
		case socket != "" && socket == oSocket:
			return refuse(fmt.Sprintf("Listener '%s' already listens on '%s'", other.Name, socket))
		case socket == "" && oSocket == "" && port == oPort && (strings.EqualFold(addr, oAddr) || allInterfaces(addr) || allInterfaces(oAddr)):
			return refuse(fmt.Sprintf("Listener '%s' already listens at [%s]:%d", other.Name, addr, port))
		}
	}
	return nil
}

// serviceListeners serves GET /v1/services/:name/listeners: the
// service's listeners; 404 for an unknown service.
func (a *API) serviceListeners(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	t := newTxn(a.node.View())
	svc, err := t.mustGet(KindService, name)
	var data []*resourceObject
	var ls []*object
	if err == nil {
		data, err = a.renderAll(t, r, svc, "listeners")
	}
	if err == nil {
		ls, err = related(t, svc, "listeners")
	}
	if err != nil {
		fail(w, err)
		return
	}
	a.writeCollection(w, r, baseURL(r)+"/services/"+pathName(svc.Name)+"/listeners/", data, lastModifiedOf(append(ls, svc)...))
}

// serviceListener serves GET /v1/services/:name/listeners/:listener: 404
// unless the listener is the service's.
func (a *API) serviceListener(w http.ResponseWriter, r *http.Request) {
	vars := mux.Vars(r)
	t := newTxn(a.node.View())
	svc, err := t.mustGet(KindService, vars["name"])
	var l *object
	if err == nil {
		l, err = t.mustGet(KindListener, vars["listener"])
	}
	if err == nil && l.Service != svc.id {
		err = errNotFound
	}
	var ro *resourceObject
	if err == nil {
		ro, err = render(t, baseURL(r), l)
	}
	if err != nil {
		fail(w, err)
		return
	}
	a.writeOne(w, r, ro, l)
}

// destroyServiceListener serves DELETE /v1/services/:name/listeners/:listener.
func (a *API) destroyServiceListener(w http.ResponseWriter, r *http.Request) {
	vars := mux.Vars(r)
	v := a.node.View()
	l := v.Get(KindListener, canon(vars["listener"]))
	if v.Get(KindService, canon(vars["name"])) == nil || l == nil {
		fail(w, errNotFound)
		return
	}
	if o, err := decodeObject(l); err != nil || o.Service != canon(vars["name"]) {
		fail(w, errNotFound)
		return
	}
	a.destroy(KindListener).ServeHTTP(w, r)
}

// startListener serves PUT /v1/listeners/:name/start: refused, as Cairn
// cannot open a listener's socket; stop is accepted (it never runs).
func (a *API) startListener(w http.ResponseWriter, r *http.Request) {
	if !a.exists(w, KindListener, mux.Vars(r)["name"]) {
		return
	}
	fail(w, refuse("Listener '"+mux.Vars(r)["name"]+"' cannot be started: Cairn records listeners but routes no SQL, so nothing listens"))
}

func (a *API) stopListener(w http.ResponseWriter, r *http.Request) {
	if !a.exists(w, KindListener, mux.Vars(r)["name"]) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
