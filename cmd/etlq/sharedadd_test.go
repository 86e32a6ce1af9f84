package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSharedTargetColumnAddedByEachShard: the tenants' shards of a target
// two pipelines write (a_* and b_*) get a column, one shard after the
// other, each with its own DEFAULT: a_1 first (the column is new to the
// target), then b_1 (the other pipeline's writer finds it there already),
// then b_2; a_2 and b_3 while etlq is stopped. Every shard's rows from
// before its ADD read the DEFAULT MySQL gave them. Failed before: b_1's rows, whose pipeline's ADD COLUMN found
// the column added by the other pipeline, kept NULL.
func TestSharedTargetColumnAddedByEachShard(t *testing.T) {
	t.Parallel()
	onBothServers(t, testSharedTargetColumnAddedByEachShard)
}

func testSharedTargetColumnAddedByEachShard(t *testing.T, myDSN string) {
	sh := newSharedShards(t, myDSN, []string{"a_1", "a_2", "b_1", "b_2", "b_3"},
		`CREATE PIPELINE pa FROM binlog s.%[3]s.a_* TRANSFORM _db, _table, * INTO clickhouse dw.%[3]s.shared WITH (flush_interval = '100ms');
CREATE PIPELINE pb FROM binlog s.%[3]s.b_* TRANSFORM _db, _table, * INTO clickhouse dw.%[3]s.shared WITH (flush_interval = '100ms');
`)
	db, my, shards, file, state := sh.s.db, sh.s.my, sh.shards, sh.file, sh.state
	mark := func(a *liveApply) { t.Helper(); sh.mark(t, a) }
	compare := func(when string, with []string) { t.Helper(); sh.compare(t, when, with) }
	a := startApply(t, state, file)
	mark(a)
	myExec(t, my, "ALTER TABLE "+db+".a_1 ADD COLUMN c VARCHAR(10) NOT NULL DEFAULT 'x1'")
	mark(a)
	myExec(t, my, "ALTER TABLE "+db+".b_1 ADD COLUMN c VARCHAR(10) NOT NULL DEFAULT 'y1'")
	mark(a)
	myExec(t, my, "ALTER TABLE "+db+".b_2 ADD COLUMN c VARCHAR(10) NOT NULL DEFAULT 'y2'", "UPDATE "+db+".b_2 SET c = 'upd' WHERE id = 2")
	mark(a)
	a.running(t)
	out := a.stop(t)
	compare("while etlq runs", []string{"a_1", "b_1", "b_2"})
	if t.Failed() {
		t.Logf("etlq:\n%s", out)
	}

	myExec(t, my, "ALTER TABLE "+db+".a_2 ADD COLUMN c VARCHAR(10) NOT NULL DEFAULT 'x2'",
		"ALTER TABLE "+db+".b_3 ADD COLUMN c VARCHAR(10) NOT NULL DEFAULT 'y3'")
	out = mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	compare("while etlq was stopped", shards)
	if t.Failed() {
		t.Logf("etlq:\n%s", out)
	}
}

// TestSharedTargetColumnAddedBackToBack: the shards of ONE pipeline add a
// column, each with its own DEFAULT: s_1 and s_2 while etlq runs (batches
// between, each shard's fill made once in the run: the trial saw the
// earlier shards' rows filled again and again), then s_3 and s_4 back to
// back while etlq is stopped (behind: no row of the pipeline between the
// two ALTERs, so both carry the same next _version). Every shard's rows
// from before its ADD read the DEFAULT MySQL gave them; failed before with
// s_4's rows NULL (the second ADD of the same version was taken for the
// first's, already filled). Then s_1 drops the column: its rows keep their
// old values in the shared table, and etlq verify (streamed and by
// checksums) passes; before, it reported each of them "changed".
func TestSharedTargetColumnAddedBackToBack(t *testing.T) {
	t.Parallel()
	onBothServers(t, testSharedTargetColumnAddedBackToBack)
}

func testSharedTargetColumnAddedBackToBack(t *testing.T, myDSN string) {
	sh := newSharedShards(t, myDSN, []string{"s_1", "s_2", "s_3", "s_4", "s_5"},
		`CREATE PIPELINE p FROM binlog s.%[3]s.s_* TRANSFORM _db, _table, * INTO clickhouse dw.%[3]s.shared WITH (flush_interval = '100ms');
`)
	db, my, ch, file, state := sh.s.db, sh.s.my, sh.s.ch, sh.file, sh.state
	mark := func(a *liveApply) { t.Helper(); sh.mark(t, a) }
	compare := func(when string, with []string) { t.Helper(); sh.compare(t, when, with) }
	// The fills (mutations) ClickHouse was given, each with its statement.
	mutations := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, r := range chRows(t, ch, "SELECT mutation_id, command FROM system.mutations WHERE database = '"+db+"' AND table = 'shared'") {
			id, cmd, _ := strings.Cut(r, "|")
			out[id] = cmd
		}
		return out
	}
	// Each shard's fill at most once in one run.
	once := func(when string, before, after map[string]string) {
		t.Helper()
		seen := map[string]int{}
		for id, cmd := range after {
			if _, ok := before[id]; !ok {
				seen[cmd]++
			}
		}
		for cmd, n := range seen {
			if n > 1 {
				t.Errorf("%s: the same fill ran %d times in one run: %s", when, n, cmd)
			}
		}
	}

	m0 := mutations()
	a := startApply(t, state, file)
	mark(a)
	myExec(t, my, "ALTER TABLE "+db+".s_1 ADD COLUMN c VARCHAR(10) NOT NULL DEFAULT 'd1'")
	mark(a)
	mark(a)
	myExec(t, my, "ALTER TABLE "+db+".s_2 ADD COLUMN c VARCHAR(10) NOT NULL DEFAULT 'd2'")
	for range 4 {
		mark(a)
	}
	a.running(t)
	out := a.stop(t)
	compare("while etlq runs", []string{"s_1", "s_2"})
	m1 := mutations()
	once("while etlq runs", m0, m1)
	if t.Failed() {
		t.Logf("etlq:\n%s", out)
	}

	myExec(t, my, "ALTER TABLE "+db+".s_3 ADD COLUMN c VARCHAR(10) NOT NULL DEFAULT 'd3'",
		"ALTER TABLE "+db+".s_4 ADD COLUMN c VARCHAR(10) NOT NULL DEFAULT 'd4'")
	a = startApply(t, state, file)
	for range 3 {
		mark(a)
	}
	a.running(t)
	out = a.stop(t)
	compare("after ADDs back to back while etlq was stopped", []string{"s_1", "s_2", "s_3", "s_4"})
	once("after ADDs back to back while etlq was stopped", m1, mutations())
	if t.Failed() {
		t.Logf("etlq:\n%s", out)
	}

	// s_1 drops the column the others keep: the shared table keeps s_1's
	// values from before the DROP (docs/schema-changes.md), which verify
	// does not compare (the table lacks the column; failed before: every
	// row of s_1 from before the DROP "changed").
	myExec(t, my, "ALTER TABLE "+db+".s_1 DROP COLUMN c")
	a = startApply(t, state, file)
	mark(a)
	a.running(t)
	out = a.stop(t)
	compare("after s_1 dropped the column", []string{"s_2", "s_3", "s_4"})
	for _, args := range [][]string{{"--stream"}, nil} {
		res, code, vout := runVerify(t, append(args, "--state-dir", state, file)...)
		if code != 0 || !res.OK {
			t.Errorf("verify %v after s_1 dropped the column: exit %d:\n%s", args, code, vout)
		}
	}
	if t.Failed() {
		t.Logf("etlq:\n%s", out)
	}
}

// sharedShards is a target several shard tables write (_db, _table, *):
// the shard tables (id, k), 20 rows each, and the file of the pipelines.
type sharedShards struct {
	s           *scratch
	shards      []string
	file, state string
	marker      int
}

// newSharedShards makes the shard tables and writes the pipelines
// (fmt.Sprintf with the MySQL DSN, ClickHouse DSN, database and server id as
// %[1]s…%[4]d) after the file's SOURCE and SINK.
func newSharedShards(t *testing.T, myDSN string, shards []string, pipelines string) *sharedShards {
	t.Helper()
	s := newScratch(t, myDSN)
	myExec(t, s.my, "CREATE DATABASE "+s.db)
	for _, tb := range shards {
		myExec(t, s.my, "CREATE TABLE "+s.db+"."+tb+" (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0)",
			"INSERT INTO "+s.db+"."+tb+" SELECT seq, seq FROM "+s.db+".seq_1_to_20")
	}
	dir := t.TempDir()
	sh := &sharedShards{s: s, shards: shards, file: filepath.Join(dir, "p.etl"), state: filepath.Join(dir, "state"), marker: 1000}
	writeFile(t, sh.file, fmt.Sprintf("CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);\nCREATE SINK dw INTO clickhouse '%[2]s';\n"+pipelines,
		myDSN, s.chDSN, s.db, testServerID()))
	return sh
}

// mark writes a row of a new k to every shard and waits for all of them in
// the target.
func (sh *sharedShards) mark(t *testing.T, a *liveApply) {
	t.Helper()
	sh.marker++
	db, marker := sh.s.db, sh.marker
	for _, tb := range sh.shards {
		myExec(t, sh.s.my, fmt.Sprintf("INSERT INTO %s.%s (id, k) VALUES (%d, %d)", db, tb, marker, marker))
	}
	a.waitFor(t, fmt.Sprintf("k = %d in ClickHouse", marker), 120*time.Second, func() (bool, string) {
		n, err := chCount(sh.s.chDSN, fmt.Sprintf("SELECT count() FROM %s.shared_current WHERE k = %d", db, marker))
		return err == nil && n == uint64(len(sh.shards)), fmt.Sprintf("%d, %v", n, err)
	})
}

// compare compares the shards with (id, k, c) with the target's rows of
// them.
func (sh *sharedShards) compare(t *testing.T, when string, with []string) {
	t.Helper()
	db := sh.s.db
	var want []string
	for _, tb := range with {
		want = append(want, myRows(t, sh.s.my, "SELECT '"+tb+"', id, k, c FROM "+db+"."+tb+" ORDER BY id")...)
	}
	got := chRows(t, sh.s.ch, "SELECT toString(_table), toString(id), toString(k), toString(c) FROM "+db+".shared_current WHERE _table IN ('"+strings.Join(with, "', '")+"') ORDER BY _table, id")
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Errorf("%s:", when)
		diffRows(t, want, got)
	}
}
