// Package freeport picks the ports that tests and the jepsen harness give
// the cairn agents they start. The ports lie outside the kernel's
// ephemeral range (net.ipv4.ip_local_port_range), where outgoing
// connections take their local ports: a node restarted on its old
// address must find that address free, and a port of the ephemeral range
// can meanwhile be held by any process's outgoing connection (a CI run
// failed that way: the raft port of a killed node was taken when it came
// back).
package freeport

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Picker hands out ports, each at most once: a port of a node that is
// down looks free, but is that node's again at its restart.
type Picker struct {
	lo, hi int // ports picked from [lo, hi)

	mu    sync.Mutex
	rng   *rand.Rand
	given map[int]bool
}

// New returns a picker whose choices follow seed.
func New(seed uint64) *Picker {
	lo, hi := portRange(readEphemeralRange())
	return &Picker{lo: lo, hi: hi, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)), given: map[int]bool{}}
}

// ErrNoFreePort means no free port was found in many tries.
var ErrNoFreePort = errors.New("freeport: no free port found outside the ephemeral range")

// Pick returns the first of n consecutive ports that are free on ip for
// TCP (and UDP too if udp) and were never handed out by p, and reserves
// them. They may be taken by another process before they are bound.
func (p *Picker) Pick(ip string, n int, udp bool) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range 500 {
		first := p.lo + p.rng.IntN(p.hi-p.lo-n+1)
		if !p.free(ip, first, n, udp) {
			continue
		}
		for port := first; port < first+n; port++ {
			p.given[port] = true
		}
		return first, nil
	}
	return 0, ErrNoFreePort
}

func (p *Picker) free(ip string, first, n int, udp bool) bool {
	for port := first; port < first+n; port++ {
		if p.given[port] || !bindable(ip, port, udp) {
			return false
		}
	}
	return true
}

// bindable reports whether ip:port can be listened on right now.
func bindable(ip string, port int, udp bool) bool {
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	if !udp {
		return true
	}
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// portRange returns [lo, hi): from 20000 (clear of the well-known ports
// and of Cairn's own defaults) up to the ephemeral range, or above it
// when it starts too low to leave room below.
func portRange(ephemeralLo, ephemeralHi int, known bool) (lo, hi int) {
	const base, room = 20000, 2000
	lo, hi = base, 32768 // Linux's default ephemeral range starts at 32768
	if !known {
		return lo, hi
	}
	switch {
	case ephemeralLo >= base+room:
		hi = ephemeralLo
	case ephemeralHi+room <= 65536:
		lo, hi = max(ephemeralHi+1, base), 65536
	}
	return lo, hi
}

// readEphemeralRange reads Linux's ephemeral port range; known is false
// elsewhere or when it cannot be read.
func readEphemeralRange() (lo, hi int, known bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, false
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lo > hi {
		return 0, 0, false
	}
	return lo, hi, true
}
