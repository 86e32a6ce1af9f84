package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestSnapshotOverTarget: the advice of etlq's errors, "start again with
// an empty state directory", over upsert targets that already hold rows
// (issues #12, #14). Rows deleted at the source while etlq was away (the
// old state directory left behind, nothing purged) must leave the targets:
// the new run's snapshot ends each table by removing the keys it did not
// read, as a resnapshot does. A target that several tables share (_table
// in KEY) loses only the keys of the table whose snapshot ended.
func TestSnapshotOverTarget(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my, ch := s.db, s.my, s.ch
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)",
			"CREATE TABLE "+db+".u (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)",
			"CREATE TABLE "+db+".v (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
		seed(t, my, db+".t", 3000)
		seed(t, my, db+".u", 500)
		seed(t, my, db+".v", 50)

		dir := t.TempDir()
		file := filepath.Join(dir, "p.etl")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d, chunk_rows = 200);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_up FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t;
CREATE PIPELINE p_all FROM binlog s.%[3]s.* TRANSFORM _table, * INTO clickhouse dw.%[3]s.all_tables KEY (_table, id);
`, myDSN, s.chDSN, db, testServerID()))
		same := func() {
			t.Helper()
			compareTable(t, my, ch, db, "t", db, "t", db+".t_current")
			want := myCells(t, my, fmt.Sprintf("SELECT 't', id, status FROM %[1]s.t UNION ALL SELECT 'u', id, status FROM %[1]s.u UNION ALL SELECT 'v', id, status FROM %[1]s.v ORDER BY 1, 2", db))
			got := chCells(t, ch, fmt.Sprintf("SELECT _table, toString(id), status FROM %s.all_tables_current ORDER BY _table, id", db))
			join := func(rows [][]string) string {
				var out []string
				for _, r := range rows {
					out = append(out, strings.Join(r, "|"))
				}
				return strings.Join(out, "\n")
			}
			if w, g := join(want), join(got); w != g {
				t.Errorf("all_tables: %d live rows, want the source's %d", len(got), len(want))
				diffRows(t, strings.Split(w, "\n"), strings.Split(g, "\n"))
			}
		}
		mustEtlq(t, "apply", "--once", "--state-dir", filepath.Join(dir, "st1"), "--progress", "never", file)
		same()

		// etlq away: keys deleted (the table's last one included in u,
		// every one in v), rows changed and added.
		myExec(t, my, "DELETE FROM "+db+".t WHERE id % 7 = 0",
			"DELETE FROM "+db+".v",
			"DELETE FROM "+db+".u WHERE id % 5 = 0",
			"UPDATE "+db+".t SET status = 'changed' WHERE id % 11 = 0",
			"INSERT INTO "+db+".t VALUES (3001, 'late', 1), (3002, 'late', 2)")
		out := mustEtlq(t, "apply", "--once", "--state-dir", filepath.Join(dir, "st2"), "--progress", "never", file)
		same()
		if !strings.Contains(out, "the source no longer has") {
			t.Errorf("the log does not say the snapshot removed keys:\n%s", out)
		}

		// A third run over targets that match: nothing more to remove,
		// and a new empty target (a pipeline's first run) takes the
		// snapshot as it is.
		mustEtlq(t, "apply", "--once", "--state-dir", filepath.Join(dir, "st3"), "--progress", "never", file)
		same()
	})
}
