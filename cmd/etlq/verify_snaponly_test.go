package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifySnapshotOnlySaysSo: a SNAPSHOT only pipeline's target is its
// table as read once; verify after a change of the source lists the
// difference and says why (a re-trial's verify listed the changed keys of
// such a pipeline without a word of it, and --repair would have
// overwritten the copy unawares).
func TestVerifySnapshotOnlySaysSo(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my := s.db, s.my
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, v INT)",
			"INSERT INTO "+db+".t VALUES (1, 1), (2, 2)")
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE once FROM binlog s.%s.t SNAPSHOT only INTO clickhouse dw.%s.t KEY (id);
`, myDSN, testServerID(), s.chDSN, db, db))
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		out := mustEtlq(t, "verify", "--progress", "never", "--state-dir", state, file)
		if strings.Contains(out, "SNAPSHOT only") {
			t.Errorf("a target equal to its source got the SNAPSHOT only note:\n%s", out)
		}
		myExec(t, my, "UPDATE "+db+".t SET v = 5 WHERE id = 2")
		out, err := runEtlq(t, "verify", "--progress", "never", "--state-dir", state, file)
		want := "pipeline once is SNAPSHOT only: its target holds its tables as read once and is not kept up to date"
		if err == nil || !strings.Contains(out, "changed 1") || !strings.Contains(out, want) {
			t.Errorf("verify after a change of the source: want the changed key and %q, got %v:\n%s", want, err, out)
		}
	})
}
