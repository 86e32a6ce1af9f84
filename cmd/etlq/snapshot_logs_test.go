package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

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
			snapshotLogTables(t, my, db)
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
			checkSnapshotLogs(t, stderr.String(), db)
		})
	}
}

// checkSnapshotLogs checks the snapshot's lines in stderr (JSON logs) of
// the tables snapshotLogTables made in db.
func checkSnapshotLogs(t *testing.T, stderr, db string) {
	t.Helper()
	var started, finished, phase []map[string]any
	for _, m := range jsonLines(t, stderr) {
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
		t.Errorf("snapshot started lines (one, of the big table, with source, estimated rows, chunks, connections): %v\n%s", started, stderr)
	}
	if len(finished) != 1 || finished[0]["table"] != big || finished[0]["rows"] != float64(1000) ||
		finished[0]["duration"] == nil || finished[0]["rows_per_s"] == nil || finished[0]["chunks"].(float64) < 2 {
		t.Errorf("snapshot done lines (one, of the big table: 1000 rows, its chunks, duration, rows/s): %v\n%s", finished, stderr)
	}
	if len(phase) != 1 || phase[0]["tables"] != float64(6) || phase[0]["rows"] != float64(1010) ||
		phase[0]["small_tables"] != float64(5) || !strings.Contains(fmt.Sprint(phase[0]["streaming_from"]), "bin") {
		t.Errorf("the snapshot's end (once: 6 tables, 1010 rows, 5 small ones, the binlog position): %v\n%s", phase, stderr)
	}
}

// snapshotLogTables makes db with a table of 1,000 rows (big) and five of
// two rows (small0..4).
func snapshotLogTables(t *testing.T, my *client.Conn, db string) {
	t.Helper()
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
}

// TestCaptureSnapshotLogs: etlq capture, which shows no progress display,
// logs each big table's snapshot start and end and the snapshot's end as
// apply does without a terminal (TestSnapshotLogsWithoutTerminal); it
// logged none of them, so the operator of a scale-out saw nothing of a
// snapshot of hours. On both servers.
func TestCaptureSnapshotLogs(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		db := testenv.UniqueName(t)
		my := testenv.MySQLConn(t, myDSN)
		t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
		snapshotLogTables(t, my, db)
		logURL := testLog(t)
		dir := t.TempDir()
		file := filepath.Join(dir, "p.etl")
		writeFile(t, file, fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d, chunk_rows = 300, snapshot_parallelism = 2);\n"+
			"CREATE PIPELINE p FROM binlog s.%s.* INTO file '%s' FORMAT jsonl;\n", myDSN, testServerID(), db, filepath.Join(dir, "out.jsonl")))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, etlqBin, "capture", "--once", "--log-format", "json", "--log", logURL, file)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("capture: %v\n%s", err, stderr.String())
		}
		checkSnapshotLogs(t, stderr.String(), db)
	})
}
