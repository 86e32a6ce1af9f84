package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
	"github.com/etlq/etlq/exec/engine"
)

// verifyOutput is `etlq verify --format json`.
type verifyOutput struct {
	Pipelines []*engine.VerifyResult `json:"pipelines"`
	OK        bool                   `json:"ok"`
}

// runVerify runs etlq verify --format json and returns its result and exit
// code.
func runVerify(t *testing.T, args ...string) (verifyOutput, int, string) {
	t.Helper()
	return runVerifyLag(t, "90s", args...)
}

// runVerifyLag is runVerify with another --lag-timeout.
func runVerifyLag(t *testing.T, lag string, args ...string) (verifyOutput, int, string) {
	t.Helper()
	out, err := runEtlq(t, append([]string{"verify", "--format", "json", "--progress", "never", "--lag-timeout", lag}, args...)...)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var v verifyOutput
	// (A Decoder: a line on standard error may follow the JSON.)
	if i := strings.Index(out, "{"); i < 0 || json.NewDecoder(strings.NewReader(out[i:])).Decode(&v) != nil {
		t.Fatalf("etlq verify (exit %d) printed no result:\n%s", code, out)
	}
	return v, code, out
}

// TestVerify: verify passes on a correct target; finds a row deleted, one
// changed and one added directly in ClickHouse while a writer keeps writing
// to the source (and the pipeline keeps applying), with no false report from
// lag; --repair fixes them and verify passes again. The pipeline's WHERE and
// TRANSFORM shape the rows compared, and the columns cover the types whose
// text differs most between the two sides; _op, _ts and _version, which
// differ between the change written and verify's fresh read, are not
// compared (the shop example has them too).
func TestVerify(t *testing.T) {
	t.Parallel()
	onBothServers(t, testVerify)
}

func testVerify(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, chDSN := s.db, s.my, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(32) NOT NULL, amount DECIMAL(12,2), d DATE, ts DATETIME(6), f DOUBLE, n INT NULL, flag TINYINT(1), tz TIMESTAMP(3) NULL)")
	var vals []string
	for i := 1; i <= 3000; i++ {
		n := fmt.Sprint(i % 7)
		if i%5 == 0 {
			n = "NULL"
		}
		vals = append(vals, fmt.Sprintf("(%d, 'v%d', %d.%02d, '2024-%02d-%02d', '2024-03-01 10:00:%02d.%06d', %d.25, %s, %d, '2024-10-27 0%d:30:00.%03d')", i, i, i*3, i%100, i%12+1, i%28+1, i%60, i*7, i, n, i%2, i%4, i%1000))
		if len(vals) == 500 {
			myExec(t, my, "INSERT INTO "+db+".t VALUES "+strings.Join(vals, ", "))
			vals = nil
		}
	}
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t WHERE id %% 10 != 7
  TRANSFORM id, upper(v) AS v, amount, d, ts, f, n, flag, tz, _op, _ts, _version
  INTO clickhouse dw.%s.t MODE upsert KEY (id);
`, myDSN, testServerID(), chDSN, db, db))

	a := startApply(t, state, file)
	live := fmt.Sprintf("SELECT count() FROM %s.t FINAL WHERE _is_deleted = 0", db)
	a.waitFor(t, "the snapshot", 2*time.Minute, func() (bool, string) {
		n, err := chCount(chDSN, live)
		return err == nil && n == 2700, fmt.Sprintf("%d, %v", n, err)
	})

	v, code, out := runVerify(t, "--state-dir", state, file)
	if code != 0 || !v.OK || len(v.Pipelines) != 1 || v.Pipelines[0].SourceRows != 2700 || v.Pipelines[0].TargetRows != 2700 {
		t.Fatalf("verify of a correct target: exit %d:\n%s", code, out)
	}

	// A writer keeps inserting and updating other keys from now on.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w := testenv.MySQLConn(t, myDSN)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			w.Execute(fmt.Sprintf("INSERT INTO %s.t VALUES (%d, 'new%d', 1.50, '2025-01-01', NULL, 0, NULL, 1, NOW(3))", db, 100000+i, i))
			w.Execute(fmt.Sprintf("UPDATE %s.t SET v = 'upd%d', amount = amount + 1 WHERE id = %d", db, i, 1000+i%900))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	// Tamper with the target directly: a row deleted, one changed, one
	// added (the mutations of 18.16 are asynchronous: wait for them).
	ctx := context.Background()
	for _, q := range []string{
		fmt.Sprintf("ALTER TABLE %s.t DELETE WHERE id = 5", db),
		fmt.Sprintf("ALTER TABLE %s.t UPDATE v = 'TAMPERED' WHERE id = 6", db),
		fmt.Sprintf("INSERT INTO %s.t (id, v, amount, d, ts, f, n, flag, tz, _version, _is_deleted) SELECT 999999, 'X', 1, toDate('2024-01-01'), 0, 0, NULL, 0, NULL, 1, 0", db),
	} {
		if err := s.ch.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	waitCHCount(t, chDSN, fmt.Sprintf("SELECT countIf(id = 5) * 10 + countIf(v = 'TAMPERED') FROM %s.t", db), 1, time.Minute)

	v, code, out = runVerify(t, "--state-dir", state, file)
	a.running(t)
	if code != 1 || v.OK || len(v.Pipelines) != 1 {
		t.Fatalf("verify of a tampered target: exit %d:\n%s", code, out)
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
	t.Logf("tampered run: %d keys re-checked, 3 confirmed", r.Rechecked)
	for _, d := range r.Diffs {
		if d.Key == "6" && (!strings.Contains(d.Source, "\x1fV6\x1f") || !strings.Contains(d.Target, "\x1fTAMPERED\x1f")) {
			t.Fatalf("key 6 should show both values:\n%s", out)
		}
	}

	v, code, out = runVerify(t, "--state-dir", state, "--repair", file)
	if code != 0 || !v.OK || v.Pipelines[0].Repaired != 3 {
		t.Fatalf("verify --repair: exit %d:\n%s", code, out)
	}
	close(stop)
	wg.Wait()
	// The writer's last changes and the repair both stand: verify passes
	// with the writer stopped, and the repaired keys hold the source's rows.
	v, code, out = runVerify(t, "--state-dir", state, file)
	if code != 0 || !v.OK {
		t.Fatalf("verify after the repair: exit %d:\n%s", code, out)
	}
	got, err := chTry(s.ch, fmt.Sprintf("SELECT toString(id), v FROM %s.t FINAL WHERE _is_deleted = 0 AND id IN (5, 6, 999999) ORDER BY id", db))
	if err != nil || strings.Join(got, ",") != "5|V5,6|V6" {
		t.Fatalf("repaired rows: %v %v", got, err)
	}
	a.running(t)
	a.stop(t)

	// With the pipeline stopped, a change at the source cannot be told
	// from lag: the key shown as unconfirmed, never exit 1; no apply holds
	// the state directory, so exit 3 (apply not running).
	myExec(t, my, "UPDATE "+db+".t SET v = 'later' WHERE id = 8")
	v, code, out = runVerifyLag(t, "3s", "--state-dir", state, file)
	if code != 3 || v.OK || v.Pipelines[0].Unconfirmed == "" || !v.Pipelines[0].ApplyStopped || v.Pipelines[0].Differences() != 1 {
		t.Fatalf("verify with the pipeline stopped behind the source: want exit 3, unconfirmed, apply stopped: exit %d:\n%s", code, out)
	}
}

// TestVerifySnapshotOnly: a SNAPSHOT only pipeline applies nothing after
// its scan, so verify does not wait for its checkpoint: a row changed at
// the source since is a difference at once (exit 1), and --repair brings
// the target to the source.
func TestVerifySnapshotOnly(t *testing.T) {
	t.Parallel()
	s, file, state := snapshotOnlyTarget(t, testenv.MySQLDSN(t), "id INT PRIMARY KEY, v VARCHAR(16) NOT NULL", "(1, 'a'), (2, 'b'), (3, 'c')", "id, v", "id")
	db, my := s.db, s.my
	if v, code, out := runVerify(t, "--state-dir", state, file); code != 0 || !v.OK {
		t.Fatalf("verify after the snapshot: exit %d:\n%s", code, out)
	}
	myExec(t, my, "UPDATE "+db+".t SET v = 'z' WHERE id = 2", "DELETE FROM "+db+".t WHERE id = 3")
	// (Had verify waited for the checkpoint, which never moves, the keys
	// would come back unconfirmed with exit 2.)
	v, code, out := runVerify(t, "--state-dir", state, file)
	if code != 1 || v.Pipelines[0].Changed != 1 || v.Pipelines[0].Extra != 1 || v.Pipelines[0].Unconfirmed != "" {
		t.Fatalf("verify after source changes: exit %d:\n%s", code, out)
	}
	v, code, out = runVerify(t, "--repair", "--state-dir", state, file)
	if code != 0 || v.Pipelines[0].Repaired != 2 {
		t.Fatalf("verify --repair: exit %d:\n%s", code, out)
	}
	got, err := chTry(s.ch, fmt.Sprintf("SELECT toString(id), v FROM %s.t FINAL WHERE _is_deleted = 0 ORDER BY id", db))
	if err != nil || strings.Join(got, ",") != "1|a,2|z" {
		t.Fatalf("after the repair: %v %v", got, err)
	}
}

// TestVerifyRepairThenUpdate: a repair never hides a later change of the
// key it repaired. Two repairs in a row next to an idle running pipeline
// used to take _version = (largest in the target) + 1 each time, which put
// the second one above the next version the pipeline's stream assigns: the
// UPDATE of the repaired key that followed got a smaller _version than the
// repair row and never showed in the target.
func TestVerifyRepairThenUpdate(t *testing.T) {
	t.Parallel()
	s, file, state, a := startRepairable(t, testenv.MySQLDSN(t), "(1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')", 4)
	db, my, chDSN := s.db, s.my, s.chDSN
	ctx := context.Background()
	for _, id := range []int{2, 3} {
		q := fmt.Sprintf("ALTER TABLE %s.t UPDATE v = 'TAMPERED' WHERE id = %d", db, id)
		if err := s.ch.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		waitCHCount(t, chDSN, fmt.Sprintf("SELECT count() FROM %s.t WHERE v = 'TAMPERED' AND id = %d", db, id), 1, time.Minute)
		if v, code, out := runVerify(t, "--state-dir", state, "--repair", file); code != 0 || v.Pipelines[0].Repaired != 1 {
			t.Fatalf("verify --repair of key %d: exit %d:\n%s", id, code, out)
		}
	}
	myExec(t, my, "UPDATE "+db+".t SET v = 'later' WHERE id = 3")
	v, code, out := runVerify(t, "--state-dir", state, file)
	if code != 0 || !v.OK {
		t.Fatalf("the update of a repaired key is lost: exit %d:\n%s", code, out)
	}
	got, err := chTry(s.ch, fmt.Sprintf("SELECT toString(id), v FROM %s.t FINAL WHERE _is_deleted = 0 ORDER BY id", db))
	if err != nil || strings.Join(got, ",") != "1|a,2|b,3|later,4|d" {
		t.Fatalf("target: %v %v", got, err)
	}
	a.running(t)
}

// TestVerifyChangelog: a changelog target is verified by replaying its
// changes (the last change of each key, deletes, key moves and truncates
// removing keys) against the source's rows: equal after inserts, updates,
// deletes, a key change and a truncate; changes written into it by hand are found (a
// changed value, a delete, a key the source never had); --repair reports
// them without writing into the changelog; a changelog pipeline with a
// WHERE is refused with the reason.
func TestVerifyChangelog(t *testing.T) {
	t.Parallel()
	onBothServers(t, testVerifyChangelog)
}

func testVerifyChangelog(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, chDSN := s.db, s.my, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(16) NOT NULL, amount DECIMAL(10,2), at DATETIME(6))",
		"INSERT INTO "+db+".t VALUES (1, 'a', 1.50, '2024-01-01 10:00:00.123456'), (2, 'b', NULL, NULL), (3, 'c', 3, '2024-10-27 02:30:00'), (4, 'd', 4, NULL)")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t TRANSFORM id, upper(v) AS v, amount, at, _op INTO clickhouse dw.%s.log MODE changelog;
CREATE PIPELINE q FROM binlog s.%s.t WHERE amount > 2 TRANSFORM id, v INTO clickhouse dw.%s.log_where MODE changelog;
`, myDSN, testServerID(), chDSN, db, db, db, db))
	a := startApply(t, state, file)
	a.waitFor(t, "the snapshot", 2*time.Minute, func() (bool, string) {
		n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.log", db))
		return err == nil && n == 4, fmt.Sprintf("%d, %v", n, err)
	})
	myExec(t, my, "UPDATE "+db+".t SET v = 'b2', amount = 7 WHERE id = 2",
		"DELETE FROM "+db+".t WHERE id = 4",
		"INSERT INTO "+db+".t VALUES (5, 'e', 5, NOW(6)), (6, 'f', 6, NULL)",
		"UPDATE "+db+".t SET id = 10 WHERE id = 1",
		"UPDATE "+db+".t SET v = 'e2' WHERE id = 5")
	v, code, out := runVerify(t, "--state-dir", state, file, "p")
	if code != 0 || !v.OK || v.Pipelines[0].SourceRows != 5 {
		t.Fatalf("verify of a correct changelog: exit %d:\n%s", code, out)
	}
	// A truncate removes every change before it from the replay.
	myExec(t, my, "TRUNCATE TABLE "+db+".t", "INSERT INTO "+db+".t VALUES (20, 't', 2, NULL), (21, 'u', 3, '2024-01-01 00:00:00')")
	v, code, out = runVerify(t, "--state-dir", state, file, "p")
	if code != 0 || !v.OK || v.Pipelines[0].SourceRows != 2 {
		t.Fatalf("verify of a changelog after a truncate: exit %d:\n%s", code, out)
	}
	if out, err := runEtlq(t, "verify", "--state-dir", state, file, "q"); err == nil || !strings.Contains(out, "pipeline q: verify compares a changelog pipeline without WHERE only") {
		t.Fatalf("verify of a changelog pipeline with a WHERE: %v:\n%s", err, out)
	}

	// Changes written by hand, with versions above the pipeline's.
	ctx := context.Background()
	before, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.log", db))
	if err != nil {
		t.Fatal(err)
	}
	big := uint64(1) << 62
	for _, q := range []string{
		fmt.Sprintf("INSERT INTO %s.log (id, v, amount, at, _op, _ts, _pos, _version) SELECT id, 'TAMPERED', amount, at, 'update', _ts, _pos, %d FROM %s.log WHERE id = 20", db, big, db),
		fmt.Sprintf("INSERT INTO %s.log (id, v, amount, at, _op, _ts, _pos, _version) SELECT id, v, amount, at, 'delete', _ts, _pos, %d FROM %s.log WHERE id = 21", db, big+1, db),
		fmt.Sprintf("INSERT INTO %s.log (id, v, amount, at, _op, _ts, _pos, _version) SELECT 999, 'X', NULL, NULL, 'insert', _ts, _pos, %d FROM %s.log WHERE id = 21 AND _op = 'insert'", db, big+2, db),
	} {
		if err := s.ch.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	v, code, out = runVerify(t, "--state-dir", state, "--repair", file, "p")
	a.running(t)
	if code != 1 || v.OK {
		t.Fatalf("verify of a tampered changelog: exit %d:\n%s", code, out)
	}
	r := v.Pipelines[0]
	var keys []string
	for _, d := range r.Diffs {
		keys = append(keys, d.Key)
	}
	sort.Strings(keys)
	if r.Missing != 1 || r.Changed != 1 || r.Extra != 1 || strings.Join(keys, " ") != "20 21 999" || r.Unconfirmed != "" || r.Repaired != 0 || r.RepairSkipped == "" {
		t.Fatalf("want key 21 missing, 20 changed, 999 extra, not repaired: got %v:\n%s", keys, out)
	}
	if n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.log", db)); err != nil || n != before+3 {
		t.Fatalf("the changelog holds %d rows (%v), want its %d and the 3 written by hand: --repair wrote into it", n, err, before)
	}
}

// TestVerifyInServer: a pipeline of plain columns is checksummed inside
// MariaDB and ClickHouse (integers, strings, DECIMAL, DATE, DATETIME(6)
// with microseconds, TIMESTAMP, DOUBLE, ENUM, NULLs): equal targets pass
// on both servers; a row deleted, two changed (one of them a NULL made the
// text \N) and one added in ClickHouse while a writer keeps writing
// are found by bisecting their chunks and reported exactly as the
// streaming path reports them (same keys, same texts); --repair fixes
// them. A TRANSFORM outside the subset falls back to streaming and says so.
func TestVerifyInServer(t *testing.T) {
	t.Parallel()
	onBothServers(t, testVerifyInServer)
}

func testVerifyInServer(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, chDSN := s.db, s.my, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id BIGINT PRIMARY KEY, v VARCHAR(32) CHARACTER SET latin1 NOT NULL, w TEXT, amount DECIMAL(12,2), d DATE, ts DATETIME(6), tz TIMESTAMP(3) NULL, f DOUBLE, st ENUM('a','b'), n INT NULL)")
	var vals []string
	for i := 1; i <= 3000; i++ {
		n := fmt.Sprint(i % 7)
		if i%5 == 0 {
			n = "NULL"
		}
		w := fmt.Sprintf("'ü%d'", i)
		if i%9 == 0 {
			w = "NULL"
		}
		vals = append(vals, fmt.Sprintf("(%d, 'v%dé', %s, %d.%02d, '2024-%02d-%02d', '2024-03-01 10:00:%02d.%06d', '2024-10-27 0%d:30:00.%03d', %d.25, '%s', %s)",
			i*3, i, w, i*3, i%100, i%12+1, i%28+1, i%60, i*7, i%4, i%1000, i, []string{"a", "b"}[i%2], n))
		if len(vals) == 500 {
			myExec(t, my, "INSERT INTO "+db+".t VALUES "+strings.Join(vals, ", "))
			vals = nil
		}
	}
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d, chunk_rows = 700);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t TRANSFORM id, v AS name, w, amount, d, ts, tz, f, st, n, _op, _version INTO clickhouse dw.%s.t MODE upsert KEY (id);
CREATE PIPELINE q FROM binlog s.%s.t TRANSFORM id, upper(v) AS v INTO clickhouse dw.%s.u MODE upsert KEY (id);
`, myDSN, testServerID(), chDSN, db, db, db, db))
	a := startApply(t, state, file)
	a.waitFor(t, "the snapshot", 2*time.Minute, func() (bool, string) {
		n, err := chCount(chDSN, fmt.Sprintf("SELECT (SELECT count() FROM %s.t FINAL WHERE _is_deleted = 0) + (SELECT count() FROM %s.u FINAL WHERE _is_deleted = 0)", db, db))
		return err == nil && n == 6000, fmt.Sprintf("%d, %v", n, err)
	})
	v, code, out := runVerify(t, "--state-dir", state, file)
	if code != 0 || !v.OK || len(v.Pipelines) != 2 {
		t.Fatalf("verify of correct targets: exit %d:\n%s", code, out)
	}
	p, q := v.Pipelines[0], v.Pipelines[1]
	if p.Path != "in-server" || p.SourceRows != 3000 || p.TargetRows != 3000 || p.Chunks < 4 || p.Rechecked != 0 {
		t.Fatalf("pipeline p should be checksummed in the servers, with no suspect:\n%s", out)
	}
	if q.Path != "streaming" || !strings.Contains(q.Fallback, "upper") {
		t.Fatalf("pipeline q should fall back to streaming and say why:\n%s", out)
	}
	if text, _ := runEtlq(t, "verify", "--progress", "never", "--state-dir", state, file, "q"); !strings.Contains(text, "q: streamed through etlq, not checksummed in the servers: output v is computed") {
		t.Fatalf("the table output should name the fallback:\n%s", text)
	}

	// A writer keeps inserting and updating other keys from now on: lag
	// is never reported by either path.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w := testenv.MySQLConn(t, myDSN)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			w.Execute(fmt.Sprintf("INSERT INTO %s.t VALUES (%d, 'new', NULL, 1.50, '2025-01-01', NOW(6), NOW(3), 0.5, 'a', NULL)", db, 100000+i))
			w.Execute(fmt.Sprintf("UPDATE %s.t SET v = 'upd%d', amount = amount + 1 WHERE id = %d", db, i, 3*(i%300+20)))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()
	ctx := context.Background()
	for _, q := range []string{
		fmt.Sprintf("ALTER TABLE %s.t DELETE WHERE id = 15", db),
		fmt.Sprintf("ALTER TABLE %s.t UPDATE ts = ts + 1 WHERE id = 4200", db),
		fmt.Sprintf(`ALTER TABLE %s.t UPDATE w = '\\N' WHERE id = 27`, db),
		fmt.Sprintf("INSERT INTO %s.t (id, name, w, amount, d, ts, tz, f, st, n, _op, _version, _is_deleted) SELECT 4201, 'X', NULL, 1, toDate('2024-01-01'), 0, NULL, 0, 'a', NULL, 'insert', 1, 0", db),
	} {
		if err := s.ch.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	waitCHCount(t, chDSN, fmt.Sprintf("SELECT countIf(id = 15) * 10 + countIf(id = 4200 AND ts %% 1000000 = 9801) + countIf(id = 27 AND w IS NOT NULL) FROM %s.t", db), 2, time.Minute)
	var got [2]*engine.VerifyResult
	for i, mode := range []string{"", "--stream"} {
		args := []string{"--state-dir", state, file, "p"}
		if mode != "" {
			args = append([]string{mode}, args...)
		}
		v, code, out := runVerify(t, args...)
		r := v.Pipelines[0]
		var keys []string
		for _, d := range r.Diffs {
			keys = append(keys, d.Key)
		}
		if code != 1 || r.Missing != 1 || r.Changed != 2 || r.Extra != 1 || strings.Join(keys, " ") != "15 27 4200 4201" {
			t.Fatalf("verify %s of a tampered target: exit %d, want 15 missing, 27 (NULL made the text \\N) and 4200 changed, 4201 extra:\n%s", mode, code, out)
		}
		got[i] = r
	}
	if got[0].Path != "in-server" || got[1].Path != "streaming" || fmt.Sprint(got[0].Diffs) != fmt.Sprint(got[1].Diffs) {
		t.Fatalf("both paths must report the same: %+v\n%+v", got[0], got[1])
	}
	if v, code, out := runVerify(t, "--state-dir", state, "--repair", file, "p"); code != 0 || v.Pipelines[0].Repaired != 4 {
		t.Fatalf("verify --repair: exit %d:\n%s", code, out)
	}
	a.running(t)
}

// TestVerifyNoStateDir: with a --state-dir that does not exist, verify
// warns at once; a target equal to its source is ok (exit 0), and a
// difference stays unconfirmed with exit 2 at once (no wait for a
// checkpoint that cannot come), the table, the JSON and the exit status
// agreeing.
func TestVerifyNoStateDir(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	db, my, chDSN := s.db, s.my, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(16) NOT NULL)",
		"INSERT INTO "+db+".t VALUES (1, 'a'), (2, 'b')")
	dir := t.TempDir()
	file, state, none := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state"), filepath.Join(dir, "nonexistent")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t TRANSFORM id, v INTO clickhouse dw.%s.t MODE upsert KEY (id);
`, myDSN, chDSN, db, db))
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	warn := "warning: state directory " + none + " does not exist"
	v, code, out := runVerifyLag(t, "3s", "--state-dir", none, file)
	if code != 0 || !v.OK || v.Pipelines[0].Unconfirmed != "" || !strings.Contains(out, warn) {
		t.Fatalf("verify of an equal target without state: want exit 0, ok and a warning: exit %d:\n%s", code, out)
	}
	myExec(t, my, "UPDATE "+db+".t SET v = 'z' WHERE id = 2")
	v, code, out = runVerifyLag(t, "3s", "--state-dir", none, file)
	if code != 2 || v.OK || !strings.Contains(v.Pipelines[0].Unconfirmed, "does not exist") || v.Pipelines[0].Changed != 1 {
		t.Fatalf("verify of a changed source without state: want exit 2, unconfirmed: exit %d:\n%s", code, out)
	}
	out, err := runEtlq(t, "verify", "--progress", "never", "--lag-timeout", "3s", "--state-dir", none, file)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || strings.Contains(out, "ok:") || !strings.Contains(out, "(unconfirmed: state directory") {
		t.Fatalf("table output: want exit 2, unconfirmed, no ok: %v:\n%s", err, out)
	}
}

// TestVerifyWorkerStateDir: the state directory of an `apply --log` worker
// holds checkpoints that count log messages, not source positions: verify
// says so (a warning, and a difference stays unconfirmed, exit 2) instead
// of failing on a checkpoint it cannot read.
func TestVerifyWorkerStateDir(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	db, my, chDSN := s.db, s.my, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(16) NOT NULL)",
		"INSERT INTO "+db+".t VALUES (1, 'a'), (2, 'b')")
	dir := t.TempDir()
	file, state, worker := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state"), filepath.Join(dir, "worker")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t TRANSFORM id, v INTO clickhouse dw.%s.t MODE upsert KEY (id);
`, myDSN, chDSN, db, db))
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	// What a worker writes (connectors/natslog: a delivery counter).
	if err := os.MkdirAll(worker, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(worker, "source-s.json"), `{"format": 1, "source": "s", "mark": 42, "pipelines": ["p"], "updated": "2026-01-01T00:00:00Z"}`)
	myExec(t, my, "UPDATE "+db+".t SET v = 'z' WHERE id = 2")
	v, code, out := runVerifyLag(t, "3s", "--state-dir", worker, file)
	if code != 2 || v.OK || len(v.Pipelines) != 1 || !strings.Contains(v.Pipelines[0].Unconfirmed, "apply --log") || v.Pipelines[0].Changed != 1 ||
		!strings.Contains(out, "warning: state directory "+worker+" is an apply --log worker's") {
		t.Fatalf("verify with a worker's state directory: want exit 2, unconfirmed naming apply --log, a warning: exit %d:\n%s", code, out)
	}
}

// TestResnapshotRefusedForWorkers: `etlq resnapshot` with the state
// directory of `apply --log` workers (one worker's, or the parent of
// several) is refused with the reason and what to do instead: no worker
// reads the source, so a request there would wait forever.
func TestResnapshotRefusedForWorkers(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	db, my, chDSN := s.db, s.my, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(16) NOT NULL)")
	dir := t.TempDir()
	file := filepath.Join(dir, "p.etl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t TRANSFORM id, v INTO clickhouse dw.%s.t MODE upsert KEY (id);
`, myDSN, chDSN, db, db))
	one, several := filepath.Join(dir, "one"), filepath.Join(dir, "several")
	for _, d := range []string{one, filepath.Join(several, "worker-0"), filepath.Join(several, "worker-1")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(d, "source-s.json"), `{"format": 1, "source": "s", "mark": 7, "pipelines": ["p"], "updated": "2026-01-01T00:00:00Z"}`)
	}
	for _, d := range []string{one, several} {
		out, err := runEtlq(t, "resnapshot", "--state-dir", d, file, "p")
		if err == nil || !strings.Contains(out, "apply --log") || !strings.Contains(out, "resnapshot --log nats://") {
			t.Errorf("resnapshot with workers' state directory %s: want refused naming apply --log and resnapshot --log: %v:\n%s", d, err, out)
		}
		if _, err := os.Stat(filepath.Join(d, "resnapshot")); err == nil {
			t.Errorf("%s: a request was written", d)
		}
	}
}

// snapshotOnlyTarget makes table t (columns cols, rows values) in a
// scratch database and copies it with a SNAPSHOT only pipeline p (TRANSFORM
// transform, KEY (key)) into an upsert target; it returns the scratch, the
// file and the state directory.
func snapshotOnlyTarget(t *testing.T, myDSN, cols, values, transform, key string) (*scratch, string, string) {
	return snapshotOnlyTargetWith(t, myDSN, cols, values, transform, key, "")
}

// snapshotOnlyTargetWith is snapshotOnlyTarget with the pipeline's WITH
// clause (with: "" or "WITH (…)"); the rows are inserted under an empty sql_mode
// (zero dates allowed).
func snapshotOnlyTargetWith(t *testing.T, myDSN, cols, values, transform, key, with string) (*scratch, string, string) {
	s := newScratch(t, myDSN)
	myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t ("+cols+")", "SET SESSION sql_mode = ''", "INSERT INTO "+s.db+".t VALUES "+values)
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t SNAPSHOT only TRANSFORM %s INTO clickhouse dw.%s.t MODE upsert KEY (%s) %s;
`, myDSN, s.chDSN, s.db, transform, s.db, key, with))
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	return s, file, state
}

// TestVerifyListingQuotesValues: the text listing of differing keys shows
// each value on one line and unambiguously: a value with a tab or a
// newline is Go-quoted (it used to be written raw, its tail on a line of
// its own), the string 'NULL' is told from a NULL; and the summary names
// its counts alike in the table and under it (the table's "differing"
// column counted chunks, the line under it said "differing keys").
func TestVerifyListingQuotesValues(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s, file, state := snapshotOnlyTarget(t, myDSN, "k VARCHAR(16) PRIMARY KEY, v TEXT NULL", "('k\\t1', 'a'), ('k2', NULL), ('k3', 'same\\tboth')", "k, v", "k")
		db, my := s.db, s.my
		myExec(t, my, "UPDATE "+db+".t SET v = 'new\\tline\\nhere é' WHERE k = 'k\\t1'", "UPDATE "+db+".t SET v = 'NULL' WHERE k = 'k2'")
		out, err := runEtlq(t, "verify", "--progress", "never", "--state-dir", state, file)
		if err == nil {
			t.Fatalf("verify of a differing target passed:\n%s", out)
		}
		for _, want := range []string{
			"differing chunks  rechecked keys",
			"p: differing keys: 2 (missing 0, extra 0, changed 2)\n",
			"  key \"k\\t1\"\n    source: \"k\\t1\" | \"new\\tline\\nhere é\"\n    target: \"k\\t1\" | a\n",
			"  key k2\n    source: k2 | \"NULL\"\n    target: k2 | NULL\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("verify output lacks %q:\n%s", want, out)
			}
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "here") || strings.Contains(l, "\t") {
				t.Errorf("verify output has a raw tab or newline of a value: line %q:\n%s", l, out)
			}
		}
	})
}

// TestVerifySkipsRowsTheSinkRefused: under on_error = 'dead_letter' (or
// 'skip') a row the ClickHouse writer cannot take — a zero or invalid DATE
// for an 18.16 Date — is dead-lettered by apply, not written, and verify
// does not expect it in the target (docs/verify.md: "rows a pipeline skips
// or dead-letters are not expected in the target"). verify used to stop at
// the first such row with the writer's error, comparing nothing.
func TestVerifySkipsRowsTheSinkRefused(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s, file, state := snapshotOnlyTargetWith(t, myDSN, "id INT PRIMARY KEY, d DATE NULL, v VARCHAR(8) NOT NULL",
			"(1, '2024-01-02', 'a'), (2, '0000-00-00', 'b'), (3, '2024-00-15', 'c'), (4, NULL, 'd')", "id, d, upper(v) AS v", "id",
			"WITH (on_error = 'dead_letter')")
		if got, err := chTry(s.ch, fmt.Sprintf("SELECT toString(id) FROM %s.t FINAL WHERE _is_deleted = 0 ORDER BY id", s.db)); err != nil || strings.Join(got, ",") != "1,4" {
			t.Fatalf("target after apply: %v %v", got, err)
		}
		v, code, out := runVerify(t, "--state-dir", state, file)
		// (upper(v): compared streamed through etlq, not in the servers.)
		if code != 0 || !v.OK || v.Pipelines[0].TargetRows != 2 || v.Pipelines[0].Path == "in-server" {
			t.Fatalf("verify of a target without the dead-lettered rows: exit %d:\n%s", code, out)
		}
		myExec(t, s.my, "UPDATE "+s.db+".t SET v = 'z' WHERE id = 4")
		v, code, out = runVerify(t, "--repair", "--state-dir", state, file)
		if code != 0 || v.Pipelines[0].Repaired != 1 {
			t.Fatalf("verify --repair: exit %d:\n%s", code, out)
		}
		got, err := chTry(s.ch, fmt.Sprintf("SELECT toString(id), v FROM %s.t FINAL WHERE _is_deleted = 0 ORDER BY id", s.db))
		if err != nil || strings.Join(got, ",") != "1|A,4|Z" {
			t.Fatalf("after the repair: %v %v", got, err)
		}
	})
}

// TestVerifyRepairAtLargestVersion: rows written into an upsert target by
// hand, next to the running apply, with a _version at the top of UInt64
// (2^64-1, 2^64-2) are above every version of the stream: --repair leaves
// them and, as apply does not start over such a version either, says to
// delete them, with the statement; once deleted, verify passes. (It
// repaired them at their versions before, next to the running apply: the
// keys then kept the repair's row over every later change of them, as a
// change of key 2 at the source after the repair showed.)
func TestVerifyRepairAtLargestVersion(t *testing.T) {
	t.Parallel()
	onBothServers(t, testVerifyRepairAtLargestVersion)
}

func testVerifyRepairAtLargestVersion(t *testing.T, myDSN string) {
	s, file, state, a := startRepairable(t, myDSN, "(1, 'a'), (2, 'b'), (3, 'c')", 3)
	db := s.db
	ctx := context.Background()
	for _, q := range []string{
		fmt.Sprintf("INSERT INTO %s.t (id, v, _version, _is_deleted) SELECT 2, 'TAMPERED', toUInt64('18446744073709551615'), 0", db),
		fmt.Sprintf("INSERT INTO %s.t (id, v, _version, _is_deleted) SELECT 9, 'ghost', toUInt64('18446744073709551614'), 0", db),
	} {
		if err := s.ch.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	del := fmt.Sprintf("ALTER TABLE %s.t DELETE WHERE _version > 18446742974197923839", db) // 2^64 - 2^40 - 1
	v, code, out := runVerify(t, "--state-dir", state, "--repair", file)
	if r := v.Pipelines[0]; code != 1 || r.Repaired != 0 || r.VersionAhead != 2 || r.Changed != 1 || r.Extra != 1 || !strings.Contains(r.RepairSkipped, "Delete those rows from the target ("+del+")") {
		t.Fatalf("verify --repair: exit %d, want both keys left, with the statement that deletes them:\n%s", code, out)
	}
	if err := s.ch.Exec(ctx, del); err != nil {
		t.Fatal(err)
	}
	waitCHCount(t, s.chDSN, fmt.Sprintf("SELECT count() FROM %s.t WHERE id IN (2, 9) AND _version > toUInt64('18446742974197923839')", db), 0, time.Minute)
	if v, code, out := runVerify(t, "--state-dir", state, file); code != 0 || !v.OK {
		t.Fatalf("verify after the rows were deleted: exit %d:\n%s", code, out)
	}
	a.running(t)
}

// startRepairable makes a table t (id INT PRIMARY KEY, v VARCHAR(16)) with
// rows, a file p.etl of one upsert pipeline p of it into ClickHouse, and
// starts apply on it, waiting for the snapshot's n rows in the target.
func startRepairable(t *testing.T, myDSN, rows string, n int) (s *scratch, file, state string, a *liveApply) {
	t.Helper()
	s = newScratch(t, myDSN)
	db := s.db
	myExec(t, s.my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(16) NOT NULL)",
		"INSERT INTO "+db+".t VALUES "+rows)
	dir := t.TempDir()
	file, state = filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t TRANSFORM id, v INTO clickhouse dw.%s.t MODE upsert KEY (id);
`, myDSN, testServerID(), s.chDSN, db, db))
	a = startApply(t, state, file)
	live := fmt.Sprintf("SELECT count() FROM %s.t FINAL WHERE _is_deleted = 0", db)
	a.waitFor(t, "the snapshot", 2*time.Minute, func() (bool, string) {
		got, err := chCount(s.chDSN, live)
		return err == nil && got == uint64(n), fmt.Sprintf("%d, %v", got, err)
	})
	return s, file, state, a
}

// TestVerifyDuplicateSourceKeys: a KEY that is not unique in the source
// (KEY (k) over rows sharing k) leaves the target one row per key, so it
// cannot equal the source. verify used to merge the rows sharing a key
// before comparing and said ok (source 6 rows, target 3, missing 0), on
// the in-server path and streamed alike: it now reports the duplicate
// keys as a difference (exit 1) and says why.
func TestVerifyDuplicateSourceKeys(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		_, file, state := snapshotOnlyTarget(t, myDSN, "id INT PRIMARY KEY, k INT NOT NULL, v VARCHAR(8) NOT NULL",
			"(1, 10, 'a'), (2, 10, 'b'), (3, 20, 'c'), (4, 30, 'd'), (5, 30, 'e'), (6, 30, 'f')", "k, v", "k")
		for _, args := range [][]string{nil, {"--stream"}} {
			v, code, out := runVerify(t, append(args, "--state-dir", state, file)...)
			if code != 1 || v.OK || len(v.Pipelines) != 1 {
				t.Fatalf("verify %v of a target with duplicate source keys: exit %d:\n%s", args, code, out)
			}
			r := v.Pipelines[0]
			if r.SourceRows != 6 || r.TargetRows != 3 || r.DuplicateKeys != 2 || r.DuplicateRows != 5 ||
				fmt.Sprint(r.Duplicates) != "[{10 2} {30 3}]" || r.Path != "streaming" {
				t.Errorf("verify %v: %+v\n%s", args, r, out)
			}
			out, err := runEtlq(t, append([]string{"verify", "--progress", "never", "--state-dir", state, file}, args...)...)
			if err == nil || !strings.Contains(out, "p: duplicate keys: 2 keys of the source are held by 5 rows") ||
				!strings.Contains(out, "the KEY is not unique in the source") || !strings.Contains(out, "  key 30 (3 rows)\n") ||
				strings.Contains(out, "ok: every target") {
				t.Errorf("verify %v listing: %v\n%s", args, err, out)
			}
		}
	})
}

// TestVerifyReportsAFailedPipeline: a pipeline whose target lacks a
// column, and one whose target table is gone, are reported as not verified
// with the reason, and the other pipelines are still checked; the exit
// status is 1. verify used to stop at the first such pipeline with its
// error, checking none of the others.
func TestVerifyReportsAFailedPipeline(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, v VARCHAR(8) NOT NULL)",
			"INSERT INTO "+s.db+".t VALUES (1, 'a'), (2, 'b')")
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		var pipes string
		for _, n := range []string{"a", "b", "c"} {
			pipes += fmt.Sprintf("CREATE PIPELINE %s FROM binlog s.%s.t SNAPSHOT only TRANSFORM id, v INTO clickhouse dw.%s.t_%s MODE upsert KEY (id);\n", n, s.db, s.db, n)
		}
		writeFile(t, file, fmt.Sprintf("CREATE SOURCE s FROM mysql '%s';\nCREATE SINK dw INTO clickhouse '%s';\n%s", myDSN, s.chDSN, pipes))
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		ctx := context.Background()
		for _, q := range []string{"ALTER TABLE " + s.db + ".t_a DROP COLUMN v", "DROP TABLE " + s.db + ".t_b"} {
			if err := s.ch.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		v, code, out := runVerify(t, "--state-dir", state, file)
		if code != 1 || v.OK || len(v.Pipelines) != 3 {
			t.Fatalf("verify with two broken targets: exit %d:\n%s", code, out)
		}
		byName := map[string]*engine.VerifyResult{}
		for _, r := range v.Pipelines {
			byName[r.Pipeline] = r
		}
		if r := byName["a"]; r == nil || !strings.Contains(r.Error, "v") {
			t.Errorf("pipeline a (target without column v): %+v\n%s", r, out)
		}
		if r := byName["b"]; r == nil || !strings.Contains(r.Error, "t_b") {
			t.Errorf("pipeline b (no target table): %+v\n%s", r, out)
		}
		if r := byName["c"]; r == nil || r.Error != "" || r.SourceRows != 2 || r.TargetRows != 2 || r.Differences() != 0 {
			t.Errorf("pipeline c (intact): %+v\n%s", r, out)
		}
		out, err := runEtlq(t, "verify", "--progress", "never", "--state-dir", state, file)
		if err == nil || !strings.Contains(out, "a: not verified: ") || !strings.Contains(out, "b: not verified: ") || strings.Contains(out, "ok: every target") {
			t.Errorf("verify listing: %v\n%s", err, out)
		}
	})
}

// TestVerifyRepairSaysWhat: --repair says which keys it rewrote and what
// each side held before: it used to print only the check after the repair
// (ok) with a count in the "repaired" column, so the keys it had changed
// in the target were known from nowhere (new-user trial).
func TestVerifyRepairSaysWhat(t *testing.T) {
	t.Parallel()
	s, file, state := snapshotOnlyTarget(t, testenv.MySQLDSN(t), "id INT PRIMARY KEY, v VARCHAR(16) NOT NULL", "(1, 'a'), (2, 'b'), (3, 'c')", "id, v", "id")
	myExec(t, s.my, "UPDATE "+s.db+".t SET v = 'z' WHERE id = 2", "DELETE FROM "+s.db+".t WHERE id = 3")
	out, err := runEtlq(t, "verify", "--repair", "--progress", "never", "--state-dir", state, file)
	if err != nil {
		t.Fatalf("verify --repair: %v\n%s", err, out)
	}
	for _, want := range []string{
		"p: repaired 2 keys (missing 0, extra 1, changed 1); before the repair:\n" +
			"  key 2\n    source: 2 | z\n    target: 2 | b\n" +
			"  key 3\n    source: (no live row)\n    target: 3 | c\n",
		"ok: every target equals its source",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("verify --repair output lacks %q:\n%s", want, out)
		}
	}
	myExec(t, s.my, "INSERT INTO "+s.db+".t VALUES (4, 'd')")
	v, code, out := runVerify(t, "--repair", "--state-dir", state, file)
	if code != 0 || v.Pipelines[0].Repaired != 1 || v.Pipelines[0].Repairs == nil || v.Pipelines[0].Repairs.Missing != 1 ||
		len(v.Pipelines[0].Repairs.Diffs) != 1 || v.Pipelines[0].Repairs.Diffs[0].Key != "4" {
		t.Fatalf("verify --repair --format json: exit %d, want the repaired key 4 under repairs:\n%s", code, out)
	}
}

// TestVerifyShowNone: --show 0 shows the counts of the differing keys and
// none of their rows, for a check and for a repair; it showed 10, as
// when --show was not given (a new-user trial asked for the counts alone),
// and then still "… and N more" under them (another trial).
// On both servers.
func TestVerifyShowNone(t *testing.T) {
	t.Parallel()
	for _, srv := range []struct{ name, dsn string }{{"A", testenv.MySQLDSN(t)}, {"B", testenv.MySQLMinimalDSN(t)}} {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			s, file, state := snapshotOnlyTarget(t, srv.dsn, "id INT PRIMARY KEY, v VARCHAR(16) NOT NULL", "(1, 'a'), (2, 'b'), (3, 'c')", "id, v", "id")
			myExec(t, s.my, "UPDATE "+s.db+".t SET v = 'z' WHERE id = 2", "DELETE FROM "+s.db+".t WHERE id = 3")
			out, err := runEtlq(t, "verify", "--show", "0", "--progress", "never", "--state-dir", state, file)
			code := 0
			if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			if code != 1 || !strings.Contains(out, "p: differing keys: 2 (missing 0, extra 1, changed 1)\n") || strings.Contains(out, "key 2") || strings.Contains(out, "more") {
				t.Errorf("verify --show 0: exit %d (want 1), want the counts and no key:\n%s", code, out)
			}
			out, err = runEtlq(t, "verify", "--repair", "--show", "0", "--progress", "never", "--state-dir", state, file)
			if err != nil || !strings.Contains(out, "p: repaired 2 keys (missing 0, extra 1, changed 1)\n") ||
				strings.Contains(out, "key 2") || strings.Contains(out, "more") || strings.Contains(out, "before the repair") || !strings.Contains(out, "ok: every target equals its source") {
				t.Errorf("verify --repair --show 0: %v, want the counts, no key, and ok:\n%s", err, out)
			}
		})
	}
}

// TestVerifyShowsTimesAsTheSource (operator trial): the listing of a
// differing key shows a DATETIME, TIMESTAMP or TIME value as the source
// shows it (its declared fractional digits, a zero date as 0000-00-00
// 00:00:00, TIMESTAMP in UTC), on both sides and in the key — on
// ClickHouse 18.16, which keeps them as Int64 microseconds
// (docs/types.md), verify showed the raw numbers
// (-9223372036854775808 for a zero date).
func TestVerifyShowsTimesAsTheSource(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s, file, state := snapshotOnlyTarget(t, myDSN, "id INT NOT NULL, dt DATETIME(3) NOT NULL, ts TIMESTAMP(6) NULL, tm TIME NULL, z DATETIME NULL, PRIMARY KEY (id, dt)",
			"(1, '2024-03-30 20:00:00.120', FROM_UNIXTIME(1704164645.000007), '-838:59:59', '0000-00-00 00:00:00'), (2, '2024-01-01 00:00:00', NULL, '01:02:03', NULL)",
			"id, dt, ts, tm, z", "id, dt")
		myExec(t, s.my, "SET SESSION sql_mode = ''",
			"UPDATE "+s.db+".t SET ts = FROM_UNIXTIME(1746515289.5), tm = '12:00:00', z = '2024-02-00 10:11:12' WHERE id = 1")
		out, err := runEtlq(t, "verify", "--progress", "never", "--state-dir", state, file)
		if err == nil {
			t.Fatalf("verify of a differing target passed:\n%s", out)
		}
		want := "  key 1, 2024-03-30 20:00:00.120\n" +
			"    source: 1 | 2024-03-30 20:00:00.120 | 2025-05-06 07:08:09.500000 | 12:00:00 | 2024-02-00 10:11:12\n" +
			"    target: 1 | 2024-03-30 20:00:00.120 | 2024-01-02 03:04:05.000007 | -838:59:59 | 0000-00-00 00:00:00\n"
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	})
}
