package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
)

// patternRows is the MySQL query of every row of the tables of db named
// like (SQL LIKE), helper tables of online schema-change tools left out,
// as "table|id|status|cents", ordered like patternCH's.
func patternRows(t *testing.T, my *client.Conn, db, like string) string {
	t.Helper()
	var parts []string
	for _, tb := range myRows(t, my, fmt.Sprintf("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME LIKE '%s' ORDER BY 1", db, like)) {
		if strings.HasPrefix(tb, "_") {
			continue
		}
		parts = append(parts, fmt.Sprintf("SELECT '%[2]s' AS tb, id, status, CAST(amount * 100 AS SIGNED) AS a FROM %[1]s.%[2]s", db, tb))
	}
	return "SELECT * FROM (" + strings.Join(parts, " UNION ALL ") + ") x ORDER BY tb, id"
}

func patternCH(db, table string) string {
	return fmt.Sprintf("SELECT _table, toString(id), status, toString(toInt64(amount * 100)) FROM %s.%s_current ORDER BY _table, id", db, table)
}

const liveTableDef = "(id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)"

// TestTableCreatedUnderPattern: tables created while `FROM binlog
// db.tb_*` streams join the pipeline at once — an empty one whose rows
// come later, one made by CREATE … LIKE and filled by INSERT … SELECT, one
// made by CREATE … SELECT — while a writer keeps changing another table of
// the pattern, with no gap; a helper table of an online schema-change tool
// (_tb_301_new) that the pattern would match never reaches the target.
// Then a restart finds them in its checkpoint and snapshots none again.
func TestTableCreatedUnderPattern(t *testing.T) {
	t.Parallel()
	onBothServers(t, testTableCreatedUnderPattern)
}

func testTableCreatedUnderPattern(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".tb_301 "+liveTableDef, "CREATE TABLE "+db+".tb_302 "+liveTableDef)
	seed(t, my, db+".tb_301", 1000)
	seed(t, my, db+".tb_302", 200)
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.tb_* TRANSFORM _table, * INTO clickhouse dw.%[3]s.tb_all KEY (_table, id);
`, myDSN, chDSN, db, testServerID()))

	a := startApply(t, state, file)
	a.waitSame(t, my, ch, patternRows(t, my, db, "tb%"), patternCH(db, "tb_all"), 90*time.Second)

	w := startChurn(t, myDSN, db+".tb_301", 1500, churnOptions{workers: 2, pause: time.Millisecond})
	myExec(t, my,
		"CREATE TABLE "+db+".tb_303 "+liveTableDef,
		"INSERT INTO "+db+".tb_303 VALUES (1, 'new', 1.00), (2, 'new', 2.00)",
		"CREATE TABLE "+db+".tb_304 LIKE "+db+".tb_301",
		"INSERT INTO "+db+".tb_304 SELECT * FROM "+db+".tb_301 WHERE id <= 300",
		"CREATE TABLE "+db+".tb_305 (PRIMARY KEY (id)) SELECT * FROM "+db+".tb_302 WHERE id % 2 = 0",
		"CREATE TABLE "+db+"._tb_301_new LIKE "+db+".tb_301",
		"INSERT INTO "+db+"._tb_301_new SELECT * FROM "+db+".tb_301 WHERE id <= 50",
		"UPDATE "+db+".tb_303 SET amount = 9.99 WHERE id = 2",
		"DELETE FROM "+db+".tb_304 WHERE id % 7 = 0",
	)
	time.Sleep(time.Second) // the writer goes on after the new tables
	w.halt()
	if w.ops.Load() == 0 {
		t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
	}
	a.waitSame(t, my, ch, patternRows(t, my, db, "tb%"), patternCH(db, "tb_all"), 90*time.Second)
	for _, tb := range []string{"tb_301", "tb_303", "tb_304", "tb_305"} {
		compareTable(t, my, ch, db, tb, db, "tb_all", fmt.Sprintf("(SELECT * FROM %s.tb_all_current WHERE _table = '%s')", db, tb))
	}
	n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.tb_all WHERE _table LIKE '\\\\_%%'", db))
	if err != nil || n != 0 {
		t.Errorf("helper table rows in the target: %d (%v)", n, err)
	}
	out := a.stop(t)
	for _, tb := range []string{"tb_303", "tb_304", "tb_305"} {
		if !strings.Contains(out, "msg=\"table joined the pipeline\" pipeline=p table="+db+"."+tb) {
			t.Errorf("the log does not say %s joined:\n%s", tb, out)
		}
	}

	// The restart knows the tables from its checkpoint: no snapshot again.
	myExec(t, my, "INSERT INTO "+db+".tb_303 VALUES (3, 'later', 3.00)")
	again := mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if !strings.Contains(again, "pipeline=p rows_in=1 ") {
		t.Errorf("the restart read more than the one new row:\n%s", again)
	}
	diffRows(t, myRows(t, my, patternRows(t, my, db, "tb%")), chRows(t, ch, patternCH(db, "tb_all")))
}

// TestRenameDropCreate: pipelines follow their table names while a writer
// keeps changing another table of the pattern. A table renamed away from
// the pattern, or dropped, leaves the upsert target with its rows; one
// renamed into the pattern is snapshotted and joins; a table read by name
// that is dropped and created again gets the new table's rows only; one
// renamed back joins again. The targets end equal to the sources.
func TestRenameDropCreate(t *testing.T) {
	t.Parallel()
	onBothServers(t, testRenameDropCreate)
}

func testRenameDropCreate(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db)
	for tb, n := range map[string]int{"t": 500, "sh_1": 500, "sh_2": 200, "spare": 100} {
		myExec(t, my, "CREATE TABLE "+db+"."+tb+" "+liveTableDef)
		seed(t, my, db+"."+tb, n)
	}
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_t FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t;
CREATE PIPELINE p_sh FROM binlog s.%[3]s.sh_* TRANSFORM _table, * INTO clickhouse dw.%[3]s.sh_all KEY (_table, id);
`, myDSN, chDSN, db, testServerID()))
	tMy := fmt.Sprintf("SELECT id, status, CAST(amount * 100 AS SIGNED) FROM %s.t ORDER BY id", db)
	tCH := fmt.Sprintf("SELECT toString(id), status, toString(toInt64(amount * 100)) FROM %s.t_current ORDER BY id", db)

	a := startApply(t, state, file)
	a.waitSame(t, my, ch, tMy, tCH, 90*time.Second)
	a.waitSame(t, my, ch, patternRows(t, my, db, "sh%"), patternCH(db, "sh_all"), 60*time.Second)

	w := startChurn(t, myDSN, db+".sh_1", 800, churnOptions{workers: 2, pause: time.Millisecond})
	myExec(t, my,
		"RENAME TABLE "+db+".sh_2 TO "+db+".gone_2",
		"UPDATE "+db+".gone_2 SET amount = amount + 5", // not followed any more
		"RENAME TABLE "+db+".spare TO "+db+".sh_3",
		"UPDATE "+db+".sh_3 SET status = 'moved' WHERE id % 3 = 0",
		"DROP TABLE "+db+".t",
		"CREATE TABLE "+db+".t "+liveTableDef,
		"INSERT INTO "+db+".t VALUES (1, 'again', 1.00), (7, 'again', 7.00), (1000, 'again', 10.00)",
	)
	a.waitSame(t, my, ch, tMy, tCH, 60*time.Second) // t is not written by the writer
	myExec(t, my,
		"ALTER TABLE "+db+".gone_2 RENAME TO "+db+".sh_2",
		// Renamed within the pattern, altered in the same statement.
		"ALTER TABLE "+db+".sh_3 ADD COLUMN x INT NOT NULL DEFAULT 3, RENAME TO "+db+".sh_4",
		"INSERT INTO "+db+".sh_4 VALUES (7001, 'new', 1.00, 4)",
		"UPDATE "+db+".sh_4 SET x = 5 WHERE id = 1",
		"RENAME TABLE "+db+".sh_4 TO "+db+".sh_3",
		"DROP TABLE "+db+".sh_3",
		"UPDATE "+db+".t SET amount = 70.00 WHERE id = 7",
	)
	time.Sleep(time.Second) // the writer goes on after the renames
	w.halt()
	if w.ops.Load() == 0 {
		t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
	}
	a.waitSame(t, my, ch, tMy, tCH, 60*time.Second)
	a.waitSame(t, my, ch, patternRows(t, my, db, "sh%"), patternCH(db, "sh_all"), 60*time.Second)
	compareTable(t, my, ch, db, "t", db, "t", db+".t_current")

	// DROP DATABASE takes every table with it, without a statement each.
	myExec(t, my, "DROP DATABASE "+db)
	for _, tb := range []string{"t", "sh_all"} {
		q := fmt.Sprintf("SELECT count() FROM %s.%s_current", db, tb)
		a.waitFor(t, q+" after DROP DATABASE", 60*time.Second, func() (bool, string) {
			n, err := chCount(chDSN, q)
			return err == nil && n == 0, fmt.Sprintf("%d, %v", n, err)
		})
	}
	out := a.stop(t)
	for _, want := range []string{
		"cause=\"database dropped\"",
		"msg=\"table left the stream; its rows leave upsert targets\" source=s table=" + db + ".sh_2",
		"msg=\"table joined the stream; snapshotting it\" source=s table=" + db + ".sh_3",
		"cause=dropped",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s:\n%s", want, out)
		}
	}
}
