package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplayLeavesOutLettersOfClearedTables (operator trial): dead letters
// of a table that was truncated, dropped or renamed away after them are
// not replayed into an upsert target — the event removed the table's rows,
// and only the keys live in the target: a dead-lettered key never was, so
// its replayed row came back (verify: extra rows). Docs: "a change of the
// same key made since wins over the replay". A letter of a row written
// after the TRUNCATE is replayed; the replay says how many it left out,
// and a second replay of the same letters (--from the file moved aside)
// leaves them out again.
func TestReplayLeavesOutLettersOfClearedTables(t *testing.T) {
	t.Parallel()
	onBothServers(t, testReplayLeavesOutLettersOfClearedTables)
}

func testReplayLeavesOutLettersOfClearedTables(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my,
		"CREATE DATABASE "+db,
		"SET SESSION sql_mode = ''",
		"CREATE TABLE "+db+".tz (id INT PRIMARY KEY, amount INT NOT NULL, d DATE)",
		"CREATE TABLE "+db+".tz2 (id INT PRIMARY KEY, amount INT NOT NULL, d DATE)",
		"CREATE TABLE "+db+".tz3 (id INT PRIMARY KEY, amount INT NOT NULL, d DATE)",
		"INSERT INTO "+db+".tz VALUES (1, 1, '2024-01-01'), (2, 2, '0000-00-00'), (3, 3, '2024-01-03'), (4, 4, '0000-00-00')",
		"INSERT INTO "+db+".tz2 VALUES (1, 1, '0000-00-00'), (2, 2, '2024-01-02')",
		"INSERT INTO "+db+".tz3 VALUES (1, 1, '0000-00-00'), (2, 2, '2024-01-02')",
	)
	dir := t.TempDir()
	file, state := filepath.Join(dir, "tz.etl"), filepath.Join(dir, "state")
	etl := fmt.Sprintf(`CREATE SOURCE shop FROM mysql '%[1]s';
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE tz
  FROM binlog shop.%[3]s.tz, shop.%[3]s.tz2, shop.%[3]s.tz3
  TRANSFORM _table, id, amount, d
  INTO clickhouse dw.%[3]s.tz MODE upsert KEY (_table, id)
  WITH (on_error = 'dead_letter');
`, myDSN, s.chDSN, db)
	writeFile(t, file, etl)
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	myExec(t, my,
		"TRUNCATE TABLE "+db+".tz",
		"INSERT INTO "+db+".tz VALUES (5, 5, '0000-00-00'), (6, 6, '2024-01-06')",
		"DROP TABLE "+db+".tz2",
		"RENAME TABLE "+db+".tz3 TO "+db+".tz3_old",
	)
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	letters := filepath.Join(state, "deadletter", "tz.jsonl")
	if n := len(readLines(t, letters)); n != 5 {
		t.Fatalf("want 5 dead letters (tz 2, 4 and 5, tz2 1, tz3 1), got %d", n)
	}

	writeFile(t, file, strings.Replace(etl, "WITH (on_error = 'dead_letter');", "WITH (on_error = 'dead_letter', out_of_range = 'null');", 1))
	want := []string{"tz|5|5|NULL", "tz|6|6|2024-01-06"}
	got := func() []string {
		return chRows(t, ch, "SELECT _table, toString(id), toString(amount), ifNull(toString(d), 'NULL') FROM "+db+".tz_current ORDER BY _table, id")
	}
	out := mustEtlq(t, "deadletter", "replay", "--state-dir", state, file, "tz")
	if !strings.Contains(out, "replayed 5 dead letters of pipeline tz: 1 rows written (the removals of keys whose row failed again included), 0 failed again, 4 left out (their table was truncated, dropped, renamed away or read again after them") {
		t.Errorf("replay says:\n%s", out)
	}
	for _, w := range []string{"table=" + db + ".tz letters=2", "table=" + db + ".tz2 letters=1", "table=" + db + ".tz3 letters=1", "truncated, dropped or renamed away after them"} {
		if !strings.Contains(out, w) {
			t.Errorf("the replay's log does not say %q:\n%s", w, out)
		}
	}
	diffRows(t, want, got())

	aside, _ := filepath.Glob(letters + ".replayed-*")
	if len(aside) != 1 {
		t.Fatalf("the replayed file is not kept aside: %q", aside)
	}
	out = mustEtlq(t, "deadletter", "replay", "--state-dir", state, "--from", aside[0], file, "tz")
	if !strings.Contains(out, "1 rows written (the removals of keys whose row failed again included), 0 failed again, 4 left out") {
		t.Errorf("the second replay says:\n%s", out)
	}
	diffRows(t, want, got())
	// A resnapshot of the whole table reads it again (id 5 now with a
	// NULL date): the letter of id 5, older, is left out as well.
	mustEtlq(t, "resnapshot", "--state-dir", state, file, "tz", db+".tz")
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	out = mustEtlq(t, "deadletter", "replay", "--state-dir", state, "--from", aside[0], file, "tz")
	if !strings.Contains(out, "0 rows written (the removals of keys whose row failed again included), 0 failed again, 5 left out") ||
		!strings.Contains(out, "read again whole (resnapshot) after them") {
		t.Errorf("the replay after the resnapshot says:\n%s", out)
	}
	diffRows(t, want, got())
	// Later changes flow as before.
	myExec(t, my, "SET SESSION sql_mode = ''", "UPDATE "+db+".tz SET d = '2024-02-05' WHERE id = 5")
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	diffRows(t, []string{"tz|5|5|2024-02-05", "tz|6|6|2024-01-06"}, got())
}

// TestReplayLeavesOutLettersOfRangeRereads: a resnapshot limited by
// --where re-reads a range and removes the keys of it that it did not
// find, but noted nothing for the dead letters: a dead-lettered key of the
// range, since deleted at the source (without a row event, as the rows
// such a resnapshot repairs), came back at replay. Now replay asks the
// source's server which letters' rows the WHERE selects, over the table's
// column types and collation: id 2 (id < 4) and id 7 ('Abc' = 'ABC' in
// the column's case-insensitive collation, which a byte comparison
// misses) are left out, id 5 (outside the range, still at the source) is
// replayed. The target then equals the source.
func TestReplayLeavesOutLettersOfRangeRereads(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my, ch := s.db, s.my, s.ch
		myExec(t, my,
			"CREATE DATABASE "+db,
			"SET SESSION sql_mode = ''",
			"CREATE TABLE "+db+".r (id INT PRIMARY KEY, name VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL, d DATE)",
			"INSERT INTO "+db+".r VALUES (1, 'x', '2024-01-01'), (2, 'abc', '0000-00-00'), (3, 'y', '2024-01-03'), (5, 'zzz', '0000-00-00'), (7, 'Abc', '0000-00-00')",
		)
		dir := t.TempDir()
		file, state := filepath.Join(dir, "r.etl"), filepath.Join(dir, "state")
		etl := fmt.Sprintf(`CREATE SOURCE shop FROM mysql '%[1]s';
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE r FROM binlog shop.%[3]s.r TRANSFORM id, name, d
  INTO clickhouse dw.%[3]s.r MODE upsert
  WITH (on_error = 'dead_letter');
`, myDSN, s.chDSN, db)
		writeFile(t, file, etl)
		mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		if n := len(readLines(t, filepath.Join(state, "deadletter", "r.jsonl"))); n != 3 {
			t.Fatalf("want 3 dead letters (ids 2, 5, 7), got %d", n)
		}
		// Rows deleted without a row event; the range is read again.
		myExec(t, my, "SET SESSION sql_log_bin = 0", "DELETE FROM "+db+".r WHERE id IN (2, 7)", "SET SESSION sql_log_bin = 1")
		mustEtlq(t, "resnapshot", "--state-dir", state, "--where", "id < 4 OR name = 'ABC'", file, "r", db+".r")
		mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)

		writeFile(t, file, strings.Replace(etl, "WITH (on_error = 'dead_letter');", "WITH (on_error = 'dead_letter', out_of_range = 'null');", 1))
		out := mustEtlq(t, "deadletter", "replay", "--state-dir", state, file, "r")
		if !strings.Contains(out, "replayed 3 dead letters of pipeline r: 1 rows written (the removals of keys whose row failed again included), 0 failed again, 2 left out") {
			t.Errorf("replay says:\n%s", out)
		}
		for _, w := range []string{"their row is in a range of their table read again after them", "table=" + db + ".r", `where="id < 4 OR name = 'ABC'"`, "letters=2"} {
			if !strings.Contains(out, w) {
				t.Errorf("the replay's log does not say %q:\n%s", w, out)
			}
		}
		diffRows(t, []string{"1|x|2024-01-01", "3|y|2024-01-03", "5|zzz|NULL"},
			chRows(t, ch, "SELECT toString(id), name, ifNull(toString(d), 'NULL') FROM "+db+".r_current ORDER BY id"))
	})
}
