package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestDropCreateWhileStoppedChangelogAppend: DROP TABLE t, then CREATE
// TABLE t with other columns and rows, while etlq is stopped. A changelog
// and an append target keep the old table's rows; the run writes the
// truncate change, then the new table's rows, with its new columns added
// (docs/schema-changes.md: a column that comes with a created table needs
// no DEFAULT). The truncate row was written in the layout of the run's
// plan — the live table's, whose new columns no DDL had marked yet — so
// the sink took them for columns dropped outside etlq and every run
// stopped: "the table lacks column(s) name, … dropped outside etlq".
func TestDropCreateWhileStoppedChangelogAppend(t *testing.T) {
	t.Parallel()
	onBothServers(t, testDropCreateWhileStoppedChangelogAppend)
}

func testDropCreateWhileStoppedChangelogAppend(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my,
		"CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, a INT)",
		"INSERT INTO "+db+".t VALUES (1, 10), (2, 20)",
	)
	dir := t.TempDir()
	file := filepath.Join(dir, "dc.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE c FROM binlog s.%s.t TRANSFORM * INTO clickhouse dw.%s.c MODE changelog;
CREATE PIPELINE a FROM binlog s.%s.t TRANSFORM *, _op, _version INTO clickhouse dw.%s.a MODE append;
`, myDSN, s.chDSN, db, db, db, db)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	mustEtlq(t, "apply", "--once", "--state-dir", state, file)
	myExec(t, my,
		"DROP TABLE "+db+".t",
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, a INT, name VARCHAR(10))",
		"INSERT INTO "+db+".t VALUES (1, 11, 'one'), (5, 50, 'five')",
	)
	mustEtlq(t, "apply", "--once", "--state-dir", state, file)
	for _, tb := range []string{"c", "a"} {
		got := chRows(t, ch, "SELECT _op, toString(id), toString(a), name FROM "+db+"."+tb+" WHERE _op != 'truncate' ORDER BY _version")
		diffRows(t, []string{"read|1|10|NULL", "read|2|20|NULL", "insert|1|11|one", "insert|5|50|five"}, got)
	}
}
