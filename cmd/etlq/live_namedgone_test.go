package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNamedDroppedWhileStopped: tables read BY NAME (one pipeline each,
// upsert targets) that leave while etlq is not running — dropped after a
// SIGINT, renamed away after a SIGINT, dropped after a kill -9 (once in
// the middle of its own snapshot), dropped and created again with other
// columns — are planned from the
// checkpoint's schema on the next start: the replay meets the statement,
// their rows leave the target, and the pipeline waits for the name (INFO
// says so) while the other pipelines stream, across further restarts too.
// Created again or renamed back (while running or stopped), the table
// joins and is snapshotted. A table no checkpoint knows still stops the
// start with "no table matches". A writer changes a sibling table all
// along. (Failed before: the start stopped with "no table matches".)
func TestNamedDroppedWhileStopped(t *testing.T) {
	t.Parallel()
	onBothServers(t, testNamedDroppedWhileStopped)
}

func testNamedDroppedWhileStopped(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	def := " (id INT PRIMARY KEY, a VARCHAR(10), s INT)"
	myExec(t, my, "CREATE DATABASE "+db)
	for _, tb := range []string{"t", "u", "v", "sib"} {
		myExec(t, my, "CREATE TABLE "+db+"."+tb+def,
			fmt.Sprintf("INSERT INTO %s.%s SELECT seq, '%s', seq FROM %s.seq_1_to_300", db, tb, tb, db))
	}
	myExec(t, my, "CREATE TABLE "+db+".g"+def, "INSERT INTO "+db+".g SELECT seq, 'g', seq FROM "+db+".seq_1_to_300000")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	pipes := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d, chunk_rows = 100);
CREATE SINK dw INTO clickhouse '%[2]s';
`, myDSN, s.chDSN, db, testServerID())
	for _, tb := range []string{"t", "u", "v", "sib", "g"} {
		// g's INSERTs end every second at most (ten flush_intervals, a
		// snapshot's), so that a checkpoint lands in the middle of its
		// snapshot; with the default 1s its 300,000 rows could go in one
		// INSERT, with no checkpoint before the end.
		with := ""
		if tb == "g" {
			with = " WITH (flush_interval = '100ms')"
		}
		pipes += fmt.Sprintf("CREATE PIPELINE p_%[2]s FROM binlog s.%[1]s.%[2]s TRANSFORM * INTO clickhouse dw.%[1]s.%[2]s MODE upsert%[3]s;\n", db, tb, with)
	}
	writeFile(t, file, pipes)
	w := startShardWriter(t, myDSN, db+".sib")
	defer w.halt()
	count := func(tb string) uint64 {
		n, err := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM %s.%s_current", db, tb))
		if err != nil {
			return 1 << 62
		}
		return n
	}
	rows := func(a *liveApply, tb, cols string) {
		t.Helper()
		myQ := fmt.Sprintf("SELECT %s FROM %s.%s ORDER BY id", cols, db, tb)
		var chCols []string
		for _, c := range strings.Split(cols, ", ") {
			chCols = append(chCols, "toString("+c+")")
		}
		chQ := fmt.Sprintf("SELECT %s FROM %s.%s_current ORDER BY id", strings.Join(chCols, ", "), db, tb)
		a.waitSame(t, my, ch, myQ, chQ, 120*time.Second)
	}
	empty := func(a *liveApply, tables ...string) {
		t.Helper()
		a.waitRowsGone(t, count, tables...)
	}
	waiting := func(a *liveApply, tb, msg string) {
		t.Helper()
		a.waitFor(t, "INFO that the pipeline waits for "+tb, 60*time.Second, func() (bool, string) {
			out := a.out.String()
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, msg) && strings.Contains(l, db+"."+tb) {
					return true, ""
				}
			}
			return false, "no such line"
		})
	}
	sibMoves := func(a *liveApply) {
		t.Helper()
		before := count("sib")
		ops := w.ops.Load()
		a.waitFor(t, "the writer's changes to sib reach the target", 60*time.Second, func() (bool, string) {
			return w.ops.Load() > ops+20 && count("sib") != 1<<62, fmt.Sprint(before, count("sib"))
		})
	}

	// A kill -9 in the middle of g's snapshot (a checkpoint records part
	// of it read), then DROP TABLE g: the start does not read it again.
	a := startApply(t, state, file)
	a.waitPartialSnapshot(t, state, db+".g", func() uint64 { return count("g") })
	a.kill9()
	if n := count("g"); n == 0 || n >= 300000 {
		t.Fatalf("g has %d rows in the target before the drop, want some but not all", n)
	}
	myExec(t, my, "DROP TABLE "+db+".g")
	a = startApply(t, state, file)
	empty(a, "g")
	waiting(a, "g", "waiting for the table: it joins again")
	for _, tb := range []string{"t", "u", "v"} {
		rows(a, tb, "id, a, s")
	}
	a.stop(t)

	// After a SIGINT: t dropped, u renamed away, v dropped and created
	// again with other columns.
	myExec(t, my, "DROP TABLE "+db+".t", "RENAME TABLE "+db+".u TO "+db+".away_u", "DROP TABLE "+db+".v",
		"CREATE TABLE "+db+".v (id INT PRIMARY KEY, x VARCHAR(10), n BIGINT)",
		"INSERT INTO "+db+".v SELECT seq, concat('x', seq), seq * 7 FROM "+db+".seq_1_to_150")
	a = startApply(t, state, file)
	empty(a, "t", "u")
	waiting(a, "t", "waiting for the table: it joins again")
	waiting(a, "u", "waiting for the table: it joins again")
	rows(a, "v", "id, x, n")
	sibMoves(a)
	a.stop(t)

	// check, as apply, plans the gone tables from the checkpoint.
	if out, err := exec.Command(etlqBin, "check", "--state-dir", state, file).CombinedOutput(); err != nil {
		t.Errorf("check while t and u are gone: %v\n%s", err, out)
	}
	// Restarted while t and u are still gone: the pipelines still wait.
	a = startApply(t, state, file)
	waiting(a, "t", "left the stream before the checkpoint")
	waiting(a, "u", "left the stream before the checkpoint")
	sibMoves(a)
	empty(a, "t", "u")
	// t created again while running (other rows), u renamed back while
	// stopped: both join and are read.
	myExec(t, my, "CREATE TABLE "+db+".t"+def, "INSERT INTO "+db+".t SELECT seq, 'n', seq * 3 FROM "+db+".seq_1_to_120")
	rows(a, "t", "id, a, s")
	a.stop(t)
	myExec(t, my, "RENAME TABLE "+db+".away_u TO "+db+".u")
	a = startApply(t, state, file)
	rows(a, "u", "id, a, s")
	rows(a, "t", "id, a, s")

	// After a kill -9: t dropped.
	time.Sleep(2 * time.Second)
	a.kill9()
	myExec(t, my, "DROP TABLE "+db+".t")
	a = startApply(t, state, file)
	empty(a, "t")
	waiting(a, "t", "waiting for the table: it joins again")
	if w.ops.Load() == 0 {
		t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
	}
	w.halt()
	for _, tb := range []string{"u", "sib"} {
		rows(a, tb, "id, a, s")
	}
	rows(a, "v", "id, x, n")
	a.stop(t)

	// A source whose one table read by name is gone at a start: the
	// stream still reads the binlog, where the table comes back.
	myExec(t, my, "CREATE TABLE "+db+".w"+def, "INSERT INTO "+db+".w VALUES (1, 'w', 1), (2, 'w', 2)")
	fileW, stateW := filepath.Join(dir, "w.etl"), filepath.Join(dir, "state_w")
	writeFile(t, fileW, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_w FROM binlog s.%[3]s.w TRANSFORM * INTO clickhouse dw.%[3]s.w MODE upsert;
`, myDSN, s.chDSN, db, testServerID()))
	a = startApply(t, stateW, fileW)
	rows(a, "w", "id, a, s")
	a.stop(t)
	myExec(t, my, "DROP TABLE "+db+".w")
	a = startApply(t, stateW, fileW)
	empty(a, "w")
	a.stop(t)
	a = startApply(t, stateW, fileW)
	waiting(a, "w", "left the stream before the checkpoint")
	myExec(t, my, "CREATE TABLE "+db+".w"+def, "INSERT INTO "+db+".w VALUES (5, 'w5', 5)")
	rows(a, "w", "id, a, s")
	a.stop(t)

	// A table no checkpoint knows: the clear error, at once.
	writeFile(t, file, pipes+fmt.Sprintf("CREATE PIPELINE p_never FROM binlog s.%[1]s.never TRANSFORM * INTO clickhouse dw.%[1]s.never MODE upsert;\n", db))
	out, err := exec.Command(etlqBin, "apply", "--state-dir", state, "--progress", "never", file).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no table matches "+db+".never") {
		t.Errorf("apply with a table never seen: %v, want the error \"no table matches\":\n%s", err, out)
	}
}
