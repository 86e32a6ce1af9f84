package mysql

import (
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors"
)

// partialRun makes table t (columns cols, rows seed), reads its snapshot
// to the mark after it, runs stmts on one connection (a session that sets
// its own binlog_row_image) and streams what they logged: the rows, or
// the error that stopped the stream.
func partialRun(t *testing.T, s server, cols, seed string, stmts ...string) ([]row, error) {
	t.Helper()
	db := uniqueDB(t, s)
	run(t, s, "CREATE TABLE "+db+".t ("+cols+")", "INSERT INTO "+db+".t VALUES "+seed)
	src := newSrc(t, s, nil)
	refs := []connectors.TableRef{{DB: db, Table: "t"}}
	req := connectors.StreamRequest{Before: true}
	_, mark, err := openDrainReq(t, src, refs, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if mark == nil {
		t.Fatal("no mark after the snapshot")
	}
	for i, q := range stmts {
		stmts[i] = strings.ReplaceAll(q, "$t", db+".t")
	}
	run(t, s, stmts...)
	rows, _, err := openDrainReq(t, src, refs, req, mark)
	return rows, err
}

// TestBinlogPartialImagesStop: binlog_row_image is a session variable:
// whatever the server's global FULL, a session may log MINIMAL or NOBLOB
// row images, whose column bitmaps leave columns out. The decoder read
// every column an image lacked as NULL: an update of one column from such
// a session wrote NULL over the others in an upsert target (and the key:
// NULL), a delete's row and before image were NULL but for the key. The
// stream must stop at such an event, naming the table, the position, the
// columns and the cause, and never write values the binlog does not carry.
func TestBinlogPartialImagesStop(t *testing.T) {
	const cols = "id INT PRIMARY KEY, a VARCHAR(20) DEFAULT 'd', n INT, body TEXT"
	const seed = "(1,'one',10,'b1'),(2,'two',20,'b2'),(3,'three',30,'b3')"
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name, image, stmt string
				want              []string // in the error
			}{
				{"minimal_update", "MINIMAL", "UPDATE $t SET n = 11 WHERE id = 1",
					[]string{"(update)", "before image lacks a, n, body", "after image lacks id, a, body"}},
				{"minimal_delete", "MINIMAL", "DELETE FROM $t WHERE id = 3",
					[]string{"(delete)", "row image lacks a, n, body"}},
				{"minimal_insert", "MINIMAL", "INSERT INTO $t (id, n) VALUES (9, 90)",
					[]string{"(insert)", "row image lacks a, body"}},
				{"noblob_update", "NOBLOB", "UPDATE $t SET a = 'deux' WHERE id = 2",
					[]string{"(update)", "before image lacks body", "after image lacks body"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					rows, err := partialRun(t, s, cols, seed, "SET SESSION binlog_row_image = '"+tc.image+"'", tc.stmt)
					if err == nil {
						t.Fatalf("the stream went on: %v", rows)
					}
					msg := err.Error()
					for _, w := range append(tc.want, ".t at binlog.", "binlog_row_image = MINIMAL or NOBLOB", "binlog_row_image = FULL", "re-snapshot the table") {
						if !strings.Contains(msg, w) {
							t.Errorf("error lacks %q: %s", w, msg)
						}
					}
					if len(rows) != 0 {
						t.Errorf("rows before the error: %v", rows)
					}
				})
			}
		})
	}
}

// TestBinlogPartialImagesGoOn: a session with another binlog_row_image
// still logs full images where it has nothing to leave out — an insert
// that gives every column, a NOBLOB update of a table without BLOB or
// TEXT, a MINIMAL update of a table without a key (its whole row
// identifies it) — and those are streamed as ever.
func TestBinlogPartialImagesGoOn(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			rows, err := partialRun(t, s, "id INT PRIMARY KEY, a VARCHAR(20) DEFAULT 'd', n INT, body TEXT", "(1,'one',10,'b1')",
				"SET SESSION binlog_row_image = 'MINIMAL'", "INSERT INTO $t VALUES (2, 'two', 20, 'b2')")
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 || rows[0]["_op"] != "insert" || rows[0]["a"] != "two" || rows[0]["body"] != "b2" {
				t.Errorf("minimal insert of every column: %v", rows)
			}
			rows, err = partialRun(t, s, "id INT PRIMARY KEY, a VARCHAR(20), n INT", "(1,'one',10)",
				"SET SESSION binlog_row_image = 'NOBLOB'", "UPDATE $t SET n = 11 WHERE id = 1")
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 || rows[0]["a"] != "one" || rows[0]["n"] != "11" || rows[0]["before.n"] != "10" {
				t.Errorf("noblob update without blobs: %v", rows)
			}
			rows, err = partialRun(t, s, "a VARCHAR(20), n INT", "('one',10)",
				"SET SESSION binlog_row_image = 'MINIMAL'", "UPDATE $t SET n = 11", "DELETE FROM $t")
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 2 || rows[0]["a"] != "one" || rows[0]["n"] != "11" || rows[0]["before.a"] != "one" ||
				rows[1]["_op"] != "delete" || rows[1]["a"] != "one" {
				t.Errorf("minimal update and delete of a keyless table: %v", rows)
			}
		})
	}
}
