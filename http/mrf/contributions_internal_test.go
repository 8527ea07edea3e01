package mrf

import (
	"errors"
	"testing"
	"time"

	"cairn/cluster/deploy"
	"cairn/fsm"
)

// The uninstall of the last holder of an archive races an install of the
// same bytes under another URI: whichever order Raft gives them, the new
// contribution keeps its archive.
func Test_Uninstall_RacingInstallOfSameBytes_ArchiveKept(t *testing.T) {
	schema, err := fsm.NewSchema(Kinds()...)
	if err != nil {
		t.Fatal(err)
	}
	st := fsm.NewStore(schema)
	now := time.Unix(0, 0).UTC()
	index := uint64(0)
	apply := func(cmd fsm.Command) error {
		index++
		return st.Apply(index, cmd).Err()
	}
	install := func(uri string) fsm.Command {
		c := contribution{URI: uri, SHA1: "abc", Length: 3, Installed: now, Deployables: []string{}, Components: []string{}}
		return fsm.Command{Time: now, Ops: []fsm.Op{
			{Type: fsm.OpPut, Kind: KindContribution, ID: uri, Body: mustJSON(c), Require: fsm.RequireAbsent},
			{Type: fsm.OpPut, Kind: KindArchive, ID: "abc", Body: mustJSON(deploy.Archive{SHA1: "abc", Length: 3, Data: []byte("abc")})},
		}}
	}
	if err := apply(install("a.zip")); err != nil {
		t.Fatal(err)
	}
	// The uninstall of a.zip is decided on a view where it is the only
	// holder; b.zip is installed before it commits.
	v := st.View()
	c, _, _ := getContribution(v, "a.zip")
	ops, err := uninstallOps(v, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	stale := fsm.Command{Ops: ops, Time: now}
	if err := apply(install("b.zip")); err != nil {
		t.Fatal(err)
	}
	if err := apply(stale); !errors.Is(err, fsm.ErrConflict) {
		t.Fatalf("the stale uninstall applied (err %v): it would delete b.zip's archive", err)
	}
	// Decided again (the handler retries), it keeps the archive.
	v = st.View()
	ops, _ = uninstallOps(v, c, nil)
	fresh := fsm.Command{Ops: ops, Time: now}
	if err := apply(fresh); err != nil {
		t.Fatal(err)
	}
	if v := st.View(); v.Get(KindArchive, "abc") == nil || v.Get(KindContribution, "a.zip") != nil {
		t.Error("after the retry: want a.zip gone and the archive kept for b.zip")
	}
}

// Test_CheckName_Dots: "." and ".." name nothing (#13 item 9).
func Test_CheckName_Dots(t *testing.T) {
	for _, name := range []string{".", ".."} {
		if checkName(name) == nil {
			t.Errorf("checkName(%q) accepted it", name)
		}
	}
	if err := checkName(".hidden"); err != nil {
		t.Errorf("checkName(.hidden): %v", err)
	}
}
