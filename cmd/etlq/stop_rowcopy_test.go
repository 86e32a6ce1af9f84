package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

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
	s := newScratch(t, myDSN)
	db, my := s.db, s.my
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t "+liveTableDef)
	seed(t, my, db+".t", 3000)
	px := newCHProxy(t, s.chDSN)
	dir := t.TempDir()
	r := &rowCopyRun{file: filepath.Join(dir, "p.etl"), state: filepath.Join(dir, "state"), env: []string{"ETLQ_TEST_DRAIN_TIMEOUT=3s"}}
	// One insert at a time, of 100 rows: with ClickHouse cut, the next
	// Write of the copy's writer waits for the insert that retries.
	writeFile(t, r.file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse 'clickhouse://%[2]s';
CREATE PIPELINE p_t FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t
  WITH (batch_rows = 100, max_inflight = 1, flush_interval = '100ms', max_backoff = '1s', close_timeout = '1s');
`, myDSN, px.addr(), db, testServerID()))
	r.start(t)
	myQ, chQ := oscQueries(db, false)
	r.waitSame(t, my, s.ch, myQ, chQ, 90*time.Second)

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
