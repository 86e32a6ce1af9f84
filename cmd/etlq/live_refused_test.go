package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRefusedRowStopsItsPipeline: a row ClickHouse cannot store (a zero
// date, inserted with sql_mode = ”, into a Date column), under the
// default on_error = 'fail', stops the pipeline that writes it alone while
// streaming: the other pipeline of the source keeps streaming and its
// checkpoint moves; the run exits 1 naming the stopped pipeline. A run
// with the file not fixed stops it again, alone; with on_error = 'skip'
// it catches up and its target equals the source but the bad row.
// (Before, the sink's refusal came back as a write error of the source:
// every pipeline stopped.)
func TestRefusedRowStopsItsPipeline(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my, ch := s.db, s.my, s.ch
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t1 (id INT PRIMARY KEY, d DATE)",
			"CREATE TABLE "+db+".t2 (id INT PRIMARY KEY, v INT)",
			"INSERT INTO "+db+".t1 VALUES (1, '2020-01-01'), (2, '2021-02-03')",
			"INSERT INTO "+db+".t2 VALUES (1, 10), (2, 20)")
		file, state, write, my1Q, ch1Q, my2Q, ch2Q := refusedFiles(t, s, myDSN)
		a := startApply(t, state, file)
		a.waitSame(t, my, ch, my1Q, ch1Q, 90*time.Second)
		a.waitSame(t, my, ch, my2Q, ch2Q, 60*time.Second)

		// Good rows, the bad one and a good one, each its own
		// transaction, in one burst (a procedure; it keeps the sql_mode
		// of its CREATE): the writer inserts several of these batches
		// together, so p1's own checkpoint must be before the first batch
		// of the failed insert, or the good rows in it would be lost.
		var burst strings.Builder
		for i := 100; i < 120; i++ {
			fmt.Fprintf(&burst, "INSERT INTO %s.t1 VALUES (%d, '2020-05-%02d'); ", db, i, i-99)
		}
		myExec(t, my, "SET SESSION sql_mode = ''",
			"CREATE PROCEDURE "+db+".burst() BEGIN "+burst.String()+
				"INSERT INTO "+db+".t1 VALUES (60000, '0000-00-00'); INSERT INTO "+db+".t1 VALUES (60001, '2022-03-04'); END",
			"CALL "+db+".burst()")
		a.waitFor(t, "p1 stops alone", 60*time.Second, func() (bool, string) {
			out := a.out.String()
			return strings.Contains(out, "pipeline stopped; the other pipelines of the source go on") &&
				strings.Contains(out, "pipeline p1 stopped"), "no pipeline stopped alone yet"
		})
		f0, p0 := checkpointPos(t, filepath.Join(state, "source-s.json"))
		for i := 3; i <= 50; i++ {
			myExec(t, my, fmt.Sprintf("INSERT INTO %s.t2 VALUES (%d, %d)", db, i, 10*i))
		}
		myExec(t, my, "UPDATE "+db+".t2 SET v = v + 1 WHERE id <= 5")
		a.waitSame(t, my, ch, my2Q, ch2Q, 60*time.Second)
		a.waitFor(t, "the source's checkpoint moves past p2's rows", 30*time.Second, func() (bool, string) {
			f, p := checkpointPos(t, filepath.Join(state, "source-s.json"))
			return f > f0 || f == f0 && p > p0, fmt.Sprintf("at %s:%d, was %s:%d", f, p, f0, p0)
		})
		out := a.stopFailing(t)
		if strings.Contains(out, "pipeline p2 stopped") {
			t.Errorf("p2 stopped too:\n%s", out)
		}
		if n := len(chRows(t, ch, "SELECT id FROM "+db+".t1_current WHERE id >= 60000")); n != 0 {
			t.Errorf("t1's target has %d rows at or after the refused one: p1 did not stop before it", n)
		}
		t.Logf("of the 20 good rows before the refused one, %d reached t1 before p1 stopped (the others shared its insert)",
			len(chRows(t, ch, "SELECT id FROM "+db+".t1_current WHERE id BETWEEN 100 AND 119")))

		// Not fixed: p1 stops again, alone, at the same row; p2 follows.
		myExec(t, my, "INSERT INTO "+db+".t2 VALUES (51, 510)")
		out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		if err == nil || !strings.Contains(out, "pipeline p1 stopped") || strings.Contains(out, "pipeline p2 stopped") {
			t.Errorf("the run with p1 not fixed (%v) does not stop it alone again:\n%s", err, out)
		}
		diffRows(t, myRows(t, my, my2Q), chRows(t, ch, ch2Q))

		// Fixed: on_error = 'skip' lets the row through; p1 catches up and
		// rejoins.
		write(", on_error = 'skip'")
		myExec(t, my, "INSERT INTO "+db+".t1 VALUES (60002, '2023-04-05')", "INSERT INTO "+db+".t2 VALUES (52, 520)")
		out = mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		if !strings.Contains(out, "rejoined its stream") {
			t.Errorf("p1 did not rejoin the source's stream:\n%s", out)
		}
		diffRows(t, myRows(t, my, my1Q), chRows(t, ch, ch1Q))
		diffRows(t, myRows(t, my, my2Q), chRows(t, ch, ch2Q))
	})
}

// TestRefusedRowInFirstSnapshot: a row ClickHouse cannot store met in
// the first snapshot (no checkpoint yet) stops its pipeline alone too: its
// own checkpoint is the stream's start, its snapshot not done, and the
// other pipeline's snapshot and stream go on. Fixed (on_error = 'skip'),
// it reads its table again from there in a stream of its own (a
// checkpoint inside a snapshot cannot be ordered with the source's) and
// rejoins on the next run; changes made meanwhile arrive in both targets.
func TestRefusedRowInFirstSnapshot(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my, ch := s.db, s.my, s.ch
		myExec(t, my, "CREATE DATABASE "+db, "SET SESSION sql_mode = ''",
			"CREATE TABLE "+db+".t1 (id INT PRIMARY KEY, d DATE)",
			"CREATE TABLE "+db+".t2 (id INT PRIMARY KEY, v INT)",
			"INSERT INTO "+db+".t1 VALUES (1, '2020-01-01'), (60000, '0000-00-00'), (60001, '2021-02-03')",
			"INSERT INTO "+db+".t2 VALUES (1, 10), (2, 20)")
		file, state, write, my1Q, ch1Q, my2Q, ch2Q := refusedFiles(t, s, myDSN)
		out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		if err == nil || !strings.Contains(out, "pipeline p1 stopped") || !strings.Contains(out, "the other pipelines of the source go on") ||
			strings.Contains(out, "pipeline p2 stopped") {
			t.Fatalf("a refused row in p1's snapshot (%v) does not stop p1 alone:\n%s", err, out)
		}
		diffRows(t, myRows(t, my, my2Q), chRows(t, ch, ch2Q))
		if f, _ := checkpointPos(t, filepath.Join(state, "source-s@p1.json")); f == "" {
			t.Fatalf("p1 has no checkpoint of its own:\n%s", out)
		}

		myExec(t, my, "INSERT INTO "+db+".t1 VALUES (2, '2022-02-02')", "INSERT INTO "+db+".t2 VALUES (3, 30)",
			"UPDATE "+db+".t1 SET d = '2019-09-09' WHERE id = 1")
		write(", on_error = 'skip'")
		// Its checkpoint is in the middle of a snapshot, which cannot be
		// ordered with the source's: it runs its own stream this run, its
		// snapshot read again, and rejoins on the next.
		out = mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		if !strings.Contains(out, "a stopped pipeline keeps its own stream this run") {
			t.Errorf("p1 did not run its own stream after its snapshot stopped:\n%s", out)
		}
		diffRows(t, myRows(t, my, my1Q), chRows(t, ch, ch1Q))
		diffRows(t, myRows(t, my, my2Q), chRows(t, ch, ch2Q))
		myExec(t, my, "INSERT INTO "+db+".t1 VALUES (3, '2023-03-03')", "INSERT INTO "+db+".t2 VALUES (4, 40)")
		out = mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		if !strings.Contains(out, "rejoined its stream") {
			t.Errorf("p1 did not rejoin the source's stream:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(state, "source-s@p1.json")); !os.IsNotExist(err) {
			t.Errorf("p1's own checkpoint is still there after it rejoined (%v)", err)
		}
		diffRows(t, myRows(t, my, my1Q), chRows(t, ch, ch1Q))
		diffRows(t, myRows(t, my, my2Q), chRows(t, ch, ch2Q))
	})
}

// refusedFiles writes the two-pipeline file of the refused-row tests (p1
// reads t1, p2 t2, p1With appended to p1's WITH by write) and returns it,
// a state directory, write, and the queries comparing t1 (but the bad
// row 60000) and t2 with their targets.
func refusedFiles(t *testing.T, s *scratch, myDSN string) (file, state string, write func(p1With string), my1Q, ch1Q, my2Q, ch2Q string) {
	db := s.db
	dir := t.TempDir()
	file, state = filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	sid := testServerID()
	write = func(p1With string) {
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[3]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p1 FROM binlog s.%[4]s.t1 INTO clickhouse dw.%[4]s.t1 WITH (flush_interval = '100ms'%[5]s);
CREATE PIPELINE p2 FROM binlog s.%[4]s.t2 INTO clickhouse dw.%[4]s.t2 WITH (flush_interval = '100ms');
`, myDSN, s.chDSN, sid, db, p1With))
	}
	write("")
	my1Q = "SELECT id, CAST(d AS CHAR) FROM " + db + ".t1 WHERE id <> 60000 ORDER BY id"
	ch1Q = "SELECT toString(id), toString(d) FROM " + db + ".t1_current ORDER BY id"
	my2Q = "SELECT id, v FROM " + db + ".t2 ORDER BY id"
	ch2Q = "SELECT toString(id), toString(v) FROM " + db + ".t2_current ORDER BY id"
	return
}
