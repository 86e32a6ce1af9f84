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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// ddlWriter inserts and updates rows of a table through the columns no DDL
// of the test touches (id, k) until stopped.
type ddlWriter struct {
	stop   atomic.Bool
	wg     sync.WaitGroup
	ops    atomic.Int64
	errors atomic.Int64
}

func startDDLWriter(t *testing.T, dsn, table string, firstID int) *ddlWriter {
	t.Helper()
	w := &ddlWriter{}
	c := testenv.MySQLConn(t, dsn)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer c.Close()
		for i := 0; !w.stop.Load(); i++ {
			var q string
			if i%2 == 0 {
				q = fmt.Sprintf("INSERT INTO %s (id, k) VALUES (%d, %d)", table, firstID+i, i)
			} else {
				q = fmt.Sprintf("UPDATE %s SET k = k + 1 WHERE id = %d", table, 1+i%50)
			}
			if _, err := c.Execute(q); err != nil {
				w.errors.Add(1)
			} else {
				w.ops.Add(1)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return w
}

func (w *ddlWriter) halt() {
	w.stop.Store(true)
	w.wg.Wait()
}

// TestDDLFollowedRunningAndStopped (issue #12): the DDLs of the issue —
// ADD COLUMN … DEFAULT … FIRST/AFTER, DROP, MODIFY … AFTER, CHANGE, RENAME
// COLUMN, INT → BIGINT — made with a writer running, once while etlq
// streams and once while it is stopped; after each, the ClickHouse table
// equals the source row by row: moved columns keep their values, existing
// rows hold the new columns' defaults, renamed columns keep their values.
func TestDDLFollowedRunningAndStopped(t *testing.T) {
	t.Parallel()
	onBothServers(t, testDDLFollowed)
}

func testDDLFollowed(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my,
		"CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, a INT, b VARCHAR(20), c INT, note VARCHAR(20), v INT)")
	var seed strings.Builder
	for i := 1; i <= 100; i++ {
		if i > 1 {
			seed.WriteString(",")
		}
		fmt.Fprintf(&seed, "(%d, %d, %d, 'b%d', %d, 'n%d', %d)", i, i, 10*i, i, 100*i, i, i)
	}
	myExec(t, my, "INSERT INTO "+db+".t VALUES "+seed.String())

	dir := t.TempDir()
	file := filepath.Join(dir, "ddl.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t TRANSFORM * INTO clickhouse dw.%s.t WITH (batch_rows = 500, flush_interval = '100ms');
`, myDSN, chDSN, db, db)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	compare := func(when string) {
		t.Helper()
		n := compareTable(t, my, ch, db, "t", db, "t", db+".t_current")
		if t.Failed() {
			t.Fatalf("%s: the target differs from the source", when)
		}
		t.Logf("%s: %d rows equal", when, n)
	}
	marker := 1000000
	waitMarker := func() {
		t.Helper()
		marker++
		myExec(t, my, fmt.Sprintf("INSERT INTO %s.t (id, k) VALUES (%d, 0)", db, marker))
		waitCHCount(t, chDSN, fmt.Sprintf("SELECT count() FROM %s.t_current WHERE id = %d", db, marker), 1, 90*time.Second)
	}

	// 1. While etlq runs.
	logPath := filepath.Join(dir, "etlq.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(etlqBin, "apply", "--state-dir", state, "--metrics-addr", addr, "--progress", "never", file)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	showLog := func() {
		b, _ := os.ReadFile(logPath)
		t.Logf("etlq log:\n%s", b)
	}
	t.Cleanup(func() {
		if t.Failed() {
			showLog()
		}
	})
	waitMarker()
	w := startDDLWriter(t, myDSN, db+".t", 2000)
	myExec(t, my,
		"ALTER TABLE "+db+".t ADD COLUMN g INT NOT NULL DEFAULT 42",
		"ALTER TABLE "+db+".t MODIFY c INT AFTER id",
		"INSERT INTO "+db+".t (id, a, b, c, note) VALUES (22, 220, 'b22', 2200, 'n22') ON DUPLICATE KEY UPDATE a = 220, b = 'b22', c = 2200, note = 'n22'",
		"ALTER\nTABLE "+db+".t MODIFY a INT AFTER id",
		"ALTER TABLE "+db+".t RENAME COLUMN note TO note2",
		"ALTER TABLE "+db+".t MODIFY c BIGINT",
		"UPDATE "+db+".t SET c = 30000000000 WHERE id = 3",
		"ALTER TABLE "+db+".t CHANGE v v INT AFTER k",
		"UPDATE "+db+".t SET v = 77 WHERE id = 7",
	)
	time.Sleep(300 * time.Millisecond) // let the writer write under the new schema
	w.halt()
	select {
	case err := <-exited:
		showLog()
		t.Fatalf("etlq exited while running: %v", err)
	default:
	}
	waitMarker()
	compare("after DDLs while running")
	// The pipeline followed the five DDLs (the metric counts each plan
	// made again; DDLs between two batches may share one).
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `etlq_schema_changes_total{pipeline="p"}`) || strings.Contains(string(body), `etlq_schema_changes_total{pipeline="p"} 0`) {
		t.Errorf("no schema changes in the metrics:\n%s", body)
	}
	// A DDL with no row after it still reaches the target before a
	// checkpoint passes it: a restart then finds the column there.
	myExec(t, my, "ALTER TABLE "+db+".t ADD COLUMN z INT NOT NULL DEFAULT 9")
	waitCHCount(t, chDSN, fmt.Sprintf("SELECT count() FROM system.columns WHERE database = '%s' AND table = 't' AND name = 'z'", db), 1, 60*time.Second)
	time.Sleep(1500 * time.Millisecond) // a checkpoint after the DDL (not asserted)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Fatal("etlq did not stop on interrupt")
	}

	// 2. While etlq is stopped.
	w = startDDLWriter(t, myDSN, db+".t", 5000)
	myExec(t, my,
		"ALTER TABLE "+db+".t ADD COLUMN extra INT DEFAULT 7 FIRST",
		"/* moved back */ ALTER TABLE `"+db+"`.`t` MODIFY c BIGINT AFTER v",
		"UPDATE "+db+".t SET c = 123, a = 7 WHERE id = 5",
		"ALTER TABLE "+db+".t DROP COLUMN v",
		"ALTER TABLE "+db+".t RENAME COLUMN note2 TO note3, CHANGE b bb VARCHAR(40) AFTER k",
		"ALTER TABLE "+db+".t MODIFY a BIGINT",
		"UPDATE "+db+".t SET a = 40000000000 WHERE id = 4",
		"ALTER TABLE "+db+".t ADD COLUMN s VARCHAR(10) NOT NULL DEFAULT 'it''s' AFTER id",
	)
	time.Sleep(300 * time.Millisecond)
	w.halt()
	t.Logf("writer: %d operations, %d errors", w.ops.Load(), w.errors.Load())
	out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err != nil {
		t.Fatalf("apply after DDLs while stopped: %v\n%s", err, out)
	}
	compare("after DDLs while stopped")
	if !strings.Contains(out, "schema change") {
		t.Errorf("no schema change logged:\n%s", out)
	}

	// 3. While etlq runs but is behind: ClickHouse unreachable, so the
	// binlog reader stalls behind the DDLs and meets them later.
	chHost := strings.TrimPrefix(chDSN, "clickhouse://")
	chHost = strings.SplitN(chHost, "/", 2)[0]
	if i := strings.LastIndex(chHost, "@"); i >= 0 {
		chHost = chHost[i+1:]
	}
	px := newProxy(t, chHost)
	behind := filepath.Join(dir, "behind.etl")
	src = fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE SINK dw INTO clickhouse 'clickhouse://%s' WITH (max_backoff = '1s');
CREATE PIPELINE p FROM binlog s.%s.t TRANSFORM * INTO clickhouse dw.%s.t WITH (batch_rows = 500, flush_interval = '100ms');
`, myDSN, px.addr(), db, db)
	if err := os.WriteFile(behind, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(etlqBin, "apply", "--state-dir", state, "--progress", "never", behind)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited = make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitMarker()
	px.cut()
	w = startDDLWriter(t, myDSN, db+".t", 8000)
	myExec(t, my,
		"ALTER TABLE "+db+".t ADD COLUMN p2 INT DEFAULT 5 AFTER k",
		"ALTER TABLE "+db+".t RENAME COLUMN note3 TO note4",
		"ALTER TABLE "+db+".t MODIFY extra BIGINT FIRST",
		"UPDATE "+db+".t SET extra = 50000000000 WHERE id = 6",
		"ALTER TABLE "+db+".t DROP COLUMN g",
		"ALTER TABLE "+db+".t CHANGE bb b3 VARCHAR(50)",
		"UPDATE "+db+".t SET b3 = 'changed' WHERE id = 8",
	)
	time.Sleep(time.Second) // ClickHouse stays away a little longer
	w.halt()
	px.restore()
	waitMarker()
	select {
	case err := <-exited:
		showLog()
		t.Fatalf("etlq exited while behind: %v", err)
	default:
	}
	compare("after DDLs while behind")
	cmd.Process.Signal(os.Interrupt)
	<-exited
}

// TestTargetColumnDroppedByHand (issue #12): a column dropped by hand from
// the ClickHouse table is reported by check and refused by apply, never
// re-created empty for the rows already there.
func TestTargetColumnDroppedByHand(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
		myExec(t, my,
			"CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, v INT, w VARCHAR(10))",
			"INSERT INTO "+db+".t VALUES (1, 10, 'a'), (2, 20, 'b')")
		dir := t.TempDir()
		file := filepath.Join(dir, "p.etl")
		src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t TRANSFORM * INTO clickhouse dw.%s.t;
`, myDSN, chDSN, db, db)
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		state := filepath.Join(dir, "state")
		mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		testenv.ClickHouseExec(t, ch, "DROP TABLE "+db+".t_current", "ALTER TABLE "+db+".t DROP COLUMN v")
		myExec(t, my, "INSERT INTO "+db+".t VALUES (3, 30, 'c')")

		out, _ := runEtlq(t, "check", file)
		if !strings.Contains(out, "lacks column(s) v") {
			t.Errorf("check does not report the dropped column:\n%s", out)
		}
		out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		if err == nil || !strings.Contains(out, "dropped outside etlq") || !strings.Contains(out, "re-snapshot") {
			t.Errorf("apply: want a refusal naming the column, got %v:\n%s", err, out)
		}
		if rows := chRows(t, ch, fmt.Sprintf("SELECT name FROM system.columns WHERE database = '%s' AND table = 't' AND name = 'v'", db)); len(rows) != 0 {
			t.Errorf("v re-created in the target")
		}
	})
}
