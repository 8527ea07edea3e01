package maxscale

import (
	"io"
	"log/slog"
	"testing"
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
