package workload

import (
	"bufio"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// How a node bounds the memory of a process instance (memory_limit),
// chosen once when the supervisor is made (Config.MemoryLimits,
// Supervisor.MemoryLimits). A container's memory is its engine's
// --memory whatever the node's mechanism.
const (
	// MemoryCgroupV2: each instance in a cgroup of its own with
	// memory.max (and memory.swap.max 0), on the unified hierarchy.
	MemoryCgroupV2 = "cgroup-v2"
	// MemoryCgroupV1: likewise with memory.limit_in_bytes (and
	// memory.memsw.limit_in_bytes), on the v1 memory hierarchy.
	MemoryCgroupV1 = "cgroup-v1"
	// MemoryRlimit: RLIMIT_AS (address space), set with ulimit -v.
	MemoryRlimit = "rlimit"
)

// cgroupRecord, under <data-dir>/workloads, holds the directory of the
// cgroup the supervisor makes its instances' cgroups in: a restarted
// agent removes what its previous run left there, even when it now
// chooses another directory (it runs in another cgroup itself).
const cgroupRecord = "cgroup"

// cgroupProbe is a cgroup made and removed at start to check that limits
// can be written. Instance ids hold a '.', so it is never one.
const cgroupProbe = "cairn-probe"

// memLimits is the node's mechanism: mode, and for a cgroup mode the
// directory of the cgroup (parent) that holds one cgroup per running
// instance, named by the instance id. The parent is there only while an
// instance's cgroup is: an agent that dies leaves none behind unless it
// left an instance's cgroup too (the next start removes both).
type memLimits struct {
	mode   string
	parent string
	// mu orders making the parent and an instance's cgroup in it against
	// removing the parent once empty.
	mu *sync.Mutex
	// previous is the parent a previous run of the agent on this data dir
	// recorded, if not parent; record is the file recording it.
	previous, record string
}

func (m memLimits) cgroups() bool { return m.mode == MemoryCgroupV2 || m.mode == MemoryCgroupV1 }

// detectMemLimits chooses the mechanism: want if set ("" tries cgroup v2,
// then v1, then settles for rlimit), or an error saying why want is not
// available. For a cgroup mode it makes the parent cgroup, cairn-<hash of
// dataDir>, in the agent's own cgroup or else at the hierarchy's root,
// and records it under dataDir. notes say why the mechanisms tried before
// the one chosen were not.
func detectMemLimits(want, dataDir string) (m memLimits, notes []string, err error) {
	sum := sha1.Sum([]byte(dataDir))
	name := "cairn-" + hex.EncodeToString(sum[:6])
	modes := []string{MemoryCgroupV2, MemoryCgroupV1, MemoryRlimit}
	switch want {
	case "":
	case MemoryCgroupV2, MemoryCgroupV1, MemoryRlimit:
		modes = []string{want}
	default:
		return memLimits{}, nil, fmt.Errorf("memory limits %q: want %s, %s or %s", want, MemoryCgroupV2, MemoryCgroupV1, MemoryRlimit)
	}
	for _, mode := range modes {
		if mode == MemoryRlimit {
			m = memLimits{mode: MemoryRlimit}
			break
		}
		parent, err := makeParent(mode, name)
		if err != nil {
			notes = append(notes, mode+": "+err.Error())
			continue
		}
		m = memLimits{mode: mode, parent: parent, mu: &sync.Mutex{}}
		break
	}
	if m.mode == "" {
		return memLimits{}, notes, fmt.Errorf("memory limits %s are not available: %s", want, strings.Join(notes, "; "))
	}
	record := filepath.Join(dataDir, "workloads", cgroupRecord)
	m.record = record
	if b, err := os.ReadFile(record); err == nil {
		if p := strings.TrimSpace(string(b)); p != m.parent && filepath.Base(p) == name {
			m.previous = p
		}
	}
	if m.parent != "" {
		if err := os.WriteFile(record, []byte(m.parent+"\n"), 0o600); err != nil {
			return memLimits{}, notes, fmt.Errorf("recording the instances' cgroup: %w", err)
		}
	}
	return m, notes, nil
}

// makeParent finds where cgroup name goes, for mode's hierarchy: in the
// agent's own cgroup or else at the hierarchy's root, wherever it can be
// made and a cgroup made in it takes a memory limit. It is removed again
// if empty.
func makeParent(mode, name string) (string, error) {
	mount, own, err := hierarchy(mode == MemoryCgroupV2)
	if err != nil {
		return "", err
	}
	bases := []string{mount}
	if own != "" && own != mount {
		bases = []string{own, mount}
	}
	var why []string
	for _, base := range bases {
		parent := filepath.Join(base, name)
		err := makeParentIn(mode, base, parent)
		if err == nil {
			return parent, nil
		}
		why = append(why, err.Error())
	}
	return "", errors.New(strings.Join(why, "; "))
}

func makeParentIn(mode, base, parent string) error {
	if mode == MemoryCgroupV2 {
		// The memory controller must be enabled for base's children
		// (parent) and for parent's (the instances'). Enabling it in a
		// cgroup that holds processes, other than the root, fails
		// (EBUSY): then the next base.
		b, err := os.ReadFile(filepath.Join(base, "cgroup.controllers"))
		if err != nil {
			return err
		}
		if !hasWord(string(b), "memory") {
			return fmt.Errorf("%s: no memory controller (cgroup.controllers: %q)", base, strings.TrimSpace(string(b)))
		}
		if err := enableMemory(base); err != nil {
			return err
		}
	}
	if err := makeCgroup(mode, parent); err != nil {
		return err
	}
	// Removed if empty: not if a previous run left instances' cgroups in
	// it (CleanLeftovers removes them, then it).
	defer os.Remove(parent)
	return func() error {
		probe := filepath.Join(parent, cgroupProbe)
		if err := os.Mkdir(probe, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		defer os.Remove(probe)
		file, value := "memory.limit_in_bytes", "-1"
		if mode == MemoryCgroupV2 {
			file, value = "memory.max", "max"
		}
		return writeFile(filepath.Join(probe, file), value)
	}()
}

// makeCgroup makes the parent cgroup dir if it is not there; on v2 with
// the memory controller enabled for its children.
func makeCgroup(mode, dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if mode == MemoryCgroupV2 {
		return enableMemory(dir)
	}
	return nil
}

// enableMemory enables the memory controller in dir's children.
func enableMemory(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	if hasWord(string(b), "memory") {
		return nil
	}
	return writeFile(filepath.Join(dir, "cgroup.subtree_control"), "+memory")
}

// writeFile writes one value to a cgroup file (which exists: no create),
// naming the file in the error.
func writeFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

// hierarchy returns where the cgroup v2 hierarchy (v2) or the v1
// hierarchy of the memory controller is mounted, and the directory of
// the agent's own cgroup in it ("" if it is not under the mount).
func hierarchy(v2 bool) (mount, own string, err error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	var root string
	for _, line := range strings.Split(string(mi), "\n") {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		if v2 && g[0] == "cgroup2" || !v2 && g[0] == "cgroup" && hasWord(strings.ReplaceAll(g[2], ",", " "), "memory") {
			mount, root = unescapeMount(f[4]), unescapeMount(f[3])
			break
		}
	}
	if mount == "" {
		if v2 {
			return "", "", errors.New("no cgroup2 file system is mounted")
		}
		return "", "", errors.New("no cgroup v1 hierarchy of the memory controller is mounted")
	}
	// /proc/self/cgroup: hierarchy-id:controllers:path; "0::path" on v2.
	pc, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return mount, "", nil
	}
	for _, line := range strings.Split(string(pc), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if v2 && parts[0] == "0" && parts[1] == "" || !v2 && hasWord(strings.ReplaceAll(parts[1], ",", " "), "memory") {
			rel, ok := strings.CutPrefix(parts[2], root)
			if !ok || strings.Contains(rel, "..") { // outside the mount (another cgroup namespace)
				return mount, "", nil
			}
			return mount, filepath.Join(mount, rel), nil
		}
	}
	return mount, "", nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroup is one run's cgroup.
type cgroup struct {
	m     memLimits
	mode  string
	dir   string
	limit int64
	// ooms is the OOM-kill count when the run started (-1: the kernel
	// does not count them).
	ooms int64
	fail int64
}

// create makes the cgroup of instance id with a limit of bytes.
func (m memLimits) create(id string, bytes int64) (*cgroup, error) {
	c := &cgroup{m: m, mode: m.mode, dir: filepath.Join(m.parent, id), limit: bytes}
	m.mu.Lock()
	err := makeCgroup(m.mode, m.parent)
	// It may be there already: an earlier run's that could not be
	// removed. It is used again.
	if err == nil {
		if err = os.Mkdir(c.dir, 0o755); errors.Is(err, fs.ErrExist) {
			err = nil
		}
	}
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	n := strconv.FormatInt(bytes, 10)
	if m.mode == MemoryCgroupV2 {
		err = writeFile(c.file("memory.max"), n)
		if err == nil && exists(c.file("memory.swap.max")) {
			err = writeFile(c.file("memory.swap.max"), "0")
		}
	} else {
		// memory.limit_in_bytes <= memory.memsw.limit_in_bytes at every
		// step: which one first depends on the values in place.
		err = writeFile(c.file("memory.limit_in_bytes"), n)
		if exists(c.file("memory.memsw.limit_in_bytes")) {
			if err == nil {
				err = writeFile(c.file("memory.memsw.limit_in_bytes"), n)
			} else if err = writeFile(c.file("memory.memsw.limit_in_bytes"), n); err == nil {
				err = writeFile(c.file("memory.limit_in_bytes"), n)
			}
		}
	}
	if err != nil {
		_ = c.remove(time.Second)
		return nil, err
	}
	c.ooms, c.fail = c.oomKills(), c.failures()
	return c, nil
}

func (c *cgroup) file(name string) string { return filepath.Join(c.dir, name) }

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// oomKills returns how many processes the OOM killer killed in the
// cgroup: oom_kill in memory.events (v2) or memory.oom_control (v1,
// Linux 4.13 on); -1 if the kernel does not say.
func (c *cgroup) oomKills() int64 {
	name := "memory.oom_control"
	if c.mode == MemoryCgroupV2 {
		name = "memory.events"
	}
	f, err := os.Open(c.file(name))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "oom_kill "); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return n
			}
		}
	}
	return -1
}

// failures returns how often the cgroup hit its limit (v1's
// memory.failcnt plus memory.memsw.failcnt; -1 on v2).
func (c *cgroup) failures() int64 {
	if c.mode == MemoryCgroupV2 {
		return -1
	}
	var sum int64 = -1
	for _, name := range []string{"memory.failcnt", "memory.memsw.failcnt"} {
		b, err := os.ReadFile(c.file(name))
		if n, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && perr == nil {
			sum = max(sum, 0) + n
		}
	}
	return sum
}

// oomReason says, once the run is over, whether the OOM killer killed a
// process of it at the limit ("" if not). code is the leader's exit code.
// A kernel that counts no OOM kills (v1 before Linux 4.13): a leader
// killed by SIGKILL (or a shell reporting one, 137) after the cgroup hit
// its limit counts as one.
func (c *cgroup) oomReason(code int) string {
	if c == nil {
		return ""
	}
	size := sizeString(c.limit)
	if n := c.oomKills(); n >= 0 && c.ooms >= 0 {
		if n > c.ooms {
			plural := "es"
			if n-c.ooms == 1 {
				plural = ""
			}
			return fmt.Sprintf("out of memory: the kernel's OOM killer killed %d process%s of the instance at its memory_limit (%s, %s)",
				n-c.ooms, plural, size, c.mode)
		}
		return ""
	}
	if f := c.failures(); f > c.fail && c.fail >= 0 && (code == -1 || code == 128+int(syscall.SIGKILL)) {
		return fmt.Sprintf("out of memory: killed by SIGKILL after reaching its memory_limit (%s, %s)", size, c.mode)
	}
	return ""
}

// gateScript holds the process until the supervisor, having put it in its
// cgroup, writes a line to its fd 3: the command is executed in the
// cgroup, and keeps the pid (and process group) the supervisor knows.
const gateScript = `read -r _ <&3 || exit 126; exec 3<&-; exec "$@"`

// wrap makes cmd wait for the gate before it executes its command; it
// returns the gate's writing end.
func (c *cgroup) wrap(cmd *exec.Cmd) (*os.File, error) {
	// A program that is not there fails the start, as without a gate,
	// rather than the shell.
	if cmd.Err != nil {
		return nil, cmd.Err
	}
	if p := cmd.Path; strings.Contains(p, "/") {
		if !filepath.IsAbs(p) && cmd.Dir != "" {
			p = filepath.Join(cmd.Dir, p)
		}
		if _, err := exec.LookPath(p); err != nil {
			return nil, err
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Path = "/bin/sh"
	cmd.Args = append([]string{"/bin/sh", "-c", gateScript, "sh"}, cmd.Args...)
	cmd.ExtraFiles = append([]*os.File{r}, cmd.ExtraFiles...)
	return w, nil
}

// join puts process pid in the cgroup.
func (c *cgroup) join(pid int) error {
	return writeFile(c.file("cgroup.procs"), strconv.Itoa(pid))
}

// procs returns the pids in the cgroup.
func (c *cgroup) procs() []int {
	b, err := os.ReadFile(c.file("cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// remove SIGKILLs whatever is left in the cgroup (processes that left
// the instance's process group are still in it) and removes it, trying
// for up to timeout, then the parent if it is empty; it returns how many
// processes it killed. A cgroup already gone is no error.
func (c *cgroup) remove(timeout time.Duration) error {
	_, err := c.removeCount(timeout)
	return err
}

func (c *cgroup) removeCount(timeout time.Duration) (killed int, err error) {
	if c == nil {
		return 0, nil
	}
	self := os.Getpid()
	deadline := time.Now().Add(timeout)
	seen := map[int]bool{}
	for {
		pids := c.procs()
		if len(pids) == 0 {
			err = os.Remove(c.dir)
			if err == nil || errors.Is(err, fs.ErrNotExist) {
				c.m.removeParent()
				return killed, nil
			}
		}
		for _, pid := range pids {
			if pid > 1 && pid != self {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				if !seen[pid] {
					seen[pid] = true
					killed++
				}
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("cgroup %s: %d processes left after SIGKILL", c.dir, len(pids))
			}
			return killed, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// clean removes every instance cgroup in the parent cgroups (this run's
// and the one a previous run recorded), killing what runs in them, and
// the previous parent itself; it returns how many processes it killed.
// Call it when no instance runs.
func (m memLimits) clean() (killed int) {
	for _, parent := range []string{m.parent, m.previous} {
		if parent == "" {
			continue
		}
		entries, err := os.ReadDir(parent)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			n, _ := (&cgroup{mode: m.mode, dir: filepath.Join(parent, e.Name())}).removeCount(2 * time.Second)
			killed += n
		}
	}
	m.removeParent()
	if m.previous != "" && os.Remove(m.previous) == nil && m.parent == "" {
		_ = os.Remove(m.record)
	}
	return killed
}

// removeParent removes the parent cgroup if it is empty.
func (m memLimits) removeParent() {
	if m.parent == "" {
		return
	}
	m.mu.Lock()
	_ = os.Remove(m.parent)
	m.mu.Unlock()
}

// sizeString writes n bytes as memory_limit would: "32M", "2G".
func sizeString(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
