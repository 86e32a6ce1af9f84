package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestLogOverPlainStateDirNewPipeline: moving from a plain apply to the
// log (docs/scale-out.md) with the plain apply's state directory, and a
// file with pipelines the plain run did not have: their targets get their
// tables' rows, as a plain apply would give a new pipeline — over a fresh
// log (0), and over a log and group that ran with the old file (1). A
// pipeline whose INTO changed (2) is known to the log by its name and
// definition, so nothing reads its tables into the new target: the
// worker warns, naming etlq resnapshot --log. Failed before (2): its
// new target got only the changes, without a word.
func TestLogOverPlainStateDirNewPipeline(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		for variant := range 3 {
			t.Run(fmt.Sprint(variant), func(t *testing.T) { testLogOverPlainStateDir(t, myDSN, variant) })
		}
	})
}

func testLogOverPlainStateDir(t *testing.T, myDSN string, variant int) {
	{
		logURL := testenv.NATSURL(t) + "/" + testenv.UniqueName(t)
		s := newScratch(t, myDSN)
		db, my, ch := s.db, s.my, s.ch
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(16) NOT NULL)",
			"CREATE TABLE "+db+".u (id INT PRIMARY KEY, v VARCHAR(16) NOT NULL)",
			"INSERT INTO "+db+".t VALUES (1, 'a'), (2, 'b')",
			"INSERT INTO "+db+".u VALUES (1, 'x'), (2, 'y'), (3, 'z')")
		t.Cleanup(func() { deleteLog(t, logURL, "s") })
		dir := t.TempDir()
		state := filepath.Join(dir, "state")
		head := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%[4]s.t TRANSFORM id, v INTO clickhouse dw.%[4]s.t MODE upsert KEY (id) WITH (flush_interval = '100ms');
`, myDSN, testServerID(), s.chDSN, db)
		plain := filepath.Join(dir, "plain.etl")
		writeFile(t, plain, head)
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, plain)

		both := filepath.Join(dir, "both.etl")
		writeFile(t, both, head+fmt.Sprintf(`CREATE PIPELINE p2 FROM binlog s.%[1]s.t TRANSFORM id, v INTO clickhouse dw.%[1]s.t2 MODE upsert KEY (id) WITH (flush_interval = '100ms');
CREATE PIPELINE q FROM binlog s.%[1]s.u TRANSFORM id, v INTO clickhouse dw.%[1]s.u MODE upsert KEY (id) WITH (flush_interval = '100ms');
`, db))
		// The log made by a capture of the plain run's file first (the
		// migration's first step), then the capture of the new file.
		mustEtlq(t, "capture", "--once", "--log", logURL, "--partitions", "2", plain)
		if variant == 2 {
			// p writes into another target since.
			writeFile(t, both, strings.Replace(head, "dw."+db+".t ", "dw."+db+".t2 ", 1)+fmt.Sprintf(`CREATE PIPELINE q FROM binlog s.%[1]s.u TRANSFORM id, v INTO clickhouse dw.%[1]s.u MODE upsert KEY (id) WITH (flush_interval = '100ms');
`, db))
		}
		if variant >= 1 {
			// …and the group's worker on it, with the old file.
			w0 := startEtlq(t, "apply", "--log", logURL, "--lease", "2s", "--state-dir", state, "--progress", "never", plain)
			myExec(t, my, "INSERT INTO "+db+".t VALUES (3, 'c')")
			mustEtlq(t, "capture", "--once", "--log", logURL, plain)
			w0.waitSame(t, my, ch, "SELECT id, v FROM "+db+".t ORDER BY id", "SELECT toString(id), v FROM "+db+".t_current ORDER BY id", 60*time.Second)
			w0.stop(t)
		}
		capture := startEtlq(t, "capture", "--log", logURL, "--partitions", "2", both)
		defer capture.stop(t)
		w := startEtlq(t, "apply", "--log", logURL, "--lease", "2s", "--state-dir", state, "--progress", "never", both)
		defer w.stop(t)
		if variant == 2 {
			// The moved target: the worker says what to do.
			w.waitFor(t, "the warning of the moved target", 60*time.Second, func() (bool, string) {
				return strings.Contains(w.out.String(), "writes into another target since the last run") &&
					strings.Contains(w.out.String(), "etlq resnapshot FILE PIPELINE --log"), ""
			})
			w.waitSame(t, my, ch, "SELECT id, v FROM "+db+".u ORDER BY id",
				"SELECT toString(id), v FROM "+db+".u_current ORDER BY id", 60*time.Second)
			return
		}
		for _, tb := range []string{"t2", "u"} {
			src := "t"
			if tb == "u" {
				src = "u"
			}
			w.waitSame(t, my, ch, "SELECT id, v FROM "+db+"."+src+" ORDER BY id",
				"SELECT toString(id), v FROM "+db+"."+tb+"_current ORDER BY id", 60*time.Second)
		}
	}
}
