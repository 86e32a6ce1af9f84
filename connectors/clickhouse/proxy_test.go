package clickhouse

import (
	"io"
	"net"
	"sync"
	"testing"
)

// proxy is a TCP proxy on 127.0.0.1 that a test can cut (refusing and
// dropping every connection) and restore, to play a ClickHouse that goes
// away and comes back.
type proxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	// stalls is how many of the next connections are accepted and never
	// answered (a server too slow to say hello); stalled counts them.
	stalls, stalled int
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *proxy) pipe(c net.Conn) {
	p.mu.Lock()
	stall := p.stalls > 0
	if stall {
		p.stalls--
		p.stalled++
		p.conns[c] = struct{}{}
	}
	p.mu.Unlock()
	if stall {
		// Read what the client sends (its hello) and say nothing, until
		// it gives up and closes.
		io.Copy(io.Discard, c)
		c.Close()
		return
	}
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut meanwhile
		p.mu.Unlock()
		c.Close()
		s.Close()
		return
	}
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { io.Copy(s, c); s.Close(); c.Close() }()
	io.Copy(c, s)
	c.Close()
	s.Close()
}

// stall makes the next n connections stall: accepted, never answered.
func (p *proxy) stall(n int) {
	p.mu.Lock()
	p.stalls = n
	p.mu.Unlock()
}

// stalledConns is how many connections stalled.
func (p *proxy) stalledConns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stalled
}

// cut closes the listener (new connections are refused) and every open
// connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// restore listens again on the same address.
func (p *proxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}
