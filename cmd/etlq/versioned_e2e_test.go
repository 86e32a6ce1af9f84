package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestVersionedTableE2E: a system-versioned table (WITH SYSTEM VERSIONING)
// reaches a ClickHouse upsert target as its current rows (SELECT * FROM t,
// compared row by row): the snapshot, then INSERT, UPDATE, a key UPDATE,
// DELETE, REPLACE, INSERT … ON DUPLICATE KEY UPDATE, DELETE HISTORY and a
// transaction of several updates while etlq runs; a table created WITH
// SYSTEM VERSIONING under the pattern joins, while etlq runs and while it
// is stopped; ADD COLUMN (with
// system_versioning_alter_history = KEEP), DROP and ADD SYSTEM VERSIONING
// while etlq runs and while it is stopped. A changelog target gets the
// mapped operations: no history row, a DELETE as a delete. On both
// servers: B's binlog has no column names, its images are decoded by the
// schema history alone. (Before: `source s: db.sv is a system-versioned
// table …, which etlq does not capture`, and the pattern left it out.)
func TestVersionedTableE2E(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my, ch := s.db, s.my, s.ch
		q := func(f string) string { return strings.ReplaceAll(f, "$db", db) }
		myExec(t, my, "CREATE DATABASE "+db,
			q("CREATE TABLE $db.sv (id INT PRIMARY KEY, v INT, w VARCHAR(20)) WITH SYSTEM VERSIONING"),
			q("INSERT INTO $db.sv VALUES (1, 10, 'a'), (2, 20, 'b'), (3, 30, 'c'), (4, 40, 'd')"),
			q("UPDATE $db.sv SET v = 11 WHERE id = 1"),
			q("DELETE FROM $db.sv WHERE id = 4"))
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE up FROM binlog s.%[3]s.sv INTO clickhouse dw.%[3]s.sv MODE upsert WITH (flush_interval = '100ms');
CREATE PIPELINE log FROM binlog s.%[3]s.sv TRANSFORM _op, id, v INTO clickhouse dw.%[3]s.svlog MODE changelog WITH (flush_interval = '100ms');
CREATE PIPELINE allp FROM binlog s.%[3]s.* TRANSFORM _table, id, v INTO clickhouse dw.%[3]s.allp MODE upsert KEY (_table, id) WITH (flush_interval = '100ms');
`, myDSN, s.chDSN, db, testServerID()))
		nw := "" // the table created while etlq is stopped
		same := func(a *liveApply, cols string) {
			t.Helper()
			a.waitSame(t, my, ch, q("SELECT "+cols+" FROM $db.sv ORDER BY id"),
				q("SELECT toString("+strings.ReplaceAll(cols, ", ", "), toString(")+") FROM $db.sv_current ORDER BY id"), 60*time.Second)
			a.waitSame(t, my, ch, q("SELECT 'nv', id, v FROM $db.nv UNION ALL SELECT 'sv', id, v FROM $db.sv"+nw+" ORDER BY 1, 2"),
				q("SELECT _table, toString(id), toString(v) FROM $db.allp_current ORDER BY _table, id"), 60*time.Second)
		}
		myExec(t, my, q("CREATE TABLE $db.nv (id INT PRIMARY KEY, v INT)"))
		a := startApply(t, state, file)
		same(a, "id, v, w")
		myExec(t, my, q("INSERT INTO $db.sv VALUES (5, 50, 'e'), (6, 60, 'f')"),
			q("UPDATE $db.sv SET v = v + 1 WHERE id IN (1, 2, 3)"),
			q("UPDATE $db.sv SET id = 9 WHERE id = 2"),
			q("DELETE FROM $db.sv WHERE id = 3"),
			q("REPLACE INTO $db.sv VALUES (5, 55, 'e2')"),
			q("INSERT INTO $db.sv VALUES (6, 0, 'x') ON DUPLICATE KEY UPDATE v = 66"),
			"BEGIN", q("UPDATE $db.sv SET v = 100 WHERE id = 1"), q("UPDATE $db.sv SET v = 101 WHERE id = 1"),
			q("UPDATE $db.sv SET w = 'z' WHERE id = 9"), "COMMIT",
			q("DELETE HISTORY FROM $db.sv"),
			// A table created versioned under the pattern joins.
			q("DROP TABLE $db.nv"),
			q("CREATE TABLE $db.nv (id INT PRIMARY KEY, v INT) WITH SYSTEM VERSIONING"),
			q("INSERT INTO $db.nv VALUES (1, 1), (2, 2)"), q("UPDATE $db.nv SET v = 3 WHERE id = 1"), q("DELETE FROM $db.nv WHERE id = 2"))
		same(a, "id, v, w")
		myExec(t, my, "SET SESSION system_versioning_alter_history = KEEP",
			q("ALTER TABLE $db.sv ADD COLUMN n INT DEFAULT 7"),
			q("INSERT INTO $db.sv VALUES (20, 200, 't', 8)"), q("UPDATE $db.sv SET n = 9 WHERE id = 20"),
			q("ALTER TABLE $db.nv DROP SYSTEM VERSIONING"), q("UPDATE $db.nv SET v = 4 WHERE id = 1"),
			q("ALTER TABLE $db.nv ADD SYSTEM VERSIONING"), q("UPDATE $db.nv SET v = 5 WHERE id = 1"), q("INSERT INTO $db.nv VALUES (3, 3)"))
		same(a, "id, v, w, n")
		a.stop(t)
		// While stopped.
		myExec(t, my, q("ALTER TABLE $db.sv DROP SYSTEM VERSIONING"), q("UPDATE $db.sv SET v = 202 WHERE id = 20"),
			q("ALTER TABLE $db.sv ADD SYSTEM VERSIONING"), q("UPDATE $db.sv SET v = 203 WHERE id = 20"), q("DELETE FROM $db.sv WHERE id = 9"),
			q("ALTER TABLE $db.sv ADD COLUMN k INT DEFAULT 1"), q("UPDATE $db.sv SET k = 2 WHERE id = 1"),
			q("DELETE FROM $db.nv WHERE id = 3"),
			q("CREATE TABLE $db.nw (id INT PRIMARY KEY, v INT) WITH SYSTEM VERSIONING"),
			q("INSERT INTO $db.nw VALUES (1, 1), (2, 2), (3, 3)"), q("UPDATE $db.nw SET v = 4 WHERE id = 1"), q("DELETE FROM $db.nw WHERE id = 2"))
		nw = q(" UNION ALL SELECT 'nw', id, v FROM $db.nw")
		a = startApply(t, state, file)
		same(a, "id, v, w, n, k")
		out := a.stop(t)
		if strings.Contains(out, "pipeline stopped") || strings.Contains(out, "table not joined") {
			t.Errorf("a pipeline stopped or a table did not join:\n%s", out)
		}
		// The changelog: each key's operations as the application made
		// them, no history row (an UPDATE adds one, a DELETE is an update
		// of row_end in the binlog).
		got := strings.Join(chRows(t, ch, q("SELECT _op, toString(v) FROM $db.svlog WHERE id = 5 ORDER BY _version")), " ")
		if want := "insert|50 delete|50 insert|55"; got != want && got != "read|50 delete|50 insert|55" {
			t.Errorf("changelog of id 5 (INSERT, REPLACE): %s, want %s", got, want)
		}
		got = strings.Join(chRows(t, ch, q("SELECT _op, toString(v) FROM $db.svlog WHERE id = 1 ORDER BY _version")), " ")
		if want := "read|11 update|12 update|100 update|101 update|101"; got != want {
			t.Errorf("changelog of id 1: %s, want %s", got, want)
		}
		got = strings.Join(chRows(t, ch, q("SELECT _op, toString(v) FROM $db.svlog WHERE id = 3 ORDER BY _version")), " ")
		if want := "read|30 update|31 delete|31"; got != want {
			t.Errorf("changelog of id 3 (UPDATE, DELETE): %s, want %s", got, want)
		}
	})
}
