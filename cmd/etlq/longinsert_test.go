package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestLongInsertsUnderCut: a pipeline with long inserts on (insert_rows
// above batch_rows: one INSERT carries many batches while they come full)
// snapshots and streams a table under a live writer while the connection
// to ClickHouse is cut for a few seconds, failing INSERTs of several
// blocks; then etlq is killed and apply --once catches up. The _current view must equal the source row
// by row: no batch of an INSERT that failed midway was acknowledged (nor
// checkpointed) before the retry wrote it. insert_memory = 0: every batch
// of an INSERT is spilled once sent (connectors/clickhouse/spill.go), so
// the retries read them back from the spill file, which kill -9 leaves
// nowhere in $TMPDIR. On MariaDB A and B.
func TestLongInsertsUnderCut(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my, ch := s.db, s.my, s.ch
		const keys = 40000
		myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
		const rows = 30000
		seed(t, my, db+".t", rows)

		px := newProxy(t, chHostOf(s.chDSN))
		dir := t.TempDir()
		file := filepath.Join(dir, "long.etl")
		src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (chunk_rows = 2000);
CREATE SINK dw INTO clickhouse 'clickhouse://%s';
CREATE PIPELINE p FROM binlog s.%s.t
  TRANSFORM id, status, amount
  INTO clickhouse dw.%s.t MODE upsert KEY (id)
  WITH (batch_rows = 20, insert_rows = 100000, insert_memory = 0, flush_interval = '2s', idle_flush = '2s', max_backoff = '500ms');
`, myDSN, px.addr(), db, db)
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		state := filepath.Join(dir, "state")
		w := startWriter(t, myDSN, db+".t", keys)
		defer w.halt(t)

		logPath := filepath.Join(dir, "etlq.log")
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		defer logf.Close()
		tmp := filepath.Join(dir, "tmp")
		if err := os.Mkdir(tmp, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(etlqBin, "apply", "--state-dir", state, "--progress", "never", file)
		cmd.Stdout, cmd.Stderr = io.Discard, logf
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() { cmd.Process.Kill() })
		// Cut once etlq inserts: its first INSERT is in ClickHouse. A
		// fixed wait is too short under load (the cut then lands while
		// etlq loads the file, where an unreachable sink stops it by
		// design). The snapshot's chunks and the writer's changes (a batch
		// of 20 rows every few tens of milliseconds) keep coming, and with
		// early inserts off (idle_flush) an INSERT carries them for up to
		// flush_interval: a second on, the INSERT under way has several.
		for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
			if n, err := chCount(s.chDSN, "SELECT count() FROM "+db+".t"); err == nil && n > 0 {
				break
			}
			select {
			case err := <-exited:
				logText, _ := os.ReadFile(logPath)
				t.Fatalf("etlq exited before its first INSERT: %v\n%s", err, tail(string(logText), 3000))
			default:
			}
			if time.Since(start) > 5*time.Minute {
				t.Fatal("no row in ClickHouse after 5 minutes")
			}
		}
		// Cut until an INSERT of several blocks failed (under load the
		// writer's changes can come slower than batch_rows a group, each
		// group then an INSERT of one block: the one cut of a CI run met
		// only such), at most three times.
		multi := regexp.MustCompile(`insert failed, retrying.* blocks=([2-9]|\d\d+) `)
		for i := 0; i < 3; i++ {
			time.Sleep(time.Second)
			px.cut()
			time.Sleep(3 * time.Second)
			px.restore()
			time.Sleep(3 * time.Second)
			if logText, _ := os.ReadFile(logPath); multi.Match(logText) {
				break
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		if names, _ := os.ReadDir(tmp); len(names) != 0 {
			t.Errorf("etlq killed left %v in $TMPDIR (spill files must be unlinked)", names)
		}
		w.halt(t)
		t.Logf("%d writer operations", w.ops.Load())
		// The cut failed INSERTs of several blocks, which were made again.
		logText, _ := os.ReadFile(logPath)
		if !multi.Match(logText) {
			t.Errorf("no INSERT of several blocks failed and was retried:\n%s", tail(string(logText), 3000))
		}

		mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		want := myRows(t, my, "SELECT id, status, CAST(amount AS CHAR) FROM "+db+".t ORDER BY id")
		got := chRows(t, ch, "SELECT toString(id), status, toString(amount) FROM "+db+".t_current ORDER BY id")
		diffRows(t, want, got)
		parts := testenv.ClickHouseQuery(t, ch, "SELECT toString(count()) FROM system.parts WHERE database = '"+db+"' AND table = 't' AND level = 0")
		t.Logf("%s parts inserted for %d snapshot rows and the stream", parts[0][0], rows)
	})
}
