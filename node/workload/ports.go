package workload

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"
)

// portRetry is how often an instance whose port another program holds
// looks again.
var portRetry = time.Second

// portTaken returns the first of ports (with its index) that a program
// listens on, on any address of this node, or -1. The scheduler never
// gives one port of a node to two instances (and the supervisor starts an
// instance only once those it takes ports from have stopped), so a port
// taken is taken by something the zone does not run. Only TCP is looked
// at; a bind conflict is looked for, not a connection: the wildcard
// listen fails (EADDRINUSE) when any address holds the port.
func portTaken(ports []int) (index, port int) {
	for i, p := range ports {
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err == nil {
			ln.Close()
			continue
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			return i, p
		}
	}
	return -1, 0
}

// waitPorts holds the instance back while a program of someone else's
// holds one of its ports, reporting it CRASHED and failed with a reason
// naming the port; it returns false if the instance is stopped meanwhile. Chosen over drawing another
// port: the port is the scheduler's, written in the placement that links
// resolve to, and a node's view of its ports is not the zone's.
func (i *instance) waitPorts(restarts int) bool {
	for {
		idx, port := portTaken(i.d.placed.Ports)
		if idx < 0 {
			return true
		}
		name := ""
		if idx < len(i.d.spec.Ports) {
			name = i.d.spec.Ports[idx]
		}
		i.report(Status{State: InstanceCrashed, Failed: true, Restarts: restarts,
			Reason: fmt.Sprintf("port %d (%s) is in use on node %s by a program the zone does not run; the instance starts once it is free", port, name, i.s.cfg.NodeID)})
		select {
		case <-i.stopCh:
			return false
		case <-time.After(portRetry):
		}
	}
}
