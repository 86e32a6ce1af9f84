package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestBinlogRetentionWarning: plan and check read the server's binary log
// retention and warn when the checkpoint's binary log may be purged within
// binlog_expiry_warning (here 3 days, longer than the servers' 2 days), or
// is purged already; with the default (a quarter of the retention) a fresh
// checkpoint gets no warning.
func TestBinlogRetentionWarning(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLMinimalDSN(t)
	db := testenv.UniqueName(t)
	my := testenv.MySQLConn(t, myDSN)
	t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY)")
	r, err := my.Execute("SELECT @@GLOBAL.binlog_expire_logs_seconds")
	if err != nil {
		t.Fatal(err)
	}
	retention, _ := r.GetInt(0, 0)
	if retention == 0 || retention > 3*86400 {
		t.Fatalf("the test server keeps binary logs for %d s: want 1 s … 3 days", retention)
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	write := func(with string) string {
		file := filepath.Join(dir, "p.etl")
		src := fmt.Sprintf("CREATE SOURCE s FROM mysql '%s'%s;\nCREATE PIPELINE p FROM binlog s.%s.t SNAPSHOT never INTO file '%s' FORMAT jsonl;\n",
			myDSN, with, db, filepath.Join(dir, "out.jsonl"))
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return file
	}
	file := write("")
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if out := mustEtlq(t, "plan", "--state-dir", state, file); strings.Contains(out, "warning:") {
		t.Fatalf("a fresh checkpoint is warned about:\n%s", out)
	}

	file = write(" WITH (binlog_expiry_warning = '72h')")
	want := fmt.Sprintf("may be purged in 4")
	for _, cmd := range []string{"plan", "check"} {
		out := mustEtlq(t, cmd, "--state-dir", state, file)
		if !strings.Contains(out, "warning: source s: the checkpoint's binary log binlog.") || !strings.Contains(out, want) ||
			!strings.Contains(out, fmt.Sprintf("binlog_expire_logs_seconds = %d): run apply before then, or raise the retention", retention)) {
			t.Errorf("etlq %s: no retention warning:\n%s", cmd, out)
		}
	}

	// apply warns too, and exports the seconds left as a metric: the
	// checkpoint is in the current binary log, which cannot be purged
	// before the retention has passed from now.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	outBuf := &syncBuffer{}
	apply := startApplyArgs(t, outBuf, "apply", "--state-dir", state, "--metrics-addr", addr, "--progress", "never", file)
	var page string
	left := -1.0
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline) && left < 0; time.Sleep(250 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page = string(b)
		left = metricValue(page, `etlq_binlog_purge_seconds{source="s"}`)
	}
	if left < float64(retention)-3600 || left > float64(retention) {
		t.Errorf("etlq_binlog_purge_seconds = %v, want about %d:\n%s\n--- etlq:\n%s", left, retention, page, outBuf)
	}
	apply.Process.Signal(os.Interrupt)
	apply.Wait()
	if !strings.Contains(outBuf.String(), "may be purged in 4") {
		t.Errorf("apply logged no retention warning:\n%s", outBuf)
	}

	// A checkpoint in a binary log older than the server's oldest.
	purgedCheckpoint(t, state)
	out := mustEtlq(t, "plan", "--state-dir", state, write(""))
	if !strings.Contains(out, "warning: source s: the checkpoint's binary log binlog.000000 was purged on the server (the oldest is binlog.") {
		t.Errorf("etlq plan: no purged warning:\n%s", out)
	}
}

// TestCheckRefusesPurgedCheckpoint: a checkpoint whose binary log the
// server no longer has is what apply refuses before moving any data
// (on_binlog_gap = 'fail', the default), so check exits 1 naming it, at
// the source; with on_binlog_gap = 'resnapshot' apply takes a new
// snapshot instead, and check warns, saying so. Before, check exited 0
// with a warning that "apply fails" (a pre-deploy check passed, the
// deployed apply did not start), and apply's own warning said it fails
// even when it was about to take the new snapshot.
func TestCheckRefusesPurgedCheckpoint(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY)", "INSERT INTO "+s.db+".t VALUES (1)")
		dir := t.TempDir()
		state, file := filepath.Join(dir, "state"), filepath.Join(dir, "p.etl")
		write := func(with string) {
			writeFile(t, file, fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d%s);\nCREATE SINK dw INTO clickhouse '%s';\nCREATE PIPELINE p FROM binlog s.%s.t INTO clickhouse dw.%s.t;\n",
				myDSN, testServerID(), with, s.chDSN, s.db, s.db))
		}
		write("")
		mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		purgedCheckpoint(t, state)

		out, err := runEtlq(t, "check", "--state-dir", state, file)
		if err == nil || !strings.Contains(out, "p.etl:1:") || !strings.Contains(out, "the checkpoint's binary log binlog.000000 was purged on the server") ||
			!strings.Contains(out, "on_binlog_gap = 'resnapshot'") || strings.Contains(out, ": ok (") {
			t.Errorf("check of a purged checkpoint: want exit 1 naming it at the source, got %v:\n%s", err, out)
		}

		write(", on_binlog_gap = 'resnapshot'")
		out = mustEtlq(t, "check", "--state-dir", state, file)
		if !strings.Contains(out, "warning: source s: the checkpoint's binary log binlog.000000 was purged on the server") ||
			!strings.Contains(out, "apply takes a new snapshot") || strings.Contains(out, "apply fails") {
			t.Errorf("check with on_binlog_gap = 'resnapshot': want a warning that apply takes a new snapshot:\n%s", out)
		}
		out = mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		if strings.Contains(out, "apply fails") {
			t.Errorf("apply with on_binlog_gap = 'resnapshot' warns that it fails:\n%s", out)
		}
		diffRows(t, []string{"1"}, chRows(t, s.ch, "SELECT toString(id) FROM "+s.db+".t_current"))
	})
}

// purgedCheckpoint moves source s's checkpoint in state into a binary log
// older than any server's oldest (binlog.000000), without a GTID to place
// it by: a checkpoint whose binary log is purged.
func purgedCheckpoint(t *testing.T, state string) {
	t.Helper()
	cpPath := filepath.Join(state, "source-s.json")
	cp, err := os.ReadFile(cpPath)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(cp, &st); err != nil {
		t.Fatal(err)
	}
	st["mark"].(map[string]any)["file"] = "binlog.000000"
	delete(st["mark"].(map[string]any), "gtid")
	cp, _ = json.Marshal(st)
	if err := os.WriteFile(cpPath, cp, 0o644); err != nil {
		t.Fatal(err)
	}
}
