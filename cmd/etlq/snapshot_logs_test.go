package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestSnapshotLogsWithoutTerminal: apply without a terminal (standard
// error a file, as under systemd or docker) logs what the progress bars
// show: per table of at least a chunk, "snapshot started" with its
// estimated rows, chunks and connections, "snapshot done" with its rows,
// duration and rate; the small tables summed up, not one line each; and
// once, the snapshot's end with the binlog position streaming goes on
// from. On both servers (binlog_row_metadata FULL and MINIMAL).
func TestSnapshotLogsWithoutTerminal(t *testing.T) {
	t.Parallel()
	for _, srv := range []struct{ name, dsn string }{{"full", testenv.MySQLDSN(t)}, {"minimal", testenv.MySQLMinimalDSN(t)}} {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			db := testenv.UniqueName(t)
			my := testenv.MySQLConn(t, srv.dsn)
			t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
			myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".big (id INT PRIMARY KEY, v VARCHAR(20))")
			var vals []string
			for i := 1; i <= 1000; i++ {
				vals = append(vals, fmt.Sprintf("(%d, 'v%d')", i, i))
			}
			myExec(t, my, "INSERT INTO "+db+".big VALUES "+strings.Join(vals, ", "))
			for i := range 5 {
				myExec(t, my, fmt.Sprintf("CREATE TABLE %s.small%d (id INT PRIMARY KEY, v VARCHAR(20))", db, i),
					fmt.Sprintf("INSERT INTO %s.small%d VALUES (1, 'a'), (2, 'b')", db, i))
			}
			dir := t.TempDir()
			file := filepath.Join(dir, "p.etl")
			os.WriteFile(file, []byte(fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (chunk_rows = 300, snapshot_parallelism = 2);\n"+
				"CREATE PIPELINE p FROM binlog s.%s.* INTO file '%s' FORMAT jsonl;\n", srv.dsn, db, filepath.Join(dir, "out.jsonl"))), 0o644)
			cmd := exec.Command(etlqBin, "apply", "--once", "--log-format", "json", "--state-dir", filepath.Join(dir, "state"), file)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("apply: %v\n%s", err, stderr.String())
				}
			case <-time.After(2 * time.Minute):
				cmd.Process.Kill()
				t.Fatalf("apply did not end:\n%s", stderr.String())
			}
			var started, finished, phase []map[string]any
			for _, m := range jsonLines(t, stderr.String()) {
				switch m["msg"] {
				case "snapshot started":
					started = append(started, m)
				case "snapshot done":
					finished = append(finished, m)
				case "snapshot phase done; the binlog follows":
					phase = append(phase, m)
				}
			}
			big := db + ".big"
			if len(started) != 1 || started[0]["table"] != big || started[0]["source"] != "s" ||
				started[0]["estimated_rows"] == nil || started[0]["estimated_chunks"] == nil || started[0]["connections"] != float64(2) {
				t.Errorf("snapshot started lines (one, of the big table, with source, estimated rows, chunks, connections): %v\n%s", started, stderr.String())
			}
			if len(finished) != 1 || finished[0]["table"] != big || finished[0]["rows"] != float64(1000) ||
				finished[0]["duration"] == nil || finished[0]["rows_per_s"] == nil || finished[0]["chunks"].(float64) < 2 {
				t.Errorf("snapshot done lines (one, of the big table: 1000 rows, its chunks, duration, rows/s): %v\n%s", finished, stderr.String())
			}
			if len(phase) != 1 || phase[0]["tables"] != float64(6) || phase[0]["rows"] != float64(1010) ||
				phase[0]["small_tables"] != float64(5) || !strings.Contains(fmt.Sprint(phase[0]["streaming_from"]), "bin") {
				t.Errorf("the snapshot's end (once: 6 tables, 1010 rows, 5 small ones, the binlog position): %v\n%s", phase, stderr.String())
			}
		})
	}
}
