package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// upsertFile writes an .etl file that keeps db.t in ClickHouse's db.t
// (upsert) and returns its path.
func upsertFile(t *testing.T, myDSN, chDSN, db string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "p.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t
  TRANSFORM id, status, amount
  INTO clickhouse dw.%s.t MODE upsert KEY (id)
  WITH (flush_interval = '100ms');
`, myDSN, chDSN, db, db)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestStateDirOneProcess: a second apply on a state directory that a
// running apply holds is refused at once, naming the holder's pid and host;
// once the holder is killed (kill -9), the kernel has released the lock and
// the next apply runs. Two processes on one state directory used to
// disconnect each other from the binlog and leave the target wrong.
func TestStateDirOneProcess(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	myExec(t, s.my, "CREATE DATABASE "+s.db,
		"CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
	seed(t, s.my, s.db+".t", 1000)
	file := upsertFile(t, myDSN, s.chDSN, s.db)
	state := filepath.Join(t.TempDir(), "state")
	w := startWriter(t, myDSN, s.db+".t", 1500)
	defer w.halt(t)

	var out1 syncBuffer
	first := exec.Command(etlqBin, "apply", "--state-dir", state, "--progress", "never", file)
	first.Stdout, first.Stderr = &out1, &out1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		first.Process.Signal(syscall.SIGKILL)
		first.Wait()
	}()
	pid := strconv.Itoa(first.Process.Pid)
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(state, "lock"))
		if strings.Contains(string(b), "pid "+pid+" ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first apply did not take the lock: %q\n%s", b, out1.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	start := time.Now()
	out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err == nil {
		t.Fatalf("a second apply on the same state directory ran:\n%s", out)
	}
	host, _ := os.Hostname()
	for _, want := range []string{"is in use by another etlq", "pid " + pid + " on host " + host, "--state-dir"} {
		if !strings.Contains(out, want) {
			t.Errorf("refusal does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pipeline done") {
		t.Errorf("the refused apply ran its pipelines:\n%s", out)
	}
	t.Logf("refused after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))

	// The writer goes on a while under the first apply, which is then
	// killed; the next apply takes over the state directory.
	for n := w.ops.Load(); w.ops.Load() < n+300; time.Sleep(10 * time.Millisecond) {
	}
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	w.halt(t)
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	want := myRows(t, s.my, "SELECT id, status, CAST(amount AS CHAR) FROM "+s.db+".t ORDER BY id")
	got := chRows(t, s.ch, "SELECT toString(id), status, toString(amount) FROM "+s.db+".t_current ORDER BY id")
	diffRows(t, want, got)
}

// TestVersionsStateDirRestored: a state directory restored from an older
// copy must not make _version go below the versions already written. The
// copy's counter is from before a run that started afresh (its state
// directory lost), whose versions are far larger; a change made after that
// run must still win in the upsert table.
func TestVersionsStateDirRestored(t *testing.T) {
	t.Parallel()
	s, tbl, file := seededUpsert(t, 100)
	dir := t.TempDir()
	state, old := filepath.Join(dir, "state"), filepath.Join(dir, "old")

	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err := os.CopyFS(old, os.DirFS(state)); err != nil {
		t.Fatal(err)
	}
	myExec(t, s.my, "UPDATE "+tbl+" SET status = 'first' WHERE id = 1")
	// The state directory is lost: a new snapshot, with versions from the
	// wall clock, far above the old copy's counter.
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if got := chRows(t, s.ch, "SELECT status FROM "+s.db+".t_current WHERE id = 1"); len(got) != 1 || got[0] != "first" {
		t.Fatalf("after the fresh run: %v", got)
	}
	// Then the older copy comes back, and the source changes again.
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(old, state); err != nil {
		t.Fatal(err)
	}
	myExec(t, s.my, "UPDATE "+tbl+" SET status = 'second' WHERE id = 1", "DELETE FROM "+tbl+" WHERE id = 2")
	out := mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	want := myRows(t, s.my, "SELECT id, status, CAST(amount AS CHAR) FROM "+tbl+" ORDER BY id")
	got := chRows(t, s.ch, "SELECT toString(id), status, toString(amount) FROM "+s.db+".t_current ORDER BY id")
	diffRows(t, want, got)
	if t.Failed() {
		t.Log(out)
	}
	// Every version of the last run is above every version before it.
	rows := chRows(t, s.ch, "SELECT toString(count()) FROM "+s.db+".t FINAL WHERE id = 1 AND status = 'second'")
	if len(rows) != 1 || rows[0] != "1" {
		t.Errorf("the last change of id 1 is not the row FINAL keeps: %v", rows)
	}
}

// TestVersionFloorNearMax: a target whose largest _version is so close to
// the largest uint64 that the stream's counter, started above it, would
// wrap around to small versions (a row written there by hand, a tool) is
// refused at the start with what to do. The counter used to start just
// above it and wrap within the run: every later change got a version far
// below the target's rows, so the upsert table kept the older rows for
// good (found by hand: a row inserted with _version 18446744073709551000,
// then a restart; after 615 rows the orders target stopped following).
func TestVersionFloorNearMax(t *testing.T) {
	t.Parallel()
	s, tbl, file := seededUpsert(t, 10)
	state := filepath.Join(t.TempDir(), "state")
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err := s.ch.Exec(context.Background(), "INSERT INTO "+s.db+".t (id, status, amount, _version, _is_deleted) SELECT 1000, 'x', toDecimal64(1, 2), toUInt64('18446744073709551000'), 0"); err != nil {
		t.Fatal(err)
	}
	myExec(t, s.my, "UPDATE "+tbl+" SET status = 'later' WHERE id = 1")
	out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err == nil || !strings.Contains(out, "holds _version 18446744073709551000, too close to the largest 64-bit version") {
		t.Fatalf("apply over a target with a _version near the largest: %v\n%s", err, out)
	}
}

// seededUpsert makes a table db.t (id, status, amount) of n rows on MariaDB
// A and the upsert file of upsertFile over it: the scratch, the table's
// name and the file.
func seededUpsert(t *testing.T, n int) (*scratch, string, string) {
	t.Helper()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	tbl := s.db + ".t"
	myExec(t, s.my, "CREATE DATABASE "+s.db,
		"CREATE TABLE "+tbl+" (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
	seed(t, s.my, tbl, n)
	return s, tbl, upsertFile(t, myDSN, s.chDSN, s.db)
}

// TestSecondApplyRefusedBeforeConnecting: an apply on a state directory
// another process holds stops at once, before it connects to a server or
// logs "starting" (docs/operations.md, "One process per state
// directory"). It planned the file against the servers first: with the
// source unreachable it failed on the connection, not the lock, and with
// the source up it logged "starting" before the refusal. The lock is held
// here by this test process (a flock of its own on <state-dir>/lock, as a
// running apply holds it).
func TestSecondApplyRefusedBeforeConnecting(t *testing.T) {
	t.Parallel()
	state := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(state, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "pid %d on host test, since %s\n", os.Getpid(), time.Now().Format(time.RFC3339))
	// Port 1 of this host: nothing answers there.
	file := filepath.Join(t.TempDir(), "p.etl")
	writeFile(t, file, `CREATE SOURCE s FROM mysql 'mysql://root@127.0.0.1:1';
CREATE SINK dw INTO clickhouse 'clickhouse://127.0.0.1:1';
CREATE PIPELINE p FROM binlog s.shop.t
  INTO clickhouse dw.shop.t MODE upsert KEY (id);
`)
	for _, args := range [][]string{
		{"apply", "--once", "--state-dir", state, "--progress", "never", file},
		{"apply", "--state-dir", state, "--progress", "never", "--log", "nats://127.0.0.1:1", file},
		{"deadletter", "replay", "--state-dir", state, file, "p"},
	} {
		start := time.Now()
		out, err := runEtlq(t, args...)
		if err == nil {
			t.Fatalf("%s on a held state directory ran:\n%s", args, out)
		}
		if !strings.Contains(out, "is in use by another etlq (pid "+strconv.Itoa(os.Getpid())+" on host test") {
			t.Errorf("%s: want the refusal naming the holder, got:\n%s", args, out)
		}
		for _, no := range []string{"starting", "connect", "127.0.0.1:1"} {
			if strings.Contains(out, no) {
				t.Errorf("%s: the refused apply went on (%q) before the refusal:\n%s", args, no, out)
			}
		}
		t.Logf("refused after %v", time.Since(start).Round(time.Millisecond))
	}
}
