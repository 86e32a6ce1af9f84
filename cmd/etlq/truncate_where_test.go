package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTruncateMeetsWhere: a TRUNCATE reaches a row target as a change of
// _op 'truncate' with the table's columns NULL, and the pipeline's WHERE
// decides about it as about any row (LANGUAGE.md: WHERE "keeps rows for
// which expr is TRUE"). LANGUAGE.md's notification pipeline — WHERE _op =
// 'update' AND changed(status) AND status = 'paid' — sends the paid
// updates and nothing else; a pipeline without WHERE, or one whose WHERE
// takes _op = 'truncate', gets the truncate. Failed before: every
// pipeline got it, the notification one as a row of placeholder values
// (id 0), whatever its WHERE (repl-and-language trial).
func TestTruncateMeetsWhere(t *testing.T) {
	t.Parallel()
	onBothServers(t, testTruncateMeetsWhere)
}

func testTruncateMeetsWhere(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my := s.db, s.my
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".o (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL)")
	dir := t.TempDir()
	out := func(n string) string { return filepath.Join(dir, n+".jsonl") }
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[3]d);
CREATE PIPELINE paid FROM binlog s.%[2]s.o SNAPSHOT never
  WHERE _op = 'update' AND changed(status) AND status = 'paid'
  TRANSFORM id, status, _op INTO file '%[4]s' FORMAT jsonl;
CREATE PIPELINE all_changes FROM binlog s.%[2]s.o SNAPSHOT never TRANSFORM id, status, _op INTO file '%[5]s' FORMAT jsonl;
CREATE PIPELINE open_or_truncate FROM binlog s.%[2]s.o SNAPSHOT never
  WHERE status <> 'paid' OR _op = 'truncate'
  TRANSFORM id, status, _op INTO file '%[6]s' FORMAT jsonl;
`, myDSN, db, testServerID(), out("paid"), out("all"), out("open")))
	lines := func(n string) []string {
		b, _ := os.ReadFile(out(n))
		return strings.Fields(strings.TrimSpace(string(b)))
	}
	a := startApply(t, state, file)
	// Streaming: the first insert reaches the unfiltered file.
	// Streaming (SNAPSHOT never starts where the server is when the
	// stream opens): a new row each time until one reaches all.jsonl.
	next := 1000
	a.waitFor(t, "a row in all.jsonl", 60*time.Second, func() (bool, string) {
		next++
		myExec(t, my, fmt.Sprintf("INSERT INTO %s.o VALUES (%d, 'new')", db, next))
		return len(lines("all")) > 0, fmt.Sprint(lines("all"))
	})
	myExec(t, my, "UPDATE "+db+".o SET status = 'paid' WHERE id = 1001",
		"TRUNCATE TABLE "+db+".o",
		"INSERT INTO "+db+".o VALUES (2, 'new')", "UPDATE "+db+".o SET status = 'paid' WHERE id = 2")
	a.waitFor(t, "both paid updates in paid.jsonl", 60*time.Second, func() (bool, string) {
		return len(lines("paid")) == 2 && len(lines("all")) >= 5, fmt.Sprint(lines("paid"), lines("all"))
	})
	a.stop(t)
	for _, l := range lines("paid") {
		if !strings.Contains(l, `"status":"paid"`) || !strings.Contains(l, `"_op":"update"`) {
			t.Errorf("paid.jsonl holds a line that is no paid update: %s", l)
		}
	}
	if got := strings.Join(lines("all"), "\n"); !strings.Contains(got, `"_op":"truncate"`) {
		t.Errorf("all.jsonl lacks the truncate:\n%s", got)
	}
	if got := strings.Join(lines("open"), "\n"); !strings.Contains(got, `"_op":"truncate"`) || strings.Contains(got, `"status":"paid"`) {
		t.Errorf("open.jsonl: want the truncate and no paid row:\n%s", got)
	}
}
