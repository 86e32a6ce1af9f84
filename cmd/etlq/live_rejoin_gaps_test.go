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

// TestRejoinedRereadFails: a stopped pipeline whose table t is requested
// for a re-read (etlq resnapshot, as its stop advised) rejoins the
// source's checkpoint without catching t up: the changes of t between its
// own checkpoint and the join come only from the re-read. When the
// re-read then cannot be carried out (here: t lost its primary key while
// etlq was stopped, so its rows cannot be read again in place), the
// request must stay pending and the pipeline must say it is not complete
// (it stops alone, the run exits 1), so that a run after the cause is
// fixed (and passed by the source's checkpoint) reads t again and the
// target ends exact. Before, the request was
// renamed .failed with only an ERROR, the run exited 0, and the changes of
// t made while the pipeline was stopped were in neither (the target
// lacked them for good).
//
// The rejoined state is also killed (SIGKILL) right after the join, the
// request still pending: the next apply ends exact all the same.
func TestRejoinedRereadFails(t *testing.T) {
	t.Parallel()
	onBothServers(t, testRejoinedRereadFails)
}

func testRejoinedRereadFails(t *testing.T, myDSN string) {
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
	tMy := "SELECT id, IFNULL(d, 'NULL') FROM " + db + ".t ORDER BY id"
	tCH := "SELECT toString(id), ifNull(toString(d), 'NULL') FROM " + db + ".t_t_current ORDER BY id"

	a := startApply(t, state, file)
	a.waitSame(t, my, ch, uMy, uCH, 90*time.Second)
	a.waitFor(t, "t's snapshot in its target", 60*time.Second, func() (bool, string) {
		r, _ := chTry(ch, "SELECT toString(count()) FROM "+db+".t_t_current")
		return len(r) == 1 && r[0] == "3", fmt.Sprint(r)
	})
	// A change p_t's target cannot take stops it alone (p_f, which
	// reads the column too and takes any type, keeps the table from being
	// rebuilt); t changes on while p_ok and p_f stream, and the source's
	// checkpoint passes those changes.
	myExec(t, my, "ALTER TABLE "+db+".t MODIFY d INT",
		"INSERT INTO "+db+".t VALUES (4, 44)")
	a.waitFor(t, "p_t stops alone", 60*time.Second, func() (bool, string) {
		return strings.Contains(a.out.String(), "pipeline stopped; the other pipelines of the source go on"), "no pipeline stopped yet"
	})
	// The re-read of t will not be carried out: t has no primary key
	// from here on (before the source's checkpoint).
	myExec(t, my, "INSERT INTO "+db+".t VALUES (5, 55)", "UPDATE "+db+".t SET d = 9 WHERE id = 2", "DELETE FROM "+db+".t WHERE id = 3",
		"ALTER TABLE "+db+".t DROP PRIMARY KEY", "INSERT INTO "+db+".u (id, v) VALUES (3, 30)")
	a.waitSame(t, my, ch, uMy, uCH, 60*time.Second)
	out := a.stopFailing(t)
	advice := regexp.MustCompile(`etlq resnapshot (\S+) (p_t) (\S+)`).FindStringSubmatch(out)
	if advice == nil {
		t.Fatalf("no resnapshot advice for p_t:\n%s", out)
	}
	mustEtlq(t, "resnapshot", "--state-dir", state, advice[1], advice[2], strings.TrimRight(advice[3], ",.;"))

	out2, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err == nil || !strings.Contains(out2, "pipeline p_t stopped") {
		t.Errorf("apply whose rejoined re-read failed exits %v, without p_t stopped:\n%s", err, out2)
	}
	reqs, _ := filepath.Glob(filepath.Join(state, "resnapshot", "*.json"))
	failed, _ := filepath.Glob(filepath.Join(state, "resnapshot", "*.failed"))
	if len(reqs) != 1 || len(failed) != 0 {
		t.Fatalf("the request of a rejoined table is not pending after its re-read failed: %v, failed %v:\n%s", reqs, failed, out2)
	}

	// The cause fixed. The next run's re-read starts at the source's
	// checkpoint, before the fix: it fails again, the request stays; its
	// stream passes the fix.
	myExec(t, my, "ALTER TABLE "+db+".t ADD PRIMARY KEY (id)", "INSERT INTO "+db+".u (id, v) VALUES (4, 40)")
	outFix, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err == nil || !strings.Contains(outFix, "pipeline p_t stopped") {
		t.Errorf("apply whose re-read starts before the fix exits %v, without p_t stopped:\n%s", err, outFix)
	}
	if reqs, _ := filepath.Glob(filepath.Join(state, "resnapshot", "*.json")); len(reqs) != 1 {
		t.Fatalf("the request is not pending: %v\n%s", reqs, outFix)
	}
	// The one after reads t again; killed right after the join, the one
	// after that does.
	k := startApply(t, state, file)
	k.waitFor(t, "p_t rejoins", 60*time.Second, func() (bool, string) {
		return strings.Contains(k.out.String(), "rejoined the source's stream"), "not rejoined yet"
	})
	k.cmd.Process.Kill()
	<-k.done
	out3, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err != nil {
		t.Fatalf("apply after the fix: %v\n%s", err, out3)
	}
	if left, _ := os.ReadDir(filepath.Join(state, "resnapshot")); len(left) > 0 {
		t.Errorf("requests left: %v\n%s", left, out3)
	}
	diffRows(t, myRows(t, my, tMy), chRows(t, ch, tCH))
	diffRows(t, myRows(t, my, uMy), chRows(t, ch, uCH))
	if t.Failed() {
		t.Logf("stop:\n%s\nfailed re-read:\n%s\nfailed again:\n%s\nkilled:\n%s\nafter:\n%s", out, out2, outFix, k.out.String(), out3)
	}
}

// TestStoppedRebuildNotStoppedAgain: a pipeline stopped alone by a type
// change its upsert target cannot take, while another pipeline of the
// source still streams the table (a file target that takes any type),
// follows the advice `etlq resnapshot FILE PIPELINE db.t` once: the table
// is rebuilt for it, and the changes of the table between the source's
// checkpoint and the start of the rebuild (made while etlq was stopped,
// streamed for the other pipeline) are the rebuild's (they precede its
// read), not written into the old target, which cannot take them. Before,
// they reached the old target first and stopped the pipeline again, with
// the same advice.
func TestStoppedRebuildNotStoppedAgain(t *testing.T) {
	t.Parallel()
	t.Run("at", func(t *testing.T) {
		t.Parallel()
		onBothServers(t, func(t *testing.T, myDSN string) { testStoppedRebuildNotStoppedAgain(t, myDSN, false) })
	})
	t.Run("behind", func(t *testing.T) {
		t.Parallel()
		onBothServers(t, func(t *testing.T, myDSN string) { testStoppedRebuildNotStoppedAgain(t, myDSN, true) })
	})
}

func testStoppedRebuildNotStoppedAgain(t *testing.T, myDSN string, behind bool) {
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, d DATE)",
		"INSERT INTO "+db+".t VALUES (1, '2024-01-02'), (2, '2024-03-04'), (3, NULL)")
	dir := t.TempDir()
	file, state, jsonl := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state"), filepath.Join(dir, "t.jsonl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[3]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_up FROM binlog s.%[4]s.t INTO clickhouse dw.%[4]s.t_up WITH (flush_interval = '100ms');
CREATE PIPELINE p_f FROM binlog s.%[4]s.t INTO file '%[5]s' FORMAT jsonl;
`, myDSN, s.chDSN, testServerID(), db, jsonl))
	tMy := "SELECT id, IFNULL(d, 'NULL') FROM " + db + ".t ORDER BY id"
	tCH := "SELECT toString(id), ifNull(toString(d), 'NULL') FROM " + db + ".t_up_current ORDER BY id"
	inFile := func(s string) func() (bool, string) {
		return func() (bool, string) {
			b, _ := os.ReadFile(jsonl)
			return strings.Contains(string(b), s), fmt.Sprintf("%d bytes", len(b))
		}
	}

	a := startApply(t, state, file)
	a.waitSame(t, my, ch, tMy, tCH, 90*time.Second)
	myExec(t, my, "INSERT INTO "+db+".t VALUES (10, '2025-05-05')")
	a.waitSame(t, my, ch, tMy, tCH, 60*time.Second)
	a.waitFor(t, "p_f takes the row", 60*time.Second, inFile(`2025-05-05`))
	early, err := os.ReadFile(filepath.Join(state, "source-s.json"))
	if err != nil {
		t.Fatal(err)
	}
	myExec(t, my, "UPDATE "+db+".t SET d = '2025-06-06' WHERE id = 10", "ALTER TABLE "+db+".t MODIFY d INT", "INSERT INTO "+db+".t VALUES (4, 44)")
	a.waitFor(t, "p_up stops alone", 60*time.Second, func() (bool, string) {
		return strings.Contains(a.out.String(), "pipeline stopped; the other pipelines of the source go on"), "no pipeline stopped yet"
	})
	a.waitFor(t, "p_f takes the row after the change", 60*time.Second, inFile(`44`))
	out := a.stopFailing(t)
	if !strings.Contains(out, "pipeline p_up stopped") || strings.Contains(out, "pipeline p_f stopped") {
		t.Fatalf("the type change does not stop p_up alone:\n%s", out)
	}
	advice := regexp.MustCompile(`etlq resnapshot (\S+) (p_up) (\S+)`).FindStringSubmatch(out)
	if advice == nil {
		t.Fatalf("no resnapshot advice for p_up:\n%s", out)
	}
	if behind {
		// As a kill right after the stop leaves it: the source's
		// checkpoint before the change, the stopped pipeline's at it.
		writeFile(t, filepath.Join(state, "source-s.json"), string(early))
	}
	// Changes of t while stopped: after the source's checkpoint, before
	// the rebuild the advice asks for.
	myExec(t, my, "INSERT INTO "+db+".t VALUES (5, 55)", "UPDATE "+db+".t SET d = 7 WHERE id = 1", "DELETE FROM "+db+".t WHERE id = 3")

	mustEtlq(t, "resnapshot", "--state-dir", state, advice[1], advice[2], strings.TrimRight(advice[3], ",.;"))
	out2, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err != nil || strings.Contains(out2, "pipeline p_up stopped") {
		t.Fatalf("the advice followed once, p_up is stopped again (%v):\n%s", err, out2)
	}
	if left, _ := os.ReadDir(filepath.Join(state, "resnapshot")); len(left) > 0 {
		t.Errorf("requests left: %v\n%s", left, out2)
	}
	if !isGone(filepath.Join(state, "source-s@p_up.json")) {
		t.Errorf("p_up's own checkpoint is still there:\n%s", out2)
	}
	diffRows(t, myRows(t, my, tMy), chRows(t, ch, tCH))
	// The other pipeline got the changes (the last one: the delete).
	if b, _ := os.ReadFile(jsonl); !strings.Contains(string(b), `55`) {
		t.Errorf("p_f lacks the changes made while stopped:\n%s", b)
	}
	if t.Failed() {
		t.Logf("stop:\n%s\nafter the resnapshot:\n%s\nearly checkpoint: %s", out, out2, early)
	}
}
