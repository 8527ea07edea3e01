package workload

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func mustUnpack(t *testing.T, blob []byte) (string, error) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "blob")
	if err := os.WriteFile(p, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "app")
	os.Mkdir(out, 0o750)
	return out, unpack(p, out)
}

func Test_Unpack_TarGzZipAndSingleFile(t *testing.T) {
	out, err := mustUnpack(t, tarGz(t, map[string]string{"app/bash_start.sh": "echo hi\n", "app/lib/x.txt": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "app", "lib", "x.txt")); string(b) != "x" {
		t.Fatalf("tar.gz entry: %q", b)
	}
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	w, _ := zw.Create("main.py")
	w.Write([]byte("print(1)\n"))
	zw.Close()
	if out, err = mustUnpack(t, zbuf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "main.py")); string(b) != "print(1)\n" {
		t.Fatalf("zip entry: %q", b)
	}
	if out, err = mustUnpack(t, []byte("#!/bin/sh\necho single\n")); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(out, "app")); err != nil || st.Mode()&0o100 == 0 {
		t.Fatalf("single file: %v %v, want an executable app", st, err)
	}
}

func Test_Unpack_EntryOutsideDir_Refused(t *testing.T) {
	for _, name := range []string{"../evil", "a/../../evil", "/etc/evil"} {
		_, err := mustUnpack(t, tarGz(t, map[string]string{name: "x"}))
		if err == nil {
			t.Errorf("entry %q accepted", name)
		}
	}
}

func Test_DetectRuntime_SeedOrder_AndStartCommands(t *testing.T) {
	cases := []struct {
		files   []string
		runtime string
		start   string
	}{
		{[]string{"bash_start.sh", "x.py"}, "bash", "bash bash_start.sh"},
		{[]string{"Gemfile", "app.rb"}, "ruby", "ruby app.rb"},
		{[]string{"package.json", "server.js"}, "nodejs", "node server.js"},
		{[]string{"my app.jar"}, "java", "java $JAVA_OPTS -jar 'my app.jar'"},
		{[]string{"manage.py", "main.py"}, "python", "python3 main.py"},
		{[]string{"main.go"}, "go", "go run ."},
	}
	for _, c := range cases {
		rt, ok := DetectRuntime(c.files)
		if !ok || rt.Name != c.runtime {
			t.Errorf("%v: runtime %q %v, want %q", c.files, rt.Name, ok, c.runtime)
			continue
		}
		if got, err := rt.start(c.files); err != nil || got != c.start {
			t.Errorf("%v: start %q %v, want %q", c.files, got, err, c.start)
		}
	}
	if _, ok := DetectRuntime([]string{"README"}); ok {
		t.Fatal("a runtime matched README")
	}
	rt, _ := runtimeByName("static-site")
	if _, err := rt.start([]string{"index.html"}); err == nil || !strings.Contains(err.Error(), "ports are not built yet") {
		t.Fatalf("static-site: %v", err)
	}
}
