package mysql

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// TestBatchesCutByBytes: batches are cut at BatchBytes of row data as
// well as at BatchRows rows, in the binlog (inside one transaction) and in
// the snapshot (inside one chunk), so that rows of large values do not
// make batches of thousands of them (docs/benchmarks.md, "Hard shapes").
func TestBatchesCutByBytes(t *testing.T) {
	const rows, valueLen, maxBytes = 100, 1000, 10_000
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".big (id INT PRIMARY KEY, v VARCHAR(2000) NOT NULL)")
			src := newSrc(t, s, nil)
			ref := connectors.TableRef{DB: db, Table: "big"}
			ctx := context.Background()
			// Every batch holds at most 10 rows: the 10th row's 1,000
			// bytes take the batch to maxBytes.
			check := func(what string, st connectors.Stream, stop func(n int) bool) {
				t.Helper()
				ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				n, batches := 0, 0
				for !stop(n) {
					b, err := st.Next(ctx)
					if err != nil {
						break
					}
					if b.Record != nil {
						got := int(b.Record.NumRows())
						if got > maxBytes/valueLen {
							t.Errorf("%s: a batch of %d rows of %d bytes, want at most %d (BatchBytes %d)", what, got, valueLen, maxBytes/valueLen, maxBytes)
						}
						n += got
						batches++
					}
					b.Release()
				}
				if n != rows || batches < rows*valueLen/maxBytes {
					t.Errorf("%s: %d rows in %d batches, want %d rows in at least %d", what, n, batches, rows, rows*valueLen/maxBytes)
				}
			}
			st, err := src.Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotNever}}, BatchBytes: maxBytes})
			if err != nil {
				t.Fatal(err)
			}
			// One transaction of 100 rows.
			ins := "INSERT INTO " + db + ".big VALUES "
			for i := 0; i < rows; i++ {
				if i > 0 {
					ins += ","
				}
				ins += fmt.Sprintf("(%d, REPEAT('x', %d))", i, valueLen)
			}
			run(t, s, ins)
			check("binlog", st, func(n int) bool { return n >= rows })
			st.Close()

			st, err = src.Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotOnly}}, Once: true, BatchBytes: maxBytes})
			if err != nil {
				t.Fatal(err)
			}
			check("snapshot", st, func(int) bool { return false })
			st.Close()
		})
	}
}

// TestSnapshotReserveBoundedByBytes: a snapshot record reserves room for
// no more rows than BatchBytes holds, whatever batch_rows says: 8192 rows
// of a 300-column table reserved ~40 MiB per record, and a chunk reader
// keeps up to three records.
func TestSnapshotReserveBoundedByBytes(t *testing.T) {
	s := servers(t)[0]
	db := uniqueDB(t, s)
	cols := []string{"id INT PRIMARY KEY"}
	for i := 0; i < 150; i++ {
		cols = append(cols, fmt.Sprintf("d%d DECIMAL(30,2), s%d VARCHAR(10) CHARACTER SET latin1", i, i))
	}
	run(t, s, "CREATE TABLE "+db+".wide ("+strings.Join(cols, ", ")+")")
	c := conn(t, s)
	defer c.Close()
	tbl, err := readTable(c, connectors.TableRef{DB: db, Table: "wide"})
	if err != nil {
		t.Fatal(err)
	}
	hint := make([]int, len(tbl.Cols))
	for i := range hint {
		hint[i] = 10
	}
	rr := newRowReader(tbl, hint)
	const maxBytes = 1 << 20
	rr.reserve(8192, maxBytes)
	got := 0
	for _, c := range rr.cols {
		got += c.capacity()
	}
	// slices.Grow rounds up to the allocator's size classes: 2×.
	if got > 2*maxBytes {
		t.Errorf("reserving 8192 rows of %d columns under %d bytes allocated %d bytes", len(tbl.Cols), maxBytes, got)
	}
}

// TestMarksThrottledWhenStateIsBig: when the checkpoint state (the
// streamed tables' schemas) is big, transactions get a Mark at most every
// bigMarkEvery instead of each one — a Mark per commit of 1,000 tables'
// schemas kept 50 MiB waiting for inserts — and the stream still ends on
// a Mark at the last position.
func TestMarksThrottledWhenStateIsBig(t *testing.T) {
	s := servers(t)[0]
	db := uniqueDB(t, s)
	run(t, s, "CREATE TABLE "+db+".m (id INT PRIMARY KEY)")
	defer func(v int) { bigMarkState = v }(bigMarkState)
	bigMarkState = 1 // any state is big
	src := newSrc(t, s, nil)
	ref := connectors.TableRef{DB: db, Table: "m"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := conn(t, s)
	defer c.Close()
	start, _, err := masterStatus(c, "mariadb")
	if err != nil {
		t.Fatal(err)
	}
	const trxs = 200
	for i := 0; i < trxs; i++ {
		run(t, s, fmt.Sprintf("INSERT INTO %s.m VALUES (%d)", db, i))
	}
	// From the first insert on: a replay, with no time between commits.
	st, err := src.Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotNever}}, Once: true,
		Options: map[string]any{"start_at": start.String()}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, marks := 0, 0
	var last *exec.Mark
	for {
		b, err := st.Next(ctx)
		if err != nil {
			break
		}
		rows += b.NumRows()
		if b.Mark != nil {
			marks++
			last = b.Mark
		}
		b.Release()
	}
	if rows != trxs || marks == 0 || marks >= trxs/2 {
		t.Fatalf("%d rows with %d marks, want %d rows with fewer than %d marks", rows, marks, trxs, trxs/2)
	}
	ms, err := decodeState(last.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if end := st.(*stream).target; ms.File != end.File || ms.Pos < end.Pos {
		t.Errorf("last mark at %s:%d, the stream read to %s", ms.File, ms.Pos, end)
	}
	if len(ms.Schemas) != 1 || ms.Schemas[0].Ref != ref {
		t.Errorf("last mark's schemas: %+v", ms.Schemas)
	}
}

// TestSnapshotStateJSON: the snapshot progress a Mark carries, written
// without a map (appendState), is the JSON json.Marshal makes of
// stateSnapshot's map: the same bytes, keys sorted, gone and never-snapshot
// tables left out, nothing when no table has any.
func TestSnapshotStateJSON(t *testing.T) {
	st := &stream{}
	s := &snapshotter{em: st}
	add := func(key string, mode connectors.SnapshotMode, snap *snapState, gone bool) {
		st.tables = append(st.tables, &tableState{key: key, mode: mode, snap: snap, gone: gone})
	}
	check := func(what string) {
		t.Helper()
		got, ok := s.appendState(nil)
		want, _ := json.Marshal(s.stateSnapshot())
		if len(s.stateSnapshot()) == 0 {
			if ok {
				t.Errorf("%s: %s, want nothing", what, got)
			}
			return
		}
		if !ok || string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", what, got, want)
		}
	}
	check("no tables")
	add("db.never", connectors.SnapshotNever, nil, false)
	check("a binlog-only table")
	add("db.z_done", connectors.SnapshotInitial, &snapState{Done: true}, false)
	add("db.a_ranges", connectors.SnapshotInitial, &snapState{Ranges: []keyRange{{Lo: nil, Hi: []string{"10", "'x<&>\"'"}}, {Lo: []string{"20"}, Hi: []string{"30"}}}}, false)
	add("db.m_started", connectors.SnapshotOnly, &snapState{}, false)
	add("db.b_gone", connectors.SnapshotInitial, &snapState{Done: true}, true)
	add("db.c_finished", connectors.SnapshotInitial, nil, false)
	add(`db."quoted"\é`, connectors.SnapshotInitial, &snapState{Done: true, Ranges: []keyRange{{Hi: []string{"1"}}}}, false)
	check("mixed tables")
	add("db.late", connectors.SnapshotInitial, nil, false) // a table that joined later
	check("after a table joined")
	// A table being read again (a resnapshot) is written done, its
	// ranges and mode aside: a resnapshot is not resumed from a mark.
	st.tables = append(st.tables, &tableState{key: "db.resnap", mode: connectors.SnapshotNever, resnap: &resnapState{},
		snap: &snapState{Ranges: []keyRange{{Hi: []string{"5"}}}}})
	check("a resnapshot under way")
}
