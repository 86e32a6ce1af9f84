package mysql

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
)

// gateProxy forwards TCP connections to a server; closed, it cuts the
// open ones and refuses new ones (a network cut, a server away).
type gateProxy struct {
	ln     net.Listener
	closed atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newGateProxy(t *testing.T, target string) *gateProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &gateProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.closed.Load() {
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *gateProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestReconnectAfterPurgeCaughtUp: the reader, caught up, loses its
// connection; while it is away the server's binlog is rotated and the
// file it stood in purged (FLUSH and PURGE BINARY LOGS), nothing after
// its position. When the server can be reached again, the reconnect
// places the reader by its GTID in the binlog that is left and the
// changes made meanwhile arrive, once. (Before, the run stopped with
// "was purged on the server while etlq was behind it", etlq being caught
// up; new-user trial.)
func TestReconnectAfterPurgeCaughtUp(t *testing.T) {
	testenv.MySQLDSN(t) // the shared server answering means the binaries are here
	p, _ := privateServer(t, "purge-reconnect", 1, "")
	addr := p.dsn[strings.LastIndexByte(p.dsn, '/')+1:]
	addr = addr[strings.IndexByte(addr, '@')+1:]
	px := newGateProxy(t, addr)
	via := server{"via proxy", strings.Replace(p.dsn, addr, px.ln.Addr().String(), 1)}
	run(t, p, "CREATE DATABASE pr", "CREATE TABLE pr.t (id INT PRIMARY KEY, v INT NOT NULL)", "INSERT INTO pr.t VALUES (1, 1), (2, 2)")
	ref := connectors.TableRef{DB: "pr", Table: "t"}
	logs := captureLog(t)
	st, err := newSrc(t, via, map[string]any{"heartbeat": "200ms"}).Open(context.Background(), connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotInitial}}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, _ := drain(t, st, 30*time.Second, func(r []row) bool { return len(r) >= 2 })
	if len(rows) != 2 {
		t.Fatalf("snapshot: %d rows", len(rows))
	}
	time.Sleep(500 * time.Millisecond) // (caught up, idle)
	px.closed.Store(true)
	px.cut()
	flushAndPurge(t, p)
	log := &changeLog{t: t}
	log.writes(p, "pr.t", 10, 3)
	px.closed.Store(false)
	rows, _ = drain(t, st, 60*time.Second, func(r []row) bool { return len(r) >= len(log.want) })
	sameChanges(t, "changes after the purge", changesOf(rows), log.want)
	if !strings.Contains(logs.String(), "purged on the server while it was away, but nothing after it was") {
		t.Errorf("no WARN of the placement:\n%s", logs)
	}
}
