package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestStatementBasedWrites: a session with binlog_format = STATEMENT (SET
// SESSION, as pt-table-checksum does; or MIXED set globally after etlq
// started) logs its INSERT, UPDATE, DELETE and REPLACE as statements,
// with no row event. Made with a writer running (in ROW format), while
// etlq streams and while it is stopped by kill -9: the upsert target
// equals its source row by row (the tables written are read again in
// place), a WARN says the server must log in ROW format, and the append
// target's WARN says what it keeps. (Before, the rows those statements
// changed were dropped silently: the targets kept the old values and the
// deleted rows, and lacked the inserted ones.)
func TestStatementBasedWrites(t *testing.T) {
	t.Parallel()
	onBothServers(t, testStatementBasedWrites)
}

func testStatementBasedWrites(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".u (id INT PRIMARY KEY, k INT, v VARCHAR(20))",
		"INSERT INTO "+db+".u (id, k, v) SELECT seq, seq, concat('v', seq) FROM "+db+".seq_1_to_500",
		"CREATE TABLE "+db+".o (id INT PRIMARY KEY, n INT)",
		"INSERT INTO "+db+".o SELECT seq, seq * 2 FROM "+db+".seq_1_to_100",
		"CREATE TABLE "+db+".a (id INT PRIMARY KEY, k INT)",
		"INSERT INTO "+db+".a SELECT seq, seq FROM "+db+".seq_1_to_100")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "s.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[3]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE u FROM binlog s.%[4]s.u INTO clickhouse dw.%[4]s.u MODE upsert WITH (batch_rows = 500, flush_interval = '100ms');
CREATE PIPELINE o FROM binlog s.%[4]s.o INTO clickhouse dw.%[4]s.o MODE upsert WITH (flush_interval = '100ms');
CREATE PIPELINE a FROM binlog s.%[4]s.a INTO clickhouse dw.%[4]s.a MODE append WITH (flush_interval = '100ms');
`, myDSN, chDSN, testServerID(), db))
	same := func(a *liveApply) {
		t.Helper()
		a.waitSame(t, my, ch, "SELECT id, k, IFNULL(v, 'NULL') FROM "+db+".u ORDER BY id",
			"SELECT toString(id), toString(k), ifNull(v, 'NULL') FROM "+db+".u_current ORDER BY id", 120*time.Second)
		a.waitSame(t, my, ch, "SELECT id, n FROM "+db+".o ORDER BY id",
			"SELECT toString(id), toString(n) FROM "+db+".o_current ORDER BY id", 60*time.Second)
	}
	stmt := testenv.MySQLConn(t, myDSN)
	myExec(t, stmt, "SET SESSION binlog_format = 'STATEMENT'")
	statements := func(base int) []string {
		return []string{
			fmt.Sprintf("UPDATE %s.u SET k = k + %d WHERE id <= 50", db, base),
			fmt.Sprintf("DELETE FROM %s.u WHERE id BETWEEN %d AND %d", db, 60+base/1000, 70+base/1000),
			fmt.Sprintf("INSERT INTO %s.u (id, k, v) VALUES (%d, 1, 'stmt'), (%d, 2, NULL)", db, 700000+base, 700001+base),
			fmt.Sprintf("REPLACE INTO %s.u (id, k, v) VALUES (100, %d, 'replaced')", db, base),
			// a multi-table UPDATE: o is written, u only read
			fmt.Sprintf("UPDATE %s.o JOIN %s.u ON o.id = u.id SET o.n = u.k + %d WHERE o.id <= 10", db, db, base),
			fmt.Sprintf("DELETE FROM %s.a WHERE id <= 5", db),
		}
	}

	// While etlq streams.
	a := startApply(t, state, file)
	same(a)
	w := startDDLWriter(t, myDSN, db+".u", 10000)
	time.Sleep(300 * time.Millisecond)
	myExec(t, stmt, statements(1000)...)
	time.Sleep(300 * time.Millisecond)
	w.halt()
	same(a)
	out := a.out.String()
	for _, want := range []string{
		"the server logged a write to a streamed table as a statement, not as row events",
		"SET GLOBAL binlog_format = 'ROW'",
		db + ".u: a statement changed the table's rows without row events in the binlog: the table is read again in place",
		db + ".a: a statement changed the table's rows without row events in the binlog, and the table cannot be read again in place: no pipeline reading it writes an upsert target",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the run does not say %q:\n%s", want, out)
		}
	}

	// While etlq is stopped (kill -9), a writer running.
	a.cmd.Process.Kill()
	<-a.done
	w = startDDLWriter(t, myDSN, db+".u", 20000)
	time.Sleep(300 * time.Millisecond)
	myExec(t, stmt, statements(2000)...)
	time.Sleep(300 * time.Millisecond)
	w.halt()
	a = startApply(t, state, file)
	same(a)
	a.running(t)
	a.stop(t)
	compareTable(t, my, ch, db, "u", db, "u", db+".u_current")
	compareTable(t, my, ch, db, "o", db, "o", db+".o_current")
}
