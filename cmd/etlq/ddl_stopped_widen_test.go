package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestWideningWhileStoppedNoRowsAfter: a DDL made while etlq is stopped
// that only widens types (MODIFY id BIGINT, MODIFY v BIGINT), with no row
// of the table after it, reaches the ClickHouse table in the run that
// passes it: the key column is copied into the wider key and v widened
// before the checkpoint moves past the DDL (docs/schema-changes.md: "A DDL
// reaches the target even when no row follows it"). The run planned the
// pipeline from the live (already wider) schema, so the DDL's batch
// without rows changed no plan and was dropped: the table kept Int32 and
// the checkpoint passed the DDL.
func TestWideningWhileStoppedNoRowsAfter(t *testing.T) {
	t.Parallel()
	onBothServers(t, testWideningWhileStoppedNoRowsAfter)
}

func testWideningWhileStoppedNoRowsAfter(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my,
		"CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, v INT)",
		"INSERT INTO "+db+".t VALUES (1, 10), (2, 20)",
	)
	dir := t.TempDir()
	file := filepath.Join(dir, "w.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t TRANSFORM * INTO clickhouse dw.%s.t;
`, myDSN, s.chDSN, db, db)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	mustEtlq(t, "apply", "--once", "--state-dir", state, file)
	myExec(t, my, "ALTER TABLE "+db+".t MODIFY id BIGINT NOT NULL, MODIFY v BIGINT")
	mustEtlq(t, "apply", "--once", "--state-dir", state, file)
	for col, want := range map[string]string{"id": "Int64", "v": "Nullable(Int64)"} {
		if got := chColumnType(t, ch, db, "t", col); got != want {
			t.Errorf("after the run that passed the DDL, column %s is %s, want %s", col, got, want)
		}
	}
	myExec(t, my, "INSERT INTO "+db+".t VALUES (5000000000, 6000000000)")
	mustEtlq(t, "apply", "--once", "--state-dir", state, file)
	diffRows(t, []string{"1|10", "2|20", "5000000000|6000000000"},
		chRows(t, ch, "SELECT toString(id), toString(v) FROM "+db+".t_current ORDER BY id"))
}
