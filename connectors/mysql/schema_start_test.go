package mysql

import (
	"context"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// TestDDLBetweenSchemaAndPosition: a stream opened while a DDL commits
// (found by fresh-clone CI: TestAppendTargetOnceUnderSnapshotWrites
// stopped with "binlog row of … has 4 columns, the schema at this
// position has 3"). The schemas were read, then the ADD COLUMN committed,
// then the binlog position was read: the stream started after the DDL
// with the columns before it. Every row after it is read with its
// column, with a snapshot and without, on both servers.
func TestDDLBetweenSchemaAndPosition(t *testing.T) {
	for _, s := range servers(t) {
		for name, mode := range map[string]connectors.SnapshotMode{"never": connectors.SnapshotNever, "initial": connectors.SnapshotInitial} {
			t.Run(s.name+"/"+name, func(t *testing.T) {
				db := uniqueDB(t, s)
				run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v INT)",
					"INSERT INTO "+db+".t VALUES (1, 10)")
				wc := conn(t, s)
				defer wc.Close()
				hooked := 0
				testHookSchemasRead = func() {
					if hooked++; hooked > 1 {
						return
					}
					for _, q := range []string{"ALTER TABLE " + db + ".t ADD COLUMN extra INT NOT NULL DEFAULT 7 AFTER v",
						"INSERT INTO " + db + ".t VALUES (2, 20, 9)"} {
						if _, err := wc.Execute(q); err != nil {
							t.Errorf("%s: %v", q, err)
						}
					}
				}
				defer func() { testHookSchemasRead = nil }()
				st, err := newSrc(t, s, nil).OpenWithAllocator(context.Background(), connectors.StreamRequest{
					Tables: []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "t"}, Snapshot: mode}}}, checkedMem(t))
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				if hooked == 0 {
					t.Fatal("the hook did not run")
				}
				run(t, s, "INSERT INTO "+db+".t VALUES (3, 30, 11)")
				want := map[string]string{"3": "11"}
				if mode == connectors.SnapshotInitial {
					want = map[string]string{"1": "7", "2": "9", "3": "11"}
				}
				rows, _ := drain(t, st, 20*time.Second, func(rows []row) bool {
					for id := range want {
						if rowByID(rows, "t", id) == nil {
							return false
						}
					}
					return true
				})
				for id, extra := range want {
					if r := rowByID(rows, "t", id); r == nil || r["extra"] != extra {
						t.Errorf("row %s: %v, want extra = %s (rows %v)", id, r, extra, rows)
					}
				}
			})
		}
	}
}

// TestTableAddedAfterDDL: tables added to a pipeline after its
// checkpoint, changed between the checkpoint and the start that adds
// them: b altered, c dropped and created again with other columns. The
// stream resumes at the checkpoint; their rows and DDLs logged before the
// position their schemas were read at are not the stream's (on the server
// without full row metadata b stopped the stream: "binlog row … has 2
// columns, the schema at this position has 3"), their snapshots hold
// what they had. A run stopped before that position resumes the same way.
func TestTableAddedAfterDDL(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".a (id INT PRIMARY KEY)",
				"CREATE TABLE "+db+".b (id INT PRIMARY KEY, v INT)",
				"INSERT INTO "+db+".b VALUES (1, 10)",
				"CREATE TABLE "+db+".c (id INT PRIMARY KEY, v INT)")
			src := newSrc(t, s, nil)
			a := connectors.TableRef{DB: db, Table: "a"}
			b := connectors.TableRef{DB: db, Table: "b"}
			c := connectors.TableRef{DB: db, Table: "c"}
			_, mark, err := openDrain(t, src, []connectors.TableRef{a}, nil)
			if err != nil || mark == nil {
				t.Fatalf("first run: %v (mark %v)", err, mark)
			}
			run(t, s, "INSERT INTO "+db+".a VALUES (1)",
				"INSERT INTO "+db+".b VALUES (2, 20)",
				"INSERT INTO "+db+".c VALUES (1, 1)",
				"ALTER TABLE "+db+".b ADD COLUMN extra INT NOT NULL DEFAULT 7 AFTER v",
				"INSERT INTO "+db+".b VALUES (3, 30, 11)",
				"UPDATE "+db+".b SET extra = 12 WHERE id = 2",
				"DROP TABLE "+db+".c",
				"CREATE TABLE "+db+".c (id INT PRIMARY KEY, w VARCHAR(10), v INT)",
				"INSERT INTO "+db+".c VALUES (2, 'two', 2)",
				"INSERT INTO "+db+".a VALUES (2)")
			check := func(rows []row) {
				t.Helper()
				for id, extra := range map[string]string{"1": "7", "2": "12", "3": "11"} {
					if r := rowByID(rows, "b", id); r == nil || r["extra"] != extra {
						t.Errorf("b row %s: %v, want extra = %s", id, r, extra)
					}
				}
				if r := rowByID(rows, "c", "2"); r == nil || r["w"] != "two" || r["v"] != "2" {
					t.Errorf("c row 2: %v", r)
				}
				if r := rowByID(rows, "c", "1"); r != nil {
					t.Errorf("c row 1 of the dropped table: %v", r)
				}
			}
			// The run that adds b and c, its marks kept.
			req := connectors.StreamRequest{Once: true, Resume: mark.Bytes()}
			for _, r := range []connectors.TableRef{a, b, c} {
				req.Tables = append(req.Tables, connectors.StreamTable{Ref: r})
			}
			st, err := src.OpenWithAllocator(context.Background(), req, checkedMem(t))
			if err != nil {
				t.Fatal(err)
			}
			var marks []*exec.Mark
			var rows []row
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for {
				bt, err := st.Next(ctx)
				if err != nil {
					if err.Error() != "EOF" {
						t.Fatal(err)
					}
					break
				}
				rows = append(rows, batchRows(bt)...)
				if bt.Mark != nil {
					marks = append(marks, bt.Mark)
				}
				bt.Release()
			}
			st.Close()
			check(rows)
			if r := rowByID(rows, "a", "1"); r == nil {
				t.Errorf("a's row 1 logged before b and c joined is missing")
			}
			// Resumed at the first mark of that run, before the tables
			// joined: they are still followed from where they joined.
			if len(marks) == 0 {
				t.Fatal("no mark")
			}
			// An ALTER after the join, made while the stream is stopped:
			// the stream resumed behind both applies it at its place.
			run(t, s, "ALTER TABLE "+db+".b ADD COLUMN z INT NOT NULL DEFAULT 3",
				"INSERT INTO "+db+".b VALUES (6, 60, 16, 4)")
			// Resumed there and running (behind, from the mark), another
			// ALTER of b and a row after it.
			req = connectors.StreamRequest{Resume: marks[0].Bytes()}
			for _, r := range []connectors.TableRef{a, b, c} {
				req.Tables = append(req.Tables, connectors.StreamTable{Ref: r})
			}
			st, err = src.OpenWithAllocator(context.Background(), req, checkedMem(t))
			if err != nil {
				t.Fatalf("resumed before the join: %v", err)
			}
			defer st.Close()
			run(t, s, "ALTER TABLE "+db+".b ADD COLUMN y VARCHAR(5) NULL",
				"INSERT INTO "+db+".b VALUES (7, 70, 17, 5, 'y7')")
			wc := conn(t, s)
			defer wc.Close()
			rows = nil
			readToServerPosition(t, ctx, wc, st, func(r []row) { rows = append(rows, r...) })
			// (A snapshot chunk read after that position comes later.)
			more, _ := drain(t, st, 20*time.Second, func(more []row) bool {
				all := append(rows[:len(rows):len(rows)], more...)
				return rowByID(all, "b", "1") != nil && rowByID(all, "b", "3") != nil && rowByID(all, "c", "2") != nil
			})
			rows = append(rows, more...)
			check(rows)
			if r := rowByID(rows, "b", "6"); r == nil || r["extra"] != "16" || r["z"] != "4" {
				t.Errorf("b row 6, written after an ALTER made while stopped: %v", r)
			}
			if r := rowByID(rows, "b", "7"); r == nil || r["z"] != "5" || r["y"] != "y7" {
				t.Errorf("b row 7, written after an ALTER made while running: %v", r)
			}
		})
	}
}
