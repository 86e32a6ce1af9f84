package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/natslog"
	"github.com/etlq/etlq/connectors/testenv"
)

// startEtlq starts etlq with args in the background; the test's end kills
// it if it still runs.
func startEtlq(t *testing.T, args ...string) *liveApply {
	t.Helper()
	a := &liveApply{cmd: exec.Command(etlqBin, args...), out: &syncBuffer{}, done: make(chan error, 1)}
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.done <- a.cmd.Wait() }()
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			a.cmd.Process.Kill()
			<-a.done
		}
	})
	return a
}

// kill9 kills the process with SIGKILL and waits for it.
func (a *liveApply) kill9() {
	a.cmd.Process.Signal(syscall.SIGKILL)
	err := <-a.done
	a.done <- err
}

// privateNATS is a nats-server -js of the test's own, with its store in
// a temporary directory: the test may stop and restart it.
type privateNATS struct {
	url, port, dir string
	cmd            *exec.Cmd
}

func startPrivateNATS(t *testing.T) *privateNATS {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		bin = "/usr/sbin/nats-server"
	}
	if _, err := os.Stat(bin); err != nil {
		// scripts/services installs it: under CI=true its absence fails.
		if os.Getenv("CI") == "true" {
			t.Fatalf("nats-server is not installed (CI=true, so this fails; run scripts/services up): %v", err)
		}
		t.Skip("nats-server is not installed (run scripts/services up)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	n := &privateNATS{url: "nats://127.0.0.1:" + port, port: port, dir: t.TempDir()}
	n.cmd = exec.Command(bin, "-js", "-a", "127.0.0.1", "-p", port, "-sd", n.dir)
	n.start(t)
	t.Cleanup(func() { n.stop() })
	return n
}

func (n *privateNATS) start(t *testing.T) {
	t.Helper()
	n.cmd = exec.Command(n.cmd.Path, n.cmd.Args[1:]...)
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+n.port, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("private nats-server on %s did not start", n.port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *privateNATS) stop() {
	if n.cmd != nil && n.cmd.Process != nil && n.cmd.ProcessState == nil {
		n.cmd.Process.Signal(syscall.SIGTERM)
		n.cmd.Wait()
	}
}

// testLog is a log of the test's own on the test NATS server, whose
// source s is deleted when the test ends.
func testLog(t *testing.T) string {
	url := testenv.NATSURL(t) + "/" + testenv.UniqueName(t)
	t.Cleanup(func() { deleteLog(t, url, "s") })
	return url
}

// deleteLog removes a test's stream and lease bucket from the log.
func deleteLog(t testing.TB, url, source string) {
	lg, err := natslog.Open(url)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer lg.Close()
	if err := lg.DeleteSource(source); err != nil {
		t.Logf("cleanup: %v", err)
	}
}

// TestLogSingleWorker: capture publishes a snapshot and a stream of changes
// to the shared NATS server, one worker applies them; the target equals
// the source row by row.
func TestLogSingleWorker(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	logURL := testenv.NATSURL(t) + "/" + testenv.UniqueName(t)
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
	seed(t, my, db+".t", 5000)
	t.Cleanup(func() { deleteLog(t, logURL, "s") })

	dir := t.TempDir()
	file := filepath.Join(dir, "log.etl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d, chunk_rows = 1000);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t
  TRANSFORM id, status, amount
  INTO clickhouse dw.%s.t MODE upsert KEY (id)
  WITH (batch_rows = 2000, flush_interval = '100ms');
`, myDSN, testServerID(), s.chDSN, db, db))
	w := startWriter(t, myDSN, db+".t", 8000)
	defer w.halt(t)
	capture := startEtlq(t, "capture", "--log", logURL, "--partitions", "4", file)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metrics := ln.Addr().String()
	ln.Close()
	worker := startEtlq(t, "apply", "--log", logURL, "--lease", "2s", "--state-dir", filepath.Join(dir, "w1"), "--progress", "never",
		"--metrics-addr", metrics, file)
	time.Sleep(3 * time.Second)
	w.halt(t)
	capture.running(t)
	worker.running(t)
	worker.waitSame(t, my, ch, "SELECT id, status, CAST(amount AS CHAR) FROM "+db+".t ORDER BY id",
		"SELECT toString(id), status, toString(amount) FROM "+db+".t_current ORDER BY id", 60*time.Second)
	st := mustEtlq(t, "status", "--log", logURL, file)
	if !strings.Contains(st, "group apply: 1 live worker(s)") || !strings.Contains(st, "\ncapture: running (pid ") || strings.Count(st, "\n") != 8 {
		t.Errorf("status: want the stream, the capture, the group and 4 partitions:\n%s", st)
	}
	t.Logf("status:\n%s", st)
	// The capture's default retention, and the headroom left of it.
	if !strings.Contains(st, " of 10.0 GiB (") || !strings.Contains(st, " of 168h0m0s kept (") {
		t.Errorf("status: want the default retention (10 GiB, 7 days) and its headroom:\n%s", st)
	}
	if out, err := runEtlq(t, "status", "--log", logURL, "--drop", file); err == nil {
		t.Errorf("status --drop with a live worker: want it refused, got\n%s", out)
	}
	worker.waitFor(t, "the worker holds the 4 partitions (metrics)", 30*time.Second, func() (bool, string) {
		resp, err := http.Get("http://" + metrics + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		page, _ := io.ReadAll(resp.Body)
		v := metricValue(string(page), `etlq_log_partitions_owned{source="s"}`)
		return v == 4, fmt.Sprint(v)
	})
	worker.stop(t)
	capture.stop(t)
	if out := mustEtlq(t, "status", "--log", logURL, "--drop", file); !strings.Contains(out, "and its leases deleted") {
		t.Errorf("status --drop: %s", out)
	}
	if out, err := runEtlq(t, "status", "--log", logURL, file); err == nil {
		t.Errorf("status after --drop: want no stream, got\n%s", out)
	}
}

// TestLogWorkersKilled: capture and 3 workers on a private NATS server, a
// writer changing the source all along (key changes and deletes
// included); one worker is killed -9 mid-stream and another added, the
// capture is killed -9 and restarted, the NATS server restarted once. The
// target ends equal to the source row by row.
func TestLogWorkersKilled(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	nats := startPrivateNATS(t)
	logURL := nats.url + "/" + testenv.UniqueName(t)
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
	seed(t, my, db+".t", 20000)

	dir := t.TempDir()
	file := filepath.Join(dir, "log.etl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d, chunk_rows = 2000);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t
  TRANSFORM id, status, amount
  INTO clickhouse dw.%s.t MODE upsert KEY (id)
  WITH (batch_rows = 2000, flush_interval = '100ms');
`, myDSN, testServerID(), s.chDSN, db, db))
	w := startWriter(t, myDSN, db+".t", 30000)
	defer w.halt(t)
	capture := startEtlq(t, "capture", "--log", logURL, "--partitions", "6", file)
	worker := func(name string) *liveApply {
		return startEtlq(t, "apply", "--log", logURL, "--lease", "2s", "--state-dir", filepath.Join(dir, name), "--progress", "never", file)
	}
	workers := []*liveApply{worker("w1"), worker("w2"), worker("w3")}
	time.Sleep(3 * time.Second)
	workers[1].kill9()
	time.Sleep(2 * time.Second)
	workers = append(workers, worker("w4"))
	time.Sleep(2 * time.Second)
	capture.kill9()
	time.Sleep(time.Second)
	capture = startEtlq(t, "capture", "--log", logURL, file)
	time.Sleep(2 * time.Second)
	nats.stop()
	time.Sleep(2 * time.Second)
	nats.start(t)
	time.Sleep(3 * time.Second)
	w.halt(t)
	t.Logf("%d writer operations", w.ops.Load())
	capture.running(t)
	for i, wk := range workers {
		if i != 1 {
			wk.running(t)
		}
	}
	workers[0].waitSame(t, my, ch, "SELECT id, status, CAST(amount AS CHAR) FROM "+db+".t ORDER BY id",
		"SELECT toString(id), status, toString(amount) FROM "+db+".t_current ORDER BY id", 90*time.Second)
	st := mustEtlq(t, "status", "--log", logURL, file)
	t.Logf("status:\n%s", st)
	// The capture's default retention, and the headroom left of it.
	if !strings.Contains(st, " of 10.0 GiB (") || !strings.Contains(st, " of 168h0m0s kept (") {
		t.Errorf("status: want the default retention (10 GiB, 7 days) and its headroom:\n%s", st)
	}
	if out, err := runEtlq(t, "status", "--log", logURL, "--drop", file); err == nil {
		t.Errorf("status --drop with a live worker: want it refused, got\n%s", out)
	}
	for i, wk := range workers {
		if i != 1 {
			if out := wk.stop(t); strings.Contains(out, "level=ERROR") {
				t.Errorf("worker %d:\n%s", i+1, out)
			}
		}
	}
	capture.stop(t)
}

// TestLogOutlivesBinlogPurge: the sink is away (no worker runs) while the
// source keeps changing and purges its binary logs. A plain apply whose
// checkpoint was in the purged logs has lost changes and says so; with
// the log in between, the capture kept publishing and acknowledging the
// source all along, and the worker started again brings the target to
// the source row by row. The binary logs purged are a private MariaDB's:
// the test runs beside the others.
func TestLogOutlivesBinlogPurge(t *testing.T) {
	t.Parallel()
	ps := startPrivateServices(t, "mariadb-a")
	myDSN := ps.MySQLDSN
	logURL := testenv.NATSURL(t) + "/" + testenv.UniqueName(t)
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
	seed(t, my, db+".t", 3000)
	t.Cleanup(func() { deleteLog(t, logURL, "s") })
	t.Cleanup(func() { s.ch.Exec(t.Context(), "DROP DATABASE IF EXISTS "+db+"_plain") })

	dir := t.TempDir()
	etl := func(name, target string) string {
		file := filepath.Join(dir, name)
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t
  TRANSFORM id, status, amount
  INTO clickhouse dw.%s.t MODE upsert KEY (id)
  WITH (flush_interval = '100ms');
`, myDSN, testServerID(), s.chDSN, db, target))
		return file
	}
	file, plain := etl("log.etl", db), etl("plain.etl", db+"_plain")
	ch.Exec(t.Context(), "CREATE DATABASE IF NOT EXISTS "+db+"_plain")
	mustEtlq(t, "apply", "--once", "--state-dir", filepath.Join(dir, "plain"), "--progress", "never", plain)

	capture := startEtlq(t, "capture", "--log", logURL, "--partitions", "3", file)
	worker := startEtlq(t, "apply", "--log", logURL, "--lease", "2s", "--state-dir", filepath.Join(dir, "w"), "--progress", "never", file)
	q := "SELECT id, status, CAST(amount AS CHAR) FROM " + db + ".t ORDER BY id"
	chq := "SELECT toString(id), status, toString(amount) FROM " + db + ".t_current ORDER BY id"
	worker.waitSame(t, my, ch, q, chq, 60*time.Second)
	worker.stop(t) // the sink is "down": nothing writes to it now

	w := startWriter(t, myDSN, db+".t", 5000)
	time.Sleep(2 * time.Second)
	myExec(t, my, "FLUSH BINARY LOGS")
	time.Sleep(time.Second)
	w.halt(t)
	myExec(t, my, "FLUSH BINARY LOGS")
	cur := testenv.Query(t, my, "SHOW MASTER STATUS")[0][0]
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		myExec(t, my, "PURGE BINARY LOGS TO '"+fmt.Sprint(cur)+"'")
		if first := testenv.Query(t, my, "SHOW BINARY LOGS")[0][0]; fmt.Sprint(first) == fmt.Sprint(cur) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("binary logs before %v still there after PURGE BINARY LOGS", cur)
		}
	}
	t.Logf("%d writer operations while the sink was away; binary logs purged up to %v", w.ops.Load(), cur)
	// Without the log, the changes are gone.
	if out, err := runEtlq(t, "apply", "--once", "--state-dir", filepath.Join(dir, "plain"), "--progress", "never", plain); err == nil || !strings.Contains(out, "was purged") {
		t.Fatalf("a plain apply over the purged binary logs: want the purge error, got %v:\n%s", err, out)
	}
	capture.running(t)
	worker = startEtlq(t, "apply", "--log", logURL, "--lease", "2s", "--state-dir", filepath.Join(dir, "w"), "--progress", "never", file)
	worker.waitSame(t, my, ch, q, chq, 60*time.Second)
	worker.stop(t)
	capture.stop(t)
}

// TestLogTableEvents: a TRUNCATE and an ADD COLUMN while a writer runs,
// through the log to two workers over four partitions. The table-wide
// events reach every partition in order with its rows: the upsert target
// equals the source row by row (the new column included), and the
// changelog target holds the truncate once, not once per partition.
func TestLogTableEvents(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s, logURL, dir, file := logFixture(t, myDSN, `CREATE PIPELINE p_up FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t WITH (flush_interval = '100ms');
CREATE PIPELINE p_log FROM binlog s.%[3]s.t TRANSFORM id, status, amount, _op INTO clickhouse dw.%[3]s.t_log MODE changelog WITH (flush_interval = '100ms');
`)
	db, my, ch := s.db, s.my, s.ch
	capture := startEtlq(t, "capture", "--log", logURL, "--partitions", "4", file)
	workers := []*liveApply{}
	for _, name := range []string{"w1", "w2"} {
		workers = append(workers, startEtlq(t, "apply", "--log", logURL, "--lease", "2s", "--state-dir", filepath.Join(dir, name), "--progress", "never", file))
	}
	myQ := "SELECT id, status, CAST(amount * 100 AS SIGNED) FROM " + db + ".t ORDER BY id"
	chQ := "SELECT toString(id), status, toString(toInt64(amount * 100)) FROM " + db + ".t_current ORDER BY id"
	workers[0].waitSame(t, my, ch, myQ, chQ, 90*time.Second)

	w := startChurn(t, myDSN, db+".t", 3000, churnOptions{workers: 2, pause: time.Millisecond})
	time.Sleep(time.Second)
	myExec(t, my, "TRUNCATE TABLE "+db+".t")
	time.Sleep(time.Second)
	myExec(t, my, "ALTER TABLE "+db+".t ADD COLUMN note VARCHAR(8) NOT NULL DEFAULT 'n'")
	time.Sleep(time.Second)
	w.halt()
	if w.ops.Load() == 0 {
		t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
	}
	myExec(t, my, "UPDATE "+db+".t SET note = 'm' WHERE id % 7 = 0")
	workers[0].waitSame(t, my, ch, "SELECT id, status, CAST(amount * 100 AS SIGNED), note FROM "+db+".t ORDER BY id",
		"SELECT toString(id), status, toString(toInt64(amount * 100)), note FROM "+db+".t_current ORDER BY id", 90*time.Second)
	workers[0].waitFor(t, "one truncate change in the changelog", 60*time.Second, func() (bool, string) {
		n, err := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM %s.t_log WHERE _op = 'truncate'", db))
		return err == nil && n == 1, fmt.Sprintf("%d, %v", n, err)
	})
	time.Sleep(2 * time.Second) // copies would land by now
	if n, err := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM %s.t_log WHERE _op = 'truncate'", db)); err != nil || n != 1 {
		t.Errorf("the changelog holds %d truncates (%v), want 1", n, err)
	}
	for _, wk := range workers {
		wk.stop(t)
	}
	capture.stop(t)
}

// TestLogKeyWidened: ALTER TABLE … MODIFY id BIGINT on the key column,
// through the log to two workers over four partitions: the schema change
// reaches every partition, so both workers meet it and would copy the
// ClickHouse table into the wider key at once. One copies, the other
// waits for it; both keep running and the target equals the source. Before,
// the second exited with code 60 (its copy dropped under it).
func TestLogKeyWidened(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s, logURL, dir, file := logFixture(t, myDSN, `CREATE PIPELINE p_up FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t WITH (flush_interval = '100ms');
`)
	db, my, ch := s.db, s.my, s.ch
	capture := startEtlq(t, "capture", "--log", logURL, "--partitions", "4", file)
	workers := []*liveApply{}
	for _, name := range []string{"w1", "w2"} {
		workers = append(workers, startEtlq(t, "apply", "--log", logURL, "--lease", "2s", "--state-dir", filepath.Join(dir, name), "--progress", "never", file))
	}
	myQ := "SELECT id, status, CAST(amount * 100 AS SIGNED) FROM " + db + ".t ORDER BY id"
	chQ := "SELECT toString(id), status, toString(toInt64(amount * 100)) FROM " + db + ".t_current ORDER BY id"
	workers[0].waitSame(t, my, ch, myQ, chQ, 90*time.Second)
	myExec(t, my, "ALTER TABLE "+db+".t MODIFY id BIGINT NOT NULL",
		"INSERT INTO "+db+".t VALUES (5000000001, 'wide', 1.50), (5000000002, 'wide', 2.50), (5000000003, 'wide', 3.50), (5000000004, 'wide', 4.50)",
		"UPDATE "+db+".t SET status = 'after' WHERE id % 5 = 0")
	workers[0].waitSame(t, my, ch, myQ, chQ, 90*time.Second)
	for _, wk := range workers {
		wk.running(t)
	}
	if n, err := chCount(s.chDSN, "SELECT count() FROM "+db+".t_current WHERE id > 5000000000"); err != nil || n != 4 {
		t.Errorf("%d wide keys in the target (%v), want 4", n, err)
	}
	if n, err := chCount(s.chDSN, "SELECT count() FROM system.columns WHERE database = '"+db+"' AND table = 't' AND name = 'id' AND type = 'Int64'"); err != nil || n != 1 {
		t.Errorf("the target's id is not Int64 (%v)", err)
	}
	if n, err := chCount(s.chDSN, "SELECT count() FROM system.tables WHERE database = '"+db+"' AND name LIKE '%etlq%'"); err != nil || n != 0 {
		t.Errorf("%d copies or locks left over (%v)", n, err)
	}
	for _, wk := range workers {
		wk.stop(t)
	}
	capture.stop(t)
}

// TestLogURLPasswordNotPrinted: the password of a --log URL is a secret as
// a DSN's is (docs/security.md): capture's log lines (text and JSON),
// status and a refused URL show it as ****. Before, capture's "capturing"
// line printed the URL whole, password included.
func TestLogURLPasswordNotPrinted(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	const pw = "Log-S3cret-pw"
	base := strings.TrimPrefix(testenv.NATSURL(t), "nats://")
	logURL := "nats://etlq:" + pw + "@" + base + "/" + testenv.UniqueName(t)
	s := newScratch(t, myDSN)
	myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, v INT)", "INSERT INTO "+s.db+".t VALUES (1, 1)")
	t.Cleanup(func() { deleteLog(t, logURL, "s") })
	file := filepath.Join(t.TempDir(), "log.etl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t TRANSFORM id, v INTO clickhouse dw.%s.t MODE upsert KEY (id);
`, myDSN, testServerID(), s.chDSN, s.db, s.db))
	for _, format := range []string{"text", "json"} {
		out := mustEtlq(t, "capture", "--once", "--log-format", format, "--log", logURL, file)
		if strings.Contains(out, pw) || !strings.Contains(out, "capturing") {
			t.Errorf("capture --log-format %s: want its log without the log URL's password:\n%s", format, out)
		}
	}
	if out := mustEtlq(t, "status", "--log", logURL, file); strings.Contains(out, pw) {
		t.Errorf("status: the password is printed:\n%s", out)
	}
	if out, err := runEtlq(t, "status", "--log", "nat://etlq:"+pw+"@"+base, file); err == nil || strings.Contains(out, pw) {
		t.Errorf("status with a wrong scheme: want an error without the password, got %v:\n%s", err, out)
	}
}

// TestLogTLS: the log's connection in TLS (docs/security.md): a capture
// and a worker reach a nats-server that requires TLS through
// ?tls_ca=…, and each way of getting it wrong is an error that says
// which. Before, only nats:// was accepted and the connection was plain.
func TestLogTLS(t *testing.T) {
	t.Parallel()
	certs := testenv.TLSCerts(t)
	n := startPrivateNATS(t)
	n.stop()
	n.cmd.Args = append(n.cmd.Args, "--tls", "--tlscert", filepath.Join(certs.Dir, "server.pem"), "--tlskey", filepath.Join(certs.Dir, "server-key.pem"))
	n.start(t)
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, v INT)", "INSERT INTO "+s.db+".t VALUES (1, 1), (2, 2), (3, 3)")
	file := filepath.Join(t.TempDir(), "log.etl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t TRANSFORM id, v INTO clickhouse dw.%s.t MODE upsert KEY (id);
`, myDSN, testServerID(), s.chDSN, s.db, s.db))
	host := "localhost:" + n.port // the certificate names localhost only
	for _, c := range []struct{ url, want string }{
		{"nats://" + host + "/ns", "the server requires TLS and its certificate is not signed by a CA this system trusts: give its CA as ?tls_ca="},
		{"tls://" + host + "/ns?tls_ca=" + certs.WrongCA, "the server's certificate is not signed by tls_ca " + certs.WrongCA},
		{"tls://127.0.0.1:" + n.port + "/ns?tls_ca=" + certs.CA, "the server's certificate does not name the host of the URL"},
		{"nats://" + host + "/ns?tls_ca=" + certs.CA + "&tls_cert=" + certs.ClientCert, "tls_cert and tls_key go together"},
		{"nats://" + host + "/ns?tls=1", `unknown parameter "tls"`},
	} {
		if out, err := runEtlq(t, "capture", "--once", "--log", c.url, file); err == nil || !strings.Contains(out, c.want) {
			t.Errorf("capture --log %s: want an error saying %q, got %v:\n%s", c.url, c.want, err, out)
		}
	}
	logURL := "nats://" + host + "/ns?tls_ca=" + certs.CA
	mustEtlq(t, "capture", "--once", "--log", logURL, file)
	worker := startEtlq(t, "apply", "--log", logURL, "--lease", "2s", "--progress", "never", "--state-dir", filepath.Join(t.TempDir(), "w"), file)
	worker.waitSame(t, s.my, s.ch, "SELECT id, v FROM "+s.db+".t ORDER BY id",
		"SELECT toString(id), toString(v) FROM "+s.db+".t_current ORDER BY id", 60*time.Second)
	worker.stop(t)
	if st := mustEtlq(t, "status", "--log", "tls://"+host+"/ns?tls_ca="+certs.CA, file); !strings.Contains(st, "stream ns_s") {
		t.Errorf("status over tls://: %s", st)
	}
}

// logFixture is the scale-out tests' start: a table t of 2,000 rows
// (id, status, amount) in a database of the test's, a log URL of its own
// (deleted at the end), and the file dir/log.etl declaring source s and
// sink dw, then the pipelines (%[3]s: the database).
func logFixture(t *testing.T, myDSN, pipelines string) (s *scratch, logURL, dir, file string) {
	t.Helper()
	logURL = testenv.NATSURL(t) + "/" + testenv.UniqueName(t)
	s = newScratch(t, myDSN)
	myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
	seed(t, s.my, s.db+".t", 2000)
	t.Cleanup(func() { deleteLog(t, logURL, "s") })
	dir = t.TempDir()
	file = filepath.Join(dir, "log.etl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
`+pipelines, myDSN, s.chDSN, s.db, testServerID()))
	return s, logURL, dir, file
}
