package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestSchemaEvolution: an ALTER TABLE ADD COLUMN while streaming reaches
// ClickHouse under TRANSFORM * (schema_changes = 'evolve'); rows written
// before the change keep their values.
func TestSchemaEvolution(t *testing.T) {
	t.Parallel()
	onBothServers(t, testSchemaEvolution)
}

func testSchemaEvolution(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my,
		"CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL)",
		"INSERT INTO "+db+".t VALUES (1, 'one'), (2, 'two')",
	)
	dir := t.TempDir()
	file := filepath.Join(dir, "evolve.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t TRANSFORM * INTO clickhouse dw.%s.t WITH (schema_changes = 'evolve');
`, myDSN, chDSN, db, db)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	mustEtlq(t, "apply", "--once", "--state-dir", state, file)
	myExec(t, my,
		"INSERT INTO "+db+".t VALUES (3, 'three')",
		"ALTER TABLE "+db+".t ADD COLUMN score DECIMAL(6,2) NULL",
		"INSERT INTO "+db+".t VALUES (4, 'four', 12.50)",
		"UPDATE "+db+".t SET score = 1.25 WHERE id = 1",
	)
	mustEtlq(t, "apply", "--once", "--state-dir", state, file)
	want := myRows(t, my, "SELECT id, name, IFNULL(CAST(score AS CHAR), 'NULL') FROM "+db+".t ORDER BY id")
	got := chRows(t, ch, "SELECT toString(id), name, ifNull(toString(score), 'NULL') FROM "+db+".t_current ORDER BY id")
	diffRows(t, want, got)
}
