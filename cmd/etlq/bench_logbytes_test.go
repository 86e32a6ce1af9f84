package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/etlq/etlq/connectors/natslog"
	"github.com/etlq/etlq/connectors/testenv"
)

// BenchmarkLogBytes: what the log stores per change (issue #16), from the
// stream's own byte count (JetStream's State.Bytes: payload, headers and
// subject of every message) over a known number of rows, for a table of
// eight columns of the usual kinds: a snapshot of 5,000 rows (its chunks),
// then 500 single-row transactions, then 20 transactions of 100 rows, each
// phase published by its own `capture --once` and measured as the growth
// of the stream.
func BenchmarkLogBytes(b *testing.B) {
	myDSN := testenv.MySQLDSN(b)
	my := testenv.MySQLConn(b, myDSN)
	db := testenv.UniqueName(b)
	b.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
	exe := func(q string) {
		b.Helper()
		if _, err := my.Execute(q); err != nil {
			b.Fatal(err)
		}
	}
	exe("CREATE DATABASE " + db)
	exe("CREATE TABLE " + db + `.t (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, email VARCHAR(128) NULL,
		qty INT NOT NULL DEFAULT 0, amount DECIMAL(12,2) NOT NULL, status ENUM('new','paid','shipped') NOT NULL DEFAULT 'new',
		created DATETIME(6) NOT NULL, note TEXT NULL)`)
	row := func(i int) string {
		return fmt.Sprintf("(%d, 'customer %d', 'c%d@example.com', %d, %d.%02d, 'paid', '2026-01-02 03:04:05.%06d', NULL)",
			i, i, i, i%100, i, i%100, i)
	}
	insert := func(from, to int) {
		var q bytes.Buffer
		fmt.Fprintf(&q, "INSERT INTO %s.t VALUES ", db)
		for i := from; i < to; i++ {
			if i > from {
				q.WriteByte(',')
			}
			q.WriteString(row(i))
		}
		exe(q.String())
	}
	dir := b.TempDir()
	file := filepath.Join(dir, "bytes.etl")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE PIPELINE p FROM binlog s.%s.t INTO stdout FORMAT jsonl;
`, myDSN, testServerID(), db)), 0o644); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		logURL := testenv.NATSURL(b) + "/" + testenv.UniqueName(b) + fmt.Sprint(i)
		lg, err := natslog.Open(logURL)
		if err != nil {
			b.Fatal(err)
		}
		var st *natslog.Status
		stat := func() (msgs, by uint64) {
			st, err = lg.Status("s", "")
			if err != nil {
				b.Fatal(err)
			}
			return st.Messages, st.Bytes
		}
		capture := func() {
			if out, err := exec.Command(etlqBin, "capture", "--once", "--log", logURL, "--partitions", "8", file).CombinedOutput(); err != nil {
				b.Fatalf("capture: %v\n%s", err, out)
			}
		}
		exe("TRUNCATE TABLE " + db + ".t")
		for from := 0; from < 5000; from += 1000 {
			insert(from, from+1000)
		}
		capture()
		m0, b0 := stat()
		b.ReportMetric(float64(b0)/5000, "B/row_snapshot")
		b.ReportMetric(float64(b0)/float64(m0), "B/msg_snapshot")
		for j := 0; j < 500; j++ {
			insert(10000+j, 10001+j)
		}
		capture()
		m1, b1 := stat()
		b.ReportMetric(float64(b1-b0)/500, "B/row_1row_tx")
		if nc, err := nats.Connect(testenv.NATSURL(b)); err == nil {
			js, _ := nc.JetStream()
			info, _ := js.StreamInfo(st.Stream)
			if m, err := js.GetMsg(st.Stream, info.State.LastSeq); err == nil {
				for k, v := range m.Header {
					b.Logf("last single-row message: header %s: %d bytes", k, len(v[0]))
				}
				b.Logf("last single-row message: subject %s, body %d bytes", m.Subject, len(m.Data))
			}
			nc.Close()
		}
		b.ReportMetric(float64(b1-b0)/float64(m1-m0), "B/msg_1row_tx")
		for j := 0; j < 20; j++ {
			insert(20000+100*j, 20100+100*j)
		}
		capture()
		m2, b2 := stat()
		b.ReportMetric(float64(b2-b1)/2000, "B/row_100row_tx")
		b.ReportMetric(float64(b2-b1)/float64(m2-m1), "B/msg_100row_tx")
		b.Logf("messages: snapshot %d, 500 single-row tx %d, 20 tx of 100 rows %d", m0, m1-m0, m2-m1)
		if err := lg.DeleteSource("s"); err != nil {
			b.Logf("cleanup: %v", err)
		}
		lg.Close()
	}
}
