package main

import (
	"context"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/go-mysql-org/go-mysql/client"
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
	return startApplyEnv(t, nil, state, file)
}

// startApplyEnv is startApply with env (NAME=value) added to the
// process's environment.
func startApplyEnv(t *testing.T, env []string, state, file string) *liveApply {
	t.Helper()
	a := &liveApply{cmd: exec.Command(etlqBin, "apply", "--state-dir", state, "--progress", "never", file), out: &syncBuffer{}, done: make(chan error, 1)}
	if env != nil {
		a.cmd.Env = append(os.Environ(), env...)
	}
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

// stopFailing stops the apply with SIGINT and returns what it printed;
// the run must exit 1: a pipeline of it had stopped alone.
func (a *liveApply) stopFailing(t *testing.T) string {
	t.Helper()
	a.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-a.done:
		if err == nil {
			t.Errorf("apply exited 0 with a pipeline stopped:\n%s", a.out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("apply did not stop on SIGINT:\n%s", a.out.String())
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

// chTry is chRows that returns the error (a table not created yet) instead
// of failing the test.
func chTry(c driver.Conn, q string) ([]string, error) {
	rows, err := c.Query(context.Background(), q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	n := len(rows.Columns())
	for rows.Next() {
		vals := make([]*string, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		var cells []string
		for _, v := range vals {
			if v == nil {
				cells = append(cells, "NULL")
			} else {
				cells = append(cells, *v)
			}
		}
		out = append(out, strings.Join(cells, "|"))
	}
	return out, rows.Err()
}

// waitSame polls until the ClickHouse query chQ returns the rows of the
// MySQL query myQ (both ordered the same way), row by row; it fails the
// test with the difference after timeout.
func (a *liveApply) waitSame(t *testing.T, my *client.Conn, ch driver.Conn, myQ, chQ string, timeout time.Duration) {
	t.Helper()
	var want, got []string
	deadline := time.Now().Add(timeout)
	for {
		want = myRows(t, my, myQ)
		var err error
		got, err = chTry(ch, chQ)
		if err == nil && strings.Join(want, "\n") == strings.Join(got, "\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s\ndiffers from %s after %v (%d rows, want %d):", chQ, myQ, timeout, len(got), len(want))
			diffRows(t, want, got)
			t.Logf("etlq so far:\n%s", a.out.String())
			t.FailNow()
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// testServerID returns a binlog server_id for one test's source: tests of
// several engineers share the servers, and two binlog clients with one id
// push each other off.
func testServerID() int64 { return 100000 + mrand.Int64N(1<<30) }
