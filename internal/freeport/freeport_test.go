package freeport

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
)

func Test_PortRange(t *testing.T) {
	for _, c := range []struct {
		name           string
		eLo, eHi       int
		known          bool
		wantLo, wantHi int
	}{
		{"Linux default: below it", 32768, 60999, true, 20000, 32768},
		{"starts higher: up to it", 49152, 65535, true, 20000, 49152},
		{"starts too low: above it", 15000, 40000, true, 40001, 65536},
		{"low and small: above it from 20000", 1024, 5000, true, 20000, 65536},
		{"covers everything: the default", 10000, 65000, true, 20000, 32768},
		{"unknown: the default", 0, 0, false, 20000, 32768},
	} {
		lo, hi := portRange(c.eLo, c.eHi, c.known)
		if lo != c.wantLo || hi != c.wantHi {
			t.Errorf("%s: [%d, %d), want [%d, %d)", c.name, lo, hi, c.wantLo, c.wantHi)
		}
	}
}

// Test_Pick_OutsideTheEphemeralRange_NeverTwice: every port handed out is
// outside the kernel's ephemeral range and handed out once, runs included.
func Test_Pick_OutsideTheEphemeralRange_NeverTwice(t *testing.T) {
	eLo, eHi, known := readEphemeralRange()
	p := New(1)
	seen := map[int]bool{}
	for range 50 {
		first, err := p.Pick("127.0.0.1", 3, true)
		if err != nil {
			t.Fatal(err)
		}
		for port := first; port < first+3; port++ {
			if known && port >= eLo && port <= eHi {
				t.Fatalf("port %d is in the ephemeral range %d-%d", port, eLo, eHi)
			}
			if seen[port] {
				t.Fatalf("port %d handed out twice", port)
			}
			seen[port] = true
		}
	}
}

// Test_Pick_SkipsAPortInUse: of two candidate ports, the one another
// socket holds is never picked; once both are gone, Pick says so.
func Test_Pick_SkipsAPortInUse(t *testing.T) {
	p := New(2)
	first, err := p.Pick("127.0.0.1", 2, false)
	if err != nil {
		t.Fatal(err)
	}
	held, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(first)))
	if err != nil {
		t.Skipf("port %d taken meanwhile: %v", first, err)
	}
	defer held.Close()
	narrow := &Picker{lo: first, hi: first + 2, rng: rand.New(rand.NewPCG(3, 4)), given: map[int]bool{}}
	got, err := narrow.Pick("127.0.0.1", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if got != first+1 {
		t.Fatalf("picked %d; %d is held, so %d was the only choice", got, first, first+1)
	}
	if _, err := narrow.Pick("127.0.0.1", 1, false); !errors.Is(err, ErrNoFreePort) {
		t.Fatalf("third pick from two ports: %v, want ErrNoFreePort", err)
	}
}
