package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestLogStartWhileServerSlow: a capture and a worker started while the
// NATS server answers nothing within the client's timeouts — every byte
// sent to it held 6 s by a proxy, for 8 s from their start and again for
// 8 s soon after, when they are connected and making their first
// JetStream requests (the stream, the buckets, the pipelines recorded in
// the log, the group's floor, the leases) — wait for it, say what they
// wait for, and then run: the target ends equal to the source. Before,
// both exited at once (`log 127.0.0.1:…: nats: timeout`), and a worker
// whose JetStream request took more than 5 s at its start exited with
// `etlq: context deadline exceeded` alone (a CI run at load 19,
// TestLogTakeOverBehindDDL/B).
func TestLogStartWhileServerSlow(t *testing.T) {
	t.Parallel()
	for _, srv := range []struct{ name, dsn string }{{"A", testenv.MySQLDSN(t)}, {"B", testenv.MySQLMinimalDSN(t)}} {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			s, logURL, dir, file := logFixture(t, srv.dsn, `CREATE PIPELINE p FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t WITH (flush_interval = '100ms');
`)
			db, my, ch := s.db, s.my, s.ch
			px := testenv.NewCutProxy(t, strings.TrimPrefix(testenv.NATSURL(t), "nats://"))
			slowURL := "nats://" + px.Addr() + "/" + logURL[strings.LastIndex(logURL, "/")+1:]
			px.Slow(6 * time.Second)
			capture := startEtlq(t, "capture", "--log", slowURL, "--partitions", "4", file)
			worker := startEtlq(t, "apply", "--log", slowURL, "--lease", "4s", "--state-dir", filepath.Join(dir, "w"), "--progress", "never", file)
			time.Sleep(8 * time.Second)
			capture.running(t)
			worker.running(t)
			px.Slow(0)
			time.Sleep(300 * time.Millisecond)
			px.Slow(6 * time.Second)
			time.Sleep(8 * time.Second)
			capture.running(t)
			worker.running(t)
			px.Slow(0)
			myExec(t, my, "UPDATE "+db+".t SET status = 'x' WHERE id <= 10", "DELETE FROM "+db+".t WHERE id > 1990")
			worker.waitSame(t, my, ch, "SELECT id, status, CAST(amount AS CHAR) FROM "+db+".t ORDER BY id",
				"SELECT toString(id), status, toString(amount) FROM "+db+".t_current ORDER BY id", 120*time.Second)
			out := worker.stop(t)
			cout := capture.stop(t)
			for name, o := range map[string]string{"worker": out, "capture": cout} {
				if !strings.Contains(o, "log: the NATS server") {
					t.Errorf("%s: want a warning that it waits for the NATS server, got:\n%s", name, o)
				}
			}
		})
	}
}
