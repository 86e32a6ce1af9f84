package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestTypeChangeExplicitColumns (issue #12): a pattern pipeline whose
// TRANSFORM names its columns (no `*`) into one upsert target follows
// type changes that are no widening — INT → VARCHAR, DECIMAL(10,4) →
// DECIMAL(10,2), INT → DECIMAL(10,2) — of one shard, made with writers
// running while etlq runs (sh_2) and while it is stopped (sh_1), and
// every restart plans again: the output column takes the type that holds
// every shard's (String, Decimal(12, 4), Decimal(12, 2)), as with `*`.
// A second pattern (st_*) changes first while etlq is stopped: the restart
// plans the shards' types apart while the target still has the old ones.
// The targets equal the sources row by row (MySQL's rounded decimals
// included: the changed shard is read again in place).
// (Failed before: the restart after the change etlq followed stopped with
// `output column 4 is v STRING for db.sh_2 but v INT32 for the pipeline's
// first table`.)
func TestTypeChangeExplicitColumns(t *testing.T) {
	t.Parallel()
	onBothServers(t, testTypeChangeExplicitColumns)
}

func testTypeChangeExplicitColumns(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db)
	tables := []string{"sh_1", "sh_2", "st_1", "st_2"}
	for _, tb := range tables {
		myExec(t, my, "CREATE TABLE "+db+"."+tb+" (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, v INT, d DECIMAL(10,4), e INT)",
			"INSERT INTO "+db+"."+tb+" SELECT seq, seq, seq * 7, seq + 0.1234 + (seq % 2) * 0.0051, seq * 3 FROM "+db+".seq_1_to_200")
	}
	dir := t.TempDir()
	file, state := filepath.Join(dir, "tc.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.sh_* TRANSFORM _table, id, k, v, d, e INTO clickhouse dw.%[3]s.sh_all MODE upsert KEY (_table, id) WITH (batch_rows = 500, flush_interval = '100ms');
CREATE PIPELINE q FROM binlog s.%[3]s.st_* TRANSFORM _table, id, k, v, d, e INTO clickhouse dw.%[3]s.st_all MODE upsert KEY (_table, id) WITH (batch_rows = 500, flush_interval = '100ms');
`, myDSN, chDSN, db, testServerID()))

	// source gives the rows of the tables of prefix (sh, st), target
	// those of its target.
	source := func(prefix string) []string {
		var rows []string
		for _, tb := range []string{prefix + "_1", prefix + "_2"} {
			for _, r := range myCells(t, my, fmt.Sprintf("SELECT '%s', id, k, CAST(v AS CHAR), CAST(d AS CHAR), CAST(e AS CHAR) FROM %s.%s", tb, db, tb)) {
				rows = append(rows, typeChangeRow(r, false))
			}
		}
		sort.Strings(rows)
		return rows
	}
	// targetTry returns the query's error (the _current view made again
	// after a column's type changed may be missing for a moment).
	targetTry := func(prefix string) ([]string, error) {
		got, err := chTry(ch, fmt.Sprintf("SELECT _table, toString(id), toString(k), toString(v), toString(d), toString(e) FROM %s.%s_all_current", db, prefix))
		var rows []string
		for _, r := range got {
			rows = append(rows, typeChangeRow(strings.Split(r, "|"), false))
		}
		sort.Strings(rows)
		return rows, err
	}
	target := func(prefix string) []string {
		t.Helper()
		rows, err := targetTry(prefix)
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	marker := 1000000
	change := func(first int, tbs ...string) {
		t.Helper()
		marker++
		typeChangesUnderWriters(t, myDSN, my, db, tables, first, marker, tbs...)
	}
	// check compares both targets with their sources, and the column
	// types of the targets in changed (the supertypes), or of the
	// others (unchanged: the sources' types).
	check := func(when string, changed ...string) {
		t.Helper()
		for _, prefix := range []string{"sh", "st"} {
			diffRows(t, source(prefix), target(prefix))
			types := map[string]string{"v": "Nullable(Int32)", "d": "Nullable(Decimal(10, 4))", "e": "Nullable(Int32)"}
			if slices.Contains(changed, prefix) {
				types = map[string]string{"v": "Nullable(String)", "d": "Nullable(Decimal(12, 4))", "e": "Nullable(Decimal(12, 2))"}
			}
			for col, typ := range types {
				if got := chCells(t, ch, fmt.Sprintf("SELECT type FROM system.columns WHERE database = '%s' AND table = '%s_all' AND name = '%s'", db, prefix, col))[0][0]; got != typ {
					t.Errorf("%s_all.%s is %s in ClickHouse, want %s", prefix, col, got, typ)
				}
			}
		}
		if t.Failed() {
			t.Fatalf("%s: the target differs from the sources", when)
		}
	}
	restart := func(when string) string {
		t.Helper()
		log, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		if err != nil {
			t.Fatalf("apply %s: %v\n%s", when, err, log)
		}
		return log
	}

	// 1. While etlq runs: sh_2.
	a := startApply(t, state, file)
	a.waitFor(t, "the snapshot", 120*time.Second, func() (bool, string) {
		n1, _ := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.sh_all_current", db))
		n2, _ := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.st_all_current", db))
		return n1 == 400 && n2 == 400, fmt.Sprintf("%d %d", n1, n2)
	})
	change(10000, "sh_2")
	a.waitFor(t, "the targets equal to the sources", 180*time.Second, func() (bool, string) {
		var diff []string
		for _, prefix := range []string{"sh", "st"} {
			want := source(prefix)
			if got, err := targetTry(prefix); err != nil || strings.Join(want, "\n") != strings.Join(got, "\n") {
				diff = append(diff, fmt.Sprintf("%s: %d rows, want %d (%v)", prefix, len(got), len(want), err))
			}
		}
		return len(diff) == 0, strings.Join(diff, "; ")
	})
	a.running(t)
	check("sh_2 changed while running", "sh")
	log := a.stop(t)
	if want := db + ".sh_2: a type change that is no lossless widening, and the table cannot be rebuilt: its targets' column takes a type that holds both, and the table is read again in place"; !strings.Contains(log, want) {
		t.Errorf("the log does not say %q:\n%s", want, log)
	}

	// 2. The restart after the change etlq followed (sh_2 VARCHAR, sh_1
	// INT): plans the union type again.
	restart("after the type change followed while running")
	check("restarted after sh_2's change", "sh")

	// 3. While etlq is stopped: sh_1, and st_2 (the first change of st_*:
	// the restart plans st_1 INT and st_2 VARCHAR while the target still
	// has the old types and the replay starts before the DDL).
	change(100000, "sh_1", "st_2")
	log = restart("after the type changes made while stopped")
	if !strings.Contains(log, db+".sh_1: the table was read again after its type change") {
		t.Errorf("the restart does not say it read sh_1 again:\n%s", log)
	}
	if !strings.Contains(log, db+".st_2: the table was read again after its type change") {
		t.Errorf("the restart does not say it read st_2 again:\n%s", log)
	}
	check("sh_1, st_2 changed while stopped", "sh", "st")
	restart("once more")
	check("restarted once more", "sh", "st")
}
