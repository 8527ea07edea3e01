package maxscale

import (
	"context"
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
	lines []ringLine
	next  int
	seq   uint64
}

// ringLine is a kept line. Its message is formatted when it is read
// (Last), not when it is logged: every write logs an audit line, and few
// lines are ever read. A record whose attributes could change after it
// was logged (any value but a plain string, number, bool, duration or
// time) is formatted at once instead.
type ringLine struct {
	LogLine
	lazy  bool        // Message is still to be formatted from rec
	rec   slog.Record // (a clone) what was logged
	attrs string      // the handler's WithAttrs, formatted
	group string
}

// message formats l's record as the MaxScale log shows it.
func (l *ringLine) message() string {
	if !l.lazy {
		return l.Message
	}
	var b strings.Builder
	b.WriteString(l.rec.Message)
	b.WriteString(l.attrs)
	l.rec.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, l.group, a)
		return true
	})
	return b.String()
}

// appendAttr writes " group.key=value", the value as %v prints it.
func appendAttr(b *strings.Builder, group string, a slog.Attr) {
	b.WriteByte(' ')
	b.WriteString(group)
	b.WriteString(a.Key)
	b.WriteByte('=')
	b.WriteString(a.Value.String())
}

// stable reports whether r's attribute values are immutable (formatting
// them later gives what formatting them now would).
func stable(r slog.Record) bool {
	ok := true
	r.Attrs(func(a slog.Attr) bool {
		switch a.Value.Kind() {
		case slog.KindString, slog.KindInt64, slog.KindUint64, slog.KindFloat64, slog.KindBool, slog.KindDuration, slog.KindTime:
			return true
		}
		ok = false
		return false
	})
	return ok
}

// NewLogRing wraps h, keeping the last n lines.
func NewLogRing(h slog.Handler, n int) *LogRing {
	return &LogRing{next: h, buf: &ring{lines: make([]ringLine, 0, n)}}
}

// Enabled implements slog.Handler.
func (l *LogRing) Enabled(ctx context.Context, level slog.Level) bool {
	return l.next.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (l *LogRing) Handle(ctx context.Context, r slog.Record) error {
	pri := "info"
	switch {
	case r.Level >= slog.LevelError:
		pri = "error"
	case r.Level >= slog.LevelWarn:
		pri = "warning"
	case r.Level < slog.LevelInfo:
		pri = "debug"
	}
	line := ringLine{LogLine: LogLine{Time: r.Time, Priority: pri}, lazy: true, rec: r.Clone(), attrs: l.attrs, group: l.group}
	if !stable(r) {
		line.Message, line.lazy, line.rec = line.message(), false, slog.Record{}
	}
	l.buf.add(line)
	return l.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (l *LogRing) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(l.attrs)
	for _, a := range as {
		appendAttr(&b, l.group, a)
	}
	return &LogRing{next: l.next.WithAttrs(as), buf: l.buf, attrs: b.String(), group: l.group}
}

// WithGroup implements slog.Handler.
func (l *LogRing) WithGroup(name string) slog.Handler {
	return &LogRing{next: l.next.WithGroup(name), buf: l.buf, attrs: l.attrs, group: l.group + name + "."}
}

func (r *ring) add(line ringLine) {
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
	kept := make([]ringLine, 0, len(r.lines))
	kept = append(kept, r.lines[r.next:]...)
	kept = append(kept, r.lines[:r.next]...)
	r.mu.Unlock()
	if n < len(kept) {
		kept = kept[len(kept)-n:]
	}
	all := make([]LogLine, len(kept))
	for i := range kept {
		all[i] = kept[i].LogLine
		all[i].Message = kept[i].message()
	}
	return all
}
