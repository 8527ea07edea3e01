package mrf_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"cairn/http/mrf"
)

const toolsProfile = "/management/domain/contributions/profiles/profile/Tools.zip"

func Test_Profiles_InstallListUninstall_AllOrNothing(t *testing.T) {
	f := newFixture(t, newFakeNode("c1", "default", "http://localhost:8180"), nil)

	// A profile with a bad contribution: 420 naming each, nothing installed.
	w := f.send(t, http.MethodPut, "/management/domain/contributions/profiles/profile/bad.zip", mustArchive(t, "profile-bad.zip"), 0)
	var entity map[string][]string
	if w.Code != 420 || json.Unmarshal(w.Body.Bytes(), &entity) != nil || len(entity["extensions/bad.zip"]) == 0 || len(entity["extensions/notes.jar"]) == 0 {
		t.Fatalf("bad profile: %d %s, want 420 naming extensions/bad.zip and extensions/notes.jar", w.Code, w.Body)
	}
	if _, ok := entity["extensions/good.zip"]; ok || f.node.store.View().Index() != 0 {
		t.Fatalf("a refused profile installed something (%v)", entity)
	}
	// Not a profile at all.
	if w := f.send(t, http.MethodPut, "/management/domain/contributions/profiles/profile/x.zip", mustArchive(t, "plain.zip"), 0); w.Code != 420 ||
		!strings.Contains(w.Body.String(), "extensions/") {
		t.Errorf("archive without extensions/: %d %s", w.Code, w.Body)
	}

	w = f.send(t, http.MethodPut, toolsProfile, mustArchive(t, "profile-tools.zip"), 0)
	if w.Code != http.StatusCreated || w.Header().Get("Location") != "http://localhost:8180"+toolsProfile {
		t.Fatalf("install: %d %s Location %q", w.Code, w.Body, w.Header().Get("Location"))
	}
	if w := f.send(t, http.MethodPut, strings.ToLower(toolsProfile), mustArchive(t, "profile-tools.zip"), 0); w.Code != http.StatusConflict ||
		message(t, w) != "Profile already exists: Tools.zip" {
		t.Errorf("second install: %d %s", w.Code, w.Body)
	}
	doc := docOf(t, f.send(t, http.MethodGet, "/management/domain/contributions/profiles", nil, 0))
	if fmt.Sprint(doc["profiles"]) != "[Tools.zip]" {
		t.Errorf("profiles %v", doc)
	}
	doc = docOf(t, f.send(t, http.MethodGet, "/management/domain/contributions", nil, 0))
	var uris []string
	for _, c := range doc["contributions"].([]any) {
		uris = append(uris, c.(map[string]any)["uri"].(string))
	}
	if fmt.Sprint(uris) != "[hello.zip readme.zip]" {
		t.Errorf("contributions after the profile: %v", uris)
	}
	doc = docOf(t, f.send(t, http.MethodGet, "/management/domain/contributions/contribution/hello.zip", nil, 0))
	if fmt.Sprint(doc["components"]) != "[GreetingComponent]" {
		t.Errorf("hello.zip %v", doc)
	}
	// A profile's contribution goes with the profile, not alone.
	if w := f.send(t, http.MethodDelete, "/management/domain/contributions/contribution/hello.zip", nil, 0); w.Code != http.StatusBadRequest {
		t.Errorf("uninstall of a profile's contribution: %d %s", w.Code, w.Body)
	}

	// Refused while one of them is deployed.
	f.send(t, http.MethodPost, "/management/domain/deployments/contribution/hello.zip?async", nil, 0)
	if w := f.send(t, http.MethodDelete, toolsProfile, nil, 0); w.Code != http.StatusBadRequest || !strings.Contains(message(t, w), "hello.zip") {
		t.Errorf("uninstall while deployed: %d %s", w.Code, w.Body)
	}
	f.send(t, http.MethodDelete, "/management/domain/deployments/contribution/hello.zip?async", nil, 0)
	if w := f.send(t, http.MethodDelete, toolsProfile, nil, 0); w.Code != http.StatusOK {
		t.Fatalf("uninstall: %d %s", w.Code, w.Body)
	}
	v := f.node.store.View()
	if v.Count(mrf.KindContribution) != 0 || v.Count(mrf.KindArchive) != 0 || v.Count(mrf.KindProfile) != 0 {
		t.Errorf("left after uninstall: %d contributions, %d archives, %d profiles",
			v.Count(mrf.KindContribution), v.Count(mrf.KindArchive), v.Count(mrf.KindProfile))
	}
	if w := f.send(t, http.MethodDelete, toolsProfile, nil, 0); w.Code != http.StatusNotFound || message(t, w) != "Profile not found: Tools.zip" {
		t.Errorf("second uninstall: %d %s", w.Code, w.Body)
	}
}

func Test_Profiles_ContributionsOverTheBodyLimit_420_NothingInstalled(t *testing.T) {
	f := newFixture(t, newFakeNode("c1", "default", "http://localhost:8180"), nil)
	f.limits.SetMaxBodyBytes(300) // hello.zip and readme.zip come to 572 bytes
	w := f.send(t, http.MethodPut, toolsProfile, mustArchive(t, "profile-tools.zip"), 0)
	var entity map[string][]string
	if w.Code != 420 || json.Unmarshal(w.Body.Bytes(), &entity) != nil || !strings.Contains(strings.Join(entity["General"], ""), "maxBodyBytes") {
		t.Fatalf("install: %d %s, want 420 naming the limit", w.Code, w.Body)
	}
	if f.node.store.View().Index() != 0 {
		t.Error("something was installed")
	}
}
