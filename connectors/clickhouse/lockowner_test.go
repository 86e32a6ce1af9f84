package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// withPid is this process's identity with another pid and start time.
func withPid(t *testing.T, pid int, start string) string {
	t.Helper()
	id := processIdentity()
	if id == "" {
		noProc(t)
	}
	m := parseIdentity("x " + id)
	return fmt.Sprintf("boot=%s pidns=%s pid=%d start=%s", m["boot"], m["pidns"], pid, start)
}

// noProc skips a test that needs /proc (Linux) where it is missing; under
// CI=true, which runs on Linux, that is a failure.
func noProc(t *testing.T) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal("no /proc (CI=true, so this fails): a lock's writer cannot be told by its process")
	}
	t.Skip("no /proc: a lock's writer is known by its heartbeat alone")
}

// deadPid is the pid of a process that ran and ended.
func deadPid(t *testing.T) int {
	t.Helper()
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	return c.Process.Pid
}

func TestLockOwnerGone(t *testing.T) {
	me := processIdentity()
	if me == "" {
		noProc(t)
	}
	m := parseIdentity("x " + me)
	dead := deadPid(t)
	for _, c := range []struct {
		owner string
		gone  bool
	}{
		{"tok " + me, false}, // this process
		{"tok " + withPid(t, os.Getpid(), m["start"]+"1"), true},                         // its pid, a later process's start: pid reused
		{"tok " + withPid(t, dead, "1"), true},                                           // ended
		{"tok " + strings.Replace(withPid(t, dead, "1"), "boot=", "boot=x", 1), false},   // another kernel
		{"tok " + strings.Replace(withPid(t, dead, "1"), "pidns=", "pidns=x", 1), false}, // another container
		{"killed", false},    // an earlier etlq's token alone
		{"tok pid=1", false}, // unreadable
	} {
		if got := ownerGone(c.owner); got != c.gone {
			t.Errorf("ownerGone(%q) = %v, want %v", c.owner, got, c.gone)
		}
	}
}

// TestRekeyLockOfKilledProcess: etlq killed (kill -9) in the middle of a
// key widening leaves the re-key lock with a fresh heartbeat; etlq started
// again on the same machine must take it over at once — before, it waited
// two minutes for the heartbeat to age. A lock held by a process that
// runs (here the test's own) is not taken.
func TestRekeyLockOfKilledProcess(t *testing.T) {
	defer func(d time.Duration) { rekeyLockStale = d }(rekeyLockStale)
	rekeyLockStale = time.Hour
	widen := func(t *testing.T, owner string, wait time.Duration) (*chEnv, error) {
		e, w, wide := underLock(t, owner, "now()")
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		err := w.Write(ctx, e.build(wide, sysRow(2, false, "insert", int64(5000000000))), nil)
		if err == nil {
			err = w.Flush(ctx)
		}
		return e, err
	}
	t.Run("killed", func(t *testing.T) {
		e, err := widen(t, "0badc0de "+withPid(t, deadPid(t), "1"), time.Minute)
		if err != nil {
			t.Fatalf("the widening under a dead process's lock: %v", err)
		}
		if got := e.text("SELECT toString(id) FROM " + quote(e.db) + ".t ORDER BY id"); got != "1\n5000000000\n" {
			t.Errorf("rows: %s", got)
		}
		if got := e.text("SELECT name FROM system.tables WHERE database = '" + e.db + "' AND name LIKE '%etlq%'"); got != "" {
			t.Errorf("left over: %s", got)
		}
	})
	t.Run("running", func(t *testing.T) {
		e, err := widen(t, "0badc0de "+processIdentity(), 3*time.Second)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a lock of a running writer was not waited for: %v", err)
		}
		if got := e.text("SELECT count() FROM " + quote(e.db) + ".`t" + lockSuffix + "`"); got != "1\n" {
			t.Errorf("the running writer's lock: %s", got)
		}
	})
}
