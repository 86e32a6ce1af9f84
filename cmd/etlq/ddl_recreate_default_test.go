package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestRecreatedTableDefaultNoWarning: DROP TABLE and CREATE TABLE again
// with a new column whose DEFAULT ClickHouse cannot carry (BIT(3) DEFAULT
// b'101') adds the column to the upsert target without a WARN to
// re-snapshot: the old rows are all deleted, none needs the DEFAULT (it
// used to WARN `… cannot be carried … re-snapshot the table to fill
// them`). An ALTER that adds such a column to a table with rows still
// WARNs, naming how many rows hold the type's default. Both servers.
func TestRecreatedTableDefaultNoWarning(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my, chDSN := s.db, s.my, s.chDSN
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".c (id INT PRIMARY KEY, name VARCHAR(16) NOT NULL)",
			"INSERT INTO "+db+".c VALUES (1, 'a'), (2, 'b')",
			"CREATE TABLE "+db+".k (id INT PRIMARY KEY, name VARCHAR(16) NOT NULL)",
			"INSERT INTO "+db+".k VALUES (1, 'a'), (2, 'b')")
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE c FROM binlog s.%s.c TRANSFORM * INTO clickhouse dw.%s.c MODE upsert;
CREATE PIPELINE k FROM binlog s.%s.k TRANSFORM * INTO clickhouse dw.%s.k MODE upsert;
`, myDSN, testServerID(), chDSN, db, db, db, db))
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		myExec(t, my, "DROP TABLE "+db+".c",
			"CREATE TABLE "+db+".c (id INT PRIMARY KEY, name VARCHAR(16) NOT NULL, vip BIT(3) DEFAULT b'101')",
			"INSERT INTO "+db+".c (id, name) VALUES (3, 'c')",
			"ALTER TABLE "+db+".k ADD COLUMN vip BIT(3) DEFAULT b'101'")
		out := mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		var warns []string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "DEFAULT of a new column") && strings.Contains(l, "WARN") {
				warns = append(warns, l)
			}
		}
		if len(warns) != 1 || !strings.Contains(warns[0], "the 2 rows already in the table hold the type's default") || !strings.Contains(warns[0], db+".k") {
			t.Errorf("want one WARN, for the ALTERed table k and its 2 rows, none for the re-created c; got %d:\n%s\n\nall output:\n%s", len(warns), strings.Join(warns, "\n"), out)
		}
		rows := chRows(t, s.ch, "SELECT toString(id), name, ifNull(toString(vip), 'NULL') FROM "+db+".c FINAL WHERE _is_deleted = 0 ORDER BY id")
		if got := strings.Join(rows, ","); got != "3|c|5" {
			t.Errorf("re-created table's rows: got %s, want 3|c|5", got)
		}
	})
}
