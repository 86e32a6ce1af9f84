package mysql

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

// TestSchemaChangeWhileStreaming replays, after the fact, a binlog with rows
// written before and after ALTER TABLEs (add, drop, modify, rename column):
// old rows must decode with the old schema, new rows with the new one,
// under each schema_changes policy.
func TestSchemaChangeWhileStreaming(t *testing.T) {
	for _, s := range servers(t) {
		for _, policy := range []string{"evolve", "ignore", "fail"} {
			t.Run(s.name+"_"+policy, func(t *testing.T) {
				db := uniqueDB(t, s)
				run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, a VARCHAR(10), b INT)")
				src := newSrc(t, s, nil)
				ref := connectors.TableRef{DB: db, Table: "t"}
				ctx := context.Background()
				// Open first: the stream records the schema at its start.
				st, err := src.Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotNever}},
					Options: map[string]any{"schema_changes": policy}})
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				stmts := []string{
					"INSERT INTO " + db + ".t VALUES (1, 'x', 10)",
					"ALTER TABLE " + db + ".t ADD COLUMN c DECIMAL(6,2) AFTER a",
					"INSERT INTO " + db + ".t VALUES (2, 'y', 1.50, 20)",
					"ALTER TABLE " + db + ".t DROP COLUMN a",
					"INSERT INTO " + db + ".t VALUES (3, 2.25, 30)",
					"ALTER TABLE " + db + ".t MODIFY b BIGINT, RENAME COLUMN c TO d",
					"INSERT INTO " + db + ".t VALUES (4, 3.75, 40)",
				}
				c := conn(t, s)
				defer c.Close()
				var rows []row
				dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				// With full row metadata the reader may lag behind all the
				// DDLs; without it, it reads each DDL before the next one
				// (the schema is re-read at the DDL), as a live stream does.
				batches := [][]string{stmts}
				if s.name == "minimal" {
					batches = [][]string{stmts[:2], stmts[2:4], stmts[4:6], stmts[6:]}
				}
				for _, part := range batches {
					run(t, s, part...)
					target, _, _ := masterStatus(c, "")
					// Until the reader passed target and nothing it queued is left.
					for sst := st.(*stream); sst.bin.safe.cmp(target) < 0 || len(sst.out) > 0; {
						b, err := st.Next(dctx)
						if policy == "fail" && err != nil {
							if !strings.Contains(err.Error(), "schema change") || !strings.Contains(err.Error(), "ALTER TABLE") {
								t.Fatalf("error does not name the DDL: %v", err)
							}
							if len(rows) != 1 {
								t.Fatalf("rows before the failing DDL: %v", rows)
							}
							return
						}
						if errors.Is(err, io.EOF) || err != nil {
							t.Fatalf("next: %v", err)
						}
						rows = append(rows, batchRows(b)...)
						b.Release()
					}
				}
				if policy == "fail" {
					t.Fatal("no error for the DDL")
				}
				if len(rows) != 4 {
					t.Fatalf("got %d rows: %v", len(rows), rows)
				}
				get := func(i int, col string) string {
					v, ok := rows[i][col]
					if !ok {
						return "<absent>"
					}
					return v
				}
				type want struct {
					row      int
					col, val string
				}
				var checks []want
				if policy == "evolve" {
					checks = []want{{0, "a", "x"}, {0, "b", "10"}, {1, "c", "1.5"}, {1, "b", "20"},
						{2, "c", "2.25"}, {2, "a", "<absent>"}, {2, "b", "30"}, {3, "d", "3.75"}, {3, "b", "40"}}
				} else {
					checks = []want{{0, "a", "x"}, {0, "b", "10"}, {1, "a", "y"}, {1, "b", "20"}, {1, "c", "<absent>"},
						{2, "a", "NULL"}, {2, "b", "30"}, {3, "b", "NULL"}, {3, "id", "4"}}
				}
				for _, w := range checks {
					if got := get(w.row, w.col); got != w.val {
						t.Errorf("row %d column %s = %s, want %s (row %v)", w.row, w.col, got, w.val, rows[w.row])
					}
				}
			})
		}
	}
}
