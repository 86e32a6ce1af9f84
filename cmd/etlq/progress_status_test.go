package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vbauerster/mpb/v8/decor"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestWindowRate: the status line's rows/s reads 0 once no row moved for
// its window (2 s), where the smoothed figure went on decaying for ~8 s.
func TestWindowRate(t *testing.T) {
	t.Parallel()
	w := &window{span: 2 * time.Second}
	t0 := time.Unix(1000, 0)
	var n int64
	var r float64
	for i := 0; i <= 40; i++ { // 10 s at 4,000 rows/s
		n = int64(i) * 1000
		r = w.rate(n, t0.Add(time.Duration(i)*250*time.Millisecond))
	}
	if r < 3900 || r > 4100 {
		t.Errorf("while rows move: %.0f rows/s, want 4000", r)
	}
	stop := t0.Add(10 * time.Second)
	for i := 1; i <= 9; i++ { // then nothing for 2.25 s
		r = w.rate(n, stop.Add(time.Duration(i)*250*time.Millisecond))
	}
	if r != 0 {
		t.Errorf("2.25 s after the last row: %.1f rows/s, want 0", r)
	}
}

// TestWindowETA: a snapshot resumed at 42 % gets its ETA from this run's
// speed, not from the rows an earlier run read ("ETA 0s" at 42 %).
func TestWindowETA(t *testing.T) {
	t.Parallel()
	w := &window{span: 10 * time.Second}
	t0 := time.Unix(1000, 0)
	if got := w.speedETA(420_000, 1_000_000, t0); !strings.HasSuffix(got, "ETA ?") {
		t.Errorf("before any row of this run: %q", got)
	}
	var got string
	for i := 1; i <= 12; i++ { // 10,000 rows/s
		got = w.speedETA(420_000+int64(i)*2_500, 1_000_000, t0.Add(time.Duration(i)*250*time.Millisecond))
	}
	// 550,000 rows left at 10,000 rows/s.
	if !strings.Contains(got, " 10000 rows/s") || !strings.HasSuffix(got, "ETA 55s") {
		t.Errorf("resumed at 42 %%, 10,000 rows/s: %q, want 10000 rows/s and ETA 55s", got)
	}
}

// TestDoneBarNoETA: a snapshot bar that is done says so and nothing more.
// One that finished before the first frame (a small table) showed
// "10010 / 10010 done  100 %  0 rows/s ETA ?" for the whole run, since the
// window never saw its rows move (new-user trial, make demo).
func TestDoneBarNoETA(t *testing.T) {
	t.Parallel()
	w := &window{span: 10 * time.Second}
	t0 := time.Unix(1000, 0)
	for i := 0; i <= 8; i++ {
		st := decor.Statistics{Current: 10010, Total: 10010, Completed: true}
		if got := w.barSpeed(st, t0.Add(time.Duration(i)*250*time.Millisecond)); got != "" {
			t.Fatalf("a done bar, frame %d: %q, want nothing after the percentage", i, got)
		}
	}
	// A bar still running keeps its speed and ETA.
	w = &window{span: 10 * time.Second}
	var got string
	for i := 0; i <= 8; i++ {
		got = w.barSpeed(decor.Statistics{Current: int64(i) * 1000, Total: 100_000}, t0.Add(time.Duration(i)*250*time.Millisecond))
	}
	if !strings.Contains(got, " 4000 rows/s ETA 23s") {
		t.Errorf("a running bar: %q, want 4000 rows/s ETA 23s (92,000 rows left)", got)
	}
}

// TestProgressOrder: snapshot bars come first, then the pipelines by name,
// whichever the run noticed first (the pipelines' lines, made before the
// source's stream opens, used to come first on some runs and last on
// others); and an idle pipeline's rows/s and lag read 0.
func TestProgressOrder(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQLDSN(t)
	s := newScratch(t, dsn)
	myExec(t, s.my,
		"CREATE DATABASE "+s.db,
		"CREATE TABLE "+s.db+".snap (id INT PRIMARY KEY, v INT)",
		"CREATE TABLE "+s.db+".live (id INT PRIMARY KEY, v INT)",
	)
	seedInts(t, s, s.db+".snap", 20000)
	// Connections to MariaDB take 600 ms: the pipelines' lines exist
	// well before the source's stream opens, as with a slow server.
	slow := slowProxy(t, hostOf(dsn), 600*time.Millisecond)
	dsn = strings.Replace(dsn, hostOf(dsn), slow, 1)
	dir := t.TempDir()
	file := filepath.Join(dir, "p.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d, chunk_rows = 500, snapshot_parallelism = 1);
CREATE PIPELINE zeta FROM binlog s.%s.snap SNAPSHOT initial INTO file '%s' FORMAT jsonl;
CREATE PIPELINE alpha FROM binlog s.%s.live SNAPSHOT never INTO file '%s' FORMAT jsonl;
`, dsn, 100000+rand.IntN(1<<30), s.db, filepath.Join(dir, "snap.jsonl"), s.db, filepath.Join(dir, "live.jsonl"))
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	// Until the snapshot is written and the alpha line reads 0 rows/s and
	// lag 0.0s.
	idle := regexp.MustCompile(`pipeline alpha +in +0 +out +0 +tombstones 0 +filtered 0 +0 rows/s +errors 0 +lag 0\.0s`)
	done := regexp.MustCompile(`pipeline zeta +in +20000 +out +20000 `)
	out := applyUntil(t, regexp.MustCompile(`(?s)`+done.String()+`.*`+idle.String()+`|`+idle.String()+`.*`+done.String()), "apply", "--progress", "always", "--state-dir", filepath.Join(dir, "state"), file)
	screen := renderTerminal(out)
	last := func(re string) int {
		locs := regexp.MustCompile(re).FindAllStringIndex(screen, -1)
		if locs == nil {
			t.Fatalf("no %s on the screen:\n%s", re, screen)
		}
		return locs[len(locs)-1][0]
	}
	bar, a, z := last(`snapshot `+regexp.QuoteMeta(s.db)+`\.snap`), last(`pipeline alpha `), last(`pipeline zeta `)
	if !(bar < a && a < z) {
		t.Errorf("want the snapshot bar, then alpha, then zeta:\n%s", screen)
	}
}

// seedInts fills table (id INT PRIMARY KEY, v INT) with n rows.
func seedInts(t *testing.T, s *scratch, table string, n int) {
	t.Helper()
	for start := 1; start <= n; start += 5000 {
		var vals []string
		for i := start; i < start+5000 && i <= n; i++ {
			vals = append(vals, fmt.Sprintf("(%d, %d)", i, i))
		}
		myExec(t, s.my, "INSERT INTO "+table+" VALUES "+strings.Join(vals, ","))
	}
}

// slowProxy forwards TCP connections to target, each after a delay, and
// returns its address.
func slowProxy(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				time.Sleep(delay)
				s, err := net.Dial("tcp", target)
				if err != nil {
					c.Close()
					return
				}
				go func() { io.Copy(s, c); s.Close() }()
				io.Copy(c, s)
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}
