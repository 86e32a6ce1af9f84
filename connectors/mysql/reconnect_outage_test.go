package mysql

import (
	"context"
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
