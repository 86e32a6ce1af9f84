package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestForeignKeyActionsWarned (new-user trial "mariadb-features"): the
// rows an ON DELETE CASCADE / SET NULL or ON UPDATE CASCADE action
// changes are not in MariaDB's binlog, so a target of the child table
// keeps them. check warns at each pipeline that reads such a child, naming
// the foreign key, its columns, the parent and the action (apply logs the
// same at its start); a RESTRICT key and the parent get none. (Before,
// check said ok, and a parent's DELETE left the child's rows in the
// target without a word.) A key is one warning however many pipelines
// read its table, at the first and naming them all (the operator trial:
// 15 warnings for 5 pipelines over sakila.payment's 3 keys).
func TestForeignKeyActionsWarned(t *testing.T) {
	t.Parallel()
	onBothServers(t, testForeignKeyActionsWarned)
}

func testForeignKeyActionsWarned(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my := s.db, s.my
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".p (id INT PRIMARY KEY, v INT) ENGINE=InnoDB",
		"CREATE TABLE "+db+".c1 (id INT PRIMARY KEY, pid INT, CONSTRAINT fk_c1_p FOREIGN KEY (pid) REFERENCES "+db+".p (id) ON DELETE CASCADE ON UPDATE CASCADE) ENGINE=InnoDB",
		"CREATE TABLE "+db+".c2 (id INT PRIMARY KEY, pid INT, CONSTRAINT fk_c2_p FOREIGN KEY (pid) REFERENCES "+db+".p (id) ON DELETE SET NULL) ENGINE=InnoDB",
		"CREATE TABLE "+db+".c3 (id INT PRIMARY KEY, pid INT, CONSTRAINT fk_c3_p FOREIGN KEY (pid) REFERENCES "+db+".p (id) ON DELETE RESTRICT) ENGINE=InnoDB",
		"INSERT INTO "+db+".p VALUES (1, 1), (2, 2)",
		"INSERT INTO "+db+".c1 VALUES (10, 1)", "INSERT INTO "+db+".c2 VALUES (20, 1)", "INSERT INTO "+db+".c3 VALUES (30, 2)")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "fk.etl"), filepath.Join(dir, "state")
	var etl strings.Builder
	fmt.Fprintf(&etl, "CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);\nCREATE SINK dw INTO clickhouse '%s';\n", myDSN, testServerID(), s.chDSN)
	for _, tb := range []string{"p", "c1", "c2", "c3"} {
		fmt.Fprintf(&etl, "CREATE PIPELINE %[2]s FROM binlog s.%[1]s.%[2]s INTO clickhouse dw.%[1]s.%[2]s MODE upsert;\n", db, tb)
	}
	for _, name := range []string{"c1b", "c1c"} {
		fmt.Fprintf(&etl, "CREATE PIPELINE %[2]s FROM binlog s.%[1]s.c1 INTO clickhouse dw.%[1]s.%[2]s MODE upsert;\n", db, name)
	}
	writeFile(t, file, etl.String())
	out := mustEtlq(t, "check", "--state-dir", state, file)
	for _, want := range []string{
		"fk.etl:4:8: pipelines c1, c1b, c1c: " + db + ".c1 has foreign key fk_c1_p (pid) REFERENCES " + db + ".p ON DELETE CASCADE ON UPDATE CASCADE: the server makes the changes of that action without a row event in the binary log (a DELETE of a " + db + ".p row deletes its " + db + ".c1 rows; an UPDATE of a " + db + ".p key changes pid of its " + db + ".c1 rows), so the target keeps those rows as they were",
		"fk.etl:5:8: pipeline c2: " + db + ".c2 has foreign key fk_c2_p (pid) REFERENCES " + db + ".p ON DELETE SET NULL: the server makes the changes of that action without a row event in the binary log (a DELETE of a " + db + ".p row sets pid to NULL in its " + db + ".c2 rows)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check does not warn %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "fk_c3_p") || strings.Contains(out, "pipeline p:") {
		t.Errorf("check warns of a foreign key that changes no row of the pipeline's table:\n%s", out)
	}
	if n := strings.Count(out, "has foreign key fk_c1_p"); n != 1 {
		t.Errorf("check warns of fk_c1_p %d times, want once for its three pipelines:\n%s", n, out)
	}
	if !strings.Contains(out, "ok (1 source") {
		t.Errorf("a warning made check fail:\n%s", out)
	}
	out = mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	if !strings.Contains(out, "WARN") || !strings.Contains(out, "pipelines c1, c1b, c1c: "+db+".c1 has foreign key fk_c1_p (pid)") {
		t.Errorf("apply does not log the foreign key's warning:\n%s", out)
	}
	if n := strings.Count(out, "has foreign key fk_c1_p"); n != 1 {
		t.Errorf("apply logs fk_c1_p's warning %d times, want once:\n%s", n, out)
	}
}
