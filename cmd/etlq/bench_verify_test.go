package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// BenchmarkVerify1M: `etlq verify` of a 1,000,000-row table (benchDB.snap_1m,
// loaded into an upsert target by `etlq apply --once` first, untimed).
// Goal (issue #14): under 10 s on the 2-core machine. verify_s is the wall
// time of one verify; verify_rows/s the source rows it compared per second.
func BenchmarkVerify1M(b *testing.B) {
	myDSN := testenv.MySQLDSN(b)
	chDSN := testenv.ClickHouseDSN(b)
	my := testenv.MySQLConn(b, myDSN)
	ch := testenv.ClickHouseConn(b, chDSN)
	table := ensureSnapshotTable(b, my)
	chDB := testenv.UniqueName(b)
	testenv.ClickHouseExec(b, ch, "CREATE DATABASE "+chDB)
	b.Cleanup(func() { ch.Exec(context.Background(), "DROP DATABASE IF EXISTS "+chDB) })

	dir := b.TempDir()
	file, state := filepath.Join(dir, "verify.etl"), filepath.Join(dir, "state")
	src := fmt.Sprintf(`-- BenchmarkVerify1M
CREATE SOURCE bench FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE v
  FROM binlog bench.%s.%s SNAPSHOT only
  TRANSFORM *
  INTO clickhouse dw.%s.verify MODE upsert KEY (id);
`, myDSN, chDSN, benchDB, table, chDB)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if out, err := benchEtlq("apply", "--once", "--progress", "never", "--state-dir", state, file); err != nil {
		b.Fatalf("etlq apply: %v\n%s", err, out)
	}
	b.Logf("loaded %d rows in %s", benchRows, time.Since(start).Round(time.Millisecond))
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		out, err := benchEtlq("verify", "--progress", "never", "--state-dir", state, file)
		d := time.Since(t0)
		if err != nil {
			b.Fatalf("etlq verify: %v\n%s", err, out)
		}
		total += d
		b.Logf("verify in %s:\n%s", d.Round(time.Millisecond), out)
	}
	b.StopTimer()
	sec := total.Seconds() / float64(b.N)
	b.ReportMetric(sec, "verify_s")
	b.ReportMetric(float64(benchRows)/sec, "verify_rows/s")
}

// benchEtlq runs the etlq binary and returns its combined output.
func benchEtlq(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, etlqBin, args...).CombinedOutput()
	return string(out), err
}
