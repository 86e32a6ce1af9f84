package main

import (
	"fmt"
	"os"
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
// take them from the other tests).
func TestBinlogPurgedWhileRunning(t *testing.T) {
	ps := startPrivateServices(t, "mariadb-a", "mariadb-b")
	for _, srv := range []struct{ name, dsn string }{{"A", ps.MySQLDSN}, {"B", ps.MySQLMinimalDSN}} {
		t.Run(srv.name, func(t *testing.T) {
			for _, with := range []string{"", ", on_binlog_gap = 'resnapshot'"} {
				purgedWhileRunning(t, srv.dsn, with)
			}
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
}
