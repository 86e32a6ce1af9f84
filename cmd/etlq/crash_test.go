package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors/testenv"
)

// writer keeps inserting, updating (key changes included) and deleting rows
// of a table until stopped.
type writer struct {
	stop atomic.Bool
	wg   sync.WaitGroup
	ops  atomic.Int64
	err  atomic.Value
}

func startWriter(t *testing.T, dsn, table string, keys int) *writer {
	w := &writer{}
	c := testenv.MySQLConn(t, dsn)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		statuses := []string{"new", "paid", "shipped", "cancelled"}
		for !w.stop.Load() {
			k := 1 + rng.IntN(keys)
			var q string
			switch r := rng.IntN(10); {
			case r < 3:
				q = fmt.Sprintf("INSERT IGNORE INTO %s VALUES (%d, '%s', %d.%02d)", table, k, statuses[rng.IntN(4)], rng.IntN(10000), rng.IntN(100))
			case r < 7:
				q = fmt.Sprintf("UPDATE %s SET status = '%s', amount = amount + 1 WHERE id = %d", table, statuses[rng.IntN(4)], k)
			case r < 8:
				q = fmt.Sprintf("UPDATE IGNORE %s SET id = %d WHERE id = %d", table, 1+rng.IntN(keys), k)
			default:
				q = fmt.Sprintf("DELETE FROM %s WHERE id = %d", table, k)
			}
			if _, err := c.Execute(q); err != nil {
				w.err.Store(fmt.Errorf("%s: %w", q, err))
				return
			}
			w.ops.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()
	return w
}

func (w *writer) halt(t *testing.T) {
	w.stop.Store(true)
	w.wg.Wait()
	if err, _ := w.err.Load().(error); err != nil {
		t.Fatalf("writer: %v", err)
	}
}

// proxy forwards TCP connections to a target and can cut them all, to make
// a server unreachable without stopping it for the other tests, or slow
// them (testenv.CutProxy).
type proxy struct{ *testenv.CutProxy }

func newProxy(t *testing.T, target string) *proxy {
	return &proxy{testenv.NewCutProxy(t, target)}
}

// chHostOf is the host:port of a clickhouse:// DSN.
func chHostOf(dsn string) string {
	h := strings.TrimPrefix(dsn, "clickhouse://")
	h = strings.SplitN(h, "/", 2)[0]
	if i := strings.LastIndex(h, "@"); i >= 0 {
		h = h[i+1:]
	}
	return h
}

func (p *proxy) addr() string { return p.Addr() }

// slow makes every chunk sent to the target wait d (0: none).
func (p *proxy) slow(d time.Duration) { p.Slow(d) }

// newCHProxy is a proxy to the ClickHouse server of chDSN: a sink DSN
// 'clickhouse://' + px.addr() reaches it through the proxy, which cut()
// makes unreachable (etlq then runs behind).
func newCHProxy(t *testing.T, chDSN string) *proxy {
	return newProxy(t, chHostOf(chDSN))
}

func (p *proxy) cut() { p.Cut() }

func (p *proxy) restore() { p.Restore() }

// TestCrashAnywhere: a writer keeps changing the source while etlq is
// killed with SIGKILL at random moments — during the snapshot and while
// streaming — and restarted; ClickHouse also becomes unreachable for 20 s
// mid-stream. At the end the _current view equals the source row by row.
func TestCrashAnywhere(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	const keys = 60000
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
	seed(t, my, db+".t", 40000)

	px := newProxy(t, chHostOf(chDSN))

	dir := t.TempDir()
	file := filepath.Join(dir, "crash.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (chunk_rows = 2000, snapshot_parallelism = 2);
CREATE SINK dw INTO clickhouse 'clickhouse://%s';
CREATE PIPELINE p FROM binlog s.%s.t
  TRANSFORM id, status, amount
  INTO clickhouse dw.%s.t MODE upsert KEY (id)
  WITH (batch_rows = 3000, flush_interval = '100ms');
`, myDSN, px.addr(), db, db)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	w := startWriter(t, myDSN, db+".t", keys)
	defer w.halt(t)

	rng := rand.New(rand.NewPCG(3, 4))
	start := func() *exec.Cmd {
		cmd := exec.Command(etlqBin, "apply", "--state-dir", state, "--progress", "never", file)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	kills := 0
	for i := 0; i < 12; i++ {
		cmd := start()
		// The first kills land in the snapshot (40,000 rows in 2,000-row
		// chunks), the later ones while streaming.
		time.Sleep(time.Duration(150+rng.IntN(1500)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		kills++
	}
	// ClickHouse unreachable for 20 s while etlq streams, then back.
	cmd := start()
	time.Sleep(time.Second)
	px.cut()
	time.Sleep(20 * time.Second)
	px.restore()
	time.Sleep(2 * time.Second)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	w.halt(t)
	t.Logf("%d kills, %d writer operations", kills, w.ops.Load())

	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	want := myRows(t, my, "SELECT id, status, CAST(amount AS CHAR) FROM "+db+".t ORDER BY id")
	got := chRows(t, ch, "SELECT toString(id), status, toString(amount) FROM "+db+".t_current ORDER BY id")
	diffRows(t, want, got)
}

func seed(t *testing.T, c *client.Conn, table string, n int) {
	t.Helper()
	statuses := []string{"new", "paid", "shipped", "cancelled"}
	for start := 1; start <= n; start += 5000 {
		var vals []string
		for i := start; i < start+5000 && i <= n; i++ {
			vals = append(vals, fmt.Sprintf("(%d, '%s', %d.%02d)", i, statuses[i%4], i%1000, i%100))
		}
		myExec(t, c, "INSERT INTO "+table+" VALUES "+strings.Join(vals, ","))
	}
}

// TestCrashOnServerDefaults: TestCrashAnywhere's kills during the snapshot
// and the stream, on the server with default binlog settings, with chunks
// placed by binlog_snapshot_position (exact) and by watermarks (MySQL's
// default, run here on MariaDB). At the end the _current view equals the
// source row by row. The first kill usually lands before the first
// checkpoint: before etlq checkpointed where a stream starts (StartMark),
// the next run started anew, and rows of the killed run whose keys were
// deleted in between stayed in ClickHouse.
func TestCrashOnServerDefaults(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"auto", "watermark"} {
		t.Run(mode, func(t *testing.T) { testCrashOnServerDefaults(t, mode) })
	}
}

func testCrashOnServerDefaults(t *testing.T, mode string) {
	myDSN := testenv.MySQLMinimalDSN(t)
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	const keys = 30000
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
	seed(t, my, db+".t", 20000)

	dir := t.TempDir()
	file := filepath.Join(dir, "crash.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s'
  WITH (chunk_rows = 1000, snapshot_parallelism = 2, snapshot_position = '%s', watermark_table = '%s_wm.marks');
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t
  TRANSFORM id, status, amount
  INTO clickhouse dw.%s.t MODE upsert KEY (id)
  WITH (batch_rows = 3000, flush_interval = '100ms');
`, myDSN, mode, db, chDSN, db, db)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db + "_wm") })
	state := filepath.Join(dir, "state")
	w := startWriter(t, myDSN, db+".t", keys)
	defer w.halt(t)

	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 8; i++ {
		cmd := exec.Command(etlqBin, "apply", "--state-dir", state, "--progress", "never", file)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(150+rng.IntN(1200)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	w.halt(t)
	t.Logf("8 kills, %d writer operations", w.ops.Load())
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	want := myRows(t, my, "SELECT id, status, CAST(amount AS CHAR) FROM "+db+".t ORDER BY id")
	got := chRows(t, ch, "SELECT toString(id), status, toString(amount) FROM "+db+".t_current ORDER BY id")
	diffRows(t, want, got)
}
