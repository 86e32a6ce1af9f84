package mysql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

// TestWatermarkSnapshot: with snapshot_position = 'watermark' every chunk
// is placed at the position after its high watermark (its rows' _pos), its
// two watermark rows are in watermark_table while it runs, and the run's
// rows are gone when the stream closes. (The snapshot under a concurrent
// writer is TestSnapshotUnderConcurrentWrites/*_watermark.)
func TestWatermarkSnapshot(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			const n = 3000
			run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v INT NOT NULL)",
				fmt.Sprintf("INSERT INTO %s.t SELECT seq, seq FROM %s.seq_1_to_%d", db, db, n))
			wmTable := db + ".marks" // a table of the test's own
			src := newSrc(t, s, nil)
			st, err := src.Open(context.Background(), connectors.StreamRequest{
				Tables: []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "t"}, Snapshot: connectors.SnapshotInitial}},
				Once:   true,
				Options: map[string]any{"chunk_rows": int64(500), "snapshot_parallelism": int64(2),
					"snapshot_position": "watermark", "watermark_table": wmTable}})
			if err != nil {
				t.Fatal(err)
			}
			sst := st.(*stream)
			if sst.snap.mode != "watermark" {
				t.Fatalf("placed by %q", sst.snap.mode)
			}
			run := sst.snap.wm.run
			rows, _ := drain(t, st, 30*time.Second, nil)
			// The marks of the chunks read so far are still there, in
			// pairs.
			c := conn(t, s)
			defer c.Close()
			r, err := c.Execute("SELECT mark FROM " + wmTable + " WHERE mark LIKE '" + run + "%' ORDER BY id")
			if err != nil {
				t.Fatal(err)
			}
			lows, highs := 0, 0
			for i := 0; i < r.RowNumber(); i++ {
				m, _ := r.GetString(i, 0)
				switch {
				case strings.HasSuffix(m, ":low"):
					lows++
				case strings.HasSuffix(m, ":high"):
					highs++
				}
			}
			if lows < n/500 || lows != highs {
				t.Errorf("%d low and %d high watermarks for %d chunks", lows, highs, n/500)
			}
			seen := map[string]bool{}
			for _, r := range rows {
				if r["_op"] != "read" {
					continue
				}
				if seen[r["id"]] {
					t.Fatalf("row %s twice", r["id"])
				}
				seen[r["id"]] = true
				if r["_pos"] == "" || r["_pos"] == "NULL" {
					t.Fatalf("row %s has no position", r["id"])
				}
			}
			if len(seen) != n {
				t.Fatalf("%d rows, want %d", len(seen), n)
			}
			st.Close()
			r, err = c.Execute("SELECT COUNT(*) FROM " + wmTable + " WHERE mark LIKE '" + run + "%'")
			if err != nil {
				t.Fatal(err)
			}
			if left, _ := r.GetInt(0, 0); left != 0 {
				t.Errorf("%d watermark rows of the run left after close", left)
			}
		})
	}
}

// TestWatermarkMissingFromBinlog: when the watermark rows do not reach the
// binlog (here: the watermark connection turns sql_log_bin off after the
// first chunks; in production: binlog_ignore_db), the snapshot stops with
// an error that says so, instead of waiting forever.
func TestWatermarkMissingFromBinlog(t *testing.T) {
	s := servers(t)[0]
	db := uniqueDB(t, s)
	run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v INT NOT NULL)",
		fmt.Sprintf("INSERT INTO %s.t SELECT seq, seq FROM %s.seq_1_to_3000", db, db))
	src := newSrc(t, s, nil)
	st, err := src.Open(context.Background(), connectors.StreamRequest{
		Tables: []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "t"}, Snapshot: connectors.SnapshotInitial}},
		Once:   true,
		Options: map[string]any{"chunk_rows": int64(100), "snapshot_parallelism": int64(1),
			"snapshot_position": "watermark", "watermark_table": db + ".marks"}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := st.(*stream).snap.wm
	w.mu.Lock()
	_, err = w.conn.Execute("SET SESSION sql_log_bin = 0")
	w.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		b, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			t.Fatal("the snapshot finished without its watermarks")
		}
		if err != nil {
			if !strings.Contains(err.Error(), "watermark") {
				t.Fatalf("error does not name the watermark: %v", err)
			}
			t.Logf("error: %v", err)
			return
		}
		b.Release()
	}
}

// TestWatermarkNeedsWrites: a user who may not create or write the
// watermark table gets a clear error for snapshot_position = 'watermark'.
// (Under 'auto', on MySQL, etlq then falls back to brackets with a warning;
// MariaDB's auto needs no writes.)
func TestWatermarkNeedsWrites(t *testing.T) {
	s := servers(t)[0]
	db := uniqueDB(t, s)
	user := "etlq_nowm"
	run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY)", "INSERT INTO "+db+".t VALUES (1)",
		"DROP USER IF EXISTS "+user,
		"CREATE USER "+user+"@'%' IDENTIFIED BY 'pw'",
		"GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO "+user+"@'%'")
	t.Cleanup(func() { run(t, s, "DROP USER IF EXISTS "+user) })
	dsn := strings.Replace(s.dsn, "mysql://root@", "mysql://"+user+":pw@", 1)
	src := newSrc(t, server{s.name, dsn}, nil)
	_, err := src.Open(context.Background(), connectors.StreamRequest{
		Tables:  []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "t"}, Snapshot: connectors.SnapshotInitial}},
		Once:    true,
		Options: map[string]any{"snapshot_position": "watermark", "watermark_table": db + "_wm.marks"}})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"snapshot_position = 'watermark'", db + "_wm.marks", "CREATE, INSERT and DELETE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	// MySQL's auto: without write access, brackets (with a warning) — run
	// here as a MariaDB taken for MySQL (flavor = 'mysql'), which has no
	// binlog_snapshot_position to use either.
	src = newSrc(t, server{s.name, dsn}, map[string]any{"flavor": "mysql"})
	st, err := src.Open(context.Background(), connectors.StreamRequest{
		Tables:  []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "t"}, Snapshot: connectors.SnapshotInitial}},
		Once:    true,
		Options: map[string]any{"watermark_table": db + "_wm.marks"}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if m := st.(*stream).snap.mode; m != "bracket" {
		t.Errorf("auto without write access on MySQL: placed by %q, want bracket", m)
	}
	rows, _ := drain(t, st, 30*time.Second, nil)
	if len(rows) != 1 || rows[0]["id"] != "1" {
		t.Errorf("rows %v, want the one row", rows)
	}
}

// TestWatermarkIsMySQLDefault: on a server taken for MySQL (flavor =
// 'mysql' on MariaDB: no binlog_snapshot_position), auto places chunks by
// watermarks when etlq may write its table — the default
// etlq.watermarks — and deletes the run's rows at the end.
func TestWatermarkIsMySQLDefault(t *testing.T) {
	s := servers(t)[0]
	db := uniqueDB(t, s)
	run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY)", "INSERT INTO "+db+".t VALUES (1), (2), (3)")
	src := newSrc(t, s, map[string]any{"flavor": "mysql"})
	st, err := src.Open(context.Background(), connectors.StreamRequest{
		Tables: []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "t"}, Snapshot: connectors.SnapshotInitial}},
		Once:   true})
	if err != nil {
		t.Fatal(err)
	}
	sst := st.(*stream)
	if sst.snap.mode != "watermark" || sst.snap.wm.ref.String() != defaultWatermarkTable {
		t.Fatalf("placed by %q into %v", sst.snap.mode, sst.snap.wm)
	}
	rows, _ := drain(t, st, 30*time.Second, nil)
	if len(rows) != 3 {
		t.Errorf("%d rows, want 3", len(rows))
	}
	runID := sst.snap.wm.run
	st.Close()
	c := conn(t, s)
	defer c.Close()
	r, err := c.Execute("SELECT COUNT(*) FROM " + defaultWatermarkTable + " WHERE mark LIKE '" + runID + "%'")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := r.GetInt(0, 0); n != 0 {
		t.Errorf("%d watermark rows left", n)
	}
}
