package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStartAtTimestamp: SNAPSHOT never with start_at = a time replays the
// binlog from the first transaction at or after that time, and no earlier.
func TestStartAtTimestamp(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, v VARCHAR(10))",
			"INSERT INTO "+s.db+".t VALUES (1, 'before')")
		time.Sleep(1100 * time.Millisecond)
		at := time.Now().UTC().Add(time.Second).Truncate(time.Second)
		time.Sleep(time.Until(at) + 100*time.Millisecond)
		myExec(t, s.my, "INSERT INTO "+s.db+".t VALUES (2, 'after')", "UPDATE "+s.db+".t SET v = 'later' WHERE id = 1")
		dir := t.TempDir()
		file := filepath.Join(dir, "p.etl")
		os.WriteFile(file, []byte(fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE PIPELINE p FROM binlog %s.t SNAPSHOT never TRANSFORM id, v, _op INTO stdout FORMAT jsonl
  WITH (start_at = '%s');
`, myDSN, s.db, at.Format(time.DateTime))), 0o644)
		out := mustEtlq(t, "apply", "--once", "--state-dir", filepath.Join(dir, "s"), "--progress", "never", file)
		if strings.Contains(out, `"before"`) || !strings.Contains(out, `{"id":2,"v":"after","_op":"insert"}`) || !strings.Contains(out, `{"id":1,"v":"later","_op":"update"}`) {
			t.Errorf("want the insert of 2 and the update of 1 only, got:\n%s", out)
		}
	})
}

// TestStartAtGTID: start_at = a MariaDB GTID position replays what came
// after that transaction.
func TestStartAtGTID(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, v VARCHAR(10))",
			"INSERT INTO "+s.db+".t VALUES (1, 'before')")
		gtid := myRows(t, s.my, "SELECT @@GLOBAL.gtid_binlog_pos")[0]
		myExec(t, s.my, "INSERT INTO "+s.db+".t VALUES (2, 'after')")
		dir := t.TempDir()
		file := filepath.Join(dir, "p.etl")
		os.WriteFile(file, []byte(fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE PIPELINE p FROM binlog %s.t SNAPSHOT never TRANSFORM id, v, _op INTO stdout FORMAT jsonl
  WITH (start_at = '%s');
`, myDSN, s.db, gtid)), 0o644)
		out := mustEtlq(t, "apply", "--once", "--state-dir", filepath.Join(dir, "s"), "--progress", "never", file)
		if strings.Contains(out, `"before"`) || !strings.Contains(out, `{"id":2,"v":"after","_op":"insert"}`) {
			t.Errorf("start_at = %q: want the insert of 2 only, got:\n%s", gtid, out)
		}
	})
}
