package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestRuleNeverKeepsDeadRowAlive is issue #14 tried as a new user would: an
// upsert pipeline with a rule (assert) and on_error = 'dead_letter'. An
// UPDATE that breaks the rule is dead-lettered and removes the key's old
// row from the target (the source no longer has that state), and the later
// DELETE of that row is not subject to the rule: it is no dead letter, and
// the target ends equal to the source's rows that pass the rule.
func TestRuleNeverKeepsDeadRowAlive(t *testing.T) {
	t.Parallel()
	s := newScratch(t, testenv.MySQLDSN(t))
	db, my, ch := s.db, s.my, s.ch
	file, state := payWithRule(t, s, testenv.MySQLDSN(t), "(1, 10, 'a'), (2, 20, NULL), (3, 30, 'c'), (4, 40, 'd')", "", "")
	mustEtlq(t, "apply", "--once", "--state-dir", state, file)

	want := func() []string {
		return myRows(t, my, "SELECT id, amount, COALESCE(note, 'NULL') FROM "+db+".pay WHERE amount >= 0 ORDER BY id")
	}
	got := func() []string {
		return chRows(t, ch, "SELECT toString(id), toString(amount), ifNull(note, 'NULL') FROM "+db+".pay_current ORDER BY id")
	}
	diffRows(t, want(), got())

	myExec(t, my,
		"UPDATE "+db+".pay SET amount = -1 WHERE id IN (2, 3)",
		"UPDATE "+db+".pay SET amount = -5 WHERE id = 4",
		"UPDATE "+db+".pay SET amount = 44 WHERE id = 4",
	)
	mustEtlq(t, "apply", "--once", "--state-dir", state, file)
	diffRows(t, want(), got())

	myExec(t, my, "DELETE FROM "+db+".pay WHERE id = 2")
	mustEtlq(t, "apply", "--once", "--state-dir", state, file)
	diffRows(t, want(), got())

	// Three updates broke the rule; the delete is no dead letter.
	lines := readLines(t, filepath.Join(state, "deadletter", "pay.jsonl"))
	if len(lines) != 3 {
		t.Fatalf("want 3 dead letters (the three updates), got %d:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for _, l := range lines {
		if !strings.Contains(l, `amount must not be negative"`) || !strings.Contains(l, `"op":"update"`) || !strings.Contains(l, `"pipeline":"pay"`) {
			t.Errorf("dead letter lacks the reason, the operation or the pipeline: %s", l)
		}
	}
	// id 2's note is NULL: the dead letter keeps it as null.
	if !strings.Contains(lines[0]+lines[1], `"note":null`) {
		t.Errorf("dead letters do not keep the NULL note of id 2:\n%s", strings.Join(lines, "\n"))
	}

	// The rule was too strict: fixed, the dead letters are replayed. id 3
	// comes back; id 2 stays deleted and id 4 stays at its later value
	// (a replayed change keeps its _version: later changes win).
	writeFile(t, file, strings.Replace(readFile(t, file), "amount >= 0", "amount >= -1", 1))
	out := mustEtlq(t, "deadletter", "replay", "--state-dir", state, file, "pay")
	// Written counts the removal of the key whose row failed again (an
	// upsert target loses it, docs/language.md "Rules and upserts"): the
	// message says so, or "3 rows written, 1 failed again" reads as four
	// rows out of three letters (a new-user trial: 46 written, 22 failed
	// again, of 46 letters).
	if !strings.Contains(out, "replayed 3 dead letters of pipeline pay: 3 rows written (the removals of keys whose row failed again included), 1 failed again") {
		t.Errorf("replay says:\n%s", out)
	}
	want = func() []string {
		return myRows(t, my, "SELECT id, amount, COALESCE(note, 'NULL') FROM "+db+".pay WHERE amount >= -1 ORDER BY id")
	}
	diffRows(t, want(), got())
	// id 4's -5 still breaks the rule: a dead letter again, in a fresh
	// file; the replayed one is kept aside.
	if again := readLines(t, filepath.Join(state, "deadletter", "pay.jsonl")); len(again) != 1 || !strings.Contains(again[0], `"amount":"-5"`) {
		t.Errorf("want id 4's update as the one dead letter left, got %q", again)
	}
	if aside, _ := filepath.Glob(filepath.Join(state, "deadletter", "pay.jsonl.replayed-*")); len(aside) != 1 {
		t.Errorf("the replayed file is not kept aside: %q", aside)
	}
	// Later changes flow as before.
	myExec(t, my, "UPDATE "+db+".pay SET amount = 7 WHERE id = 3")
	mustEtlq(t, "apply", "--once", "--state-dir", state, file)
	diffRows(t, want(), got())
}

// TestDeadLettersToTargets: the dead_letter option sends rejected rows to a
// ClickHouse table and to an HTTP endpoint, each with the rule's reason,
// the pipeline, the source position and every original value (NULLs
// included), and the log names where they went.
func TestDeadLettersToTargets(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	var mu sync.Mutex
	var posted []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		// One JSON array of objects per request, or JSON lines.
		var arr []json.RawMessage
		if json.Unmarshal(body, &arr) == nil {
			for _, m := range arr {
				posted = append(posted, string(m))
			}
		} else {
			for _, l := range strings.Split(strings.TrimSpace(string(body)), "\n") {
				if l != "" {
					posted = append(posted, l)
				}
			}
		}
		mu.Unlock()
	}))
	defer srv.Close()

	file, state := payWithRule(t, s, myDSN, "(1, 10, 'a'), (2, -20, NULL), (3, -30, 'c')", fmt.Sprintf(", dead_letter = 'clickhouse dw.%s.rejects'", db),
		fmt.Sprintf(`CREATE PIPELINE pay_hook
  FROM binlog shop.%s.pay
  WHERE assert(amount >= 0, 'amount must not be negative')
  TRANSFORM id, amount
  INTO stdout FORMAT jsonl
  WITH (on_error = 'dead_letter', dead_letter = 'http %s/rejects');
`, db, srv.URL))
	out := mustEtlq(t, "apply", "--once", "--state-dir", state, file)
	for _, want := range []string{"clickhouse dw." + db + ".rejects", "http " + srv.URL + "/rejects"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not name where the dead letters went (%s):\n%s", want, out)
		}
	}
	got := chRows(t, ch, "SELECT pipeline, `table`, op, `column`, reason, row FROM "+db+".rejects ORDER BY row")
	if len(got) != 2 {
		t.Fatalf("want 2 dead letters in ClickHouse, got %d: %q", len(got), got)
	}
	for i, id := range []string{"2", "3"} {
		g := got[i]
		for _, want := range []string{"pay|" + db + ".pay|read|WHERE|assert: amount must not be negative|", `"id":"` + id + `"`, `"_pos":"`} {
			if !strings.Contains(g, want) {
				t.Errorf("dead letter %s in ClickHouse lacks %q: %s", id, want, g)
			}
		}
	}
	if !strings.Contains(got[0], `"note":null`) {
		t.Errorf("the NULL note of id 2 is not kept: %s", got[0])
	}
	if pos := chRows(t, ch, "SELECT pos FROM "+db+".rejects WHERE pos = ''"); len(pos) != 0 {
		t.Errorf("dead letters without a source position: %d", len(pos))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(posted) != 2 {
		t.Fatalf("want 2 dead letters posted, got %d: %q", len(posted), posted)
	}
	for _, l := range posted {
		var dl map[string]any
		if err := json.Unmarshal([]byte(l), &dl); err != nil {
			t.Fatalf("posted dead letter %q: %v", l, err)
		}
		if dl["pipeline"] != "pay_hook" || dl["reason"] != "assert: amount must not be negative" || dl["pos"] == "" {
			t.Errorf("posted dead letter lacks the pipeline, reason or position: %s", l)
		}
		// The row is an object of the original values, NULLs included.
		row, ok := dl["row"].(map[string]any)
		if _, hasNote := row["note"]; !ok || !hasNote {
			t.Errorf("posted dead letter lacks the row's values: %s", l)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "deadletter")); err == nil {
		t.Errorf("dead letters sent to a target also went to the state directory")
	}

	// The rule fixed, the dead letters in ClickHouse, exported as JSON
	// lines (as FORMAT JSONEachRow writes them: row a string, version
	// quoted), are replayed and land in the target.
	exported := chRows(t, ch, "SELECT concat('{\"pipeline\":\"', pipeline, '\",\"table\":\"', `table`, '\",\"pos\":\"', pos, '\",\"op\":\"', op, '\",\"version\":\"', toString(version), '\",\"reason\":', '\"x\"', ',\"row\":\"', replaceAll(row, '\"', '\\\\\"'), '\"}') FROM "+db+".rejects ORDER BY version")
	from := filepath.Join(filepath.Dir(file), "rejects.jsonl")
	writeFile(t, from, strings.Join(exported, "\n")+"\n")
	writeFile(t, file, strings.Replace(readFile(t, file), "amount >= 0", "amount >= -100", 1))
	out = mustEtlq(t, "deadletter", "replay", "--state-dir", state, "--from", from, file, "pay")
	if !strings.Contains(out, "replayed 2 dead letters of pipeline pay: 2 rows written (the removals of keys whose row failed again included), 0 failed again") {
		t.Errorf("replay says:\n%s", out)
	}
	diffRows(t, myRows(t, my, "SELECT id, amount, COALESCE(note, 'NULL') FROM "+db+".pay ORDER BY id"),
		chRows(t, ch, "SELECT toString(id), toString(amount), ifNull(note, 'NULL') FROM "+db+".pay_current ORDER BY id"))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDeleteIsNoRuleCase: under on_error = 'fail', the DELETE of a row that
// breaks the rule (it was there before the pipeline started) does not stop
// the pipeline: a delete carries no new values to check.
func TestDeleteIsNoRuleCase(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my,
		"CREATE DATABASE "+db,
		"CREATE TABLE "+db+".pay (id INT PRIMARY KEY, amount INT NOT NULL)",
		"INSERT INTO "+db+".pay VALUES (1, 10), (2, -20)",
	)
	dir := t.TempDir()
	file := filepath.Join(dir, "pay.etl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE shop FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE pay
  FROM binlog shop.%s.pay SNAPSHOT never
  WHERE assert(amount >= 0, 'amount must not be negative')
  TRANSFORM id, amount
  INTO clickhouse dw.%s.pay MODE upsert KEY (id);
`, myDSN, s.chDSN, db, db))
	state := filepath.Join(dir, "state")
	mustEtlq(t, "apply", "--once", "--state-dir", state, file)
	myExec(t, my, "DELETE FROM "+db+".pay WHERE id = 2", "INSERT INTO "+db+".pay VALUES (3, 30)")
	mustEtlq(t, "apply", "--once", "--state-dir", state, file)
	diffRows(t, []string{"3|30"}, chRows(t, ch, "SELECT toString(id), toString(amount) FROM "+db+".pay_current ORDER BY id"))
}

// TestCheckRefusesDeadLetterTargetItCannotWrite: a dead_letter target the
// sink would refuse is an error of check, at the option's value.
func TestCheckRefusesDeadLetterTargetItCannotWrite(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	db := checkDB(t, myDSN, map[string]string{"t": "id INT PRIMARY KEY, v INT"})
	src := fmt.Sprintf("CREATE SOURCE s FROM mysql '%s';\nCREATE PIPELINE p FROM binlog %s.t INTO stdout WITH (on_error = 'dead_letter', dead_letter = 'http ftp://x/y');\n", myDSN, db)
	out, err := runCheck(t, src)
	if err == nil || !strings.Contains(out, "check.etl:2:") || !strings.Contains(out, "dead letters to http ftp://x/y") || !strings.Contains(out, "not an http(s) URL") {
		t.Errorf("want check to fail at the dead_letter option, got %v:\n%s", err, out)
	}
}

// TestReplayRefusedLeavesDeadLetters: `deadletter replay` next to a running
// apply on the same state directory is refused, and leaves the dead-letter
// file where it was. It moved the file aside (to .replayed-…) before it
// found the lock taken: nothing was replayed, and the running apply, which
// keeps the file open, went on appending its new dead letters to the
// moved file, where no later replay looked (new-user trial).
func TestReplayRefusedLeavesDeadLetters(t *testing.T) {
	t.Parallel()
	onBothServers(t, testReplayRefusedLeavesDeadLetters)
}

func testReplayRefusedLeavesDeadLetters(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	file, state := payWithRule(t, s, myDSN, "(1, 10, 'a'), (2, -20, NULL)", "", "")
	letters := filepath.Join(state, "deadletter", "pay.jsonl")
	a := startApply(t, state, file)
	defer a.stop(t)
	a.waitFor(t, "the snapshot's dead letter", 60*time.Second, func() (bool, string) {
		b, _ := os.ReadFile(letters)
		return strings.Count(string(b), "\n") == 1, string(b)
	})

	out, err := runEtlq(t, "deadletter", "replay", "--state-dir", state, file, "pay")
	if err == nil || !strings.Contains(out, "is in use by another etlq") {
		t.Fatalf("replay next to a running apply: want it refused, got %v:\n%s", err, out)
	}
	if aside, _ := filepath.Glob(letters + ".replayed-*"); len(aside) != 0 {
		t.Errorf("a refused replay moved the dead letters aside: %q", aside)
	}
	// The running apply's next dead letter lands in the same file.
	myExec(t, s.my, "INSERT INTO "+s.db+".pay VALUES (3, -30, NULL)")
	a.waitFor(t, "the second dead letter in "+letters, 60*time.Second, func() (bool, string) {
		b, _ := os.ReadFile(letters)
		return strings.Count(string(b), "\n") == 2, string(b)
	})
}

// payWithRule makes s's table pay (id, amount, note) with rows and a file
// whose upsert pipeline pay dead-letters the rows of a negative amount
// (assert), with more options in its WITH (", name = value") and more
// statements after it; it returns the file and the state directory to use.
func payWithRule(t *testing.T, s *scratch, myDSN, rows, with, more string) (file, state string) {
	t.Helper()
	myExec(t, s.my,
		"CREATE DATABASE "+s.db,
		"CREATE TABLE "+s.db+".pay (id INT PRIMARY KEY, amount INT NOT NULL, note VARCHAR(20))",
		"INSERT INTO "+s.db+".pay VALUES "+rows,
	)
	dir := t.TempDir()
	file = filepath.Join(dir, "pay.etl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE shop FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE pay
  FROM binlog shop.%s.pay
  WHERE assert(amount >= 0, 'amount must not be negative')
  TRANSFORM id, amount, note
  INTO clickhouse dw.%s.pay MODE upsert KEY (id)
  WITH (on_error = 'dead_letter'%s);
%s`, myDSN, s.chDSN, s.db, s.db, with, more))
	return file, filepath.Join(dir, "state")
}
