package mysql

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

// TestBinlogBeforeImagesOnlyRead: a stream asked for some before values
// only (connectors.BeforeCols: an upsert's key, what changed(x) reads)
// decodes those and the primary key's — the key as it is at each
// update's schema version — and leaves the other before.* values NULL;
// a table matched by a pattern takes its pattern's; a table asked for
// with every before value keeps them all.
func TestBinlogBeforeImagesOnlyRead(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s,
				"CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(20), amt DECIMAL(8,2), n BIGINT NOT NULL)",
				"CREATE TABLE "+db+".p_1 (id INT PRIMARY KEY, v VARCHAR(20), amt DECIMAL(8,2), n BIGINT NOT NULL)",
				"CREATE TABLE "+db+".full (id INT PRIMARY KEY, v VARCHAR(20), amt DECIMAL(8,2), n BIGINT NOT NULL)")
			src := newSrc(t, s, nil)
			ref, full := connectors.TableRef{DB: db, Table: "t"}, connectors.TableRef{DB: db, Table: "full"}
			some := connectors.BeforeCols{Some: true, Cols: []string{"AMT"}}
			req := func() connectors.StreamRequest {
				return connectors.StreamRequest{
					Tables:   []connectors.StreamTable{{Ref: ref, Before: some}, {Ref: full}},
					Patterns: []connectors.StreamPattern{{DB: db, Table: "p_*", Before: connectors.BeforeCols{Some: true, Cols: []string{"v"}}}},
					Once:     true, Before: true}
			}
			ctx := context.Background()
			mem := checkedMem(t)
			st, err := src.OpenWithAllocator(ctx, req(), mem)
			if err != nil {
				t.Fatal(err)
			}
			_, mark := drain(t, st, 20*time.Second, nil)
			st.Close()
			if mark == nil {
				t.Fatal("no mark after the snapshot")
			}
			var stmts []string
			for _, tb := range []string{"t", "p_1", "full"} {
				stmts = append(stmts,
					"INSERT INTO "+db+"."+tb+" VALUES (1,'a',1.00,10),(2,'b',2.00,20)",
					"UPDATE "+db+"."+tb+" SET v = 'bb', amt = 2.50, n = 21 WHERE id = 2")
			}
			// The primary key moves to n: its before values are decoded
			// from then on, id's no longer.
			stmts = append(stmts,
				"ALTER TABLE "+db+".t DROP PRIMARY KEY, ADD PRIMARY KEY (n)",
				"UPDATE "+db+".t SET v = 'cc', amt = 3.50, n = 22 WHERE id = 2")
			run(t, s, stmts...)
			r := req()
			r.Resume = mark.Bytes()
			st, err = src.OpenWithAllocator(ctx, r, mem)
			if err != nil {
				t.Fatal(err)
			}
			rows, _ := drain(t, st, 20*time.Second, nil)
			st.Close()
			type img struct{ table, id, v, amt, n string }
			var got []img
			for _, r := range rows {
				if r["_op"] == "update" {
					got = append(got, img{r["_table"], r["before.id"], r["before.v"], r["before.amt"], r["before.n"]})
				}
			}
			want := []img{
				{"t", "2", "NULL", "2", "NULL"},    // the key and amt
				{"p_1", "2", "b", "NULL", "NULL"},  // the key and the pattern's v
				{"full", "2", "b", "2", "20"},      // all
				{"t", "NULL", "NULL", "2.5", "21"}, // the key is n now
			}
			if len(got) != len(want) {
				t.Fatalf("updates: got %v, want %v", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("update %d: before image %+v, want %+v", i, got[i], want[i])
				}
			}
		})
	}
}

// TestBinlogBeforeValuesSkippedBySize: the before values nobody reads of
// fixed-size types are stepped over by their size (colDec.size), without
// decoding: a size off by one byte would shift every later value. The
// one before value read comes after all of them, NULLs among them.
func TestBinlogBeforeValuesSkippedBySize(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			tb := db + ".t"
			run(t, s, "CREATE TABLE "+tb+` (id INT PRIMARY KEY, a TINYINT, b SMALLINT UNSIGNED, c MEDIUMINT, d BIGINT, e FLOAT, f DOUBLE,
				g DECIMAL(30,7), h DECIMAL(5,0), i DATE, j YEAR, k DATETIME, l DATETIME(1), m DATETIME(4), n DATETIME(6), o TIMESTAMP(3) NULL,
				p TIME(6), q TIME, r TIMESTAMP(5) NULL, tail VARCHAR(20))`)
			src := newSrc(t, s, nil)
			ref := connectors.TableRef{DB: db, Table: "t"}
			req := connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Before: connectors.BeforeCols{Some: true, Cols: []string{"tail"}}}},
				Once: true, Before: true}
			st, err := src.OpenWithAllocator(context.Background(), req, checkedMem(t))
			if err != nil {
				t.Fatal(err)
			}
			_, mark := drain(t, st, 20*time.Second, nil)
			st.Close()
			run(t, s,
				"INSERT INTO "+tb+` VALUES (1, -5, 65000, -8000000, 9000000000000, 1.5, -2.25, -12345678901234567.1234567, 99999, '2024-02-29', 2024,
					'2024-01-02 03:04:05', '2024-01-02 03:04:05.1', '2024-01-02 03:04:05.1234', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123',
					'-838:59:59.000001', '12:34:56', '2030-01-01 00:00:00.12345', 'old-1')`,
				"INSERT INTO "+tb+" (id, tail) VALUES (2, 'old-2')",
				"UPDATE "+tb+" SET tail = CONCAT('new', id)")
			req.Resume = mark.Bytes()
			st, err = src.OpenWithAllocator(context.Background(), req, checkedMem(t))
			if err != nil {
				t.Fatal(err)
			}
			rows, _ := drain(t, st, 20*time.Second, nil)
			st.Close()
			var got []string
			for _, r := range rows {
				if r["_op"] == "update" {
					got = append(got, r["id"]+":"+r["before.tail"]+"->"+r["tail"]+" d="+r["before.d"]+" n="+r["before.n"])
				}
			}
			want := []string{"1:old-1->new1 d=NULL n=NULL", "2:old-2->new2 d=NULL n=NULL"}
			if strings.Join(got, "; ") != strings.Join(want, "; ") {
				t.Errorf("updates: %q, want %q", got, want)
			}
		})
	}
}
