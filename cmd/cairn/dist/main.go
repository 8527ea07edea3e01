// Command dist builds Cairn's .deb with nfpm, used as a Go library
// (github.com/goreleaser/nfpm/v2): `make dist` runs it once per
// architecture with a built binary. It is a module of its own so that
// nfpm's dependencies stay out of Cairn's.
//
//	go run . -binary ../../../dist/cairn_v1_linux_amd64/cairn -arch amd64 -version v1 -out ../../../dist
//
// The package installs /usr/bin/cairn, the systemd unit, and
// /etc/cairn/cairn.yaml (a conffile, kept on upgrade); creates the cairn
// system user and group (preinstall.sh), and /etc/cairn and /var/lib/cairn
// owned as the unit needs (postinstall.sh). It neither enables nor starts
// the service: the settings come first.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
)

func main() {
	binary := flag.String("binary", "", "the cairn binary to package (linux, of -arch)")
	arch := flag.String("arch", runtime.GOARCH, "its Go architecture: amd64 or arm64")
	version := flag.String("version", "", "the package version (git describe: v1.2.3, v1.2.3-4-gabcdef, or a commit)")
	out := flag.String("out", ".", "directory the .deb is written to")
	assets := flag.String("assets", ".", "directory of cairn.service, cairn.yaml and the install scripts")
	flag.Parse()
	path, err := build(*binary, *arch, *version, *out, *assets)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}

// build writes the .deb and returns its path.
func build(binary, arch, version, out, assets string) (string, error) {
	if binary == "" || version == "" {
		return "", fmt.Errorf("-binary and -version are required")
	}
	if _, err := os.Stat(binary); err != nil {
		return "", err
	}
	asset := func(name string) string { return filepath.Join(assets, name) }
	mtime := time.Now().UTC()
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		var sec int64
		if _, err := fmt.Sscan(epoch, &sec); err == nil {
			mtime = time.Unix(sec, 0).UTC()
		}
	}
	info := &nfpm.Info{
		Name:        "cairn",
		Arch:        arch,
		Platform:    "linux",
		Version:     debVersion(version),
		Section:     "admin",
		Priority:    "optional",
		Maintainer:  "Cairn maintainers <cairn@localhost>",
		Description: "Cairn: a clustered, replicated management node for on-prem fleets",
		License:     "Proprietary",
		MTime:       mtime,
		Overridables: nfpm.Overridables{
			Depends: []string{"adduser | passwd"},
			Contents: files.Contents{
				{Source: binary, Destination: "/usr/bin/cairn", FileInfo: &files.ContentFileInfo{Mode: 0o755}},
				{Source: asset("cairn.service"), Destination: "/lib/systemd/system/cairn.service", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
				{Source: asset("cairn.yaml"), Destination: "/etc/cairn/cairn.yaml", Type: files.TypeConfigNoReplace,
					FileInfo: &files.ContentFileInfo{Mode: 0o640, Owner: "root", Group: "cairn"}},
				{Destination: "/etc/cairn", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o750, Owner: "root", Group: "cairn"}},
				{Destination: "/var/lib/cairn", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o750, Owner: "cairn", Group: "cairn"}},
			},
			Scripts: nfpm.Scripts{
				PreInstall:  asset("preinstall.sh"),
				PostInstall: asset("postinstall.sh"),
				PreRemove:   asset("preremove.sh"),
				PostRemove:  asset("postremove.sh"),
			},
		},
	}
	info = nfpm.WithDefaults(info)
	info.VersionSchema = "none"
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", err
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(out, pkg.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := pkg.Package(info, f); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	return path, f.Close()
}

// debVersion turns a git-describe version into one dpkg orders: the
// leading v goes, a describe suffix (-N-gHASH) becomes +N.gHASH, and a
// version that does not start with a digit (a bare commit, "dev") gets
// 0.0.0~ in front.
func debVersion(v string) string {
	v = strings.TrimPrefix(v, "v")
	v = strings.ReplaceAll(v, "-dirty", "+dirty")
	if parts := strings.SplitN(v, "-", 2); len(parts) == 2 {
		v = parts[0] + "+" + strings.ReplaceAll(parts[1], "-", ".")
	}
	if v == "" || v[0] < '0' || v[0] > '9' {
		v = "0.0.0~" + v
	}
	return v
}
