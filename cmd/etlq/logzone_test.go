package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMessageTimesInLogZone (operator trial): the times a message or a
// log attribute carries are in the zone of the log lines' own time, with
// its offset. The state directory's lock refusal said "since …Z" and
// "resuming from checkpoint" logged updated=…Z while the lines read
// time=…+05:30 (the local zone), so an operator compared two clocks. Run
// under TZ=Asia/Kolkata (+05:30, no summer time): the refusal's "since",
// the resume line's updated (text and JSON logs) all carry +05:30.
func TestMessageTimesInLogZone(t *testing.T) {
	t.Parallel()
	_, _, file := seededUpsert(t, 50)
	state := filepath.Join(t.TempDir(), "state")
	env := append(os.Environ(), "TZ=Asia/Kolkata")
	mustEtlqEnv(t, env, "apply", "--once", "--state-dir", state, "--progress", "never", file)

	var out1 syncBuffer
	first := exec.Command(etlqBin, "apply", "--state-dir", state, "--progress", "never", file)
	first.Env = env
	first.Stdout, first.Stderr = &out1, &out1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		first.Process.Signal(syscall.SIGKILL)
		first.Wait()
	}()
	resume := regexp.MustCompile(`(?m)^time=(\S+) level=INFO msg="resuming from checkpoint" source=s updated=(\S+)$`)
	deadline := time.Now().Add(60 * time.Second)
	var m []string
	for m == nil {
		if m = resume.FindStringSubmatch(out1.String()); m != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("apply did not log its resume:\n%s", out1.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.HasSuffix(m[1], "+05:30") || !strings.HasSuffix(m[2], "+05:30") {
		t.Errorf("the resume line's time %s and its updated %s are not both in the local zone (+05:30):\n%s", m[1], m[2], m[0])
	}

	out, err := etlqEnv(env, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err == nil {
		t.Fatalf("a second apply on the same state directory ran:\n%s", out)
	}
	since := regexp.MustCompile(`is in use by another etlq \(pid \d+ on host [^,]+, since (\S+)\)`).FindStringSubmatch(out)
	if since == nil {
		t.Fatalf("the refusal names no holder's start:\n%s", out)
	}
	if !strings.HasSuffix(since[1], "+05:30") {
		t.Errorf("the refusal's since %s is not in the local zone (+05:30):\n%s", since[1], out)
	}
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()

	out = mustEtlqEnv(t, env, "apply", "--once", "--state-dir", state, "--progress", "never", "--log-format", "json", file)
	m = regexp.MustCompile(`\{"time":"([^"]+)","level":"INFO","msg":"resuming from checkpoint","source":"s","updated":"([^"]+)"\}`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the JSON log has no resume line:\n%s", out)
	}
	if !strings.HasSuffix(m[1], "+05:30") || !strings.HasSuffix(m[2], "+05:30") {
		t.Errorf("the JSON resume line's time %s and its updated %s are not both in the local zone (+05:30):\n%s", m[1], m[2], m[0])
	}
}
