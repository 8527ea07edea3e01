package cluster

import (
	"context"
	"net"
	"slices"
	"strconv"
	"time"
)

// DefaultRetryInterval is how often the RetryJoin addresses are tried by
// default: Consul's -retry-interval is 30s; a few seconds bring a restarted
// member back into the pool sooner, at the cost of one TCP push/pull per
// missing address per interval.
const DefaultRetryInterval = 5 * time.Second

// retryJoin waits until one of the RetryJoin addresses answers (or ctx
// ends), trying them every RetryInterval: an unattended start does not
// know which of its peers are up yet, nor when they will be.
func (c *Cluster) retryJoin(ctx context.Context) error {
	peers := c.others(c.cfg.RetryJoin)
	if len(peers) == 0 {
		return nil
	}
	for {
		n, err := c.ml.Join(peers)
		if n > 0 {
			c.log.Info("joined the domain through -retry-join", "contacted", n, "peers", peers)
			return nil
		}
		c.log.Info("no -retry-join address answered; retrying", "peers", peers, "err", err, "interval", c.retryInterval())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(c.retryInterval()):
		}
	}
}

// KeepJoined runs until ctx ends: every RetryInterval, it contacts again
// each RetryJoin address at which gossip sees no live member, and each
// member that came back as a new run (its Boot changed). memberlist never
// contacts a member it saw fail again, so without the first a peer
// restarted without -join (or cut off for longer than the failure
// detector's patience) would stay outside the pool for good. A peer
// restarted faster than it was declared dead is the second case: it
// answers probes and refutes its suspicion, so the others see it alive,
// but it knows none of them until a push/pull (30s apart, to a random
// member) happens to reach it.
func (c *Cluster) KeepJoined(ctx context.Context) {
	if len(c.others(c.cfg.RetryJoin)) == 0 {
		return
	}
	boots := map[string]string{} // member id -> the run last seen
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(c.retryInterval()):
		}
		contact := c.missing()
		self := c.Self().ID
		for _, m := range c.Members() {
			if m.ID == self || m.Status != StatusAlive {
				continue
			}
			if prev, ok := boots[m.ID]; ok && prev != m.Boot && !slices.Contains(contact, m.GossipAddr) {
				c.log.Info("member "+m.ID+" at "+m.GossipAddr+" runs anew: telling it the pool", "id", m.ID, "gossip", m.GossipAddr)
				contact = append(contact, m.GossipAddr)
			}
			boots[m.ID] = m.Boot
		}
		if len(contact) == 0 {
			continue
		}
		if n, err := c.ml.Join(contact); n > 0 {
			c.log.Info("contacted members gossip did not see alive or that restarted", "contacted", n, "addresses", contact)
		} else {
			c.log.Debug("-retry-join addresses gossip does not see alive did not answer", "addresses", contact, "err", err)
		}
	}
}

// missing returns the RetryJoin addresses at which no live member
// gossips, this node's own excluded.
func (c *Cluster) missing() []string {
	alive := map[string]bool{}
	for _, m := range c.ml.Members() {
		alive[net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))] = true
	}
	var out []string
	for _, p := range c.others(c.cfg.RetryJoin) {
		if !alive[resolveGossip(p)] {
			out = append(out, p)
		}
	}
	return out
}

// others returns addrs without this node's own address and empty ones.
func (c *Cluster) others(addrs []string) []string {
	self := c.GossipAddr()
	var out []string
	for _, p := range addrs {
		if p != "" && p != c.cfg.GossipAddr && p != self && resolveGossip(p) != self {
			out = append(out, p)
		}
	}
	return out
}

// resolveGossip turns a gossip address into the ip:port memberlist shows
// for a member there; an address it cannot resolve is returned as given.
func resolveGossip(addr string) string {
	a, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return addr
	}
	return a.String()
}

func (c *Cluster) retryInterval() time.Duration {
	if c.cfg.RetryInterval > 0 {
		return c.cfg.RetryInterval
	}
	return DefaultRetryInterval
}
