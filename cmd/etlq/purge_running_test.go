package main

import (
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestBinlogPurgedWhileRunning: the binary log a running apply still
// needs is purged while it cannot read it (its connection lost: a network
// cut, a server restart), so that it is behind the oldest file the server
// has when it reconnects. apply stops with an error that says the position
// was purged and what to do; with on_binlog_gap = 'resnapshot' it takes a
// new snapshot of the SNAPSHOT initial tables there and goes on. On private
// servers like MariaDB A and B (purging the shared ones' binary logs would
// take them from the other tests). Private, they let it run beside the
// other tests, and A beside B: each purges its own server's logs only.
func TestBinlogPurgedWhileRunning(t *testing.T) {
	t.Parallel()
	ps := startPrivateServices(t, "mariadb-a", "mariadb-b")
	for _, srv := range []struct{ name, dsn string }{{"A", ps.MySQLDSN}, {"B", ps.MySQLMinimalDSN}} {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			for _, with := range []string{"", ", on_binlog_gap = 'resnapshot'"} {
				purgedWhileRunning(t, srv.dsn, with)
			}
			checkpointPurgedWhileRunning(t, srv.dsn)
		})
	}
}

func purgedWhileRunning(t *testing.T, myDSN, with string) {
	my := testenv.MySQLConn(t, myDSN)
	db := testenv.UniqueName(t)
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(8))", "INSERT INTO "+db+".t VALUES (1, 'a'), (2, 'b')")
	t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
	host := strings.TrimPrefix(myDSN, "mysql://root@")
	px := testenv.NewCutProxy(t, host)
	dir := t.TempDir()
	file, state, out := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state"), filepath.Join(dir, "out.jsonl")
	writeFile(t, file, fmt.Sprintf("CREATE SOURCE s FROM mysql 'mysql://root@%s' WITH (server_id = %d, heartbeat = '200ms'%s);\nCREATE PIPELINE p FROM binlog s.%s.t TRANSFORM id, v, _op INTO file '%s' FORMAT jsonl;\n",
		px.Addr(), testServerID(), with, db, out))
	a := startApply(t, state, file)
	lines := func() string { b, _ := os.ReadFile(out); return string(b) }
	a.waitFor(t, "snapshot and first change", 60*time.Second, func() (bool, string) {
		return strings.Contains(lines(), `"id":1,`) && strings.Contains(lines(), `"id":2,`), lines()
	})
	myExec(t, my, "INSERT INTO "+db+".t VALUES (3, 'c')")
	a.waitFor(t, "a change", 60*time.Second, func() (bool, string) { return strings.Contains(lines(), `"id":3,`), lines() })

	px.Cut()
	was := fmt.Sprint(testenv.Query(t, my, "SHOW MASTER STATUS")[0][0])
	myExec(t, my, "INSERT INTO "+db+".t VALUES (4, 'd')", "FLUSH BINARY LOGS")
	cur := fmt.Sprint(testenv.Query(t, my, "SHOW MASTER STATUS")[0][0])
	// The server keeps a file its dump thread for the lost connection
	// still reads until that thread notices the loss (the heartbeat).
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		myExec(t, my, "PURGE BINARY LOGS TO '"+cur+"'")
		if first := fmt.Sprint(testenv.Query(t, my, "SHOW BINARY LOGS")[0][0]); first > was {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("binary log %s is still there after PURGE BINARY LOGS TO '%s'", was, cur)
		}
	}
	myExec(t, my, "INSERT INTO "+db+".t VALUES (5, 'e')")
	px.Restore()
	if with == "" {
		// The run stops: the error says what happened and what to do.
		select {
		case err := <-a.done:
			a.done <- err
			if err == nil {
				t.Errorf("apply exited 0 after its binlog position was purged:\n%s", a.out.String())
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("apply still runs 60 s after its binlog position was purged:\n%s", a.out.String())
		}
		for _, want := range []string{
			"where etlq was reading, was purged on the server while etlq was behind it (its binlog connection was lost, and PURGE BINARY LOGS or the retention removed the file before it reconnected)",
			"set on_binlog_gap = 'resnapshot' and run apply again",
		} {
			if !strings.Contains(a.out.String(), want) {
				t.Errorf("apply's error: want %q in\n%s", want, a.out.String())
			}
		}
		return
	}
	// on_binlog_gap = 'resnapshot': the run resumes from its checkpoint
	// with a new snapshot, which brings the change lost in the purged file.
	a.waitFor(t, "the new snapshot after the gap", 60*time.Second, func() (bool, string) {
		return strings.Contains(lines(), `{"id":4,"v":"d","_op":"read"}`) && strings.Contains(lines(), `"id":5,`), lines()
	})
	log := a.stop(t)
	for _, want := range []string{"binlog gap while running: the server purged the binary log the stream was reading", "taking a new snapshot of the SNAPSHOT initial tables"} {
		if !strings.Contains(log, want) {
			t.Errorf("apply: want %q in\n%s", want, log)
		}
	}
	// The reasons it logs say what was lost, not the error's advice to
	// set the option the file has (found by the operator trial).
	for _, advice := range []string{"set on_binlog_gap = 'resnapshot' and run apply again", "or set on_binlog_gap = 'resnapshot'"} {
		if strings.Contains(log, advice) {
			t.Errorf("apply with on_binlog_gap = 'resnapshot' logs the advice %q:\n%s", advice, log)
		}
	}
}

// checkpointPurgedWhileRunning: the sink is unreachable, so the checkpoint
// stays in a binary log file the stream has read past, and the server
// purges that file. apply goes on (its binlog connection holds) and warns
// that a restart before its next checkpoint could not resume; once the
// sink answers again, the rows arrive and apply stops cleanly. It used to
// say nothing until a restart failed.
func checkpointPurgedWhileRunning(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my := s.db, s.my
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(8))", "INSERT INTO "+db+".t VALUES (1, 'a')")
	px := newCHProxy(t, s.chDSN)
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);\nCREATE SINK dw INTO clickhouse 'clickhouse://%s';\n"+
		"CREATE PIPELINE p FROM binlog s.%s.t INTO clickhouse dw.%s.t MODE upsert WITH (flush_interval = '100ms');\n", myDSN, testServerID(), px.addr(), db, db))
	a := &liveApply{cmd: osexec.Command(etlqBin, "apply", "--state-dir", state, "--progress", "never", file), out: &syncBuffer{}, done: make(chan error, 1)}
	a.cmd.Env = append(os.Environ(), "ETLQ_TEST_PURGE_CHECK=1s", "ETLQ_TEST_DRAIN_TIMEOUT=5s")
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.done <- a.cmd.Wait() }()
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			a.cmd.Process.Kill()
			<-a.done
		}
	})
	count := func() (bool, string) {
		n, err := chCount(s.chDSN, "SELECT count() FROM "+db+".t_current")
		return err == nil && n == 3, fmt.Sprintf("%d rows, %v", n, err)
	}
	a.waitFor(t, "the snapshot in ClickHouse", 60*time.Second, func() (bool, string) {
		n, err := chCount(s.chDSN, "SELECT count() FROM "+db+".t_current")
		return err == nil && n == 1, fmt.Sprintf("%d rows, %v", n, err)
	})
	// The checkpoint is in this file; the sink takes nothing from now.
	was := fmt.Sprint(testenv.Query(t, my, "SHOW MASTER STATUS")[0][0])
	px.cut()
	myExec(t, my, "INSERT INTO "+db+".t VALUES (2, 'b')", "FLUSH BINARY LOGS", "INSERT INTO "+db+".t VALUES (3, 'c')")
	cur := fmt.Sprint(testenv.Query(t, my, "SHOW MASTER STATUS")[0][0])
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		myExec(t, my, "PURGE BINARY LOGS TO '"+cur+"'")
		if first := fmt.Sprint(testenv.Query(t, my, "SHOW BINARY LOGS")[0][0]); first > was {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("binary log %s is still there after PURGE BINARY LOGS TO '%s'", was, cur)
		}
	}
	want := "source s: the checkpoint's binary log " + was + " was purged on the server while apply runs"
	a.waitFor(t, "the warning that the checkpoint's binary log was purged", 60*time.Second, func() (bool, string) {
		return strings.Contains(a.out.String(), want), ""
	})
	if !strings.Contains(a.out.String(), "if it stops, or loses the connection, before that checkpoint, it cannot resume there: apply fails there, unless on_binlog_gap = 'resnapshot'") {
		t.Errorf("the warning does not say what it means:\n%s", a.out.String())
	}
	px.restore()
	a.waitFor(t, "the rows after the purge in ClickHouse", 120*time.Second, count)
	a.stop(t)
	if n := strings.Count(a.out.String(), want); n != 1 {
		t.Errorf("the warning is logged %d times, want once:\n%s", n, a.out.String())
	}
}
