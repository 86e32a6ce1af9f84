package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// The row copy of an online schema change (docs/live-tables.md): a table
// read by one upsert pipeline takes the tool's own copy from the binlog
// at the cut-over; the new table is never scanned.

// rowCopyRun is a streaming apply of one pipeline p_t (db.t into an
// upsert table) that serves metrics.
type rowCopyRun struct {
	*liveApply
	addr, state, file string
	// env is added to the environment of the next start (fault points).
	env []string
}

// rowCopySetup creates db.t with 3000 rows and starts etlq on it.
func rowCopySetup(t *testing.T, myDSN string) (*scratch, *rowCopyRun) {
	return rowCopySetupVia(t, myDSN, "", "", nil)
}

// rowCopySetupVia is rowCopySetup with the sink's DSN sinkDSN ("": the
// scratch's), the pipeline's options with ("WITH (…)" or "") and env
// added to the run's environment.
func rowCopySetupVia(t *testing.T, myDSN, sinkDSN, with string, env []string) (*scratch, *rowCopyRun) {
	s := newScratch(t, myDSN)
	myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t "+liveTableDef)
	seed(t, s.my, s.db+".t", 3000)
	if sinkDSN == "" {
		sinkDSN = s.chDSN
	}
	dir := t.TempDir()
	r := &rowCopyRun{file: filepath.Join(dir, "p.etl"), state: filepath.Join(dir, "state"), env: env}
	writeFile(t, r.file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_t FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t %[5]s;
`, myDSN, sinkDSN, s.db, testServerID(), with))
	r.start(t)
	myQ, chQ := oscQueries(s.db, false)
	r.waitSame(t, s.my, s.ch, myQ, chQ, 90*time.Second)
	return s, r
}

// start starts (again) the apply, with metrics on a free port.
func (r *rowCopyRun) start(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	ln.Close()
	a := &liveApply{cmd: exec.Command(etlqBin, "apply", "--state-dir", r.state, "--metrics-addr", r.addr, "--progress", "never", r.file), out: &syncBuffer{}, done: make(chan error, 1)}
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if r.env != nil {
		a.cmd.Env = append(os.Environ(), r.env...)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.done <- a.cmd.Wait() }()
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			a.cmd.Process.Kill()
		}
	})
	r.liveApply = a
}

// snapshotRows is etlq_snapshot_rows_total of db.t (0 when not shown).
func (r *rowCopyRun) snapshotRows(t *testing.T, db string) float64 {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get("http://" + r.addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return max(metricValue(string(b), `etlq_snapshot_rows_total{source="s",table="`+db+`.t"}`), 0)
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics: %v\n%s", err, r.out.String())
		}
	}
}

// rowCopyCheck waits until the target equals db.t with its new column c,
// row by row, and checks what the cut-over left: no copy table, no
// helper table, no scan of t since snap0 (the snapshot rows counted
// before the migration), and the log line of the row copy.
func rowCopyCheck(t *testing.T, s *scratch, r *rowCopyRun, snap0 float64) {
	t.Helper()
	myQ, chQ := oscQueries(s.db, true)
	r.waitSame(t, s.my, s.ch, myQ, chQ, 120*time.Second)
	compareTable(t, s.my, s.ch, s.db, "t", s.db, "t", s.db+".t_current")
	if n := r.snapshotRows(t, s.db); n != snap0 {
		t.Errorf("etlq_snapshot_rows_total of %s.t went from %v to %v: the new table was read again", s.db, snap0, n)
	}
	out := r.stop(t)
	if !strings.Contains(out, "online schema change cut-over: row copy") || !strings.Contains(out, "row copy: the copy replaced the target's rows") {
		t.Errorf("the log does not say the cut-over took the row copy:\n%s", out)
	}
	if strings.Contains(out, "re-snapshot") || strings.Contains(out, "snapshotting it") {
		t.Errorf("the log says the table was read again:\n%s", out)
	}
	if n, _ := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM system.tables WHERE database = '%s' AND name != 't' AND name != 't_current'", s.db)); n != 0 {
		rows, _ := chTry(s.ch, fmt.Sprintf("SELECT name FROM system.tables WHERE database = '%s'", s.db))
		t.Errorf("target tables other than t and t_current are left: %v", rows)
	}
}

// TestRowCopyPtOnlineSchemaChange: a real pt-online-schema-change run
// (ADD COLUMN c) while a writer keeps changing the table: at the cut-over
// the target takes the tool's copy as followed in the binlog, equal to
// the table row by row, and the table is not scanned again.
func TestRowCopyPtOnlineSchemaChange(t *testing.T) {
	t.Parallel()
	onBothServers(t, testRowCopyPtOnlineSchemaChange)
}

func testRowCopyPtOnlineSchemaChange(t *testing.T, myDSN string) {
	if _, err := exec.LookPath("pt-online-schema-change"); err != nil {
		t.Fatalf("pt-online-schema-change is not installed (apt-get install percona-toolkit): %v", err)
	}
	s, r := rowCopySetup(t, myDSN)
	snap0 := r.snapshotRows(t, s.db)
	cfg, err := testenv.ParseMySQLDSN(myDSN)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(cfg.Addr, ":")
	w := startChurn(t, myDSN, s.db+".t", 3000, churnOptions{workers: 2, pause: 2 * time.Millisecond})
	dsn := fmt.Sprintf("h=%s,P=%s,u=%s,D=%s,t=t", host, port, cfg.User, s.db)
	if cfg.Password != "" {
		dsn += ",p=" + cfg.Password
	}
	out, err := exec.Command("pt-online-schema-change", "--alter", "ADD COLUMN c INT NOT NULL DEFAULT 5",
		"--execute", "--chunk-size", "300", "--recursion-method", "none", "--no-check-unique-key-change",
		"--set-vars", "lock_wait_timeout=30", dsn).CombinedOutput()
	if err != nil {
		w.halt()
		t.Fatalf("pt-online-schema-change: %v\n%s", err, out)
	}
	// The writer goes on over the swapped table a moment.
	time.Sleep(500 * time.Millisecond)
	w.halt()
	if w.ops.Load() == 0 {
		t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
	}
	myExec(t, s.my, "UPDATE "+s.db+".t SET c = id WHERE id % 10 = 0")
	rowCopyCheck(t, s, r, snap0)
}

// TestRowCopyGhost: gh-ost's statement sequence (as TestGhostCutOver)
// with a writer running, and etlq killed (SIGKILL) in the middle of the
// migration, after the copy's rows reached the hidden copy table and a
// checkpoint passed them: the restarted run takes the copy up again from
// its checkpoint; that run ends (as kill -9) right after the swap's
// RENAME at the cut-over (ETLQ_TEST_FAULT), and the next one, from the
// checkpoint before the cut-over, sends neither t's nor the copy's rows
// up to it again, reads nothing again, and removes the swap file once a
// checkpoint passed the cut-over. The new column's values that only the
// copy holds (c = id where id % 10 = 0) are in the target.
func TestRowCopyGhost(t *testing.T) {
	t.Parallel()
	onBothServers(t, testRowCopyGhost)
}

func testRowCopyGhost(t *testing.T, myDSN string) {
	s, r := rowCopySetup(t, myDSN)
	db, my := s.db, s.my
	w := startChurn(t, myDSN, db+".t", 3000, churnOptions{workers: 2, pause: 2 * time.Millisecond})
	myExec(t, my,
		"CREATE TABLE "+db+"._t_gho LIKE "+db+".t",
		"ALTER TABLE "+db+"._t_gho ADD COLUMN c INT NOT NULL DEFAULT 5",
		"CREATE TABLE "+db+"._t_ghc (id bigint auto_increment, last_update timestamp not null DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, hint varchar(64) charset ascii not null, value varchar(4096) charset ascii not null, primary key(id), unique key hint_uidx(hint)) auto_increment=256",
		"INSERT INTO "+db+"._t_ghc (id, hint, value) VALUES (2, 'state', 'GhostTableMigrated') ON DUPLICATE KEY UPDATE last_update = NOW(), value = VALUES(value)",
	)
	copyChunks := func(from, to int) {
		for lo := from; lo <= to; lo += 500 {
			myExec(t, my, fmt.Sprintf("INSERT IGNORE INTO %[1]s._t_gho (id, status, amount) (SELECT id, status, amount FROM %[1]s.t FORCE INDEX (PRIMARY) WHERE id >= %[2]d AND id <= %[3]d LOCK IN SHARE MODE)", db, lo, lo+499),
				fmt.Sprintf("INSERT INTO %s._t_ghc (id, hint, value) VALUES (1, 'heartbeat', NOW()) ON DUPLICATE KEY UPDATE last_update = NOW(), value = VALUES(value)", db))
		}
	}
	copyChunks(1, 1500)
	// The copy's rows reach the hidden copy table; a checkpoint passes
	// them (commit interval: 1 s); then kill -9.
	r.waitFor(t, "the copy's rows in the copy table", 60*time.Second, func() (bool, string) {
		n, err := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM %s.t__etlq_copy", db))
		return err == nil && n >= 1000, fmt.Sprint(n, err)
	})
	time.Sleep(3 * time.Second)
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
	first := r.out.String()
	if !strings.Contains(first, "following the tool's copy row by row") {
		t.Errorf("the log does not say the copy is followed:\n%s", first)
	}
	copyChunks(1501, 3000)
	r.start(t)
	w.halt()
	r.waitFor(t, "the copy's rows in the copy table", 60*time.Second, func() (bool, string) {
		n, err := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM %s.t__etlq_copy", db))
		return err == nil && n >= 2500, fmt.Sprint(n, err)
	})
	time.Sleep(2 * time.Second)
	r.stop(t)
	// The cut-over, with the run ended (as kill -9) right after the
	// swap's RENAME, before any checkpoint passed it.
	r.env = []string{"ETLQ_TEST_FAULT=rowcopy-swapped:p_t"}
	r.start(t)
	r.waitFor(t, "the run started", 60*time.Second, func() (bool, string) {
		return strings.Contains(r.out.String(), "msg=starting"), ""
	})
	if w.ops.Load() == 0 {
		t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
	}
	myExec(t, my,
		"REPLACE INTO "+db+"._t_gho (id, status, amount, c) SELECT t.id, t.status, t.amount, COALESCE(g.c, 5) FROM "+db+".t t LEFT JOIN "+db+"._t_gho g ON g.id = t.id",
		"DELETE FROM "+db+"._t_gho WHERE id NOT IN (SELECT id FROM "+db+".t)",
		"UPDATE "+db+"._t_gho SET c = id WHERE id % 10 = 0",
	)
	myExec(t, my, "CREATE TABLE "+db+"._t_del (id int auto_increment primary key) engine=InnoDB comment='ghost-cut-over-sentry'")
	locker := testenv.MySQLConn(t, myDSN)
	renamer := testenv.MySQLConn(t, myDSN)
	myExec(t, locker, "SET SESSION lock_wait_timeout = 30", "LOCK TABLES "+db+".t WRITE, "+db+"._t_del WRITE")
	renamed := make(chan error, 1)
	go func() {
		_, err := renamer.Execute("RENAME TABLE " + db + ".t TO " + db + "._t_del, " + db + "._t_gho TO " + db + ".t")
		renamed <- err
	}()
	for deadline := time.Now().Add(30 * time.Second); ; {
		rows := myRows(t, my, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'RENAME TABLE "+db+".t TO%'")
		if len(rows) == 1 && rows[0] == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the RENAME did not start waiting on the lock")
		}
		time.Sleep(50 * time.Millisecond)
	}
	myExec(t, locker, "DROP TABLE "+db+"._t_del", "UNLOCK TABLES")
	if err := <-renamed; err != nil {
		t.Fatalf("cut-over rename: %v", err)
	}
	myExec(t, my, "DROP TABLE IF EXISTS "+db+"._t_ghc", "DROP TABLE IF EXISTS "+db+"._t_del")
	r.waitFault(t, "rowcopy-swapped:p_t", 90*time.Second)
	swap := filepath.Join(r.state, "rowcopy", "p_t.swap")
	if _, err := os.Stat(swap); err != nil {
		t.Fatalf("no swap file after the swap: %v", err)
	}
	myExec(t, my, "UPDATE "+db+".t SET status = 'after', c = c + 1 WHERE id % 9 = 0", "DELETE FROM "+db+".t WHERE id % 13 = 0",
		"INSERT INTO "+db+".t VALUES (5000, 'new', 1.00, 42)")

	// The restart from the checkpoint before the cut-over, with the swap
	// file: the target already holds the new t; the replay sends neither
	// t's nor the copy's rows up to the cut-over again, nothing is read
	// again, and streaming goes on.
	r.env = nil
	r.start(t)
	myExec(t, my, "UPDATE "+db+".t SET c = c + 100 WHERE id % 7 = 0", "INSERT INTO "+db+".t VALUES (5001, 'late', 2.00, 43)")
	myQ, chQ := oscQueries(db, true)
	r.waitSame(t, my, s.ch, myQ, chQ, 120*time.Second)
	compareTable(t, my, s.ch, db, "t", db, "t", db+".t_current")
	if n := r.snapshotRows(t, db); n != 0 {
		t.Errorf("etlq_snapshot_rows_total of %s.t is %v after the restart: the table was read again", db, n)
	}
	out := r.stop(t)
	for _, want := range []string{"the targets already hold the copy swapped in", "row copy: the copy was swapped in before the restart"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "re-snapshot") || strings.Contains(out, "snapshotting it") {
		t.Errorf("the log says the table was read again:\n%s", out)
	}
	// A checkpoint passed the cut-over: the swap file is of no more use.
	if _, err := os.Stat(swap); !os.IsNotExist(err) {
		t.Errorf("the swap file is left after a checkpoint passed the cut-over: %v", err)
	}
	if left := chTablesLeft(t, s, "t", "t_current"); len(left) > 0 {
		t.Errorf("target tables left: %v", left)
	}
}

// TestRowCopyStartedMidMigration: etlq started (with a new state
// directory) after gh-ost created and filled its copy did not follow the
// copy since its CREATE: the cut-over reads the new table again, the
// log says why, and the target equals the table (FULL row metadata);
// under the server's default metadata the copy's schema is not known and
// the run stops, naming the table and the fix.
func TestRowCopyStartedMidMigration(t *testing.T) {
	t.Parallel()
	onBothServers(t, testRowCopyStartedMidMigration)
}

func testRowCopyStartedMidMigration(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my := s.db, s.my
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t "+liveTableDef)
	seed(t, my, db+".t", 3000)
	myExec(t, my,
		"CREATE TABLE "+db+"._t_gho LIKE "+db+".t",
		"ALTER TABLE "+db+"._t_gho ADD COLUMN c INT NOT NULL DEFAULT 5",
		"INSERT IGNORE INTO "+db+"._t_gho (id, status, amount) SELECT id, status, amount FROM "+db+".t")
	dir := t.TempDir()
	r := &rowCopyRun{file: filepath.Join(dir, "p.etl"), state: filepath.Join(dir, "state")}
	writeFile(t, r.file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_t FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t;
`, myDSN, s.chDSN, db, testServerID()))
	r.start(t)
	myQ, chQ := oscQueries(db, false)
	r.waitSame(t, my, s.ch, myQ, chQ, 90*time.Second)
	w := startChurn(t, myDSN, db+".t", 3000, churnOptions{workers: 2, pause: 2 * time.Millisecond})
	time.Sleep(time.Second)
	w.halt()
	if w.ops.Load() == 0 {
		t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
	}
	myExec(t, my,
		"REPLACE INTO "+db+"._t_gho (id, status, amount, c) SELECT t.id, t.status, t.amount, COALESCE(g.c, 5) FROM "+db+".t t LEFT JOIN "+db+"._t_gho g ON g.id = t.id",
		"DELETE FROM "+db+"._t_gho WHERE id NOT IN (SELECT id FROM "+db+".t)",
		"UPDATE "+db+"._t_gho SET c = id WHERE id % 10 = 0",
		"RENAME TABLE "+db+".t TO "+db+"._t_del, "+db+"._t_gho TO "+db+".t",
		"DROP TABLE "+db+"._t_del",
		"UPDATE "+db+".t SET status = 'after' WHERE id % 9 = 0")
	if myDSN == testenv.MySQLMinimalDSN(t) {
		// Without column metadata in the binlog the copy's schema at the
		// cut-over is not known (etlq did not see its CREATE and ALTER):
		// the run stops and says to re-snapshot (docs/live-tables.md).
		select {
		case err := <-r.done:
			out := r.out.String()
			if err == nil || !strings.Contains(out, db+".t at ") || !strings.Contains(out, "is not known") || !strings.Contains(out, "re-snapshot the table") || !strings.Contains(out, "not followed since its CREATE") {
				t.Errorf("want the run stopped naming the table and the fix: %v\n%s", err, out)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("the run goes on with a schema it cannot know:\n%s", r.out.String())
		}
		return
	}
	myQ, chQ = oscQueries(db, true)
	r.waitSame(t, my, s.ch, myQ, chQ, 120*time.Second)
	compareTable(t, my, s.ch, db, "t", db, "t", db+".t_current")
	out := r.stop(t)
	if !strings.Contains(out, "online schema change cut-over: re-snapshot") || !strings.Contains(out, "not followed since its CREATE") {
		t.Errorf("the log does not say why the table is read again:\n%s", out)
	}
	if strings.Contains(out, "following the tool's copy row by row") {
		t.Errorf("a copy etlq did not see created was taken as a row copy:\n%s", out)
	}
}
