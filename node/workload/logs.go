package workload

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Log limits: the ring keeps an instance's latest RingLines lines in
// memory; its file is rotated at FileBytes (one old file kept), so an
// instance holds at most 2*FileBytes on disk.
const (
	RingLines    = 1000
	FileBytes    = 1 << 20
	maxLineBytes = 16 << 10 // longer lines are split
)

// Line is one line an instance wrote.
type Line struct {
	Time     int64  `json:"time"` // unix nanoseconds
	Channel  string `json:"channel"`
	Instance int    `json:"instance"`
	Text     string `json:"line"`
}

// String formats l as "<unix-nanos>,<channel>,<line>".
func (l Line) String() string { return strconv.FormatInt(l.Time, 10) + "," + l.Channel + "," + l.Text }

// instanceLog is one instance's ring and file.
type instanceLog struct {
	mu    sync.Mutex
	index int
	ring  []Line
	next  int // where the next line goes once the ring is full
	path  string
	f     *os.File
	size  int64
}

func openInstanceLog(dir string, workload string, index int) *instanceLog {
	return &instanceLog{index: index, path: filepath.Join(dir, InstanceID(workload, index)+".log")}
}

// add records a line in the ring and the file.
func (l *instanceLog) add(ln Line) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ring) < RingLines {
		l.ring = append(l.ring, ln)
	} else {
		l.ring[l.next] = ln
		l.next = (l.next + 1) % RingLines
	}
	l.write(ln.String() + "\n")
}

// write appends to the file, rotating it at FileBytes. Errors lose the
// file's copy only: the ring still has the line.
func (l *instanceLog) write(s string) {
	if l.f == nil {
		f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return
		}
		st, _ := f.Stat()
		l.f, l.size = f, 0
		if st != nil {
			l.size = st.Size()
		}
	}
	if l.size+int64(len(s)) > FileBytes {
		l.f.Close()
		os.Rename(l.path, l.path+".1")
		f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
		if err != nil {
			l.f = nil
			return
		}
		l.f, l.size = f, 0
	}
	n, _ := l.f.WriteString(s)
	l.size += int64(n)
}

func (l *instanceLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// last returns the ring's last n lines after since, oldest first.
func (l *instanceLog) last(n int, since int64) []Line {
	l.mu.Lock()
	defer l.mu.Unlock()
	ordered := append(append([]Line(nil), l.ring[l.next:]...), l.ring[:l.next]...)
	ordered = after(ordered, since)
	if len(ordered) > n {
		ordered = ordered[len(ordered)-n:]
	}
	return ordered
}

// capture reads r line by line into the log until r ends.
func (l *instanceLog) capture(r io.Reader, channel string) {
	br := bufio.NewReaderSize(r, maxLineBytes)
	for {
		b, err := br.ReadSlice('\n')
		if len(b) > 0 {
			text := strings.TrimRight(string(b), "\r\n")
			l.add(Line{Time: time.Now().UnixNano(), Channel: channel, Instance: l.index, Text: text})
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

// readLogFiles reads the last n lines of an instance's files (the rotated
// one first): what a restarted agent serves for instances it no longer
// holds in memory.
func readLogFiles(path string, index int, n int, since int64) []Line {
	var out []Line
	for _, p := range []string{path + ".1", path} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, raw := range bytes.Split(b, []byte("\n")) {
			parts := strings.SplitN(string(raw), ",", 3)
			if len(parts) != 3 {
				continue
			}
			ts, err := strconv.ParseInt(parts[0], 10, 64)
			if err != nil {
				continue
			}
			out = append(out, Line{Time: ts, Channel: parts[1], Instance: index, Text: parts[2]})
		}
	}
	out = after(out, since)
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// after drops the lines at or before since. (A filter, not a search: the
// stdout and stderr readers stamp lines before taking the ring's lock, so
// the ring is in time order only nearly.)
func after(lines []Line, since int64) []Line {
	if since == 0 {
		return lines
	}
	out := lines[:0:0]
	for _, l := range lines {
		if l.Time > since {
			out = append(out, l)
		}
	}
	return out
}

// MergeLast merges line lists, orders them by time (stable: one
// instance's lines keep their order) and keeps the last n.
func MergeLast(n int, lists ...[]Line) []Line {
	var all []Line
	for _, l := range lists {
		all = append(all, l...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Time < all[j].Time })
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return all
}

// Logs returns the last n lines after since (unix nanoseconds) this node
// holds of workload's instances, in time order: from memory for the
// instances this run of the agent ran, else from their files.
func (s *Supervisor) Logs(workload string, n int, since int64) ([]Line, error) {
	if ValidID(workload) != nil || n < 1 {
		return nil, fmt.Errorf("%w: no such workload or line count", ErrInvalid)
	}
	s.mu.Lock()
	held := map[int]*instanceLog{}
	for key, l := range s.logs {
		if wl, idx, ok := ParseInstanceID(key); ok && wl == workload {
			held[idx] = l
		}
	}
	s.mu.Unlock()
	var lists [][]Line
	for _, l := range held {
		lists = append(lists, l.last(n, since))
	}
	files, _ := filepath.Glob(filepath.Join(s.logDir, workload+".*.log"))
	for _, f := range files {
		wl, idx, ok := ParseInstanceID(strings.TrimSuffix(filepath.Base(f), ".log"))
		if !ok || wl != workload {
			continue
		}
		if _, inMemory := held[idx]; inMemory {
			continue
		}
		lists = append(lists, readLogFiles(f, idx, n, since))
	}
	return MergeLast(n, lists...), nil
}
