package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLifecycleMatrix (issue #12, the cells of the matrix in
// docs/live-tables.md, "Tested cases", that the streaming tests leave):
// TRUNCATE, RENAME of several tables in one statement, DROP and CREATE of
// a table read by name, a table created under a pattern, a shard altered
// before the others, CONVERT TO CHARACTER SET and a primary key replaced —
// written awkwardly (comments, line breaks, executable comments, back-quoted
// qualified names) — made while etlq runs, while it is stopped and while
// it runs behind an unreachable ClickHouse, a writer running, on both
// servers.
// After each, every target equals its source row by row.
func TestLifecycleMatrix(t *testing.T) {
	t.Parallel()
	onBothServers(t, testLifecycleMatrix)
}

func testLifecycleMatrix(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db)
	for tb, n := range map[string]int{"t": 300, "sh_1": 600, "sh_2": 200, "spare": 100} {
		myExec(t, my, "CREATE TABLE "+db+"."+tb+" "+liveTableDef)
		seed(t, my, db+"."+tb, n)
	}
	myExec(t, my, "CREATE TABLE "+db+".k (id INT NOT NULL, v INT NOT NULL, s VARCHAR(20), PRIMARY KEY (id)) DEFAULT CHARSET utf8mb4",
		"INSERT INTO "+db+".k VALUES (1, 1, 'caf\u00e9'), (2, 2, 'na\u00efve'), (3, 3, NULL)")

	chHost := strings.TrimPrefix(chDSN, "clickhouse://")
	chHost = strings.SplitN(chHost, "/", 2)[0]
	if i := strings.LastIndex(chHost, "@"); i >= 0 {
		chHost = chHost[i+1:]
	}
	px := newProxy(t, chHost)
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse 'clickhouse://%[2]s' WITH (max_backoff = '1s');
CREATE PIPELINE p_t FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t WITH (flush_interval = '100ms');
CREATE PIPELINE p_k FROM binlog s.%[3]s.k INTO clickhouse dw.%[3]s.k WITH (flush_interval = '100ms');
CREATE PIPELINE p_sh FROM binlog s.%[3]s.sh_* TRANSFORM _table, * INTO clickhouse dw.%[3]s.sh_all KEY (_table, id) WITH (flush_interval = '100ms');
`, myDSN, px.addr(), db, testServerID()))
	tMy := fmt.Sprintf("SELECT id, status, CAST(amount * 100 AS SIGNED) FROM %s.t ORDER BY id", db)
	tCH := fmt.Sprintf("SELECT toString(id), status, toString(toInt64(amount * 100)) FROM %s.t_current ORDER BY id", db)
	kMy := fmt.Sprintf("SELECT id, v, IFNULL(s, 'NULL') FROM %s.k ORDER BY id", db)
	kCH := fmt.Sprintf("SELECT toString(id), toString(v), ifNull(s, 'NULL') FROM %s.k_current ORDER BY id", db)
	compareAll := func(when string) {
		t.Helper()
		diffRows(t, myRows(t, my, tMy), chRows(t, ch, tCH))
		diffRows(t, myRows(t, my, kMy), chRows(t, ch, kCH))
		diffRows(t, myRows(t, my, patternRows(t, my, db, "sh%")), chRows(t, ch, patternCH(db, "sh_all")))
		if t.Failed() {
			t.Fatalf("%s: a target differs from its source", when)
		}
	}
	q := "`" + db + "`"
	// The DDLs of one phase; n tells the phases' names apart.
	ddls := func(n int, back bool) []string {
		charset, key, drift, swap := "latin1", "(id, v)", "ADD COLUMN note VARCHAR(10) NOT NULL DEFAULT 'x' AFTER id", fmt.Sprintf("%[1]s.sh_2 TO %[1]s.gone,\n  %[1]s.spare TO %[1]s.sh_2", q)
		if back {
			charset, key, drift, swap = "utf8mb4", "(id)", "DROP COLUMN note", fmt.Sprintf("%[1]s.sh_2 TO %[1]s.spare, %[1]s.gone TO %[1]s.sh_2", q)
		}
		return []string{
			"TRUNCATE /* emptied */ TABLE " + q + ".`t`",
			fmt.Sprintf("INSERT INTO %s.t VALUES (%d, 'after truncate', 1.00)", db, 10*n),
			"RENAME TABLE " + swap,
			fmt.Sprintf("UPDATE %s.sh_2 SET status = 'swapped%d' WHERE id %% 3 = 0", db, n),
			"DROP TABLE IF EXISTS " + db + ".t",
			"CREATE TABLE " + db + ".t " + liveTableDef,
			fmt.Sprintf("INSERT INTO %s.t VALUES (%d, 're-created', 2.00), (%d, 're-created', 3.00)", db, 10*n+1, 10*n+2),
			fmt.Sprintf("CREATE TABLE %s.sh_n%d %s", db, n, liveTableDef),
			fmt.Sprintf("INSERT INTO %s.sh_n%d VALUES (1, 'new shard', 1.00), (2, 'new shard', 2.00)", db, n),
			"/*!40101 ALTER TABLE " + q + ".`sh_1` " + drift + " */",
			fmt.Sprintf("INSERT INTO %s.sh_1 (id, status, amount) VALUES (%d, 'drifted', 5.00)", db, 90000+n),
			"ALTER TABLE " + db + ".k\n  CONVERT TO CHARACTER SET " + charset,
			fmt.Sprintf("INSERT INTO %s.k VALUES (%d, %d, 'r\u00e9sum\u00e9 %d')", db, 10+n, n, n),
			"ALTER TABLE " + db + ".k DROP PRIMARY KEY, ADD PRIMARY KEY " + key,
			fmt.Sprintf("UPDATE %s.k SET s = 'updated %d' WHERE id = 1", db, n),
		}
	}

	// (a) While etlq runs, caught up.
	a := startApply(t, state, file)
	a.waitSame(t, my, ch, tMy, tCH, 90*time.Second)
	w := startChurn(t, myDSN, db+".sh_1", 600, churnOptions{workers: 1, pause: 2 * time.Millisecond})
	time.Sleep(300 * time.Millisecond)
	myExec(t, my, ddls(3, false)...)
	time.Sleep(300 * time.Millisecond)
	w.halt()
	a.waitSame(t, my, ch, tMy, tCH, 90*time.Second)
	a.waitSame(t, my, ch, kMy, kCH, 60*time.Second)
	a.waitSame(t, my, ch, patternRows(t, my, db, "sh%"), patternCH(db, "sh_all"), 60*time.Second)
	a.stop(t)
	compareAll("after the DDLs while etlq ran")

	// (b) While etlq is stopped.
	w = startChurn(t, myDSN, db+".sh_1", 600, churnOptions{workers: 1, pause: 2 * time.Millisecond})
	time.Sleep(300 * time.Millisecond)
	myExec(t, my, ddls(1, true)...)
	time.Sleep(300 * time.Millisecond)
	w.halt()
	if w.ops.Load() == 0 {
		t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
	}
	out := mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	compareAll("after the DDLs while etlq was stopped")
	if !strings.Contains(out, "table truncated") || !strings.Contains(out, "table joined the stream") {
		t.Errorf("the log does not say what happened:\n%s", out)
	}

	// (c) While etlq runs behind: ClickHouse unreachable.
	a = startApply(t, state, file)
	marker := fmt.Sprintf("SELECT count() FROM %s.t_current WHERE id = 99", db)
	myExec(t, my, "INSERT INTO "+db+".t VALUES (99, 'marker', 9.00)")
	waitCHCount(t, chDSN, marker, 1, 60*time.Second)
	px.cut()
	w = startChurn(t, myDSN, db+".sh_1", 600, churnOptions{workers: 1, pause: 2 * time.Millisecond})
	time.Sleep(300 * time.Millisecond)
	myExec(t, my, ddls(2, false)...)
	time.Sleep(time.Second)
	w.halt()
	px.restore()
	a.waitSame(t, my, ch, tMy, tCH, 90*time.Second)
	a.waitSame(t, my, ch, kMy, kCH, 60*time.Second)
	a.waitSame(t, my, ch, patternRows(t, my, db, "sh%"), patternCH(db, "sh_all"), 60*time.Second)
	a.running(t)
	a.stop(t)
	compareAll("after the DDLs while etlq was behind")
}
