package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRejoinedTableDropped: a stopped pipeline whose table t is requested
// for a re-read (etlq resnapshot, as its stop advised) while t was
// dropped at the source after the stop, before the pipeline rejoins. The
// DROP left the stream while the pipeline was stopped; its catch-up
// leaves t out (the request reads it again), so the truncate of the DROP
// never reached its target. The end state must be the source's: t's rows
// gone from the pipeline's upsert target (a DROP's truncate, docs/live-tables.md),
// the request done or failed with a reason, the other pipelines on.
func TestRejoinedTableDropped(t *testing.T) {
	t.Parallel()
	onBothServers(t, testRejoinedTableDropped)
}

func testRejoinedTableDropped(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, d DATE)",
		"CREATE TABLE "+db+".u (id INT PRIMARY KEY, v INT)",
		"INSERT INTO "+db+".t VALUES (1, '2024-01-02'), (2, '2024-03-04'), (3, NULL)",
		"INSERT INTO "+db+".u (id, v) VALUES (1, 10), (2, 20)")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[3]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_ok FROM binlog s.%[4]s.u INTO clickhouse dw.%[4]s.u_ok WITH (flush_interval = '100ms');
CREATE PIPELINE p_t FROM binlog s.%[4]s.t INTO clickhouse dw.%[4]s.t_t MODE upsert KEY (id) WITH (flush_interval = '100ms');
CREATE PIPELINE p_f FROM binlog s.%[4]s.t INTO file '%[5]s' FORMAT jsonl;
`, myDSN, s.chDSN, testServerID(), db, filepath.Join(dir, "t.jsonl")))
	uMy := "SELECT id, IFNULL(v, 'NULL') FROM " + db + ".u ORDER BY id"
	uCH := "SELECT toString(id), ifNull(toString(v), 'NULL') FROM " + db + ".u_ok_current ORDER BY id"
	tCH := "SELECT toString(id), ifNull(toString(d), 'NULL') FROM " + db + ".t_t_current ORDER BY id"

	a := startApply(t, state, file)
	a.waitSame(t, my, ch, uMy, uCH, 90*time.Second)
	a.waitFor(t, "t's snapshot in its target", 60*time.Second, func() (bool, string) {
		r, _ := chTry(ch, "SELECT toString(count()) FROM "+db+".t_t_current")
		return len(r) == 1 && r[0] == "3", fmt.Sprint(r)
	})
	// A change p_t's target cannot take stops it alone.
	myExec(t, my, "ALTER TABLE "+db+".t MODIFY d INT", "INSERT INTO "+db+".t VALUES (4, 44)")
	a.waitFor(t, "p_t stops alone", 60*time.Second, func() (bool, string) {
		return strings.Contains(a.out.String(), "pipeline stopped; the other pipelines of the source go on"), "no pipeline stopped yet"
	})
	// t is dropped while p_t is stopped; the source's stream (p_f, p_ok)
	// passes the DROP.
	myExec(t, my, "DROP TABLE "+db+".t", "INSERT INTO "+db+".u (id, v) VALUES (3, 30)")
	a.waitSame(t, my, ch, uMy, uCH, 60*time.Second)
	out := a.stopFailing(t)
	advice := regexp.MustCompile(`etlq resnapshot (\S+) (p_t) (\S+)`).FindStringSubmatch(out)
	if advice == nil {
		t.Fatalf("no resnapshot advice for p_t:\n%s", out)
	}
	resOut, resErr := runEtlq(t, "resnapshot", "--state-dir", state, advice[1], advice[2], strings.TrimRight(advice[3], ",.;"))

	myExec(t, my, "INSERT INTO "+db+".u (id, v) VALUES (4, 40)")
	out2, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err != nil {
		t.Errorf("apply after the drop: %v", err)
	}
	diffRows(t, myRows(t, my, uMy), chRows(t, ch, uCH))
	if rows := chRows(t, ch, tCH); len(rows) != 0 {
		t.Errorf("p_t's target keeps %d rows of the dropped table: %v", len(rows), rows)
	}
	reqs, _ := filepath.Glob(filepath.Join(state, "resnapshot", "*.json"))
	if len(reqs) != 0 {
		t.Errorf("requests still pending: %v", reqs)
	}
	failed, _ := filepath.Glob(filepath.Join(state, "resnapshot", "*.failed"))
	for _, f := range failed {
		b, _ := os.ReadFile(f)
		reason, _, _ := strings.Cut(string(b), "\n")
		if !strings.Contains(reason, "dropped") && !strings.Contains(reason, "no longer") {
			t.Errorf("request failed without saying the table is gone: %q", reason)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "source-s@p_t.json")); err == nil {
		t.Errorf("p_t did not rejoin: its own checkpoint is still there")
	}
	// A further run is clean.
	out3, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err != nil {
		t.Errorf("a further apply: %v", err)
	}
	if t.Failed() {
		t.Logf("stop:\n%s\nresnapshot (%v):\n%s\napply:\n%s\nfurther:\n%s", out, resErr, resOut, out2, out3)
	}
}
