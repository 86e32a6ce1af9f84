package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	writeFile(t, file, fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);\nCREATE SINK dw INTO clickhouse 'clickhouse://%s';\n%s",
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
