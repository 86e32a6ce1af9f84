package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSequenceUnderPattern (new-user trial "mariadb-features"): a
// pipeline reading db.* while the application uses SEQUENCE objects of
// that database (CREATE SEQUENCE, NEXTVAL, SETVAL — MariaDB logs row
// events of the sequence) and creates system-versioned tables there: the
// sequences do not join the pipeline, which goes on with the base tables'
// rows; a versioned table with implicit period columns joins (its current
// rows: an inserted and deleted row is not there), a transaction-precise
// one does not and its WARN says why. (Before,
// the sequence joined as "met in the binlog" and the pipeline stopped
// at its first row: `column "id": NULL but ClickHouse column is Int32`.)
func TestSequenceUnderPattern(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my, ch := s.db, s.my, s.ch
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".a (id INT PRIMARY KEY, v INT)",
			"INSERT INTO "+db+".a VALUES (1, 1)",
			"CREATE SEQUENCE "+db+".s1 CACHE 0")
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE allp FROM binlog s.%[3]s.* TRANSFORM _table, * INTO clickhouse dw.%[3]s.allp MODE upsert KEY (_table, id) WITH (flush_interval = '100ms');
`, myDSN, s.chDSN, db, testServerID()))
		a := startApply(t, state, file)
		a.waitSame(t, my, ch, "SELECT 'a', id, v FROM "+db+".a ORDER BY id", "SELECT _table, toString(id), toString(v) FROM "+db+".allp_current ORDER BY _table, id", 60*time.Second)
		myExec(t, my, "SELECT NEXTVAL("+db+".s1)", "INSERT INTO "+db+".a VALUES (2, 2)",
			"SELECT SETVAL("+db+".s1, 100)", "CREATE SEQUENCE "+db+".s2 CACHE 0", "SELECT NEXTVAL("+db+".s2)",
			"CREATE TABLE "+db+".vv (id INT PRIMARY KEY, v INT) WITH SYSTEM VERSIONING", "INSERT INTO "+db+".vv VALUES (1, 1), (2, 2)",
			"DELETE FROM "+db+".vv WHERE id = 1",
			"CREATE TABLE "+db+".vt (id INT PRIMARY KEY, v INT, rs BIGINT UNSIGNED GENERATED ALWAYS AS ROW START, re BIGINT UNSIGNED GENERATED ALWAYS AS ROW END, PERIOD FOR SYSTEM_TIME(rs, re)) WITH SYSTEM VERSIONING ENGINE=InnoDB",
			"INSERT INTO "+db+".vt (id, v) VALUES (1, 1)",
			"INSERT INTO "+db+".a VALUES (3, 3)", "SELECT NEXTVAL("+db+".s1)")
		a.waitSame(t, my, ch, "SELECT 'a', id, v FROM "+db+".a UNION ALL SELECT 'vv', id, v FROM "+db+".vv ORDER BY 1, 2", "SELECT _table, toString(id), toString(v) FROM "+db+".allp_current ORDER BY _table, id", 60*time.Second)
		a.running(t)
		out := a.stop(t)
		if strings.Contains(out, "pipeline stopped") {
			t.Errorf("the pipeline stopped:\n%s", out)
		}
		if !strings.Contains(out, "table not joined: a system-versioned table etlq does not capture") || !strings.Contains(out, "table="+db+".vt") ||
			!strings.Contains(out, "transaction-precise") {
			t.Errorf("no WARN that %s.vt is not captured:\n%s", db, out)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "table="+db+".vv ") && strings.Contains(l, "table not joined") {
				t.Errorf("%s.vv did not join:\n%s", db, out)
			}
		}
	})
}
