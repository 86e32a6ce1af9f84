package testenv

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// CutProxy forwards TCP connections to a server; while cut it closes the
// open ones and refuses new ones (counting them in Refused): the server
// is unreachable for the code under test without being stopped for the
// other tests.
type CutProxy struct {
	ln      net.Listener
	mu      sync.Mutex
	down    bool
	conns   []net.Conn
	Refused atomic.Int32
	// lag, when set (Slow), delays each chunk sent to the server: a slow
	// server, so that a test can act while writes are under way.
	lag atomic.Int64
}

// NewCutProxy listens on a free loopback port and forwards to target
// (host:port) until the test ends.
func NewCutProxy(t testing.TB, target string) *CutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &CutProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.Cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.down {
				p.mu.Unlock()
				p.Refused.Add(1)
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { p.copySlow(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

// Addr is the proxy's host:port.
func (p *CutProxy) Addr() string { return p.ln.Addr().String() }

// Slow makes every chunk sent to the server wait d (0: none).
func (p *CutProxy) Slow(d time.Duration) { p.lag.Store(int64(d)) }

// copySlow is io.Copy(dst, src) with the proxy's lag before each chunk.
func (p *CutProxy) copySlow(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if d := time.Duration(p.lag.Load()); d > 0 {
				time.Sleep(d)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Cut closes the open connections and refuses new ones until Restore.
func (p *CutProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Restore forwards new connections again.
func (p *CutProxy) Restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}
