package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// BenchmarkVerify1M: `etlq verify` of a 1,000,000-row table (benchDB.snap_1m,
// loaded into an upsert target by `etlq apply --once` first, untimed).
// Goal (issue #14): under 10 s on the 2-core machine. verify_s is the wall
// time of one verify; etlq_cpu_s the CPU time (user+sys) of the etlq
// process (the in-server path spends its CPU in MariaDB and ClickHouse);
// verify_rows/s the source rows it compared per second. Sub-benchmarks:
// in-server (checksums computed by the servers) and streaming (--stream).
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
	// TRANSFORM * passes every column through: both paths apply.
	for _, path := range []string{"in-server", "streaming"} {
		b.Run(path, func(b *testing.B) {
			args := []string{"verify", "--progress", "never", "--state-dir", state, file}
			if path == "streaming" {
				args = append(args, "--stream")
			}
			var total, cpu time.Duration
			for range b.N {
				t0 := time.Now()
				cmd := exec.Command(etlqBin, args...)
				out, err := cmd.CombinedOutput()
				d := time.Since(t0)
				if err != nil {
					b.Fatalf("etlq verify: %v\n%s", err, out)
				}
				if path == "in-server" && strings.Contains(string(out), "streamed through etlq") {
					b.Fatalf("the in-server path fell back:\n%s", out)
				}
				total += d
				cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
				b.Logf("verify (%s) in %s, etlq CPU %s:\n%s", path, d.Round(time.Millisecond),
					(cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Round(time.Millisecond), out)
			}
			sec := total.Seconds() / float64(b.N)
			b.ReportMetric(sec, "verify_s")
			b.ReportMetric(cpu.Seconds()/float64(b.N), "etlq_cpu_s")
			b.ReportMetric(float64(benchRows)/sec, "verify_rows/s")
		})
	}
}

// benchEtlq runs the etlq binary and returns its combined output.
func benchEtlq(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, etlqBin, args...).CombinedOutput()
	return string(out), err
}
