package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestOnlineSchemaChangeStoppedOrBehind (issue #12, cells of the matrix in
// docs/live-tables.md, "Tested cases"): a real pt-online-schema-change run
// and gh-ost's statement sequence, each made while etlq is stopped and
// while it runs behind (ClickHouse unreachable through a proxy), each with
// a writer changing the table, and DROP DATABASE of a followed table's database
// (then created again, its table re-created and written) in both phases,
// on both servers. The table is read by name and under a pattern (so the
// cut-over re-snapshots); after each phase every target equals its source
// row by row.
func TestOnlineSchemaChangeStoppedOrBehind(t *testing.T) {
	t.Parallel()
	onBothServers(t, testOnlineSchemaChangeStoppedOrBehind)
}

func testOnlineSchemaChangeStoppedOrBehind(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	db2 := db + "_d"
	my2 := testenv.MySQLConn(t, myDSN)
	t.Cleanup(func() { _, _ = my2.Execute("DROP DATABASE IF EXISTS " + db2) })
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t "+liveTableDef,
		"CREATE DATABASE "+db2, "CREATE TABLE "+db2+".x "+liveTableDef)
	seed(t, my, db+".t", 3000)
	seed(t, my, db2+".x", 200)

	px := newCHProxy(t, chDSN)
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse 'clickhouse://%[2]s' WITH (max_backoff = '1s');
CREATE PIPELINE p_t FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t WITH (flush_interval = '100ms');
CREATE PIPELINE p_all FROM binlog s.%[3]s.* TRANSFORM _table, * INTO clickhouse dw.%[3]s.all_tables KEY (_table, id) WITH (flush_interval = '100ms');
CREATE PIPELINE p_x FROM binlog s.%[5]s.x INTO clickhouse dw.%[3]s.x2 WITH (flush_interval = '100ms');
`, myDSN, px.addr(), db, testServerID(), db2))
	xMy := fmt.Sprintf("SELECT id, status, CAST(amount * 100 AS SIGNED) FROM %s.x ORDER BY id", db2)
	xCH := fmt.Sprintf("SELECT toString(id), status, toString(toInt64(amount * 100)) FROM %s.x2_current ORDER BY id", db)
	allMy := func(cols string) string {
		return fmt.Sprintf("SELECT 't', id, status, CAST(amount * 100 AS SIGNED)%s FROM %s.t ORDER BY id", cols, db)
	}
	allCH := func(cols string) string {
		return fmt.Sprintf("SELECT _table, toString(id), status, toString(toInt64(amount * 100))%s FROM %s.all_tables_current ORDER BY _table, id", cols, db)
	}
	compareAll := func(when, myCols, chCols string) {
		t.Helper()
		compareTable(t, my, ch, db, "t", db, "t", db+".t_current")
		diffRows(t, myRows(t, my, allMy(myCols)), chRows(t, ch, allCH(chCols)))
		diffRows(t, myRows(t, my, xMy), chRows(t, ch, xCH))
		if t.Failed() {
			t.Fatalf("%s: a target differs from its source", when)
		}
	}
	// DROP DATABASE, then the database and its table made again and
	// written: the old rows leave, the new ones arrive.
	dropDB := func(n int) []string {
		return []string{
			fmt.Sprintf("INSERT INTO %s.x VALUES (%d, 'before drop', 1.00)", db2, 1000+n),
			"DROP DATABASE " + db2,
			"CREATE DATABASE " + db2,
			"CREATE TABLE " + db2 + ".x " + liveTableDef,
			fmt.Sprintf("INSERT INTO %s.x VALUES (%d, 'again', 1.00), (%d, 'again', 2.00)", db2, n, n+1),
		}
	}

	a := startApply(t, state, file)
	tMy, tCH := oscQueries(db, false)
	a.waitSame(t, my, ch, tMy, tCH, 90*time.Second)
	a.waitSame(t, my, ch, xMy, xCH, 60*time.Second)
	a.stop(t)

	// (b) While etlq is stopped: pt-online-schema-change, DROP DATABASE.
	w := startChurn(t, myDSN, db+".t", 3000, churnOptions{workers: 2, pause: 2 * time.Millisecond})
	ptOnlineSchemaChange(t, myDSN, db, "ADD COLUMN c INT NOT NULL DEFAULT 5")
	w.halt()
	if w.ops.Load() == 0 {
		t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
	}
	myExec(t, my, "UPDATE "+db+".t SET c = id WHERE id % 10 = 0")
	myExec(t, my, dropDB(1)...)
	out := mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	compareAll("after pt-online-schema-change and DROP DATABASE while etlq was stopped", ", c", ", toString(c)")
	for _, want := range []string{"online schema change cut-over: re-snapshot", "cause=\"database dropped\""} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not say %q:\n%s", want, out)
		}
	}

	// (c) While etlq runs behind: gh-ost's sequence, DROP DATABASE.
	a = startApply(t, state, file)
	marker := fmt.Sprintf("SELECT count() FROM %s.t_current WHERE id = 99999", db)
	myExec(t, my, "INSERT INTO "+db+".t VALUES (99999, 'marker', 9.00, 1)")
	waitCHCount(t, chDSN, marker, 1, 60*time.Second)
	px.cut()
	w = startChurn(t, myDSN, db+".t", 3000, churnOptions{workers: 2, pause: 2 * time.Millisecond})
	ghostSequence(t, myDSN, s, w, "d", nil)
	myExec(t, my, dropDB(2)...)
	myExec(t, my, "UPDATE "+db+".t SET status = 'after', d = d + 1 WHERE id % 9 = 0")
	time.Sleep(time.Second)
	px.restore()
	a.waitSame(t, my, ch, allMy(", c, d"), allCH(", toString(c), toString(d)"), 120*time.Second)
	a.waitSame(t, my, ch, xMy, xCH, 60*time.Second)
	a.running(t)
	out = a.stop(t)
	compareAll("after gh-ost's sequence and DROP DATABASE while etlq was behind", ", c, d", ", toString(c), toString(d)")
	if !strings.Contains(out, "online schema change cut-over: re-snapshot") {
		t.Errorf("the log does not say how the cut-over was handled:\n%s", out)
	}

	// (b') gh-ost's sequence while etlq is stopped.
	w = startChurn(t, myDSN, db+".t", 3000, churnOptions{workers: 2, pause: 2 * time.Millisecond})
	ghostSequence(t, myDSN, s, w, "e", nil)
	myExec(t, my, "UPDATE "+db+".t SET e = e + 2 WHERE id % 5 = 0")
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	compareAll("after gh-ost's sequence while etlq was stopped", ", c, d, e", ", toString(c), toString(d), toString(e)")

	// (c') pt-online-schema-change while etlq runs behind.
	a = startApply(t, state, file)
	myExec(t, my, "INSERT INTO "+db+".t (id, status, amount) VALUES (99998, 'marker', 9.00)")
	waitCHCount(t, chDSN, fmt.Sprintf("SELECT count() FROM %s.t_current WHERE id = 99998", db), 1, 60*time.Second)
	px.cut()
	w = startChurn(t, myDSN, db+".t", 3000, churnOptions{workers: 2, pause: 2 * time.Millisecond})
	ptOnlineSchemaChange(t, myDSN, db, "ADD COLUMN f INT NOT NULL DEFAULT 6")
	w.halt()
	myExec(t, my, "UPDATE "+db+".t SET f = id WHERE id % 10 = 0")
	time.Sleep(time.Second)
	px.restore()
	a.waitSame(t, my, ch, allMy(", c, d, e, f"), allCH(", toString(c), toString(d), toString(e), toString(f)"), 120*time.Second)
	a.running(t)
	a.stop(t)
	compareAll("after pt-online-schema-change while etlq was behind", ", c, d, e, f", ", toString(c), toString(d), toString(e), toString(f)")
}

// TestPrimaryKeyDropped: DROP PRIMARY KEY alone leaves a followed table
// without a key (issue #12 matrix). A pipeline whose upsert key came from
// that primary key stops alone at the DDL with an error that names the
// table and the fix (before, it went on and rows sharing an id silently
// collapsed in the target: 261 rows at the source, 235 in the target); a
// pipeline with its own KEY (…) goes on; a pipeline of another table,
// written by a writer meanwhile, goes on. Started again unfixed, it stops
// again at the same change, alone; fixed by writing KEY (id), the stopped
// pipeline resumes from its own checkpoint with nothing lost.
func TestPrimaryKeyDropped(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) { testPrimaryKeyDropped(t, myDSN, "running") })
}

// TestPrimaryKeyDroppedStoppedOrBehind: the same DROP PRIMARY KEY made
// while etlq is stopped and while it runs behind (ClickHouse unreachable
// through a proxy) ends as while it runs: the stream replays up to the DDL
// with the checkpoint's schema history, which has the key, so the start
// plans the table as the checkpoint has it (before, it planned it from
// today's server, without a key).
func TestPrimaryKeyDroppedStoppedOrBehind(t *testing.T) {
	t.Parallel()
	for _, when := range []string{"stopped", "behind"} {
		t.Run(when, func(t *testing.T) {
			onBothServers(t, func(t *testing.T, myDSN string) { testPrimaryKeyDropped(t, myDSN, when) })
		})
	}
}

// testPrimaryKeyDropped drops nk's primary key while etlq runs, is stopped
// or runs behind (when), with a writer on nk2.
func testPrimaryKeyDropped(t *testing.T, myDSN, when string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db)
	for _, tb := range []string{"nk", "nk2"} {
		myExec(t, my, "CREATE TABLE "+db+"."+tb+" "+liveTableDef)
		seed(t, my, db+"."+tb, 300)
	}
	px := newCHProxy(t, chDSN)
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	pipelines := func(key string) string {
		return fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse 'clickhouse://%[2]s' WITH (max_backoff = '1s');
CREATE PIPELINE p FROM binlog s.%[3]s.nk INTO clickhouse dw.%[3]s.nk %[5]sWITH (flush_interval = '100ms');
CREATE PIPELINE p_k FROM binlog s.%[3]s.nk INTO clickhouse dw.%[3]s.nk_k KEY (id) WITH (flush_interval = '100ms');
CREATE PIPELINE p2 FROM binlog s.%[3]s.nk2 INTO clickhouse dw.%[3]s.nk2 WITH (flush_interval = '100ms');
`, myDSN, px.addr(), db, testServerID(), key)
	}
	writeFile(t, file, pipelines(""))
	q := func(tb, target string) (string, string) {
		return fmt.Sprintf("SELECT id, status, CAST(amount * 100 AS SIGNED) FROM %s.%s ORDER BY id", db, tb),
			fmt.Sprintf("SELECT toString(id), status, toString(toInt64(amount * 100)) FROM %s.%s_current ORDER BY id", db, target)
	}
	myQ, chQ := q("nk", "nk")
	_, kQ := q("nk", "nk_k")
	my2Q, ch2Q := q("nk2", "nk2")
	a := startApply(t, state, file)
	a.waitSame(t, my, ch, myQ, chQ, 90*time.Second)
	a.waitSame(t, my, ch, my2Q, ch2Q, 60*time.Second)
	before := myRows(t, my, myQ)
	a = ddlWhen(t, when, a, px, state, file, myDSN, db+".nk2", 300, "DROP PRIMARY KEY\" policy=", func() {
		myExec(t, my, "ALTER TABLE "+db+".nk DROP PRIMARY KEY",
			"UPDATE "+db+".nk SET status = 'after' WHERE id % 7 = 0", "DELETE FROM "+db+".nk WHERE id % 11 = 0",
			"INSERT INTO "+db+".nk VALUES (5000, 'new', 1.00)")
	})
	a.waitSame(t, my, ch, myQ, kQ, 60*time.Second)
	a.waitSame(t, my, ch, my2Q, ch2Q, 60*time.Second)
	a.running(t)
	// Stopped by the user, the run exits 1: a pipeline had stopped.
	out := a.stopFailing(t)
	for _, want := range []string{"pipeline stopped; the other pipelines of the source go on", db + ".nk no longer has a primary key", "write KEY (id) in the pipeline"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not say %q:\n%s", want, out)
		}
	}
	// The stopped pipeline's target holds the table as of before the DDL.
	diffRows(t, before, chRows(t, ch, chQ))

	// Started again with the file unfixed, it resumes from its own
	// checkpoint (planned with the key that checkpoint's schema has) and
	// stops again at the same change, alone; the others follow the source.
	myExec(t, my, "INSERT INTO "+db+".nk2 VALUES (7000, 'again', 7.00)", "INSERT INTO "+db+".nk VALUES (7000, 'again', 7.00)")
	out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err == nil || !strings.Contains(out, "pipeline p stopped") || !strings.Contains(out, db+".nk no longer has a primary key") {
		t.Errorf("apply --once of the unfixed file: want exit 1 and pipeline p stopped at the DDL again, got %v:\n%s", err, out)
	}
	diffRows(t, before, chRows(t, ch, chQ))
	diffRows(t, myRows(t, my, myQ), chRows(t, ch, kQ))
	diffRows(t, myRows(t, my, my2Q), chRows(t, ch, ch2Q))

	// The fix the error names: KEY (id) in the file; it resumes from its
	// own checkpoint.
	writeFile(t, file, pipelines("KEY (id) "))
	if out := mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file); !strings.Contains(out, "rejoined its stream") {
		t.Errorf("the fixed pipeline does not rejoin the source's stream:\n%s", out)
	}
	diffRows(t, myRows(t, my, myQ), chRows(t, ch, chQ))
	diffRows(t, myRows(t, my, myQ), chRows(t, ch, kQ))
	diffRows(t, myRows(t, my, my2Q), chRows(t, ch, ch2Q))
}

// ddlWhen makes a DDL (ddl, with the changes after it) while the apply a
// of file and state streams ("running"), while it is stopped ("stopped":
// started again after) or while it runs behind ("behind": ClickHouse cut
// off through px until the stream's log says met, so that the stream
// meets the DDL while the targets cannot be written), with a writer on
// sibling (keys rows) meanwhile. It returns the apply that runs after.
func ddlWhen(t *testing.T, when string, a *liveApply, px *proxy, state, file, myDSN, sibling string, keys int, met string, ddl func()) *liveApply {
	t.Helper()
	switch when {
	case "stopped":
		a.stop(t)
	case "behind":
		px.cut()
	}
	w := startChurn(t, myDSN, sibling, keys, churnOptions{workers: 1, pause: 2 * time.Millisecond})
	ddl()
	time.Sleep(400 * time.Millisecond)
	w.halt()
	if w.ops.Load() == 0 {
		t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
	}
	switch when {
	case "stopped":
		a = startApply(t, state, file)
	case "behind":
		a.waitFor(t, "the stream meets the DDL", 60*time.Second, func() (bool, string) {
			return strings.Contains(a.out.String(), met), "not logged yet: " + met
		})
		px.restore()
	}
	return a
}
