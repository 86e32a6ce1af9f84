package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestVerifyLeavesOutFileTargets: a bare `etlq verify FILE` checks the
// ClickHouse targets and leaves out a pipeline whose target cannot be read
// back (a changelog into a file), as it leaves out append pipelines; named,
// that pipeline is refused with the reason. Failed before: every file with
// such a pipeline beside its ClickHouse ones made verify exit 1 ("cannot
// be read back") however equal the targets were (new-user trial).
func TestVerifyLeavesOutFileTargets(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	db, my := s.db, s.my
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t "+liveTableDef)
	seed(t, my, db+".t", 30)
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.t SNAPSHOT only INTO clickhouse dw.%[3]s.t;
CREATE PIPELINE audit FROM binlog s.%[3]s.t SNAPSHOT only INTO file '%[5]s' MODE changelog;
`, myDSN, s.chDSN, db, testServerID(), filepath.Join(dir, "audit.jsonl")))
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	v, code, out := runVerify(t, "--state-dir", state, file)
	if code != 0 || !v.OK || len(v.Pipelines) != 2 || v.Pipelines[0].Pipeline != "p" ||
		v.Pipelines[1].Pipeline != "audit" || !strings.Contains(v.Pipelines[1].NotVerified, "cannot be read back") {
		t.Fatalf("verify of a file with a file pipeline: exit %d:\n%s", code, out)
	}
	out, err := runEtlq(t, "verify", "--progress", "never", "--state-dir", state, file, "audit")
	if err == nil || !strings.Contains(out, "pipeline audit: sink") || !strings.Contains(out, "cannot be read back") {
		t.Errorf("verify of the file pipeline by name: %v\n%s", err, out)
	}
}
