package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTableLeftFromNoted: a table an edit of FROM leaves out between runs
// (`FROM binlog db.order_items, db.order_2*` → `FROM binlog db.order_2*`)
// keeps its rows in the upsert target; check and apply say so at start,
// and apply removes its rows from an upsert target whose _table tells them
// apart, as a DROP TABLE of it would; of a target that cannot tell them
// apart it warns, naming the table and what to do (drop the target and
// apply again). Before, nothing was said and the rows stayed. A table dropped at the source while it still matches
// is no such table (the stream says what became of it).
func TestTableLeftFromNoted(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db := s.db
		myExec(t, s.my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".order_items (id INT PRIMARY KEY, v INT NOT NULL)",
			"CREATE TABLE "+db+".order_2024 (id INT PRIMARY KEY, v INT NOT NULL)",
			"CREATE TABLE "+db+".order_2025 (id INT PRIMARY KEY, v INT NOT NULL)",
			"INSERT INTO "+db+".order_items VALUES (1, 1), (2, 2)", "INSERT INTO "+db+".order_2024 VALUES (1, 10)", "INSERT INTO "+db+".order_2025 VALUES (1, 20)")
		dir := t.TempDir()
		state, file := filepath.Join(dir, "state"), filepath.Join(dir, "o.etl")
		head := fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);\nCREATE SINK dw INTO clickhouse '%s';\n", myDSN, testServerID(), s.chDSN)
		write := func(from, q string) {
			writeFile(t, file, head+fmt.Sprintf("CREATE PIPELINE p FROM binlog %s TRANSFORM _table, id, v INTO clickhouse dw.%s.p KEY (_table, id);\n", from, db)+
				fmt.Sprintf("CREATE PIPELINE q FROM binlog %s INTO clickhouse dw.%s.q;\n", q, db))
		}
		write(fmt.Sprintf("s.%[1]s.order_items, s.%[1]s.order_2*", db), "s."+db+".order_items")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		if out := mustEtlq(t, "check", "--state-dir", state, file); strings.Contains(out, "no longer reads") {
			t.Errorf("an unchanged file: a table noted as left:\n%s", out)
		}
		// A table dropped at the source still matches the pattern: not
		// a FROM change.
		myExec(t, s.my, "DROP TABLE "+db+".order_2025")
		write(fmt.Sprintf("s.%s.order_2*", db), "s."+db+".order_2024")
		wantP := fmt.Sprintf("pipeline p no longer reads %[1]s.order_items (FROM changed since the last run): apply removes its rows from the target %[1]s.p (the rows with _table = 'order_items'), as a DROP TABLE of it would", db)
		wantQ := fmt.Sprintf("pipeline q no longer reads %[1]s.order_items (FROM changed since the last run): its rows stay in the target %[1]s.q, which cannot tell them apart", db)
		out := mustEtlq(t, "check", "--state-dir", state, file)
		for _, w := range []string{"note: " + wantP, "note: " + wantQ} {
			if !strings.Contains(out, w) {
				t.Errorf("check: want %q in:\n%s", w, out)
			}
		}
		if strings.Contains(out, "order_2025 (FROM changed") {
			t.Errorf("check: a table dropped at the source noted as left the FROM:\n%s", out)
		}
		cmd := exec.Command(etlqBin, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("apply: %v\n%s", err, b)
		}
		if !strings.Contains(string(b), "level=INFO msg=\""+wantP) {
			t.Errorf("apply: want an INFO %q in:\n%s", wantP, b)
		}
		if !strings.Contains(string(b), "level=WARN msg=\""+wantQ) {
			t.Errorf("apply: want a WARN %q in:\n%s", wantQ, b)
		}
		// p's target lost order_items' rows and kept order_2024's.
		for q, want := range map[string]uint64{
			"SELECT count() FROM " + db + ".p FINAL WHERE _is_deleted = 0 AND _table = 'order_items'": 0,
			"SELECT count() FROM " + db + ".p FINAL WHERE _is_deleted = 0 AND _table = 'order_2024'":  1,
		} {
			if n, err := chCount(s.chDSN, q); err != nil || n != want {
				t.Errorf("%s: %d, %v; want %d", q, n, err, want)
			}
		}
		// Said once: the next run knows the table left.
		if out := mustEtlq(t, "check", "--state-dir", state, file); strings.Contains(out, "no longer reads") {
			t.Errorf("check after the run that took the change: still noted:\n%s", out)
		}
	})
}
