package mysql

import (
	"context"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
)

// smallTables creates tables db.t_00… of rows rows each, (id INT
// PRIMARY KEY, cols) filled with (seq, vals) for seq 1..rows, and returns
// their stream request with snapshot mode mode.
func smallTables(t *testing.T, s server, db string, tables, rows int, cols, vals string, mode connectors.SnapshotMode) []connectors.StreamTable {
	var req []connectors.StreamTable
	for k := 0; k < tables; k++ {
		tbl := fmt.Sprintf("%s.t_%02d", db, k)
		run(t, s, "CREATE TABLE "+tbl+" (id INT PRIMARY KEY, "+cols+")",
			fmt.Sprintf("INSERT INTO %s SELECT seq, %s FROM %s.seq_1_to_%d", tbl, vals, db, rows))
		req = append(req, connectors.StreamTable{Ref: connectors.TableRef{DB: db, Table: fmt.Sprintf("t_%02d", k)}, Snapshot: mode})
	}
	return req
}

// TestSmallTablesReadInGroups: 60 small tables are snapshotted while a
// writer updates, deletes and inserts rows of all of them; their chunks
// are read several in one consistent snapshot (snapshot_group.go), and
// the stream applied by key ends equal to the tables, every key's
// versions rising. Both servers (MariaDB's exact position).
func TestSmallTablesReadInGroups(t *testing.T) {
	const tables, rows = 60, 200
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			req := smallTables(t, s, db, tables, rows, "v BIGINT, note VARCHAR(20)", "seq, 'init'", connectors.SnapshotInitial)
			c := conn(t, s)
			defer c.Close()
			stopWriter, writes := runWriter(t, s, 2, func(r *rand.Rand, i int) string {
				tbl := fmt.Sprintf("%s.t_%02d", db, r.Intn(tables))
				id := 1 + r.Intn(rows+20)
				switch i % 4 {
				case 0, 1:
					return fmt.Sprintf("UPDATE %s SET v = v + 1, note = 'upd%d' WHERE id = %d", tbl, i, id)
				case 2:
					return fmt.Sprintf("DELETE FROM %s WHERE id = %d", tbl, id)
				}
				return fmt.Sprintf("REPLACE INTO %s VALUES (%d, %d, 'ins%d')", tbl, id, i, i)
			})
			defer stopWriter()
			for writes.Load() < 20 {
				time.Sleep(10 * time.Millisecond)
			}
			st, err := newSrc(t, s, nil).Open(context.Background(), connectors.StreamRequest{Tables: req,
				Options: map[string]any{"chunk_rows": int64(1000), "snapshot_parallelism": int64(2)}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			state := map[string]row{}
			apply := applyByKey(t, state, func(r row) string { return r["_table"] + "." + r["id"] })
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			readSnapshot(t, ctx, st, apply, func() {})
			stopWriter()
			readToServerPosition(t, ctx, c, st, apply)
			n, bad := 0, 0
			for k := 0; k < tables; k++ {
				name := fmt.Sprintf("t_%02d", k)
				res, err := c.Execute(fmt.Sprintf("SELECT id, v, note FROM %s.%s", db, name))
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < res.RowNumber(); i++ {
					id, _ := res.GetString(i, 0)
					v, _ := res.GetString(i, 1)
					note, _ := res.GetString(i, 2)
					n++
					if got, ok := state[name+"."+id]; !ok || got["v"] != v || got["note"] != note {
						if bad++; bad < 10 {
							t.Errorf("%s key %s: table (%s, %s), stream %v", name, id, v, note, got)
						}
					}
				}
			}
			if n != len(state) {
				t.Errorf("stream state has %d keys, tables %d", len(state), n)
			}
			snap := st.(*stream).snap
			snap.mu.Lock()
			groups, mode := snap.groups, snap.mode
			snap.mu.Unlock()
			if groups == 0 {
				t.Errorf("no chunk was read in another chunk's read view (%s positioning)", mode)
			}
			t.Logf("%d rows, %d concurrent writes, %d keys differ, %d chunks read in a group's read view", n, writes.Load(), bad, groups)
		})
	}
}

// TestSmallTablesGroupSurvivesServerRestart: the server restarts while
// small tables are read in groups, their readers waiting in the middle of
// a chunk (records of 100 rows, the consumer stopped) with the group's
// read view open. The groups' chunks are read again on new connections
// (in new read views), and every row of every table arrives exactly once.
func TestSmallTablesGroupSurvivesServerRestart(t *testing.T) {
	t.Parallel() // a private server of its own: its start and waits overlap the package's other tests
	testenv.MySQLDSN(t)
	dsn, services := privateMariaDB(t)
	s := server{"private", dsn}
	db := uniqueDB(t, s)
	const tables, rows = 80, 500
	req := smallTables(t, s, db, tables, rows, "v INT NOT NULL", "seq * 2", connectors.SnapshotInitial)
	st, err := newSrc(t, s, nil).Open(context.Background(), connectors.StreamRequest{Tables: req, Once: true, BatchRows: 100,
		Options: map[string]any{"chunk_rows": 5000, "snapshot_parallelism": 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, _ := drain(t, st, 30*time.Second, func(r []row) bool { return len(r) >= 3000 })
	time.Sleep(500 * time.Millisecond)
	snap := st.(*stream).snap
	snap.mu.Lock()
	groups := snap.groups
	snap.mu.Unlock()
	services("down", "mariadb-a")
	time.Sleep(2 * time.Second)
	services("up", "mariadb-a")
	more, _ := drain(t, st, 3*time.Minute, nil)
	got = append(got, more...)
	seen := map[string]bool{}
	for _, r := range got {
		k := r["_table"] + "." + r["id"]
		if r["_op"] != "read" {
			t.Fatalf("unexpected change %v", r)
		}
		if seen[k] {
			t.Fatalf("row %s twice", k)
		}
		seen[k] = true
		if want := fmt.Sprint(2 * atoi(r["id"])); r["v"] != want {
			t.Fatalf("row %s: v = %s, want %s", k, r["v"], want)
		}
	}
	if len(seen) != tables*rows {
		t.Fatalf("%d rows, want %d", len(seen), tables*rows)
	}
	if groups == 0 {
		t.Error("no chunk was read in a group's read view before the restart: the test did not reach the path it is for")
	}
	t.Logf("%d chunks read in a group's read view before the restart", groups)
}

// TestSmallChunksHeldBounded: small tables of large rows (10 rows of
// 50 KB) are not read ahead of the consumer beyond maxSmallHeld of row
// data (plus the chunk each reader is at), though many small chunks may
// be planned ahead; every row then arrives once. Both servers.
func TestSmallChunksHeldBounded(t *testing.T) {
	defer func(n int64) { maxSmallHeld = n }(maxSmallHeld)
	maxSmallHeld = 1 << 20
	const tables, rows = 40, 10
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			req := smallTables(t, s, db, tables, rows, "v INT NOT NULL, pad MEDIUMTEXT NOT NULL", "seq * 2, REPEAT('x', 50000)", connectors.SnapshotOnly)
			st, err := newSrc(t, s, nil).Open(context.Background(), connectors.StreamRequest{Tables: req,
				Options: map[string]any{"snapshot_parallelism": int64(2)}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			snap := st.(*stream).snap
			var most int64
			for i := 0; i < 20; i++ { // the consumer takes nothing for 2 s
				time.Sleep(100 * time.Millisecond)
				snap.mu.Lock()
				most = max(most, snap.smallHeld)
				snap.mu.Unlock()
			}
			if limit := maxSmallHeld + 2*rows*50000 + 64<<10; most > limit || most == 0 {
				t.Errorf("small chunks read ahead held up to %d bytes, want 0 < held <= %d", most, limit)
			}
			got, _ := drain(t, st, 60*time.Second, nil)
			seen := map[string]bool{}
			for _, r := range got {
				k := r["_table"] + "." + r["id"]
				if seen[k] || len(r["pad"]) != 50000 {
					t.Fatalf("row %s twice, or its pad %d bytes", k, len(r["pad"]))
				}
				seen[k] = true
			}
			if len(seen) != tables*rows {
				t.Fatalf("%d rows, want %d", len(seen), tables*rows)
			}
			t.Logf("held at most %d bytes of small chunks", most)
		})
	}
}

// TestGroupEndsBeforeLargeChunk: a table too large to be small, planned
// right behind small ones, is taken by the same reader after them; its
// read ends their group's read view first, so that the group's anchor does
// not hold the binlog reader before the large chunk's position, where the
// chunk's records (100 rows each, more than a reader may queue) wait to be
// taken. Held there, the chunk was cut after maxChunkWait.
func TestGroupEndsBeforeLargeChunk(t *testing.T) {
	defer func(d time.Duration) { maxChunkWait = d }(maxChunkWait)
	maxChunkWait = 3 * time.Second
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			req := smallTables(t, s, db, 10, 100, "v INT NOT NULL", "seq * 2", connectors.SnapshotInitial)
			run(t, s, "CREATE TABLE "+db+".t_big (id INT PRIMARY KEY, v INT NOT NULL)",
				fmt.Sprintf("INSERT INTO %s.t_big SELECT seq, seq * 2 FROM %s.seq_1_to_%d", db, db, 2*smallChunkRows))
			req = append(req, connectors.StreamTable{Ref: connectors.TableRef{DB: db, Table: "t_big"}})
			// Writes to a table outside the stream move the binlog on, so
			// the large chunk's position is after the group's.
			run(t, s, "CREATE TABLE "+db+".other (id INT PRIMARY KEY, v INT NOT NULL)")
			stopWriter, _ := runWriter(t, s, 3, func(r *rand.Rand, i int) string {
				return fmt.Sprintf("REPLACE INTO %s.other VALUES (%d, %d)", db, r.Intn(100), i)
			})
			defer stopWriter()
			time.Sleep(100 * time.Millisecond)
			st, err := newSrc(t, s, nil).Open(context.Background(), connectors.StreamRequest{Tables: req, Once: true, BatchRows: 100,
				Options: map[string]any{"snapshot_parallelism": int64(1)}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			got, _ := drain(t, st, 60*time.Second, nil)
			if want := 10*100 + 2*smallChunkRows; len(got) != want {
				t.Fatalf("%d rows, want %d", len(got), want)
			}
			snap := st.(*stream).snap
			snap.mu.Lock()
			cuts, groups := snap.cuts, snap.groups
			snap.mu.Unlock()
			if cuts > 0 {
				t.Errorf("%d chunks cut after waiting maxChunkWait for the binlog reader", cuts)
			}
			if groups == 0 {
				t.Error("no chunk was read in a group's read view: the test did not reach the path it is for")
			}
		})
	}
}
