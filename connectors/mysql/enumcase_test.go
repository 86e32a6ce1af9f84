package mysql

import (
	"context"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

// TestEnumSetMemberCase: ENUM and SET values keep the case of their
// members on both paths. The binlog carries only the member index, so the
// binlog path takes the text from the schema, whose COLUMN_TYPE the source
// lowers for matching: the members must come from the original text (found
// by the Sakila end-to-end test: rating 'PG-13' arrived as 'pg-13').
func TestEnumSetMemberCase(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, e ENUM('Small','MEDIUM','x-Large'), st SET('Red','GREEN','bLue'))",
				"INSERT INTO "+db+".t VALUES (1, 'x-Large', 'Red,bLue')")
			src := newSrc(t, s, nil)
			st, err := src.Open(context.Background(), connectors.StreamRequest{
				Tables: []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "t"}, Snapshot: connectors.SnapshotInitial}}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			rows, _ := drain(t, st, 20*time.Second, func(r []row) bool { return len(r) >= 1 })
			run(t, s, "INSERT INTO "+db+".t VALUES (2, 'MEDIUM', 'GREEN,bLue')",
				"UPDATE "+db+".t SET e = 'Small', st = 'Red,GREEN' WHERE id = 1")
			more, _ := drain(t, st, 20*time.Second, func(r []row) bool { return len(r) >= 2 })
			rows = append(rows, more...)
			want := []row{
				{"_op": "read", "id": "1", "e": "x-Large", "st": "Red,bLue"},
				{"_op": "insert", "id": "2", "e": "MEDIUM", "st": "GREEN,bLue"},
				{"_op": "update", "id": "1", "e": "Small", "st": "Red,GREEN"},
			}
			if len(rows) != len(want) {
				t.Fatalf("got %d rows, want %d: %v", len(rows), len(want), rows)
			}
			for i, w := range want {
				for k, v := range w {
					if rows[i][k] != v {
						t.Errorf("row %d %s = %q, want %q (%v)", i, k, rows[i][k], v, rows[i])
					}
				}
			}
		})
	}
}
