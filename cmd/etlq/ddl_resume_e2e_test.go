package main

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
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
	onBothServers(t, testDDLAfterKillMidSnapshot)
}

func testDDLAfterKillMidSnapshot(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	const rows = 200000
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, note VARCHAR(20))",
		fmt.Sprintf("INSERT INTO %s.t SELECT seq, seq, CONCAT('n', seq) FROM %s.seq_1_to_%d", db, db, rows))
	dir := t.TempDir()
	file, state := filepath.Join(dir, "resume.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d, chunk_rows = 500, snapshot_parallelism = 1);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t WITH (batch_rows = 500, flush_interval = '100ms');
`, myDSN, chDSN, db, testServerID()))

	w := startDDLWriter(t, myDSN, db+".t", 500000)
	a := startApply(t, state, file)
	a.waitFor(t, "a part of the snapshot in ClickHouse", 90*time.Second, func() (bool, string) {
		n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.t", db))
		return err == nil && n >= 5000, fmt.Sprintf("%d, %v", n, err)
	})
	a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
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
