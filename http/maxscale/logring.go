package maxscale

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// LogLine is one line of the node's log as /v1/maxscale/logs/data shows it.
type LogLine struct {
	Seq      uint64
	Time     time.Time
	Priority string // MaxScale's names: error, warning, info, debug
	Message  string
}

// LogRing is an slog.Handler that passes every record on to the handler
// it wraps and keeps the last lines, for /v1/maxscale/logs/data.
type LogRing struct {
	next  slog.Handler
	buf   *ring
	attrs string // attributes added with WithAttrs, formatted
	group string
}

type ring struct {
	mu    sync.Mutex
	lines []LogLine
	next  int
	seq   uint64
}

// NewLogRing wraps h, keeping the last n lines.
func NewLogRing(h slog.Handler, n int) *LogRing {
	return &LogRing{next: h, buf: &ring{lines: make([]LogLine, 0, n)}}
}

// Enabled implements slog.Handler.
func (l *LogRing) Enabled(ctx context.Context, level slog.Level) bool {
	return l.next.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (l *LogRing) Handle(ctx context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(l.attrs)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s%s=%v", l.group, a.Key, a.Value)
		return true
	})
	pri := "info"
	switch {
	case r.Level >= slog.LevelError:
		pri = "error"
	case r.Level >= slog.LevelWarn:
		pri = "warning"
	case r.Level < slog.LevelInfo:
		pri = "debug"
	}
	l.buf.add(LogLine{Time: r.Time, Priority: pri, Message: b.String()})
	return l.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (l *LogRing) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(l.attrs)
	for _, a := range as {
		fmt.Fprintf(&b, " %s%s=%v", l.group, a.Key, a.Value)
	}
	return &LogRing{next: l.next.WithAttrs(as), buf: l.buf, attrs: b.String(), group: l.group}
}

// WithGroup implements slog.Handler.
func (l *LogRing) WithGroup(name string) slog.Handler {
	return &LogRing{next: l.next.WithGroup(name), buf: l.buf, attrs: l.attrs, group: l.group + name + "."}
}

func (r *ring) add(line LogLine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	line.Seq = r.seq
	if len(r.lines) < cap(r.lines) {
		r.lines = append(r.lines, line)
		return
	}
	if cap(r.lines) == 0 {
		return
	}
	r.lines[r.next] = line
	r.next = (r.next + 1) % cap(r.lines)
}

// Last returns the last n lines kept, oldest first.
func (l *LogRing) Last(n int) []LogLine {
	r := l.buf
	r.mu.Lock()
	defer r.mu.Unlock()
	all := make([]LogLine, 0, len(r.lines))
	all = append(all, r.lines[r.next:]...)
	all = append(all, r.lines[:r.next]...)
	if n < len(all) {
		all = all[len(all)-n:]
	}
	return all
}
