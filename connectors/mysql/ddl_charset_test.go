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
				Tables: []connectors.StreamTable{{Ref: refs[0]}}, Resume: mark.Bytes()}, checkedMem(t))
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

// asEarlierVersionsSaved returns checkpoint state with table tbl's text
// columns (and default) as utf8mb4, as etlq before the fix of
// TestCreatedTableTakesDatabaseCharset saved a table created without a
// character set in a latin1 database.
func asEarlierVersionsSaved(t *testing.T, state []byte, tbl string) []byte {
	t.Helper()
	ms, err := decodeState(state)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range ms.Schemas {
		if s.Ref.Table != tbl {
			continue
		}
		s.Charset, s.Collation = "utf8mb4", "utf8mb4_general_ci"
		for _, c := range s.Cols {
			if isText(c) {
				c.Charset, c.Collation = "utf8mb4", "utf8mb4_general_ci"
				n++
			}
		}
	}
	if n == 0 {
		t.Fatalf("no text column of %s in the checkpoint %s", tbl, state)
	}
	b, err := json.Marshal(ms)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestResumeCorrectsSavedCharset: a checkpoint whose schema has a latin1
// column as utf8mb4 (as earlier versions saved a table created without a
// character set in a latin1 database) kept decoding its text wrong after
// the upgrade, without a word ('über €' reached the targets as raw latin1
// bytes). Resumed with no DDL of the table between the checkpoint and now,
// the stream takes the server's character set, with a WARN naming the
// column and the command that mends the rows written before; with a DDL
// of the table between (which may have changed the character set), it
// keeps the checkpoint's schema and warns with the command. Both servers.
func TestResumeCorrectsSavedCharset(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "ALTER DATABASE "+db+" CHARACTER SET latin1",
				"CREATE TABLE "+db+".cs_saved (id INT PRIMARY KEY, s VARCHAR(20))",
				"INSERT INTO "+db+".cs_saved VALUES (1, 'délta')")
			refs := []connectors.TableRef{{DB: db, Table: "cs_saved"}}
			src := newSrc(t, s, nil)
			_, mark, err := openDrain(t, src, refs, nil)
			if err != nil || mark == nil {
				t.Fatalf("snapshot: %v", err)
			}
			run(t, s, "INSERT INTO "+db+".cs_saved VALUES (2, 'über €')")
			logs := captureLog(t)
			rows, mark, err := openDrain(t, src, refs, &exec.Mark{State: asEarlierVersionsSaved(t, mark.Bytes(), "cs_saved")})
			if err != nil {
				t.Fatal(err)
			}
			if r := rowByID(rows, "cs_saved", "2"); r == nil || r["s"] != "über €" {
				t.Errorf("row 2 resumed from a checkpoint with the wrong character set: %v, want s = %q", r, "über €")
			}
			l := logs.String()
			for _, w := range []string{"no DDL of the table lies between the checkpoint and now", "s (checkpoint: utf8mb4, server: latin1)", "etlq resnapshot FILE PIPELINE " + db + ".cs_saved"} {
				if !strings.Contains(l, w) {
					t.Errorf("log lacks %q:\n%s", w, l)
				}
			}
			if ms, _ := decodeState(mark.Bytes()); ms == nil || !strings.Contains(string(mark.Bytes()), `"charset":"latin1"`) || strings.Contains(string(mark.Bytes()), "utf8mb4") {
				t.Errorf("the next checkpoint keeps the wrong character set: %s", mark.Bytes())
			}

			// A DDL of the table between: it may have changed the
			// character set, so the checkpoint's schema stays; a warning.
			wrong := asEarlierVersionsSaved(t, mark.Bytes(), "cs_saved")
			run(t, s, "ALTER TABLE "+db+".cs_saved ADD COLUMN n INT", "INSERT INTO "+db+".cs_saved VALUES (3, 'ça', 3)")
			logs = captureLog(t)
			if _, _, err := openDrain(t, src, refs, &exec.Mark{State: wrong}); err != nil {
				t.Fatal(err)
			}
			l = logs.String()
			for _, w := range []string{"a DDL of the table lies between the checkpoint and now", "so the checkpoint's is kept", "etlq resnapshot FILE PIPELINE " + db + ".cs_saved"} {
				if !strings.Contains(l, w) {
					t.Errorf("with a DDL between, log lacks %q:\n%s", w, l)
				}
			}
		})
	}
}
