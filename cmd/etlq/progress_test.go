package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestApplyProgressBars: the progress display has a bar for each table
// snapshotted in this run, and none for a table read with SNAPSHOT never or
// whose snapshot an earlier run finished ("0 / 0 done 0 %" said nothing).
func TestApplyProgressBars(t *testing.T) {
	dsn := testenv.MySQLDSN(t)
	s := newScratch(t, dsn)
	myExec(t, s.my,
		"CREATE DATABASE "+s.db,
		"CREATE TABLE "+s.db+".snap (id INT PRIMARY KEY, v INT)",
		"CREATE TABLE "+s.db+".live (id INT PRIMARY KEY, v INT)",
		"INSERT INTO "+s.db+".snap VALUES (1, 1), (2, 2), (3, 3)",
	)
	dir := t.TempDir()
	file := filepath.Join(dir, "p.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE PIPELINE snapped FROM binlog s.%s.snap SNAPSHOT initial INTO file '%s' FORMAT jsonl;
CREATE PIPELINE streamed FROM binlog s.%s.live SNAPSHOT never INTO file '%s' FORMAT jsonl;
`, dsn, 100000+rand.IntN(1<<30), s.db, filepath.Join(dir, "snap.jsonl"), s.db, filepath.Join(dir, "live.jsonl"))
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	bar := func(table string) *regexp.Regexp {
		return regexp.MustCompile(`snapshot ` + regexp.QuoteMeta(s.db+"."+table) + ` +\d+ / \d+`)
	}

	// Until Ctrl-C: the display draws its first frame after 250ms, and
	// stops once every pipeline has a status line on it.
	run := func() string {
		t.Helper()
		return applyUntil(t, regexp.MustCompile(`(?s)pipeline snapped +in.*pipeline streamed +in`),
			"apply", "--progress", "always", "--state-dir", state, file)
	}
	out := run()
	if !bar("snap").MatchString(out) {
		t.Errorf("no progress bar for the snapshot of %s.snap:\n%s", s.db, out)
	}
	if bar("live").MatchString(out) {
		t.Errorf("a progress bar for %s.live, read with SNAPSHOT never:\n%s", s.db, out)
	}
	out = run()
	if !strings.Contains(out, "resuming from checkpoint") {
		t.Fatalf("the second run did not resume:\n%s", out)
	}
	if bar("snap").MatchString(out) || bar("live").MatchString(out) {
		t.Errorf("a progress bar on a run that resumes after the snapshot:\n%s", out)
	}
}

// applyUntil runs etlq with args until its output matches want, then stops
// it with SIGINT and returns the output.
func applyUntil(t *testing.T, want *regexp.Regexp, args ...string) string {
	t.Helper()
	var mu sync.Mutex
	var buf bytes.Buffer
	cmd := exec.Command(etlqBin, args...)
	cmd.Stdout = lockedWriter{&mu, &buf}
	cmd.Stderr = lockedWriter{&mu, &buf}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	output := func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
	deadline := time.Now().Add(time.Minute)
	for !want.MatchString(output()) {
		select {
		case err := <-done:
			t.Fatalf("etlq %s ended (%v) before its output matched %s:\n%s", strings.Join(args, " "), err, want, output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the output of etlq %s did not match %s within a minute:\n%s", strings.Join(args, " "), want, output())
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatalf("etlq %s did not stop on SIGINT:\n%s", strings.Join(args, " "), output())
	}
	return output()
}
