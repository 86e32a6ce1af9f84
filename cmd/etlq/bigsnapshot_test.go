package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBigSnapshotUnderWriter: a 1,000,000-row table is snapshotted with the
// default options (50,000-row chunks, 4 connections) while a writer keeps
// inserting, updating (keys included) and deleting rows all over the key
// range, also of chunks not read yet and chunks already read, for the
// whole snapshot. Then the writer stops, apply --once catches up, and the
// _current view equals the source, every row, range by range.
func TestBigSnapshotUnderWriter(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("1M rows: skipped with -short")
	}
	onBothServers(t, testBigSnapshotUnderWriter)
}

func testBigSnapshotUnderWriter(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	const rows = 1000000
	const keys = 1050000 // the writer also inserts keys past the loaded ones
	start := time.Now()
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)",
		fmt.Sprintf("INSERT INTO %s.t SELECT seq, ELT(1 + seq %% 4, 'new', 'paid', 'shipped', 'cancelled'), (seq %% 100000) / 100 FROM %s.seq_1_to_%d", db, db, rows))
	t.Logf("loaded %d rows in %v", rows, time.Since(start).Round(100*time.Millisecond))

	dir := t.TempDir()
	file := filepath.Join(dir, "big.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t SNAPSHOT initial
  TRANSFORM id, status, amount
  INTO clickhouse dw.%s.t;
`, myDSN, chDSN, db, db)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")

	// Four connections without pause; half of the statements on 2,000 hot
	// keys spread over every chunk, so the same keys change again and again
	// while their chunks are read.
	w := startChurn(t, myDSN, db+".t", keys, churnOptions{workers: 4, hot: 2000})
	defer w.halt()
	for w.ops.Load() < 200 {
		time.Sleep(10 * time.Millisecond)
	}
	before := w.ops.Load()
	start = time.Now()
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	snap := time.Since(start)
	during := w.ops.Load() - before
	w.halt()
	t.Logf("snapshot with --once in %v under %d writer operations (%d failed statements: deadlocks)", snap.Round(100*time.Millisecond), during, w.errors.Load())
	if during < 100 {
		t.Errorf("the writer made only %d changes during the snapshot", during)
	}

	start = time.Now()
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	t.Logf("catch-up in %v", time.Since(start).Round(100*time.Millisecond))

	start = time.Now()
	total := 0
	const step = 100000
	for lo := 1; lo <= keys; lo += step {
		hi := lo + step - 1
		want := myRows(t, my, fmt.Sprintf("SELECT id, status, CAST(amount AS CHAR) FROM %s.t WHERE id BETWEEN %d AND %d ORDER BY id", db, lo, hi))
		got := chRows(t, ch, fmt.Sprintf("SELECT toString(id), status, toString(amount) FROM %s.t_current WHERE id BETWEEN %d AND %d ORDER BY id", db, lo, hi))
		diffRows(t, want, got)
		total += len(want)
	}
	t.Logf("%d rows compared in %v", total, time.Since(start).Round(100*time.Millisecond))
}
