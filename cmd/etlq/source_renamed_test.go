package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSourceRenamedKeepsCheckpoint: CREATE SOURCE shop renamed to CREATE
// SOURCE prod (the same DSN) while etlq was stopped. Before, check and
// plan said ok and apply started prod as a first run: its SNAPSHOT never
// pipeline began at the current position, and the changes made while
// etlq was stopped were lost (new-user trial; the state directory held
// shop's checkpoint). Now check fails at prod's CREATE SOURCE naming both
// names and the two ways out, plan warns, apply refuses; renamed back,
// apply resumes from shop's checkpoint and delivers the change made
// meanwhile. A checkpoint of another server is a warning only, and once
// prod has a checkpoint of its own the old one is a note.
func TestSourceRenamedKeepsCheckpoint(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db := s.db
		myExec(t, s.my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".o (id INT PRIMARY KEY, v VARCHAR(20))",
			"INSERT INTO "+db+".o VALUES (1, 'before')")
		dir := t.TempDir()
		state := filepath.Join(dir, "state")
		file := filepath.Join(dir, "o.etl")
		sid := testServerID()
		write := func(name string) {
			writeFile(t, file, fmt.Sprintf("CREATE SOURCE %s FROM mysql '%s' WITH (server_id = %d, ssl_mode = 'disabled');\n"+
				"CREATE PIPELINE o_log FROM binlog %s.%s.o SNAPSHOT never TRANSFORM id, v INTO stdout;\n", name, myDSN, sid, name, db))
		}
		write("shop")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		myExec(t, s.my, "INSERT INTO "+db+".o VALUES (2, 'while_stopped')")

		write("prod")
		want := []string{
			file + ":1:8: source prod has no checkpoint in the state directory, which holds one of source shop, not declared in the file, taken on the server prod connects to",
			"was shop renamed to prod?",
			"apply refuses to start prod as a first run, which would lose the changes made since that checkpoint",
			"To resume from the checkpoint, rename the source back to shop; to start prod over, remove the old checkpoint's files: " + filepath.Join(state, "source-shop.json"),
			"\nCREATE SOURCE prod FROM",
			"\n       ^",
		}
		out, err := runEtlq(t, "check", "--state-dir", state, file)
		if err == nil {
			t.Errorf("check: want it to fail, got ok:\n%s", out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("check: want %q in:\n%s", w, out)
			}
		}
		out = mustEtlq(t, "plan", "--state-dir", state, file)
		if !strings.Contains(out, "warning: "+want[0]) {
			t.Errorf("plan: want the warning %q in:\n%s", want[0], out)
		}
		out, err = runEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		if err == nil || strings.Contains(out, "while_stopped") {
			t.Errorf("apply: want it refused before reading anything, got %v:\n%s", err, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("apply: want %q in:\n%s", w, out)
			}
		}
		if _, err := os.Stat(filepath.Join(state, "source-prod.json")); err == nil {
			t.Errorf("apply refused, yet it wrote a checkpoint of prod")
		}

		// Renamed back: the checkpoint is resumed, nothing lost.
		write("shop")
		if out := mustEtlq(t, "check", "--state-dir", state, file); strings.Contains(out, "warning:") || strings.Contains(out, "note:") {
			t.Errorf("check of the source renamed back: want nothing said, got:\n%s", out)
		}
		out = mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		if !strings.Contains(out, "while_stopped") {
			t.Errorf("apply of the source renamed back: want the change made while stopped, got:\n%s", out)
		}

		// shop's checkpoint as another server's: prod starts afresh,
		// with a warning, and the old checkpoint is a note afterwards.
		path := filepath.Join(state, "source-shop.json")
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]json.RawMessage
		var mark map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(doc["mark"], &mark); err != nil {
			t.Fatal(err)
		}
		mark["server_id"] = 4242
		doc["mark"], _ = json.Marshal(mark)
		raw, _ = json.Marshal(doc)
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		write("prod")
		other := file + ":1:8: source prod has no checkpoint in the state directory, which holds one of source shop, not declared in the file, taken on another server (server_id 4242; prod connects to server_id "
		out = mustEtlq(t, "check", "--state-dir", state, file)
		if !strings.Contains(out, "warning: "+other) || !strings.Contains(out, "apply starts prod as a first run") {
			t.Errorf("check of another server's checkpoint: want the warning %q in:\n%s", other, out)
		}
		out = mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		if !strings.Contains(out, other) {
			t.Errorf("apply of another server's checkpoint: want the warning %q in:\n%s", other, out)
		}
		note := "note: the state directory holds a checkpoint of source shop, which the file does not declare (" + path
		if out := mustEtlq(t, "check", "--state-dir", state, file); !strings.Contains(out, note) || strings.Contains(out, "warning:") {
			t.Errorf("check after prod's first run: want only the note %q in:\n%s", note, out)
		}
	})
}
