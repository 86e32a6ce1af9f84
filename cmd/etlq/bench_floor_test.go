package main

// The floors (issue #17): etlq measured against what the servers alone can
// do with the same data, in the same run. A floor is the time MariaDB or
// ClickHouse needs to do its share of the job with nothing in between: the
// ClickHouse insert of exactly the rows etlq wrote (clickhouse-client, from
// a Native file), and the MariaDB read of what etlq reads (the binlog
// window, or the table over as many connections as etlq's snapshot uses).
// The ratio etlq wall / max(floors) says how close etlq comes to the
// slower server; 1.0 would be the limit of the machine, for a pipeline
// that overlapped both servers' work perfectly.

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/etlq/etlq/connectors/testenv"
)

// BenchmarkCatchUpFloor replays the catch-up benchmark's binlog window
// (1,000,000 row changes, see BenchmarkCatchUpVsNaiveLoader) with etlq
// apply --once, default options, and in the same rounds measures the two
// floors:
//
//   - the sink floor: clickhouse-client inserting, from a Native file, the
//     very rows etlq inserted (captured once, before the rounds, by a
//     materialized view on etlq's target table) into a fresh table of the
//     same schema (ReplacingMergeTree(_version)); timed: the client process;
//   - the source floor: a replication client (go-mysql's BinlogSyncer)
//     receiving the same window and parsing every event's header, discarding
//     it: how fast the server streams the window.
//
// Reported: floor_ratio_x, the median over the rounds of etlq's wall time
// over the larger floor of the same round (goal ≤ 1.25); the medians of
// each; etlq's CPU seconds (user + sys of the child, getrusage) per million
// changes (goal ≤ 1.0).
func BenchmarkCatchUpFloor(b *testing.B) {
	myDSN := testenv.MySQLDSN(b)
	chDSN := testenv.ClickHouseDSN(b)
	my := testenv.MySQLConn(b, myDSN)
	ch := testenv.ClickHouseConn(b, chDSN)
	chClient := clickhouseClient(b, chDSN)
	w := ensureCDCWindowNamed(b, my, "cdc_1m_floor")
	chDB := testenv.UniqueName(b)
	testenv.ClickHouseExec(b, ch, "CREATE DATABASE "+chDB)
	b.Cleanup(func() { ch.Exec(context.Background(), "DROP DATABASE IF EXISTS "+chDB) })

	dir := b.TempDir()
	file := filepath.Join(dir, "catchup.etl")
	serverID := 1_000_000 + rand.IntN(1<<30)
	src := fmt.Sprintf(`-- BenchmarkCatchUpFloor
CREATE SOURCE bench FROM mysql '%s' WITH (server_id = %d, start_at = '%s');
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE catchup
  FROM binlog bench.%s.%s SNAPSHOT never
  TRANSFORM *
  INTO clickhouse dw.%s.cdc_etlq;
`, myDSN, serverID, w.Start, chDSN, benchDB, w.Table, chDB)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	runEtlq := func(profile bool) measured {
		state, err := os.MkdirTemp(dir, "state") // a fresh state: no checkpoint
		if err != nil {
			b.Fatal(err)
		}
		args := []string{"apply", "--once", "--progress", "never", "--state-dir", state}
		if profile {
			args = append(args, cpuProfileArgs(b, "catchup_floor")...)
		}
		r := runMeasured(b, nil, etlqBin, append(args, file)...)
		if n, ok := etlqLogInt(r.Output, "rows_in"); !ok || n != int64(w.Changes) {
			b.Fatalf("etlq read %d changes, want %d\n%s", n, w.Changes, tail(r.Output, 2000))
		}
		return r
	}
	dropEtlq := func() {
		testenv.ClickHouseExec(b, ch,
			"DROP TABLE IF EXISTS "+chDB+".cdc_etlq",
			"DROP TABLE IF EXISTS "+chDB+".cdc_etlq_current")
	}

	// What etlq inserts: a first (untimed) run makes the table; the second
	// writes into a fresh copy of it that a materialized view mirrors, block
	// for block, into a plain MergeTree (no row is merged away there).
	runEtlq(false)
	testenv.ClickHouseExec(b, ch,
		fmt.Sprintf("CREATE TABLE %s.cdc_template AS %s.cdc_etlq", chDB, chDB),
		fmt.Sprintf("CREATE TABLE %s.cdc_capture AS %s.cdc_etlq ENGINE = MergeTree() ORDER BY tuple()", chDB, chDB),
		"DROP TABLE "+chDB+".cdc_etlq",
		fmt.Sprintf("CREATE TABLE %s.cdc_etlq AS %s.cdc_template", chDB, chDB),
		fmt.Sprintf("CREATE MATERIALIZED VIEW %s.cdc_capture_mv TO %s.cdc_capture AS SELECT * FROM %s.cdc_etlq", chDB, chDB, chDB))
	runEtlq(false)
	testenv.ClickHouseExec(b, ch, "DROP TABLE "+chDB+".cdc_capture_mv")
	if got := testenv.ClickHouseQuery(b, ch, "SELECT toString(count()) FROM "+chDB+".cdc_capture"); got[0][0] != strconv.Itoa(w.Changes) {
		b.Fatalf("etlq inserted %s rows, want %d", got[0][0], w.Changes)
	}
	native := filepath.Join(dir, "cdc.native")
	clickhouseDump(b, chClient, "SELECT * FROM "+chDB+".cdc_capture", native)
	nativeSize := fileSize(b, native)

	var etlq side
	var sinkFloor, sourceFloor, ratios []time.Duration
	var clientCPU []time.Duration // clickhouse-client's own, in the sink floor
	var parts []time.Duration     // the parts etlq's inserts made, a round's each
	srv := newServers(b, chDSN, myDSN)
	rounds := benchRounds(b)
	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		for round := 0; round < rounds; round++ {
			var re measured
			var sink, source time.Duration
			etlqRun := func() {
				dropEtlq()
				b.StartTimer()
				re = runEtlq(round == 0)
				b.StopTimer()
				parts = append(parts, insertParts(b, ch, chDB, "cdc_etlq"))
			}
			sinkRun := func() {
				testenv.ClickHouseExec(b, ch,
					"DROP TABLE IF EXISTS "+chDB+".cdc_floor",
					fmt.Sprintf("CREATE TABLE %s.cdc_floor AS %s.cdc_template", chDB, chDB))
				b.StartTimer()
				var cpu time.Duration
				sink, cpu = clickhouseInsertFile(b, chClient, chDB+".cdc_floor", native)
				clientCPU = append(clientCPU, cpu)
				b.StopTimer()
				if got := testenv.ClickHouseQuery(b, ch, "SELECT toString(count()) FROM "+chDB+".cdc_floor"); got[0][0] == "0" {
					b.Fatal("the sink floor inserted no rows")
				}
			}
			sourceRun := func() {
				b.StartTimer()
				source = readBinlogOnly(b, myDSN, uint32(serverID+2), w.Start, masterStatus(b, my))
				b.StopTimer()
			}
			// Alternate who goes first: the servers' caches and merges
			// favour whoever comes second.
			runs := []func(){
				func() { srv.measure("etlq", etlqRun) },
				func() { srv.measure("sink", sinkRun) },
				func() { srv.measure("source", sourceRun) },
			}
			if round%2 == 1 {
				slices.Reverse(runs)
			}
			for _, f := range runs {
				f()
			}
			etlq.add(re)
			sinkFloor = append(sinkFloor, sink)
			sourceFloor = append(sourceFloor, source)
			floor := max(sink, source)
			ratios = append(ratios, time.Duration(float64(re.Wall)/float64(floor)*1e6))
			ech, emy := srv.last("etlq")
			sch, _ := srv.last("sink")
			_, smy := srv.last("source")
			b.Logf("servers' CPU: ClickHouse %s during etlq, %s during the sink floor; MariaDB %s during etlq, %s during the source floor",
				ech, sch, emy, smy)
			b.Logf("round %d: etlq %s (CPU %s, peak RSS %d MiB, %d parts inserted); sink floor (clickhouse-client, %d MiB Native) %s; source floor (binlog stream) %s; etlq / max(floors) %.2f×",
				round+1, re.Wall.Round(time.Millisecond), re.CPU.Round(time.Millisecond), re.MaxRSSKiB>>10, parts[len(parts)-1],
				nativeSize>>20, sink.Round(time.Millisecond), source.Round(time.Millisecond), float64(re.Wall)/float64(floor))
		}
	}
	reportFloors(b, "etlq", etlq, sinkFloor, sourceFloor, ratios)
	srv.report(b)
	b.ReportMetric(median(clientCPU).Seconds(), "sink_floor_client_cpu_s")
	b.ReportMetric(float64(median(parts)), "etlq_parts")
	b.ReportMetric(etlq.cpuSeconds()/(float64(w.Changes)/1e6), "etlq_cpu_s_per_M")
}

// BenchmarkSnapshotFloor copies the snapshot benchmark's 1,000,000-row
// table (see BenchmarkSnapshotVsClickHouseMySQLFunction) with etlq apply
// --once, SNAPSHOT only, default options, and in the same rounds measures
// the two floors:
//
//   - the source floor: MariaDB's full scan over as many connections as
//     etlq's snapshot readers (snapshotFloorConns), each reading chunks of
//     snapshotFloorChunk ids (SELECT * … WHERE id BETWEEN ? AND ?, a
//     prepared statement: the binary protocol, as etlq) and discarding the
//     rows;
//   - the sink floor: clickhouse-client inserting, from a Native file, the
//     rows etlq wrote (its append target dumped after the first run) into a
//     fresh table of the same schema.
//
// Reported as BenchmarkCatchUpFloor does.
func BenchmarkSnapshotFloor(b *testing.B) {
	myDSN := testenv.MySQLDSN(b)
	chDSN := testenv.ClickHouseDSN(b)
	my := testenv.MySQLConn(b, myDSN)
	ch := testenv.ClickHouseConn(b, chDSN)
	chClient := clickhouseClient(b, chDSN)
	table := ensureSnapshotTable(b, my)
	chDB := testenv.UniqueName(b)
	testenv.ClickHouseExec(b, ch, "CREATE DATABASE "+chDB)
	b.Cleanup(func() { ch.Exec(context.Background(), "DROP DATABASE IF EXISTS "+chDB) })

	dir := b.TempDir()
	file := filepath.Join(dir, "snapshot.etl")
	src := fmt.Sprintf(`-- BenchmarkSnapshotFloor
CREATE SOURCE bench FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE snap
  FROM binlog bench.%s.%s SNAPSHOT only
  TRANSFORM *
  INTO clickhouse dw.%s.snap_etlq MODE append;
`, myDSN, chDSN, benchDB, table, chDB)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	runEtlq := func(profile bool) measured {
		testenv.ClickHouseExec(b, ch, "DROP TABLE IF EXISTS "+chDB+".snap_etlq")
		state, err := os.MkdirTemp(dir, "state")
		if err != nil {
			b.Fatal(err)
		}
		args := []string{"apply", "--once", "--progress", "never", "--state-dir", state}
		if profile {
			args = append(args, cpuProfileArgs(b, "snapshot_floor")...)
		}
		b.StartTimer()
		r := runMeasured(b, nil, etlqBin, append(args, file)...)
		b.StopTimer()
		if n, ok := etlqLogInt(r.Output, "rows_out"); !ok || n != benchRows {
			b.Fatalf("etlq wrote %d rows, want %d\n%s", n, benchRows, tail(r.Output, 2000))
		}
		return r
	}
	// The Native file: what etlq's append target holds after a run (an
	// append table keeps every row as inserted).
	runEtlq(false)
	testenv.ClickHouseExec(b, ch, fmt.Sprintf("CREATE TABLE %s.snap_template AS %s.snap_etlq", chDB, chDB))
	native := filepath.Join(dir, "snap.native")
	clickhouseDump(b, chClient, "SELECT * FROM "+chDB+".snap_etlq", native)
	nativeSize := fileSize(b, native)
	scanCfg, err := testenv.ParseMySQLDSN(myDSN)
	if err != nil {
		b.Fatal(err)
	}
	query := fmt.Sprintf("SELECT * FROM %s.%s WHERE id BETWEEN ? AND ?", benchDB, table)

	var etlq side
	var sinkFloor, sourceFloor, ratios []time.Duration
	var clientCPU []time.Duration // clickhouse-client's own, in the sink floor
	var parts []time.Duration     // the parts etlq's inserts made, a round's each
	srv := newServers(b, chDSN, myDSN)
	rounds := benchRounds(b)
	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		for round := 0; round < rounds; round++ {
			var re measured
			var sink, source time.Duration
			etlqRun := func() {
				re = runEtlq(round == 0)
				parts = append(parts, insertParts(b, ch, chDB, "snap_etlq"))
			}
			sinkRun := func() {
				testenv.ClickHouseExec(b, ch,
					"DROP TABLE IF EXISTS "+chDB+".snap_floor",
					fmt.Sprintf("CREATE TABLE %s.snap_floor AS %s.snap_template", chDB, chDB))
				b.StartTimer()
				var cpu time.Duration
				sink, cpu = clickhouseInsertFile(b, chClient, chDB+".snap_floor", native)
				clientCPU = append(clientCPU, cpu)
				b.StopTimer()
				if got := testenv.ClickHouseQuery(b, ch, "SELECT toString(count()) FROM "+chDB+".snap_floor"); got[0][0] != strconv.Itoa(benchRows) {
					b.Fatalf("the sink floor inserted %s rows, want %d", got[0][0], benchRows)
				}
			}
			sourceRun := func() {
				b.StartTimer()
				var n int
				source, n = scanParallel(b, scanCfg.Addr, scanCfg.User, scanCfg.Password, query, benchRows)
				b.StopTimer()
				if n != benchRows {
					b.Fatalf("the source floor read %d rows, want %d", n, benchRows)
				}
			}
			runs := []func(){
				func() { srv.measure("etlq", etlqRun) },
				func() { srv.measure("sink", sinkRun) },
				func() { srv.measure("source", sourceRun) },
			}
			if round%2 == 1 {
				slices.Reverse(runs)
			}
			for _, f := range runs {
				f()
			}
			etlq.add(re)
			sinkFloor = append(sinkFloor, sink)
			sourceFloor = append(sourceFloor, source)
			floor := max(sink, source)
			ratios = append(ratios, time.Duration(float64(re.Wall)/float64(floor)*1e6))
			ech, emy := srv.last("etlq")
			sch, _ := srv.last("sink")
			_, smy := srv.last("source")
			b.Logf("servers' CPU: ClickHouse %s during etlq, %s during the sink floor; MariaDB %s during etlq, %s during the source floor",
				ech, sch, emy, smy)
			b.Logf("round %d: etlq %s (CPU %s, peak RSS %d MiB, %d parts inserted); sink floor (clickhouse-client, %d MiB Native) %s; source floor (%d connections scanning) %s; etlq / max(floors) %.2f×",
				round+1, re.Wall.Round(time.Millisecond), re.CPU.Round(time.Millisecond), re.MaxRSSKiB>>10, parts[len(parts)-1],
				nativeSize>>20, sink.Round(time.Millisecond), snapshotFloorConns, source.Round(time.Millisecond), float64(re.Wall)/float64(floor))
		}
	}
	reportFloors(b, "etlq", etlq, sinkFloor, sourceFloor, ratios)
	srv.report(b)
	b.ReportMetric(median(clientCPU).Seconds(), "sink_floor_client_cpu_s")
	b.ReportMetric(float64(median(parts)), "etlq_parts")
	b.ReportMetric(etlq.cpuSeconds()/(float64(benchRows)/1e6), "etlq_cpu_s_per_M")
}

// snapshotFloorConns and snapshotFloorChunk are etlq's snapshot defaults
// (4 parallel chunk readers, chunks of 50,000 rows).
const (
	snapshotFloorConns = 4
	snapshotFloorChunk = 50_000
)

// reportFloors reports the medians of etlq's wall and CPU time, of both
// floors, and of the per-round ratio etlq / max(floors) (ratios holds
// them as Durations in millionths).
func reportFloors(b *testing.B, name string, s side, sink, source, ratios []time.Duration) {
	b.ReportMetric(median(s.walls).Seconds(), name+"_s")
	b.ReportMetric(s.cpuSeconds(), name+"_cpu_s")
	b.ReportMetric(s.peakMiB(), name+"_peak_MiB")
	b.ReportMetric(median(sink).Seconds(), "sink_floor_s")
	b.ReportMetric(median(source).Seconds(), "source_floor_s")
	b.ReportMetric(float64(median(ratios))/1e6, "floor_ratio_x")
	lo, hi := slices.Min(ratios), slices.Max(ratios)
	b.Logf("etlq / max(floors): median %.2f×, %.2f – %.2f× over %d rounds", float64(median(ratios))/1e6, float64(lo)/1e6, float64(hi)/1e6, len(ratios))
}

// insertParts counts the parts the inserts into db.table made: those of
// level 0, active or merged away (ClickHouse keeps the inactive ones for
// old_parts_lifetime, 8 minutes, after a merge). A Duration, for median.
func insertParts(b *testing.B, ch driver.Conn, db, table string) time.Duration {
	b.Helper()
	got := testenv.ClickHouseQuery(b, ch, fmt.Sprintf(
		"SELECT toString(count()) FROM system.parts WHERE database = '%s' AND table = '%s' AND level = 0", db, table))
	n, err := strconv.Atoi(got[0][0])
	if err != nil {
		b.Fatal(err)
	}
	return time.Duration(n)
}

// clickhouseClient returns the clickhouse-client command line (program and
// connection flags) for the DSN's first server, or skips (fails under
// CI=true) when the program is missing.
func clickhouseClient(b *testing.B, dsn string) []string {
	b.Helper()
	prog, err := exec.LookPath("clickhouse-client")
	if err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatalf("clickhouse-client: %v", err)
		}
		b.Skipf("clickhouse-client: %v", err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		b.Fatal(err)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "9000"
	}
	args := []string{prog, "--host", host, "--port", port}
	if u.User != nil {
		args = append(args, "--user", u.User.Username())
		if pw, ok := u.User.Password(); ok && pw != "" {
			args = append(args, "--password", pw)
		}
	}
	return args
}

// clickhouseDump writes the result of query, in the Native format, to file.
func clickhouseDump(b *testing.B, cli []string, query, file string) {
	b.Helper()
	out, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(cli[0], append(cli[1:], "--query", query+" FORMAT Native")...)
	var msg bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &msg
	if err := cmd.Run(); err != nil {
		b.Fatalf("clickhouse-client %s: %v\n%s", query, err, msg.String())
	}
}

// clickhouseInsertFile times clickhouse-client inserting a Native file
// into table: the whole client process, as a user runs it. It returns the
// wall time and the client's CPU time (user + sys).
func clickhouseInsertFile(b *testing.B, cli []string, table, file string) (time.Duration, time.Duration) {
	b.Helper()
	in, err := os.Open(file)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	cmd := exec.Command(cli[0], append(cli[1:], "--query", "INSERT INTO "+table+" FORMAT Native")...)
	cmd.Stdin = in
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("clickhouse-client INSERT INTO %s FORMAT Native < %s: %v\n%s", table, file, err, out)
	}
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

func fileSize(b *testing.B, file string) int64 {
	b.Helper()
	st, err := os.Stat(file)
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}

// scanParallel reads ids 1..rows of a table with query (two parameters:
// the first and last id of a chunk) over snapshotFloorConns connections,
// each taking the next chunk of snapshotFloorChunk ids, and discards the
// rows. It returns the wall time (connections made and the statement
// prepared beforehand) and the number of rows read.
func scanParallel(b *testing.B, addr, user, password, query string, rows int) (time.Duration, int) {
	b.Helper()
	var chunks []int
	for lo := 1; lo <= rows; lo += snapshotFloorChunk {
		chunks = append(chunks, lo)
	}
	wall, n, err := readParallel(addr, user, password, chunks, func(c *client.Conn) (func(int) (int, error), error) {
		st, err := c.Prepare(query)
		if err != nil {
			return nil, err
		}
		return func(lo int) (int, error) {
			n := 0
			var res gm.Result
			err := st.ExecuteSelectStreaming(&res, func([]gm.FieldValue) error { n++; return nil }, nil,
				lo, lo+snapshotFloorChunk-1)
			return n, err
		}, nil
	})
	if err != nil {
		b.Fatalf("scanning: %v", err)
	}
	return wall, n
}

// readParallel runs the source floors' reads: over snapshotFloorConns
// connections (as etlq's snapshot readers), each taking the next of jobs
// and reading it with the function its setup returned, the rows it counts
// discarded. It returns the wall time of the reads (the connections and
// their setup made beforehand), the rows counted and the first error.
func readParallel[J any](addr, user, password string, jobs []J, setup func(*client.Conn) (func(J) (int, error), error)) (time.Duration, int, error) {
	reads := make([]func(J) (int, error), snapshotFloorConns)
	for i := range reads {
		c, err := client.Connect(addr, user, password, "")
		if err != nil {
			return 0, 0, err
		}
		defer c.Close()
		if reads[i], err = setup(c); err != nil {
			return 0, 0, err
		}
	}
	next := make(chan J, len(jobs))
	for _, j := range jobs {
		next <- j
	}
	close(next)
	var mu sync.Mutex
	var total int
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for _, read := range reads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				n, err := read(j)
				mu.Lock()
				total += n
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), total, firstErr
}

// serverProc is a local server process whose CPU time a benchmark reads
// around each command (/proc/PID/stat); zero when it cannot be found (not
// on this host, or /proc unreadable). The servers are shared: other
// clients' work during the command counts too.
type serverProc struct{ pid int }

// listener finds the process listening on the DSN's port on this host.
func listener(b *testing.B, dsn string) serverProc {
	b.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		return serverProc{}
	}
	port, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil {
		return serverProc{}
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] != "0A" { // LISTEN
				continue
			}
			if _, p, ok := strings.Cut(fs[1], ":"); ok && p == fmt.Sprintf("%04X", port) {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		if l, err := os.Readlink(fd); err == nil && inodes[l] {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			return serverProc{pid}
		}
	}
	return serverProc{}
}

// cpu returns the process's user + system time so far.
func (p serverProc) cpu() time.Duration {
	if p.pid == 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (which may hold spaces).
	_, rest, _ := strings.Cut(string(data), ") ")
	f := strings.Fields(rest) // f[0] is field 3 (state): utime is field 14
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// servers are the two local servers of a floor benchmark, with the CPU
// time each spent while commands ran.
type servers struct {
	ch, my       serverProc
	chCPU, myCPU map[string][]time.Duration // by side: etlq, sink, source
}

func newServers(b *testing.B, chDSN, myDSN string) *servers {
	s := &servers{ch: listener(b, chDSN), my: listener(b, myDSN),
		chCPU: map[string][]time.Duration{}, myCPU: map[string][]time.Duration{}}
	if s.ch.pid == 0 || s.my.pid == 0 {
		b.Logf("server CPU not measured: ClickHouse pid %d, MariaDB pid %d (0: not found on this host)", s.ch.pid, s.my.pid)
	}
	return s
}

// measure runs f and records both servers' CPU time during it for side.
func (s *servers) measure(side string, f func()) {
	c0, m0 := s.ch.cpu(), s.my.cpu()
	f()
	s.chCPU[side] = append(s.chCPU[side], s.ch.cpu()-c0)
	s.myCPU[side] = append(s.myCPU[side], s.my.cpu()-m0)
}

func (s *servers) last(side string) (ch, my time.Duration) {
	return s.chCPU[side][len(s.chCPU[side])-1], s.myCPU[side][len(s.myCPU[side])-1]
}

// report reports the medians: ClickHouse's CPU during etlq and during the
// sink floor, MariaDB's during etlq and during the source floor.
func (s *servers) report(b *testing.B) {
	if s.ch.pid == 0 || s.my.pid == 0 {
		return
	}
	b.ReportMetric(median(s.chCPU["etlq"]).Seconds(), "clickhouse_cpu_s_etlq")
	b.ReportMetric(median(s.chCPU["sink"]).Seconds(), "clickhouse_cpu_s_sink_floor")
	b.ReportMetric(median(s.myCPU["etlq"]).Seconds(), "mariadb_cpu_s_etlq")
	b.ReportMetric(median(s.myCPU["source"]).Seconds(), "mariadb_cpu_s_source_floor")
}
