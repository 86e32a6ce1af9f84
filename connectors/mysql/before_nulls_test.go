package mysql

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// TestBinlogBeforeImagesInMixedBatches: a batch (one transaction) holds
// inserts, updates and deletes in any order; only updates have before.*
// values. The source appends the NULL before.* of inserts and deletes only
// once a batch has an update, and gives a batch without one shared
// all-NULL arrays (of its length): every row must still get its own
// before image, whatever came first, and batches of the same length must
// not share anything but NULLs.
func TestBinlogBeforeImagesInMixedBatches(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			tb := db + ".t"
			run(t, s, "CREATE TABLE "+tb+" (id INT PRIMARY KEY, v VARCHAR(20), amt DECIMAL(8,2), n BIGINT)")
			src := newSrc(t, s, nil)
			ref := connectors.TableRef{DB: db, Table: "t"}
			ctx := context.Background()
			mem := checkedMem(t)
			st, err := src.OpenWithAllocator(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref}}, Once: true, Before: true}, mem)
			if err != nil {
				t.Fatal(err)
			}
			_, mark := drain(t, st, 20*time.Second, nil)
			st.Close()
			if mark == nil {
				t.Fatal("no mark after the snapshot")
			}
			run(t, s,
				// inserts, an update, an insert, a delete
				"BEGIN",
				"INSERT INTO "+tb+" VALUES (1,'a',1.00,1),(2,'b',2.00,2)",
				"UPDATE "+tb+" SET v = 'bb', amt = 2.50, n = 20 WHERE id = 2",
				"INSERT INTO "+tb+" VALUES (3,'c',3.00,3)",
				"DELETE FROM "+tb+" WHERE id = 1",
				"COMMIT",
				// inserts only, twice with the same length
				"INSERT INTO "+tb+" VALUES (4,'d',4.00,4),(5,'e',5.00,5)",
				"INSERT INTO "+tb+" VALUES (6,'f',6.00,6),(7,'g',7.00,7)",
				// an update first, then an insert
				"BEGIN",
				"UPDATE "+tb+" SET v = 'cc', amt = 3.50, n = 30 WHERE id = 3",
				"INSERT INTO "+tb+" VALUES (8,'h',8.00,8)",
				"COMMIT",
				// a delete alone, then an update alone
				"DELETE FROM "+tb+" WHERE id = 4",
				"UPDATE "+tb+" SET v = 'ee', amt = 5.50, n = 50 WHERE id = 5",
			)
			st, err = src.OpenWithAllocator(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref}}, Once: true, Before: true, Resume: mark.Bytes()}, mem)
			if err != nil {
				t.Fatal(err)
			}
			rows, _ := drain(t, st, 20*time.Second, nil)
			st.Close()
			type want struct{ op, id, v, bv, bamt, bn string }
			null := func(op, id, v string) want { return want{op, id, v, "NULL", "NULL", "NULL"} }
			wants := []want{
				null("insert", "1", "a"), null("insert", "2", "b"),
				{"update", "2", "bb", "b", "2", "2"},
				null("insert", "3", "c"), null("delete", "1", "a"),
				null("insert", "4", "d"), null("insert", "5", "e"),
				null("insert", "6", "f"), null("insert", "7", "g"),
				{"update", "3", "cc", "c", "3", "3"},
				null("insert", "8", "h"),
				null("delete", "4", "d"),
				{"update", "5", "ee", "e", "5", "5"},
			}
			if len(rows) != len(wants) {
				t.Fatalf("got %d rows, want %d: %v", len(rows), len(wants), rows)
			}
			for i, w := range wants {
				r := rows[i]
				got := want{r["_op"], r["id"], r["v"], r["before.v"], r["before.amt"], r["before.n"]}
				if got != w {
					t.Errorf("row %d: got %+v, want %+v", i, got, w)
				}
			}
		})
	}
}

// TestSnapshotBeforeNullsShared: a snapshot's records have all-NULL
// before.* columns, shared by the records of one length instead of made
// anew for each; they stay NULL, and nothing leaks (checked allocator).
func TestSnapshotBeforeNullsShared(t *testing.T) {
	s := servers(t)[0]
	db := uniqueDB(t, s)
	run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(20), n BIGINT)",
		"INSERT INTO "+db+".t SELECT seq, CONCAT('v', seq), seq FROM "+db+".seq_1_to_5000")
	src := newSrc(t, s, nil)
	mem := checkedMem(t)
	st, err := src.OpenWithAllocator(context.Background(), connectors.StreamRequest{
		Tables: []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "t"}, Snapshot: connectors.SnapshotOnly}},
		Before: true, Options: map[string]any{"chunk_rows": int64(1000), "snapshot_parallelism": int64(2)}}, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var kept []*exec.Batch
	defer func() {
		for _, b := range kept {
			b.Release()
		}
	}()
	rows := 0
	for {
		b, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows += int(b.NumRows())
		if b.NumRows() == 0 {
			b.Release()
			continue
		}
		for c := 3; c < 6; c++ { // before.id, before.v, before.n
			if a := b.Record.Column(c); a.NullN() != a.Len() {
				t.Fatalf("%s: %d of %d values not NULL", b.Record.Schema().Field(c).Name, a.Len()-a.NullN(), a.Len())
			}
		}
		kept = append(kept, b)
	}
	if rows != 5000 {
		t.Fatalf("%d rows, want 5000", rows)
	}
	shared := 0
	for i := 1; i < len(kept); i++ {
		if kept[i].NumRows() == kept[0].NumRows() && kept[i].Record.Column(4).Data() == kept[0].Record.Column(4).Data() {
			shared++
		}
	}
	if shared == 0 {
		t.Errorf("no two records of %d rows share their before.* arrays (%d records)", kept[0].NumRows(), len(kept))
	}
}
