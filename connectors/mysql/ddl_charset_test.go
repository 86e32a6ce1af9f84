package mysql

import (
	"context"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

// TestCreatedTableTakesDatabaseCharset: a CREATE TABLE that names no
// character set gives its text columns the database's default (here
// latin1), as the server does. The schema history took utf8mb4 instead, so
// the rows of a table dropped and created again in a latin1 database — while
// the stream ran, or while it was stopped — reached the targets as the
// column's raw latin1 bytes ('é' as 0xE9, '€' as 0x80), on the server with
// full row metadata and on the one without (found by the chaos soak).
func TestCreatedTableTakesDatabaseCharset(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "ALTER DATABASE "+db+" CHARACTER SET latin1",
				"CREATE TABLE "+db+".t (id INT PRIMARY KEY, s VARCHAR(20))",
				"INSERT INTO "+db+".t VALUES (1, 'délta')")
			refs := []connectors.TableRef{{DB: db, Table: "t"}}
			want := map[string]string{"1": "délta", "2": "über €", "3": "ça", "4": "dé", "5": "ü"}
			check := func(rows []row, ids ...string) {
				t.Helper()
				for _, id := range ids {
					r := rowByID(rows, "t", id)
					if r == nil {
						t.Fatalf("no row %s: %v", id, rows)
					}
					if r["s"] != want[id] {
						t.Errorf("row %s: s = %q, want %q", id, r["s"], want[id])
					}
				}
			}

			// Stopped: the DDL is met when the stream resumes.
			src := newSrc(t, s, nil)
			rows, mark, err := openDrain(t, src, refs, nil)
			if err != nil || mark == nil {
				t.Fatalf("snapshot: %v", err)
			}
			check(rows, "1")
			run(t, s, "DROP TABLE "+db+".t",
				"CREATE TABLE "+db+".t (id INT PRIMARY KEY, s VARCHAR(20))",
				"INSERT INTO "+db+".t VALUES (2, 'über €')",
				"ALTER TABLE "+db+".t ADD COLUMN n INT",
				"INSERT INTO "+db+".t VALUES (3, 'ça', 3)")
			rows, mark, err = openDrain(t, src, refs, mark)
			if err != nil {
				t.Fatal(err)
			}
			check(rows, "2", "3")

			// Running: the DDL is read while the stream is open.
			st, err := src.OpenWithAllocator(context.Background(), connectors.StreamRequest{
				Tables: []connectors.StreamTable{{Ref: refs[0]}}, Resume: mark.State}, checkedMem(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			run(t, s, "DROP TABLE "+db+".t",
				"CREATE TABLE "+db+".t (id INT NOT NULL, s TEXT, PRIMARY KEY (id))",
				"INSERT INTO "+db+".t VALUES (4, 'dé')",
				"INSERT INTO "+db+".t VALUES (5, 'ü')")
			rows, _ = drain(t, st, 30*time.Second, func(r []row) bool { return rowByID(r, "t", "5") != nil })
			check(rows, "4", "5")
		})
	}
}
