package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestFileFormatChangedRefused: a file target's FORMAT changed (jsonl to
// csv) after apply wrote the file. check said ok and apply appended CSV
// after the JSON lines (new-user trial). Now check and plan refuse it at
// the FORMAT clause, naming the file and the way out, apply writes
// nothing into it, and with the file moved away the new format is taken.
func TestFileFormatChangedRefused(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	db := s.db
	myExec(t, s.my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(8) NOT NULL)", "INSERT INTO "+db+".t VALUES (1, 'a'), (2, 'b')")
	dir := t.TempDir()
	file, state, out := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state"), filepath.Join(dir, "rows.txt")
	head := fmt.Sprintf("CREATE SOURCE s FROM mysql '%s';\nCREATE PIPELINE p FROM binlog s.%s.t TRANSFORM id, v\n  INTO file '%s'\n", myDSN, db, out)
	writeFile(t, file, head+"  FORMAT jsonl;\n")
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	before, err := os.ReadFile(out)
	if err != nil || !strings.HasPrefix(string(before), `{"id":1`) {
		t.Fatalf("the jsonl rows: %v\n%s", err, before)
	}

	writeFile(t, file, head+"  FORMAT csv;\n")
	want := []string{
		file + ":4:3: pipeline p: " + out + " already holds jsonl rows written before, and FORMAT csv would append csv rows after them " +
			"(a file of two formats that reads as neither): move or rename the existing file, or write to a new path, or keep FORMAT jsonl",
		"  FORMAT csv;\n  ^~~~~~~~~~",
	}
	for _, cmd := range []string{"check", "plan"} {
		got, err := runEtlq(t, cmd, "--state-dir", state, file)
		for _, w := range want {
			if err == nil || !strings.Contains(got, w) {
				t.Errorf("etlq %s of the format changed: %v, want %q:\n%s", cmd, err, w, got)
			}
		}
	}
	myExec(t, s.my, "INSERT INTO "+db+".t VALUES (3, 'c')")
	got, err := runEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	if err == nil || !strings.Contains(got, "already holds jsonl rows written before") {
		t.Errorf("apply of the format changed: %v, want it refused:\n%s", err, got)
	}
	if after, _ := os.ReadFile(out); string(after) != string(before) {
		t.Errorf("apply wrote into the jsonl file:\n%s", after)
	}

	// The way out: the file moved away, the new format starts a file.
	if err := os.Rename(out, out+".old"); err != nil {
		t.Fatal(err)
	}
	mustEtlq(t, "check", "--state-dir", state, file)
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	if after, err := os.ReadFile(out); err != nil || !strings.HasPrefix(string(after), "id,v\r\n") || strings.Contains(string(after), "{") {
		t.Errorf("the csv file after the move: %v\n%s", err, after)
	}
}
