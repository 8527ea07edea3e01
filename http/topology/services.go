package topology

import (
	"encoding/json"
	"net/http"
	"strconv"

	"cairn/fsm"
	"cairn/node/pki"

	"github.com/gorilla/mux"
)

// serviceIn is a service as a client sends it; pointers tell a field left
// out from a zero.
type serviceIn struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Type           string            `json:"type"`
	Scheme         string            `json:"scheme"`
	HostID         string            `json:"hostID"`
	ManagementPort *int              `json:"managementPort"`
	Tags           map[string]string `json:"tags"`
	Enabled        *bool             `json:"enabled"`
}

// serviceRequest is POST /services/{groupID}'s body as the seed gives it:
// {"service": {...}, "domainPassphrase": "..."}. A bare service (the
// Javadoc's form) is taken too.
type serviceRequest struct {
	Service          *serviceIn `json:"service"`
	DomainPassphrase string     `json:"domainPassphrase"`
}

// readService reads a service body, wrapped in "service" or bare.
func readService(r *http.Request) (serviceIn, string, error) {
	var raw json.RawMessage
	if err := readJSON(r, "service", &raw); err != nil {
		return serviceIn{}, "", err
	}
	var req serviceRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return serviceIn{}, "", badRequest("Invalid service: %v", err)
	}
	if req.Service != nil {
		return *req.Service, req.DomainPassphrase, nil
	}
	var s serviceIn
	if err := json.Unmarshal(raw, &s); err != nil {
		return serviceIn{}, "", badRequest("Invalid service: %v", err)
	}
	return s, req.DomainPassphrase, nil
}

// createParams are POST /services/{groupID}'s query parameters, parsed
// and checked once.
type createParams struct {
	servicesPort     int
	signAlg          string
	keyPassphrase    string
	domainPassphrase string
	// passphrase is the group's entity store passphrase; Cairn writes no
	// entity store (certs.xml), so it is taken and not used.
	passphrase string
}

// Defaults of the seed.
const (
	defaultServicesPort = 8080
	defaultSignAlg      = "sha1"
)

func parseCreateParams(r *http.Request) (createParams, error) {
	q := r.URL.Query()
	p := createParams{servicesPort: defaultServicesPort, signAlg: defaultSignAlg,
		keyPassphrase: q.Get("keyPassphrase"), domainPassphrase: q.Get("domainPassphrase"), passphrase: q.Get("passphrase")}
	if s := q.Get("servicesPort"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 65535 {
			return p, badRequest("Invalid service data: servicesPort %q is not a port (1-65535)", s)
		}
		p.servicesPort = n
	}
	if s := q.Get("signAlg"); s != "" {
		p.signAlg = s
	}
	if _, ok := pki.SignatureAlgorithm(p.signAlg); !ok {
		return p, badRequest("Invalid service data: unknown signAlg %q (sha1, sha256, sha384 or sha512)", p.signAlg)
	}
	return p, nil
}

// checkServiceData refuses a service whose fields are missing or out of
// range ("invalid data"), after its name (illegal characters).
func checkServiceData(s serviceIn) error {
	if err := checkName("service", s.Name); err != nil {
		return err
	}
	switch s.Type {
	case TypeGateway, TypeNodeManager:
	default:
		return badRequest("Invalid service data: type %q is neither %q nor %q", s.Type, TypeGateway, TypeNodeManager)
	}
	switch s.Scheme {
	case "http", "https":
	default:
		return badRequest("Invalid service data: scheme %q is neither http nor https", s.Scheme)
	}
	if s.HostID == "" {
		return badRequest("Invalid service data: hostID is required")
	}
	if s.ManagementPort == nil || *s.ManagementPort < 1 || *s.ManagementPort > 65535 {
		return badRequest("Invalid service data: managementPort is required and must be a port (1-65535)")
	}
	return nil
}

// portHolder is the service holding port on hostID as its management
// port, or "".
func portHolder(v *fsm.View, hostID string, port int) string {
	r := v.Get(KindPort, portID(hostID, port))
	if r == nil {
		return ""
	}
	var c portClaim
	_ = decode(r, &c)
	return c.ServiceID
}

// groupType is the type of the services already in g, or "".
func groupType(v *fsm.View, g *group, except string) (string, error) {
	for _, id := range g.Services {
		if id == except {
			continue
		}
		s, _, err := serviceOf(v, id)
		if err != nil {
			return "", err
		}
		if s != nil {
			return s.Type, nil
		}
	}
	return "", nil
}

// placement is the group and host a new service goes in, as read: their
// versions become the write's preconditions.
type placement struct {
	group *group
	gres  *fsm.Resource
	host  *host
	hres  *fsm.Resource
}

// checkCreate applies the seed's 400 rules of POST /services/{groupID}
// to s against v, and returns the group and host it goes in.
func checkCreate(v *fsm.View, groupID string, s serviceIn, p createParams) (placement, error) {
	if err := checkServiceData(s); err != nil {
		return placement{}, err
	}
	g, gres, err := groupOf(v, groupID)
	if err != nil {
		return placement{}, err
	}
	if g == nil {
		return placement{}, badRequest("Group %s does not exist", groupID)
	}
	h, hres, err := hostOf(v, s.HostID)
	if err != nil {
		return placement{}, err
	}
	if h == nil {
		return placement{}, badRequest("Host %s is not registered", s.HostID)
	}
	if byName(v, KindService, s.Name) != nil {
		return placement{}, badRequest("Service %s already exists", s.Name)
	}
	port := *s.ManagementPort
	if s.Type == TypeGateway && port == p.servicesPort {
		return placement{}, badRequest("The management port and the services port of service %s are both %d: they must differ", s.Name, port)
	}
	if holder := portHolder(v, s.HostID, port); holder != "" {
		return placement{}, badRequest("Management port %d is already used by service %s on host %s", port, holder, s.HostID)
	}
	if s.Type == TypeGateway {
		if holder := portHolder(v, s.HostID, p.servicesPort); holder != "" {
			return placement{}, badRequest("Services port %d is the management port of service %s on host %s", p.servicesPort, holder, s.HostID)
		}
	}
	t, err := groupType(v, g, "")
	if err != nil {
		return placement{}, err
	}
	if t != "" && t != s.Type {
		return placement{}, badRequest("Service type %s differs from the type %s of the other processes in group %s", s.Type, t, groupID)
	}
	return placement{group: g, gres: gres, host: h, hres: hres}, nil
}

func (a *api) createService(w http.ResponseWriter, r *http.Request) {
	groupID := mux.Vars(r)["groupID"]
	p, err := parseCreateParams(r)
	if err != nil {
		fail(w, err)
		return
	}
	in, bodyPassphrase, err := readService(r)
	if err != nil {
		fail(w, err)
		return
	}
	if p.domainPassphrase == "" {
		p.domainPassphrase = bodyPassphrase
	}
	if in.Scheme == "" {
		in.Scheme = "https"
	}
	if in.Tags == nil {
		in.Tags = map[string]string{}
	}
	enabled := true
	if in.Enabled != nil {
		enabled = *in.Enabled
	}
	// Checked first against the current state, so a refused request
	// takes no id and writes no file; checked again in every attempt
	// of the write, whose command carries what it read as preconditions.
	pl, err := checkCreate(a.Node.View(), groupID, in, p)
	if err != nil {
		fail(w, err)
		return
	}
	prefix := "instance"
	var caIndex uint64
	if in.Type == TypeNodeManager {
		prefix = "nodemanager"
	} else if caIndex, err = a.ensureCA(r.Context(), p.domainPassphrase); err != nil {
		fail(w, err) // a wrong domain passphrase is refused before an id is taken
		return
	}
	id, err := a.allocate(r.Context(), prefix)
	if err != nil {
		fail(w, err)
		return
	}
	s := service{Service: Service{ID: id, Name: in.Name, Type: in.Type, Scheme: in.Scheme, HostID: in.HostID,
		ManagementPort: *in.ManagementPort, Tags: in.Tags, Enabled: enabled}, GroupID: groupID}
	hostName := pl.host.Name // the node the files go to
	if in.Type == TypeGateway {
		s.ServicesPort = p.servicesPort
		// The files first: an instance the topology lists has them.
		if err := a.writeInstance(r.Context(), hostName, s, p, caIndex); err != nil {
			fail(w, err)
			return
		}
	}
	index, _, err := a.write(r.Context(), func(v *fsm.View) (fsm.Command, error) {
		pl, err := checkCreate(v, groupID, in, p)
		if err != nil {
			return fsm.Command{}, err
		}
		if s.Type == TypeGateway && pl.host.Name != hostName {
			return fsm.Command{}, newError(errUnavailable, "host %s was renamed from %s to %s while the instance's files were written there; retry", s.HostID, hostName, pl.host.Name)
		}
		g, h := pl.group, pl.host
		g.Services = append(g.Services, id)
		h.Services = append(h.Services, id)
		ops := []fsm.Op{
			{Type: fsm.OpPut, Kind: KindService, ID: id, Body: mustJSON(s), Require: fsm.RequireAbsent},
			{Type: fsm.OpPut, Kind: KindPort, ID: portID(s.HostID, s.ManagementPort), Body: mustJSON(portClaim{ServiceID: id}), Require: fsm.RequireAbsent},
			{Type: fsm.OpPut, Kind: KindGroup, ID: groupID, Body: mustJSON(g), Require: fsm.RequireVersion, Version: pl.gres.Version},
			{Type: fsm.OpPut, Kind: KindHost, ID: s.HostID, Body: mustJSON(h), Require: fsm.RequireVersion, Version: pl.hres.Version},
		}
		if s.Type == TypeGateway {
			ops = append(ops, fsm.Op{Type: fsm.OpCheck, Kind: KindPort, ID: portID(s.HostID, s.ServicesPort), Require: fsm.RequireAbsent})
		}
		return fsm.Command{Ops: ops}, nil
	})
	if err != nil {
		if in.Type == TypeGateway {
			if notApplied(err) {
				a.removeFiles(r.Context(), s, hostName)
			} else {
				// The instance may yet be in the topology (the outcome
				// is unknown): its files stay with it.
				a.log.Warn("the outcome of adding an API Gateway instance is unknown; its files are kept", "instance", s.ID, "host", s.HostID, "err", err)
			}
		}
		fail(w, err)
		return
	}
	setIndex(w, index)
	writeResult(w, http.StatusCreated, s.Service)
}

// serviceInGroup reads the service the path names, 404 when the group or the
// service in it does not exist.
func serviceInGroup(v *fsm.View, groupID, serviceID string) (*service, *fsm.Resource, error) {
	g, _, err := groupOf(v, groupID)
	if err != nil {
		return nil, nil, err
	}
	if g == nil {
		return nil, nil, notFound("Group %s does not exist", groupID)
	}
	s, res, err := serviceOf(v, serviceID)
	if err != nil {
		return nil, nil, err
	}
	if s == nil || s.GroupID != groupID {
		return nil, nil, notFound("Service %s does not exist in group %s", serviceID, groupID)
	}
	return s, res, nil
}

func (a *api) listServices(w http.ResponseWriter, r *http.Request) {
	v := a.Node.View()
	groupID := mux.Vars(r)["groupID"]
	g, _, err := groupOf(v, groupID)
	if err == nil && g == nil {
		err = notFound("Group %s does not exist", groupID)
	}
	if err != nil {
		fail(w, err)
		return
	}
	out, err := servicesOf(v, g)
	if err != nil {
		fail(w, err)
		return
	}
	viewIndex(w, v)
	writeResult(w, http.StatusOK, out)
}

func (a *api) getService(w http.ResponseWriter, r *http.Request) {
	v := a.Node.View()
	vars := mux.Vars(r)
	s, _, err := serviceInGroup(v, vars["groupID"], vars["serviceID"])
	if err != nil {
		fail(w, err)
		return
	}
	viewIndex(w, v)
	writeResult(w, http.StatusOK, s.Service)
}

// serviceIDByName answers GET /services/id/{groupID}?serviceName=:
// {"result":"instance-N"}.
func (a *api) serviceIDByName(w http.ResponseWriter, r *http.Request) {
	groupID := mux.Vars(r)["groupID"]
	name := r.URL.Query().Get("serviceName")
	if name == "" {
		fail(w, badRequest("Invalid request: the serviceName parameter is required"))
		return
	}
	v := a.Node.View()
	g, _, err := groupOf(v, groupID)
	if err == nil && g == nil {
		err = notFound("Group %s does not exist", groupID)
	}
	if err != nil {
		fail(w, err)
		return
	}
	res := byName(v, KindService, name)
	if res == nil {
		fail(w, notFound("Service %s does not exist in group %s", name, groupID))
		return
	}
	s, _, err := serviceOf(v, res.ID)
	if err == nil && s.GroupID != groupID {
		err = notFound("Service %s does not exist in group %s", name, groupID)
	}
	if err != nil {
		fail(w, err)
		return
	}
	viewIndex(w, v)
	writeResult(w, http.StatusOK, res.ID)
}

func (a *api) updateService(w http.ResponseWriter, r *http.Request) {
	groupID := mux.Vars(r)["groupID"]
	in, _, err := readService(r)
	if err != nil {
		fail(w, err)
		return
	}
	if in.ID == "" {
		fail(w, badRequest("Invalid service data: the id is required"))
		return
	}
	var out Service
	index, _, err := a.write(r.Context(), func(v *fsm.View) (fsm.Command, error) {
		s, res, err := serviceInGroup(v, groupID, in.ID)
		if err != nil {
			return fsm.Command{}, err
		}
		if in.Type != "" && in.Type != s.Type {
			return fsm.Command{}, badRequest("The type of service %s cannot change (from %s to %s)", s.ID, s.Type, in.Type)
		}
		if in.HostID != "" && in.HostID != s.HostID {
			return fsm.Command{}, badRequest("The host of service %s cannot change (from %s to %s)", s.ID, s.HostID, in.HostID)
		}
		next := *s
		if in.Name != "" {
			next.Name = in.Name
		}
		if err := checkName("service", next.Name); err != nil {
			return fsm.Command{}, err
		}
		if other := byName(v, KindService, next.Name); other != nil && other.ID != s.ID {
			return fsm.Command{}, badRequest("Service %s already exists", next.Name)
		}
		if in.Scheme != "" {
			if in.Scheme != "http" && in.Scheme != "https" {
				return fsm.Command{}, badRequest("Invalid service data: scheme %q is neither http nor https", in.Scheme)
			}
			next.Scheme = in.Scheme
		}
		if in.Tags != nil {
			next.Tags = in.Tags
		}
		if in.Enabled != nil {
			next.Enabled = *in.Enabled
		}
		ops := []fsm.Op{{Type: fsm.OpPut, Kind: KindService, ID: s.ID, Require: fsm.RequireVersion, Version: res.Version}}
		if in.ManagementPort != nil && *in.ManagementPort != s.ManagementPort {
			port := *in.ManagementPort
			if port < 1 || port > 65535 {
				return fsm.Command{}, badRequest("Invalid service data: managementPort must be a port (1-65535)")
			}
			if s.Type == TypeGateway && port == s.ServicesPort {
				return fsm.Command{}, badRequest("The management port and the services port of service %s are both %d: they must differ", s.Name, port)
			}
			if holder := portHolder(v, s.HostID, port); holder != "" {
				return fsm.Command{}, badRequest("Management port %d is already used by service %s on host %s", port, holder, s.HostID)
			}
			next.ManagementPort = port
			ops = append(ops,
				fsm.Op{Type: fsm.OpDelete, Kind: KindPort, ID: portID(s.HostID, s.ManagementPort)},
				fsm.Op{Type: fsm.OpPut, Kind: KindPort, ID: portID(s.HostID, port), Body: mustJSON(portClaim{ServiceID: s.ID}), Require: fsm.RequireAbsent})
		}
		ops[0].Body = mustJSON(next)
		out = next.Service
		return fsm.Command{Ops: ops}, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	setIndex(w, index)
	writeResult(w, http.StatusOK, out)
}

func (a *api) deleteService(w http.ResponseWriter, r *http.Request) {
	vars := mux.Vars(r)
	groupID, serviceID := vars["groupID"], vars["serviceID"]
	var gone service
	var goneHost string
	index, _, err := a.write(r.Context(), func(v *fsm.View) (fsm.Command, error) {
		s, res, err := serviceInGroup(v, groupID, serviceID)
		if err != nil {
			return fsm.Command{}, err
		}
		gone = *s
		ops := []fsm.Op{
			{Type: fsm.OpDelete, Kind: KindService, ID: s.ID, Require: fsm.RequireVersion, Version: res.Version},
			{Type: fsm.OpDelete, Kind: KindPort, ID: portID(s.HostID, s.ManagementPort)},
		}
		g, gres, err := groupOf(v, groupID)
		if err != nil {
			return fsm.Command{}, err
		}
		g.Services = without(g.Services, s.ID)
		ops = append(ops, fsm.Op{Type: fsm.OpPut, Kind: KindGroup, ID: groupID, Body: mustJSON(g), Require: fsm.RequireVersion, Version: gres.Version})
		h, hres, err := hostOf(v, s.HostID)
		if err != nil {
			return fsm.Command{}, err
		}
		goneHost = ""
		if h != nil {
			goneHost = h.Name
			h.Services = without(h.Services, s.ID)
			ops = append(ops, fsm.Op{Type: fsm.OpPut, Kind: KindHost, ID: h.ID, Body: mustJSON(h), Require: fsm.RequireVersion, Version: hres.Version})
		}
		return fsm.Command{Ops: ops}, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	if r.URL.Query().Get("deleteDiskInstance") != "false" {
		a.removeFiles(r.Context(), gone, goneHost)
	}
	setIndex(w, index)
	w.WriteHeader(http.StatusNoContent)
}
