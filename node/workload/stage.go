package workload

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Runtime is a staging runtime: the file patterns of the Apcera seed's
// GET /runtimes (a top-level file matching one selects it; runtimes are
// tried in the seed's order), the interpreter it needs on the node, and
// how it picks the start command.
type Runtime struct {
	Name        string   `json:"runtime"`
	Patterns    []string `json:"patterns"`
	Interpreter string   `json:"-"`
	start       func(files []string) (string, error)
}

// firstOf returns the first of names present in files, else the first
// file matching pattern (in name order), else "".
func firstOf(files []string, pattern string, names ...string) string {
	have := map[string]bool{}
	for _, f := range files {
		have[f] = true
	}
	for _, n := range names {
		if have[n] {
			return n
		}
	}
	for _, f := range files {
		if ok, _ := filepath.Match(pattern, f); ok {
			return f
		}
	}
	return ""
}

func run(interp, pattern, what string, names ...string) func([]string) (string, error) {
	return func(files []string) (string, error) {
		f := firstOf(files, pattern, names...)
		if f == "" {
			return "", fmt.Errorf("no %s to run; give a command", what)
		}
		return interp + " " + shellQuote(f), nil
	}
}

// Runtimes are the runtimes of the Apcera seed, in its order.
var Runtimes = []Runtime{
	{Name: "bash", Patterns: []string{"bash_start.sh", "bash_setup.sh"}, Interpreter: "bash",
		start: run("bash", "bash_start.sh", "bash_start.sh", "bash_start.sh")},
	{Name: "ruby", Patterns: []string{"*.rb", "Gemfile", "Gemfile.lock"}, Interpreter: "ruby",
		start: run("ruby", "*.rb", ".rb file", "app.rb", "main.rb", "server.rb")},
	{Name: "nodejs", Patterns: []string{"package.json", "node_modules", "*.js"}, Interpreter: "node",
		start: run("node", "*.js", ".js file", "server.js", "app.js", "index.js", "main.js")},
	{Name: "java", Patterns: []string{"pom.xml", "*.jar", "*.war", "*.java"}, Interpreter: "java",
		start: run("java $JAVA_OPTS -jar", "*.jar", ".jar (building from pom.xml or .java sources is not built)")},
	{Name: "perl", Patterns: []string{"Makefile.PL", "Build.PL", "META.yml", "META.json"}, Interpreter: "perl",
		start: run("perl", "*.pl", ".pl file", "app.pl", "main.pl")},
	{Name: "php", Patterns: []string{"*.php", "php.ini"}, Interpreter: "php",
		start: run("php", "*.php", ".php file", "index.php")},
	{Name: "python", Patterns: []string{"*.py", "runtime.txt", "manage.py"}, Interpreter: "python3",
		start: run("python3", "*.py", ".py file", "app.py", "main.py", "server.py")},
	{Name: "static-site", Patterns: []string{"index.html"}, Interpreter: "python3",
		start: func([]string) (string, error) {
			return "", fmt.Errorf("a static site is served on a port, and ports are not built yet; give a command")
		}},
	{Name: "go", Patterns: []string{"*.go"}, Interpreter: "go",
		start: func([]string) (string, error) { return "go run .", nil }},
}

// RuntimeNames lists the runtimes' names.
func RuntimeNames() []string {
	out := make([]string, len(Runtimes))
	for i, r := range Runtimes {
		out[i] = r.Name
	}
	return out
}

func runtimeByName(name string) (Runtime, bool) {
	for _, r := range Runtimes {
		if r.Name == name {
			return r, true
		}
	}
	return Runtime{}, false
}

// DetectRuntime returns the first runtime, in the seed's order, one of
// whose patterns matches one of files (top-level names).
func DetectRuntime(files []string) (Runtime, bool) {
	for _, r := range Runtimes {
		for _, p := range r.Patterns {
			for _, f := range files {
				if ok, _ := filepath.Match(p, f); ok {
					return r, true
				}
			}
		}
	}
	return Runtime{}, false
}

// Staged is an artifact staged on this node.
type Staged struct {
	Runtime string `json:"runtime"`
	// StartCommand is the runtime's start command (a shell command line),
	// "" when the workload's command runs instead.
	StartCommand string `json:"start_command"`
	// StartPath is the application's directory.
	StartPath string `json:"start_path"`
}

// Unpacking limits: an archive may not expand past maxUnpacked bytes or
// maxEntries entries.
const (
	maxUnpacked = 4 << 30
	maxEntries  = 100000
	stagedMark  = ".cairn-staged.json"
)

// stage stages artifact sum for d on this node, once per artifact and
// runtime: later instances reuse the directory.
func (s *Supervisor) stage(d desired) (Staged, error) {
	key := d.spec.Artifact + "-" + d.spec.Runtime
	if d.spec.Runtime == "" {
		key = d.spec.Artifact + "-auto"
	}
	if len(d.spec.Command) > 0 {
		key += "-cmd"
	}
	s.stageMu.Lock()
	defer s.stageMu.Unlock()
	dir := filepath.Join(s.cfg.DataDir, "workloads", "staged", key)
	if b, err := os.ReadFile(filepath.Join(dir, stagedMark)); err == nil {
		var st Staged
		if json.Unmarshal(b, &st) == nil {
			return st, nil
		}
	}
	os.RemoveAll(dir)
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := dir + ".tmp-" + hex.EncodeToString(rnd[:])
	defer os.RemoveAll(tmp)
	appDir := filepath.Join(tmp, "app")
	if err := os.MkdirAll(appDir, 0o750); err != nil {
		return Staged{}, err
	}
	blob := filepath.Join(tmp, "artifact")
	f, err := os.Create(blob)
	if err != nil {
		return Staged{}, err
	}
	err = WriteArtifact(s.store.View(), d.spec.Artifact, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Staged{}, err
	}
	if err := unpack(blob, appDir); err != nil {
		return Staged{}, fmt.Errorf("unpacking artifact %s: %w", d.spec.Artifact, err)
	}
	root := appDir
	if entries, _ := os.ReadDir(appDir); len(entries) == 1 && entries[0].IsDir() {
		root = filepath.Join(appDir, entries[0].Name())
	}
	var files []string
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		files = append(files, e.Name())
	}
	sort.Strings(files)
	st := Staged{}
	var rt Runtime
	var ok bool
	if d.spec.Runtime != "" {
		rt, ok = runtimeByName(d.spec.Runtime)
	} else {
		rt, ok = DetectRuntime(files)
	}
	switch {
	case ok:
		st.Runtime = rt.Name
		if _, err := exec.LookPath(rt.Interpreter); err != nil && len(d.spec.Command) == 0 {
			return Staged{}, fmt.Errorf("runtime %s needs %s, which is not on node %s's PATH", rt.Name, rt.Interpreter, s.cfg.NodeID)
		}
		if len(d.spec.Command) == 0 {
			if st.StartCommand, err = rt.start(files); err != nil {
				return Staged{}, fmt.Errorf("runtime %s: %w", rt.Name, err)
			}
		}
	case len(d.spec.Command) == 0:
		return Staged{}, fmt.Errorf("no runtime matches the artifact's files (%s); give a runtime or a command", strings.Join(firstN(files, 10), ", "))
	}
	rel, _ := filepath.Rel(tmp, root)
	st.StartPath = filepath.Join(dir, rel)
	b, _ := json.Marshal(st)
	if err := os.WriteFile(filepath.Join(tmp, stagedMark), b, 0o640); err != nil {
		return Staged{}, err
	}
	os.Remove(blob)
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		return Staged{}, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return Staged{}, err
	}
	if c := s.cfg.Credential; c != nil {
		filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, int(c.Uid), int(c.Gid)) })
	}
	s.log.Info("staged an artifact", "artifact", d.spec.Artifact, "runtime", st.Runtime, "start_command", st.StartCommand, "start_path", st.StartPath)
	return st, nil
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "...")
	}
	return s
}

// unpack unpacks blob into dir: a tar.gz, a zip, or else a single file
// (named "app", executable when it starts with "#!"). Entries that would
// land outside dir, links and special files are refused.
func unpack(blob, dir string) error {
	f, err := os.Open(blob)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		return untar(tar.NewReader(zr), dir)
	case bytes.HasPrefix(magic, []byte("PK\x03\x04")):
		st, err := f.Stat()
		if err != nil {
			return err
		}
		zr, err := zip.NewReader(f, st.Size())
		if err != nil {
			return err
		}
		return unzip(zr, dir)
	}
	mode := os.FileMode(0o640)
	if bytes.HasPrefix(magic, []byte("#!")) {
		mode = 0o750
	}
	out, err := os.OpenFile(filepath.Join(dir, "app"), os.O_CREATE|os.O_WRONLY|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, br)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// target returns where an archive entry goes, refusing one that would
// land outside dir.
func target(dir, name string) (string, error) {
	if name == "" || strings.Contains(name, "\x00") || strings.HasPrefix(filepath.ToSlash(name), "/") {
		return "", fmt.Errorf("entry %q: not a relative path", name)
	}
	for _, part := range strings.Split(filepath.ToSlash(name), "/") {
		if part == ".." {
			return "", fmt.Errorf("entry %q leads outside the archive", name)
		}
	}
	return filepath.Join(dir, filepath.Clean(name)), nil
}

func writeEntry(path string, r io.Reader, mode os.FileMode, budget *int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode&0o750|0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, io.LimitReader(r, *budget+1))
	*budget -= n
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && *budget < 0 {
		err = fmt.Errorf("the archive expands past %d bytes", int64(maxUnpacked))
	}
	return err
}

func untar(tr *tar.Reader, dir string) error {
	budget := int64(maxUnpacked)
	for n := 0; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if n >= maxEntries {
			return fmt.Errorf("more than %d entries", maxEntries)
		}
		path, err := target(dir, h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o750); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := writeEntry(path, tr, os.FileMode(h.Mode), &budget); err != nil {
				return err
			}
		default:
			// Links and special files are skipped: a link could lead
			// outside the staging directory.
		}
	}
}

func unzip(zr *zip.Reader, dir string) error {
	if len(zr.File) > maxEntries {
		return fmt.Errorf("more than %d entries", maxEntries)
	}
	budget := int64(maxUnpacked)
	for _, zf := range zr.File {
		path, err := target(dir, zf.Name)
		if err != nil {
			return err
		}
		mode := zf.Mode()
		switch {
		case mode.IsDir():
			if err := os.MkdirAll(path, 0o750); err != nil {
				return err
			}
		case mode.IsRegular():
			rc, err := zf.Open()
			if err != nil {
				return err
			}
			err = writeEntry(path, rc, mode.Perm(), &budget)
			rc.Close()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Inspect stages the artifact in file blob as a node would, in a
// temporary directory it removes, to say what running it takes: the
// runtime (runtime, if given; else detected from the top-level files) and
// its start command. Unlike a node's staging it needs no interpreter on
// this node's PATH: it is how a dialect tells a client what a package
// will run (Apcera's staging of a package) before any node runs it.
func Inspect(blob, runtime string) (Staged, error) {
	tmp, err := os.MkdirTemp("", "cairn-inspect-*")
	if err != nil {
		return Staged{}, err
	}
	defer os.RemoveAll(tmp)
	if err := unpack(blob, tmp); err != nil {
		return Staged{}, fmt.Errorf("unpacking: %w", err)
	}
	root := tmp
	if entries, _ := os.ReadDir(tmp); len(entries) == 1 && entries[0].IsDir() {
		root = filepath.Join(tmp, entries[0].Name())
	}
	var files []string
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		files = append(files, e.Name())
	}
	sort.Strings(files)
	var rt Runtime
	var ok bool
	if runtime != "" {
		if rt, ok = runtimeByName(runtime); !ok {
			return Staged{}, fmt.Errorf("runtime %q is not one of %s", runtime, strings.Join(RuntimeNames(), ", "))
		}
	} else if rt, ok = DetectRuntime(files); !ok {
		return Staged{}, fmt.Errorf("no runtime matches the package's files (%s)", strings.Join(firstN(files, 10), ", "))
	}
	st := Staged{Runtime: rt.Name}
	if st.StartCommand, err = rt.start(files); err != nil {
		return Staged{}, fmt.Errorf("runtime %s: %w", rt.Name, err)
	}
	return st, nil
}
