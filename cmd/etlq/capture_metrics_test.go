package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestCaptureMetrics: etlq capture --metrics-addr serves what it
// published per source, the source's lag, reconnects and snapshot
// progress (docs/scale-out.md, "Operations"); capture had no metrics
// endpoint, so an operator could not watch from Prometheus how far it is
// behind the source.
func TestCaptureMetrics(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		natsURL, ns := testenv.NATSURL(t), testenv.UniqueName(t)
		logURL := natsURL + "/" + ns
		natsProxy := newProxy(t, hostOf(natsURL))
		s := newScratch(t, myDSN)
		myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
		seed(t, s.my, s.db+".t", 100)
		t.Cleanup(func() { deleteLog(t, logURL, "s") })
		myProxy := newProxy(t, hostOf(myDSN))

		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		file := filepath.Join(t.TempDir(), "c.etl")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t INTO clickhouse dw.%s.t MODE upsert KEY (id);
`, strings.Replace(myDSN, hostOf(myDSN), myProxy.addr(), 1), testServerID(), s.chDSN, s.db, s.db))
		capture := startEtlq(t, "capture", "--log", "nats://"+natsProxy.addr()+"/"+ns, "--metrics-addr", addr, file)

		var page string
		wait := func(what string, ok func() bool) {
			t.Helper()
			capture.waitFor(t, what, 90*time.Second, func() (bool, string) {
				resp, err := http.Get("http://" + addr + "/metrics")
				if err != nil {
					return false, err.Error()
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				page = string(b)
				return ok(), page
			})
		}
		rows := func() float64 { return metricValue(page, `etlq_capture_rows_published_total{source="s"}`) }
		wait("the snapshot published", func() bool { return rows() >= 100 })
		for _, want := range []string{`etlq_snapshot_rows_total{source="s",table="` + s.db + `.t"} 100`,
			`etlq_source_reconnects_total{source="s"} 0`, "# TYPE etlq_capture_messages_published_total counter"} {
			if !strings.Contains(page, want) {
				t.Errorf("metrics lack %s:\n%s", want, page)
			}
		}
		if v := metricValue(page, `etlq_capture_messages_published_total{source="s"}`); v < 1 {
			t.Errorf("messages published: %v, want at least 1:\n%s", v, page)
		}

		// A server that purges binary logs by age (B): the seconds left
		// for the log's last position.
		r, err := s.my.Execute("SELECT @@GLOBAL.binlog_expire_logs_seconds")
		if err != nil {
			t.Fatal(err)
		}
		if retention, _ := r.GetInt(0, 0); retention > 0 {
			wait("the purge clock", func() bool {
				v := metricValue(page, `etlq_binlog_purge_seconds{source="s"}`)
				return v > float64(retention)-120 && v <= float64(retention)
			})
		}

		// MariaDB away: the binlog reconnects are counted.
		myProxy.cut()
		wait("a binlog reconnect", func() bool { return metricValue(page, `etlq_source_reconnects_total{source="s"}`) >= 1 })
		myProxy.restore()
		myExec(t, s.my, "UPDATE "+s.db+".t SET amount = 1.25 WHERE id <= 5")
		wait("the changes published", func() bool { return rows() >= 105 })
		// Caught up: the lag is a heartbeat's, not the time since start.
		wait("the lag caught up", func() bool {
			v := metricValue(page, `etlq_replication_lag_seconds{source="s"}`)
			return v >= 0 && v < 30
		})
		if v := metricValue(page, `etlq_capture_ack_wait_seconds{source="s"}`); v != 0 {
			t.Errorf("ack wait while caught up: %v, want 0", v)
		}

		// The log away: the publish under way waits for its
		// acknowledgement, and says how long.
		natsProxy.cut()
		myExec(t, s.my, "UPDATE "+s.db+".t SET amount = 2.5 WHERE id <= 5")
		wait("the publish waiting", func() bool { return metricValue(page, `etlq_capture_ack_wait_seconds{source="s"}`) >= 2 })
		natsProxy.restore()
		wait("the changes published after the log came back", func() bool {
			return rows() >= 110 && metricValue(page, `etlq_capture_ack_wait_seconds{source="s"}`) == 0
		})
		capture.stop(t)
	})
}
