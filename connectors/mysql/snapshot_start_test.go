package mysql

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
)

// TestExactSnapshotBehindStreamStart: MariaDB writes a transaction to the
// binlog a moment before it commits it in the engine. One written before
// the stream read its start position (SHOW MASTER STATUS) and committed
// in the engine only after a chunk's read view was taken is in neither:
// the reader starts after it, and the chunk's binlog_snapshot_position is
// before it. Such a chunk must take its read view again once the engine
// has caught up. Before, the check for a read view behind the reader
// (readerPassed) knew only the transactions the reader had begun, none
// yet at the start, and the change was lost: a fresh-clone CI run of
// TestServerRestarts (1 in ~10) ended with a key holding its seeded
// snapshot value instead of the writer's update made while the stream
// opened. The window is timed here with semi-synchronous replication on a
// server of the test's own: with no semi-sync replica, a commit waits
// rpl_semi_sync_master_timeout after its binlog write (AFTER_SYNC) before
// the engine commits it, which stands for a writer descheduled there.
func TestExactSnapshotBehindStreamStart(t *testing.T) {
	t.Parallel()        // a private server of its own: its start and waits overlap the package's other tests
	testenv.MySQLDSN(t) // the shared server answering means the binaries are here
	s, _ := privateServer(t, "semisync", 1, "")
	for _, metadata := range []string{"FULL", "NO_LOG"} {
		t.Run(metadata, func(t *testing.T) {
			run(t, s, "SET GLOBAL binlog_row_metadata = "+metadata)
			db := uniqueDB(t, s)
			const n = 20000
			run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)",
				fmt.Sprintf("INSERT INTO %s.t SELECT seq, 'seeded' FROM %s.seq_1_to_%d", db, db, n))
			c := conn(t, s)
			defer c.Close()
			before, _, err := masterStatus(c, "mariadb")
			if err != nil {
				t.Fatal(err)
			}
			// The next commit is written to the binlog and waits 3 s
			// there before the engine commits it.
			run(t, s, "SET GLOBAL rpl_semi_sync_master_enabled = OFF",
				"SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC'",
				"SET GLOBAL rpl_semi_sync_master_wait_no_slave = ON",
				"SET GLOBAL rpl_semi_sync_master_timeout = 3000",
				"SET GLOBAL rpl_semi_sync_master_enabled = ON")
			t.Cleanup(func() { run(t, s, "SET GLOBAL rpl_semi_sync_master_enabled = OFF") })
			wc := conn(t, s)
			defer wc.Close()
			committed := make(chan error, 1)
			go func() {
				_, err := wc.Execute(fmt.Sprintf("UPDATE %s.t SET v = 'updated' WHERE id = %d", db, n-7))
				committed <- err
			}()
			// The update is in the binlog (and so before the stream's
			// start) and not committed in the engine.
			for deadline := time.Now().Add(10 * time.Second); ; {
				at, _, err := masterStatus(c, "mariadb")
				if err != nil {
					t.Fatal(err)
				}
				if at.cmp(before) > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the update did not reach the binlog")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if got := testenv.Query(t, c, fmt.Sprintf("SELECT v FROM %s.t WHERE id = %d", db, n-7)); got[0][0] != "seeded" {
				t.Fatalf("the update is committed in the engine already (%v): the window is not open", got)
			}
			st, err := newSrc(t, s, map[string]any{"chunk_rows": 5000}).Open(context.Background(), connectors.StreamRequest{
				Tables: []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "t"}, Snapshot: connectors.SnapshotInitial}},
				Once:   true})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			rows, _ := drain(t, st, 60*time.Second, nil)
			if err := <-committed; err != nil {
				t.Fatal(err)
			}
			last := map[string]row{}
			for _, r := range rows {
				last[r["id"]] = r
			}
			if len(last) != n {
				t.Errorf("%d keys, want %d", len(last), n)
			}
			if r := last[fmt.Sprint(n-7)]; r["v"] != "updated" {
				t.Errorf("key %d ends as %v, want v 'updated' (the change is in neither the chunk nor the binlog read)", n-7, r)
			}
			sn := st.(*stream).snap
			sn.mu.Lock()
			again := sn.behindReader
			sn.mu.Unlock()
			t.Logf("read views taken again: %d", again)
		})
	}
}
