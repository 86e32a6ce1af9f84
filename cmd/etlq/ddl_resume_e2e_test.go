package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestDDLAfterKillMidSnapshot (issue #12): apply is killed with SIGKILL
// while the initial snapshot of a 200,000-row table runs (a writer
// changing the table meanwhile), and while it is stopped the table gets
// `ADD COLUMN z INT NOT NULL DEFAULT 42` and `ADD COLUMN y INT NULL
// DEFAULT 5`, rows with z = 7 and updates. The restart resumes the
// snapshot: its chunks are read with today's schema (they have z and y),
// while the binlog before the ALTER is decoded with the old one. The
// target must end as the source: rows that existed before the ALTER hold
// 42 and 5 (what MySQL gave them), rows written after it keep 7. (Failed
// before: the restart stopped with a NULL in the non-nullable z.)
func TestDDLAfterKillMidSnapshot(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) { testDDLAfterKillMidSnapshot(t, myDSN, "") })
	// MySQL's chunk placement (watermarks), on the server with the
	// default metadata.
	t.Run("watermark", func(t *testing.T) {
		testDDLAfterKillMidSnapshot(t, testenv.MySQLMinimalDSN(t), ", snapshot_position = 'watermark'")
	})
}

func testDDLAfterKillMidSnapshot(t *testing.T, myDSN, opts string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	const rows = 200000
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, note VARCHAR(20))",
		fmt.Sprintf("INSERT INTO %s.t SELECT seq, seq, CONCAT('n', seq) FROM %s.seq_1_to_%d", db, db, rows))
	// etlq reads the server through a proxy slowed until the kill (4 KiB
	// per 10 ms: the snapshot takes seconds), so that the kill falls in
	// the middle of the snapshot on a quiet machine too.
	viaProxy, px := throttled(t, myDSN)
	px.slow.Store(true)
	dir := t.TempDir()
	file, state := filepath.Join(dir, "resume.etl"), filepath.Join(dir, "state")
	if opts != "" {
		opts += ", watermark_table = '" + db + "_wm.marks'"
		t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db + "_wm") })
	}
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d, chunk_rows = 500, snapshot_parallelism = 1%[5]s);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t WITH (batch_rows = 500, flush_interval = '100ms');
`, viaProxy, chDSN, db, testServerID(), opts))

	w := startDDLWriter(t, myDSN, db+".t", 500000)
	a := startApply(t, state, file)
	a.waitFor(t, "a part of the snapshot in ClickHouse", 90*time.Second, func() (bool, string) {
		n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.t", db))
		return err == nil && n >= 5000, fmt.Sprintf("%d, %v", n, err)
	})
	a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
	px.slow.Store(false)
	n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.t", db))
	if err != nil || n >= rows {
		t.Fatalf("the kill did not land in the snapshot: %d rows in ClickHouse (%v)", n, err)
	}
	time.Sleep(300 * time.Millisecond) // the writer's changes after the kill, before the ALTER
	myExec(t, my, "ALTER TABLE "+db+".t ADD COLUMN z INT NOT NULL DEFAULT 42, ADD COLUMN y INT NULL DEFAULT 5")
	time.Sleep(300 * time.Millisecond) // and after it
	myExec(t, my,
		"INSERT INTO "+db+".t (id, k, z) VALUES (900001, 1, 7), (900002, 2, 7)",
		"INSERT INTO "+db+".t (id, k, z, y) VALUES (900003, 3, 7, NULL), (900004, 4, 7, 8)",
		"UPDATE "+db+".t SET z = 9 WHERE id IN (3, 150000)",
		"UPDATE "+db+".t SET y = NULL WHERE id IN (4, 150001)",
		"UPDATE "+db+".t SET k = k + 1 WHERE id IN (5, 190000)",
		"DELETE FROM "+db+".t WHERE id IN (6, 190001)")
	w.halt()
	if out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file); err != nil {
		t.Fatalf("apply after a kill mid-snapshot and an ALTER: %v\n%s", err, out)
	}
	compareTable(t, my, ch, db, "t", db, "t", db+".t_current")
	if t.Failed() {
		t.Fatal("the target differs from the source")
	}
}

// TestOldBatchesAfterWidening (issue #12): batches decoded with a table's
// schema from before `MODIFY v BIGINT` / `MODIFY id BIGINT` reach a
// ClickHouse table that is already wider — a run that widened it was
// killed before its checkpoint passed the DDL (here: the state directory
// of before the DDL put back), so the next run replays the narrower rows.
// They are cast up to the table's columns on insert, and the target ends
// as the source. (Failed before: "converting []int32 to Int64 is
// unsupported".)
func TestOldBatchesAfterWidening(t *testing.T) {
	t.Parallel()
	onBothServers(t, testOldBatchesAfterWidening)
}

func testOldBatchesAfterWidening(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, v INT)",
		"CREATE TABLE "+db+".u (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, v INT)",
		"INSERT INTO "+db+".t SELECT seq, seq, seq FROM "+db+".seq_1_to_500",
		"INSERT INTO "+db+".u SELECT seq, seq, seq FROM "+db+".seq_1_to_500")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "widen.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_t FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t WITH (batch_rows = 500, flush_interval = '100ms');
CREATE PIPELINE p_u FROM binlog s.%[3]s.u INTO clickhouse dw.%[3]s.u WITH (batch_rows = 500, flush_interval = '100ms');
`, myDSN, chDSN, db, testServerID()))
	apply := func(when string) {
		t.Helper()
		if out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file); err != nil {
			t.Fatalf("apply %s: %v\n%s", when, err, out)
		}
	}
	apply("first")
	saved := filepath.Join(dir, "saved")
	if out, err := exec.Command("cp", "-a", state, saved).CombinedOutput(); err != nil {
		t.Fatalf("copy the state: %v %s", err, out)
	}
	wt := startDDLWriter(t, myDSN, db+".t", 10000)
	wu := startDDLWriter(t, myDSN, db+".u", 10000)
	time.Sleep(300 * time.Millisecond) // narrower rows in the binlog before the DDL
	myExec(t, my, "ALTER TABLE "+db+".t MODIFY v BIGINT",
		"ALTER TABLE "+db+".u MODIFY id BIGINT",
		"INSERT INTO "+db+".t (id, k, v) VALUES (100001, 1, 5000000000)",
		"INSERT INTO "+db+".u (id, k, v) VALUES (5000000001, 1, 1)")
	time.Sleep(300 * time.Millisecond)
	wt.halt()
	wu.halt()
	apply("after the widenings")
	// The run that widened the tables "dies" before its checkpoint
	// passed the DDLs: the next one starts from the state of before.
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(saved, state); err != nil {
		t.Fatal(err)
	}
	myExec(t, my, "UPDATE "+db+".t SET v = v + 1 WHERE id <= 10", "UPDATE "+db+".u SET v = v + 1 WHERE id <= 10")
	apply("replaying narrower rows onto the widened tables")
	for _, tb := range []string{"t", "u"} {
		compareTable(t, my, ch, db, tb, db, tb, db+"."+tb+"_current")
	}
}

// TestNarrowerBatchesIntoWidenedTable (issue #12): two pipelines write one
// ClickHouse table (shards a and b, told apart by _table). The source
// widens a.v and a.id to BIGINT while b still has INT: a's pipeline widens
// the shared table (a key column: the table is copied), and b's batches,
// decoded as INT, must be cast up to the table's wider columns on insert.
// Then b is widened too. The target ends as the two sources. (Failed
// before: "converting []int32 to Int64 is unsupported".)
func TestNarrowerBatchesIntoWidenedTable(t *testing.T) {
	t.Parallel()
	onBothServers(t, testNarrowerBatchesIntoWidenedTable)
}

func testNarrowerBatchesIntoWidenedTable(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".a (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, v INT)",
		"CREATE TABLE "+db+".b (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, v INT)",
		"INSERT INTO "+db+".a SELECT seq, seq, seq FROM "+db+".seq_1_to_300",
		"INSERT INTO "+db+".b SELECT seq, seq, seq FROM "+db+".seq_1_to_300")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "shared.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_a FROM binlog s.%[3]s.a TRANSFORM _table, id, k, v INTO clickhouse dw.%[3]s.ab MODE upsert KEY (_table, id) WITH (batch_rows = 500, flush_interval = '100ms');
CREATE PIPELINE p_b FROM binlog s.%[3]s.b TRANSFORM _table, id, k, v INTO clickhouse dw.%[3]s.ab MODE upsert KEY (_table, id) WITH (batch_rows = 500, flush_interval = '100ms');
`, myDSN, chDSN, db, testServerID()))
	a := startApply(t, state, file)
	waitAB := func(table string, id int64) {
		t.Helper()
		a.waitFor(t, fmt.Sprintf("%s row %d", table, id), 90*time.Second, func() (bool, string) {
			n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.ab_current WHERE _table = '%s' AND id = %d", db, table, id))
			return err == nil && n == 1, fmt.Sprintf("%d, %v", n, err)
		})
	}
	waitAB("a", 300)
	waitAB("b", 300)
	wb := startDDLWriter(t, myDSN, db+".b", 10000)
	myExec(t, my, "ALTER TABLE "+db+".a MODIFY v BIGINT",
		"INSERT INTO "+db+".a (id, k, v) VALUES (301, 1, 6000000000)")
	waitAB("a", 301)
	time.Sleep(500 * time.Millisecond)
	wb.halt()
	myExec(t, my, "INSERT INTO "+db+".b (id, k, v) VALUES (900001, 1, 1)")
	waitAB("b", 900001) // (every row of the writer is in, in order)
	// The key: a's pipeline copies the shared table into one with the
	// wider key. (b is quiet meanwhile: the copy's row count check does
	// not know another pipeline's inserts — a limit of re-keying a table
	// several pipelines write.)
	myExec(t, my, "ALTER TABLE "+db+".a MODIFY id BIGINT",
		"INSERT INTO "+db+".a (id, k, v) VALUES (5000000000, 1, 6000000000)")
	waitAB("a", 5000000000)
	wb = startDDLWriter(t, myDSN, db+".b", 20000)
	time.Sleep(300 * time.Millisecond)
	myExec(t, my, "INSERT INTO "+db+".b (id, k, v) VALUES (900002, 1, 2)")
	waitAB("b", 900002)
	myExec(t, my, "ALTER TABLE "+db+".b MODIFY v BIGINT",
		"INSERT INTO "+db+".b (id, k, v) VALUES (900003, 1, 7000000000)")
	wb.halt()
	waitAB("b", 900003)
	a.running(t)
	for _, tb := range []string{"a", "b"} {
		want := myRows(t, my, fmt.Sprintf("SELECT id, k, IFNULL(v, 'NULL') FROM %s.%s ORDER BY id", db, tb))
		got := chRows(t, ch, fmt.Sprintf("SELECT toString(id), toString(k), ifNull(toString(v), 'NULL') FROM %s.ab_current WHERE _table = '%s' ORDER BY id", db, tb))
		diffRows(t, want, got)
	}
	a.stop(t)
}

// TestNullableDefaultAdded (issue #12): `ADD COLUMN y INT NULL DEFAULT 5`
// (and a NOT NULL one) made while etlq is stopped, with a writer running:
// MySQL's existing rows hold 5, rows written after the ALTER what they
// were given (NULL included). After the restart, and again after a replay
// of the rows from before the ALTER onto the table that already has y (a
// checkpoint from before the DDL put back), the target equals the source.
func TestNullableDefaultAdded(t *testing.T) {
	t.Parallel()
	onBothServers(t, testNullableDefaultAdded)
}

func testNullableDefaultAdded(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, note VARCHAR(20))",
		"INSERT INTO "+db+".t SELECT seq, seq, CONCAT('n', seq) FROM "+db+".seq_1_to_1000")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "nd.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t WITH (batch_rows = 500, flush_interval = '100ms');
`, myDSN, chDSN, db, testServerID()))
	apply := func(when string) {
		t.Helper()
		if out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file); err != nil {
			t.Fatalf("apply %s: %v\n%s", when, err, out)
		}
		compareTable(t, my, ch, db, "t", db, "t", db+".t_current")
		if t.Failed() {
			t.Fatalf("%s: the target differs from the source", when)
		}
	}
	apply("first")
	saved := filepath.Join(dir, "saved")
	if out, err := exec.Command("cp", "-a", state, saved).CombinedOutput(); err != nil {
		t.Fatalf("copy the state: %v %s", err, out)
	}
	w := startDDLWriter(t, myDSN, db+".t", 10000)
	time.Sleep(300 * time.Millisecond)
	myExec(t, my, "ALTER TABLE "+db+".t ADD COLUMN y INT NULL DEFAULT 5 AFTER k, ADD COLUMN z INT NOT NULL DEFAULT 42")
	time.Sleep(300 * time.Millisecond)
	myExec(t, my,
		"INSERT INTO "+db+".t (id, k, y, z) VALUES (900001, 1, NULL, 7), (900002, 2, 8, 7)",
		"UPDATE "+db+".t SET y = NULL WHERE id = 3",
		"UPDATE "+db+".t SET y = 9 WHERE id = 4")
	w.halt()
	apply("after ADD COLUMN … NULL DEFAULT while stopped")
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(saved, state); err != nil {
		t.Fatal(err)
	}
	apply("replaying the rows from before the ALTER onto the table that has y")
}

// TestKeyTypeChangedNotWidened (issue #12): `MODIFY id VARCHAR(20)` of the
// key column of an upsert target, while etlq runs, is no widening
// ClickHouse can follow (a sorting key's type cannot change, the rows
// there cannot be converted). etlq rebuilds the table by itself: read
// again into a copy with the String key, swapped in; the other pipeline
// streams on, and both targets end as the sources. (Before: the run
// stopped, telling to drop the table and start with an empty state.)
func TestKeyTypeChangedNotWidened(t *testing.T) {
	t.Parallel()
	onBothServers(t, testKeyTypeChangedNotWidened)
}

func testKeyTypeChangedNotWidened(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0)",
		"CREATE TABLE "+db+".u (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0)",
		"INSERT INTO "+db+".t SELECT seq, seq FROM "+db+".seq_1_to_100",
		"INSERT INTO "+db+".u SELECT seq, seq FROM "+db+".seq_1_to_100")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "key.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_t FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t WITH (batch_rows = 500, flush_interval = '100ms');
CREATE PIPELINE p_u FROM binlog s.%[3]s.u INTO clickhouse dw.%[3]s.u WITH (batch_rows = 500, flush_interval = '100ms');
`, myDSN, chDSN, db, testServerID()))
	a := startApply(t, state, file)
	wait := func(table string, id int) {
		t.Helper()
		a.waitFor(t, fmt.Sprintf("%s row %d", table, id), 90*time.Second, func() (bool, string) {
			n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.%s_current WHERE id = %d", db, table, id))
			return err == nil && n == 1, fmt.Sprintf("%d, %v", n, err)
		})
	}
	wait("t", 100)
	wait("u", 100)
	myExec(t, my, "ALTER TABLE "+db+".t MODIFY id VARCHAR(20)", "INSERT INTO "+db+".t VALUES ('abc', 1)",
		"INSERT INTO "+db+".u VALUES (1000, 1)")
	// The table is rebuilt (read again into a copy with the String key,
	// swapped in); u streams on meanwhile.
	wait("u", 1000)
	a.waitFor(t, "t row 'abc'", 90*time.Second, func() (bool, string) {
		n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.t_current WHERE id = 'abc'", db))
		return err == nil && n == 1, fmt.Sprintf("%d, %v", n, err)
	})
	a.running(t)
	for _, tb := range []string{"t", "u"} {
		compareTable(t, my, ch, db, tb, db, tb, db+"."+tb+"_current")
	}
	out := a.stop(t)
	for _, want := range []string{db + ".t: the table is rebuilt: read again into a copy with the new type", "is swapped in"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not say %q:\n%s", want, out)
		}
	}
}
