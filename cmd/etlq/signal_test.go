package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestApplyInterruptAndMetrics: a streaming apply serves Prometheus metrics
// while it runs, and Ctrl-C (SIGINT) stops it cleanly: exit 0, everything
// written flushed and checkpointed, so the next run has nothing to redo.
func TestApplyInterruptAndMetrics(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
	seed(t, my, db+".t", 1000)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	dir := t.TempDir()
	file := filepath.Join(dir, "p.etl")
	os.WriteFile(file, []byte(fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t INTO clickhouse dw.%s.t;
`, myDSN, chDSN, db, db)), 0o644)
	state := filepath.Join(dir, "state")
	cmd := exec.Command(etlqBin, "apply", "--state-dir", state, "--metrics-addr", addr, "--progress", "never", file)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	// Wait until the snapshot reached ClickHouse, then change a row.
	deadline := time.Now().Add(60 * time.Second)
	var metrics string
	for time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics = string(b)
		if strings.Contains(metrics, `etlq_rows_out_total{pipeline="p"} 1000`) {
			break
		}
	}
	for _, want := range []string{`etlq_rows_out_total{pipeline="p"} 1000`, `etlq_rows_in_total{pipeline="p"}`, `etlq_batches_total{pipeline="p"}`, `etlq_dead_letters_total{pipeline="p"} 0`, `etlq_row_errors_total{pipeline="p"} 0`, `etlq_replication_lag_seconds{source="s"}`, `etlq_snapshot_rows_total{source="s",table="` + db + `.t"} 1000`, "# TYPE etlq_snapshot_rows_total counter"} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("metrics lack %s:\n%s\n--- etlq output:\n%s", want, metrics, out.String())
		}
	}
	myExec(t, my, "UPDATE "+db+".t SET amount = 99.99 WHERE id = 7")
	// Streaming: the update reaches ClickHouse while etlq runs.
	for deadline := time.Now().Add(60 * time.Second); ; {
		got := chRows(t, ch, "SELECT toString(amount) FROM "+db+".t_current WHERE id = 7")
		if len(got) == 1 && got[0] == "99.99" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the update did not reach ClickHouse within 60 s: %v\n%s", got, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	myExec(t, my, "UPDATE "+db+".t SET amount = 11.11 WHERE id = 8")
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("etlq after SIGINT: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("etlq did not stop within 30 s of SIGINT\n%s", out.String())
	}
	if !strings.Contains(out.String(), "msg=stopped") {
		t.Errorf("an interrupted run logs that it stopped:\n%s", out.String())
	}
	// What etlq read before the signal was flushed and checkpointed: the
	// next run reads at most the update it may not have reached (id 8),
	// never the snapshot or the update of id 7 again.
	again := mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if !strings.Contains(again, "rows_in=0") && !strings.Contains(again, "rows_in=1 ") {
		t.Errorf("the run after a clean stop re-read rows:\n%s", again)
	}
	got := chRows(t, ch, "SELECT toString(amount) FROM "+db+".t_current WHERE id IN (7, 8) ORDER BY id")
	if strings.Join(got, ",") != "99.99,11.11" {
		all := chRows(t, ch, "SELECT concat(toString(id), ' ', toString(amount), ' v', toString(_version), ' d', toString(_is_deleted)) FROM "+db+".t WHERE id IN (7, 8) ORDER BY _version")
		t.Errorf("after the restart ClickHouse has %v, want [99.99 11.11]; its rows of ids 7 and 8: %v\n--- first run:\n%s\n--- second run:\n%s", got, all, out.String(), again)
	}
}

// TestStopOnSIGHUP: a hangup (the terminal or SSH session that started
// apply closed, an operator's kill -HUP) stops apply as SIGTERM does:
// the sinks are flushed, the last acknowledged position committed, exit
// status 0. Before, Go's default for SIGHUP ended the process at once,
// with no line in the log (day-2 trial).
func TestStopOnSIGHUP(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db := s.db
		myExec(t, s.my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".h (id INT PRIMARY KEY, v INT NOT NULL)")
		for i := 1; i <= 20; i++ {
			myExec(t, s.my, fmt.Sprintf("INSERT INTO %s.h VALUES (%d, %d)", db, i, i))
		}
		dir := t.TempDir()
		state, file := filepath.Join(dir, "state"), filepath.Join(dir, "h.etl")
		writeFile(t, file, fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);\nCREATE SINK dw INTO clickhouse '%s';\n", myDSN, testServerID(), s.chDSN)+
			fmt.Sprintf("CREATE PIPELINE p FROM binlog s.%s.h INTO clickhouse dw.%s.h WITH (flush_interval = '50ms');\n", db, db))
		a := startEtlq(t, "apply", "--progress", "never", "--state-dir", state, file)
		a.waitSame(t, s.my, s.ch, "SELECT id, v FROM "+db+".h ORDER BY id", "SELECT toString(id), toString(v) FROM "+db+".h_current ORDER BY id", 60*time.Second)
		myExec(t, s.my, "UPDATE "+db+".h SET v = v + 100 WHERE id <= 5")
		a.waitSame(t, s.my, s.ch, "SELECT id, v FROM "+db+".h ORDER BY id", "SELECT toString(id), toString(v) FROM "+db+".h_current ORDER BY id", 60*time.Second)
		a.cmd.Process.Signal(syscall.SIGHUP)
		select {
		case err := <-a.done:
			a.done <- err
			if out := a.out.String(); err != nil || !strings.Contains(out, "msg=stopped") || !strings.Contains(out, `msg="pipeline done" pipeline=p`) {
				t.Fatalf("apply after SIGHUP: want a drained stop (exit 0, pipeline done, stopped), got %v:\n%s", err, out)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("apply did not stop within 60 s of SIGHUP:\n%s", a.out.String())
		}
	})
}
