package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSinkRenamedIsTheSameTarget: CREATE SINK dw renamed wh in the file
// (the same DSN, the same INTO database.table) is the same target. It
// was taken for a new one: check said "writes into another target …
// the new one, which has none of the rows written so far", and apply
// read the tables into it again — an append table got every row twice
// (10 → 20, a new-user trial). check now notes the rename alone, apply
// reads nothing again, and the rows are what they were, also from a
// state directory of an older etlq, which kept the sink's name only.
func TestSinkRenamedIsTheSameTarget(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db := s.db
		myExec(t, s.my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".o (id INT PRIMARY KEY, amount INT NOT NULL)")
		for i := 1; i <= 10; i++ {
			myExec(t, s.my, fmt.Sprintf("INSERT INTO %s.o VALUES (%d, %d)", db, i, i))
		}
		dir := t.TempDir()
		file := filepath.Join(dir, "o.etl")
		id := testServerID()
		etl := func(sink, sfx string) string {
			return fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);\nCREATE SINK %s INTO clickhouse '%s';\n", myDSN, id, sink, s.chDSN) +
				fmt.Sprintf("CREATE PIPELINE app FROM binlog s.%s.o TRANSFORM id, amount INTO clickhouse %s.%s.o_app%s MODE append;\n", db, sink, db, sfx) +
				fmt.Sprintf("CREATE PIPELINE up FROM binlog s.%s.o TRANSFORM id, amount INTO clickhouse %s.%s.o_up%s;\n", db, sink, db, sfx)
		}
		for _, older := range []bool{false, true} {
			sfx := map[bool]string{false: "", true: "_older"}[older]
			count := func() int {
				return atoi(t, chRows(t, s.ch, "SELECT toString(count()) FROM "+db+".o_app"+sfx)[0])
			}
			state := filepath.Join(dir, "state"+sfx)
			writeFile(t, file, etl("dw", sfx))
			mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
			if older {
				// As an older etlq kept the targets: the sink's name, no
				// server.
				writeFile(t, filepath.Join(state, "targets-s.json"), fmt.Sprintf(`{"app": "clickhouse dw %s.o_app%s", "up": "clickhouse dw %s.o_up%s"}`, db, sfx, db, sfx))
			}
			before := count()
			myExec(t, s.my, "UPDATE "+db+".o SET amount = amount + 1 WHERE id = 1")

			writeFile(t, file, etl("wh", sfx))
			out := mustEtlq(t, "check", "--state-dir", state, file)
			if strings.Contains(out, "writes into another target") || !strings.Contains(out, "pipeline app writes through a sink named otherwise since the last run (clickhouse wh "+db+".o_app"+sfx+", was clickhouse dw "+db+".o_app"+sfx+"): the same server and table") {
				t.Errorf("older state %v: check: want the rename noted as the same target, not another one, got:\n%s", older, out)
			}
			out = mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
			if strings.Contains(out, "another target") || strings.Contains(out, "resnapshot requested") {
				t.Errorf("older state %v: apply took the renamed sink for another target:\n%s", older, out)
			}
			// The update's row alone is new: nothing was read again.
			if got := count(); got != before+1 {
				t.Errorf("older state %v: %s.o_app%s has %d rows after the sink's rename, want %d (%d and the update's): the rows were read again", older, db, sfx, got, before+1, before)
			}
			diffRows(t, myRows(t, s.my, "SELECT id, amount FROM "+db+".o ORDER BY id"),
				chRows(t, s.ch, "SELECT toString(id), toString(amount) FROM "+db+".o_up"+sfx+"_current ORDER BY id"))
			if data, err := os.ReadFile(filepath.Join(state, "targets-s.json")); err != nil || !strings.Contains(string(data), `"at"`) {
				t.Errorf("older state %v: the state directory does not keep where the targets are: %v\n%s", older, err, data)
			}
		}
	})
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}
