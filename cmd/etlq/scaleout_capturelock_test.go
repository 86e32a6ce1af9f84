package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCaptureTwiceRefused: a second `etlq capture` of the same file and
// log (started by mistake) is refused at its start, naming the running
// one's pid and host, before it connects to the source; the first goes on.
// Killed -9, the first leaves its lock behind, and a capture started
// again takes it at once (a process of this host that is gone) and
// publishes. Before, the two fought over the source's server_id until the
// first stopped after three takeovers, advising a server_id per source.
func TestCaptureTwiceRefused(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db := s.db
		logURL := testLog(t)
		myExec(t, s.my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".c (id INT PRIMARY KEY, v INT NOT NULL)",
			"INSERT INTO "+db+".c VALUES (1, 1), (2, 2)")
		dir := t.TempDir()
		file := filepath.Join(dir, "f.etl")
		writeFile(t, file, fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);\nCREATE SINK dw INTO clickhouse '%s';\n", myDSN, testServerID(), s.chDSN)+
			fmt.Sprintf("CREATE PIPELINE p FROM binlog s.%s.c INTO clickhouse dw.%s.p MODE upsert;\n", db, db))
		first := startEtlq(t, "capture", "--log", logURL, "--partitions", "2", file)
		worker := startEtlq(t, "apply", "--log", logURL, "--lease", "2s", "--progress", "never", "--state-dir", filepath.Join(dir, "w"), file)
		same := func(a *liveApply) {
			a.waitSame(t, s.my, s.ch, "SELECT id, v FROM "+db+".c ORDER BY id", "SELECT toString(id), toString(v) FROM "+db+".p_current ORDER BY id", 60*time.Second)
		}
		same(worker)

		second := startEtlq(t, "capture", "--log", logURL, file)
		select {
		case err := <-second.done:
			second.done <- err
			out := second.out.String()
			want := fmt.Sprintf("another etlq capture of source s is running (pid %d on ", first.cmd.Process.Pid)
			if err == nil || !strings.Contains(out, want) {
				t.Errorf("the second capture (exit %v) does not say %q:\n%s", err, want, out)
			}
			if strings.Contains(out, "capturing") {
				t.Errorf("the second capture connected to the source:\n%s", out)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("a second capture of the source still runs after 30 s:\n--- second:\n%s\n--- first:\n%s", second.out.String(), first.out.String())
		}
		first.running(t)
		myExec(t, s.my, "INSERT INTO "+db+".c VALUES (3, 3)")
		same(worker)
		if out := first.out.String(); strings.Contains(out, "server_id") {
			t.Errorf("the first capture met a server_id clash:\n%s", out)
		}

		first.kill9()
		again := startEtlq(t, "capture", "--log", logURL, file)
		myExec(t, s.my, "UPDATE "+db+".c SET v = 30 WHERE id = 3", "INSERT INTO "+db+".c VALUES (4, 4)")
		same(worker)
		if out := again.stop(t); !strings.Contains(out, "left by a capture of this host that is gone") {
			t.Errorf("the capture started again after kill -9 did not say it took the lock left behind:\n%s", out)
		}
		worker.stop(t)
	})
}
