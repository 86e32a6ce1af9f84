package mysql

import (
	"context"
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
			r.Resume = mark.State
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
