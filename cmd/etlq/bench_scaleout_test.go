package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/natslog"
	"github.com/etlq/etlq/connectors/testenv"
)

// BenchmarkLogWorkers: throughput of `apply --log` with 1, 2 and 4
// workers against an HTTP sink that takes a fixed 20 ms per request (an
// endpoint the benchmark starts). The capture publishes a table's snapshot
// (6,000 rows in batches of 160, 8 partitions: about 20 rows a message,
// one request each) once; each worker count then reads the whole
// log as its own group, timed from start until the
// endpoint has every row. The sink, not the CPU, is the bottleneck: the
// 2-core machine cannot show CPU scaling.
func BenchmarkLogWorkers(b *testing.B) {
	myDSN := testenv.MySQLDSN(b)
	logURL := testenv.NATSURL(b) + "/" + testenv.UniqueName(b)
	my := testenv.MySQLConn(b, myDSN)
	db := testenv.UniqueName(b)
	b.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
	const rows = 6000
	for _, q := range []string{"CREATE DATABASE " + db, "CREATE TABLE " + db + ".t (id INT PRIMARY KEY, v VARCHAR(32) NOT NULL)"} {
		if _, err := my.Execute(q); err != nil {
			b.Fatal(err)
		}
	}
	for start := 1; start <= rows; start += 1000 {
		var q bytes.Buffer
		fmt.Fprintf(&q, "INSERT INTO %s.t VALUES ", db)
		for i := start; i < start+1000; i++ {
			if i > start {
				q.WriteByte(',')
			}
			fmt.Fprintf(&q, "(%d, 'value %d')", i, i)
		}
		if _, err := my.Execute(q.String()); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() { deleteLog(b, logURL, "s") })

	var got, requests atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		time.Sleep(20 * time.Millisecond)
		requests.Add(1)
		got.Add(int64(bytes.Count(body, []byte("\n"))))
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })

	dir := b.TempDir()
	file := filepath.Join(dir, "bench.etl")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE PIPELINE p FROM binlog s.%s.t
  INTO http 'http://%s/rows' FORMAT jsonl
  WITH (batch_rows = 160, body = 'ndjson');
`, myDSN, testServerID(), db, ln.Addr())), 0o644); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command(etlqBin, "capture", "--once", "--log", logURL, "--partitions", "8", file).CombinedOutput(); err != nil {
		b.Fatalf("capture: %v\n%s", err, out)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, n := range benchWorkers() {
			got.Store(0)
			requests.Store(0)
			start := time.Now()
			cmd := exec.Command(etlqBin, "apply", "--log", logURL, "--workers", fmt.Sprint(n), "--lease", "1s",
				"--group", fmt.Sprintf("bench%d_%d", n, i), "--state-dir", filepath.Join(dir, fmt.Sprintf("w%d_%d", n, i)),
				"--progress", "never", file)
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			for got.Load() < rows {
				if time.Since(start) > 5*time.Minute {
					b.Fatalf("%d workers: %d of %d rows after 5 minutes", n, got.Load(), rows)
				}
				time.Sleep(5 * time.Millisecond)
			}
			secs := time.Since(start).Seconds()
			cmd.Process.Signal(syscall.SIGINT)
			cmd.Wait()
			b.ReportMetric(rows/secs, fmt.Sprintf("rows/s_%dw", n))
			b.ReportMetric(float64(rows)/float64(requests.Load()), fmt.Sprintf("rows/request_%dw", n))
		}
	}
}

// BenchmarkCatchUpLog: the log's overhead on the catch-up benchmark's
// window (BenchmarkCatchUpVsNaiveLoader: 1,000,000 row changes into
// ClickHouse, upsert): the single process (`apply --once`) against
// `capture --once` into the log followed by one `apply --log` worker,
// timed until the worker's sink acknowledged every change (its
// etlq_rows_out_total); both targets are then checked against the source. Reported: wall seconds and
// CPU seconds (user + system, the figure to trust on a loaded machine) of
// each, and their ratios; and what the stream stores per change (its
// State.Bytes over the window's changes) and its messages.
func BenchmarkCatchUpLog(b *testing.B) {
	myDSN := testenv.MySQLDSN(b)
	chDSN := testenv.ClickHouseDSN(b)
	my := testenv.MySQLConn(b, myDSN)
	ch := testenv.ClickHouseConn(b, chDSN)
	logURL := testenv.NATSURL(b) + "/" + testenv.UniqueName(b)
	w := ensureCDCWindow(b, my)
	chDB := testenv.UniqueName(b)
	testenv.ClickHouseExec(b, ch, "CREATE DATABASE "+chDB)
	b.Cleanup(func() { ch.Exec(b.Context(), "DROP DATABASE IF EXISTS "+chDB) })

	dir := b.TempDir()
	file := filepath.Join(dir, "catchup.etl")
	src := fmt.Sprintf(`-- BenchmarkCatchUpLog
CREATE SOURCE bench FROM mysql '%s' WITH (server_id = %d, start_at = '%s');
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE catchup
  FROM binlog bench.%s.%s SNAPSHOT never
  TRANSFORM *
  INTO clickhouse dw.%s.cdc;
`, myDSN, testServerID(), w.Start, chDSN, benchDB, w.Table, chDB)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	reset := func() {
		testenv.ClickHouseExec(b, ch, "DROP TABLE IF EXISTS "+chDB+".cdc", "DROP TABLE IF EXISTS "+chDB+".cdc_current")
	}
	// What the source holds after the window, to compare the target with.
	want := testenv.Query(b, my, fmt.Sprintf(
		"SELECT COUNT(*), SUM(qty), CAST(SUM(amount) AS CHAR), SUM(IF(email IS NULL, id, 0)) FROM %s.%s", benchDB, w.Table))
	check := func(what string) {
		got := testenv.ClickHouseQuery(b, ch, fmt.Sprintf(
			"SELECT toString(count()), toString(sum(qty)), toString(sum(amount)), toString(sum(if(isNull(email), id, 0))) FROM %s.cdc FINAL WHERE _is_deleted = 0", chDB))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			b.Fatalf("%s: the target (count, sum(qty), sum(amount), sum of ids with NULL email) = %v, the source has %v", what, got, want)
		}
	}
	// rowsOut reads a worker's etlq_rows_out_total and
	// etlq_tombstones_total (its deletes) from its metrics.
	rowsOut := func(addr string) int64 {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var sum int64
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, "etlq_rows_out_total{") || strings.HasPrefix(line, "etlq_tombstones_total{") {
				var n float64
				fmt.Sscan(line[strings.LastIndex(line, " ")+1:], &n)
				sum += int64(n)
			}
		}
		return sum
	}
	var plainWall, plainCPU, logWall, logCPU, capCPU []time.Duration
	var logBytes, logMsgs []float64 // the stream's bytes per change, its messages
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		reset()
		state, _ := os.MkdirTemp(dir, "state")
		r := runMeasured(b, nil, etlqBin, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		n, ok := etlqLogInt(r.Output, "rows_out")
		tomb, _ := etlqLogInt(r.Output, "tombstones") // (the deletes: absent before tombstones were counted apart)
		if n += tomb; !ok || n != int64(w.Changes) {
			b.Fatalf("apply --once wrote %d changes, want %d\n%s", n, w.Changes, tail(r.Output, 2000))
		}
		check("apply --once")
		plainWall = append(plainWall, r.Wall)
		plainCPU = append(plainCPU, r.CPU)

		reset()
		deleteLog(b, logURL, "bench")
		c := runMeasured(b, nil, etlqBin, "capture", "--once", "--log", logURL, file)
		if lg, err := natslog.Open(logURL); err == nil {
			if st, err := lg.Status("bench", ""); err == nil {
				logBytes = append(logBytes, float64(st.Bytes)/float64(w.Changes))
				logMsgs = append(logMsgs, float64(st.Messages))
			}
			lg.Close()
		}
		start := time.Now()
		state, _ = os.MkdirTemp(dir, "state")
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.Command(etlqBin, "apply", "--log", logURL, "--progress", "never", "--state-dir", state, "--metrics-addr", addr, file)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		for rowsOut(addr) < int64(w.Changes) {
			if time.Since(start) > 10*time.Minute {
				cmd.Process.Kill()
				b.Fatalf("apply --log: %d rows written after 10 minutes, want %d\n%s", rowsOut(addr), w.Changes, tail(out.String(), 2000))
			}
			time.Sleep(50 * time.Millisecond)
		}
		wall := time.Since(start)
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
				b.Logf("worker: %s", line)
			}
		}
		ps := cmd.ProcessState
		logWall = append(logWall, c.Wall+wall)
		logCPU = append(logCPU, c.CPU+ps.UserTime()+ps.SystemTime())
		capCPU = append(capCPU, c.CPU)
		check("capture + apply --log")
	}
	b.StopTimer()
	deleteLog(b, logURL, "bench")
	med := func(v []time.Duration) float64 { return median(v).Seconds() }
	b.ReportMetric(med(plainWall), "plain_wall_s")
	b.ReportMetric(med(plainCPU), "plain_cpu_s")
	b.ReportMetric(med(logWall), "log_wall_s")
	b.ReportMetric(med(logCPU), "log_cpu_s")
	b.ReportMetric(med(capCPU), "capture_cpu_s")
	b.ReportMetric(med(logCPU)/med(plainCPU), "log/plain_cpu")
	b.ReportMetric(med(logWall)/med(plainWall), "log/plain_wall")
	if len(logBytes) > 0 {
		b.ReportMetric(logBytes[len(logBytes)-1], "log_B/change")
		b.ReportMetric(logMsgs[len(logMsgs)-1], "log_msgs")
	}
}

// benchWorkers are the worker counts BenchmarkLogWorkers measures
// (ETLQ_BENCH_WORKERS=1,2 to pick).
func benchWorkers() []int {
	v := os.Getenv("ETLQ_BENCH_WORKERS")
	if v == "" {
		return []int{1, 2, 4}
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		var n int
		fmt.Sscan(f, &n)
		out = append(out, max(n, 1))
	}
	return out
}
