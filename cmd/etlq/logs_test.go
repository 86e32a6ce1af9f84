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
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// jsonLines parses every line of a --log-format json standard error.
func jsonLines(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a line that is not JSON: %q\n%s", line, stderr)
		}
		out = append(out, m)
	}
	return out
}

// TestJSONLogs: with --log-format json every line on standard error is
// JSON, the final error included; durations are text ("12ms"), not
// nanoseconds; and with on_error = 'fail' the pipeline's summary counts the
// row that stopped it instead of saying row_errors=0 next to the failure.
func TestJSONLogs(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	db := testenv.UniqueName(t)
	my := testenv.MySQLConn(t, myDSN)
	t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, qty VARCHAR(10))", "INSERT INTO "+db+".t VALUES (1, '5'), (2, 'x7'), (3, '9')")
	dir := t.TempDir()
	run := func(table string) (string, error) {
		file := filepath.Join(dir, table+".etl")
		os.WriteFile(file, []byte(fmt.Sprintf("CREATE SOURCE s FROM mysql '%s';\nCREATE PIPELINE p FROM binlog s.%s.%s TRANSFORM id, CAST(qty AS INT64) AS qty INTO file '%s' FORMAT jsonl;\n",
			myDSN, db, table, filepath.Join(dir, table+".jsonl"))), 0o644)
		cmd := exec.Command(etlqBin, "apply", "--once", "--log-format", "json", "--state-dir", filepath.Join(dir, table), "--progress", "never", file)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return stderr.String(), err
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			t.Fatalf("apply did not end:\n%s", stderr.String())
		}
		return "", nil
	}

	stderr, err := run("t")
	if err == nil {
		t.Fatalf("a row that cannot be cast did not fail the run:\n%s", stderr)
	}
	lines := jsonLines(t, stderr)
	last := lines[len(lines)-1]
	if last["level"] != "ERROR" || !strings.Contains(fmt.Sprint(last["error"]), `cannot cast 'x7' to INT64`) {
		t.Errorf("the last line is not the failure as JSON: %v\n%s", last, stderr)
	}
	found := false
	for _, m := range lines {
		if m["pipeline"] == "p" && m["rows_in"] != nil {
			found = true
			if m["row_errors"] != float64(1) || m["msg"] == "pipeline done" || m["level"] != "ERROR" {
				t.Errorf("the summary of the failed pipeline: %v", m)
			}
		}
	}
	if !found {
		t.Errorf("no summary of pipeline p:\n%s", stderr)
	}

	myExec(t, my, "CREATE TABLE "+db+".ok (id INT PRIMARY KEY, qty VARCHAR(10))", "INSERT INTO "+db+".ok VALUES (1, '5')")
	stderr, err = run("ok")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	lines = jsonLines(t, stderr)
	last = lines[len(lines)-1]
	if after, ok := last["after"].(string); last["msg"] != "finished" || !ok || !strings.HasSuffix(after, "s") {
		t.Errorf("want the finished line with after as a duration text, got %v", last)
	}
}
