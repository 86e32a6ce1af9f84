package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestStatusOfStateDir: etlq status without --log shows a plain state
// directory — who holds its lock, each source's checkpoint and how far
// behind the server it is (binlog bytes, and when the first change not
// taken was written), each pipeline's checkpoint: its source's, its own
// when it stopped alone, none when it is new. There was no such command
// (status needed --log). On MariaDB A and B.
func TestStatusOfStateDir(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my := s.db, s.my
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, flag INT, v VARCHAR(10))",
			"INSERT INTO "+db+".t VALUES (1, 1, 'a'), (2, 0, 'b')")
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		text := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.t WHERE flag = 1 TRANSFORM id, flag, v INTO clickhouse dw.%[3]s.t_p;
CREATE PIPELINE q FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t_q;
`, myDSN, s.chDSN, db, testServerID())
		writeFile(t, file, text)

		if out, err := runEtlq(t, "status", "--state-dir", state, file); err == nil || !strings.Contains(out, "state directory "+state+" does not exist") {
			t.Errorf("status before any apply: want an error saying the state directory does not exist, got %v:\n%s", err, out)
		}
		mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		out := mustEtlq(t, "status", "--state-dir", state, file)
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^  lock: free, no etlq runs on it \(last held by pid \d+ on host `),
			regexp.MustCompile(`(?m)^source s: checkpoint binlog\.\d+:\d+.*, written \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[-+]\d\d:\d\d) \(.* ago\)$`),
			regexp.MustCompile(`(?m)^  server: at binlog\.\d+:\d+`),
			regexp.MustCompile(`(?m)^  pipeline p: at the source's checkpoint$`),
			regexp.MustCompile(`(?m)^  pipeline q: at the source's checkpoint$`),
		} {
			if !want.MatchString(out) {
				t.Errorf("status after apply: want %s in\n%s", want, out)
			}
		}

		// Changes after the checkpoint: behind, with when they were written.
		myExec(t, my, "INSERT INTO "+db+".t VALUES (3, 1, 'c')")
		out = mustEtlq(t, "status", "--state-dir", state, file)
		if !regexp.MustCompile(`(?m)^  server: at binlog\.\d+:\d+: \d+ bytes of binary log behind; the first change not taken was written \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[-+]\d\d:\d\d) \(lag about .*\)$`).MatchString(out) {
			t.Errorf("status with changes after the checkpoint: want how far behind, got\n%s", out)
		}

		// A pipeline stopped alone keeps its own checkpoint; a new one has none.
		myExec(t, my, "ALTER TABLE "+db+".t DROP COLUMN flag", "INSERT INTO "+db+".t VALUES (4, 'd')")
		runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file) // p stops at the DROP COLUMN
		writeFile(t, file, text+fmt.Sprintf("CREATE PIPELINE r FROM binlog s.%[1]s.t INTO clickhouse dw.%[1]s.t_r;\n", db))
		out = mustEtlq(t, "status", "--state-dir", state, file)
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^  pipeline p: stopped alone at its own checkpoint binlog\.\d+:\d+.*, written \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[-+]\d\d:\d\d): apply resumes it from there`),
			regexp.MustCompile(`(?m)^  pipeline q: at the source's checkpoint$`),
			regexp.MustCompile(`(?m)^  pipeline r: not in the checkpoint: new since the last run, apply starts it$`),
		} {
			if !want.MatchString(out) {
				t.Errorf("status with a pipeline stopped alone and a new one: want %s in\n%s", want, out)
			}
		}

		// While apply runs: the lock's holder.
		writeFile(t, file, text)
		a := startApply(t, state, file)
		a.waitFor(t, "status names the running apply", 60*time.Second, func() (bool, string) {
			out, _ := runEtlq(t, "status", "--state-dir", state, file)
			return regexp.MustCompile(`(?m)^  lock: held by a running etlq \(pid \d+ on host `).MatchString(out), out
		})
		// (pipeline p stops again at the DDL once its catch-up reaches it:
		// stopped before that, apply ends cleanly.)
		a.waitFor(t, "pipeline p stopped again at the DDL", 60*time.Second, func() (bool, string) {
			return strings.Contains(a.out.String(), "pipeline stopped"), "not yet"
		})
		a.stopFailing(t)
	})
}
