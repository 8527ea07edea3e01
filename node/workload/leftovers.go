package workload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// MarkerEnv is set in every instance's environment to the supervising
// node's absolute data dir. A restarted agent finds what its previous run
// left behind by it (LeftoverGroups): a process's children inherit it.
const MarkerEnv = "CAIRN_SUPERVISOR"

// groupsFile, under <data-dir>/workloads, records the process group of
// every instance the supervisor started and has not seen end: the second
// way a restarted agent finds its leftovers, for processes that cleared
// their environment (env -i) and so carry no MarkerEnv.
const groupsFile = "groups.json"

// groupRecord is one started instance's process group.
type groupRecord struct {
	Instance string `json:"instance"`
	PGID     int    `json:"pgid"`
	// Start is the group leader's start time (/proc/<pid>/stat field 22,
	// clock ticks after boot). Every member of the group started after
	// it; a process with the leader's pid and another start time means
	// the pid (and so the group id) was freed and reused.
	Start uint64 `json:"start"`
}

// groupsState is the file's content. Boot is the kernel's boot id: start
// times and pids of another boot mean nothing.
type groupsState struct {
	Boot   string        `json:"boot"`
	Groups []groupRecord `json:"groups"`
}

// ledger keeps groupsFile up to date: add after a start, remove once the
// group is gone. The file is replaced by a rename and not fsynced: it
// matters after a crash of the agent (the page cache survives it), not
// after a crash of the machine (the processes do not survive that).
type ledger struct {
	path string
	boot string

	mu     sync.Mutex
	groups map[int]groupRecord // by pgid
}

func newLedger(workloadsDir string) *ledger {
	return &ledger{path: filepath.Join(workloadsDir, groupsFile), boot: bootID(), groups: map[int]groupRecord{}}
}

// add records instance's group pgid, led by pgid.
func (l *ledger) add(instance string, pgid int) error {
	_, start, _, err := procStat(pgid)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.groups[pgid] = groupRecord{Instance: instance, PGID: pgid, Start: start}
	return l.saveLocked()
}

// remove forgets group pgid (it is gone).
func (l *ledger) remove(pgid int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.groups[pgid]; !ok {
		return nil
	}
	delete(l.groups, pgid)
	return l.saveLocked()
}

func (l *ledger) saveLocked() error {
	st := groupsState{Boot: l.boot, Groups: make([]groupRecord, 0, len(l.groups))}
	for _, g := range l.groups {
		st.Groups = append(st.Groups, g)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := l.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, l.path)
}

// readGroups returns the groups recorded under dataDir in this boot, by
// pgid.
func readGroups(dataDir string) map[int]groupRecord {
	b, err := os.ReadFile(filepath.Join(dataDir, "workloads", groupsFile))
	if err != nil {
		return nil
	}
	var st groupsState
	if json.Unmarshal(b, &st) != nil || st.Boot == "" || st.Boot != bootID() {
		return nil
	}
	out := map[int]groupRecord{}
	for _, g := range st.Groups {
		if g.PGID > 1 {
			out[g.PGID] = g
		}
	}
	return out
}

// bootID is the kernel's id of this boot ("" if unknown).
func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// procStat reads a process's process group, start time and state from
// /proc/<pid>/stat (proc(5): fields 5, 22 and 3; the command name, field
// 2, may hold spaces and parentheses, hence the last ')').
func procStat(pid int) (pgrp int, start uint64, state byte, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	pgrp, err1 := strconv.Atoi(f[2])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return pgrp, start, f[0][0], nil
}

// Leftover is a process a previous run of the agent left behind.
type Leftover struct {
	PID, PGID int
	// Instance is the instance it belonged to, when known.
	Instance string
}

// LeftoverGroups scans /proc for the live (not zombie) processes of the
// instances of the supervisor on dataDir: those whose environment carries
// MarkerEnv=dataDir (children inherit it), and those in a process group
// recorded in groupsFile that started no earlier than its leader (they
// stay in the group whatever they do to their environment). The agent
// itself is excluded. The environment and not the working directory: an
// operator's shell in an instance's directory is no leftover. A process
// that both clears its environment and leaves its process group (setsid)
// escapes.
func LeftoverGroups(dataDir string) []Leftover {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil
	}
	marker := []byte("\x00" + MarkerEnv + "=" + abs + "\x00")
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	groups := readGroups(abs)
	// ours says whether a recorded group id still names the group the
	// ledger saw: not when its leader's pid runs another process now.
	ours := map[int]bool{}
	for pgid, g := range groups {
		_, start, _, err := procStat(pgid)
		ours[pgid] = err != nil || start == g.Start
	}
	self := os.Getpid()
	var out []Leftover
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		pgrp, start, state, err := procStat(pid)
		if err != nil || state == 'Z' {
			continue
		}
		if g, ok := groups[pgrp]; ok && ours[pgrp] && start >= g.Start {
			out = append(out, Leftover{PID: pid, PGID: pgrp, Instance: g.Instance})
			continue
		}
		env, _ := os.ReadFile("/proc/" + e.Name() + "/environ")
		env = append(append([]byte{0}, env...), 0)
		if bytes.Contains(env, marker) {
			out = append(out, Leftover{PID: pid, PGID: pgrp, Instance: instanceOf(env)})
		}
	}
	return out
}

// instanceOf reads "<workload>.<index>" from an environment block.
func instanceOf(env []byte) string {
	var wl, inst string
	for _, kv := range strings.Split(string(env), "\x00") {
		if v, ok := strings.CutPrefix(kv, "CAIRN_WORKLOAD="); ok {
			wl = v
		}
		if v, ok := strings.CutPrefix(kv, "CAIRN_INSTANCE="); ok {
			inst = v
		}
	}
	if wl == "" {
		return ""
	}
	return wl + "." + inst
}

// KillLeftovers kills every leftover of dataDir (their whole process
// groups), forgets the recorded groups, and returns how many processes it
// found.
func KillLeftovers(dataDir string) int {
	found := LeftoverGroups(dataDir)
	self := syscall.Getpgrp()
	for _, l := range found {
		if l.PGID > 1 && l.PGID != self {
			_ = signalGroup(l.PGID, syscall.SIGKILL)
		}
		_ = syscall.Kill(l.PID, syscall.SIGKILL)
	}
	if abs, err := filepath.Abs(dataDir); err == nil {
		_ = os.Remove(filepath.Join(abs, "workloads", groupsFile))
	}
	return len(found)
}
