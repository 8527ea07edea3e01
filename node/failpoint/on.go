//go:build failpoints

package failpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// errnos are the errors error(ERRNO) can return.
var errnos = map[string]syscall.Errno{"ENOSPC": syscall.ENOSPC, "EIO": syscall.EIO, "EROFS": syscall.EROFS}

// Enabled reports whether this binary was built with failpoints.
const Enabled = true

// action is what an armed failpoint does when reached.
type action struct {
	spec    string // as armed, for GET
	kind    string // panic, exit, sleep, error
	sleep   time.Duration
	errno   syscall.Errno // for error
	percent float64       // 0 < percent <= 100
	left    int           // fires left; -1 for unlimited
}

var (
	mu    sync.Mutex
	armed = map[string]*action{}
)

// errUnknown means no failpoint has that name.
var errUnknown = errors.New("no such failpoint")

// parse reads "[P%][N*]kind".
func parse(spec string) (*action, error) {
	a := &action{spec: spec, percent: 100, left: -1}
	s := strings.TrimSpace(spec)
	if p, rest, ok := strings.Cut(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f <= 0 || f > 100 {
			return nil, fmt.Errorf("probability %q is not a percentage in (0, 100]", p)
		}
		a.percent, s = f, rest
	}
	if n, rest, ok := strings.Cut(s, "*"); ok {
		k, err := strconv.Atoi(n)
		if err != nil || k < 1 {
			return nil, fmt.Errorf("count %q is not a positive integer", n)
		}
		a.left, s = k, rest
	}
	switch {
	case s == "panic", s == "exit", s == "off":
		a.kind = s
	case strings.HasPrefix(s, "sleep(") && strings.HasSuffix(s, ")"):
		d, err := time.ParseDuration(s[len("sleep(") : len(s)-1])
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("sleep needs a positive duration such as sleep(2s), got %q", s)
		}
		a.kind, a.sleep = "sleep", d
	case strings.HasPrefix(s, "error(") && strings.HasSuffix(s, ")"):
		e, ok := errnos[s[len("error("):len(s)-1]]
		if !ok {
			return nil, fmt.Errorf("error needs one of ENOSPC, EIO, EROFS, such as error(ENOSPC), got %q", s)
		}
		a.kind, a.errno = "error", e
	default:
		return nil, fmt.Errorf("action %q is none of panic, exit, sleep(DURATION), error(ERRNO), off", s)
	}
	return a, nil
}

// Arm sets failpoint name to spec; "off" disarms it.
func Arm(name, spec string) error {
	if !slices.Contains(Names, name) {
		return fmt.Errorf("%w: %q (known: %s)", errUnknown, name, strings.Join(Names, ", "))
	}
	a, err := parse(spec)
	if err != nil {
		return err
	}
	if a.kind == "error" && !slices.Contains(ErrorNames, name) {
		return fmt.Errorf("failpoint %s cannot return an error (those that can: %s)", name, strings.Join(ErrorNames, ", "))
	}
	mu.Lock()
	defer mu.Unlock()
	if a.kind == "off" {
		delete(armed, name)
	} else {
		armed[name] = a
	}
	slog.Warn("failpoint armed", "component", "failpoint", "name", name, "action", spec)
	return nil
}

// ArmFromEnv arms what CAIRN_FAILPOINTS names.
func ArmFromEnv() error {
	for _, kv := range strings.Split(os.Getenv(EnvVar), ";") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		name, spec, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("%s: %q is not name=action", EnvVar, kv)
		}
		if err := Arm(strings.TrimSpace(name), spec); err != nil {
			return fmt.Errorf("%s: %w", EnvVar, err)
		}
	}
	return nil
}

// Inject runs the action armed at name, if any.
func Inject(name string) { InjectError(name) }

// InjectError runs the action armed at name, if any, and returns the
// error an error(ERRNO) action makes; nil otherwise.
func InjectError(name string) error {
	mu.Lock()
	a := armed[name]
	if a == nil || a.percent < 100 && rand.Float64()*100 >= a.percent {
		mu.Unlock()
		return nil
	}
	if a.left > 0 {
		if a.left--; a.left == 0 {
			delete(armed, name)
		}
	}
	kind, sleep, errno := a.kind, a.sleep, a.errno
	mu.Unlock()
	switch kind {
	case "panic":
		// In a goroutine of its own, so that no recover (the HTTP server's)
		// can turn the crash into an error reply: the process dies here.
		go panic("failpoint " + name + " fired")
		select {}
	case "exit":
		fmt.Fprintf(os.Stderr, "failpoint %s fired: exiting\n", name)
		os.Exit(2)
	case "sleep":
		time.Sleep(sleep)
	case "error":
		return fmt.Errorf("failpoint %s fired: %w", name, errno)
	}
	return nil
}

// Handler serves GET /debug/failpoints, PUT and DELETE
// /debug/failpoints/{name}.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.Trim(strings.TrimPrefix(r.URL.Path, HTTPPrefix), "/")
		switch {
		case name == "" && r.Method == http.MethodGet:
			mu.Lock()
			out := map[string]string{}
			for n, a := range armed {
				out[n] = a.spec
			}
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(out)
		case name != "" && (r.Method == http.MethodPut || r.Method == http.MethodDelete):
			spec := "off"
			if r.Method == http.MethodPut {
				b, err := io.ReadAll(io.LimitReader(r.Body, 1024))
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				spec = string(b)
			}
			if err := Arm(name, spec); err != nil {
				status := http.StatusBadRequest
				if errors.Is(err, errUnknown) {
					status = http.StatusNotFound
				}
				http.Error(w, err.Error(), status)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "GET "+HTTPPrefix+", or PUT/DELETE "+HTTPPrefix+"/{name}", http.StatusMethodNotAllowed)
		}
	})
}
