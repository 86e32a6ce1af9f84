package mysql

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// openDrain opens a Once stream over refs (resuming at mark when given),
// reads it to the end and returns its rows and last mark.
func openDrain(t *testing.T, src *Source, refs []connectors.TableRef, mark *exec.Mark) ([]row, *exec.Mark, error) {
	t.Helper()
	return openDrainReq(t, src, refs, connectors.StreamRequest{}, mark)
}

// openDrainReq is openDrain with the other fields of req (Before, …).
func openDrainReq(t *testing.T, src *Source, refs []connectors.TableRef, req connectors.StreamRequest, mark *exec.Mark) ([]row, *exec.Mark, error) {
	t.Helper()
	req.Once = true
	for _, r := range refs {
		req.Tables = append(req.Tables, connectors.StreamTable{Ref: r})
	}
	if mark != nil {
		req.Resume = mark.Bytes()
	}
	st, err := src.OpenWithAllocator(context.Background(), req, checkedMem(t))
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rows []row
	var last *exec.Mark
	for {
		b, err := st.Next(ctx)
		if err != nil {
			if err.Error() == "EOF" {
				return rows, last, nil
			}
			return rows, last, err
		}
		rows = append(rows, batchRows(b)...)
		if b.Mark != nil {
			last = b.Mark
		}
		b.Release()
	}
}

// rowByID finds the change row of table tbl with id.
func rowByID(rows []row, tbl, id string) row {
	var found row
	for _, r := range rows {
		if r["_table"] == tbl && r["id"] == id {
			found = r
		}
	}
	return found
}

// TestDDLHistoryWhileStopped: DDLs made while the stream is stopped are
// applied from the binlog in order on resume (issue #12): each row is
// decoded with the schema of its own position, on the server with full
// row metadata and on the one without.
func TestDDLHistoryWhileStopped(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".big (id INT PRIMARY KEY, k INT, v VARCHAR(10), amount DECIMAL(10,2), updated DATETIME)",
				"INSERT INTO "+db+".big VALUES (1, 10, 'a', 1.50, '2024-01-01 00:00:00')",
				"CREATE TABLE "+db+".t (id INT PRIMARY KEY, a INT, b VARCHAR(10), c INT, note VARCHAR(10))",
				"INSERT INTO "+db+".t VALUES (1, 10, 'b1', 100, 'n1')")
			src := newSrc(t, s, nil)
			refs := []connectors.TableRef{{DB: db, Table: "big"}, {DB: db, Table: "t"}}
			rows, mark, err := openDrain(t, src, refs, nil)
			if err != nil || len(rows) != 2 || mark == nil {
				t.Fatalf("snapshot: %v rows, mark %v, %v", len(rows), mark, err)
			}

			// Stopped: the DDLs of the issue, and more.
			run(t, s, ddlScript(db)...)
			rows, mark2, err := openDrain(t, src, refs, mark)
			if err != nil {
				t.Fatal(err)
			}
			if mark2 == nil {
				t.Fatal("no mark after resume")
			}
			checkDDLRows(t, rows)

			// The history in the checkpoint is the one at its position.
			var ms markState
			if err := json.Unmarshal(mark2.Bytes(), &ms); err != nil {
				t.Fatal(err)
			}
			for _, tb := range ms.Schemas {
				if tb.Ref.Table == "t" {
					if got := strings.Join(colNames(tb), ","); got != "bb,id,a,c,note2,g" {
						t.Errorf("stored schema of t: %s", got)
					}
					if c := tb.Cols[tb.colIndex("note2")]; c.RenamedFrom != "note" {
						t.Errorf("note2 renamed from %q", c.RenamedFrom)
					}
					if c := tb.Cols[tb.colIndex("g")]; c.Default == nil || c.Default.Value != "43" {
						t.Errorf("g default %+v (SET DEFAULT 43 not followed)", c.Default)
					}
				}
			}
			// Resuming once more from the first checkpoint gives the same.
			rows2, _, err := openDrain(t, src, refs, mark)
			if err != nil || len(rows2) != len(rows) {
				t.Fatalf("second replay: %d rows (want %d), %v", len(rows2), len(rows), err)
			}
		})
	}
}

// ddlScript is the DDLs on db.big and db.t, with rows between.
func ddlScript(db string) []string {
	return []string{
		"ALTER TABLE " + db + ".big ADD COLUMN extra INT DEFAULT 7 FIRST",
		"INSERT INTO " + db + ".big (id, k, v, amount, updated, extra) VALUES (2, 20, 'b', 2.50, '2024-01-02 00:00:00', 70)",
		"ALTER TABLE " + db + ".big DROP COLUMN v",
		"INSERT INTO " + db + ".big (id, k, amount, updated) VALUES (3, 30, 3.50, '2024-01-03 00:00:00')",
		"ALTER TABLE " + db + ".t MODIFY c INT AFTER id",
		"INSERT INTO " + db + ".t (id, a, b, c, note) VALUES (22, 220, 'b22', 2200, 'n22')",
		"/* moved */ ALTER\nTABLE " + db + ".t MODIFY a INT AFTER id",
		"INSERT INTO " + db + ".t (id, a, b, c, note) VALUES (23, 230, 'b23', 2300, 'n23')",
		"ALTER TABLE `" + db + "`.`t` RENAME COLUMN note TO note2, ADD g INT NOT NULL DEFAULT 42",
		"INSERT INTO " + db + ".t (id, a, b, c, note2) VALUES (24, 240, 'b24', 2400, 'n24')",
		"ALTER TABLE " + db + ".t MODIFY c BIGINT, CHANGE b bb VARCHAR(20) FIRST",
		"INSERT INTO " + db + ".t (id, a, bb, c, note2, g) VALUES (25, 250, 'b25', 25000000000, 'n25', 5)",
		"UPDATE " + db + ".big SET k = 11 WHERE id = 1",
		"ALTER TABLE " + db + ".t ALTER COLUMN g SET DEFAULT 43",
	}
}

// checkDDLRows checks the rows ddlScript wrote, each decoded with the
// schema of its position.
func checkDDLRows(t *testing.T, rows []row) {
	t.Helper()
	check := func(tbl, id string, want map[string]string) {
		t.Helper()
		r := rowByID(rows, tbl, id)
		if r == nil {
			t.Errorf("%s id %s: no row in %v", tbl, id, rows)
			return
		}
		for k, v := range want {
			if r[k] != v {
				t.Errorf("%s id %s: %s = %q, want %q (row %v)", tbl, id, k, r[k], v, r)
			}
		}
	}
	check("big", "2", map[string]string{"extra": "70", "k": "20", "v": "b", "amount": "2.5"})
	check("big", "3", map[string]string{"extra": "7", "k": "30", "amount": "3.5"})
	if _, has := rowByID(rows, "big", "3")["v"]; has {
		t.Errorf("big row 3 still has the dropped column v")
	}
	check("big", "1", map[string]string{"extra": "7", "k": "11"})
	check("t", "22", map[string]string{"a": "220", "b": "b22", "c": "2200", "note": "n22"})
	check("t", "23", map[string]string{"a": "230", "b": "b23", "c": "2300", "note": "n23"})
	check("t", "24", map[string]string{"a": "240", "b": "b24", "c": "2400", "note2": "n24", "g": "42"})
	check("t", "25", map[string]string{"a": "250", "bb": "b25", "c": "25000000000", "note2": "n25", "g": "5"})

}

// TestDDLHistoryWhileBehind: the same DDLs made while a stream is open but
// behind (its events not read yet): each DDL is applied when the reader
// reaches it, not as the table is by then.
func TestDDLHistoryWhileBehind(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".big (id INT PRIMARY KEY, k INT, v VARCHAR(10), amount DECIMAL(10,2), updated DATETIME)",
				"INSERT INTO "+db+".big VALUES (1, 10, 'a', 1.50, '2024-01-01 00:00:00')",
				"CREATE TABLE "+db+".t (id INT PRIMARY KEY, a INT, b VARCHAR(10), c INT, note VARCHAR(10))",
				"INSERT INTO "+db+".t VALUES (1, 10, 'b1', 100, 'n1')")
			src := newSrc(t, s, nil)
			req := connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "big"}}, {Ref: connectors.TableRef{DB: db, Table: "t"}}}}
			st, err := src.OpenWithAllocator(context.Background(), req, checkedMem(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			rows, _ := drain(t, st, 30*time.Second, func(r []row) bool { return len(r) >= 2 })
			if len(rows) != 2 {
				t.Fatalf("snapshot: %v", rows)
			}
			run(t, s, ddlScript(db)...)
			rows, _ = drain(t, st, 30*time.Second, func(r []row) bool {
				return rowByID(r, "big", "1") != nil && rowByID(r, "t", "25") != nil
			})
			checkDDLRows(t, rows)
		})
	}
}

func colNames(t *table) []string {
	out := make([]string, len(t.Cols))
	for i, c := range t.Cols {
		out[i] = c.Name
	}
	return out
}

// TestDDLUnparsedRefusedOrRebuilt: a DDL the parser rejects (MariaDB's
// IGNORED index, next to an added column) that changes a streamed table: with full row metadata
// its rows are decoded with the table map's schema; without, they are
// refused with an error that names the table, the position and the fix —
// also after a restart — instead of being decoded wrongly.
func TestDDLUnparsedRefusedOrRebuilt(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, a INT)", "INSERT INTO "+db+".t VALUES (1, 10)")
			src := newSrc(t, s, nil)
			refs := []connectors.TableRef{{DB: db, Table: "t"}}
			_, mark, err := openDrain(t, src, refs, nil)
			if err != nil || mark == nil {
				t.Fatalf("snapshot: %v", err)
			}
			run(t, s, "ALTER TABLE "+db+".t ADD COLUMN x INT AFTER id, ADD INDEX ix (a) IGNORED")
			// The DDL alone, then a checkpoint between it and the rows.
			_, markDDL, err := openDrain(t, src, refs, mark)
			if err != nil {
				t.Fatal(err)
			}
			if markDDL == nil {
				markDDL = mark
			}
			run(t, s, "INSERT INTO "+db+".t (id, x, a) VALUES (2, 20, 200)")
			rows, _, err := openDrain(t, src, refs, markDDL)
			if s.name == "full" {
				if err != nil {
					t.Fatal(err)
				}
				r := rowByID(rows, "t", "2")
				if r == nil || r["a"] != "200" || r["x"] != "20" {
					t.Fatalf("row 2: %v", rows)
				}
				return
			}
			if err == nil {
				t.Fatalf("minimal metadata: rows decoded without a known schema: %v", rows)
			}
			for _, want := range []string{db + ".t", "not known", "IGNORED", "re-snapshot"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

// TestDDLHistoryOnlineSchemaChange: an online schema change tool's
// cut-over (gh-ost, pt-online-schema-change) renames a table created LIKE
// the streamed one, and altered, onto it. The copy's schema is followed
// from its CREATE … LIKE on, across a restart in between, so rows after the
// cut-over are decoded with it, also without column metadata.
func TestDDLHistoryOnlineSchemaChange(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, a INT, b VARCHAR(10))", "INSERT INTO "+db+".t VALUES (1, 10, 'x')")
			src := newSrc(t, s, nil)
			refs := []connectors.TableRef{{DB: db, Table: "t"}}
			_, mark, err := openDrain(t, src, refs, nil)
			if err != nil || mark == nil {
				t.Fatalf("snapshot: %v", err)
			}
			run(t, s, "CREATE TABLE /* gh-ost */ `"+db+"`.`_t_gho` LIKE `"+db+"`.`t`",
				"ALTER /* gh-ost */ TABLE `"+db+"`.`_t_gho` ADD COLUMN x INT NOT NULL DEFAULT 3 AFTER id, MODIFY b VARCHAR(40)")
			_, mark2, err := openDrain(t, src, refs, mark)
			if err != nil {
				t.Fatal(err)
			}
			if mark2 == nil {
				mark2 = mark
			}
			run(t, s, "INSERT INTO "+db+"._t_gho (id, a, b) SELECT id, a, b FROM "+db+".t",
				"RENAME TABLE "+db+".t TO "+db+"._t_del, "+db+"._t_gho TO "+db+".t",
				"DROP TABLE "+db+"._t_del",
				"INSERT INTO "+db+".t (id, x, a, b) VALUES (2, 20, 200, 'yy')")
			rows, mark3, err := openDrain(t, src, refs, mark2)
			if err != nil {
				t.Fatal(err)
			}
			r := rowByID(rows, "t", "2")
			if r == nil || r["x"] != "20" || r["a"] != "200" || r["b"] != "yy" {
				t.Fatalf("row after the cut-over: %v", rows)
			}

			// A copy changed by a statement etlq cannot apply is no longer
			// followed: the cut-over then makes the table stale (refused
			// without column metadata), never decoded with a guess.
			run(t, s, "CREATE TABLE "+db+"._t_gho LIKE "+db+".t",
				"ALTER TABLE "+db+"._t_gho ADD COLUMN y INT AFTER id, ADD INDEX iy (a) IGNORED",
				"RENAME TABLE "+db+".t TO "+db+"._t_del, "+db+"._t_gho TO "+db+".t",
				"INSERT INTO "+db+".t (id, y, x, a, b) VALUES (3, 30, 31, 300, 'zz')")
			if mark3 == nil {
				mark3 = mark2
			}
			rows, _, err = openDrain(t, src, refs, mark3)
			if s.name == "minimal" {
				if err == nil || !strings.Contains(err.Error(), "re-snapshot") {
					t.Fatalf("minimal: want a refusal, got %v (rows %v)", err, rows)
				}
				return
			}
			if r := rowByID(rows, "t", "3"); err != nil || r == nil || r["y"] != "30" || r["x"] != "31" {
				t.Fatalf("full: %v %v", err, rows)
			}
		})
	}
}

// TestDDLHistoryCharsetAndKey: CONVERT TO CHARACTER SET and primary key
// changes made while stopped: text written after the conversion is decoded
// in its new character set, and the key follows the DDL.
func TestDDLHistoryCharsetAndKey(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".c (id INT NOT NULL, k INT NOT NULL, s VARCHAR(10) CHARACTER SET utf8mb4) DEFAULT CHARSET = utf8mb4",
				"INSERT INTO "+db+".c VALUES (1, 1, 'a')")
			src := newSrc(t, s, nil)
			refs := []connectors.TableRef{{DB: db, Table: "c"}}
			_, mark, err := openDrain(t, src, refs, nil)
			if err != nil || mark == nil {
				t.Fatalf("snapshot: %v", err)
			}
			run(t, s, "ALTER TABLE "+db+".c CONVERT TO CHARACTER SET latin1",
				"ALTER TABLE "+db+".c ADD PRIMARY KEY (k, id), ADD t VARCHAR(10)",
				"INSERT INTO "+db+".c VALUES (2, 2, 'café', 'süß')")
			rows, mark2, err := openDrain(t, src, refs, mark)
			if err != nil {
				t.Fatal(err)
			}
			if r := rowByID(rows, "c", "2"); r == nil || r["s"] != "café" || r["t"] != "süß" {
				t.Fatalf("latin1 text after CONVERT: %v", rows)
			}
			var ms markState
			if err := json.Unmarshal(mark2.Bytes(), &ms); err != nil {
				t.Fatal(err)
			}
			tb := ms.Schemas[0]
			if len(tb.Key) != 2 || tb.Cols[tb.Key[0]].Name != "k" || tb.Cols[tb.Key[1]].Name != "id" ||
				tb.Cols[tb.colIndex("s")].Charset != "latin1" || tb.Cols[tb.colIndex("t")].Charset != "latin1" {
				t.Errorf("stored schema: key %v, columns %+v %+v", tb.Key, *tb.Cols[2], *tb.Cols[3])
			}
		})
	}
}
