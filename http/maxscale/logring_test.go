package maxscale

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

func Test_LogRing_KeepsTheLastLines(t *testing.T) {
	r := NewLogRing(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}), 3)
	log := slog.New(r).With("component", "x")
	for i := range 5 {
		log.Warn("line", "i", i)
	}
	log.Error("boom")
	got := r.Last(10)
	if len(got) != 3 || got[2].Message != "boom component=x" || got[2].Priority != "error" || got[0].Message != "line component=x i=3" || got[0].Priority != "warning" {
		t.Fatalf("%+v", got)
	}
	if got := r.Last(1); len(got) != 1 || got[0].Seq != 6 {
		t.Fatalf("%+v", got)
	}
}

// A line is formatted when read, except one holding a value that could
// change after it was logged: that one is formatted at once.
func Test_LogRing_FormatsAsLogged(t *testing.T) {
	r := NewLogRing(slog.NewTextHandler(io.Discard, nil), 10)
	log := slog.New(r).WithGroup("g").With("user", "ann")
	ids := []int{1, 2}
	log.Info("put", "status", 201, "took", 1500*time.Millisecond, "ok", true, "ids", ids)
	log.Info("get", "path", "/a b", "n", uint64(7), "f", 0.5)
	ids[0] = 99
	got := r.Last(10)
	if want := "put g.user=ann g.status=201 g.took=1.5s g.ok=true g.ids=[1 2]"; got[0].Message != want {
		t.Errorf("got %q, want %q", got[0].Message, want)
	}
	if want := "get g.user=ann g.path=/a b g.n=7 g.f=0.5"; got[1].Message != want {
		t.Errorf("got %q, want %q", got[1].Message, want)
	}
}
