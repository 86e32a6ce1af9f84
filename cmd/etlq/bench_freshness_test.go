package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/etlq/etlq/connectors/testenv"
)

// BenchmarkFreshness measures how soon a change committed in MariaDB is
// visible in the target while a writer commits at a steady rate, with
// etlq's default options: `etlq apply` (live, not --once) reads one table
// into a ClickHouse upsert target and, from the same stream, posts it to an
// HTTP endpoint (jsonl). Writers insert rows at the rate in transactions of
// 1 to 100 rows; for about 100 sampled transactions a second, the time from
// just before the INSERT was sent (autocommit: it is the commit) to the
// first poll of `<table>_current`'s query that sees the row, and to the HTTP
// request that carries it, are the freshness. While it runs, /metrics is
// scraped every 200 ms for etlq_replication_lag_seconds, and system.parts
// for the table's active parts ("too many parts" must not come back).
//
// ETLQ_FRESHNESS_RATES (rows/s, comma separated; default 5000,20000) and
// ETLQ_FRESHNESS_SECONDS (default 15; the runs use 60) set the
// load; ETLQ_FRESHNESS_CH_OPTIONS, the ClickHouse pipeline's WITH options
// (e.g. "idle_flush = '1s'": no early inserts, as before idle flushing). Figures depend on the machine: on a shared 2-core one they are
// indicative (docs/benchmarks.md).
func BenchmarkFreshness(b *testing.B) {
	rates := []int{5000, 20000}
	if v := os.Getenv("ETLQ_FRESHNESS_RATES"); v != "" {
		rates = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("ETLQ_FRESHNESS_RATES: %q is not a rate", f)
			}
			rates = append(rates, n)
		}
	}
	secs := 15
	if v := os.Getenv("ETLQ_FRESHNESS_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("ETLQ_FRESHNESS_SECONDS: %q", v)
		}
		secs = n
	}
	for _, rate := range rates {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			for range b.N {
				r := runFreshness(b, rate, time.Duration(secs)*time.Second)
				b.ReportMetric(r.rate, "rows/s")
				b.ReportMetric(ms(r.ch.pct(0.50)), "p50_ms")
				b.ReportMetric(ms(r.ch.pct(0.99)), "p99_ms")
				b.ReportMetric(ms(r.ch.pct(1)), "max_ms")
				b.ReportMetric(ms(r.ch.mean()), "mean_ms")
				b.ReportMetric(ms(r.poll.mean()), "poll_ms")
				b.ReportMetric(ms(r.http.pct(0.50)), "http_p50_ms")
				b.ReportMetric(ms(r.http.pct(0.99)), "http_p99_ms")
				b.ReportMetric(ms(r.http.pct(1)), "http_max_ms")
				b.ReportMetric(r.lag.mean()*1000, "lag_mean_ms")
				b.ReportMetric(r.lag.max()*1000, "lag_max_ms")
				b.ReportMetric(float64(r.maxParts), "max_parts")
				b.Logf("rate %d rows/s for %v: %.0f rows/s committed, %d samples; clickhouse _current p50/p99/max %v/%v/%v (mean %v, one poll %v); http %v/%v/%v; /metrics lag mean %.0f ms max %.0f ms (%d scrapes); active parts at most %d",
					rate, time.Duration(secs)*time.Second, r.rate, len(r.ch.d), r.ch.pct(0.5), r.ch.pct(0.99), r.ch.pct(1), r.ch.mean(), r.poll.mean(),
					r.http.pct(0.5), r.http.pct(0.99), r.http.pct(1), r.lag.mean()*1000, r.lag.max()*1000, len(r.lag), r.maxParts)
			}
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// latencies are measured freshness values.
type latencies struct{ d []time.Duration }

// mean returns the mean.
func (l *latencies) mean() time.Duration {
	if len(l.d) == 0 {
		return 0
	}
	var s time.Duration
	for _, d := range l.d {
		s += d
	}
	return s / time.Duration(len(l.d))
}

// pct returns the q-quantile (nearest rank; 1 is the maximum).
func (l *latencies) pct(q float64) time.Duration {
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// gauge is a series of scraped values.
type gauge []float64

func (g gauge) mean() float64 {
	if len(g) == 0 {
		return 0
	}
	var s float64
	for _, v := range g {
		s += v
	}
	return s / float64(len(g))
}

func (g gauge) max() float64 {
	var m float64
	for _, v := range g {
		m = max(m, v)
	}
	return m
}

type freshness struct {
	rate     float64
	ch, http latencies
	poll     latencies // duration of the polls of _current
	lag      gauge
	maxParts uint64
}

// sampleSet holds the commit times of sampled rows until each side saw them.
type sampleSet struct {
	mu      sync.Mutex
	commit  map[int64]time.Time
	chSeen  map[int64]bool
	httpGot map[int64]bool
	res     *freshness
}

func (s *sampleSet) add(id int64, at time.Time) {
	s.mu.Lock()
	s.commit[id] = at
	s.mu.Unlock()
}

// pendingCH returns the sampled ids ClickHouse has not shown yet.
func (s *sampleSet) pendingCH() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []int64
	for id := range s.commit {
		if !s.chSeen[id] {
			ids = append(ids, id)
		}
	}
	return ids
}

func (s *sampleSet) seenCH(id int64, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.commit[id]; ok && !s.chSeen[id] {
		s.chSeen[id] = true
		s.res.ch.d = append(s.res.ch.d, at.Sub(c))
	}
}

func (s *sampleSet) gotHTTP(ids []int64, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if c, ok := s.commit[id]; ok && !s.httpGot[id] {
			s.httpGot[id] = true
			s.res.http.d = append(s.res.http.d, at.Sub(c))
		}
	}
}

func (s *sampleSet) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("%d samples, %d seen in clickhouse, %d over http", len(s.commit), len(s.chSeen), len(s.httpGot))
}

func (s *sampleSet) done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.chSeen) == len(s.commit) && len(s.httpGot) == len(s.commit)
}

var jsonID = regexp.MustCompile(`"id":\s*(\d+)`)

func runFreshness(b *testing.B, rate int, dur time.Duration) *freshness {
	myDSN := testenv.MySQLDSN(b)
	chDSN := testenv.ClickHouseDSN(b)
	my := testenv.MySQLConn(b, myDSN)
	ch := testenv.ClickHouseConn(b, chDSN)
	db := testenv.UniqueName(b)
	b.Cleanup(func() {
		my.Execute("DROP DATABASE IF EXISTS " + db)
		ch.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
	})
	testenv.Exec(b, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".f (id BIGINT PRIMARY KEY, w INT NOT NULL, n INT NOT NULL, pad VARCHAR(40) NOT NULL)")

	res := &freshness{}
	samples := &sampleSet{commit: map[int64]time.Time{}, chSeen: map[int64]bool{}, httpGot: map[int64]bool{}, res: res}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		at := time.Now()
		var ids []int64
		for _, m := range jsonID.FindAllSubmatch(body, -1) {
			id, _ := strconv.ParseInt(string(m[1]), 10, 64)
			ids = append(ids, id)
		}
		samples.gotHTTP(ids, at)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := b.TempDir()
	file := filepath.Join(dir, "f.etl")
	with := ""
	if v := os.Getenv("ETLQ_FRESHNESS_CH_OPTIONS"); v != "" {
		with = " WITH (" + v + ")"
	}
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[5]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE to_ch FROM binlog s.%[3]s.f INTO clickhouse dw.%[3]s.f%[6]s;
CREATE PIPELINE to_http FROM binlog s.%[3]s.f TRANSFORM id INTO http '%[4]s/hook' FORMAT jsonl;
`, myDSN, chDSN, db, srv.URL, testServerID(), with)), 0o644); err != nil {
		b.Fatal(err)
	}
	out := &syncBuffer{}
	cmd := exec.Command(etlqBin, "apply", "--state-dir", filepath.Join(dir, "state"), "--metrics-addr", addr, "--progress", "never", file)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
		}
	}()

	// Streaming: a first row makes it through to ClickHouse.
	testenv.Exec(b, my, "INSERT INTO "+db+".f VALUES (0, 0, 0, 'warm-up')")
	waitFresh(b, exited, out, 60*time.Second, func() bool {
		n, err := chCount(chDSN, "SELECT count() FROM "+db+".f_current")
		return err == nil && n == 1
	})

	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); pollCurrent(ch, db, samples, stop) }()
	go func() { defer bg.Done(); scrapeLag(addr, ch, db, res, stop) }()

	const workers = 4
	txnRate := float64(rate) / 50.5 // mean transaction: 50.5 rows
	every := max(1, int(txnRate/100))
	var rows atomic.Int64
	start := time.Now() // (the connections below are opened on the way)
	var wg sync.WaitGroup
	for w := range workers {
		c := testenv.MySQLConn(b, myDSN)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(rate)))
			perWorker := float64(rate) / workers
			next := int64(w+1) * 1e12
			var sent float64
			for txn := 0; time.Since(start) < dur; txn++ {
				// Paced: the rows sent so far are due at sent/perWorker.
				if wait := time.Duration(sent/perWorker*float64(time.Second)) - time.Since(start); wait > 0 {
					time.Sleep(wait)
				}
				n := 1 + rng.IntN(100)
				var sb strings.Builder
				sb.WriteString("INSERT INTO " + db + ".f VALUES ")
				first := next
				for i := range n {
					if i > 0 {
						sb.WriteByte(',')
					}
					fmt.Fprintf(&sb, "(%d,%d,%d,'%024d')", next, w, i, next)
					next++
				}
				if (txn*workers+w)%every == 0 {
					// Before the commit: the row may arrive before
					// Execute returns.
					samples.add(first, time.Now())
				}
				if _, err := c.Execute(sb.String()); err != nil {
					b.Errorf("writer %d: %v", w, err)
					return
				}
				sent += float64(n)
				rows.Add(int64(n))
			}
		}()
	}
	wg.Wait()
	res.rate = float64(rows.Load()) / time.Since(start).Seconds()

	waitFresh(b, exited, out, 2*time.Minute, func() bool {
		if samples.done() {
			return true
		}
		out.Write([]byte("waiting: " + samples.String() + "\n"))
		return false
	})
	close(stop)
	bg.Wait()
	want := uint64(rows.Load() + 1)
	if n, err := chCount(chDSN, "SELECT count() FROM "+db+".f_current"); err != nil || n != want {
		b.Fatalf("%s.f_current holds %d rows (%v), want %d", db, n, err, want)
	}
	return res
}

// waitFresh polls cond until it holds, failing when etlq exits or after
// timeout.
func waitFresh(b *testing.B, exited chan error, out *syncBuffer, timeout time.Duration, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case err := <-exited:
			exited <- err
			b.Fatalf("etlq apply exited (%v):\n%s", err, tail(out.String(), 4000))
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("not within %v:\n%s", timeout, tail(out.String(), 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pollCurrent looks for the pending sampled ids in <table>_current every
// 20 ms; a row's time is the end of the first query that returns it.
// (The query is the view's, `FINAL … _is_deleted = 0`, restricted to the
// ids.)
func pollCurrent(ch driver.Conn, db string, s *sampleSet, stop chan struct{}) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ids := s.pendingCH()
		if len(ids) == 0 {
			continue
		}
		in := make([]string, len(ids))
		for i, id := range ids {
			in[i] = strconv.FormatInt(id, 10)
		}
		t0 := time.Now()
		// The view's own query with the ids inside its WHERE: ClickHouse
		// 18.16 does not push a WHERE into a view, and FINAL over the
		// whole table took longer than what it measured.
		rows, err := ch.Query(context.Background(), "SELECT id FROM "+db+".f FINAL WHERE _is_deleted = 0 AND id IN ("+strings.Join(in, ",")+")")
		if err != nil {
			continue
		}
		var found []int64
		for rows.Next() {
			var id int64
			if rows.Scan(&id) == nil {
				found = append(found, id)
			}
		}
		rows.Close()
		at := time.Now()
		s.mu.Lock()
		s.res.poll.d = append(s.res.poll.d, at.Sub(t0))
		s.mu.Unlock()
		for _, id := range found {
			s.seenCH(id, at)
		}
	}
}

// scrapeLag reads etlq_replication_lag_seconds from /metrics, and the
// table's active parts, every 200 ms.
func scrapeLag(addr string, ch driver.Conn, db string, res *freshness, stop chan struct{}) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	var lag gauge
	defer func() { res.lag = lag }()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if v := metricValue(string(page), `etlq_replication_lag_seconds{source="s"}`); v >= 0 {
				lag = append(lag, v)
			}
		}
		var parts uint64
		if err := ch.QueryRow(context.Background(), "SELECT count() FROM system.parts WHERE database = '"+db+"' AND table = 'f' AND active").Scan(&parts); err == nil {
			res.maxParts = max(res.maxParts, parts)
		}
	}
}
