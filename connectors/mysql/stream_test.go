package mysql

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

// TestStreamSnapshotThenBinlog snapshots a table, then decodes inserts,
// updates and deletes from the binlog, resuming from the snapshot's Mark.
func TestStreamSnapshotThenBinlog(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(20), n BIGINT UNSIGNED)",
				"INSERT INTO "+db+".t VALUES (1,'a',1),(2,'b',2),(3,'c',18446744073709551615)")
			src := newSrc(t, s, nil)
			ref := connectors.TableRef{DB: db, Table: "t"}
			ctx := context.Background()
			mem := checkedMem(t)
			st, err := src.OpenWithAllocator(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref}}, Once: true, Before: true}, mem)
			if err != nil {
				t.Fatal(err)
			}
			rows, mark := drain(t, st, 20*time.Second, nil)
			st.Close()
			if len(rows) != 3 || mark == nil {
				t.Fatalf("snapshot: got %d rows, mark %v", len(rows), mark)
			}
			for _, r := range rows {
				if r["_op"] != "read" || r["before.v"] != "NULL" {
					t.Fatalf("snapshot row %v", r)
				}
			}
			if rows[2]["n"] != "18446744073709551615" {
				t.Fatalf("unsigned bigint: %v", rows[2])
			}
			var ms markState
			if err := json.Unmarshal(mark.Bytes(), &ms); err != nil || !ms.Snapshot[ref.String()].Done {
				t.Fatalf("mark state %s: %v", mark.Bytes(), err)
			}

			run(t, s, "INSERT INTO "+db+".t VALUES (4,'d',4)",
				"UPDATE "+db+".t SET v = 'bb' WHERE id = 2",
				"DELETE FROM "+db+".t WHERE id = 1")
			st, err = src.OpenWithAllocator(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref}}, Once: true, Before: true, Resume: mark.Bytes()}, mem)
			if err != nil {
				t.Fatal(err)
			}
			rows2, mark2 := drain(t, st, 20*time.Second, nil)
			st.Close()
			if len(rows2) != 3 {
				t.Fatalf("binlog: got %d rows: %v", len(rows2), rows2)
			}
			want := []struct{ op, id, v, bv string }{{"insert", "4", "d", "NULL"}, {"update", "2", "bb", "b"}, {"delete", "1", "a", "NULL"}}
			for i, w := range want {
				r := rows2[i]
				if r["_op"] != w.op || r["id"] != w.id || r["v"] != w.v || r["before.v"] != w.bv {
					t.Errorf("row %d: got %v, want %+v", i, r, w)
				}
			}
			last := rows[len(rows)-1]["_version"]
			if rows2[0]["_version"] <= last && len(rows2[0]["_version"]) <= len(last) {
				t.Errorf("versions not increasing: %s then %s", last, rows2[0]["_version"])
			}

			// Replaying from the same Mark gives the same versions.
			st, err = src.OpenWithAllocator(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref}}, Once: true, Before: true, Resume: mark.Bytes()}, mem)
			if err != nil {
				t.Fatal(err)
			}
			rows3, _ := drain(t, st, 20*time.Second, nil)
			st.Close()
			if len(rows3) != len(rows2) {
				t.Fatalf("replay: %d rows, want %d", len(rows3), len(rows2))
			}
			for i := range rows2 {
				if rows2[i]["_version"] != rows3[i]["_version"] || rows2[i]["_pos"] != rows3[i]["_pos"] {
					t.Errorf("replay row %d: %v vs %v", i, rows3[i], rows2[i])
				}
			}
			if mark2 == nil {
				t.Fatal("no mark after binlog rows")
			}
		})
	}
}

// TestOnceIdleAndPurged: a Once stream over an idle table ends at once,
// and a checkpoint at a purged binlog position gives a clear error.
func TestOnceIdleAndPurged(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".idle (id INT PRIMARY KEY)")
			src := newSrc(t, s, nil)
			ref := connectors.TableRef{DB: db, Table: "idle"}
			ctx := context.Background()
			start := time.Now()
			st, err := src.Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotNever}}, Once: true})
			if err != nil {
				t.Fatal(err)
			}
			rows, _ := drain(t, st, 10*time.Second, nil)
			st.Close()
			if len(rows) != 0 || time.Since(start) > 5*time.Second {
				t.Fatalf("idle once: %d rows after %v", len(rows), time.Since(start))
			}
			state := []byte(`{"file":"binlog.000000","pos":4,"flavor":"mariadb","version":1}`)
			_, err = src.Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotNever}}, Resume: state})
			if err == nil || !strings.Contains(err.Error(), "binlog position binlog.000000:4 was purged on the server: a new snapshot is needed") {
				t.Fatalf("purged: %v", err)
			}
			// snapshot_on_purge takes a new snapshot instead.
			run(t, s, "INSERT INTO "+db+".idle VALUES (1), (2)")
			st, err = src.Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref}}, Resume: state, Once: true,
				Options: map[string]any{"snapshot_on_purge": true}})
			if err != nil {
				t.Fatal(err)
			}
			rows, _ = drain(t, st, 10*time.Second, nil)
			st.Close()
			// First a truncate, so that an upsert target loses the rows
			// deleted in the gap, then the new snapshot.
			if len(rows) != 3 || rows[0]["_op"] != "truncate" || rows[1]["_op"] != "read" {
				t.Fatalf("snapshot on purge: %v", rows)
			}
			for _, p := range st.Progress() {
				if !p.Done || p.RowsDone != 2 || p.RowsTotal != 2 {
					t.Errorf("progress %+v", p)
				}
			}
		})
	}
}

// TestReconnectAfterKill kills the binlog connection mid-stream: the stream
// reconnects from the last transaction boundary and delivers every row
// exactly once.
func TestReconnectAfterKill(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".r (id INT PRIMARY KEY)")
			src := newSrc(t, s, nil)
			ref := connectors.TableRef{DB: db, Table: "r"}
			ctx := context.Background()
			st, err := src.Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotNever}}, BatchRows: 7})
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
			ins(0, 50)
			rows, _ := drain(t, st, 10*time.Second, func(r []row) bool { return len(r) >= 14 })
			// Kill the dump connection of this stream.
			c := conn(t, s)
			defer c.Close()
			id := st.(*stream).bin.dump.id
			if _, err := c.Execute("KILL " + strconv.Itoa(int(id))); err != nil {
				t.Fatal(err)
			}
			ins(50, 100)
			more, _ := drain(t, st, 20*time.Second, func(r []row) bool { return len(rows)+len(r) >= 100 })
			rows = append(rows, more...)
			seen := map[string]int{}
			for _, r := range rows {
				seen[r["id"]]++
			}
			for i := 0; i < 100; i++ {
				if seen[strconv.Itoa(i)] != 1 {
					t.Errorf("id %d delivered %d times", i, seen[strconv.Itoa(i)])
				}
			}
		})
	}
}
