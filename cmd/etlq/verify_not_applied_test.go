package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestVerifyDefinitionNotApplied: verify run with a file edited since the
// running apply started (a WHERE narrowed) compares with the edited
// definition, which no apply has written: it says so, and --repair
// leaves the target alone. A new-user trial's verify listed 8,303 "extra"
// keys the running apply still wrote by the old WHERE, and --repair would
// have deleted them.
func TestVerifyDefinitionNotApplied(t *testing.T) {
	t.Parallel()
	s, file, state, a := startRepairable(t, testenv.MySQLDSN(t), "(1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')", 4)
	old, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(old), "TRANSFORM id, v", "WHERE id <= 2 TRANSFORM id, v", 1)
	if edited == string(old) {
		t.Fatal("the pipeline's definition was not edited")
	}
	writeFile(t, file, edited)
	v, code, out := runVerify(t, "--state-dir", state, "--repair", file)
	r := v.Pipelines[0]
	if code != 1 || r.Extra != 2 || r.Repaired != 0 || r.NotApplied == "" || !strings.Contains(r.RepairSkipped, "Apply the edited file first") {
		t.Fatalf("verify --repair of an edit not applied: exit %d, want 2 extra keys left alone, the edit named:\n%s", code, out)
	}
	got, err := chTry(s.ch, fmt.Sprintf("SELECT toString(id), v FROM %s.t FINAL WHERE _is_deleted = 0 ORDER BY id", s.db))
	if err != nil || strings.Join(got, ",") != "1|a,2|b,3|c,4|d" {
		t.Fatalf("target after verify --repair: %v %v", got, err)
	}
	txt, _ := runEtlq(t, "verify", "--progress", "never", "--state-dir", state, file)
	if !strings.Contains(txt, "p: definition not applied: the file's definition of pipeline p differs from the one etlq apply last ran with") {
		t.Errorf("verify's text lacks the note of the edit not applied:\n%s", txt)
	}
	// The file as applied: no note, and nothing differs.
	writeFile(t, file, string(old))
	if v, code, out := runVerify(t, "--state-dir", state, file); code != 0 || !v.OK || v.Pipelines[0].NotApplied != "" {
		t.Fatalf("verify of the file as applied: exit %d:\n%s", code, out)
	}
	a.running(t)
}
