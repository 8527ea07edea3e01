package arm

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"

	"cairn/fsm"
	"cairn/node/workload"
)

// ArtifactView is an application's file.
type ArtifactView struct {
	Name         string `json:"name"`
	FileName     string `json:"fileName"`
	FileChecksum string `json:"fileChecksum"`
	FileSize     int64  `json:"fileSize"`
	TimeUpdated  int64  `json:"timeUpdated"`
}

// TargetView is an application's target.
type TargetView struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Status string `json:"status,omitempty"`
}

// ServerArtifact is an application on one server.
type ServerArtifact struct {
	ID                 int64  `json:"id"`
	ServerID           int64  `json:"serverId"`
	DesiredStatus      string `json:"desiredStatus"`
	LastReportedStatus string `json:"lastReportedStatus"`
	Message            string `json:"message,omitempty"`
	Artifact           struct {
		Name     string `json:"name"`
		FileName string `json:"fileName"`
	} `json:"artifact"`
}

// Application is an application as the API shows it.
type Application struct {
	ID                 int64            `json:"id"`
	Name               string           `json:"name"`
	TimeCreated        int64            `json:"timeCreated"`
	TimeUpdated        int64            `json:"timeUpdated"`
	Artifact           ArtifactView     `json:"artifact"`
	Target             TargetView       `json:"target"`
	DesiredStatus      string           `json:"desiredStatus"`
	LastReportedStatus string           `json:"lastReportedStatus"`
	Message            string           `json:"message,omitempty"`
	ServerArtifacts    []ServerArtifact `json:"serverArtifacts"`
	Configuration      json.RawMessage  `json:"configuration,omitempty"`
}

func applicationView(v *fsm.View, app *application, res *fsm.Resource, alive members) Application {
	out := Application{ID: app.ID, Name: app.Name, TimeCreated: millis(res.Created), TimeUpdated: millis(res.Updated),
		Artifact: ArtifactView{Name: app.Name, FileName: app.FileName, FileChecksum: app.SHA1, FileSize: app.Size,
			TimeUpdated: millis(app.FileUpdated)},
		Target:        TargetView{ID: app.TargetID},
		DesiredStatus: app.Desired, ServerArtifacts: []ServerArtifact{}, Configuration: app.Configuration}
	if t, err := targetOf(v, app.TargetID); err == nil && t != nil {
		out.Target.Name, out.Target.Type = t.Name, t.Type
		out.Target.Status = setStatus(membersView(v, t.Servers, alive))
	}
	var statuses, messages []string
	for _, sid := range app.Servers {
		s, _, err := get[server](v, KindServer, sid)
		if err != nil || s == nil {
			continue
		}
		st, msg := artifactStatus(v, app, s, alive)
		sa := ServerArtifact{ID: sid, ServerID: sid, DesiredStatus: app.Desired, LastReportedStatus: st, Message: msg}
		sa.Artifact.Name, sa.Artifact.FileName = app.Name, app.FileName
		out.ServerArtifacts = append(out.ServerArtifacts, sa)
		statuses, messages = append(statuses, st), append(messages, msg)
	}
	out.LastReportedStatus, out.Message = aggregate(app.Desired, statuses, messages)
	return out
}

// listApplications is GET /applications[?targetId=N].
func (a *api) listApplications(w http.ResponseWriter, r *http.Request) {
	v := a.Node.View()
	var items []item[application]
	if t := r.URL.Query().Get("targetId"); t != "" {
		rs, _ := v.Lookup(KindApplication, "target", t)
		for _, res := range rs {
			app, ares, err := get[application](v, KindApplication, parseKey(res.ID))
			if err == nil && app != nil {
				items = append(items, item[application]{app, ares})
			}
		}
	} else {
		var err error
		if items, err = all[application](v, KindApplication); err != nil {
			fail(w, err)
			return
		}
	}
	alive := a.alive()
	out := make([]Application, 0, len(items))
	for _, it := range items {
		out = append(out, applicationView(v, it.body, it.res, alive))
	}
	writeData(w, http.StatusOK, 0, out)
}

func (a *api) getApplication(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "application")
	if err != nil {
		fail(w, err)
		return
	}
	a.answerApplication(w, http.StatusOK, 0, id)
}

func (a *api) answerApplication(w http.ResponseWriter, status int, index uint64, id int64) {
	v := a.Node.View()
	app, res, err := existing[application](v, KindApplication, id, "application")
	if err != nil {
		fail(w, err)
		return
	}
	writeData(w, status, index, applicationView(v, app, res, a.alive()))
}

// applicationArtifact is GET /applications/{id}/artifact: the
// application's file, streamed from this node's store.
func (a *api) applicationArtifact(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "application")
	if err != nil {
		fail(w, err)
		return
	}
	v := a.Node.View()
	app, _, err := existing[application](v, KindApplication, id, "application")
	if err == nil && v.Get(workload.KindArtifact, app.SHA1) == nil {
		err = notFound("the file of application %d is no longer stored", id)
	}
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(app.Size, 10))
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": app.FileName}))
	if r.Method == http.MethodHead {
		return
	}
	// Headers are gone once the first byte is: a broken artifact (the
	// chunks are checked at upload) ends the body short.
	_ = workload.WriteArtifact(v, app.SHA1, w)
}

// upload is a multipart request's parts: the file spooled to disk (with
// its SHA-1 and size) and the other fields.
type upload struct {
	fields   map[string]string
	spool    *os.File
	fileName string
	sha1     string
	size     int64
}

func (u *upload) close() {
	if u.spool != nil {
		u.spool.Close()
		os.Remove(u.spool.Name())
	}
}

// maxFieldBytes bounds a multipart field other than the file.
const maxFieldBytes = 1 << 20

// isMultipart reports whether r carries multipart/form-data.
func isMultipart(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "multipart/form-data"
}

// readUpload reads a multipart/form-data body: the part "file" (spooled,
// at most limit bytes) and every other part as a field.
func readUpload(r *http.Request, limit int64) (*upload, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badRequest("the body must be multipart/form-data (file, artifactName, targetId): %v", err)
	}
	u := &upload{fields: map[string]string{}}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return u, nil
		}
		if err != nil {
			u.close()
			return nil, badRequest("reading the multipart body: %v", err)
		}
		name := p.FormName()
		if name == "file" {
			if u.spool != nil {
				u.close()
				return nil, badRequest("more than one file part")
			}
			if u.spool, err = os.CreateTemp("", "cairn-arm-app-*"); err != nil {
				return nil, err
			}
			u.fileName = p.FileName()
			h := sha1.New()
			n, err := io.Copy(io.MultiWriter(u.spool, h), io.LimitReader(p, limit+1))
			var tooLarge *http.MaxBytesError
			switch {
			case errors.As(err, &tooLarge) || n > limit:
				u.close()
				return nil, newError(errTooLarge, "the file is over the limit of %d bytes", limit)
			case err != nil:
				u.close()
				return nil, badRequest("reading the file: %v", err)
			}
			u.sha1, u.size = hex.EncodeToString(h.Sum(nil)), n
			continue
		}
		b, err := io.ReadAll(io.LimitReader(p, maxFieldBytes+1))
		if err != nil || len(b) > maxFieldBytes {
			u.close()
			return nil, badRequest("field %q is unreadable or over %d bytes", name, maxFieldBytes)
		}
		u.fields[name] = string(b)
	}
}

// storeFile writes the upload's file as an artifact (if the store does
// not hold it yet), through Raft.
func (a *api) storeFile(r *http.Request, u *upload) error {
	if a.Node.View().Get(workload.KindArtifact, u.sha1) != nil {
		return nil
	}
	if _, err := u.spool.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return workload.StoreArtifact(u.spool, u.sha1, u.size, func(ops ...fsm.Op) error {
		_, _, err := a.Node.Apply(r.Context(), fsm.Command{Ops: ops, Time: a.now()})
		return err
	})
}

// maxConfigurationBytes bounds a deployment's configuration: its
// properties go into the instances' environment, which a workload bounds
// at 64 KiB with its command.
const maxConfigurationBytes = 32 << 10

// configuration reads the optional configuration field: a JSON object.
func configuration(u *upload) (json.RawMessage, error) {
	c := strings.TrimSpace(u.fields["configuration"])
	if c == "" {
		return nil, nil
	}
	if len(c) > maxConfigurationBytes {
		return nil, badRequest("configuration is %d bytes; at most %d (its properties reach the instances' environment)", len(c), maxConfigurationBytes)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal([]byte(c), &probe); err != nil {
		return nil, badRequest("configuration must be a JSON object: %v", err)
	}
	return mustJSON(probe), nil
}

// deployable refuses a deploy of name to target targetID that does not
// exist (400) or already has an application of that name (409).
func deployable(v *fsm.View, targetID int64, name string) error {
	t, err := targetOf(v, targetID)
	if err == nil && t == nil {
		err = badRequest("target %d is not a server, server group or cluster", targetID)
	}
	if err != nil {
		return err
	}
	if rs, _ := v.Lookup(KindApplication, "name", nameOnTarget(targetID, name)); len(rs) > 0 {
		return newError(errDuplicate, "an application named %q is already deployed to target %d (application %s): PATCH it to redeploy", name, targetID, rs[0].ID)
	}
	return nil
}

// deployApplication is POST /applications, multipart/form-data: file,
// artifactName, targetId, optional configuration. The file becomes a
// workload on every server of the target; 202 with the application.
func (a *api) deployApplication(w http.ResponseWriter, r *http.Request) {
	u, err := readUpload(r, a.MaxArtifactBytes)
	if err != nil {
		fail(w, err)
		return
	}
	defer u.close()
	name := strings.TrimSpace(u.fields["artifactName"])
	targetID, terr := strconv.ParseInt(strings.TrimSpace(u.fields["targetId"]), 10, 64)
	conf, cerr := configuration(u)
	switch {
	case u.spool == nil:
		err = badRequest("the file part is missing: send the application's file as the multipart part \"file\"")
	case name == "":
		err = badRequest("artifactName is required")
	case checkName("application", name) != nil:
		err = checkName("application", name)
	case terr != nil || targetID <= 0:
		err = badRequest("targetId %q is not the id of a server, server group or cluster", u.fields["targetId"])
	case cerr != nil:
		err = cerr
	}
	if err != nil {
		fail(w, err)
		return
	}
	// Checked again in the write; here first, so that a refused deploy
	// does not store the file.
	if err := deployable(a.Node.View(), targetID, name); err != nil {
		fail(w, err)
		return
	}
	if err := a.storeFile(r, u); err != nil {
		fail(w, err)
		return
	}
	fileName := u.fileName
	if fileName == "" {
		fileName = name + ".zip"
	}
	alive := a.alive()
	var id int64
	index, _, err := a.write(r.Context(), func(v *fsm.View) ([]fsm.Op, error) {
		if err := deployable(v, targetID, name); err != nil {
			return nil, err
		}
		t, err := targetOf(v, targetID)
		if err != nil {
			return nil, err
		}
		n, take, err := takeID(v, "application")
		if err != nil {
			return nil, err
		}
		id = n
		app := &application{ID: n, Name: name, TargetID: targetID, NameOnTarget: nameOnTarget(targetID, name),
			FileName: fileName, SHA1: u.sha1, Size: u.size, FileUpdated: a.now(), Desired: desiredStarted,
			Configuration: conf, Deployment: 1, Servers: sortedInts(t.Servers)}
		if app.Servers == nil {
			app.Servers = []int64{}
		}
		deploy, err := deployOps(v, app, t, alive, true)
		if err != nil {
			return nil, err
		}
		// The target's version is a precondition: a server joining it
		// meanwhile is deployed to by one write or the other.
		ops := []fsm.Op{take, putOp(KindApplication, n, app, nil), holdOp(app),
			{Type: fsm.OpCheck, Kind: t.kind(), ID: t.res.ID, Require: fsm.RequireVersion, Version: t.res.Version}}
		return append(ops, deploy...), nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	a.log.Info(fmt.Sprintf("application %d (%s, file %s) deployed to target %d", id, name, u.sha1, targetID), "application", id, "target", targetID)
	a.answerApplication(w, http.StatusAccepted, index, id)
}

// patchApplication is PATCH /applications/{id}: JSON {"desiredStatus":
// "STARTED"|"STOPPED"} starts or stops it; multipart with a file
// redeploys that file, without one (or an empty body) redeploys the
// current file: either way the instances restart.
func (a *api) patchApplication(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "application")
	if err != nil {
		fail(w, err)
		return
	}
	var desired string
	var u *upload
	if isMultipart(r) {
		if u, err = readUpload(r, a.MaxArtifactBytes); err != nil {
			fail(w, err)
			return
		}
		defer u.close()
	} else if r.ContentLength != 0 {
		var in struct {
			DesiredStatus string `json:"desiredStatus"`
		}
		if err := readBody(r, &in); err != nil {
			fail(w, err)
			return
		}
		switch strings.ToUpper(in.DesiredStatus) {
		case desiredStarted, desiredStopped:
			desired = strings.ToUpper(in.DesiredStatus)
		default:
			fail(w, badRequest("desiredStatus %q: use STARTED or STOPPED (or send a file to redeploy)", in.DesiredStatus))
			return
		}
	}
	var conf json.RawMessage
	if u != nil {
		if conf, err = configuration(u); err != nil {
			fail(w, err)
			return
		}
		if app, _, err := get[application](a.Node.View(), KindApplication, id); err != nil || app == nil {
			if err == nil {
				err = notFound("application %d does not exist", id)
			}
			fail(w, err)
			return
		}
		if u.spool != nil {
			if err := a.storeFile(r, u); err != nil {
				fail(w, err)
				return
			}
		}
	}
	alive := a.alive()
	index, _, err := a.write(r.Context(), func(v *fsm.View) ([]fsm.Op, error) {
		app, res, err := existing[application](v, KindApplication, id, "application")
		if err != nil {
			return nil, err
		}
		fresh := true
		switch {
		case desired != "":
			// A start restarts; a stop, or a start of what runs, keeps
			// the last states (the stop is reported as it happens).
			fresh = desired == desiredStarted && app.Desired != desiredStarted
			app.Desired = desired
		default: // a redeploy, of a new file or the same
			app.Deployment++
			app.Desired = desiredStarted
			if u != nil && u.spool != nil {
				app.SHA1, app.Size, app.FileUpdated = u.sha1, u.size, a.now()
				if u.fileName != "" {
					app.FileName = u.fileName
				}
			}
			if conf != nil {
				app.Configuration = conf
			}
		}
		deploy, err := deployOps(v, app, nil, alive, fresh)
		if err != nil {
			return nil, err
		}
		return append([]fsm.Op{putOp(KindApplication, id, app, res), holdOp(app)}, deploy...), nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	a.answerApplication(w, http.StatusOK, index, id)
}

// deleteApplication is DELETE /applications/{id}: always 204, as the seed
// says; its workloads go in the same command, and every node stops their
// processes.
func (a *api) deleteApplication(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "application")
	if err != nil {
		noContent(w, 0)
		return
	}
	index, _, err := a.write(r.Context(), func(v *fsm.View) ([]fsm.Op, error) {
		app, res, err := get[application](v, KindApplication, id)
		if err != nil || app == nil {
			return nil, err
		}
		ops := []fsm.Op{deleteOp(KindApplication, res), {Type: fsm.OpDelete, Kind: workload.KindArtifactRef, ID: holdID(id)}}
		for _, sid := range app.Servers {
			ops = append(ops, undeployOps(v, id, sid)...)
		}
		return ops, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	noContent(w, index)
}
