package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRowsChangedByDDLNoUpsertTarget pins what partition operations that
// remove or bring in rows without row events (TRUNCATE, DROP and EXCHANGE
// PARTITION) do to a table whose pipelines write no upsert target: a
// ClickHouse changelog and a jsonl file. The table cannot be read again in
// place, so each statement gets a WARN that names what the targets keep
// and what to do (etlq resnapshot; verify --repair writes no such target);
// the targets get no change for those rows (no delete, no row of the
// exchanged-in ones), nothing stops, the rows written after the
// statements arrive and the checkpoint moves past them.
func TestRowsChangedByDDLNoUpsertTarget(t *testing.T) {
	t.Parallel()
	onBothServers(t, testRowsChangedByDDLNoUpsertTarget)
}

func testRowsChangedByDDLNoUpsertTarget(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".pt (id INT NOT NULL, y INT NOT NULL, k INT, PRIMARY KEY (id, y)) PARTITION BY RANGE (y) ("+
			"PARTITION p1 VALUES LESS THAN (2001), PARTITION p2 VALUES LESS THAN (2002), PARTITION p3 VALUES LESS THAN (2003), "+
			"PARTITION pmax VALUES LESS THAN MAXVALUE)",
		"INSERT INTO "+db+".pt (id, y, k) SELECT seq, 2000 + seq % 4, seq FROM "+db+".seq_1_to_200",
		"CREATE TABLE "+db+".px (id INT NOT NULL, y INT NOT NULL, k INT, PRIMARY KEY (id, y))",
		"INSERT INTO "+db+".px VALUES (90001, 2002, 1), (90002, 2002, 2)")
	dir := t.TempDir()
	file, state, jsonl := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state"), filepath.Join(dir, "pt.jsonl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_log FROM binlog s.%[3]s.pt INTO clickhouse dw.%[3]s.pt_log MODE changelog WITH (flush_interval = '100ms');
CREATE PIPELINE p_f FROM binlog s.%[3]s.pt INTO file '%[5]s' FORMAT jsonl;
`, myDSN, s.chDSN, db, testServerID(), jsonl))
	logRows := func() []string {
		r, _ := chTry(ch, "SELECT concat(_op, ' ', toString(count())) FROM "+db+".pt_log GROUP BY _op ORDER BY _op")
		return r
	}
	fileLines := func() int {
		b, _ := os.ReadFile(jsonl)
		return strings.Count(string(b), "\n")
	}
	both := func(a *liveApply, what, logWant string, lines int) {
		t.Helper()
		a.waitFor(t, what, 90*time.Second, func() (bool, string) {
			r, n := logRows(), fileLines()
			return strings.Join(r, ", ") == logWant && n == lines, fmt.Sprintf("changelog %v, file %d lines", r, n)
		})
	}

	a := startApply(t, state, file)
	both(a, "the snapshot in both targets", "read 200", 200)
	a.waitFor(t, "a checkpoint", 30*time.Second, func() (bool, string) {
		_, err := os.Stat(filepath.Join(state, "source-s.json"))
		return err == nil, fmt.Sprint(err)
	})
	before, _ := os.ReadFile(filepath.Join(state, "source-s.json"))
	myExec(t, my, "ALTER TABLE "+db+".pt TRUNCATE PARTITION p1",
		"ALTER TABLE "+db+".pt DROP PARTITION p2",
		"ALTER TABLE "+db+".pt EXCHANGE PARTITION p3 WITH TABLE "+db+".px",
		"INSERT INTO "+db+".pt VALUES (5001, 2005, 1), (5002, 2005, 2)",
		"UPDATE "+db+".pt SET k = -k WHERE id = 5001")
	// The rows after the statements arrive; those the statements removed
	// or brought in get no change.
	both(a, "the changes after the statements", "insert 2, read 200, update 1", 203)
	a.waitFor(t, "the checkpoint passes the statements", 30*time.Second, func() (bool, string) {
		now, _ := os.ReadFile(filepath.Join(state, "source-s.json"))
		return string(now) != string(before), "unchanged"
	})
	a.running(t)
	out := a.stop(t)
	if strings.Contains(out, "pipeline stopped") || strings.Contains(out, "level=ERROR") {
		t.Errorf("something stopped or failed:\n%s", out)
	}
	warn := db + ".pt: a statement changed the table's rows without row events in the binlog, and the table cannot be read again in place: no pipeline reading it writes an upsert target"
	if n := strings.Count(out, warn); n != 3 {
		t.Errorf("%d WARNs that pt cannot be read again in place, want 3 (TRUNCATE, DROP, EXCHANGE PARTITION):\n%s", n, out)
	}
	for _, s := range []string{"statement=\"TRUNCATE PARTITION\"", "statement=\"DROP PARTITION\"", "statement=\"EXCHANGE PARTITION … WITH TABLE " + db + ".px\"",
		"run etlq resnapshot FILE PIPELINE " + db + ".pt for each pipeline reading it"} {
		if !strings.Contains(out, s) {
			t.Errorf("the WARN lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "verify --repair") {
		t.Errorf("the WARN advises etlq verify --repair, which writes no changelog or file target:\n%s", out)
	}
	// A further run replays nothing: the checkpoint is past the
	// statements, and neither target gets a row again.
	out2, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err != nil {
		t.Errorf("a further apply: %v\n%s", err, out2)
	}
	if r, n := logRows(), fileLines(); strings.Join(r, ", ") != "insert 2, read 200, update 1" || n != 203 {
		t.Errorf("after a further run: changelog %v, file %d lines\n%s", r, n, out2)
	}
	if strings.Contains(out2, "cannot be read again in place") {
		t.Errorf("a further run met the statements again:\n%s", out2)
	}
}
