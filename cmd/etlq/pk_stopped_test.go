package main

import (
	"fmt"
	"path/filepath"
	"testing"
)

// TestPrimaryKeyChangedWhileStopped (new-user trial "mariadb-features"):
// the primary key of a table changed while etlq was stopped (ALTER TABLE
// k DROP PRIMARY KEY, ADD PRIMARY KEY (k2)), then rows removed without a
// row event each (TRUNCATE TABLE, ALTER TABLE … TRUNCATE PARTITION). The
// upsert target keeps its ORDER BY (id), and its tombstones must name
// id: written by k2, every tombstone had id = 0 and they replaced each
// other, so the target kept every truncated row but one, silently.
func TestPrimaryKeyChangedWhileStopped(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my, ch := s.db, s.my, s.ch
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".k (id INT NOT NULL, k2 INT NOT NULL, v INT, PRIMARY KEY (id), UNIQUE KEY (k2))",
			"INSERT INTO "+db+".k SELECT seq, 1000 + seq, seq FROM "+db+".seq_1_to_200",
			"CREATE TABLE "+db+".p (id INT NOT NULL, k2 INT NOT NULL, y INT NOT NULL, PRIMARY KEY (id, y), UNIQUE KEY (k2, y)) PARTITION BY RANGE (y) (PARTITION p1 VALUES LESS THAN (2), PARTITION p2 VALUES LESS THAN MAXVALUE)",
			"INSERT INTO "+db+".p SELECT seq, 1000 + seq, seq % 3 FROM "+db+".seq_1_to_200")
		dir := t.TempDir()
		file, state := filepath.Join(dir, "k.etl"), filepath.Join(dir, "state")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE k FROM binlog s.%[3]s.k INTO clickhouse dw.%[3]s.k MODE upsert;
CREATE PIPELINE p FROM binlog s.%[3]s.p INTO clickhouse dw.%[3]s.p MODE upsert;
`, myDSN, s.chDSN, db, testServerID()))
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		myExec(t, my, "ALTER TABLE "+db+".k DROP PRIMARY KEY, ADD PRIMARY KEY (k2)",
			"ALTER TABLE "+db+".p DROP PRIMARY KEY, ADD PRIMARY KEY (k2, y)")
		// A run that plans the tables with their new keys, then the
		// removals while it is stopped again.
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		myExec(t, my, "TRUNCATE TABLE "+db+".k",
			"INSERT INTO "+db+".k VALUES (7, 7007, 7), (8, 7008, 8)",
			"ALTER TABLE "+db+".p TRUNCATE PARTITION p1")
		out := mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		if n := compareTable(t, my, ch, db, "k", db, "k", db+".k_current"); n != 2 {
			t.Errorf("k has %d rows at the source, want 2\n%s", n, out)
		}
		compareTable(t, my, ch, db, "p", db, "p", db+".p_current")
	})
}
