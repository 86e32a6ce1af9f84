package mysql

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
)

// privateMariaDB starts a MariaDB of the test's own (MariaDB A's settings)
// with scripts/services on a free port, stopped when the test ends, so the
// test may restart it while other packages use the shared servers. It
// returns the DSN and a function running scripts/services on it.
func privateMariaDB(t *testing.T) (string, func(args ...string)) {
	t.Helper()
	s, services := privateServer(t, "private", 1, "")
	return s.dsn, services
}

// TestSnapshotSurvivesServerRestart: the server restarts while a snapshot
// is half read. The snapshot connections (the planner's and the chunk
// readers', idle while the consumer is behind) are lost; the chunks are
// read again on new connections with back-off, and every row arrives
// exactly once, without an error. Before the fix the stream failed with
// "snapshot of …: connection was bad". In "streaming", chunks are many
// records long and their readers wait in the middle of them when the
// server goes: each such chunk ends at its last complete record, whose rows
// went out or are about to, and the rest of its range is read again.
func TestSnapshotSurvivesServerRestart(t *testing.T) {
	t.Parallel()        // a private server of its own: its start and waits overlap the package's other tests
	testenv.MySQLDSN(t) // the shared server answering means the binaries are here
	dsn, services := privateMariaDB(t)
	s := server{"private", dsn}
	db := uniqueDB(t, s)
	const n = 100000
	// wide: 250-byte rows, so that a chunk does not fit in the socket
	// buffers and its reader is cut off in the middle of its result.
	run(t, s, "CREATE TABLE "+db+".big (id INT PRIMARY KEY, v INT NOT NULL)",
		fmt.Sprintf("INSERT INTO %s.big SELECT seq, seq * 2 FROM %s.seq_1_to_%d", db, db, n),
		"CREATE TABLE "+db+".wide (id INT PRIMARY KEY, v INT NOT NULL, pad VARCHAR(300) NOT NULL)",
		fmt.Sprintf("INSERT INTO %s.wide SELECT seq, seq * 2, REPEAT('x', 250) FROM %s.seq_1_to_%d", db, db, n))
	for _, c := range []struct {
		name      string
		table     string
		chunkRows int
		batchRows int
		position  string
	}{{"whole_chunks", "big", 5000, 0, "auto"}, {"streaming", "wide", 40000, 1000, "auto"}, {"watermark", "big", 5000, 0, "watermark"}} {
		t.Run(c.name, func(t *testing.T) {
			src := newSrc(t, s, nil)
			st, err := src.Open(context.Background(), connectors.StreamRequest{
				Tables:    []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: c.table}, Snapshot: connectors.SnapshotInitial}},
				Once:      true,
				BatchRows: c.batchRows,
				Options:   map[string]any{"chunk_rows": c.chunkRows, "snapshot_parallelism": 2, "snapshot_position": c.position}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			// Read a part; the readers fill their window and wait, connected.
			rows, _ := drain(t, st, 30*time.Second, func(r []row) bool { return len(r) >= 10000 })
			time.Sleep(500 * time.Millisecond)
			services("down", "mariadb-a")
			time.Sleep(2 * time.Second)
			services("up", "mariadb-a")
			more, _ := drain(t, st, 3*time.Minute, nil)
			rows = append(rows, more...)

			for _, r := range rows {
				if r["_op"] != "read" {
					t.Fatalf("unexpected change %v", r)
				}
			}
			checkOnceEach(t, rows, n)
			if c.batchRows > 0 {
				if sp := st.(*stream).snap.splits; sp == 0 {
					t.Errorf("no chunk was cut at a lost connection (splits = 0): the test did not reach the path it is for")
				}
			}
		})
	}
}

// checkOnceEach checks that rows hold ids 1..n once each, with v = 2 × id.
func checkOnceEach(t *testing.T, rows []row, n int) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r["id"]] {
			t.Fatalf("row %s twice", r["id"])
		}
		seen[r["id"]] = true
		if want := fmt.Sprint(2 * atoi(r["id"])); r["v"] != want {
			t.Fatalf("row %s: v = %s, want %s", r["id"], r["v"], want)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d rows, want %d", len(seen), n)
	}
}

func atoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

// TestStalledReaderCutsChunks: when the consumer stops taking rows, a
// chunk reader does not keep its read view open for longer than
// maxChunkWait: it ends its chunk at the last complete record and the rest
// of the range is read later, in a new read view. Every row still arrives
// exactly once.
func TestStalledReaderCutsChunks(t *testing.T) {
	cuts, unpaced := snapshotWithStall(t, "id INT PRIMARY KEY, v INT NOT NULL", "seq, seq * 2")
	if cuts == 0 || unpaced != 0 {
		t.Errorf("%d chunks cut, %d read on without waiting: want cuts only", cuts, unpaced)
	}
}

// TestStalledReaderUnpacesStringKeyChunks: a chunk whose key is not one
// integer column cannot be cut at its last row; when the consumer stalls
// for longer than maxChunkWait it is read to its end without waiting (its
// rows wait in memory), so its read view closes. Every row still arrives
// exactly once.
func TestStalledReaderUnpacesStringKeyChunks(t *testing.T) {
	cuts, unpaced := snapshotWithStall(t, "id INT NOT NULL, k VARCHAR(20) NOT NULL, v INT NOT NULL, PRIMARY KEY (k)",
		"seq, CONCAT('k', LPAD(seq, 8, '0')), seq * 2")
	if unpaced == 0 || cuts != 0 {
		t.Errorf("%d chunks cut, %d read on without waiting: want the latter only", cuts, unpaced)
	}
}

// snapshotWithStall snapshots 20,000 rows of a table with columns cols
// (values from seq_1_to_20000 by sel; id = seq and v = 2 × id) in chunks
// of 8,000, the consumer stalling for five times maxChunkWait after the
// first 1,000 rows; it checks that every row arrives once and returns how
// many chunks were cut and how many read on without waiting.
func snapshotWithStall(t *testing.T, cols, sel string) (cuts, unpaced int) {
	s := servers(t)[0]
	db := uniqueDB(t, s)
	const n = 20000
	run(t, s, "CREATE TABLE "+db+".t ("+cols+")",
		fmt.Sprintf("INSERT INTO %s.t SELECT %s FROM %s.seq_1_to_%d", db, sel, db, n))
	defer func(d time.Duration) { maxChunkWait = d }(maxChunkWait)
	maxChunkWait = 300 * time.Millisecond
	src := newSrc(t, s, nil)
	st, err := src.Open(context.Background(), connectors.StreamRequest{
		Tables:    []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "t"}, Snapshot: connectors.SnapshotInitial}},
		Once:      true,
		BatchRows: 500,
		Options:   map[string]any{"chunk_rows": 8000, "snapshot_parallelism": 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, _ := drain(t, st, 30*time.Second, func(r []row) bool { return len(r) >= 1000 })
	time.Sleep(5 * maxChunkWait) // the consumer stalls
	more, _ := drain(t, st, 30*time.Second, nil)
	rows = append(rows, more...)
	checkOnceEach(t, rows, n)
	snap := st.(*stream).snap
	snap.mu.Lock()
	defer snap.mu.Unlock()
	t.Logf("%d chunks cut, %d read on without waiting", snap.cuts, snap.unpaced)
	return snap.cuts, snap.unpaced
}
