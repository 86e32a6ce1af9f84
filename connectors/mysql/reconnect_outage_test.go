package mysql

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
)

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
			px := testenv.NewCutProxy(t, host)
			src := newSrc(t, server{s.name, strings.Replace(s.dsn, host, px.Addr(), 1)}, map[string]any{"heartbeat": "200ms"})
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
			px.Cut()
			ins(10, 20) // written while the stream cannot reach the server
			// Reading on makes the stream notice the loss and reconnect;
			// the server stays unreachable for more attempts than
			// maxReconnects, then answers again.
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				for int(px.Refused.Load()) <= maxReconnects+2 && ctx.Err() == nil {
					time.Sleep(20 * time.Millisecond)
				}
				px.Restore()
			}()
			more, _ := drain(t, st, 60*time.Second, func(r []row) bool { return len(rows)+len(r) >= 20 })
			cancel()
			<-done
			rows = append(rows, more...)
			if n := int(px.Refused.Load()); n <= maxReconnects+2 {
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

// TestReconnectSaysWhenBack: once the binlog connection is back after a
// loss, the log says so, with the attempts it took and how long the
// source was away. The WARNs "binlog connection lost; reconnecting" and
// "binlog reconnect failed" were the last word before: an operator who
// restarted MariaDB under a running apply saw them and nothing after, the
// stream going on in silence (found by the operator trial).
func TestReconnectSaysWhenBack(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			logs := captureLog(t)
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".r (id INT PRIMARY KEY)")
			host := s.dsn[strings.Index(s.dsn, "://")+3:]
			host = strings.SplitN(host, "/", 2)[0]
			host = strings.SplitN(host, "?", 2)[0]
			if i := strings.LastIndex(host, "@"); i >= 0 {
				host = host[i+1:]
			}
			px := testenv.NewCutProxy(t, host)
			src := newSrc(t, server{s.name, strings.Replace(s.dsn, host, px.Addr(), 1)}, map[string]any{"heartbeat": "200ms"})
			ref := connectors.TableRef{DB: db, Table: "r"}
			st, err := src.Open(context.Background(), connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotNever}}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			run(t, s, "INSERT INTO "+db+".r VALUES (1)")
			drain(t, st, 20*time.Second, func(r []row) bool { return len(r) >= 1 })
			px.Cut()
			run(t, s, "INSERT INTO "+db+".r VALUES (2)")
			// Two reconnects refused, then the server answers again.
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				for px.Refused.Load() < 2 && ctx.Err() == nil {
					time.Sleep(20 * time.Millisecond)
				}
				px.Restore()
			}()
			rows, _ := drain(t, st, 60*time.Second, func(r []row) bool { return len(r) >= 1 })
			cancel()
			<-done
			if len(rows) != 1 || rows[0]["id"] != "2" {
				t.Fatalf("after the outage: %v, want the row with id 2", rows)
			}
			out := logs.String()
			if !strings.Contains(out, "binlog reconnect failed") {
				t.Fatalf("no failed reconnect logged:\n%s", out)
			}
			back := regexp.MustCompile(`msg="binlog reconnected" .*position=\S+ attempts=(\d+) after=\S+`).FindStringSubmatch(out)
			if back == nil {
				t.Fatalf("the log does not say the binlog connection is back:\n%s", out)
			}
			if n, _ := strconv.Atoi(back[1]); n < 2 {
				t.Errorf("attempts=%s, want at least 2 (one was refused at least):\n%s", back[1], out)
			}
		})
	}
}
