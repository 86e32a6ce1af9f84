package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
		r := runMeasured(b, nil, etlqBin, append(args, file)...)
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
			b.Logf("round %d: etlq %s (CPU %s, peak RSS %d MiB), naive loader %s (CPU %s, peak RSS %d MiB)", round+1,
				re.Wall.Round(time.Millisecond), re.CPU.Round(time.Millisecond), re.MaxRSSKiB>>10,
				rn.Wall.Round(time.Millisecond), rn.CPU.Round(time.Millisecond), rn.MaxRSSKiB>>10)
		}
	}
	b.ReportMetric(etlq.rate(w.Changes), "etlq_rows/s")
	b.ReportMetric(nv.rate(w.Changes), "naive_rows/s")
	b.ReportMetric(etlq.rate(w.Changes)/nv.rate(w.Changes), "speedup_x")
	b.ReportMetric(etlq.peakMiB(), "etlq_peak_MiB")
	b.ReportMetric(nv.peakMiB(), "naive_peak_MiB")
	b.ReportMetric(etlq.cpuSeconds(), "etlq_cpu_s")
	b.ReportMetric(nv.cpuSeconds(), "naive_cpu_s")
	b.ReportMetric(float64(windowBytes)/(1<<20), "binlog_MiB")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}
