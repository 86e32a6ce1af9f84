package main

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// liveApply is an `etlq apply` (without --once) running in the background.
type liveApply struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

// syncBuffer is a strings.Builder safe for the process's two pipes and
// the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startApply starts `etlq apply --state-dir state file` in the background;
// the test's end kills it if it still runs.
func startApply(t *testing.T, state, file string) *liveApply {
	t.Helper()
	a := &liveApply{cmd: exec.Command(etlqBin, "apply", "--state-dir", state, "--progress", "never", file), out: &syncBuffer{}, done: make(chan error, 1)}
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.done <- a.cmd.Wait() }()
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			a.cmd.Process.Kill()
		}
	})
	return a
}

// running fails the test when the apply has exited.
func (a *liveApply) running(t *testing.T) {
	t.Helper()
	select {
	case err := <-a.done:
		a.done <- err
		t.Fatalf("etlq apply exited (%v) while it should stream:\n%s", err, a.out.String())
	default:
	}
}

// stop interrupts the apply (SIGINT: flush, checkpoint, exit 0) and
// returns its output.
func (a *liveApply) stop(t *testing.T) string {
	t.Helper()
	a.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-a.done:
		if err != nil {
			t.Fatalf("etlq apply after SIGINT: %v\n%s", err, a.out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("etlq apply did not stop within 60 s of SIGINT\n%s", a.out.String())
	}
	return a.out.String()
}

// waitFor polls cond until it holds, failing the test (with what etlq
// printed) after timeout or when the apply exits first.
func (a *liveApply) waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, desc := cond()
		if ok {
			return
		}
		last = desc
		select {
		case err := <-a.done:
			a.done <- err
			ok, desc = cond()
			if ok {
				return
			}
			t.Fatalf("%s: etlq apply exited (%v) first (last: %s):\n%s", what, err, desc, a.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last: %s):\n%s", what, timeout, last, a.out.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// writeFile writes a test's .etl file.
func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
