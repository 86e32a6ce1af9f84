package mysql

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

// outageProxy forwards TCP connections to a server; while down it closes
// the open ones and refuses new ones (counting them): the server is
// unreachable for the stream without being stopped for other tests.
type outageProxy struct {
	ln      net.Listener
	mu      sync.Mutex
	down    bool
	conns   []net.Conn
	refused atomic.Int32
}

func newOutageProxy(t *testing.T, target string) *outageProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &outageProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.down {
				p.mu.Unlock()
				p.refused.Add(1)
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
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *outageProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *outageProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// TestReconnectOutlastsAttempts: a server unreachable for more reconnect
// attempts than maxReconnects (a MariaDB down for an upgrade, a long crash
// recovery, a login refused until a password is set back) is waited for,
// and the changes made meanwhile arrive once it answers. Each failed
// attempt used to count towards maxReconnects (30, about five minutes of
// back-off), and the run stopped with "binlog reconnect failed after 31
// attempts"; the limit is for reconnects the server refuses right after
// the dump began.
func TestReconnectOutlastsAttempts(t *testing.T) {
	defer func(n int) { maxReconnects = n }(maxReconnects)
	maxReconnects = 2
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".r (id INT PRIMARY KEY)")
			host := s.dsn[strings.Index(s.dsn, "://")+3:]
			host = strings.SplitN(host, "/", 2)[0]
			host = strings.SplitN(host, "?", 2)[0]
			if i := strings.LastIndex(host, "@"); i >= 0 {
				host = host[i+1:]
			}
			px := newOutageProxy(t, host)
			src := newSrc(t, server{s.name, strings.Replace(s.dsn, host, px.ln.Addr().String(), 1)}, map[string]any{"heartbeat": "200ms"})
			ref := connectors.TableRef{DB: db, Table: "r"}
			st, err := src.Open(context.Background(), connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotNever}}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ins := func(lo, hi int) {
				var vals []string
				for i := lo; i < hi; i++ {
					vals = append(vals, "("+strconv.Itoa(i)+")")
				}
				run(t, s, "INSERT INTO "+db+".r VALUES "+strings.Join(vals, ","))
			}
			ins(0, 10)
			rows, _ := drain(t, st, 20*time.Second, func(r []row) bool { return len(r) >= 10 })
			px.cut()
			ins(10, 20) // written while the stream cannot reach the server
			// Reading on makes the stream notice the loss and reconnect;
			// the server stays unreachable for more attempts than
			// maxReconnects, then answers again.
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				for int(px.refused.Load()) <= maxReconnects+2 && ctx.Err() == nil {
					time.Sleep(20 * time.Millisecond)
				}
				px.restore()
			}()
			more, _ := drain(t, st, 60*time.Second, func(r []row) bool { return len(rows)+len(r) >= 20 })
			cancel()
			<-done
			rows = append(rows, more...)
			if n := int(px.refused.Load()); n <= maxReconnects+2 {
				t.Fatalf("the proxy refused %d connections, want more than %d", n, maxReconnects+2)
			}
			seen := map[string]int{}
			for _, r := range rows {
				seen[r["id"]]++
			}
			for i := 0; i < 20; i++ {
				if seen[strconv.Itoa(i)] != 1 {
					t.Errorf("id %d delivered %d times", i, seen[strconv.Itoa(i)])
				}
			}
		})
	}
}
