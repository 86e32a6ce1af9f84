package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestCheckpointImpossiblePosition: a checkpoint file whose position was
// moved into the middle of an event, or past the end of its binlog file,
// makes apply — with --once and without — exit 1 at once with an error
// naming the position and what to do. It used to reconnect ~500 times a
// second without end (121 MB of log in 10 minutes), or, past the end, end a
// --once run with nothing read.
func TestCheckpointImpossiblePosition(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	db := testenv.UniqueName(t)
	my := testenv.MySQLConn(t, myDSN)
	t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY)", "INSERT INTO "+db+".t VALUES (1)")
	dir := t.TempDir()
	file := filepath.Join(dir, "p.etl")
	os.WriteFile(file, []byte(fmt.Sprintf("CREATE SOURCE s FROM mysql '%s';\nCREATE PIPELINE p FROM binlog s.%s.t TRANSFORM id INTO file '%s' FORMAT jsonl;\n",
		myDSN, db, filepath.Join(dir, "out.jsonl"))), 0o644)
	good := filepath.Join(dir, "good")
	mustEtlq(t, "apply", "--once", "--state-dir", good, "--progress", "never", file)
	cp, err := os.ReadFile(filepath.Join(good, "source-s.json"))
	if err != nil {
		t.Fatal(err)
	}
	myExec(t, my, "INSERT INTO "+db+".t VALUES (2)", "INSERT INTO "+db+".t VALUES (3)")
	for _, tc := range []struct {
		name  string
		shift float64
		want  string
	}{
		{"mid_event", 5, "is not the start of an event"},
		{"past_end", 1 << 30, "is past the end of the server's file"},
	} {
		for _, once := range []bool{true, false} {
			var st map[string]any
			if err := json.Unmarshal(cp, &st); err != nil {
				t.Fatal(err)
			}
			mark := st["mark"].(map[string]any)
			mark["pos"] = mark["pos"].(float64) + tc.shift
			b, _ := json.Marshal(st)
			state := filepath.Join(dir, fmt.Sprintf("%s_%v", tc.name, once))
			os.MkdirAll(state, 0o755)
			if err := os.WriteFile(filepath.Join(state, "source-s.json"), b, 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"apply", "--state-dir", state, "--progress", "never", file}
			if once {
				args = append(args, "--once")
			}
			start := time.Now()
			out, err := runEtlq(t, args...)
			took := time.Since(start)
			last := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
			if err == nil || !strings.HasPrefix(last, "etlq: ") || !strings.Contains(last, tc.want) || !strings.Contains(last, "empty state directory") {
				t.Errorf("%s once=%v: want exit 1 with an error saying %q, got %v after %v:\n%s", tc.name, once, tc.want, err, took, out)
				continue
			}
			if n := strings.Count(out, "reconnecting"); n > 0 {
				t.Errorf("%s once=%v: %d reconnects to a position the server cannot send from:\n%s", tc.name, once, n, out)
			}
			t.Logf("%s once=%v: %v: %s", tc.name, once, took.Round(time.Millisecond), last)
		}
	}
}
