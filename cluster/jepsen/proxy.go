package jepsen

import (
	"errors"
	"io"
	"net"
	"sync"
)

// Net is the fault-injecting network between the nodes of a zone. Every
// node's Raft and gossip ports sit behind a proxy of Net's (the addresses
// the node advertises); a proxy tells which node sent a connection or
// packet by its source IP (node i dials from 127.0.0.<10+i>, since Cairn
// dials from the IP it binds) and passes traffic only over links that are
// not cut. Traffic from any other address (the harness itself) is never cut.
type Net struct {
	mu      sync.Mutex
	cut     map[link]bool
	changed chan struct{} // closed and replaced whenever cut changes
	ips     map[string]int
	proxies []io.Closer
}

// link is the direction from one node to another, by index.
type link struct{ from, to int }

// NewNet returns a network whose nodes have the given IPs (index i is
// node i).
func NewNet(ips []string) *Net {
	n := &Net{cut: map[link]bool{}, changed: make(chan struct{}), ips: map[string]int{}}
	for i, ip := range ips {
		n.ips[ip] = i
	}
	return n
}

// nodeOf returns the index of the node with ip, or -1.
func (n *Net) nodeOf(ip net.IP) int {
	if i, ok := n.ips[ip.String()]; ok {
		return i
	}
	return -1
}

// Partition cuts every link between nodes of different groups and heals
// the rest. A node in no group keeps all its links (a bridge, when two
// groups would otherwise not see each other, is simply in both).
func (n *Net) Partition(groups ...[]int) {
	side := map[int][]int{}
	for g, nodes := range groups {
		for _, i := range nodes {
			side[i] = append(side[i], g)
		}
	}
	shares := func(a, b int) bool {
		for _, x := range side[a] {
			for _, y := range side[b] {
				if x == y {
					return true
				}
			}
		}
		return false
	}
	cut := map[link]bool{}
	for a := range side {
		for b := range side {
			if a != b && !shares(a, b) {
				cut[link{a, b}] = true
			}
		}
	}
	n.set(cut)
}

// Heal restores every link.
func (n *Net) Heal() { n.set(map[link]bool{}) }

func (n *Net) set(cut map[link]bool) {
	n.mu.Lock()
	n.cut = cut
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
}

// blocked reports whether traffic from node from to node to is cut, and a
// channel closed at the next change.
func (n *Net) blocked(from, to int) (bool, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return from >= 0 && to >= 0 && n.cut[link{from, to}], n.changed
}

// await blocks while the link from→to is cut; false if done closed first.
func (n *Net) await(from, to int, done <-chan struct{}) bool {
	for {
		cut, changed := n.blocked(from, to)
		if !cut {
			return true
		}
		select {
		case <-changed:
		case <-done:
			return false
		}
	}
}

// Close stops every proxy.
func (n *Net) Close() {
	n.mu.Lock()
	ps := n.proxies
	n.proxies = nil
	n.mu.Unlock()
	for _, p := range ps {
		p.Close()
	}
}

func (n *Net) track(c io.Closer) {
	n.mu.Lock()
	n.proxies = append(n.proxies, c)
	n.mu.Unlock()
}

// ProxyTCP listens on addr and relays each connection to target, the
// node to's real listener. A cut link stalls its direction: bytes already
// read wait in the proxy and nothing more is read, as when packets are
// dropped and TCP retransmits; after healing they flow again, unless an
// end gave up meanwhile.
func (n *Net) ProxyTCP(addr, target string, to int) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	p := &tcpProxy{net: n, ln: ln, target: target, to: to, done: make(chan struct{}), conns: map[net.Conn]bool{}}
	n.track(p)
	go p.serve()
	return ln.Addr().String(), nil
}

type tcpProxy struct {
	net    *Net
	ln     net.Listener
	target string
	to     int
	done   chan struct{}

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		from := p.net.nodeOf(c.RemoteAddr().(*net.TCPAddr).IP)
		go p.relay(c, from)
	}
}

func (p *tcpProxy) relay(c net.Conn, from int) {
	up, err := net.Dial("tcp", p.target)
	if err != nil { // the node is down: refuse as it would
		c.Close()
		return
	}
	if !p.add(c, up) {
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(up, c, from, p.to) }()
	go func() { defer wg.Done(); p.pipe(c, up, p.to, from) }()
	wg.Wait()
	p.remove(c, up)
}

// pipe copies src to dst while the link from→to is not cut; either end
// failing closes both.
func (p *tcpProxy) pipe(dst, src net.Conn, from, to int) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			if !p.net.await(from, to, p.done) {
				return
			}
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *tcpProxy) add(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

func (p *tcpProxy) remove(cs ...net.Conn) {
	p.mu.Lock()
	for _, c := range cs {
		delete(p.conns, c)
	}
	p.mu.Unlock()
}

func (p *tcpProxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	return p.ln.Close()
}

// ProxyUDP listens on addr and relays datagrams to target, the node to's
// real gossip port, each source through a socket of its own so that
// replies find their way back. Datagrams over a cut link are dropped.
func (n *Net) ProxyUDP(addr, target string, to int) (string, error) {
	ta, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return "", err
	}
	la, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return "", err
	}
	pc, err := net.ListenUDP("udp", la)
	if err != nil {
		return "", err
	}
	p := &udpProxy{net: n, pc: pc, target: ta, to: to, sessions: map[string]*net.UDPConn{}}
	n.track(p)
	go p.serve()
	return pc.LocalAddr().String(), nil
}

type udpProxy struct {
	net    *Net
	pc     *net.UDPConn
	target *net.UDPAddr
	to     int

	mu       sync.Mutex
	sessions map[string]*net.UDPConn // by source address
	closed   bool
}

func (p *udpProxy) serve() {
	buf := make([]byte, 64<<10)
	for {
		k, src, err := p.pc.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		from := p.net.nodeOf(src.IP)
		if cut, _ := p.net.blocked(from, p.to); cut {
			continue
		}
		up := p.session(src, from)
		if up != nil {
			up.Write(buf[:k])
		}
	}
}

// session returns the socket that relays src's datagrams, made on first
// use together with the goroutine that relays the node's replies back.
func (p *udpProxy) session(src *net.UDPAddr, from int) *net.UDPConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if up, ok := p.sessions[src.String()]; ok {
		return up
	}
	up, err := net.DialUDP("udp", nil, p.target)
	if err != nil {
		return nil
	}
	p.sessions[src.String()] = up
	go func() {
		buf := make([]byte, 64<<10)
		for {
			k, err := up.Read(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil { // e.g. the node is down: ICMP port unreachable
				continue
			}
			if cut, _ := p.net.blocked(p.to, from); !cut {
				p.pc.WriteToUDP(buf[:k], src)
			}
		}
	}()
	return up
}

func (p *udpProxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for _, s := range p.sessions {
		s.Close()
	}
	p.mu.Unlock()
	return p.pc.Close()
}
