package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestXARollback: MariaDB logs an XA transaction's rows at its XA
// PREPARE, and its XA ROLLBACK later with no row: the rows the stream
// delivered at the prepare never were the source's. Made with a writer
// running, while etlq streams and while it is stopped by kill -9 — an
// insert, an update and a delete rolled back, another XA committed in
// two phases and one in one phase —: the upsert target equals its source
// row by row (the tables are read again in place), and the append
// target's WARN says what it keeps. (Before, the upsert target kept the
// phantom row, the undone update and lacked the row the rolled-back
// delete had removed, silently.) Killed between a prepare and its
// rollback, once the checkpoint passed the prepare, the resume reads the
// table again at the rollback (the checkpoint keeps the prepared ones).
func TestXARollback(t *testing.T) {
	t.Parallel()
	onBothServers(t, testXARollback)
}

func testXARollback(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".u (id INT PRIMARY KEY, k INT)",
		"INSERT INTO "+db+".u SELECT seq, seq FROM "+db+".seq_1_to_300",
		"CREATE TABLE "+db+".a (id INT PRIMARY KEY, k INT)",
		"INSERT INTO "+db+".a SELECT seq, seq FROM "+db+".seq_1_to_10")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "x.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[3]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE u FROM binlog s.%[4]s.u INTO clickhouse dw.%[4]s.u MODE upsert WITH (flush_interval = '100ms');
CREATE PIPELINE a FROM binlog s.%[4]s.a INTO clickhouse dw.%[4]s.a MODE append WITH (flush_interval = '100ms');
`, myDSN, chDSN, testServerID(), db))
	same := func(a *liveApply) {
		t.Helper()
		a.waitSame(t, my, ch, "SELECT id, k FROM "+db+".u ORDER BY id",
			"SELECT toString(id), toString(k) FROM "+db+".u_current ORDER BY id", 120*time.Second)
	}
	xa := testenv.MySQLConn(t, myDSN)
	run := func(n int) {
		t.Helper()
		x := func(name string) string { return fmt.Sprintf("'%s_%d'", name, n) }
		myExec(t, xa,
			"XA START "+x("rb"),
			fmt.Sprintf("INSERT INTO %s.u VALUES (%d, 1)", db, 900000+n),
			fmt.Sprintf("UPDATE %s.u SET k = -1 WHERE id = %d", db, 10+n),
			fmt.Sprintf("DELETE FROM %s.u WHERE id = %d", db, 20+n),
			fmt.Sprintf("INSERT INTO %s.a VALUES (%d, 1)", db, 900000+n),
			"XA END "+x("rb"), "XA PREPARE "+x("rb"), "XA ROLLBACK "+x("rb"),
			"XA START "+x("c2"),
			fmt.Sprintf("UPDATE %s.u SET k = k + 1000 WHERE id = %d", db, 30+n),
			"XA END "+x("c2"), "XA PREPARE "+x("c2"), "XA COMMIT "+x("c2"),
			"XA START "+x("c1"),
			fmt.Sprintf("INSERT INTO %s.u VALUES (%d, 2)", db, 910000+n),
			"XA END "+x("c1"), "XA COMMIT "+x("c1")+" ONE PHASE")
	}

	// While etlq streams.
	a := startApply(t, state, file)
	same(a)
	w := startDDLWriter(t, myDSN, db+".u", 10000)
	time.Sleep(300 * time.Millisecond)
	run(1)
	time.Sleep(300 * time.Millisecond)
	w.halt()
	same(a)
	out := a.out.String()
	for _, want := range []string{
		db + ".u: a statement changed the table's rows without row events in the binlog: the table is read again in place",
		"XA ROLLBACK of a prepared transaction",
		db + ".a: a statement changed the table's rows without row events in the binlog, and the table cannot be read again in place",
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
	run(2)
	time.Sleep(300 * time.Millisecond)
	w.halt()
	a = startApply(t, state, file)
	same(a)

	// Killed (-9) between a prepare and its rollback, once the checkpoint
	// passed the prepare: the resume reads u again at the rollback.
	myExec(t, xa, "XA START 'k'",
		fmt.Sprintf("INSERT INTO %s.u VALUES (%d, 1)", db, 990000),
		fmt.Sprintf("UPDATE %s.u SET k = -1 WHERE id = 200", db),
		fmt.Sprintf("DELETE FROM %s.u WHERE id = 201", db),
		"XA END 'k'", "XA PREPARE 'k'")
	file0, pos0 := masterPos(t, my)
	a.waitFor(t, "the checkpoint passes the prepare", 60*time.Second, func() (bool, string) {
		f, p := checkpointPos(t, filepath.Join(state, "source-s.json"))
		return f > file0 || f == file0 && p >= pos0, fmt.Sprintf("checkpoint %s:%d, prepare before %s:%d", f, p, file0, pos0)
	})
	a.cmd.Process.Kill()
	<-a.done
	myExec(t, xa, "XA ROLLBACK 'k'")
	a = startApply(t, state, file)
	same(a)
	if out := a.out.String(); !strings.Contains(out, "XA ROLLBACK of a prepared transaction") {
		t.Errorf("the resume did not read u again at the rollback:\n%s", out)
	}
	a.running(t)
	a.stop(t)
	compareTable(t, my, ch, db, "u", db, "u", db+".u_current")
}
