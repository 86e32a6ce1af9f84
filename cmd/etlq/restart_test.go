package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestServerRestarts: etlq streams into ClickHouse under a live writer
// while, on private servers, (a) MariaDB is stopped cleanly, left down for
// a few seconds and started again, and (b) ClickHouse is stopped for 20 s
// and started again. The running etlq must ride out both: after each
// restart a row written afterwards reaches ClickHouse without restarting
// etlq. At the end etlq is killed, apply --once catches up, and the
// _current view equals the source row by row.
func TestServerRestarts(t *testing.T) {
	// The shared servers answering means the server binaries are here
	// (and CI=true turns their absence into a failure).
	testenv.MySQLDSN(t)
	testenv.ClickHouseDSN(t)
	ps := startPrivateServices(t, "mariadb-a", "clickhouse")
	myDSN, chDSN := ps.MySQLDSN, ps.CHDSN

	db := testenv.UniqueName(t)
	my := testenv.MySQLConn(t, myDSN)
	const keys = 30000
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
	seed(t, my, db+".t", 20000)
	my.Close()

	dir := t.TempDir()
	file := filepath.Join(dir, "restart.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (chunk_rows = 5000);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t
  TRANSFORM id, status, amount
  INTO clickhouse dw.%s.t MODE upsert KEY (id)
  WITH (batch_rows = 2000, flush_interval = '100ms');
`, myDSN, chDSN, db, db)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	logPath := filepath.Join(dir, "etlq.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(etlqBin, "apply", "--state-dir", state, "--progress", "never", "--log-format", "json", file)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	showLog := func() {
		b, _ := os.ReadFile(logPath)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		t.Logf("etlq log (last lines):\n%s", strings.Join(lines, "\n"))
	}
	alive := func(when string) {
		t.Helper()
		select {
		case err := <-exited:
			showLog()
			t.Fatalf("etlq exited %s: %v", when, err)
		default:
		}
	}

	w := startChurn(t, myDSN, db+".t", keys, churnOptions{workers: 1, pause: 2 * time.Millisecond})
	defer w.halt()
	count := fmt.Sprintf("SELECT count() FROM %s.t_current WHERE id > %d", db, keys)
	marker := func(id int) {
		t.Helper()
		c := testenv.MySQLConn(t, myDSN)
		myExec(t, c, fmt.Sprintf("INSERT INTO %s.t VALUES (%d, 'marker', 0)", db, id))
		c.Close()
	}
	// The snapshot is in and the stream follows.
	marker(keys + 1)
	took := waitCHCount(t, chDSN, count, 1, 60*time.Second)
	t.Logf("snapshot and first marker in ClickHouse after %v", took.Round(100*time.Millisecond))

	// (a) MariaDB restarts.
	ps.run(t, "down", "mariadb-a")
	time.Sleep(3 * time.Second)
	ps.run(t, "up", "mariadb-a")
	alive("after the MariaDB restart")
	marker(keys + 2)
	took = waitCHCount(t, chDSN, count, 2, 90*time.Second)
	alive("after the MariaDB restart")
	t.Logf("MariaDB restarted; a row written after it reached ClickHouse %v later", took.Round(100*time.Millisecond))

	// (b) ClickHouse is away for 20 s.
	ps.run(t, "down", "clickhouse")
	time.Sleep(20 * time.Second)
	alive("while ClickHouse was down")
	ps.run(t, "up", "clickhouse")
	marker(keys + 3)
	took = waitCHCount(t, chDSN, count, 3, 90*time.Second)
	alive("after the ClickHouse restart")
	t.Logf("ClickHouse restarted; a row written after it reached ClickHouse %v later", took.Round(100*time.Millisecond))

	w.halt()
	cmd.Process.Kill()
	<-exited
	// Every line is JSON, the connectors' warnings included, and they say
	// what happened.
	log, _ := os.ReadFile(logPath)
	msgs := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		var rec struct{ Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("--log-format json, but this line is not JSON: %s", line)
			continue
		}
		msgs[rec.Msg] = true
	}
	for _, want := range []string{"binlog connection lost; reconnecting", "clickhouse: insert failed, retrying"} {
		if !msgs[want] {
			showLog()
			t.Errorf("etlq's log does not say %q", want)
		}
	}
	t.Logf("writer: %d operations, %d errors during the restarts", w.ops.Load(), w.errors.Load())

	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	my = testenv.MySQLConn(t, myDSN)
	ch := testenv.ClickHouseConn(t, chDSN)
	n := compareTable(t, my, ch, db, "t", db, "t", db+".t_current")
	t.Logf("%d rows compared", n)
}
