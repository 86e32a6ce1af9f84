package main

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestCaptureDownShown: the capture of a log is killed -9 while two
// workers run. etlq status --log says that no capture runs, since when
// and where the log ends, and shows every partition's lag growing; the
// workers' etlq_replication_lag_seconds grows too; a capture started again
// is shown running and the lag falls back. The stream is then deleted
// under the workers: the process says its error once, and the error says
// that the source's changes until a new capture are lost for the targets
// that keep changes. Before, status showed "2 live worker(s)" and every
// partition at lag 0 with the capture dead for 12 s, the workers' lag
// metric was 0 while the targets fell behind the source, and the final
// error was printed twice, once per worker (a scale-out trial).
func TestCaptureDownShown(t *testing.T) {
	t.Parallel()
	for _, srv := range []struct{ name, dsn string }{{"A", testenv.MySQLDSN(t)}, {"B", testenv.MySQLMinimalDSN(t)}} {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			s, logURL, dir, file := logFixture(t, srv.dsn, `CREATE PIPELINE p FROM binlog s.%[3]s.t
  TRANSFORM id, status, amount
  INTO clickhouse dw.%[3]s.t MODE upsert KEY (id) WITH (flush_interval = '100ms');
`)
			metrics := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
			capture := startEtlq(t, "capture", "--log", logURL, "--partitions", "2", file)
			workers := startEtlq(t, "apply", "--log", logURL, "--workers", "2", "--lease", "2s", "--state-dir", filepath.Join(dir, "w"),
				"--progress", "never", "--metrics-addr", metrics, file)
			myQ := "SELECT id, status, CAST(amount AS CHAR) FROM " + s.db + ".t ORDER BY id"
			chQ := "SELECT toString(id), status, toString(amount) FROM " + s.db + ".t_current ORDER BY id"
			workers.waitSame(t, s.my, s.ch, myQ, chQ, 90*time.Second)
			status := func() string {
				out, err := runEtlq(t, "status", "--log", logURL, file)
				if err != nil {
					t.Fatalf("status: %v\n%s", err, out)
				}
				return out
			}
			if st := status(); !strings.Contains(st, fmt.Sprintf("capture: running (pid %d on ", capture.cmd.Process.Pid)) {
				t.Errorf("status with the capture running: want it named:\n%s", st)
			}
			lag := func() float64 {
				resp, err := http.Get("http://" + metrics + "/metrics")
				if err != nil {
					return -1
				}
				defer resp.Body.Close()
				page, _ := io.ReadAll(resp.Body)
				return metricValue(string(page), `etlq_replication_lag_seconds{source="s"}`)
			}

			capture.kill9()
			myExec(t, s.my, "UPDATE "+s.db+".t SET amount = amount + 1 WHERE id <= 10")
			var st string
			workers.waitFor(t, "status says no capture runs", 60*time.Second, func() (bool, string) {
				st = status()
				return strings.Contains(st, "capture: NONE RUNNING since "), st
			})
			t.Logf("status with the capture killed:\n%s", st)
			for _, want := range []string{"killed, or cut off from the NATS server", "the log ends at ", "start etlq capture"} {
				if !strings.Contains(st, want) {
					t.Errorf("status with the capture killed: want %q:\n%s", want, st)
				}
			}
			if lags := partitionLags(t, st); len(lags) != 2 || lags[0] < 10 || lags[1] < 10 {
				t.Errorf("status with the capture killed: want every partition's lag at least the 10 s lease since its last heartbeat, got %v:\n%s", lags, st)
			}
			workers.waitFor(t, "the workers' lag grows with the capture down", 60*time.Second, func() (bool, string) {
				v := lag()
				return v >= 15, fmt.Sprint(v)
			})
			if out := workers.out.String(); !strings.Contains(out, "log: no etlq capture of the source runs") {
				t.Errorf("the workers did not say that no capture runs:\n%s", out)
			}

			capture = startEtlq(t, "capture", "--log", logURL, file)
			workers.waitFor(t, "status says the capture runs again", 60*time.Second, func() (bool, string) {
				st = status()
				return strings.Contains(st, fmt.Sprintf("capture: running (pid %d on ", capture.cmd.Process.Pid)), st
			})
			workers.waitSame(t, s.my, s.ch, myQ, chQ, 90*time.Second)
			workers.waitFor(t, "the workers' lag back once the capture runs", 60*time.Second, func() (bool, string) {
				v := lag()
				return v >= 0 && v < 10, fmt.Sprint(v)
			})
			capture.stop(t)
			if st = status(); !strings.Contains(st, "capture: NONE RUNNING since ") || !strings.Contains(st, ", stopped)") {
				t.Errorf("status with the capture stopped: want it said:\n%s", st)
			}

			// The stream lost under the workers: one error, said once.
			deleteLog(t, logURL, "s")
			select {
			case <-workers.done:
			case <-time.After(60 * time.Second):
				t.Fatalf("the workers went on without their stream:\n%s", workers.out.String())
			}
			out := workers.out.String()
			if n := strings.Count(out, "is no longer on the NATS server"); n != 1 {
				t.Errorf("the stream's loss said %d times, want once:\n%s", n, out)
			}
			if !strings.Contains(out, "never get the changes made in between") {
				t.Errorf("the error does not say that the changes until a new capture are lost too:\n%s", out)
			}
		})
	}
}

// partitionLags returns the lag (seconds) column of etlq status --log's
// partition table.
func partitionLags(t *testing.T, st string) []float64 {
	t.Helper()
	var lags []float64
	in := false
	for _, line := range strings.Split(st, "\n") {
		if strings.HasPrefix(line, "partition ") {
			in = true
			continue
		}
		f := strings.Fields(line)
		if !in || len(f) < 5 {
			continue
		}
		v, err := strconv.ParseFloat(f[3], 64)
		if err != nil {
			t.Fatalf("status: lag %q: %v", f[3], err)
		}
		lags = append(lags, v)
	}
	return lags
}
