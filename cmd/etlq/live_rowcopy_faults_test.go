package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// The row copy's gaps and faults (docs/live-tables.md, "Online schema
// changes: row copy or re-snapshot"): a copy etlq stops following, a copy
// the tool gives up, a stop between the swap file and the swap, a stop
// between two pipelines' swaps.

// ghostCopy makes gh-ost's copy _t_gho of db.t with a new column c and
// fills it, then waits until the copy target holds its rows.
func ghostCopy(t *testing.T, s *scratch, r *rowCopyRun, copyTable string) {
	t.Helper()
	db := s.db
	myExec(t, s.my,
		"CREATE TABLE "+db+"._t_gho LIKE "+db+".t",
		"ALTER TABLE "+db+"._t_gho ADD COLUMN c INT NOT NULL DEFAULT 5",
		"INSERT IGNORE INTO "+db+"._t_gho (id, status, amount) SELECT id, status, amount FROM "+db+".t")
	r.waitFor(t, "the copy's rows in "+copyTable, 60*time.Second, func() (bool, string) {
		n, err := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM %s.%s", db, copyTable))
		return err == nil && n >= 3000, fmt.Sprint(n, err)
	})
}

// ghostCutOver brings the copy up to date, sets c = id on every tenth
// row (values only the copy has), and renames it onto t.
func ghostCutOver(t *testing.T, s *scratch) {
	t.Helper()
	db := s.db
	myExec(t, s.my,
		"UPDATE "+db+".t SET status = 'before' WHERE id % 11 = 0",
		"REPLACE INTO "+db+"._t_gho (id, status, amount, c) SELECT t.id, t.status, t.amount, COALESCE(g.c, 5) FROM "+db+".t t LEFT JOIN "+db+"._t_gho g ON g.id = t.id",
		"UPDATE "+db+"._t_gho SET c = id WHERE id % 10 = 0",
		"RENAME TABLE "+db+".t TO "+db+"._t_del, "+db+"._t_gho TO "+db+".t",
		"DROP TABLE "+db+"._t_del",
		"UPDATE "+db+".t SET status = 'after', c = c + 1 WHERE id % 9 = 0",
		"DELETE FROM "+db+".t WHERE id % 13 = 0")
}

// chTablesLeft lists db's ClickHouse tables other than keep.
func chTablesLeft(t *testing.T, s *scratch, keep ...string) []string {
	t.Helper()
	rows, err := chTry(s.ch, fmt.Sprintf("SELECT name FROM system.tables WHERE database = '%s' ORDER BY name", s.db))
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, n := range rows {
		if !contains(keep, n) {
			left = append(left, n)
		}
	}
	return left
}

// waitFault waits until the run ends at the ETLQ_TEST_FAULT point.
func (r *rowCopyRun) waitFault(t *testing.T, point string, timeout time.Duration) {
	t.Helper()
	select {
	case err := <-r.done:
		if err == nil || !strings.Contains(r.out.String(), "ETLQ_TEST_FAULT: exiting at "+point) {
			t.Fatalf("want the run ended at the fault point %s: %v\n%s", point, err, r.out.String())
		}
	case <-time.After(timeout):
		t.Fatalf("the run did not end at the fault point %s:\n%s", point, r.out.String())
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// TestRowCopyCopyLost: a DDL on gh-ost's copy that etlq cannot apply
// (a column added next to an IGNORED index) stops the copy being followed: its copy target is
// dropped at once, and the cut-over reads the new table again: the target
// equals the table (FULL metadata); under the server's default metadata
// the copy's schema at the cut-over is not known and the run stops,
// naming the table and the fix.
func TestRowCopyCopyLost(t *testing.T) {
	t.Parallel()
	onBothServers(t, testRowCopyCopyLost)
}

func testRowCopyCopyLost(t *testing.T, myDSN string) {
	s, r := rowCopySetup(t, myDSN)
	db := s.db
	ghostCopy(t, s, r, "t__etlq_copy")
	myExec(t, s.my,
		"ALTER TABLE "+db+"._t_gho ADD COLUMN y INT, ADD INDEX iy (id) IGNORED",
		"ALTER TABLE "+db+"._t_gho DROP COLUMN y")
	r.waitFor(t, "the copy target dropped", 60*time.Second, func() (bool, string) {
		n, err := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM system.tables WHERE database = '%s' AND name = 't__etlq_copy'", db))
		return err == nil && n == 0, fmt.Sprint(n, err)
	})
	ghostCutOver(t, s)
	if myDSN == testenv.MySQLMinimalDSN(t) {
		select {
		case err := <-r.done:
			out := r.out.String()
			if err == nil || !strings.Contains(out, db+".t") || !strings.Contains(out, "re-snapshot") {
				t.Errorf("want the run stopped naming the table and the fix: %v\n%s", err, out)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("the run goes on with a schema it cannot know:\n%s", r.out.String())
		}
		return
	}
	myQ, chQ := oscQueries(db, true)
	r.waitSame(t, s.my, s.ch, myQ, chQ, 120*time.Second)
	compareTable(t, s.my, s.ch, db, "t", db, "t", db+".t_current")
	out := r.stop(t)
	for _, want := range []string{"a DDL on the tool's copy cannot be applied", "row copy: the copy will not be swapped in; its target was dropped", "online schema change cut-over: re-snapshot", "a DDL on the copy could not be applied"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
	if left := chTablesLeft(t, s, "t", "t_current"); len(left) > 0 {
		t.Errorf("target tables left: %v", left)
	}
}

// TestRowCopyGivenUp: gh-ost gives the migration up (DROP TABLE _t_gho,
// no cut-over): the copy target is dropped at the DROP's position, not
// made again by a restart, and the target goes on following t.
func TestRowCopyGivenUp(t *testing.T) {
	t.Parallel()
	onBothServers(t, testRowCopyGivenUp)
}

func testRowCopyGivenUp(t *testing.T, myDSN string) {
	s, r := rowCopySetup(t, myDSN)
	db := s.db
	ghostCopy(t, s, r, "t__etlq_copy")
	// A checkpoint passes the copy's rows (commit interval 1 s).
	time.Sleep(3 * time.Second)
	myExec(t, s.my, "UPDATE "+db+"._t_gho SET c = 7 WHERE id % 5 = 0", "DROP TABLE "+db+"._t_gho")
	gone := func() (bool, string) {
		n, err := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM system.tables WHERE database = '%s' AND name = 't__etlq_copy'", db))
		return err == nil && n == 0, fmt.Sprint(n, err)
	}
	r.waitFor(t, "the copy target dropped", 60*time.Second, gone)
	myExec(t, s.my, "UPDATE "+db+".t SET status = 'after' WHERE id % 9 = 0")
	myQ, chQ := oscQueries(db, false)
	r.waitSame(t, s.my, s.ch, myQ, chQ, 60*time.Second)
	out := r.stop(t)
	if !strings.Contains(out, "row copy: the copy will not be swapped in; its target was dropped") {
		t.Errorf("the log does not say the copy target was dropped:\n%s", out)
	}
	r.start(t)
	myExec(t, s.my, "DELETE FROM "+db+".t WHERE id % 13 = 0")
	r.waitSame(t, s.my, s.ch, myQ, chQ, 60*time.Second)
	compareTable(t, s.my, s.ch, db, "t", db, "t", db+".t_current")
	r.stop(t)
	if left := chTablesLeft(t, s, "t", "t_current"); len(left) > 0 {
		t.Errorf("target tables left: %v", left)
	}
}

// TestRowCopyStopAfterSwapFile: the process ends (as kill -9) right after
// the swap file is written, before the ClickHouse RENAME: the restarted
// run replays the copy from its checkpoint and swaps it in; the target
// equals the table and nothing was read again.
func TestRowCopyStopAfterSwapFile(t *testing.T) {
	t.Parallel()
	onBothServers(t, testRowCopyStopAfterSwapFile)
}

func testRowCopyStopAfterSwapFile(t *testing.T, myDSN string) {
	s, r := rowCopySetup(t, myDSN)
	db := s.db
	ghostCopy(t, s, r, "t__etlq_copy")
	time.Sleep(3 * time.Second)
	r.stop(t)
	r.env = []string{"ETLQ_TEST_FAULT=rowcopy-swap-file:p_t"}
	r.start(t)
	// The run has checked its plan against the source before the cut-over.
	r.waitFor(t, "the run started", 60*time.Second, func() (bool, string) {
		return strings.Contains(r.out.String(), "msg=starting"), ""
	})
	time.Sleep(2 * time.Second)
	ghostCutOver(t, s)
	r.waitFault(t, "rowcopy-swap-file:p_t", 90*time.Second)
	if _, err := os.Stat(filepath.Join(r.state, "rowcopy", "p_t.swap")); err != nil {
		t.Fatalf("no swap file: %v", err)
	}
	if n, err := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM %s.t__etlq_copy", db)); err != nil || n == 0 {
		t.Fatalf("the copy target is not there before the swap: %d %v", n, err)
	}
	r.env = nil
	r.start(t)
	myExec(t, s.my, "INSERT INTO "+db+".t VALUES (5000, 'new', 1.00, 42)")
	rowCopyCheck(t, s, r, 0)
}

// TestRowCopyTwoPipelinesStopBetweenSwaps: two pipelines on one table
// (targets t and u); the process ends after p_t swapped its copy in and
// p_u wrote its swap file, before p_u's RENAME: the restart cannot take
// the copy for one and not the other, so the cut-over reads the table
// again for both: both targets equal the table, and p_u's copy, of no use
// now, is dropped at the start. p_t's swap file goes once a checkpoint
// passed the cut-over, so the table's next migration (gh-ost again,
// with writes) is a row copy for both pipelines, not a re-snapshot.
// (Failed before: p_t's file stayed and every later migration was read
// again.)
func TestRowCopyTwoPipelinesStopBetweenSwaps(t *testing.T) {
	t.Parallel()
	onBothServers(t, testRowCopyTwoPipelinesStopBetweenSwaps)
}

func testRowCopyTwoPipelinesStopBetweenSwaps(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db := s.db
	myExec(t, s.my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t "+liveTableDef)
	seed(t, s.my, db+".t", 3000)
	dir := t.TempDir()
	r := &rowCopyRun{file: filepath.Join(dir, "p.etl"), state: filepath.Join(dir, "state")}
	writeFile(t, r.file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_t FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t;
CREATE PIPELINE p_u FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.u;
`, myDSN, s.chDSN, db, testServerID()))
	r.start(t)
	myQ, chQ := oscQueries(db, false)
	r.waitSame(t, s.my, s.ch, myQ, chQ, 90*time.Second)
	ghostCopy(t, s, r, "u__etlq_copy")
	time.Sleep(3 * time.Second)
	r.stop(t)
	r.env = []string{"ETLQ_TEST_FAULT=rowcopy-swap-file:p_u"}
	r.start(t)
	// The run has checked its plan against the source before the cut-over.
	r.waitFor(t, "the run started", 60*time.Second, func() (bool, string) {
		return strings.Contains(r.out.String(), "msg=starting"), ""
	})
	time.Sleep(2 * time.Second)
	ghostCutOver(t, s)
	r.waitFault(t, "rowcopy-swap-file:p_u", 90*time.Second)
	if n, err := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM system.tables WHERE database = '%s' AND name IN ('t__etlq_copy', 'u__etlq_copy')", db)); err != nil || n != 1 {
		t.Fatalf("want one copy swapped in and one not: %d copy tables, %v", n, err)
	}
	r.env = nil
	r.start(t)
	myExec(t, s.my, "INSERT INTO "+db+".t VALUES (5000, 'new', 1.00, 42)")
	myQ, chQ = oscQueries(db, true)
	r.waitSame(t, s.my, s.ch, myQ, chQ, 120*time.Second)
	r.waitSame(t, s.my, s.ch, myQ, strings.Replace(chQ, ".t_current", ".u_current", 1), 120*time.Second)
	compareTable(t, s.my, s.ch, db, "t", db, "t", db+".t_current")
	compareTable(t, s.my, s.ch, db, "t", db, "u", db+".u_current")
	out := r.stop(t)
	for _, want := range []string{"this copy's target was dropped", "online schema change cut-over: re-snapshot"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
	if left := chTablesLeft(t, s, "t", "t_current", "u", "u_current"); len(left) > 0 {
		t.Errorf("target tables left: %v", left)
	}
	if left, _ := filepath.Glob(filepath.Join(r.state, "rowcopy", "*.swap")); len(left) > 0 {
		t.Fatalf("swap files left after a checkpoint passed the cut-over: %v", left)
	}

	// The next migration: a row copy for both, with writes to t while
	// the copy exists (gh-ost's row copy takes them).
	r.start(t)
	r.waitFor(t, "the run started", 60*time.Second, func() (bool, string) {
		return strings.Contains(r.out.String(), "msg=starting"), ""
	})
	time.Sleep(2 * time.Second)
	myExec(t, s.my,
		"CREATE TABLE "+db+"._t_gho LIKE "+db+".t",
		"ALTER TABLE "+db+"._t_gho ADD COLUMN c2 INT NOT NULL DEFAULT 9")
	for i := 0; i < 100; i++ {
		// Writes to t while the copy exists, before gh-ost's row copy.
		myExec(t, s.my, fmt.Sprintf("INSERT INTO %s.t (id, status, amount, c) VALUES (%d, 'w', 1.00, %d)", db, 20000+i, i),
			fmt.Sprintf("UPDATE %s.t SET amount = amount + 1 WHERE id = %d", db, 1+i))
	}
	myExec(t, s.my,
		"INSERT IGNORE INTO "+db+"._t_gho (id, status, amount, c) SELECT id, status, amount, c FROM "+db+".t",
		"UPDATE "+db+"._t_gho SET c2 = id WHERE id % 7 = 0",
		"RENAME TABLE "+db+".t TO "+db+"._t_del, "+db+"._t_gho TO "+db+".t",
		"DROP TABLE "+db+"._t_del",
		"INSERT INTO "+db+".t (id, status, amount, c, c2) VALUES (6000, 'new2', 2.00, 1, 2)")
	for _, tb := range []string{"t", "u"} {
		waitCHCount(t, s.chDSN, fmt.Sprintf("SELECT count() FROM %s.%s_current WHERE id = 6000 AND c2 = 2", db, tb), 1, 120*time.Second)
	}
	compareTable(t, s.my, s.ch, db, "t", db, "t", db+".t_current")
	compareTable(t, s.my, s.ch, db, "t", db, "u", db+".u_current")
	out = r.stop(t)
	if n := strings.Count(out, "row copy: the copy replaced the target's rows"); n != 2 || strings.Contains(out, "online schema change cut-over: re-snapshot") {
		t.Errorf("the next migration is not a row copy for both pipelines (%d swaps):\n%s", n, out)
	}
	if left := chTablesLeft(t, s, "t", "t_current", "u", "u_current"); len(left) > 0 {
		t.Errorf("target tables left: %v", left)
	}
}

// TestRowCopyStopWhileSinkUnreachable: apply stopped (SIGTERM) during an
// online schema change's row copy (gh-ost's _t_gho) while ClickHouse is
// unreachable, the copy target's writer blocked on its retried inserts,
// ends once the drain time is over (shortened here, ETLQ_TEST_DRAIN_TIMEOUT)
// with exit status 1 and the writes not acknowledged named; the next run,
// ClickHouse back, takes the copy up again from the checkpoint and the
// cut-over swaps it in, the target equal to the table. It did not end:
// the stop closed the pipelines' writers only, not the copy's.
func TestRowCopyStopWhileSinkUnreachable(t *testing.T) {
	t.Parallel()
	onBothServers(t, testRowCopyStopWhileSinkUnreachable)
}

func testRowCopyStopWhileSinkUnreachable(t *testing.T, myDSN string) {
	// One insert at a time, of 100 rows: with ClickHouse cut, the next
	// Write of the copy's writer waits for the insert that retries.
	px := newCHProxy(t, testenv.ClickHouseDSN(t))
	s, r := rowCopySetupVia(t, myDSN, "clickhouse://"+px.addr(),
		"WITH (batch_rows = 100, max_inflight = 1, flush_interval = '100ms', max_backoff = '1s', close_timeout = '1s')",
		[]string{"ETLQ_TEST_DRAIN_TIMEOUT=3s"})
	db, my := s.db, s.my

	myExec(t, my,
		"CREATE TABLE "+db+"._t_gho LIKE "+db+".t",
		"ALTER TABLE "+db+"._t_gho ADD COLUMN c INT NOT NULL DEFAULT 5",
		"INSERT IGNORE INTO "+db+"._t_gho (id, status, amount) SELECT id, status, amount FROM "+db+".t WHERE id <= 1000")
	r.waitFor(t, "the copy's rows in the copy table", 60*time.Second, func() (bool, string) {
		n, err := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM %s.t__etlq_copy", db))
		return err == nil && n >= 1000, fmt.Sprint(n, err)
	})
	px.cut()
	for lo := 1001; lo <= 3000; lo += 200 {
		myExec(t, my, fmt.Sprintf("INSERT IGNORE INTO %[1]s._t_gho (id, status, amount) SELECT id, status, amount FROM %[1]s.t WHERE id BETWEEN %[2]d AND %[3]d", db, lo, lo+199))
	}
	r.waitFor(t, "the copy's inserts retried", 60*time.Second, func() (bool, string) {
		out := r.out.String()
		return strings.Contains(out, "insert failed, retrying") && strings.Contains(out, "t__etlq_copy"), ""
	})
	time.Sleep(2 * time.Second) // (the copy's next Write waits for the insert)
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.done:
		out := r.out.String()
		if err == nil || !strings.Contains(out, "stopped before the sinks acknowledged every write") {
			t.Errorf("the stopped run ended with %v, want exit 1 with the writes not acknowledged named:\n%s", err, out)
		}
	case <-time.After(150 * time.Second): // (above even the default drain time of 2 minutes)
		t.Fatalf("etlq apply did not end within 150 s of SIGTERM, ClickHouse unreachable during a row copy (drain time 3 s):\n%s", r.out.String())
	}

	// ClickHouse back: the copy is taken up again and swapped in.
	px.restore()
	r.env = nil
	r.start(t)
	r.waitFor(t, "the copy's rows in the copy table", 90*time.Second, func() (bool, string) {
		n, err := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM %s.t__etlq_copy", db))
		return err == nil && n >= 3000, fmt.Sprint(n, err)
	})
	snap0 := r.snapshotRows(t, db)
	ghostCutOver(t, s)
	rowCopyCheck(t, s, r, snap0)
}
