package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIdleMarkAfterDropCreate: a table dropped and created again with other
// columns while etlq is stopped, then altered by the real
// pt-online-schema-change (a row copy swapped into the target), then the
// stream idle on it while the binlog moves on (a writer on a table no
// pipeline reads). The row-less batches that carry checkpoints while the
// tables are idle took the schema of the first table the stream was opened
// with — the dropped one — so the pipeline was planned back to the
// dropped table's columns and stopped with "the table lacks column(s) vip
// … dropped outside etlq" (found by a trial while `etlq verify` ran, with
// the writer paused). Then, with apply stopped, verify says so at once
// with exit status 3 instead of waiting out --lag-timeout (it looked hung).
func TestIdleMarkAfterDropCreate(t *testing.T) {
	t.Parallel()
	onBothServers(t, testIdleMarkAfterDropCreate)
}

func testIdleMarkAfterDropCreate(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t "+liveTableDef, "CREATE TABLE "+db+".side "+liveTableDef)
	seed(t, my, db+".t", 2000)
	seed(t, my, db+".side", 500)
	myExec(t, my, "ALTER TABLE "+db+".t ADD COLUMN vip BIT(3) DEFAULT b'101'")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_t FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t;
`, myDSN, s.chDSN, db, testServerID()))
	myQ, chQ := oscQueries(db, false)
	a := startApply(t, state, file)
	a.waitSame(t, my, ch, myQ, chQ, 90*time.Second)
	// (The writer's INSERTs name no columns: they fail on t, which has
	// more; its UPDATEs and DELETEs go through.)
	w := startChurn(t, myDSN, db+".t", 2000, churnOptions{workers: 1, pause: 2 * time.Millisecond})
	time.Sleep(time.Second)
	a.stop(t)
	time.Sleep(time.Second) // changes of the old table after the checkpoint
	w.halt()
	myExec(t, my, "DROP TABLE "+db+".t", "CREATE TABLE "+db+".t "+liveTableDef)
	seed(t, my, db+".t", 2000)
	myExec(t, my, "ALTER TABLE "+db+".t ADD COLUMN k2 INT NOT NULL DEFAULT 2")
	a = startApply(t, state, file)
	a.waitSame(t, my, ch, myQ, chQ, 90*time.Second)
	w = startChurn(t, myDSN, db+".t", 2000, churnOptions{workers: 1, pause: 2 * time.Millisecond})
	ptOnlineSchemaChange(t, myDSN, db, "ADD COLUMN pt2 INT NOT NULL DEFAULT 11")
	w.halt()
	if w.ops.Load() == 0 {
		t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
	}
	// t idle, the binlog moving on: row-less batches carry the checkpoints.
	side := startChurn(t, myDSN, db+".side", 500, churnOptions{workers: 1, pause: 5 * time.Millisecond})
	time.Sleep(6 * time.Second)
	side.halt()
	a.running(t)
	wantQ := fmt.Sprintf("SELECT id, status, CAST(amount * 100 AS SIGNED), k2, pt2 FROM %s.t ORDER BY id", db)
	gotQ := fmt.Sprintf("SELECT toString(id), status, toString(toInt64(amount * 100)), toString(k2), toString(pt2) FROM %s.t_current ORDER BY id", db)
	a.waitSame(t, my, ch, wantQ, gotQ, 90*time.Second)
	if v, code, out := runVerify(t, "--state-dir", state, file); code != 0 || !v.OK {
		t.Fatalf("verify while apply runs: exit %d\n%s\napply:\n%s", code, out, a.out.String())
	}
	a.running(t)
	out := a.stop(t)
	if strings.Contains(out, "dropped outside etlq") {
		t.Errorf("the pipeline met the dropped table's columns again:\n%s", out)
	}

	// apply stopped, a change it has not applied: verify says so at once
	// (exit 3), not after --lag-timeout (30 minutes here; runEtlq kills it
	// after 3).
	myExec(t, my, "UPDATE "+db+".t SET status = 'changed' WHERE id = 7")
	v, code, vout := runVerifyLag(t, "30m", "--state-dir", state, file)
	if code != 3 || len(v.Pipelines) != 1 || !v.Pipelines[0].ApplyStopped || !strings.Contains(v.Pipelines[0].Unconfirmed, "etlq apply is not running") {
		t.Fatalf("verify with apply stopped: exit %d, want 3 saying apply is not running:\n%s", code, vout)
	}
	if !strings.Contains(vout, "etlq apply is not running with state directory") {
		t.Errorf("verify does not say on stderr that apply is not running:\n%s", vout)
	}
	// Started again, it applies the change: verify passes.
	a = startApply(t, state, file)
	a.waitSame(t, my, ch, wantQ, gotQ, 90*time.Second)
	if v, code, out := runVerify(t, "--state-dir", state, file); code != 0 || !v.OK {
		t.Fatalf("verify after the restart: exit %d\n%s", code, out)
	}
	a.stop(t)
}
