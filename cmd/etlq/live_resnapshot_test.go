package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestResnapshot: `etlq resnapshot` (issue #12) while apply runs and a
// writer keeps changing the table, then while apply is stopped. The
// target drifted from the source behind etlq's back (changes made with
// sql_log_bin = 0, which the binlog never shows): keys deleted at the
// source, rows updated. A resnapshot of a range (--where) makes the target
// equal the source in that range — the deleted keys removed — and leaves
// rows outside it as they were; the resnapshot's rows go to the pipeline
// that asked only (a changelog pipeline on the same table gets no read
// again). A whole-table resnapshot requested while apply is stopped is
// carried out by the next apply, also by an apply --once.
func TestResnapshot(t *testing.T) {
	t.Parallel()
	for _, placement := range []string{"auto", "watermark"} {
		t.Run(placement, func(t *testing.T) {
			onBothServers(t, func(t *testing.T, myDSN string) { testResnapshot(t, myDSN, placement) })
		})
	}
}

// testResnapshot runs TestResnapshot with chunks placed by placement
// (snapshot_position: auto is MariaDB's exact position).
func testResnapshot(t *testing.T, myDSN, placement string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
	seed(t, my, db+".t", 3000)
	// Cold rows the writer never touches: 4001-4005 in the range read
	// again, 4006-4010 outside it.
	myExec(t, my, "INSERT INTO "+db+".t SELECT seq, 'cold', seq FROM "+db+".seq_4001_to_4010")

	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db + "_wm") })
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s'
  WITH (server_id = %[4]d, chunk_rows = 200, snapshot_position = '%[5]s', watermark_table = '%[3]s_wm.marks');
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_up FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t;
CREATE PIPELINE p_log FROM binlog s.%[3]s.t TRANSFORM id, status, amount, _op INTO clickhouse dw.%[3]s.t_log MODE changelog;
`, myDSN, chDSN, db, testServerID(), placement))
	rows := func(where string) (string, string) {
		return fmt.Sprintf("SELECT id, status, CAST(amount * 100 AS SIGNED) FROM %s.t WHERE %s ORDER BY id", db, where),
			fmt.Sprintf("SELECT toString(id), status, toString(toInt64(amount * 100)) FROM %s.t_current WHERE %s ORDER BY id", db, where)
	}
	reads := func() uint64 {
		n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.t_log WHERE _op = 'read'", db))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	a := startApply(t, state, file)
	myQ, chQ := rows("1 = 1")
	a.waitSame(t, my, ch, myQ, chQ, 90*time.Second)
	a.waitFor(t, "the changelog's snapshot", 60*time.Second, func() (bool, string) {
		n := reads()
		return n == 3010, fmt.Sprint(n)
	})

	// Drift the binlog does not show, in the range and outside it.
	drift := func() {
		myExec(t, my, "SET SESSION sql_log_bin = 0",
			"DELETE FROM "+db+".t WHERE id IN (2001, 2002, 4001, 4006)",
			"UPDATE "+db+".t SET status = 'drift' WHERE id IN (2003, 4002, 4007)",
			"UPDATE "+db+".t SET amount = amount + 5 WHERE id = 4003",
			"SET SESSION sql_log_bin = 1")
	}
	drift()
	w := startChurn(t, myDSN, db+".t", 3000, churnOptions{workers: 2, pause: time.Millisecond})
	time.Sleep(500 * time.Millisecond)
	out := mustEtlq(t, "resnapshot", "--state-dir", state, "--where", "id BETWEEN 2001 AND 4005", "--wait", "120s", file, "p_up", db+".t")
	if !strings.Contains(out, "the running apply takes it") || !strings.Contains(out, "resnapshot done") {
		t.Errorf("resnapshot said:\n%s", out)
	}
	time.Sleep(300 * time.Millisecond) // changes after the resnapshot
	w.halt()
	if w.ops.Load() == 0 {
		t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
	}
	inQ, inCH := rows("id <= 4005")
	a.waitSame(t, my, ch, inQ, inCH, 90*time.Second)
	// Outside the range the drift stays: 4006 still in the target, 4007
	// with its old status.
	got, err := chTry(ch, fmt.Sprintf("SELECT toString(id), status FROM %s.t_current WHERE id IN (4006, 4007) ORDER BY id", db))
	if err != nil || strings.Join(got, ",") != "4006|cold,4007|cold" {
		t.Errorf("rows outside the range: %v, %v (want them untouched)", got, err)
	}
	if n := reads(); n != 3010 {
		t.Errorf("the changelog pipeline got %d reads, want the 3010 of its own snapshot only", n)
	}
	log := a.stop(t)
	for _, want := range []string{"resnapshot requested", "resnapshot: reading the table again", "resnapshot done"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log does not say %q:\n%s", want, log)
		}
	}

	// Stopped: the request waits for the next apply, which reads the
	// whole table again (4006 and 4007 come right).
	out = mustEtlq(t, "resnapshot", "--state-dir", state, file, "p_up")
	if !strings.Contains(out, "the next `etlq apply` carries it out") {
		t.Errorf("resnapshot while stopped said:\n%s", out)
	}
	a = startApply(t, state, file)
	a.waitFor(t, "the request carried out", 120*time.Second, func() (bool, string) {
		ents, _ := os.ReadDir(filepath.Join(state, "resnapshot"))
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return len(names) == 0, strings.Join(names, " ")
	})
	a.waitSame(t, my, ch, myQ, chQ, 90*time.Second)
	compareTable(t, my, ch, db, "t", db, "t", db+".t_current")
	a.stop(t)

	// apply --once carries out a request it finds before its stream ends.
	myExec(t, my, "SET SESSION sql_log_bin = 0", "DELETE FROM "+db+".t WHERE id = 4010", "SET SESSION sql_log_bin = 1")
	mustEtlq(t, "resnapshot", "--state-dir", state, file, "p_up", db+".t")
	out = mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if ents, _ := os.ReadDir(filepath.Join(state, "resnapshot")); len(ents) > 0 || !strings.Contains(out, "resnapshot done") {
		t.Errorf("apply --once left the request (%v):\n%s", ents, out)
	}
	compareTable(t, my, ch, db, "t", db, "t", db+".t_current")
}

// TestResnapshotRefused: requests that cannot be carried out are refused
// by the command, with the reason.
func TestResnapshotRefused(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	db, my, chDSN := s.db, s.my, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, v INT)",
		"CREATE TABLE "+db+".u (id INT PRIMARY KEY, v INT)")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s';
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.t TRANSFORM id, v * 2 AS w INTO clickhouse dw.%[3]s.t;
CREATE PIPELINE both FROM binlog s.%[3]s.t, s.%[3]s.u INTO clickhouse dw.%[3]s.b KEY (id) WITH (key_unique_across_tables = true);
CREATE PIPELINE once FROM binlog s.%[3]s.t SNAPSHOT only INTO clickhouse dw.%[3]s.o;
`, myDSN, chDSN, db))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"p", db + ".u"}, "does not read table"},
		{[]string{"nope"}, `has no pipeline "nope"`},
		{[]string{"--where", "v > 3", "p"}, "column v is not passed to the target as it is"},
		{[]string{"--where", "id > 3; DROP TABLE x", "p"}, "is not"},
		{[]string{"--where", "id BETWEN 1 AND 3", "p"}, "--where \"id BETWEN 1 AND 3\", column 4: syntax error: not an SQL condition\n  id BETWEN 1 AND 3\n     ^"},
		{[]string{"--where", "nosuchcol = 1", "p"}, "unknown column \"nosuchcol\" in " + db + ".t"},
		{[]string{"--where", "vv = 1", "p"}, "(did you mean \"v\"?)"},
		{[]string{"--where", "id IN (SELECT 1)", "p"}, "subquery"},
		// A condition the server refuses (a function MariaDB does not
		// have: an etlq UDF, say) is refused by the command, as apply
		// would: it used to be written, with exit 0 and "the running
		// apply takes it", and fail in apply's log alone (new-user trial).
		{[]string{"--where", "nosuchfunc(id) = 1", "p"}, "nosuchfunc"},
		{[]string{"--where", "id = 'a' COLLATE nosuchcollation", "p"}, "nosuchcollation"},
		{[]string{"both", db + ".t"}, "no _table output column"},
		{[]string{"once"}, "SNAPSHOT only"},
	} {
		out, err := runEtlq(t, append([]string{"resnapshot", "--state-dir", state, file}, c.args...)...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("resnapshot %v: want a failure saying %q, got %v:\n%s", c.args, c.want, err, out)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(state, "resnapshot")); len(ents) > 0 {
		t.Errorf("a refused request was written: %v", ents)
	}
}

// TestResnapshotWaitWithoutApply (operator trial): `resnapshot --wait`
// while no apply runs on the state directory has nothing that would carry
// the request out before the wait ends: it says so and exits 1 at once,
// the request kept for the next apply (which does it). Before, it said no
// apply was running and then waited out the whole --wait, to fail with
// "1 resnapshot(s) not done after …".
func TestResnapshotWaitWithoutApply(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	db, my := s.db, s.my
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v INT)", "INSERT INTO "+db+".t VALUES (1, 1), (2, 2)")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s';
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t;
`, myDSN, s.chDSN, db))
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)

	out, err := runEtlq(t, "resnapshot", "--state-dir", state, "--wait", "5s", file, "p")
	if err == nil {
		t.Fatalf("resnapshot --wait without an apply exited 0:\n%s", out)
	}
	want := "--wait 5s: no apply runs on state directory " + state + ", so nothing carries the request out while this waits; it stays requested for the next `etlq apply` (--once ends after it)"
	if !strings.Contains(out, want) || strings.Contains(out, "not done after") {
		t.Errorf("resnapshot --wait without an apply does not say %q:\n%s", want, out)
	}
	if ents, _ := os.ReadDir(filepath.Join(state, "resnapshot")); len(ents) != 1 {
		t.Errorf("the request is not kept: %v", ents)
	}
	out = mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if ents, _ := os.ReadDir(filepath.Join(state, "resnapshot")); len(ents) > 0 || !strings.Contains(out, "resnapshot done") {
		t.Errorf("apply --once left the request (%v):\n%s", ents, out)
	}
}
