package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors/testenv"
)

// The end-to-end benchmarks keep their source data in one MariaDB database
// under fixed names, so that a rerun finds the tables (and the binlog
// window) of the previous run and skips the slow setup. A table is reused
// only when its comment carries benchDataVersion and its row count is
// right; bump the version when the data or the layout changes.
const (
	benchDB          = "etlq_bench"
	benchDataVersion = "etlq-bench-v1"
	benchRows        = 1_000_000
)

// benchColumns is the layout of both benchmark tables: the types a
// typical OLTP table has.
const benchColumns = `(
  id         BIGINT NOT NULL PRIMARY KEY,
  customer   VARCHAR(64) NOT NULL,
  email      VARCHAR(128) NULL,
  amount     DECIMAL(12,2) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  qty        INT NOT NULL,
  status     ENUM('new','paid','shipped','cancelled') NOT NULL,
  score      DOUBLE NOT NULL
)`

// benchSelect returns the SELECT that makes rows lo..hi (inclusive) of a
// benchmark table from MariaDB's SEQUENCE engine. Every tenth email is NULL.
func benchSelect(lo, hi int) string {
	return fmt.Sprintf(`SELECT seq,
  CONCAT('customer-', seq %% 50000),
  IF(seq %% 10 = 0, NULL, CONCAT('user', seq, '@example.com')),
  (seq * 37 %% 10000000) / 100,
  TIMESTAMPADD(MICROSECOND, seq * 7919123, '2025-01-01 00:00:00'),
  seq %% 1000,
  ELT(1 + seq %% 4, 'new', 'paid', 'shipped', 'cancelled'),
  seq / 7
FROM %s.seq_%d_to_%d`, benchDB, lo, hi)
}

// benchTableReady reports whether table exists in benchDB with this data
// version and n rows.
func benchTableReady(b *testing.B, my *client.Conn, table string, n int) bool {
	b.Helper()
	rows := testenv.Query(b, my, fmt.Sprintf(
		"SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s'", benchDB, table))
	if len(rows) != 1 || rows[0][0] != benchDataVersion {
		return false
	}
	got := testenv.Query(b, my, fmt.Sprintf("SELECT COUNT(*) FROM %s.%s", benchDB, table))
	return got[0][0] == strconv.Itoa(n)
}

// createBenchTable (re)creates an empty benchmark table.
func createBenchTable(b *testing.B, my *client.Conn, table string) {
	b.Helper()
	testenv.Exec(b, my,
		"CREATE DATABASE IF NOT EXISTS "+benchDB,
		fmt.Sprintf("DROP TABLE IF EXISTS %s.%s", benchDB, table),
		fmt.Sprintf("CREATE TABLE %s.%s %s ENGINE = InnoDB COMMENT = '%s'", benchDB, table, benchColumns, benchDataVersion),
	)
}

// ensureSnapshotTable makes benchDB.snap_1m with benchRows rows, unless it
// is already there. The rows are written with sql_log_bin = 0: the
// snapshot benchmark does not need them in the binlog, and other tests'
// binlog readers are spared 1M events.
func ensureSnapshotTable(b *testing.B, my *client.Conn) string {
	b.Helper()
	const table = "snap_1m"
	if benchTableReady(b, my, table, benchRows) {
		b.Logf("reusing %s.%s (%d rows)", benchDB, table, benchRows)
		return table
	}
	start := time.Now()
	createBenchTable(b, my, table)
	testenv.Exec(b, my, "SET SESSION sql_log_bin = 0")
	defer testenv.Exec(b, my, "SET SESSION sql_log_bin = 1")
	const chunk = 100_000
	for lo := 1; lo <= benchRows; lo += chunk {
		testenv.Exec(b, my, fmt.Sprintf("INSERT INTO %s.%s %s", benchDB, table, benchSelect(lo, min(lo+chunk-1, benchRows))))
	}
	b.Logf("created %s.%s (%d rows) in %s", benchDB, table, benchRows, time.Since(start).Round(time.Millisecond))
	return table
}

// binlogPos is a position in the source's binlog.
type binlogPos struct {
	File string
	Pos  int64
}

func (p binlogPos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Pos) }

// masterStatus returns the server's current binlog position.
func masterStatus(b *testing.B, my *client.Conn) binlogPos {
	b.Helper()
	rows := testenv.Query(b, my, "SHOW MASTER STATUS")
	if len(rows) != 1 {
		b.Fatalf("SHOW MASTER STATUS: no binlog (is log_bin on?)")
	}
	pos, err := strconv.ParseInt(rows[0][1], 10, 64)
	if err != nil {
		b.Fatalf("SHOW MASTER STATUS: position %q: %v", rows[0][1], err)
	}
	return binlogPos{File: rows[0][0], Pos: pos}
}

// binlogBytes returns how many binlog bytes lie between from and to, or -1
// when from's file is no longer on the server.
func binlogBytes(b *testing.B, my *client.Conn, from, to binlogPos) int64 {
	b.Helper()
	var total int64
	found := false
	for _, r := range testenv.Query(b, my, "SHOW BINARY LOGS") {
		name := r[0]
		size, _ := strconv.ParseInt(r[1], 10, 64)
		if name < from.File || name > to.File {
			continue
		}
		if name == from.File {
			found = true
		}
		lo, hi := int64(0), size
		if name == from.File {
			lo = from.Pos
		}
		if name == to.File {
			hi = to.Pos
		}
		total += hi - lo
	}
	if !found {
		return -1
	}
	return total
}

// cdcWindow is a stretch of the binlog holding the catch-up benchmark's
// changes.
type cdcWindow struct {
	Table      string
	Start, End binlogPos
	Changes    int // row changes of Table between Start and End
	Live       int // rows of Table after the window
}

// maxTrailingBinlog is how much binlog may have been written after a saved
// window before it is made again: both loaders read to the current
// position, so a long tail would blur the figures.
const maxTrailingBinlog = 8 << 20

// ensureCDCWindow makes benchDB.cdc_1m and a binlog window of benchRows
// row changes to it (inserts, updates, deletes interleaved, 5,000 rows per
// transaction), unless a previous run left one that is still usable.
func ensureCDCWindow(b *testing.B, my *client.Conn) cdcWindow {
	b.Helper()
	return ensureCDCWindowNamed(b, my, "cdc_1m")
}

// ensureCDCWindowNamed is ensureCDCWindow for benchDB.table, its window
// kept in benchDB.<table>_window: benchmarks that may run at the same time
// as the catch-up one (from another checkout on the same servers) use a
// table of their own, so that neither rebuilds the other's window while
// it is being read.
func ensureCDCWindowNamed(b *testing.B, my *client.Conn, table string) cdcWindow {
	b.Helper()
	windows := "cdc_window"
	if table != "cdc_1m" {
		windows = table + "_window"
	}
	const chunk = 5000
	const chunks = 100 // 500,000 inserts
	// Per chunk of ten: 10 inserted, 7 updated, 3 deleted → 500k + 350k + 150k.
	w := cdcWindow{Table: table, Changes: benchRows, Live: 350_000}
	testenv.Exec(b, my, "CREATE DATABASE IF NOT EXISTS "+benchDB,
		"CREATE TABLE IF NOT EXISTS "+benchDB+"."+windows+" (start_file VARCHAR(64), start_pos BIGINT, end_file VARCHAR(64), end_pos BIGINT)")
	if saved := testenv.Query(b, my, "SELECT start_file, start_pos, end_file, end_pos FROM "+benchDB+"."+windows); len(saved) == 1 &&
		benchTableReady(b, my, table, w.Live) {
		sp, _ := strconv.ParseInt(saved[0][1], 10, 64)
		ep, _ := strconv.ParseInt(saved[0][3], 10, 64)
		w.Start, w.End = binlogPos{saved[0][0], sp}, binlogPos{saved[0][2], ep}
		now := masterStatus(b, my)
		if binlogBytes(b, my, w.Start, w.End) > 0 {
			if tail := binlogBytes(b, my, w.End, now); tail >= 0 && tail <= maxTrailingBinlog {
				b.Logf("reusing the binlog window %s .. %s of %s.%s (%d KiB written since)", w.Start, w.End, benchDB, table, tail>>10)
				return w
			}
		}
	}
	started := time.Now()
	testenv.Exec(b, my, "DELETE FROM "+benchDB+"."+windows)
	createBenchTable(b, my, table)
	// The comment says "not ready" until the window is complete.
	testenv.Exec(b, my, fmt.Sprintf("ALTER TABLE %s.%s COMMENT = 'incomplete'", benchDB, table))
	w.Start = masterStatus(b, my)
	t := benchDB + "." + table
	for k := 0; k < chunks; k++ {
		lo, hi := k*chunk+1, (k+1)*chunk
		testenv.Exec(b, my, fmt.Sprintf("INSERT INTO %s %s", t, benchSelect(lo, hi)))
		if k%10 < 7 {
			testenv.Exec(b, my, fmt.Sprintf(
				"UPDATE %s SET qty = qty + 1, amount = amount + 1.25, status = 'paid', created_at = created_at + INTERVAL 1 SECOND, email = CONCAT('new-', id, '@example.com') WHERE id BETWEEN %d AND %d",
				t, lo, hi))
		}
		if k%10 < 3 {
			testenv.Exec(b, my, fmt.Sprintf("DELETE FROM %s WHERE id BETWEEN %d AND %d", t, lo, hi))
		}
	}
	w.End = masterStatus(b, my)
	testenv.Exec(b, my,
		fmt.Sprintf("ALTER TABLE %s COMMENT = '%s'", t, benchDataVersion),
		fmt.Sprintf("INSERT INTO %s.%s VALUES ('%s', %d, '%s', %d)", benchDB, windows, w.Start.File, w.Start.Pos, w.End.File, w.End.Pos),
	)
	b.Logf("wrote %d changes to %s in the binlog window %s .. %s in %s", w.Changes, t, w.Start, w.End, time.Since(started).Round(time.Millisecond))
	return w
}

// measured is one run of a child process.
type measured struct {
	Wall      time.Duration
	CPU       time.Duration // user + system
	MaxRSSKiB int64
	Output    string
}

// runMeasured runs a command to completion and returns its wall time and
// CPU time and peak resident set size (getrusage of the child; Maxrss is
// in KiB on Linux).
func runMeasured(b *testing.B, env []string, name string, args ...string) measured {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, tail(out.String(), 4000))
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return measured{Wall: wall, CPU: cpu, MaxRSSKiB: rss, Output: out.String()}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// etlqLogInt returns the integer value of key=… in the last log line of
// etlq's output that has it (e.g. rows_out in "pipeline done").
func etlqLogInt(out, key string) (int64, bool) {
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		for _, f := range strings.Fields(lines[i]) {
			if v, ok := strings.CutPrefix(f, key+"="); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}

var (
	naiveOnce sync.Once
	naiveBin  string
	naiveErr  error
)

// naiveLoaderBin builds scripts/naiveloader once per test binary.
func naiveLoaderBin(b *testing.B) string {
	b.Helper()
	naiveOnce.Do(func() {
		naiveBin = filepath.Join(filepath.Dir(etlqBin), "naiveloader")
		out, err := exec.Command("go", "build", "-o", naiveBin, "github.com/etlq/etlq/scripts/naiveloader").CombinedOutput()
		if err != nil {
			naiveErr = fmt.Errorf("building scripts/naiveloader: %v\n%s", err, out)
		}
	})
	if naiveErr != nil {
		b.Fatal(naiveErr)
	}
	return naiveBin
}

// cpuProfileArgs returns --cpu-profile DIR/NAME.pprof for etlq when
// ETLQ_BENCH_CPUPROFILE names a directory, so a benchmark run can show
// where etlq spends its time (go tool pprof etlq DIR/NAME.pprof).
func cpuProfileArgs(b *testing.B, name string) []string {
	dir := os.Getenv("ETLQ_BENCH_CPUPROFILE")
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(dir, name+".pprof")
	b.Logf("etlq CPU profile: %s", file)
	return []string{"--cpu-profile", file}
}

// benchRounds is how many times each benchmark runs both sides of its
// comparison per iteration, alternating which goes first; the reported
// rates are the medians. ETLQ_BENCH_ROUNDS overrides the default 3: the
// servers are shared with other tests, and one run alone is noisy.
func benchRounds(b *testing.B) int {
	v := os.Getenv("ETLQ_BENCH_ROUNDS")
	if v == "" {
		return 3
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("ETLQ_BENCH_ROUNDS = %q: want a positive integer", v)
	}
	return n
}

// side collects the runs of one side of a comparison.
type side struct {
	walls, cpus []time.Duration
	maxRSSKiB   int64
}

func (s *side) add(r measured) {
	s.walls = append(s.walls, r.Wall)
	s.cpus = append(s.cpus, r.CPU)
	s.maxRSSKiB = max(s.maxRSSKiB, r.MaxRSSKiB)
}

// rate returns rows per second at the median wall time.
func (s *side) rate(rows int) float64 { return float64(rows) / median(s.walls).Seconds() }

// cpuSeconds returns the median CPU time of the process.
func (s *side) cpuSeconds() float64 { return median(s.cpus).Seconds() }

func median(d []time.Duration) time.Duration {
	w := slices.Clone(d)
	slices.Sort(w)
	if n := len(w); n%2 == 1 {
		return w[n/2]
	}
	return (w[len(w)/2-1] + w[len(w)/2]) / 2
}

func (s *side) peakMiB() float64 { return float64(s.maxRSSKiB) / 1024 }
