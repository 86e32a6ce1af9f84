package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestBinlogFilters: a server started with binlog_ignore_db (the TLS
// test server leaves etlq_binlog_ignored out of its binary log,
// scripts/services) logs no change of that database's tables. A pipeline
// following one streamed nothing and said nothing; check and apply now
// refuse it, naming the table and the filter, while SNAPSHOT only of it
// passes. A pipeline of another database runs, with a WARN that a DDL
// made under USE of a database left out is not logged.
func TestBinlogFilters(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLTLSDSN(t)
	my := testenv.MySQLConn(t, myDSN)
	tb := strings.ToLower(testenv.UniqueName(t))
	myExec(t, my, "CREATE DATABASE IF NOT EXISTS etlq_binlog_ignored",
		"CREATE TABLE etlq_binlog_ignored."+tb+" (id INT PRIMARY KEY, v INT)",
		"INSERT INTO etlq_binlog_ignored."+tb+" VALUES (1, 1)")
	t.Cleanup(func() { my.Execute("DROP TABLE IF EXISTS etlq_binlog_ignored." + tb) })
	db := checkDB(t, myDSN, map[string]string{"t": "id INT PRIMARY KEY, v INT"})
	myExec(t, my, "INSERT INTO "+db+".t VALUES (1, 1)")
	dir := t.TempDir()
	write := func(name, from string) string {
		file := filepath.Join(dir, name+".etl")
		writeFile(t, file, fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);\nCREATE PIPELINE p FROM binlog s.%s INTO stdout;\n", myDSN, testServerID(), from))
		return file
	}
	const refused = "the server leaves the database of etlq_binlog_ignored.%s out of its binary log (binlog_ignore_db = etlq_binlog_ignored in its my.cnf)"
	ignored := write("ignored", "etlq_binlog_ignored."+tb)
	for _, args := range [][]string{
		{"check", ignored},
		{"apply", "--once", "--progress", "never", "--state-dir", filepath.Join(dir, "s1"), ignored},
	} {
		out, err := runEtlq(t, args...)
		if err == nil || !strings.Contains(out, fmt.Sprintf(refused, tb)) {
			t.Errorf("etlq %s of a table whose database the binlog leaves out: want the refusal, got %v:\n%s", args[0], err, out)
		}
	}
	if out, err := runEtlq(t, "check", write("only", "etlq_binlog_ignored."+tb+" SNAPSHOT only")); err != nil {
		t.Errorf("check of SNAPSHOT only (no binlog read): %v\n%s", err, out)
	}
	out := mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", filepath.Join(dir, "s2"), write("other", db+".t"))
	if !strings.Contains(out, "the server filters its binary log by database (binlog_ignore_db = etlq_binlog_ignored): a DDL is logged only when the session's default database (USE) is not left out") {
		t.Errorf("apply of another database: no WARN of the filter:\n%s", out)
	}
}
