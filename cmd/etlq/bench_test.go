package main

// End-to-end benchmarks against the real servers (make bench). Each pits
// etlq, run as a separate process the way a user runs it, against a
// baseline measured in the same run on the same data, and reports both
// with b.ReportMetric. The figures and how to read them are in
// docs/benchmarks.md. ns/op is the sum of the measured commands of one
// iteration; the metrics are the figures to read.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// BenchmarkSnapshotVsClickHouseMySQLFunction copies a 1,000,000-row
// MariaDB table into ClickHouse twice: (a) etlq apply --once with SNAPSHOT
// only (default options: 4 parallel chunk readers), timed as the whole
// command; (b) ClickHouse's own INSERT INTO … SELECT * FROM mysql(…),
// timed as the query. Both targets are MergeTree tables ordered by id.
// Both run benchRounds times, alternating which goes first; the rates are
// at the median wall time.
//
// ClickHouse's mysql() is not an exact copy (on 18.16 it has no Nullable,
// so a NULL arrives as an empty string, DATETIME(6) loses its microseconds, and DECIMAL
// comes as text that the INSERT converts); etlq's copy is exact. The
// benchmark checks that both targets hold the same rows by count and sums.
func BenchmarkSnapshotVsClickHouseMySQLFunction(b *testing.B) {
	myDSN := testenv.MySQLDSN(b)
	chDSN := testenv.ClickHouseDSN(b)
	my := testenv.MySQLConn(b, myDSN)
	ch := testenv.ClickHouseConn(b, chDSN)
	myCfg, err := testenv.ParseMySQLDSN(myDSN)
	if err != nil {
		b.Fatal(err)
	}
	table := ensureSnapshotTable(b, my)
	chDB := testenv.UniqueName(b)
	testenv.ClickHouseExec(b, ch, "CREATE DATABASE "+chDB)
	b.Cleanup(func() { ch.Exec(context.Background(), "DROP DATABASE IF EXISTS "+chDB) })

	dir := b.TempDir()
	file := filepath.Join(dir, "snapshot.etl")
	src := fmt.Sprintf(`-- BenchmarkSnapshotVsClickHouseMySQLFunction
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
	// The table mysql() fills: the same columns, with the types ClickHouse
	// 18.16's mysql() gives (DECIMAL converted on insert).
	chFunc := fmt.Sprintf(`CREATE TABLE %s.snap_mysqlfn (
  id Int64, customer String, email Nullable(String), amount Decimal(12, 2),
  created_at DateTime, qty Int32, status String, score Float64
) ENGINE = MergeTree() ORDER BY id`, chDB)
	copyQuery := fmt.Sprintf("INSERT INTO %s.snap_mysqlfn SELECT * FROM mysql('%s', '%s', '%s', '%s', '%s')",
		chDB, myCfg.Addr, benchDB, table, myCfg.User, myCfg.Password)

	sums := "SELECT toString(count()), toString(sum(qty)), toString(sum(amount)), toString(sum(id * (email IS NULL OR email = ''))) FROM "
	runEtlq := func() measured {
		testenv.ClickHouseExec(b, ch, "DROP TABLE IF EXISTS "+chDB+".snap_etlq")
		state, err := os.MkdirTemp(dir, "state") // a fresh state: no checkpoint
		if err != nil {
			b.Fatal(err)
		}
		args := append([]string{"apply", "--once", "--progress", "never", "--state-dir", state}, cpuProfileArgs(b, "snapshot")...)
		b.StartTimer()
		r := runMeasured(b, nil, etlqBin, append(args, file)...)
		b.StopTimer()
		if n, ok := etlqLogInt(r.Output, "rows_out"); !ok || n != benchRows {
			b.Fatalf("etlq wrote %d rows, want %d\n%s", n, benchRows, tail(r.Output, 2000))
		}
		return r
	}
	runFunc := func() time.Duration {
		testenv.ClickHouseExec(b, ch, "DROP TABLE IF EXISTS "+chDB+".snap_mysqlfn", chFunc)
		b.StartTimer()
		start := time.Now()
		err := ch.Exec(context.Background(), copyQuery)
		wall := time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatalf("clickhouse mysql() copy: %v", err)
		}
		return wall
	}

	var etlq, fn side
	rounds := benchRounds(b)
	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		for round := 0; round < rounds; round++ {
			var r measured
			var fw time.Duration
			if round%2 == 0 {
				r, fw = runEtlq(), runFunc()
			} else {
				fw, r = runFunc(), runEtlq()
			}
			etlq.add(r)
			fn.add(measured{Wall: fw})
			b.Logf("round %d: etlq %s (CPU %s, peak RSS %d MiB), mysql() %s", round+1,
				r.Wall.Round(time.Millisecond), r.CPU.Round(time.Millisecond), r.MaxRSSKiB>>10, fw.Round(time.Millisecond))
			a := testenv.ClickHouseQuery(b, ch, sums+chDB+".snap_etlq")
			f := testenv.ClickHouseQuery(b, ch, sums+chDB+".snap_mysqlfn")
			if fmt.Sprint(a) != fmt.Sprint(f) {
				b.Fatalf("the two copies differ: etlq %v, mysql() %v", a, f)
			}
			if a[0][0] != fmt.Sprint(benchRows) {
				b.Fatalf("ClickHouse holds %s rows, want %d", a[0][0], benchRows)
			}
		}
	}
	b.ReportMetric(etlq.rate(benchRows), "etlq_rows/s")
	b.ReportMetric(fn.rate(benchRows), "mysqlfn_rows/s")
	b.ReportMetric(etlq.rate(benchRows)/fn.rate(benchRows), "speedup_x")
	b.ReportMetric(etlq.peakMiB(), "etlq_peak_MiB")
	b.ReportMetric(etlq.cpuSeconds(), "etlq_cpu_s")
}
