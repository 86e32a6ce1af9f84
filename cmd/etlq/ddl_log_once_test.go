package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSchemaChangeLoggedOnce: one DDL on a table two pipelines read (one of
// them a pattern over two tables) is logged once: "schema change: pipeline
// planned again", naming the table, the change and both pipelines, however
// many batches of the table follow it — while streaming, and for a DDL made
// while etlq was stopped (the plan made from the table as it is now, the
// DDL met again in the binlog) with another after it that changes no
// column's Arrow type, only its declared type (planned again too: the
// sink's fields carry it). Before, each pipeline logged it, with a column
// count.
func TestSchemaChangeLoggedOnce(t *testing.T) {
	t.Parallel()
	onBothServers(t, testSchemaChangeLoggedOnce)
}

func testSchemaChangeLoggedOnce(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, chDSN := s.db, s.my, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(16) NOT NULL)",
		"CREATE TABLE "+db+".u (id INT PRIMARY KEY, v VARCHAR(16) NOT NULL)",
		"INSERT INTO "+db+".t VALUES (1, 'a'), (2, 'b')",
		"INSERT INTO "+db+".u VALUES (1, 'a')")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t INTO clickhouse dw.%s.t MODE upsert KEY (id);
CREATE PIPELINE q FROM binlog s.%s.* INTO clickhouse dw.%s.all MODE append;
`, myDSN, testServerID(), chDSN, db, db, db, db))
	a := startApply(t, state, file)
	a.waitFor(t, "the snapshot", 2*time.Minute, func() (bool, string) {
		n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.t FINAL", db))
		return err == nil && n == 2, fmt.Sprintf("%d, %v", n, err)
	})
	myExec(t, my, "ALTER TABLE "+db+".t ADD COLUMN note VARCHAR(8) NULL")
	for i := 3; i <= 8; i++ {
		myExec(t, my, fmt.Sprintf("INSERT INTO %s.t VALUES (%d, 'x', 'n')", db, i))
	}
	myExec(t, my, "INSERT INTO "+db+".u VALUES (2, 'b')")
	a.waitFor(t, "the rows after the DDL", 2*time.Minute, func() (bool, string) {
		n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.all", db))
		return err == nil && n == 10, fmt.Sprintf("%d, %v", n, err)
	})
	out := a.stop(t)
	myExec(t, my, "ALTER TABLE "+db+".t ADD COLUMN note2 INT NULL", "ALTER TABLE "+db+".t MODIFY COLUMN v VARCHAR(32) NOT NULL")
	for i := 9; i <= 12; i++ {
		myExec(t, my, fmt.Sprintf("INSERT INTO %s.t VALUES (%d, 'x', 'n', 1)", db, i))
	}
	a = startApply(t, state, file)
	a.waitFor(t, "the rows after the DDL while stopped", 2*time.Minute, func() (bool, string) {
		n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.all", db))
		return err == nil && n == 14, fmt.Sprintf("%d, %v", n, err)
	})
	out += a.stop(t)
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "planned again") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("%d lines for three DDLs, want one each:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for i, change := range []string{"added note varchar(8)", "added note2 int(11)", "v varchar(16) → varchar(32)"} {
		for _, w := range []string{"table=" + db + ".t ", `change="` + change + `"`, `pipelines="p, q"`} {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d does not say %s:\n%s", i+1, w, lines[i])
			}
		}
	}
}
