package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestJSONLEmbedsJSONColumnOnOneLine: jsonl (NDJSON, one object per
// line) embeds a JSON column as JSON — and MariaDB keeps a JSON value's
// text as written, newlines and tabs between its tokens included. The
// text was embedded as it was, so a row whose JSON spans lines was cut
// into several lines, none of them a JSON object (found by the new-user
// trial "every MySQL type, exactly": '{"a":\n1}' broke the file and
// stdout). The value is embedded without the whitespace between its
// tokens now; its strings and numbers are as stored (1E2, -0 and a
// 30-digit integer unchanged). Snapshot and binlog rows, file and stdout,
// on both servers.
func TestJSONLEmbedsJSONColumnOnOneLine(t *testing.T) {
	t.Parallel()
	onBothServers(t, testJSONLEmbedsJSONColumnOnOneLine)
}

func testJSONLEmbedsJSONColumnOnOneLine(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my := s.db, s.my
	docs := []string{
		"{\"a\":\n1,\t\"b\" : [1 ,\r\n2], \"s\": \"x\\ny \"}  \n",
		" \"str\" ",
		"1E2",
		"-0",
		"[123456789012345678901234567890, 1.5e300, {\"k\":\n\t{}}]",
	}
	myExec(t, my,
		"CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, j JSON)")
	insert := func(base int) {
		for i, d := range docs {
			myExec(t, my, fmt.Sprintf("INSERT INTO %s.t VALUES (%d, '%s')", db, base+i, strings.NewReplacer(`\`, `\\`, "'", "''").Replace(d)))
		}
	}
	insert(1)
	dir := t.TempDir()
	out := filepath.Join(dir, "t.jsonl")
	file := filepath.Join(dir, "j.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE PIPELINE f FROM binlog s.%s.t SNAPSHOT initial TRANSFORM id, j, _op INTO file '%s';
CREATE PIPELINE o FROM binlog s.%s.t SNAPSHOT initial TRANSFORM id, j, _op INTO stdout FORMAT jsonl;
`, myDSN, db, out, db)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	stdout1, err := runEtlqStdout(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	insert(101) // through the binlog
	stdout2, err := runEtlqStdout(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	fileText, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"file": string(fileText), "stdout": stdout1 + stdout2} {
		got := map[int]json.RawMessage{}
		for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
			var row struct {
				ID int             `json:"id"`
				J  json.RawMessage `json:"j"`
			}
			if err := json.Unmarshal([]byte(line), &row); err != nil {
				t.Errorf("%s: line %q is no JSON object: %v", name, line, err)
				continue
			}
			got[row.ID] = row.J
		}
		for _, base := range []int{1, 101} {
			for i, d := range docs {
				var want bytes.Buffer
				if err := json.Compact(&want, []byte(d)); err != nil {
					t.Fatal(err)
				}
				if g := string(got[base+i]); g != want.String() {
					t.Errorf("%s: row %d: j is %s, want %s", name, base+i, g, want.String())
				}
			}
		}
	}
}

// runEtlqStdout runs the binary and returns its standard output alone; the
// error carries standard error.
func runEtlqStdout(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(etlqBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%v\n%s", err, stderr.String())
	}
	return string(out), nil
}
