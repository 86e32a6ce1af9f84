package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// hostOf returns the host:port of a mysql:// or clickhouse:// DSN.
func hostOf(dsn string) string {
	h := dsn[strings.Index(dsn, "://")+3:]
	h = strings.SplitN(h, "/", 2)[0]
	if i := strings.LastIndex(h, "@"); i >= 0 {
		h = h[i+1:]
	}
	return h
}

// metricValue returns the value of one sample of a /metrics page (-1: none).
func metricValue(page, sample string) float64 {
	m := regexp.MustCompile("(?m)^" + regexp.QuoteMeta(sample) + ` (\S+)$`).FindStringSubmatch(page)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestMetricsDuringOutage: while ClickHouse is unreachable the INSERT
// retries are counted, and while MariaDB is, the binlog reconnects — an
// outage used to move only the lag. Both come back and the change made
// meanwhile arrives. Snapshot rows are a counter.
func TestMetricsDuringOutage(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
	seed(t, s.my, s.db+".t", 100)
	myProxy, chProxy := newProxy(t, hostOf(myDSN)), newProxy(t, hostOf(s.chDSN))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "p.etl")
	os.WriteFile(file, []byte(fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE SINK dw INTO clickhouse 'clickhouse://%s';
CREATE PIPELINE p FROM binlog s.%s.t INTO clickhouse dw.%s.t WITH (flush_interval = '100ms');
`, strings.Replace(myDSN, hostOf(myDSN), myProxy.addr(), 1), chProxy.addr(), s.db, s.db)), 0o644)
	outBuf := &syncBuffer{}
	startApplyArgs(t, outBuf, "apply", "--state-dir", filepath.Join(dir, "state"), "--metrics-addr", addr, "--progress", "never", file)

	// waitMetric polls /metrics until ok holds for the page.
	waitMetric := func(what string, ok func(page string) bool) string {
		t.Helper()
		var page string
		for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			resp, err := http.Get("http://" + addr + "/metrics")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if page = string(b); ok(page) {
				return page
			}
		}
		t.Fatalf("metrics never showed %s:\n%s\n--- etlq:\n%s", what, page, outBuf)
		return ""
	}
	page := waitMetric("the snapshot written", func(p string) bool { return metricValue(p, `etlq_rows_out_total{pipeline="p"}`) == 100 })
	for _, want := range []string{"# TYPE etlq_snapshot_rows_total counter", `etlq_snapshot_rows_total{source="s",table="` + s.db + `.t"} 100`,
		`etlq_sink_write_retries_total{pipeline="p"} 0`, `etlq_sink_write_failures_total{pipeline="p"} 0`, `etlq_source_reconnects_total{source="s"} 0`} {
		if !strings.Contains(page, want) {
			t.Errorf("metrics lack %s:\n%s", want, page)
		}
	}

	// ClickHouse away: the insert of a change is retried, and counted.
	chProxy.cut()
	myExec(t, s.my, "UPDATE "+s.db+".t SET amount = 1.25 WHERE id = 1")
	waitMetric("an insert retry", func(p string) bool { return metricValue(p, `etlq_sink_write_retries_total{pipeline="p"}`) >= 1 })
	chProxy.restore()
	waitMetric("the update written", func(p string) bool { return metricValue(p, `etlq_rows_out_total{pipeline="p"}`) == 101 })

	// MariaDB away: the binlog reconnects are counted.
	myProxy.cut()
	waitMetric("a binlog reconnect", func(p string) bool { return metricValue(p, `etlq_source_reconnects_total{source="s"}`) >= 1 })
	myProxy.restore()
	myExec(t, s.my, "UPDATE "+s.db+".t SET amount = 2.5 WHERE id = 2")
	waitMetric("the second update written", func(p string) bool { return metricValue(p, `etlq_rows_out_total{pipeline="p"}`) == 102 })
	if got := chRows(t, s.ch, "SELECT toString(amount) FROM "+s.db+".t_current WHERE id IN (1, 2) ORDER BY id"); strings.Join(got, ",") != "1.25,2.50" {
		t.Errorf("ClickHouse has %v, want [1.25 2.50]", got)
	}
}

// TestSnapshotEstimateOnlySnapshotted: etlq_snapshot_rows_estimated is
// exported for a table whose snapshot this run estimated, not for a table
// of a SNAPSHOT never pipeline — it showed 0 there, an estimate of an
// empty table (day-2 trial). The rows read (a counter) stay 0 for it.
func TestSnapshotEstimateOnlySnapshotted(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db := s.db
		myExec(t, s.my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".a (id INT PRIMARY KEY)", "CREATE TABLE "+db+".b (id INT PRIMARY KEY)",
			"INSERT INTO "+db+".a VALUES (1), (2), (3)", "INSERT INTO "+db+".b VALUES (1), (2)")
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		dir := t.TempDir()
		file := filepath.Join(dir, "p.etl")
		writeFile(t, file, fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);\nCREATE SINK dw INTO clickhouse '%s';\n", myDSN, testServerID(), s.chDSN)+
			fmt.Sprintf("CREATE PIPELINE pa FROM binlog s.%s.a INTO clickhouse dw.%s.a WITH (flush_interval = '100ms');\n", db, db)+
			fmt.Sprintf("CREATE PIPELINE pb FROM binlog s.%s.b SNAPSHOT never INTO clickhouse dw.%s.b WITH (flush_interval = '100ms');\n", db, db))
		outBuf := &syncBuffer{}
		startApplyArgs(t, outBuf, "apply", "--state-dir", filepath.Join(dir, "state"), "--metrics-addr", addr, "--progress", "never", file)
		var page string
		for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if page = string(b); metricValue(page, `etlq_rows_out_total{pipeline="pa"}`) == 3 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("metrics never showed pa's snapshot written:\n%s\n--- etlq:\n%s", page, outBuf)
			}
		}
		a, b := `{source="s",table="`+db+`.a"}`, `{source="s",table="`+db+`.b"}`
		if v := metricValue(page, "etlq_snapshot_rows_estimated"+a); v < 0 {
			t.Errorf("want the estimate of the snapshotted table %s.a, got none:\n%s", db, page)
		}
		if v := metricValue(page, "etlq_snapshot_rows_estimated"+b); v != -1 {
			t.Errorf("want no estimate for the SNAPSHOT never table %s.b, got %v", db, v)
		}
		if v := metricValue(page, "etlq_snapshot_rows_total"+b); v > 0 {
			t.Errorf("SNAPSHOT never table %s.b: want no snapshot rows read, got %v", db, v)
		}
	})
}
