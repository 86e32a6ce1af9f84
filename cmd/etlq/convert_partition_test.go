package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConvertPartitionJoinsAtStatement: MariaDB's ALTER TABLE pt CONVERT
// PARTITION p TO TABLE x under a pattern (db.*) makes x with the
// partition's rows, which no row event carries. x joins the stream at the
// statement with a snapshot, as a table renamed in does, so the pattern's
// target holds x's rows with no row change of x (and pt's are gone from
// it); the same for a CONVERT made while etlq is stopped (kill -9).
// Before, x joined only at its first row change: its rows were missing
// from the target until then, for good if it never changed.
func TestConvertPartitionJoinsAtStatement(t *testing.T) {
	t.Parallel()
	onBothServers(t, testConvertPartitionJoinsAtStatement)
}

func testConvertPartitionJoinsAtStatement(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".pt (id INT NOT NULL, y INT NOT NULL, k INT, PRIMARY KEY (id, y)) PARTITION BY RANGE (y) ("+
			"PARTITION p1 VALUES LESS THAN (2001), PARTITION p2 VALUES LESS THAN (2002), PARTITION pmax VALUES LESS THAN MAXVALUE)",
		"INSERT INTO "+db+".pt (id, y, k) SELECT seq, 2000 + seq % 3, seq FROM "+db+".seq_1_to_300",
		"CREATE TABLE "+db+".a (id INT NOT NULL, y INT NOT NULL, k INT, PRIMARY KEY (id, y))",
		"INSERT INTO "+db+".a VALUES (1, 1, 1)")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE allp FROM binlog s.%[3]s.* TRANSFORM _table, id, y, k INTO clickhouse dw.%[3]s.allp MODE upsert KEY (_table, id, y) WITH (flush_interval = '100ms');
`, myDSN, s.chDSN, db, testServerID()))
	same := func(a *liveApply, tables ...string) {
		t.Helper()
		var q []string
		for _, tb := range tables {
			q = append(q, fmt.Sprintf("SELECT '%[2]s' AS t, id, y, IFNULL(k, 'NULL') AS k FROM %[1]s.%[2]s", db, tb))
		}
		a.waitSame(t, my, ch, strings.Join(q, " UNION ALL ")+" ORDER BY t, id, y",
			"SELECT _table, toString(id), toString(y), ifNull(toString(k), 'NULL') FROM "+db+".allp_current WHERE _table != 'a' ORDER BY _table, id, y", 90*time.Second)
	}

	a := startApply(t, state, file)
	same(a, "pt")
	myExec(t, my, "ALTER TABLE "+db+".pt CONVERT PARTITION p1 TO TABLE "+db+".pc1", "INSERT INTO "+db+".a VALUES (2, 2, 2)")
	same(a, "pc1", "pt")
	if out := a.out.String(); !strings.Contains(out, "table joined the stream; snapshotting it") || !strings.Contains(out, "table="+db+".pc1") {
		t.Errorf("pc1 did not join with a snapshot:\n%s", out)
	}

	// While etlq is stopped (kill -9).
	a.cmd.Process.Kill()
	<-a.done
	myExec(t, my, "ALTER TABLE "+db+".pt CONVERT PARTITION p2 TO TABLE "+db+".pc2", "INSERT INTO "+db+".a VALUES (3, 3, 3)",
		"UPDATE "+db+".pc1 SET k = -k WHERE id < 20")
	a = startApply(t, state, file)
	same(a, "pc1", "pc2", "pt")
	myExec(t, my, "INSERT INTO "+db+".pc2 VALUES (9001, 2001, 1)", "DELETE FROM "+db+".pc2 WHERE id < 30", "INSERT INTO "+db+".pt VALUES (9002, 2005, 2)")
	same(a, "pc1", "pc2", "pt")
	a.running(t)
	if out := a.stop(t); strings.Contains(out, "pipeline stopped") {
		t.Errorf("the pipeline stopped:\n%s", out)
	}
}
