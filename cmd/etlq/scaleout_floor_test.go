package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/etlq/etlq/connectors/testenv"
	"github.com/go-mysql-org/go-mysql/client"
)

// TestLogOverExistingTargets: a plain apply fills the targets, then the
// deployment moves to the log with a fresh stream (a new namespace, or
// after `etlq status --log … --drop`). The targets' versions are an hour
// ahead of the wall clock, as a machine whose clock ran ahead leaves them
// (or a stream whose counter ran ahead). While nothing runs, the source
// deletes and updates rows. Then capture + two workers: the snapshot must
// remove the keys that vanished at the source, and later UPDATEs and
// DELETEs of existing keys must show although the capture's counter
// starts below the targets' versions. Before, the workers wrote the
// capture's versions as they were: every change of an existing key lost
// to the older row in ReplacingMergeTree, and the deleted keys stayed.
func TestLogOverExistingTargets(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	logURL := testenv.NATSURL(t) + "/" + testenv.UniqueName(t)
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	tbl := db + ".t"
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+tbl+" (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
	seed(t, my, tbl, 3000)
	t.Cleanup(func() { deleteLog(t, logURL, "s") })
	dir := t.TempDir()
	file := filepath.Join(dir, "log.etl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d, chunk_rows = 1000);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t
  TRANSFORM id, status, amount
  INTO clickhouse dw.%s.t MODE upsert KEY (id)
  WITH (flush_interval = '100ms');
`, myDSN, testServerID(), s.chDSN, db, db))
	myQ := "SELECT id, status, CAST(amount AS CHAR) FROM " + tbl + " ORDER BY id"
	chQ := "SELECT toString(id), status, toString(amount) FROM " + db + ".t_current ORDER BY id"

	// 1. A plain apply fills the target.
	mustEtlq(t, "apply", "--once", "--state-dir", filepath.Join(dir, "plain"), "--progress", "never", file)
	diffRows(t, myRows(t, my, myQ), chRows(t, ch, chQ))
	// Its versions an hour ahead of the wall clock.
	var cols []string
	for _, r := range chCells(t, ch, "SELECT name FROM system.columns WHERE database = '"+db+"' AND table = 't'") {
		cols = append(cols, r[0])
	}
	sel := strings.Replace(strings.Join(cols, ", "), "_version", fmt.Sprintf("_version + %d", uint64(time.Hour.Microseconds())<<10), 1)
	if !strings.Contains(sel, "_version +") {
		t.Fatalf("no _version column in %v", cols)
	}
	if err := ch.Exec(context.Background(), fmt.Sprintf("INSERT INTO %s.t (%s) SELECT %s FROM %s.t", db, strings.Join(cols, ", "), sel, db)); err != nil {
		t.Fatal(err)
	}
	diffRows(t, myRows(t, my, myQ), chRows(t, ch, chQ))

	// 2. While nothing runs, rows vanish and change at the source.
	myExec(t, my, "DELETE FROM "+tbl+" WHERE id % 10 = 0", "UPDATE "+tbl+" SET status = 'before' WHERE id % 7 = 0")

	// 3. The log, fresh: capture + two workers.
	capture := startEtlq(t, "capture", "--log", logURL, "--partitions", "4", file)
	var workers []*liveApply
	for _, name := range []string{"w1", "w2"} {
		workers = append(workers, startEtlq(t, "apply", "--log", logURL, "--lease", "2s", "--state-dir", filepath.Join(dir, name), "--progress", "never", file))
	}
	workers[0].waitSame(t, my, ch, myQ, chQ, 90*time.Second)

	// 4. Changes of existing keys through the log.
	myExec(t, my, "UPDATE "+tbl+" SET status = 'after', amount = amount + 1 WHERE id % 3 = 0",
		"DELETE FROM "+tbl+" WHERE id % 11 = 0",
		"INSERT INTO "+tbl+" VALUES (3001, 'new', 1.00), (10, 'again', 2.00)")
	workers[0].waitSame(t, my, ch, myQ, chQ, 90*time.Second)
	out := workers[0].out.String() + workers[1].out.String()
	if !strings.Contains(out, "every version is lifted above them") {
		t.Errorf("no worker says it lifted the versions:\n%s", out)
	}
	if st := mustEtlq(t, "status", "--log", logURL, file); !strings.Contains(st, "versions lifted by ") {
		t.Errorf("status does not show the group's lift:\n%s", st)
	}
	for _, w := range workers {
		w.running(t)
		w.stop(t)
	}
	capture.stop(t)
}

// TestLogResnapshot: `etlq resnapshot FILE PIPELINE --log …` reaches the
// capture, which keeps no state directory: the table is read again into
// the log, and its end, copied to every partition, makes the two workers
// remove the keys the source no longer has. The target, spoiled by hand
// (rows changed, keys added that the source never had), ends equal to the
// source. Before, the command had no --log, and a request written to a
// state directory was read by no process of the scale-out.
func TestLogResnapshot(t *testing.T) {
	t.Parallel()
	sc := newLogScene(t, 3000)
	logURL, db, my, ch, tbl, file := sc.logURL, sc.db, sc.my, sc.ch, sc.tbl, sc.file
	myQ, chQ, capture, workers := sc.myQ, sc.chQ, sc.capture, sc.workers

	// Spoil the target: rows changed and keys the source never had, at
	// the largest version there (as a stray writer would leave them).
	var cols []string
	for _, r := range chCells(t, ch, "SELECT name FROM system.columns WHERE database = '"+db+"' AND table = 't'") {
		cols = append(cols, r[0])
	}
	spoil := func(idExpr, where string) {
		var sel []string
		for _, c := range cols {
			switch c {
			case "id":
				sel = append(sel, idExpr)
			case "status":
				sel = append(sel, "'spoilt'")
			case "_version":
				sel = append(sel, fmt.Sprintf("(SELECT max(_version) FROM %s.t)", db))
			default:
				sel = append(sel, c)
			}
		}
		q := fmt.Sprintf("INSERT INTO %s.t (%s) SELECT %s FROM %s.t WHERE %s", db, strings.Join(cols, ", "), strings.Join(sel, ", "), db, where)
		if err := ch.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	spoil("id", "id <= 40")
	spoil("id + 100000", "id <= 40")
	if got := chRows(t, ch, "SELECT toString(count()) FROM "+db+".t_current WHERE status = 'spoilt'"); len(got) != 1 || got[0] != "80" {
		t.Fatalf("spoilt rows in the target: %v, want 80", got)
	}
	out, err := runEtlq(t, "resnapshot", "--log", logURL, "--wait", "60s", file, "p")
	if err != nil {
		t.Fatalf("resnapshot --log: %v\n%s", err, out)
	}
	t.Logf("resnapshot: %s", out)
	myExec(t, my, "UPDATE "+tbl+" SET status = 'after' WHERE id % 9 = 0")
	workers[0].waitSame(t, my, ch, myQ, chQ, 90*time.Second)
	logs := workers[0].out.String() + workers[1].out.String()
	if !strings.Contains(logs, "resnapshot: removing the range's rows the source no longer has") {
		t.Errorf("no worker removed the keys the source no longer has:\n%s", logs)
	}
	for _, w := range workers {
		w.running(t)
		w.stop(t)
	}
	if c := capture.stop(t); !strings.Contains(c, "resnapshot in the log") {
		t.Errorf("the capture does not say the resnapshot is in the log:\n%s", c)
	}
}

// workerMetrics returns, from a /metrics page, the value of metric name
// per worker label.
func workerMetrics(page, name string) map[string]float64 {
	out := map[string]float64{}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\{([^}]*)\} (\S+)$`)
	wl := regexp.MustCompile(`worker="([^"]*)"`)
	for _, m := range re.FindAllStringSubmatch(page, -1) {
		w := wl.FindStringSubmatch(m[1])
		if w == nil {
			continue
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		out[w[1]] = v
	}
	return out
}

// TestLogWorkerMetrics: one process runs two workers (--workers 2); its
// /metrics shows each worker's partitions, messages handed over and
// acknowledged, and lag, labelled by worker. Before, the workers' figures
// were summed (the partitions) or the last worker's alone (the lag).
func TestLogWorkerMetrics(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	logURL := testenv.NATSURL(t) + "/" + testenv.UniqueName(t)
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	tbl := db + ".t"
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+tbl+" (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
	seed(t, my, tbl, 4000)
	t.Cleanup(func() { deleteLog(t, logURL, "s") })
	dir := t.TempDir()
	file := filepath.Join(dir, "log.etl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d, chunk_rows = 500);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t
  TRANSFORM id, status, amount
  INTO clickhouse dw.%s.t MODE upsert KEY (id)
  WITH (flush_interval = '100ms');
`, myDSN, testServerID(), s.chDSN, db, db))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	capture := startEtlq(t, "capture", "--log", logURL, "--partitions", "4", file)
	w := startEtlq(t, "apply", "--log", logURL, "--workers", "2", "--lease", "2s", "--state-dir", filepath.Join(dir, "w"),
		"--progress", "never", "--metrics-addr", addr, file)
	myQ := "SELECT id, status, CAST(amount AS CHAR) FROM " + tbl + " ORDER BY id"
	chQ := "SELECT toString(id), status, toString(amount) FROM " + db + ".t_current ORDER BY id"
	w.waitSame(t, my, ch, myQ, chQ, 90*time.Second)
	var page string
	scrape := func() (owned, acked map[string]float64, err error) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		page = string(b)
		return workerMetrics(page, "etlq_log_worker_partitions_owned"), workerMetrics(page, "etlq_log_worker_acked_total"), nil
	}
	// The leases settle two partitions on each worker; one worker may
	// have read the snapshot alone before the other took its share, so
	// the changes that show both acknowledging are made after.
	w.waitFor(t, "each worker holds 2 partitions", 60*time.Second, func() (bool, string) {
		owned, _, err := scrape()
		if err != nil {
			return false, err.Error()
		}
		return owned["0"] == 2 && owned["1"] == 2, fmt.Sprintf("owned %v", owned)
	})
	myExec(t, my, "UPDATE "+tbl+" SET status = 'x' WHERE id % 5 = 0")
	w.waitSame(t, my, ch, myQ, chQ, 90*time.Second)
	w.waitFor(t, "each worker holds 2 partitions and acknowledged messages", 60*time.Second, func() (bool, string) {
		owned, acked, err := scrape()
		if err != nil {
			return false, err.Error()
		}
		return owned["0"] == 2 && owned["1"] == 2 && acked["0"] > 0 && acked["1"] > 0, fmt.Sprintf("owned %v, acked %v", owned, acked)
	})
	for _, name := range []string{"etlq_log_worker_messages_total", "etlq_log_worker_lag_messages", "etlq_log_worker_lag_seconds"} {
		if m := workerMetrics(page, name); len(m) != 2 {
			t.Errorf("%s: want one sample per worker, got %v", name, m)
		}
	}
	handed, acked := workerMetrics(page, "etlq_log_worker_messages_total"), workerMetrics(page, "etlq_log_worker_acked_total")
	for _, k := range []string{"0", "1"} {
		if acked[k] > handed[k] {
			t.Errorf("worker %s acknowledged %v messages of %v handed over", k, acked[k], handed[k])
		}
	}
	if v := metricValue(page, `etlq_log_partitions_owned{source="s"}`); v != 4 {
		t.Errorf("etlq_log_partitions_owned: %v, want 4", v)
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", page)
	}
	w.stop(t)
	capture.stop(t)
}

// TestLogVerify: `etlq verify --log` confirms a difference only once the
// workers acknowledged, in every partition, the messages up to the source
// position its re-check read at: a writer keeps changing other keys and no
// lag is reported as a difference, while the keys spoilt in ClickHouse are
// (missing, changed, extra). With the workers stopped, a change at the
// source stays unconfirmed (exit 2), never exit 1. Before, verify had no
// --log and read positions from a state directory, where the workers keep
// delivery numbers.
func TestLogVerify(t *testing.T) {
	t.Parallel()
	sc := newLogScene(t, 3000)
	myDSN, logURL, db, my, ch, tbl, file := sc.myDSN, sc.logURL, sc.db, sc.my, sc.ch, sc.tbl, sc.file
	capture, workers := sc.capture, sc.workers
	if v, code, out := runVerify(t, "--log", logURL, file); code != 0 || !v.OK {
		t.Fatalf("verify --log of a correct target: exit %d:\n%s", code, out)
	}

	// A writer keeps inserting and updating other keys from now on.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := testenv.MySQLConn(t, myDSN)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c.Execute(fmt.Sprintf("INSERT INTO %s VALUES (%d, 'new', 1.50)", tbl, 100000+i))
			c.Execute(fmt.Sprintf("UPDATE %s SET status = 'upd%d', amount = amount + 1 WHERE id = %d", tbl, i%100, 1000+i%900))
			time.Sleep(10 * time.Millisecond)
		}
	}()
	halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer halt()
	for _, q := range []string{
		fmt.Sprintf("ALTER TABLE %s.t DELETE WHERE id = 5", db),
		fmt.Sprintf("ALTER TABLE %s.t UPDATE status = 'TAMPERED' WHERE id = 6", db),
		fmt.Sprintf("INSERT INTO %s.t (id, status, amount, _version, _is_deleted) SELECT 999999, 'X', 1, 1, 0", db),
	} {
		if err := ch.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	waitCHCount(t, sc.chDSN, fmt.Sprintf("SELECT countIf(id = 5) * 10 + countIf(status = 'TAMPERED') FROM %s.t", db), 1, time.Minute)
	v, code, out := runVerify(t, "--log", logURL, file)
	if code != 1 || v.OK || len(v.Pipelines) != 1 {
		t.Fatalf("verify --log of a spoilt target under a writer: exit %d:\n%s", code, out)
	}
	r := v.Pipelines[0]
	var keys []string
	for _, d := range r.Diffs {
		keys = append(keys, d.Key)
	}
	sort.Strings(keys)
	if r.Missing != 1 || r.Changed != 1 || r.Extra != 1 || strings.Join(keys, " ") != "5 6 999999" || r.Unconfirmed != "" {
		t.Fatalf("want key 5 missing, 6 changed, 999999 extra and nothing else (no lag): got %v:\n%s", keys, out)
	}
	t.Logf("under a writer: %d keys re-checked, 3 confirmed", r.Rechecked)
	halt()
	// The source idle: the position of the re-check is the last one the
	// capture published (or a later idle mark); confirmed all the same.
	v, code, out = runVerifyLag(t, "30s", "--log", logURL, file)
	if code != 1 || len(v.Pipelines) != 1 || v.Pipelines[0].Differences() != 3 || v.Pipelines[0].Unconfirmed != "" {
		t.Fatalf("verify --log of a spoilt target, the source idle: want 3 confirmed differences: exit %d:\n%s", code, out)
	}

	// The workers stopped: a change at the source cannot be told from lag.
	for _, wk := range workers {
		wk.stop(t)
	}
	myExec(t, my, "UPDATE "+tbl+" SET status = 'later' WHERE id = 8")
	v, code, out = runVerifyLag(t, "3s", "--log", logURL, file)
	if code != 2 || v.OK || v.Pipelines[0].Unconfirmed == "" {
		t.Fatalf("verify --log with the workers stopped behind the source: want exit 2, unconfirmed: exit %d:\n%s", code, out)
	}
	t.Logf("workers stopped: %s", v.Pipelines[0].Unconfirmed)
	capture.stop(t)
}

// logScene is a table of rows rows (id, status, amount) read by a capture
// into 4 partitions and by two workers (state directories w1, w2) into an
// upsert ClickHouse target, which equals the source when it returns.
type logScene struct {
	myDSN, chDSN, logURL, db, tbl, dir, file, myQ, chQ string
	my                                                 *client.Conn
	ch                                                 driver.Conn
	capture                                            *liveApply
	workers                                            []*liveApply
}

func newLogScene(t *testing.T, rows int) *logScene {
	t.Helper()
	myDSN := testenv.MySQLDSN(t)
	sc := &logScene{myDSN: myDSN, logURL: testenv.NATSURL(t) + "/" + testenv.UniqueName(t)}
	s := newScratch(t, myDSN)
	sc.db, sc.my, sc.ch, sc.chDSN = s.db, s.my, s.ch, s.chDSN
	sc.tbl = sc.db + ".t"
	myExec(t, sc.my, "CREATE DATABASE "+sc.db, "CREATE TABLE "+sc.tbl+" (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
	seed(t, sc.my, sc.tbl, rows)
	t.Cleanup(func() { deleteLog(t, sc.logURL, "s") })
	sc.dir = t.TempDir()
	sc.file = filepath.Join(sc.dir, "log.etl")
	writeFile(t, sc.file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d, chunk_rows = 1000);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t
  TRANSFORM id, status, amount
  INTO clickhouse dw.%s.t MODE upsert KEY (id)
  WITH (flush_interval = '100ms');
`, myDSN, testServerID(), s.chDSN, sc.db, sc.db))
	sc.myQ = "SELECT id, status, CAST(amount AS CHAR) FROM " + sc.tbl + " ORDER BY id"
	sc.chQ = "SELECT toString(id), status, toString(amount) FROM " + sc.db + ".t_current ORDER BY id"
	sc.capture = startEtlq(t, "capture", "--log", sc.logURL, "--partitions", "4", sc.file)
	for _, name := range []string{"w1", "w2"} {
		sc.workers = append(sc.workers, startEtlq(t, "apply", "--log", sc.logURL, "--lease", "2s", "--state-dir", filepath.Join(sc.dir, name), "--progress", "never", sc.file))
	}
	sc.workers[0].waitSame(t, sc.my, sc.ch, sc.myQ, sc.chQ, 90*time.Second)
	return sc
}
