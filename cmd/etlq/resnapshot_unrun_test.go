package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
	"github.com/etlq/etlq/exec/engine"
)

// TestResnapshotPipelineNotRunYet: a resnapshot of a pipeline added to the
// file but not applied yet. `etlq resnapshot` said "the running apply
// takes it within a second"; the running apply, which does not run the
// pipeline, ignored it without a word (--wait exited 1, the request
// stayed), and the next apply took the pipeline's first snapshot AND
// carried the request out: its append target got every row twice
// (new-user trial). Now the command refuses such a request; the running
// apply fails one it gets for a pipeline it does not run (<id>.failed);
// and the next apply fails one left over instead of reading the table a
// second time.
func TestResnapshotPipelineNotRunYet(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	db := s.db
	myExec(t, s.my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(8) NOT NULL)", "INSERT INTO "+db+".t VALUES (1, 'a'), (2, 'b')",
		"CREATE TABLE "+db+".u (id INT PRIMARY KEY, v VARCHAR(8) NOT NULL)", "INSERT INTO "+db+".u VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e')")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	first := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t TRANSFORM id, v INTO clickhouse dw.%s.t MODE upsert KEY (id);
`, myDSN, testServerID(), s.chDSN, db, db)
	writeFile(t, file, first)
	a := startApply(t, state, file)
	a.waitFor(t, "p's snapshot", 2*time.Minute, func() (bool, string) {
		n, err := chCount(s.chDSN, "SELECT count() FROM "+db+".t FINAL WHERE _is_deleted = 0")
		return err == nil && n == 2, fmt.Sprintf("%d, %v", n, err)
	})
	writeFile(t, file, first+fmt.Sprintf("CREATE PIPELINE q FROM binlog s.%s.u TRANSFORM id, v INTO clickhouse dw.%s.q MODE append;\n", db, db))
	reqDir := filepath.Join(state, "resnapshot")

	out, err := runEtlq(t, "resnapshot", "--state-dir", state, file, "q")
	want := "pipeline q has not run yet (no checkpoint in state directory " + state + " names it): its first etlq apply reads its tables (SNAPSHOT initial)"
	if err == nil || !strings.Contains(out, want) {
		t.Errorf("resnapshot of a pipeline not applied yet: %v, want %q:\n%s", err, want, out)
	}
	if ents, _ := os.ReadDir(reqDir); len(ents) > 0 {
		t.Errorf("a request was written: %v", ents)
	}

	// A request that gets there all the same (an older etlq wrote it):
	// the running apply, which does not run q, fails it.
	req := &engine.ResnapshotRequest{Source: "s", Pipeline: "q", Table: db + ".u"}
	if _, err := engine.WriteResnapshotRequest(state, req); err != nil {
		t.Fatal(err)
	}
	failed := filepath.Join(reqDir, req.ID+".failed")
	a.waitFor(t, "the request failed", time.Minute, func() (bool, string) {
		_, err := os.Stat(failed)
		return err == nil, fmt.Sprint(err)
	})
	if b, _ := os.ReadFile(failed); !strings.HasPrefix(string(b), "the running etlq apply does not run pipeline q (not in the file it started with)") {
		t.Errorf("%s: want the reason first:\n%s", failed, b)
	}
	if _, err := os.Stat(filepath.Join(reqDir, req.ID+".json")); err == nil {
		t.Errorf("the failed request's file stays")
	}
	a.stop(t)

	// One left over when the next apply adds q: q's first snapshot reads
	// u once, and the request fails instead of reading it again.
	req = &engine.ResnapshotRequest{Source: "s", Pipeline: "q", Table: db + ".u"}
	if _, err := engine.WriteResnapshotRequest(state, req); err != nil {
		t.Fatal(err)
	}
	out = mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	if got := chRows(t, s.ch, "SELECT toString(count()), toString(uniqExact(id)) FROM "+db+".q"); strings.Join(got, ",") != "5|5" {
		t.Errorf("q's append target: want each of the 5 rows once, got rows|keys %v:\n%s", got, out)
	}
	b, err := os.ReadFile(filepath.Join(reqDir, req.ID+".failed"))
	if err != nil || !strings.HasPrefix(string(b), "pipeline q had not run when this was requested: its first snapshot reads "+db+".u now") {
		t.Errorf("the request left over: want it failed with the reason (%v):\n%s\n%s", err, b, out)
	}
}
