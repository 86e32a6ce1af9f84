package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTruncateWhileStreaming: a TRUNCATE TABLE while a writer keeps
// inserting, updating and deleting (issue #12). The upsert target loses
// exactly that table's rows — in a pipeline of two tables only the rows
// whose _table is the truncated one — and the rows written after the
// truncate stay (their versions are larger than the tombstones'); the
// changelog target and the canal_json file get one truncate change. After
// the writer stops, each target equals its source row by row.
func TestTruncateWhileStreaming(t *testing.T) {
	t.Parallel()
	onBothServers(t, testTruncateWhileStreaming)
}

func testTruncateWhileStreaming(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)",
		"CREATE TABLE "+db+".u (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
	seed(t, my, db+".t", 2000)
	seed(t, my, db+".u", 300)

	dir := t.TempDir()
	file, state, canal := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state"), filepath.Join(dir, "t.canal")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[5]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_up FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t;
CREATE PIPELINE p_log FROM binlog s.%[3]s.t TRANSFORM id, status, amount, _op INTO clickhouse dw.%[3]s.t_log MODE changelog;
CREATE PIPELINE p_both FROM binlog s.%[3]s.t, s.%[3]s.u TRANSFORM _table, * INTO clickhouse dw.%[3]s.both KEY (_table, id);
CREATE PIPELINE p_canal FROM binlog s.%[3]s.t SNAPSHOT never INTO file '%[4]s' FORMAT canal_json;
`, myDSN, chDSN, db, canal, testServerID()))

	one := func(tbl string) (string, string) {
		return fmt.Sprintf("SELECT id, status, CAST(amount * 100 AS SIGNED) FROM %s.%s ORDER BY id", db, tbl),
			fmt.Sprintf("SELECT toString(id), status, toString(toInt64(amount * 100)) FROM %s.%s_current ORDER BY id", db, tbl)
	}
	bothMy := fmt.Sprintf("SELECT * FROM (SELECT 't' AS tb, id, status, CAST(amount * 100 AS SIGNED) AS a FROM %[1]s.t UNION ALL SELECT 'u', id, status, CAST(amount * 100 AS SIGNED) FROM %[1]s.u) x ORDER BY tb, id", db)
	bothCH := fmt.Sprintf("SELECT _table, toString(id), status, toString(toInt64(amount * 100)) FROM %s.both_current ORDER BY _table, id", db)

	a := startApply(t, state, file)
	myQ, chQ := one("t")
	a.waitSame(t, my, ch, myQ, chQ, 90*time.Second)
	a.waitSame(t, my, ch, bothMy, bothCH, 60*time.Second)

	w := startChurn(t, myDSN, db+".t", 3000, churnOptions{workers: 2, pause: time.Millisecond})
	time.Sleep(time.Second) // let the writer change rows before the truncate
	myExec(t, my, "TRUNCATE TABLE "+db+".t")
	time.Sleep(time.Second) // and insert again after it
	w.halt()
	if w.ops.Load() == 0 {
		t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
	}
	myExec(t, my, "UPDATE "+db+".u SET amount = amount + 1 WHERE id % 10 = 0")

	a.waitSame(t, my, ch, myQ, chQ, 90*time.Second)
	a.waitSame(t, my, ch, bothMy, bothCH, 60*time.Second)
	compareTable(t, my, ch, db, "t", db, "t", db+".t_current")
	a.waitFor(t, "one truncate change in the changelog", 60*time.Second, func() (bool, string) {
		n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.t_log WHERE _op = 'truncate'", db))
		return err == nil && n == 1, fmt.Sprintf("%d, %v", n, err)
	})
	a.waitFor(t, "a TRUNCATE message in the canal_json file", 60*time.Second, func() (bool, string) {
		b, _ := os.ReadFile(canal)
		return strings.Count(string(b), `"type":"TRUNCATE"`) == 1, fmt.Sprintf("%d bytes", len(b))
	})
	out := a.stop(t)
	if !strings.Contains(out, "table truncated") {
		t.Errorf("the log does not say the table was truncated:\n%s", out)
	}
}
