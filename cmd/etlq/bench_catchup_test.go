package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gm "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/etlq/etlq/connectors/testenv"
)

// BenchmarkCatchUpVsNaiveLoader replays a binlog window of 1,000,000 row
// changes (500k inserts, 350k updates, 150k deletes in 5,000-row
// transactions) into ClickHouse twice, from the same start position:
// (a) etlq apply --once with SNAPSHOT never and start_at at the window's
// start, default options, upsert mode; (b) scripts/naiveloader, the
// hand-written go-mysql canal → one batch.Append per row → Send every
// 10,000 rows loader, into a copy of etlq's target table. Each is a child
// process timed from start to exit; its peak RSS comes from getrusage.
// Both run benchRounds times, alternating which goes first; the rates are
// at the median wall time, the peak RSS is the largest.
//
// The server is shared with other tests, so the window may hold unrelated
// events: both loaders skip them. Both read up to the binlog position
// current when they start. The benchmark checks that both targets end in
// the source's state (live row count and sums over FINAL).
func BenchmarkCatchUpVsNaiveLoader(b *testing.B) {
	myDSN := testenv.MySQLDSN(b)
	chDSN := testenv.ClickHouseDSN(b)
	my := testenv.MySQLConn(b, myDSN)
	ch := testenv.ClickHouseConn(b, chDSN)
	naive := naiveLoaderBin(b)
	w := ensureCDCWindow(b, my)
	chDB := testenv.UniqueName(b)
	testenv.ClickHouseExec(b, ch, "CREATE DATABASE "+chDB)
	b.Cleanup(func() { ch.Exec(context.Background(), "DROP DATABASE IF EXISTS "+chDB) })

	// What the source holds after the window, to compare both targets with.
	want := testenv.Query(b, my, fmt.Sprintf(
		"SELECT COUNT(*), SUM(qty), CAST(SUM(amount) AS CHAR), SUM(IF(email IS NULL, id, 0)) FROM %s.%s", benchDB, w.Table))
	final := func(table string) [][]string {
		return testenv.ClickHouseQuery(b, ch, fmt.Sprintf(
			"SELECT toString(count()), toString(sum(qty)), toString(sum(amount)), toString(sum(if(isNull(email), id, 0))) FROM %s.%s FINAL WHERE _is_deleted = 0",
			chDB, table))
	}

	dir := b.TempDir()
	file := filepath.Join(dir, "catchup.etl")
	serverID := 1_000_000 + rand.IntN(1<<30)
	src := fmt.Sprintf(`-- BenchmarkCatchUpVsNaiveLoader
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

	check := func(table string) {
		if got := final(table); fmt.Sprint(got) != fmt.Sprint(want) {
			b.Fatalf("%s.%s FINAL (count, sum(qty), sum(amount), sum of ids with NULL email) = %v, the source has %v", chDB, table, got, want)
		}
	}
	// The naive loader writes into a table made like etlq's (same columns,
	// ReplacingMergeTree(_version), _is_deleted): cdc_template keeps the
	// layout of etlq's first run.
	haveTemplate := false
	var busyCores []float64 // cores busy machine-wide while etlq ran
	runEtlq := func() measured {
		testenv.ClickHouseExec(b, ch,
			"DROP TABLE IF EXISTS "+chDB+".cdc_etlq",
			"DROP TABLE IF EXISTS "+chDB+".cdc_etlq_current")
		state, err := os.MkdirTemp(dir, "state") // a fresh state: no checkpoint
		if err != nil {
			b.Fatal(err)
		}
		args := append([]string{"apply", "--once", "--progress", "never", "--state-dir", state}, cpuProfileArgs(b, "catchup")...)
		b.StartTimer()
		busy0, t0 := machineBusy(), time.Now()
		r := runMeasured(b, nil, etlqBin, append(args, file)...)
		busyCores = append(busyCores, (machineBusy()-busy0).Seconds()/time.Since(t0).Seconds())
		b.StopTimer()
		if n, ok := etlqLogInt(r.Output, "rows_in"); !ok || n != int64(w.Changes) {
			b.Fatalf("etlq read %d changes, want %d\n%s", n, w.Changes, tail(r.Output, 2000))
		}
		check("cdc_etlq")
		if !haveTemplate {
			testenv.ClickHouseExec(b, ch, fmt.Sprintf("CREATE TABLE %s.cdc_template AS %s.cdc_etlq", chDB, chDB))
			haveTemplate = true
		}
		return r
	}
	runNaive := func() measured {
		testenv.ClickHouseExec(b, ch,
			"DROP TABLE IF EXISTS "+chDB+".cdc_naive",
			fmt.Sprintf("CREATE TABLE %s.cdc_naive AS %s.cdc_template", chDB, chDB))
		end := masterStatus(b, my)
		b.StartTimer()
		r := runMeasured(b, nil, naive,
			"--mysql", myDSN, "--clickhouse", chDSN,
			"--table", benchDB+"."+w.Table, "--target", chDB+".cdc_naive",
			"--start", w.Start.String(), "--end", end.String(),
			"--server-id", fmt.Sprint(serverID+1))
		b.StopTimer()
		var rows int
		var secs float64
		if _, err := fmt.Sscanf(strings.TrimSpace(lastLine(r.Output)), "rows %d seconds %g", &rows, &secs); err != nil || rows != w.Changes {
			b.Fatalf("naive loader wrote %d rows, want %d (%v)\n%s", rows, w.Changes, err, tail(r.Output, 2000))
		}
		check("cdc_naive")
		return r
	}

	var etlq, nv side
	var windowBytes int64
	var readOnly []time.Duration // the stream alone, once per round
	rounds := benchRounds(b)
	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		for round := 0; round < rounds; round++ {
			windowBytes = max(windowBytes, binlogBytes(b, my, w.Start, masterStatus(b, my)))
			var re, rn measured
			if round%2 == 0 || !haveTemplate {
				re, rn = runEtlq(), runNaive()
			} else {
				rn, re = runNaive(), runEtlq()
			}
			etlq.add(re)
			nv.add(rn)
			readOnly = append(readOnly, readBinlogOnly(b, myDSN, uint32(serverID+2), w.Start, masterStatus(b, my)))
			b.Logf("round %d: etlq %s (CPU %s, peak RSS %d MiB), naive loader %s (CPU %s, peak RSS %d MiB), reading the binlog alone %s; %.2f cores busy machine-wide while etlq ran", round+1,
				re.Wall.Round(time.Millisecond), re.CPU.Round(time.Millisecond), re.MaxRSSKiB>>10,
				rn.Wall.Round(time.Millisecond), rn.CPU.Round(time.Millisecond), rn.MaxRSSKiB>>10,
				readOnly[len(readOnly)-1].Round(time.Millisecond), busyCores[len(busyCores)-1])
		}
	}
	b.ReportMetric(etlq.rate(w.Changes), "etlq_rows/s")
	b.ReportMetric(nv.rate(w.Changes), "naive_rows/s")
	b.ReportMetric(etlq.rate(w.Changes)/nv.rate(w.Changes), "speedup_x")
	b.ReportMetric(etlq.peakMiB(), "etlq_peak_MiB")
	b.ReportMetric(nv.peakMiB(), "naive_peak_MiB")
	b.ReportMetric(etlq.cpuSeconds(), "etlq_cpu_s")
	b.ReportMetric(etlq.cpuSeconds()/(float64(w.Changes)/1e6), "etlq_cpu_s_per_M") // issue #17: goal ≤ 1.0
	b.ReportMetric(nv.cpuSeconds(), "naive_cpu_s")
	b.ReportMetric(float64(windowBytes)/(1<<20), "binlog_MiB")
	slices.Sort(busyCores)
	b.ReportMetric(busyCores[len(busyCores)/2], "busy_cores_during_etlq")
	slices.Sort(readOnly)
	ro := readOnly[len(readOnly)/2]
	b.ReportMetric(float64(w.Changes)/ro.Seconds(), "read_only_rows/s")
	b.ReportMetric(etlq.rate(w.Changes)/(float64(w.Changes)/ro.Seconds()), "etlq_of_read_only")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// machineBusy returns the CPU time the whole machine has spent outside
// idle and iowait since boot (/proc/stat): etlq, the servers and all else.
// Zero where /proc/stat cannot be read.
func machineBusy() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy int64
	for i := 1; i < len(f) && i <= 8; i++ {
		if i == 4 || i == 5 {
			continue
		}
		v, _ := strconv.ParseInt(f[i], 10, 64)
		busy += v
	}
	return time.Duration(busy) * time.Second / 100 // USER_HZ
}

// readBinlogOnly times a replication client that only receives the events
// of [from, to): go-mysql parses each event's header but no row image is
// decoded and nothing is written. It is how fast the server streams the
// window here, which bounds any loader's catch-up rate from above, whatever
// its decoding costs.
func readBinlogOnly(b *testing.B, dsn string, serverID uint32, from, to binlogPos) time.Duration {
	b.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		b.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	pw, _ := u.User.Password()
	sy := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{ServerID: serverID, Flavor: "mariadb",
		Host: u.Hostname(), Port: uint16(port), User: u.User.Username(), Password: pw,
		Logger: slog.New(slog.DiscardHandler),
		RowsEventDecodeFunc: func(e *replication.RowsEvent, data []byte) error {
			_, err := e.DecodeHeader(data)
			return err
		}})
	defer sy.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t0 := time.Now()
	bs, err := sy.StartSync(gm.Position{Name: from.File, Pos: uint32(from.Pos)})
	if err != nil {
		b.Fatal(err)
	}
	file := from.File
	for {
		ev, err := bs.GetEvent(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if r, ok := ev.Event.(*replication.RotateEvent); ok {
			file = string(r.NextLogName)
			continue
		}
		if file > to.File || file == to.File && int64(ev.Header.LogPos) >= to.Pos {
			return time.Since(t0)
		}
	}
}
