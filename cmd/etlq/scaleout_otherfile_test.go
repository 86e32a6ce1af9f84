package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/natslog"
)

// TestLogWorkerOtherFileRefused: a worker started with another file than
// the group's live workers (an older copy: a pipeline's WHERE differs,
// another pipeline missing) is refused at its start, with an error naming
// the pipelines and how they differ; the group's recorded definitions stay
// as they were and no resnapshot is asked. Once the live workers are gone
// (killed -9: their heartbeats of a process gone), the same file starts
// (an edit rolled out by stopping every worker). Before, the stale worker
// took its file for an edit of the group's: it asked a resnapshot and
// overwrote the group's definitions with INFO lines only (a scale-out
// trial).
func TestLogWorkerOtherFileRefused(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db := s.db
		logURL := testLog(t)
		myExec(t, s.my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".c (id INT PRIMARY KEY, tier ENUM('bronze','gold') NOT NULL)")
		for i := 1; i <= 60; i++ {
			myExec(t, s.my, fmt.Sprintf("INSERT INTO %s.c VALUES (%d, '%s')", db, i, []string{"bronze", "gold"}[i%2]))
		}
		dir := t.TempDir()
		head := fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);\nCREATE SINK dw INTO clickhouse '%s';\n", myDSN, testServerID(), s.chDSN)
		oldFile, newFile := filepath.Join(dir, "old.etl"), filepath.Join(dir, "new.etl")
		writeFile(t, oldFile, head+fmt.Sprintf("CREATE PIPELINE p FROM binlog s.%s.c TRANSFORM id, tier INTO clickhouse dw.%s.p MODE upsert KEY (id);\n", db, db))
		writeFile(t, newFile, head+fmt.Sprintf("CREATE PIPELINE p FROM binlog s.%s.c WHERE tier = 'gold' TRANSFORM id, tier INTO clickhouse dw.%s.p MODE upsert KEY (id);\n", db, db)+
			fmt.Sprintf("CREATE PIPELINE q FROM binlog s.%s.c TRANSFORM id INTO clickhouse dw.%s.q MODE upsert KEY (id);\n", db, db))
		capture := startEtlq(t, "capture", "--log", logURL, "--partitions", "2", newFile)
		worker := func(name, file string) *liveApply {
			return startEtlq(t, "apply", "--log", logURL, "--lease", "2s", "--progress", "never", "--state-dir", filepath.Join(dir, name), file)
		}
		w1, w2 := worker("w1", newFile), worker("w2", newFile)
		gold := "SELECT id, tier FROM " + db + ".c WHERE tier = 'gold' ORDER BY id"
		target := "SELECT toString(id), tier FROM " + db + ".p_current ORDER BY id"
		w1.waitSame(t, s.my, s.ch, gold, target, 60*time.Second)
		lg, err := natslog.Open(logURL)
		if err != nil {
			t.Fatal(err)
		}
		defer lg.Close()
		defsBefore, _, err := lg.GroupDefinitions("s", "apply")
		if err != nil {
			t.Fatal(err)
		}

		stale := worker("stale", oldFile)
		select {
		case err := <-stale.done:
			stale.done <- err
			out := stale.out.String()
			if err == nil {
				t.Errorf("the stale worker exited 0:\n%s", out)
			}
			for _, want := range []string{"live workers run another definition of source s's pipelines",
				"p (its WHERE, TRANSFORM, MODE or KEY differ)", "q (only in theirs: this file lacks it)",
				"start every worker of a group with the same file, or stop them all to roll out an edit"} {
				if !strings.Contains(out, want) {
					t.Errorf("the stale worker's error lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "resnapshot requested") || strings.Contains(out, "changed in the file") {
				t.Errorf("the stale worker took its file for an edit:\n%s", out)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("a worker with another file than the group's live workers still runs after 30 s:\n%s", stale.out.String())
		}
		defsAfter, _, err := lg.GroupDefinitions("s", "apply")
		if err != nil {
			t.Fatal(err)
		}
		if string(defsAfter) != string(defsBefore) {
			t.Errorf("the group's definitions changed:\nbefore %s\nafter  %s", defsBefore, defsAfter)
		}
		if pending, _, err := lg.ResnapshotRequests("s"); err != nil || len(pending) != 0 {
			t.Errorf("resnapshot requests left by the stale worker: %v %v", pending, err)
		}
		// The group runs on with its file.
		myExec(t, s.my, "INSERT INTO "+db+".c VALUES (61, 'gold'), (62, 'bronze')", "UPDATE "+db+".c SET tier = 'gold' WHERE id = 2")
		w2.waitSame(t, s.my, s.ch, gold, target, 60*time.Second)

		// Every worker of the group gone (killed: heartbeats left behind),
		// the old file starts: the documented rollout.
		w1.kill9()
		w2.kill9()
		back := worker("back", oldFile)
		back.waitSame(t, s.my, s.ch, "SELECT id, tier FROM "+db+".c ORDER BY id", target, 60*time.Second)
		if out := back.stop(t); strings.Contains(out, "another definition") {
			t.Errorf("refused after the group's workers were killed:\n%s", out)
		}
		capture.stop(t)
	})
}
