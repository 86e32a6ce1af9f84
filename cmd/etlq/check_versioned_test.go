package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemVersionedTableRefused (new-user trial "mariadb-features"): a
// pipeline that names a system-versioned table (WITH SYSTEM VERSIONING,
// with and without PERIOD FOR SYSTEM_TIME columns) is refused by check
// with what the table is and why etlq does not capture it, at the FROM.
// (Before: "no table matches db.sv in source s", for a table that is
// there.)
func TestSystemVersionedTableRefused(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db := s.db
		myExec(t, s.my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".sv (id INT PRIMARY KEY, v INT) WITH SYSTEM VERSIONING",
			"CREATE TABLE "+db+".svp (id INT PRIMARY KEY, v INT, rs TIMESTAMP(6) GENERATED ALWAYS AS ROW START, re TIMESTAMP(6) GENERATED ALWAYS AS ROW END, PERIOD FOR SYSTEM_TIME(rs, re)) WITH SYSTEM VERSIONING")
		file := filepath.Join(t.TempDir(), "sv.etl")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE sv FROM binlog s.%[3]s.sv INTO clickhouse dw.%[3]s.sv MODE upsert;
CREATE PIPELINE svp FROM binlog s.%[3]s.svp INTO clickhouse dw.%[3]s.svp MODE upsert;
`, myDSN, s.chDSN, db, testServerID()))
		out, err := runEtlq(t, "check", "--state-dir", filepath.Join(t.TempDir(), "state"), file)
		if err == nil {
			t.Fatalf("check accepted system-versioned tables:\n%s", out)
		}
		for _, tb := range []string{"sv", "svp"} {
			if !strings.Contains(out, "source s: "+db+"."+tb+" is a system-versioned table (WITH SYSTEM VERSIONING), which etlq does not capture") {
				t.Errorf("check does not say %s is system-versioned:\n%s", tb, out)
			}
		}
		if strings.Contains(out, "no table matches") {
			t.Errorf("check says no table matches:\n%s", out)
		}
	})
}
