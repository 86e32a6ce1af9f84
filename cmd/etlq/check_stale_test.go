package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckWarnsOfColumnDroppedWhileStopped: a column a pipeline reads in
// WHERE and TRANSFORM is dropped at the source while etlq is stopped.
// check plans the pipeline as the state directory's checkpoint has the
// table (as apply does), so it found the column and said ok; apply then
// stopped the pipeline when the replay met the DROP COLUMN (new-user
// trial). check now warns at each use of the column (exit 0: apply still
// takes the changes before the DDL, and the other pipelines go on), with
// apply's message at the DDL and what to do.
func TestCheckWarnsOfColumnDroppedWhileStopped(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my := s.db, s.my
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, flag INT, v VARCHAR(10))",
			"INSERT INTO "+db+".t VALUES (1, 1, 'a'), (2, 0, 'b')")
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.t
  WHERE flag = 1
  TRANSFORM id, flag, v
  INTO clickhouse dw.%[3]s.t_p;
CREATE PIPELINE q FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t_q;
`, myDSN, s.chDSN, db, testServerID()))
		mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		if out := mustEtlq(t, "check", "--state-dir", state, file); strings.Contains(out, "warning") {
			t.Fatalf("before the drop: want no warning, got\n%s", out)
		}
		myExec(t, my, "INSERT INTO "+db+".t VALUES (3, 1, 'c')",
			"ALTER TABLE "+db+".t DROP COLUMN flag",
			"INSERT INTO "+db+".t VALUES (4, 'd')")

		out, err := runEtlq(t, "check", "--state-dir", state, file)
		if err != nil {
			t.Fatalf("check: want a warning, exit 0, got %v:\n%s", err, out)
		}
		for _, want := range []string{
			"warning: " + file + ":4:9: pipeline p: column \"flag\" of " + db + ".t no longer exists at the source",
			"  WHERE flag = 1\n        ^~~~",
			"warning: " + file + ":5:17: pipeline p: column \"flag\" of " + db + ".t no longer exists at the source",
			"  TRANSFORM id, flag, v\n                ^~~~",
			"takes the changes up to that DDL and stops pipeline p there (\"pipeline p stopped: " + db + ".t changed while streaming: … unknown column \"flag\" in " + db + ".t\")",
			"edit the pipeline",
			": ok (1 source, 1 sink, 2 pipelines",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("check: want %q in\n%s", want, out)
			}
		}
		if strings.Contains(out, "pipeline q") {
			t.Errorf("check: pipeline q reads no dropped column (TRANSFORM *), got\n%s", out)
		}
		if out, err := runEtlq(t, "check", "--strict", "--state-dir", state, file); err == nil || !strings.Contains(out, `column "flag" of `+db+".t no longer exists") {
			t.Errorf("check --strict: want the warning as an error, got %v:\n%s", err, out)
		}

		// What check says apply does: the changes before the DDL, then
		// pipeline p stops there with that message, q goes on.
		out, err = runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		if err == nil || !strings.Contains(out, "pipeline p stopped: "+db+".t changed while streaming: ") || !strings.Contains(out, `unknown column "flag" in `+db+".t") {
			t.Fatalf("apply: want p stopped at the DROP COLUMN, got %v:\n%s", err, out)
		}
		diffRows(t, []string{"1|1|a", "3|1|c"}, chRows(t, s.ch, fmt.Sprintf("SELECT toString(id), toString(flag), v FROM %s.t_p_current ORDER BY id", db)))
		diffRows(t, []string{"1|a", "2|b", "3|c", "4|d"}, chRows(t, s.ch, fmt.Sprintf("SELECT toString(id), v FROM %s.t_q_current ORDER BY id", db)))
	})
}

// TestCheckWarnsOfColumnDroppedWhileStoppedInPattern: the same over a
// pattern read with `*`, which is planned table by table as the
// checkpoint has it: a column the WHERE reads that one of the tables lost
// while etlq was stopped is a warning of check, and apply stops the
// pipeline at that DROP COLUMN.
func TestCheckWarnsOfColumnDroppedWhileStoppedInPattern(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my := s.db, s.my
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".sh_1 (id INT PRIMARY KEY, flag INT, v VARCHAR(10))",
			"CREATE TABLE "+db+".sh_2 (id INT PRIMARY KEY, flag INT, v VARCHAR(10))",
			"INSERT INTO "+db+".sh_1 VALUES (1, 1, 'a')",
			"INSERT INTO "+db+".sh_2 VALUES (1, 1, 'a')")
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.sh_*
  WHERE flag = 1
  TRANSFORM _table, *
  INTO clickhouse dw.%[3]s.t_p;
`, myDSN, s.chDSN, db, testServerID()))
		mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		myExec(t, my, "INSERT INTO "+db+".sh_1 VALUES (3, 1, 'c')",
			"ALTER TABLE "+db+".sh_1 DROP COLUMN flag")
		out, err := runEtlq(t, "check", "--state-dir", state, file)
		want := "warning: " + file + ":4:9: pipeline p: column \"flag\" of " + db + ".sh_1 no longer exists at the source"
		if err != nil || !strings.Contains(out, want) || strings.Contains(out, db+".sh_2 no longer") {
			t.Fatalf("check: want %q (exit 0), got %v:\n%s", want, err, out)
		}
		out, err = runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		if err == nil || !strings.Contains(out, "pipeline p stopped: "+db+".sh_1 changed while streaming: ") || !strings.Contains(out, `unknown column "flag" in `+db+".sh_1") {
			t.Fatalf("apply: want p stopped at the DROP COLUMN, got %v:\n%s", err, out)
		}
	})
}
