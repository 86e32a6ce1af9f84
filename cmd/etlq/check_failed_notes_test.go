package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckNoChangeNotesOfFailedPipeline: a pipeline with an error of its
// own (a misspelt column) has no note against the state directory's last
// run. Before, check said first "pipeline o_log no longer reads db.o
// (FROM changed since the last run): …" — its FROM was never edited: the
// failed resolution had no tables — and only then the real error
// (new-user trial). The same file offline (nothing resolved) has no such
// note either; the correct file has none, and the error is still said.
func TestCheckNoChangeNotesOfFailedPipeline(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		db := checkDB(t, myDSN, map[string]string{"o": "id INT PRIMARY KEY, amount INT NOT NULL"})
		dir := t.TempDir()
		state := filepath.Join(dir, "state")
		file := filepath.Join(dir, "o.etl")
		write := func(cols string) {
			writeFile(t, file, fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);\n"+
				"CREATE PIPELINE o_log FROM binlog s.%s.o TRANSFORM %s INTO stdout;\n"+
				"CREATE PIPELINE o_all FROM binlog s.%s.o TRANSFORM id INTO stdout;\n", myDSN, testServerID(), db, cols, db))
		}
		write("id, amount")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		if out := mustEtlq(t, "check", "--state-dir", state, file); strings.Contains(out, "note:") {
			t.Errorf("an unchanged file: want no note, got:\n%s", out)
		}

		write("id, amout")
		out, err := runEtlq(t, "check", "--state-dir", state, file)
		if err == nil || !strings.Contains(out, `amout`) {
			t.Fatalf("check of a misspelt column: want its error, got %v:\n%s", err, out)
		}
		if strings.Contains(out, "no longer reads") || strings.Contains(out, "note:") {
			t.Errorf("check of a misspelt column: want no note of the failed pipeline against the last run, got:\n%s", out)
		}
		out, _ = runEtlq(t, "check", "--offline", "--state-dir", state, file)
		if strings.Contains(out, "no longer reads") {
			t.Errorf("check --offline: want no note of tables that were not resolved, got:\n%s", out)
		}
	})
}
