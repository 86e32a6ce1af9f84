package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestServerRestarts: etlq streams two sources into ClickHouse under live
// writers while, on private servers, (a) both MariaDBs (one with
// binlog_row_metadata=FULL, one with the default) are stopped cleanly, left
// down for a few seconds and started again, and (b) ClickHouse is stopped
// for 20 s and started again. The running etlq must ride out both: after
// each restart a row written afterwards reaches ClickHouse from each source
// without restarting etlq. At the end etlq is killed, apply --once catches
// up, and each _current view equals its source row by row.
func TestServerRestarts(t *testing.T) {
	t.Parallel()
	// The shared servers answering means the server binaries are here
	// (and CI=true turns their absence into a failure).
	testenv.MySQLDSN(t)
	testenv.ClickHouseDSN(t)
	ps := startPrivateServices(t, "mariadb-a", "mariadb-b", "clickhouse")
	chDSN := ps.CHDSN
	sources := []struct{ name, server, dsn string }{
		{"a", "mariadb-a", ps.MySQLDSN},
		{"b", "mariadb-b", ps.MySQLMinimalDSN},
	}

	db := testenv.UniqueName(t)
	const keys = 30000
	var src strings.Builder
	fmt.Fprintf(&src, "CREATE SINK dw INTO clickhouse '%s';\n", chDSN)
	for _, s := range sources {
		my := testenv.MySQLConn(t, s.dsn)
		myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
		seed(t, my, db+".t", 20000)
		my.Close()
		fmt.Fprintf(&src, `CREATE SOURCE %s FROM mysql '%s' WITH (chunk_rows = 5000);
CREATE PIPELINE p_%s FROM binlog %s.%s.t
  TRANSFORM id, status, amount, _op, _pos
  INTO clickhouse dw.%s.t_%s MODE upsert KEY (id)
  WITH (batch_rows = 2000, flush_interval = '100ms');
`, s.name, s.dsn, s.name, s.name, db, db, s.name)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "restart.etl")
	if err := os.WriteFile(file, []byte(src.String()), 0o644); err != nil {
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
	audits := make(chan error, len(sources))
	var auditMu sync.Mutex
	for _, s := range sources {
		go func() { audits <- auditInserts(chDSN, db, "t_"+s.name, cmd.Process, &auditMu) }()
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	logShown := false
	showLog := func() {
		logShown = true
		b, _ := os.ReadFile(logPath)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		t.Logf("etlq log (last lines):\n%s", strings.Join(lines, "\n"))
	}
	// A wait that gives up (a marker not in ClickHouse in time) fails the
	// test from a helper: show the log then too (a run at load ~15 timed
	// out on the first marker and said nothing of etlq).
	t.Cleanup(func() {
		if t.Failed() && !logShown {
			showLog()
		}
	})
	alive := func(when string) {
		t.Helper()
		select {
		case err := <-exited:
			showLog()
			t.Fatalf("etlq exited %s: %v", when, err)
		default:
		}
	}

	// When each phase began, to set against the writers' statements and
	// the binlog's events in restartDiagnosis.
	stamp := func(what string) { t.Logf("%s at %s", what, time.Now().UTC().Format("15:04:05.000")) }
	stamp("etlq started")
	var writers []*churn
	for _, s := range sources {
		w := startChurn(t, s.dsn, db+".t", keys, churnOptions{workers: 1, pause: 2 * time.Millisecond, journal: true})
		defer w.halt()
		writers = append(writers, w)
	}
	// markers writes row keys+n at each source and waits until both are in
	// ClickHouse: each source's stream goes on.
	markers := func(n int, timeout time.Duration) time.Duration {
		t.Helper()
		var took time.Duration
		for _, s := range sources {
			c := testenv.MySQLConn(t, s.dsn)
			myExec(t, c, fmt.Sprintf("INSERT INTO %s.t VALUES (%d, 'marker', 0)", db, keys+n))
			c.Close()
			took = max(took, waitCHCount(t, chDSN, fmt.Sprintf("SELECT count() FROM %s.t_%s_current WHERE id > %d", db, s.name, keys), uint64(n), timeout))
		}
		return took
	}
	// The snapshots are in and the streams follow.
	took := markers(1, 60*time.Second)
	t.Logf("snapshots and first markers in ClickHouse after %v", took.Round(100*time.Millisecond))

	// (a) Both MariaDBs restart.
	stamp("MariaDBs stopping")
	ps.run(t, "down", "mariadb-a", "mariadb-b")
	time.Sleep(3 * time.Second)
	stamp("MariaDBs starting")
	ps.run(t, "up", "mariadb-a", "mariadb-b")
	stamp("MariaDBs up")
	alive("after the MariaDB restarts")
	took = markers(2, 90*time.Second)
	alive("after the MariaDB restarts")
	t.Logf("MariaDBs restarted; rows written after it reached ClickHouse %v later", took.Round(100*time.Millisecond))

	// (b) ClickHouse is away for 20 s.
	stamp("ClickHouse stopping")
	ps.run(t, "down", "clickhouse")
	time.Sleep(20 * time.Second)
	alive("while ClickHouse was down")
	stamp("ClickHouse starting")
	ps.run(t, "up", "clickhouse")
	stamp("ClickHouse up")
	took = markers(3, 90*time.Second)
	alive("after the ClickHouse restart")
	t.Logf("ClickHouse restarted; rows written after it reached ClickHouse %v later", took.Round(100*time.Millisecond))

	for range sources {
		if err := <-audits; err != nil {
			t.Log(err)
		}
	}
	for _, w := range writers {
		w.halt()
		t.Logf("writer: %d operations, %d errors during the restarts", w.ops.Load(), w.errors.Load())
	}
	stamp("etlq killed")
	cmd.Process.Kill()
	<-exited

	// Every line is JSON, the connectors' warnings included, and they say
	// what happened.
	log, _ := os.ReadFile(logPath)
	msgs := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		var rec struct{ Msg, Source string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("--log-format json, but this line is not JSON: %s", line)
			continue
		}
		msgs[rec.Msg+" "+rec.Source]++
	}
	for _, want := range []string{"binlog connection lost; reconnecting a", "binlog connection lost; reconnecting b", "clickhouse: insert failed, retrying "} {
		if msgs[want] == 0 {
			showLog()
			t.Errorf("etlq's log does not say %q", want)
		}
	}

	stamp("apply --once")
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	ch := testenv.ClickHouseConn(t, chDSN)
	for i, s := range sources {
		my := testenv.MySQLConn(t, s.dsn)
		failed := t.Failed()
		n := compareTable(t, my, ch, db, "t", db, "t_"+s.name, db+".t_"+s.name+"_current")
		t.Logf("source %s: %d rows compared", s.name, n)
		if a, err := chCount(chDSN, "SELECT count() FROM "+db+".audit_t_"+s.name); err == nil {
			t.Logf("source %s: %d rows inserted into ClickHouse since auditInserts began", s.name, a)
			snapshotOrder(t, ch, db, "t_"+s.name)
		} else {
			t.Logf("source %s: no audit of inserts: %v", s.name, err)
		}
		if !failed && t.Failed() {
			restartDiagnosis(t, my, ch, db, "t_"+s.name, logPath, ps, s.server, state, writers[i])
		}
	}
}

// auditInserts keeps every row etlq inserts into db.table, merges or not:
// once etlq has created the table, a materialized view copies each insert
// into db.audit_<table> (a plain MergeTree, which removes no version), with
// the time ClickHouse took it. Rows inserted before the view exists are
// not there. Best effort: it is for restartDiagnosis only.
//
// The view is created while etlq is stopped (SIGSTOP … SIGCONT; mu makes
// the tables' views one at a time): ClickHouse 18.16 registers a
// materialized view as a dependency of its source table before the view
// itself exists, and an INSERT that begins in between fails with code 60,
// "Table db.audit_t_a doesn't exist", which stops etlq's pipeline: 1 run
// in 8 at load ~25 ended so. An INSERT etlq sent
// just before the stop may still be starting on the server: it gets half
// a second first.
func auditInserts(dsn, db, table string, etlq *os.Process, mu *sync.Mutex) error {
	var last error
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		n, err := chCount(dsn, fmt.Sprintf("SELECT count() FROM system.tables WHERE database = '%s' AND name = '%s'", db, table))
		if err != nil || n == 0 {
			last = err
			continue
		}
		o, err := clickhouse.ParseDSN(dsn)
		if err != nil {
			return err
		}
		c, err := clickhouse.Open(o)
		if err != nil {
			last = err
			continue
		}
		err = func() error {
			mu.Lock()
			defer mu.Unlock()
			if etlq.Signal(syscall.SIGSTOP) == nil {
				defer etlq.Signal(syscall.SIGCONT)
				time.Sleep(500 * time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return c.Exec(ctx, fmt.Sprintf("CREATE MATERIALIZED VIEW IF NOT EXISTS %s.audit_%s ENGINE = MergeTree ORDER BY (id, _version) AS SELECT id, status, amount, _op, _pos, _version, _is_deleted, now() AS ins_at FROM %s.%s", db, table, db, table))
		}()
		c.Close()
		if err == nil {
			return nil
		}
		last = err
	}
	return fmt.Errorf("no audit of %s.%s: %v", db, table, last)
}

// restartDiagnosis logs, for a target that differs from its source, every
// version ClickHouse holds of the first differing keys, every row etlq
// inserted for them (auditInserts), their row events in the source
// server's binlog with their positions, and etlq's snapshot and reconnect
// log lines; it keeps the log, the checkpoints and the decoded binlog in a
// directory under the system temp dir, which it names. Once (1 run in ~10)
// a key held its seeded snapshot value instead of a writer's update, and
// the failure said no more than the row.
func restartDiagnosis(t *testing.T, my *client.Conn, ch driver.Conn, db, chTable, logPath string, ps *privateServices, server, state string, w *churn) {
	t.Helper()
	src := map[string]string{}
	for _, r := range myRows(t, my, "SELECT id, status, amount FROM "+db+".t") {
		id, rest, _ := strings.Cut(r, "|")
		src[id] = rest
	}
	var ids []string
	for _, r := range chRows(t, ch, "SELECT toString(id), status, toString(amount) FROM "+db+"."+chTable+"_current") {
		id, rest, _ := strings.Cut(r, "|")
		if src[id] != rest && len(ids) < 5 {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	for _, r := range chRows(t, ch, "SELECT toString(id), status, toString(amount), toString(_op), _pos, toString(_version), toString(_is_deleted) FROM "+db+"."+chTable+" WHERE id IN ("+strings.Join(ids, ",")+") ORDER BY id, _version") {
		t.Logf("ClickHouse %s version of a differing key (id|status|amount|_op|_pos|_version|_is_deleted): %s", chTable, r)
	}
	for _, r := range chRows(t, ch, "SELECT toString(id), status, toString(amount), toString(_op), _pos, toString(_version), toString(_is_deleted), toString(ins_at) FROM "+db+".audit_"+chTable+" WHERE id IN ("+strings.Join(ids, ",")+") ORDER BY id, ins_at, _version") {
		t.Logf("inserted into %s (id|status|amount|_op|_pos|_version|_is_deleted|inserted at): %s", chTable, r)
	}
	for _, id := range ids {
		for _, op := range w.touching(id) {
			t.Logf("writer statement naming key %s: %s", id, op)
		}
	}
	keep, err := os.MkdirTemp("", "restart-diag-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("diagnosis kept in %s", keep)
	var scratch string
	for _, e := range ps.env {
		if v, ok := strings.CutPrefix(e, "ETLQ_SCRATCH="); ok {
			scratch = v
		}
	}
	binlogs, _ := filepath.Glob(filepath.Join(scratch, server, "binlog", "binlog.[0-9]*"))
	for _, f := range binlogs {
		out, err := exec.Command("mariadb-binlog", "--no-defaults", "--base64-output=decode-rows", "--verbose", f).Output()
		if err != nil {
			t.Logf("mariadb-binlog %s: %v", f, err)
			continue
		}
		os.WriteFile(filepath.Join(keep, server+"-"+filepath.Base(f)+".txt"), out, 0o644)
		for _, ev := range keyEvents(string(out), db, ids) {
			t.Logf("%s %s: %s", server, filepath.Base(f), ev)
		}
	}
	exec.Command("cp", "-r", logPath, state, keep).Run()
	b, _ := os.ReadFile(logPath)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "snapshot") || strings.Contains(line, "reconnect") || strings.Contains(line, "clickhouse") {
			t.Logf("etlq: %s", line)
		}
	}
}

// keyEvents returns, from mariadb-binlog --verbose output, the row events
// of table db.t that name one of ids as @1, each with the position of its
// transaction's start, its own and the end of its transaction's commit.
func keyEvents(dump, db string, ids []string) []string {
	want := map[string]bool{}
	for _, id := range ids {
		want["###   @1="+id] = true
	}
	endPos := regexp.MustCompile(`end_log_pos (\d+)`)
	var out []string
	var at, txAt, gtid string
	var block []string
	pending := -1 // out index whose commit end is not known yet
	flush := func() {
		if len(block) > 0 && strings.Contains(block[0], "`"+db+"`.`t`") {
			for _, l := range block {
				if want[strings.TrimSpace(l)] || want[l] {
					out = append(out, fmt.Sprintf("tx at %s (%s), event at %s: %s", txAt, gtid, at, strings.Join(block, " ")))
					pending = len(out) - 1
					break
				}
			}
		}
		block = nil
	}
	for _, l := range strings.Split(dump, "\n") {
		if strings.HasPrefix(l, "### ") {
			if strings.HasPrefix(l, "### INSERT") || strings.HasPrefix(l, "### UPDATE") || strings.HasPrefix(l, "### DELETE") {
				flush()
			}
			block = append(block, l)
			continue
		}
		flush()
		switch {
		case strings.HasPrefix(l, "# at "):
			at = strings.TrimPrefix(l, "# at ")
		case strings.Contains(l, "\tGTID "):
			txAt, gtid = at, l[strings.Index(l, "\tGTID ")+1:]
		case strings.Contains(l, "\tXid = ") && pending >= 0:
			if m := endPos.FindStringSubmatch(l); m != nil {
				out[pending] += " (commit ends at " + m[1] + ")"
			}
			pending = -1
		}
	}
	return out
}

// snapshotOrder checks, over every row etlq inserted (auditInserts), that
// each snapshot row of a key is ordered against the key's binlog changes
// as their positions are: a change before the chunk's position has a
// smaller _version, one at or after it a larger one (docs/snapshot.md,
// "Why the final state is exact"). A change out of that order is the
// snapshot race the final comparison sees only when the change was the
// key's last; this sees it every time.
func snapshotOrder(t *testing.T, ch driver.Conn, db, table string) {
	t.Helper()
	type row struct {
		op  string
		pos [2]uint64
		ver uint64
	}
	parse := func(p string) ([2]uint64, bool) {
		file, off, ok := strings.Cut(p, ":")
		if !ok {
			return [2]uint64{}, false
		}
		i := strings.LastIndexByte(file, '.')
		f, err1 := strconv.ParseUint(file[i+1:], 10, 64)
		o, err2 := strconv.ParseUint(off, 10, 64)
		return [2]uint64{f, o}, err1 == nil && err2 == nil
	}
	less := func(a, b [2]uint64) bool { return a[0] < b[0] || a[0] == b[0] && a[1] < b[1] }
	byKey := map[string][]row{}
	reads, unread := 0, 0
	for _, r := range chRows(t, ch, "SELECT DISTINCT toString(id), toString(_op), _pos, toString(_version) FROM "+db+".audit_"+table) {
		f := strings.Split(r, "|")
		p, ok := parse(f[2])
		v, err := strconv.ParseUint(f[3], 10, 64)
		if !ok || err != nil {
			if unread++; unread == 1 {
				t.Logf("%s: audit row %s: cannot read its _pos or _version; such rows are left out", table, r)
			}
			continue
		}
		if f[1] == "read" {
			reads++
		}
		byKey[f[0]] = append(byKey[f[0]], row{f[1], p, v})
	}
	bad := 0
	for id, rows := range byKey {
		for _, r := range rows {
			if r.op != "read" {
				continue
			}
			for _, c := range rows {
				if c.op == "read" || c.ver == r.ver {
					continue
				}
				if less(c.pos, r.pos) != (c.ver < r.ver) {
					if bad++; bad <= 5 {
						t.Errorf("%s key %s: snapshot row at %d:%d has _version %d, its change (%s) at %d:%d has _version %d: out of the binlog's order",
							table, id, r.pos[0], r.pos[1], r.ver, c.op, c.pos[0], c.pos[1], c.ver)
					}
				}
			}
		}
	}
	t.Logf("%s: %d snapshot rows audited against their keys' changes, %d out of order", table, reads, bad)
}
