package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestColumnDroppedAndAddedAgain: a column dropped at the source stays in
// the upsert target (docs/schema-changes.md); added again later, with
// another type, the rows already there must read what MySQL gave them —
// the new column's DEFAULT (c INT DEFAULT 7), NULL (n INT, no DEFAULT),
// the type's zero (z INT NOT NULL) — and the rows after the ADD their own
// values. Made while etlq runs (table t), while it is stopped with a run
// between the DROP and the ADD (table u, the new-user trial's steps), and
// while it runs behind, ClickHouse unreachable when the stream meets the
// DDLs (table w). (Failed before: the target kept 'gold'/'x' from before
// the drop, and NULL/” for the rows written between drop and add.)
func TestColumnDroppedAndAddedAgain(t *testing.T) {
	t.Parallel()
	onBothServers(t, testColumnDroppedAndAddedAgain)
}

func testColumnDroppedAndAddedAgain(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db)
	tables := []string{"t", "u", "w"}
	for _, tb := range tables {
		myExec(t, my, "CREATE TABLE "+db+"."+tb+" (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, c VARCHAR(10) DEFAULT 'std', n VARCHAR(10), z VARCHAR(5) NOT NULL DEFAULT 'q')",
			"INSERT INTO "+db+"."+tb+" SELECT seq, seq, IF(seq % 2, 'gold', 'x'), 'old', 'zz' FROM "+db+".seq_1_to_40")
	}
	px := newCHProxy(t, chDSN)
	dir := t.TempDir()
	file, state := filepath.Join(dir, "readd.etl"), filepath.Join(dir, "state")
	var pipes strings.Builder
	for _, tb := range tables {
		fmt.Fprintf(&pipes, "CREATE PIPELINE p_%[2]s FROM binlog s.%[1]s.%[2]s INTO clickhouse dw.%[1]s.%[2]s MODE upsert WITH (flush_interval = '100ms');\n", db, tb)
	}
	writeFile(t, file, fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);\nCREATE SINK dw INTO clickhouse 'clickhouse://%s' WITH (max_backoff = '1s');\n%s",
		myDSN, testServerID(), px.addr(), pipes.String()))

	myQ := func(tb string) string {
		return "SELECT id, k, CAST(c AS CHAR), CAST(n AS CHAR), CAST(z AS CHAR) FROM " + db + "." + tb + " ORDER BY id"
	}
	chQ := func(tb string) string {
		return "SELECT toString(id), toString(k), toString(c), toString(n), toString(z) FROM " + db + "." + tb + "_current ORDER BY id"
	}
	compare := func(tb, when string) {
		t.Helper()
		want, got := myRows(t, my, myQ(tb)), chRows(t, ch, chQ(tb))
		if strings.Join(want, "\n") != strings.Join(got, "\n") {
			t.Errorf("%s: table %s differs from its source:", when, tb)
			diffRows(t, want, got)
		}
	}
	marker := 1000
	waitMarker := func(a *liveApply, tb string) {
		t.Helper()
		a.waitFor(t, fmt.Sprintf("%s row with k = %d in ClickHouse", tb, marker), 120*time.Second, func() (bool, string) {
			n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.%s_current WHERE k = %d", db, tb, marker))
			return err == nil && n == 1, fmt.Sprintf("%d, %v", n, err)
		})
	}
	mark := func() {
		marker++
		for _, tb := range tables {
			myExec(t, my, fmt.Sprintf("INSERT IGNORE INTO %s.%s (id, k) VALUES (%d, %d)", db, tb, marker, marker))
		}
	}
	// drop and add: rows changed between the DROP and the ADD, and after.
	drop := func(tb string) {
		myExec(t, my, "ALTER TABLE "+db+"."+tb+" DROP COLUMN c, DROP COLUMN n, DROP COLUMN z",
			"INSERT INTO "+db+"."+tb+" (id, k) VALUES (101, 101), (102, 102)",
			"UPDATE "+db+"."+tb+" SET k = k + 500 WHERE id IN (3, 4)")
	}
	add := func(tb string) {
		myExec(t, my, "ALTER TABLE "+db+"."+tb+" ADD COLUMN c INT DEFAULT 7, ADD COLUMN n INT, ADD COLUMN z INT NOT NULL",
			"INSERT INTO "+db+"."+tb+" (id, k, c, n, z) VALUES (201, 201, 99, 5, 3)",
			"UPDATE "+db+"."+tb+" SET c = 42, n = 6, z = 8 WHERE id IN (5, 101)")
	}

	a := startApply(t, state, file)
	mark()
	for _, tb := range tables {
		waitMarker(a, tb)
		compare(tb, "first run")
	}

	// 1. While etlq runs: table t.
	drop("t")
	mark()
	waitMarker(a, "t")
	add("t")
	mark()
	for _, tb := range tables {
		waitMarker(a, tb)
	}
	compare("t", "dropped and added again while etlq runs")
	a.stop(t)

	// 2. While etlq is stopped, a run between the DROP and the ADD: table u.
	drop("u")
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	add("u")
	mark()
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	compare("u", "dropped and added again while etlq was stopped")
	compare("t", "after the runs of u's changes")

	// 3. While etlq runs behind, ClickHouse unreachable: table w, both
	// DDLs met by the stream while the targets cannot be written.
	a = startApply(t, state, file)
	mark()
	for _, tb := range tables {
		waitMarker(a, tb)
	}
	px.cut()
	drop("w")
	add("w")
	mark()
	a.waitFor(t, "the stream meets the ADD", 60*time.Second, func() (bool, string) {
		return strings.Contains(a.out.String(), "ADD COLUMN c INT DEFAULT 7"), "not yet"
	})
	px.restore()
	for _, tb := range tables {
		waitMarker(a, tb)
	}
	a.running(t)
	out := a.stop(t)
	for _, tb := range tables {
		compare(tb, "after w dropped and added again while etlq was behind")
	}
	if !strings.Contains(out, "its rows from before the ADD take the column's DEFAULT") {
		t.Errorf("the log does not say the rows were filled:\n%s", out)
	}
}

// TestColumnDroppedAndAddedAgainShared: in a target three tables share (a
// pattern, told apart by _table), one table drops c and adds it again
// with a DEFAULT, another drops c and renames a to c, while etlq runs and
// while it is stopped: each table's rows from before its DDL read what
// MySQL gave them (7; the value of a), and no other table's rows change.
// A column new to the target added to one shard and then to another: the
// second's rows from before its ADD take its DEFAULT. (Failed before: the union's column kept the other tables' metadata, the
// sink was not told of the ADD, and the rows kept 'gold'.)
func TestColumnDroppedAndAddedAgainShared(t *testing.T) {
	t.Parallel()
	onBothServers(t, testColumnDroppedAndAddedAgainShared)
}

func testColumnDroppedAndAddedAgainShared(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db)
	shards := []string{"sh_1", "sh_2", "sh_3", "sh_4", "sh_5"}
	for _, tb := range shards {
		myExec(t, my, "CREATE TABLE "+db+"."+tb+" (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, c VARCHAR(10), a INT)",
			"INSERT INTO "+db+"."+tb+" SELECT seq, seq, 'gold', seq * 3 FROM "+db+".seq_1_to_20")
	}
	dir := t.TempDir()
	file, state := filepath.Join(dir, "shared.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_sh FROM binlog s.%[3]s.sh_* TRANSFORM _table, * INTO clickhouse dw.%[3]s.sh_all KEY (_table, id) WITH (flush_interval = '100ms');
`, myDSN, chDSN, db, testServerID()))
	compare := func(when string) {
		t.Helper()
		var want []string
		for _, tb := range shards {
			want = append(want, myRows(t, my, "SELECT '"+tb+"', id, k, CAST(c AS CHAR) FROM "+db+"."+tb+" ORDER BY id")...)
		}
		got := chRows(t, ch, "SELECT toString(_table), toString(id), toString(k), toString(c) FROM "+db+".sh_all_current ORDER BY _table, id")
		if strings.Join(want, "\n") != strings.Join(got, "\n") {
			t.Errorf("%s:", when)
			diffRows(t, want, got)
		}
	}
	marker := 1000
	mark := func(a *liveApply) {
		t.Helper()
		marker++
		for _, tb := range shards {
			myExec(t, my, fmt.Sprintf("INSERT INTO %s.%s (id, k) VALUES (%d, %d)", db, tb, marker, marker))
		}
		if a == nil {
			return
		}
		a.waitFor(t, fmt.Sprintf("k = %d in ClickHouse", marker), 120*time.Second, func() (bool, string) {
			n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.sh_all_current WHERE k = %d", db, marker))
			return err == nil && n == uint64(len(shards)), fmt.Sprintf("%d, %v", n, err)
		})
	}
	// readd drops c of one table and adds it again with a DEFAULT, the
	// other's c is dropped and a renamed to it.
	readd := func(added, renamed string) {
		myExec(t, my, "ALTER TABLE "+db+"."+added+" DROP COLUMN c",
			"INSERT INTO "+db+"."+added+" (id, k) VALUES (101, 101)",
			"ALTER TABLE "+db+"."+added+" ADD COLUMN c INT DEFAULT 7",
			"UPDATE "+db+"."+added+" SET c = 42 WHERE id = 2",
			"ALTER TABLE "+db+"."+renamed+" DROP COLUMN c",
			"INSERT INTO "+db+"."+renamed+" (id, k, a) VALUES (101, 101, 5)",
			"ALTER TABLE "+db+"."+renamed+" RENAME COLUMN a TO c",
			"UPDATE "+db+"."+renamed+" SET c = 43 WHERE id = 2")
	}
	a := startApply(t, state, file)
	mark(a)
	readd("sh_1", "sh_2")
	mark(a)
	// A new column e, added to one shard, then to another: the second
	// one's rows from before its ADD take its DEFAULT too (they held NULL).
	myExec(t, my, "ALTER TABLE "+db+".sh_5 ADD COLUMN e INT DEFAULT 3")
	mark(a)
	myExec(t, my, "ALTER TABLE "+db+".sh_1 ADD COLUMN e INT DEFAULT 4", "UPDATE "+db+".sh_1 SET e = 44 WHERE id = 3")
	mark(a)
	a.running(t)
	out := a.stop(t)
	compare("while etlq runs")
	want := append(myRows(t, my, "SELECT 'sh_1', id, CAST(e AS CHAR) FROM "+db+".sh_1 ORDER BY id"),
		myRows(t, my, "SELECT 'sh_5', id, CAST(e AS CHAR) FROM "+db+".sh_5 ORDER BY id")...)
	diffRows(t, want, chRows(t, ch, "SELECT toString(_table), toString(id), toString(e) FROM "+db+".sh_all_current WHERE _table IN ('sh_1', 'sh_5') ORDER BY _table, id"))
	if t.Failed() {
		t.Logf("etlq:\n%s", out)
	}
	readd("sh_3", "sh_4")
	mark(nil)
	out = mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	compare("while etlq was stopped")
	if t.Failed() {
		t.Logf("etlq:\n%s", out)
	}
}

// TestColumnDroppedAndAddedAgainScaleOut: the same through the log, a
// capture and two workers over a target whose rows are newer than the
// capture's versions (so the workers lift every version: the ADD's too),
// the column dropped and added again while the workers run, and again
// while they are stopped.
func TestColumnDroppedAndAddedAgainScaleOut(t *testing.T) {
	t.Parallel()
	onBothServers(t, testColumnDroppedAndAddedAgainScaleOut)
}

// scaleOutTable makes a scratch database with table t (its columns cols,
// its rows from sel, a SELECT over the database's seq_1_to_200), a NATS
// log of the test's own and a file of one upsert pipeline p of t, for a
// capture and its workers.
func scaleOutTable(t *testing.T, myDSN, cols, sel string) (s *scratch, logURL, dir, file string) {
	s = newScratch(t, myDSN)
	logURL = testenv.NATSURL(t) + "/" + testenv.UniqueName(t)
	t.Cleanup(func() { deleteLog(t, logURL, "s") })
	myExec(t, s.my, "CREATE DATABASE "+s.db,
		"CREATE TABLE "+s.db+".t ("+cols+")",
		"INSERT INTO "+s.db+".t "+sel+" FROM "+s.db+".seq_1_to_200")
	dir = t.TempDir()
	file = filepath.Join(dir, "log.etl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t INTO clickhouse dw.%s.t MODE upsert WITH (flush_interval = '100ms');
`, myDSN, testServerID(), s.chDSN, s.db, s.db))
	return s, logURL, dir, file
}

func testColumnDroppedAndAddedAgainScaleOut(t *testing.T, myDSN string) {
	s, logURL, dir, file := scaleOutTable(t, myDSN, "id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, c VARCHAR(10) DEFAULT 'std'",
		"SELECT seq, seq, IF(seq % 2, 'gold', 'x')")
	db, my, ch := s.db, s.my, s.ch
	tbl := db + ".t"
	myQ := "SELECT id, k, CAST(c AS CHAR) FROM " + tbl + " ORDER BY id"
	chQ := "SELECT toString(id), toString(k), toString(c) FROM " + db + ".t_current ORDER BY id"
	mustEtlq(t, "apply", "--once", "--state-dir", filepath.Join(dir, "plain"), "--progress", "never", file)
	diffRows(t, myRows(t, my, myQ), chRows(t, ch, chQ))
	// The target's versions an hour ahead: the workers lift the capture's.
	var cols []string
	for _, r := range chCells(t, ch, "SELECT name FROM system.columns WHERE database = '"+db+"' AND table = 't'") {
		cols = append(cols, r[0])
	}
	sel := strings.Replace(strings.Join(cols, ", "), "_version", fmt.Sprintf("_version + %d", uint64(time.Hour.Microseconds())<<10), 1)
	if err := ch.Exec(context.Background(), fmt.Sprintf("INSERT INTO %s.t (%s) SELECT %s FROM %s.t", db, strings.Join(cols, ", "), sel, db)); err != nil {
		t.Fatal(err)
	}

	capture := startEtlq(t, "capture", "--log", logURL, "--partitions", "2", file)
	startWorkers := func() []*liveApply {
		var ws []*liveApply
		for _, name := range []string{"w1", "w2"} {
			ws = append(ws, startEtlq(t, "apply", "--log", logURL, "--lease", "2s", "--state-dir", filepath.Join(dir, name), "--progress", "never", file))
		}
		return ws
	}
	workers := startWorkers()
	// The capture's snapshot is through (its end removes the rows it did
	// not find) and a row after it is in the target: the DDLs below are
	// read from the binlog, not by the snapshot.
	workers[0].waitFor(t, "the snapshot's end", 90*time.Second, func() (bool, string) {
		return strings.Contains(workers[0].out.String()+workers[1].out.String(), "removed the rows a re-read"), "not yet"
	})
	myExec(t, my, "INSERT INTO "+tbl+" (id, k, c) VALUES (300, 300, 'm')")
	workers[0].waitSame(t, my, ch, myQ, chQ, 90*time.Second)

	// While the workers run.
	myExec(t, my, "ALTER TABLE "+tbl+" DROP COLUMN c",
		"INSERT INTO "+tbl+" (id, k) VALUES (301, 301)",
		"UPDATE "+tbl+" SET k = k + 1000 WHERE id % 5 = 0",
		"ALTER TABLE "+tbl+" ADD COLUMN c INT DEFAULT 7",
		"UPDATE "+tbl+" SET c = 42 WHERE id % 7 = 0",
		"INSERT INTO "+tbl+" (id, k, c) VALUES (302, 302, 99)")
	workers[0].waitSame(t, my, ch, myQ, chQ, 90*time.Second)
	out := ""
	for _, w := range workers {
		w.running(t)
		out += w.stop(t)
	}
	if !strings.Contains(out, "its rows from before the ADD take the column's DEFAULT") {
		t.Errorf("no worker says it filled the rows:\n%s", out)
	}

	// While the workers are stopped (the capture runs on).
	myExec(t, my, "ALTER TABLE "+tbl+" DROP COLUMN c",
		"INSERT INTO "+tbl+" (id, k) VALUES (303, 303)",
		"ALTER TABLE "+tbl+" ADD COLUMN c VARCHAR(5) NOT NULL DEFAULT 'n'",
		"UPDATE "+tbl+" SET c = 'y' WHERE id % 9 = 0")
	workers = startWorkers()
	workers[0].waitSame(t, my, ch, myQ, chQ, 90*time.Second)
	for _, w := range workers {
		w.running(t)
		w.stop(t)
	}
	capture.stop(t)
}

// TestSetDefaultThenWorkerRestartScaleOut: a column added with a DEFAULT
// while the workers run, then given another DEFAULT (ALTER COLUMN … SET
// DEFAULT, which changes no row at the source), then a worker stopped
// and started again. The restarted worker met the column in the log's
// schema still marked as added by the DDL and filled the rows from before
// the ADD with the column's new DEFAULT (new-user trial: 311563 rows held
// 9.999 where MySQL had 1.500); the ADD's fill belongs to the ADD.
func TestSetDefaultThenWorkerRestartScaleOut(t *testing.T) {
	t.Parallel()
	onBothServers(t, testSetDefaultThenWorkerRestartScaleOut)
}

func testSetDefaultThenWorkerRestartScaleOut(t *testing.T, myDSN string) {
	s, logURL, dir, file := scaleOutTable(t, myDSN, "id INT PRIMARY KEY, k INT NOT NULL", "SELECT seq, seq")
	db, my, ch := s.db, s.my, s.ch
	tbl := db + ".t"
	myQ := "SELECT id, k FROM " + tbl + " ORDER BY id"
	chQ := "SELECT toString(id), toString(k) FROM " + db + ".t_current ORDER BY id"
	capture := startEtlq(t, "capture", "--log", logURL, "--partitions", "2", file)
	worker := func() *liveApply {
		return startEtlq(t, "apply", "--log", logURL, "--lease", "2s", "--state-dir", filepath.Join(dir, "w"), "--progress", "never", file)
	}
	w := worker()
	w.waitSame(t, my, ch, myQ, chQ, 90*time.Second)

	myExec(t, my, "ALTER TABLE "+tbl+" ADD COLUMN c DECIMAL(8,3) DEFAULT 1.5",
		"INSERT INTO "+tbl+" (id, k, c) VALUES (300, 300, 2.5)")
	myQ = "SELECT id, k, CAST(c AS CHAR) FROM " + tbl + " ORDER BY id"
	chQ = "SELECT toString(id), toString(k), toString(c) FROM " + db + ".t_current ORDER BY id"
	w.waitSame(t, my, ch, myQ, chQ, 90*time.Second)
	myExec(t, my, "ALTER TABLE "+tbl+" ALTER COLUMN c SET DEFAULT 9.999",
		"UPDATE "+tbl+" SET k = k + 1000 WHERE id = 1")
	w.waitSame(t, my, ch, myQ, chQ, 90*time.Second)
	w.running(t)
	w.stop(t)

	w = worker()
	myExec(t, my, "INSERT INTO "+tbl+" (id, k) VALUES (301, 301)")
	w.waitSame(t, my, ch, myQ, chQ, 60*time.Second)
	w.running(t)
	out := w.stop(t)
	if strings.Contains(out, "take the column's DEFAULT") {
		t.Errorf("the restarted worker filled the rows from before the ADD again:\n%s", out)
	}
	capture.stop(t)
}
