package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// auditRun makes table t (columns cols, rows seed) in a database of its
// own, a changelog pipeline of it into ClickHouse table audit, and
// returns the scratch and a function that runs apply --once over it.
func auditRun(t *testing.T, myDSN, cols, seed string) (*scratch, func()) {
	s := newScratch(t, myDSN)
	myExec(t, s.my,
		"CREATE DATABASE "+s.db,
		"CREATE TABLE "+s.db+".t ("+cols+")",
		"INSERT INTO "+s.db+".t VALUES "+seed,
	)
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE audit FROM binlog s.%s.t TRANSFORM * INTO clickhouse dw.%s.audit MODE changelog;
`, myDSN, s.chDSN, s.db, s.db)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	return s, func() { mustEtlq(t, "apply", "--once", "--state-dir", state, file) }
}

// TestChangelogRenamedColumnKeepsBefore: a RENAME COLUMN adds the new
// column to a changelog table with DEFAULT the old one, so that the rows
// already there read their values under the new name — and the before
// image of the renamed column must read the old column's before image.
// It read the new value (`_before_a2 DEFAULT a`): an update logged before
// the rename showed its old value replaced by the new one in _before_a2.
func TestChangelogRenamedColumnKeepsBefore(t *testing.T) {
	t.Parallel()
	onBothServers(t, testChangelogRenamedColumnKeepsBefore)
}

func testChangelogRenamedColumnKeepsBefore(t *testing.T, myDSN string) {
	s, apply := auditRun(t, myDSN, "id INT PRIMARY KEY, a VARCHAR(20), n INT", "(1, 'old', 10), (2, 'two', 20)")
	db := s.db
	apply()
	myExec(t, s.my, "UPDATE "+db+".t SET a = 'new', n = 11 WHERE id = 1")
	apply()
	myExec(t, s.my,
		"ALTER TABLE "+db+".t RENAME COLUMN a TO a2",
		"UPDATE "+db+".t SET a2 = 'newer' WHERE id = 1",
	)
	apply()
	diffRows(t, []string{
		"1|read|old|NULL",
		"2|read|two|NULL",
		"1|update|new|old", // logged before the rename: its before image stays 'old'
		"1|update|newer|new",
	}, chRows(t, s.ch, "SELECT toString(id), _op, a2, _before_a2 FROM "+db+".audit ORDER BY _version"))
}

// TestChangelogAddedColumnBeforeIsNull: ADD COLUMN e … DEFAULT 7 adds e to
// a changelog table with DEFAULT 7 (the rows already there read what
// MySQL gave them), but _before_e of those rows is NULL: a snapshot row or
// an insert has no before image, and an update logged before the column
// existed had none of it (docs/language.md, the changelog table: NULL for
// other changes). It read 7.
func TestChangelogAddedColumnBeforeIsNull(t *testing.T) {
	t.Parallel()
	onBothServers(t, testChangelogAddedColumnBeforeIsNull)
}

func testChangelogAddedColumnBeforeIsNull(t *testing.T, myDSN string) {
	s, apply := auditRun(t, myDSN, "id INT PRIMARY KEY, a VARCHAR(20)", "(1, 'one')")
	db := s.db
	apply()
	myExec(t, s.my, "UPDATE "+db+".t SET a = 'uno' WHERE id = 1")
	apply()
	myExec(t, s.my,
		"ALTER TABLE "+db+".t ADD COLUMN e INT NOT NULL DEFAULT 7",
		"UPDATE "+db+".t SET e = 8 WHERE id = 1",
	)
	apply()
	diffRows(t, []string{
		"1|read|one|7|NULL",
		"1|update|uno|7|NULL",
		"1|update|uno|8|7",
	}, chRows(t, s.ch, "SELECT toString(id), _op, a, toString(e), toString(_before_e) FROM "+db+".audit ORDER BY _version"))
}

// TestChangelogKeyWithVersion: docs/language.md's audit example writes
// MODE changelog KEY (id, _version). check refused it (KEY column
// "_version" is not an output column) when _version was no output, and
// when it was one the table was made ORDER BY (id, _version, _version),
// which ClickHouse refuses at the first insert ("Primary key contains
// duplicate columns"), the table left behind (new-user trial). A
// changelog table is ordered by the key, then _version, once.
func TestChangelogKeyWithVersion(t *testing.T) {
	t.Parallel()
	onBothServers(t, testChangelogKeyWithVersion)
}

func testChangelogKeyWithVersion(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	myExec(t, s.my,
		"CREATE DATABASE "+s.db,
		"CREATE TABLE "+s.db+".orders (id INT PRIMARY KEY, amount DECIMAL(12,2))",
		"INSERT INTO "+s.db+".orders VALUES (1, 10.00), (2, 20.00)",
	)
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE audit
  FROM binlog s.%[3]s.orders
  TRANSFORM id, before.amount AS old_amount, amount AS new_amount, _op, _ts
  INTO clickhouse dw.%[3]s.orders_audit
  MODE changelog
  KEY (id, _version)
  WITH (batch_rows = 100000, flush_interval = '500ms', on_error = 'dead_letter');
CREATE PIPELINE audit_v
  FROM binlog s.%[3]s.orders
  TRANSFORM id, amount, _version
  INTO clickhouse dw.%[3]s.orders_audit_v
  MODE changelog
  KEY (id, _version);
`, myDSN, s.chDSN, s.db)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	mustEtlq(t, "check", "--state-dir", state, file)
	mustEtlq(t, "apply", "--once", "--state-dir", state, file)
	myExec(t, s.my, "UPDATE "+s.db+".orders SET amount = 11.00 WHERE id = 1")
	mustEtlq(t, "apply", "--once", "--state-dir", state, file)
	diffRows(t, []string{"1|read|NULL|10.00", "2|read|NULL|20.00", "1|update|10.00|11.00"},
		chRows(t, s.ch, "SELECT toString(id), _op, toString(old_amount), toString(new_amount) FROM "+s.db+".orders_audit ORDER BY _version"))
	diffRows(t, []string{"1|10.00", "2|20.00", "1|11.00"},
		chRows(t, s.ch, "SELECT toString(id), toString(amount) FROM "+s.db+".orders_audit_v ORDER BY _version"))
	for _, tb := range []string{"orders_audit", "orders_audit_v"} {
		diffRows(t, []string{"id, _version"},
			chRows(t, s.ch, "SELECT sorting_key FROM system.tables WHERE database = '"+s.db+"' AND name = '"+tb+"'"))
	}
}
