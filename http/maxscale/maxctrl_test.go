package maxscale_test

import (
	"path/filepath"
	"testing"

	"cairn/http/maxscale/maxscaletest"
)

// The requests MaxScale's CLI sent, captured by a logging proxy between a
// real maxctrl and a real `cairn agent` (testdata/maxscale/maxctrl/): each
// step is one maxctrl command, with Cairn's answers as maxctrl accepted
// them. Replaying them keeps maxctrl working without maxctrl at hand.

func mustMaxctrlSession(t *testing.T) maxscaletest.Session {
	t.Helper()
	return maxscaletest.MustSession(t, filepath.Join("..", "..", "testdata", "maxscale", "maxctrl", "session.json"))
}

// Test_Maxctrl_Session_Replays sends every request of the captured maxctrl
// session, in order, to a fresh zone, and checks each answer: the status
// maxctrl got, no body where it got none, and every member of the body it
// got (volatile values aside), so the fields maxctrl prints are all there.
func Test_Maxctrl_Session_Replays(t *testing.T) {
	s := mustMaxctrlSession(t)
	f := mustServe(t)
	maxscaletest.Replay(t, s, f.listener, f.client)
}

// Test_Maxctrl_Session_Covers checks the captured session still holds the
// commands this dialect promises maxctrl can run, each with the exit code
// MaxScale 6.4 gives it (1 for a refused or unknown object).
func Test_Maxctrl_Session_Covers(t *testing.T) {
	s := mustMaxctrlSession(t)
	exit := map[string]int{}
	for _, st := range s.Steps {
		exit[st.Name] = st.Exit
	}
	for name, want := range map[string]int{
		"list-servers": 0, "show-server1": 0, "show-servers": 0, "list-services": 0, "show-service": 0,
		"list-monitors": 0, "show-monitor": 0, "show-maxscale": 0, "list-filters": 0, "list-listeners": 0,
		"create-server1": 0, "create-server-socket": 0, "create-server-dup": 1, "create-service-rw": 0,
		"create-monitor": 0, "create-service-cluster": 0, "alter-server-pair": 0, "alter-server-kv": 0,
		"alter-server-badport": 1, "alter-service": 0, "alter-monitor": 0, "link-service": 0,
		"link-monitor": 0, "link-monitor-second-refused": 1, "unlink-service": 0, "unlink-monitor": 0,
		"set-maintenance": 0, "set-drain": 0, "set-bad-state": 1, "clear-maintenance": 0,
		"stop-service": 0, "start-service": 0, "stop-monitor": 0, "start-monitor": 0,
		"destroy-server-in-use": 1, "destroy-server-force": 0, "destroy-server": 0,
		"destroy-service-in-use": 1, "destroy-service-force": 0, "destroy-monitor-in-use": 1,
		"destroy-monitor-force": 0, "destroy-server-unknown": 1, "create-service-cycle-refused": 1,
		"bad-password": 1, "list-users": 0, "create-user": 0, "alter-user": 0, "destroy-user": 0,
		"basic-user-read": 0, "basic-user-write": 1, "destroy-user-last-admin": 1,
		"create-server-name-slash": 1, "validate-server-unknown-param": 1, "validate-server-bad-address": 1,
		"validate-server-same-address": 1, "validate-alter-server-same-address": 1, "validate-server-empty-param-name": 1,
		"validate-monitor-no-user": 1, "validate-service-unknown-router": 1, "validate-monitor-unknown-module": 1,
		"validate-monitor-dup-servers": 1, "validate-service-unknown-param": 1, "validate-monitor-duration": 0,
		"validate-name-taken": 1, "alter-maxscale": 0, "alter-maxscale-static-refused": 1, "list-modules": 0, "show-module": 0,
		"list-threads": 0, "show-threads": 0, "show-logging": 0, "enable-log-info": 0, "list-sessions": 0, "reload-service": 0, "create-filter": 0, "create-filter-unknown-module": 1, "create-filter-missing-mandatory": 1,
		"create-filter-unknown-param": 1, "list-filters-created": 0, "show-filter": 0, "alter-filter": 0,
		"alter-service-filters-chain": 0, "destroy-filter-in-use": 1, "destroy-filter-force": 0, "create-listener": 0,
		"create-listener-same-port": 1, "create-listener-other-address": 1,
		"create-listener-unknown-service": 1, "list-listeners-created": 0, "list-listeners-of-service": 0, "show-listener": 0,
		"destroy-service-with-listener": 1, "destroy-listener-wrong-service": 1, "destroy-listener-of-service": 0,
		"destroy-listener": 0, "destroy-service-force-listeners": 0,
	} {
		got, ok := exit[name]
		if !ok {
			t.Errorf("the session has no step %s", name)
		} else if got != want {
			t.Errorf("step %s: maxctrl exited %d, want %d", name, got, want)
		}
	}
}
