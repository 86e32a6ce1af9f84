package mysql

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors"
)

// TestSnapshotUnderConcurrentWrites snapshots a 200k-row table in parallel
// chunks while a writer updates, deletes and inserts the same keys, applies
// the stream to a map by key ordered by _version, and checks the result
// equals the table at the end.
func TestSnapshotUnderConcurrentWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("large snapshot")
	}
	for _, s := range servers(t) {
		// auto is MariaDB's binlog_snapshot_position; watermark is MySQL's
		// default, run here on MariaDB.
		modes := []string{"auto", "watermark"}
		// Bracket mode (MySQL's fallback when etlq may not write its
		// watermark table) has a known race, written up in
		// docs/snapshot.md: a transaction written to the binlog before the
		// low mark but committed in the engine after the chunk's read view
		// began is lost. This test catches it about 1 run in 15, so it
		// runs only when asked for.
		if s.name != "minimal" && os.Getenv("ETLQ_TEST_BRACKET") == "1" {
			modes = append(modes, "bracket")
		}
		for _, mode := range modes {
			t.Run(s.name+"_"+mode, func(t *testing.T) { testConcurrentSnapshot(t, s, mode, func(i int) int { return i }) })
		}
	}
	// A key sparse in its first half: the chunk that runs from the sparse
	// into the dense part stops at its LIMIT and is split while written.
	s := servers(t)[0]
	t.Run(s.name+"_sparse_key", func(t *testing.T) {
		testConcurrentSnapshot(t, s, "auto", func(i int) int {
			if i < 100000 {
				return i * 50
			}
			return 5000000 + i
		})
	})
}

// testConcurrentSnapshot runs the test on a table of keys keyOf(0..n-1);
// the writer touches keyOf(0..n+999).
func testConcurrentSnapshot(t *testing.T, s server, mode string, keyOf func(int) int) {
	const n = 200000
	db := uniqueDB(t, s)
	run(t, s, "CREATE TABLE "+db+".big (id INT PRIMARY KEY, k VARCHAR(20), v BIGINT, note VARCHAR(40))")
	c := conn(t, s)
	defer c.Close()
	for lo := 0; lo < n; lo += 10000 {
		var b strings.Builder
		for i := lo; i < lo+10000; i++ {
			if i > lo {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "(%d,'k%d',%d,'init')", keyOf(i), i%97, i)
		}
		if _, err := c.Execute("INSERT INTO " + db + ".big VALUES " + b.String()); err != nil {
			t.Fatal(err)
		}
	}
	src := newSrc(t, s, nil)
	ref := connectors.TableRef{DB: db, Table: "big"}
	ctx := context.Background()

	// The writer runs while the snapshot is read.
	stopWriter, writes := runWriter(t, s, 1, func(r *rand.Rand, i int) string {
		id := keyOf(r.Intn(n + 1000))
		if i%10 == 0 {
			return fmt.Sprintf("UPDATE %s.big SET v = v + 1 WHERE id BETWEEN %d AND %d", db, id, id+50)
		}
		switch i % 4 {
		case 0, 1:
			return fmt.Sprintf("UPDATE %s.big SET v = v + 1, note = 'upd%d' WHERE id = %d", db, i, id)
		case 2:
			return fmt.Sprintf("DELETE FROM %s.big WHERE id = %d", db, id)
		}
		return fmt.Sprintf("REPLACE INTO %s.big VALUES (%d, 'new', %d, 'ins%d')", db, id, i, i)
	})
	defer stopWriter()

	st, err := src.Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref}},
		Options: map[string]any{"chunk_rows": 20000, "snapshot_parallelism": 4, "snapshot_position": mode}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	state := map[string]row{}
	byKey := applyByKey(t, state, func(r row) string { return r["id"] })
	// A key changed before its chunk went out arrives as its changes only:
	// the chunk's read row would count it twice in an append target.
	changed, twice := map[string]bool{}, 0
	apply := func(rows []row) {
		for _, r := range rows {
			if r["_op"] != "read" {
				changed[r["id"]] = true
			} else if changed[r["id"]] {
				if twice++; twice <= 5 {
					t.Errorf("key %s: a read row after a change of it (twice in an append target)", r["id"])
				}
			}
		}
		byKey(rows)
	}
	// Read until the snapshot is done, then stop the writer and read up
	// to the server's position.
	deadline := time.Now().Add(60 * time.Second)
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	readSnapshot(t, dctx, st, apply, stopWriter)
	stopWriter()
	if writes.Load() < 10 {
		t.Fatalf("writer made only %d writes", writes.Load())
	}
	readToServerPosition(t, dctx, c, st, apply)
	sst := st.(*stream)
	res, err := c.Execute("SELECT id, k, v, note FROM " + db + ".big")
	if err != nil {
		t.Fatal(err)
	}
	if res.RowNumber() != len(state) {
		t.Errorf("stream state has %d keys, table %d (writes %d)", len(state), res.RowNumber(), writes.Load())
	}
	bad := 0
	for i := 0; i < res.RowNumber(); i++ {
		id, _ := res.GetString(i, 0)
		k, _ := res.GetString(i, 1)
		v, _ := res.GetString(i, 2)
		note, _ := res.GetString(i, 3)
		got, ok := state[id]
		if !ok || got["k"] != k || got["v"] != v || got["note"] != note {
			if bad++; bad < 10 {
				t.Errorf("key %s: table (%s,%s,%s), stream %v", id, k, v, note, got)
			}
		}
	}
	sst.snap.mu.Lock()
	splits, drops, used := sst.snap.splits, sst.snap.windowDrops, sst.snap.mode
	sst.snap.mu.Unlock()
	if want := map[string]string{"auto": "exact"}[mode]; want == "" && used != mode || want != "" && used != want {
		t.Errorf("snapshot_position %q: the snapshot was placed by %q", mode, used)
	}
	if keyOf(1) != 1 && splits == 0 {
		t.Error("no chunk was split at its LIMIT")
	}
	sst.snap.mu.Lock()
	seenDrops := sst.snap.seenDrops
	sst.snap.mu.Unlock()
	if twice > 0 {
		t.Errorf("%d read rows came after a change of their key", twice)
	}
	t.Logf("%d rows, %d concurrent writes, %d keys differ, %d chunks split, %d chunk rows left to their window's events, %d to changes before them",
		res.RowNumber(), writes.Load(), bad, splits, drops, seenDrops)
}

// runWriter runs a writer on s, executing query(r, i) for i = 0, 1, …
// (r seeded with seed) until the returned stop is called (it waits for
// the writer; calling it again does nothing); writes counts the
// statements done.
func runWriter(t *testing.T, s server, seed int64, query func(r *rand.Rand, i int) string) (stop func(), writes *atomic.Int64) {
	var done atomic.Bool
	var wg sync.WaitGroup
	writes = &atomic.Int64{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		wc := conn(t, s)
		defer wc.Close()
		r := rand.New(rand.NewSource(seed))
		for i := 0; !done.Load(); i++ {
			if _, err := wc.Execute(query(r, i)); err != nil {
				t.Errorf("writer: %v", err)
				return
			}
			writes.Add(1)
		}
	}()
	return func() { done.Store(true); wg.Wait() }, writes
}

// applyByKey returns a function applying stream rows to state by key (key
// names a row's key): a delete removes it, other rows replace it; each
// key's _version must rise.
func applyByKey(t *testing.T, state map[string]row, key func(row) string) func([]row) {
	versions := map[string]uint64{}
	return func(rows []row) {
		for _, r := range rows {
			v, _ := strconv.ParseUint(r["_version"], 10, 64)
			k := key(r)
			if v <= versions[k] {
				t.Fatalf("version of key %s went back: %d after %d", k, v, versions[k])
			}
			versions[k] = v
			if r["_op"] == "delete" {
				delete(state, k)
			} else {
				state[k] = r
			}
		}
	}
}

// readSnapshot reads st, applying each batch, until every table's
// snapshot is done; failed runs before the test fails.
func readSnapshot(t *testing.T, ctx context.Context, st connectors.Stream, apply func([]row), failed func()) {
	t.Helper()
	for {
		b, err := st.Next(ctx)
		if err != nil {
			failed()
			t.Fatalf("next: %v", err)
		}
		apply(batchRows(b))
		b.Release()
		done := true
		for _, p := range st.Progress() {
			done = done && p.Done
		}
		if done {
			return
		}
	}
}

// TestKeylessSnapshotUnderWrites: a table without a primary key is one
// chunk; it streams (here 40 records of 1,000 rows, more than the two a
// reader may hold) while a writer inserts and deletes rows. The stream
// applied to a multiset of rows (a delete removes one equal row) equals the
// table at the end: changes before the chunk's read view are not sent (the
// chunk holds them), and in watermark mode the chunk is read again while
// its table changes inside its window.
func TestKeylessSnapshotUnderWrites(t *testing.T) {
	for _, s := range servers(t) {
		for _, mode := range []string{"auto", "watermark"} {
			t.Run(s.name+"_"+mode, func(t *testing.T) { testKeylessSnapshot(t, s, mode) })
		}
	}
}

func testKeylessSnapshot(t *testing.T, s server, mode string) {
	const n = 40000
	db := uniqueDB(t, s)
	run(t, s, "CREATE TABLE "+db+".nokey (a INT, b VARCHAR(20))",
		fmt.Sprintf("INSERT INTO %s.nokey SELECT seq %% 1000, CONCAT('v', seq %% 7) FROM %s.seq_1_to_%d", db, db, n))
	stop := writeUntilStopped(t, s, func(i int) string {
		if i%3 == 2 {
			return fmt.Sprintf("DELETE FROM %s.nokey WHERE a = %d LIMIT 1", db, i%1000)
		}
		return fmt.Sprintf("INSERT INTO %s.nokey VALUES (%d, 'w%d')", db, i%1000, i%5)
	})
	src := newSrc(t, s, nil)
	st, err := src.Open(context.Background(), connectors.StreamRequest{
		Tables:    []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "nokey"}}},
		BatchRows: 1000,
		Options:   map[string]any{"snapshot_position": mode}})
	if err != nil {
		stop()
		t.Fatal(err)
	}
	defer st.Close()
	bag := map[string]int{}
	apply := func(rows []row) {
		for _, r := range rows {
			k := r["a"] + "|" + r["b"]
			if r["_op"] == "delete" {
				bag[k]--
			} else {
				bag[k]++
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	readSnapshot(t, ctx, st, apply, stop)
	time.Sleep(200 * time.Millisecond) // writes after the snapshot
	stop()
	c := conn(t, s)
	defer c.Close()
	readToServerPosition(t, ctx, c, st, apply)
	sst := st.(*stream)
	res, err := c.Execute("SELECT CONCAT(a, '|', b), COUNT(*) FROM " + db + ".nokey GROUP BY 1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for i := 0; i < res.RowNumber(); i++ {
		k, _ := res.GetString(i, 0)
		v, _ := res.GetInt(i, 1)
		want[k] = int(v)
	}
	bad := 0
	for k, v := range want {
		if bag[k] != v {
			if bad++; bad < 10 {
				t.Errorf("%s: table %d, stream %d", k, v, bag[k])
			}
		}
	}
	for k, v := range bag {
		if _, ok := want[k]; !ok && v != 0 {
			t.Errorf("%s: table 0, stream %d", k, v)
		}
	}
	sst.snap.mu.Lock()
	redos := sst.snap.redos
	sst.snap.mu.Unlock()
	t.Logf("the key-less chunk was read again %d times", redos)
}

// TestKeylessSnapshotWithoutLock: a user who may not LOCK TABLES gets a
// clear error when a key-less table changes inside every snapshot window
// (here: a write inside each window), instead of a snapshot that may double or
// miss rows.
func TestKeylessSnapshotWithoutLock(t *testing.T) {
	s := servers(t)[0]
	db := uniqueDB(t, s)
	user := "etlq_nolock"
	run(t, s, "CREATE TABLE "+db+".nokey (a INT, b VARCHAR(20))",
		fmt.Sprintf("INSERT INTO %s.nokey SELECT seq %% 1000, 'v' FROM %s.seq_1_to_5000", db, db),
		"DROP USER IF EXISTS "+user,
		"CREATE USER "+user+"@'%' IDENTIFIED BY 'pw'",
		"GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO "+user+"@'%'",
		"GRANT ALL ON "+db+"_wm.* TO "+user+"@'%'")
	t.Cleanup(func() { run(t, s, "DROP USER IF EXISTS "+user, "DROP DATABASE IF EXISTS "+db+"_wm") })
	defer func(n int) { maxKeylessReads = n }(maxKeylessReads)
	maxKeylessReads = 3
	// A write inside every window, whatever the timing: a background
	// writer leaves some windows without a change now and then.
	wc := conn(t, s)
	defer wc.Close()
	writes := 0
	testHookInWindow = func(*snapshotter, *chunk) {
		writes++
		if _, err := wc.Execute(fmt.Sprintf("INSERT INTO %s.nokey VALUES (%d, 'w')", db, writes)); err != nil {
			t.Errorf("write inside the window: %v", err)
		}
	}
	defer func() { testHookInWindow = nil }()
	dsn := strings.Replace(s.dsn, "mysql://root@", "mysql://"+user+":pw@", 1)
	src := newSrc(t, server{s.name, dsn}, nil)
	st, err := src.Open(context.Background(), connectors.StreamRequest{
		Tables:  []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "nokey"}}},
		Options: map[string]any{"snapshot_position": "watermark", "watermark_table": db + "_wm.marks"}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		b, err := st.Next(ctx)
		if err != nil {
			for _, want := range []string{"no primary key", "changed inside the snapshot window of each of 3 reads", "LOCK TABLES"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			return
		}
		b.Release()
		for _, p := range st.Progress() {
			if p.Done {
				t.Fatal("the snapshot finished though its table changed inside every window")
			}
		}
	}
}

// readToServerPosition reads st, passing its rows to apply, until its
// reader has passed the server's current binlog position.
func readToServerPosition(t *testing.T, ctx context.Context, c *client.Conn, st connectors.Stream, apply func([]row)) {
	t.Helper()
	target, _, err := masterStatus(c, "")
	if err != nil {
		t.Fatal(err)
	}
	// Reading on until the reader has passed target is not enough: the
	// transaction that took it there may still have batches queued behind
	// the one Next returned. They are drained too.
	for sst := st.(*stream); sst.bin.safe.cmp(target) < 0 || len(sst.out) > 0; {
		b, err := st.Next(ctx)
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		apply(batchRows(b))
		b.Release()
	}
}

// writeUntilStopped runs the statements q(0), q(1), … on a connection of
// its own until the returned function is called (which waits for it).
func writeUntilStopped(t *testing.T, s server, q func(i int) string) (stop func()) {
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	first := make(chan struct{})
	go func() {
		defer wg.Done()
		wc := conn(t, s)
		defer wc.Close()
		for i := 0; !done.Load(); i++ {
			if _, err := wc.Execute(q(i)); err != nil {
				t.Errorf("writer: %v", err)
				if i == 0 {
					close(first)
				}
				return
			}
			if i == 0 {
				close(first)
			}
		}
	}()
	// The writer is writing when this returns: a snapshot opened next
	// cannot slip in before its first change.
	<-first
	return func() { done.Store(true); wg.Wait() }
}

// TestExactSnapshotBehindReader: MariaDB sends a transaction to replicas
// once it is in the binlog, a moment before the engine commits it, so the
// binlog reader can begin a transaction that a read view taken right then
// does not see, at or after the read view's binlog_snapshot_position. Such
// a chunk would come after changes the reader handled as before it (and
// dropped, for a key-less table): its read view is taken again. The race
// itself cannot be timed from outside; the test plays the reader's part
// (it has begun a transaction at the binlog's end) in the first read view
// and commits a change meanwhile, which the second read view must hold.
func TestExactSnapshotBehindReader(t *testing.T) {
	s := servers(t)[0]
	db := uniqueDB(t, s)
	const n = 3000
	run(t, s, "CREATE TABLE "+db+".t (a INT, b VARCHAR(20))",
		fmt.Sprintf("INSERT INTO %s.t SELECT seq, 'v' FROM %s.seq_1_to_%d", db, db, n))
	st, _ := snapshotFirstWindow(t, s, db, func(sn *snapshotter, wc *client.Conn) {
		end, _, err := masterStatus(wc, "")
		if err != nil {
			t.Error(err)
			return
		}
		sn.notePassed(end)
		if _, err := wc.Execute(fmt.Sprintf("INSERT INTO %s.t VALUES (%d, 'late')", db, n+1)); err != nil {
			t.Error(err)
		}
	})
	if m := st.(*stream).snap.mode; m != "exact" {
		t.Fatalf("positioning %q, want exact", m)
	}
	rows, _ := drain(t, st, 30*time.Second, nil)
	late := 0
	for _, r := range rows {
		if r["b"] == "late" {
			late++
			if r["_op"] != "read" {
				t.Errorf("the late row came as %q, want it read by the second read view", r["_op"])
			}
		}
	}
	sn := st.(*stream).snap
	sn.mu.Lock()
	again := sn.behindReader
	sn.mu.Unlock()
	if again != 1 {
		t.Errorf("read views taken again: %d, want 1", again)
	}
	// The late row is in the second read view, so the snapshot holds it
	// once and the binlog's insert (before the chunk) is not sent again.
	if len(rows) != n+1 || late != 1 {
		t.Errorf("%d rows (%d late), want %d (1 late)", len(rows), late, n+1)
	}
}

// TestSnapshotTableChangedInWindow: a DDL of a chunk's table committed
// after the chunk's read view was taken and before its SELECT fails the
// SELECT (ER_TABLE_DEF_CHANGED, "Table definition has changed"): the
// chunk is read again in a new read view, which has the DDL. Before, only
// a chunk read in a group's read view was; a chunk in a read view of its
// own stopped the run (TestTypeChangeExplicitColumns under load: three
// ALTERs of one table 200 ms apart, the table's re-read in place after
// the first met the second: "snapshot of db.sh_2: ERROR 1412").
func TestSnapshotTableChangedInWindow(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			const n = 3000
			run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, d DECIMAL(10,4))",
				fmt.Sprintf("INSERT INTO %s.t SELECT seq, seq + 0.1251 FROM %s.seq_1_to_%d", db, db, n))
			st, windows := snapshotFirstWindow(t, s, db, func(_ *snapshotter, wc *client.Conn) {
				if _, err := wc.Execute("ALTER TABLE " + db + ".t MODIFY d DECIMAL(10,2)"); err != nil {
					t.Error(err)
				}
			})
			rows, _ := drain(t, st, 30*time.Second, nil)
			if *windows < 2 {
				t.Fatalf("%d read views taken, want the chunk's read again", *windows)
			}
			read := 0
			for _, r := range rows {
				if r["_op"] != "read" {
					continue
				}
				read++
				// The read view after the DDL: two decimals.
				if id, _ := strconv.Atoi(r["id"]); r["d"] != fmt.Sprintf("%d.13", id) {
					t.Fatalf("row %v: want d %d.13", r, id)
				}
			}
			if read != n {
				t.Errorf("%d rows read, want %d", read, n)
			}
		})
	}
}

// snapshotFirstWindow opens a one-pass snapshot of db.t on s; first runs
// inside the first read view's window (testHookInWindow), with a
// connection of its own. It returns the stream and the count of read
// views taken.
func snapshotFirstWindow(t *testing.T, s server, db string, first func(sn *snapshotter, wc *client.Conn)) (connectors.Stream, *int) {
	t.Helper()
	wc := conn(t, s)
	t.Cleanup(func() { wc.Close() })
	windows := new(int)
	testHookInWindow = func(sn *snapshotter, _ *chunk) {
		if *windows++; *windows == 1 {
			first(sn, wc)
		}
	}
	t.Cleanup(func() { testHookInWindow = nil })
	st, err := newSrc(t, s, nil).Open(context.Background(), connectors.StreamRequest{
		Tables: []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "t"}, Snapshot: connectors.SnapshotInitial}},
		Once:   true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, windows
}

// TestBarrierNotesPassed: the reader's check that no chunk holds it back
// and its note that it begins a transaction there are one step. A chunk
// registered right after the check, whose read view is at that position
// (the transaction not committed in the engine yet), must see the reader
// as past it and take its read view again; before, the note came later
// (in begin) and such a chunk went out after the transaction's changes it
// does not hold — for a key-less table those changes were dropped
// (TestKeylessSnapshotUnderWrites/minimal_auto failed about 1 run in 10).
func TestBarrierNotesPassed(t *testing.T) {
	s := &snapshotter{mode: "exact"}
	at := binlogPos{File: "b.000001", Pos: 1000}
	if s.barrier(at, false) {
		t.Fatal("no chunk is read, yet the reader is held")
	}
	if s.readerPassed(at) {
		t.Fatal("a heartbeat or rotate counted as a transaction begun")
	}
	if s.barrier(at, true) {
		t.Fatal("no chunk is read, yet the reader is held")
	}
	if !s.readerPassed(at) {
		t.Error("the reader begins a transaction at the position, yet a read view there would be taken as ahead of it")
	}
	// A chunk whose position is not known yet holds the reader, and the
	// transaction is then not begun.
	s2 := &snapshotter{mode: "exact", inflight: []*chunk{{}}}
	if !s2.barrier(at, true) || s2.readerPassed(at) {
		t.Error("a chunk being read did not hold the reader, or the held reader counted as past it")
	}
	// Before any transaction is begun, the reader's start counts: a read
	// view before it misses what lies in between, which is never read.
	s3 := &snapshotter{mode: "exact", from: at}
	if !s3.readerPassed(binlogPos{File: at.File, Pos: at.Pos - 1}) {
		t.Error("a read view before the reader's start was taken as ahead of it")
	}
	if s3.readerPassed(at) || s3.readerPassed(binlogPos{File: "b.000002", Pos: 4}) {
		t.Error("a read view at or after the reader's start was taken as behind it")
	}
}
