package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
)

// TestTypeChangeSharedAndLog (issue #12): a type change that is no
// lossless widening — INT → VARCHAR, DECIMAL(10,4) → DECIMAL(10,2) (MySQL
// rounds the rows it has), INT → DECIMAL — of a table whose targets
// cannot be rebuilt, made with writers running, while etlq runs (sh_2,
// c_1) and while it is stopped (sh_1, c_2), never stops the run:
//   - a pattern into one upsert target (`FROM binlog db.sh_* … KEY
//     (_table, id)`): the shared column takes a type that holds both
//     (String, Decimal(12,4), Decimal(12,2)) and the changed table is read
//     again in place, so that its rows hold MySQL's converted values
//     (the rounded decimals) while the other shard streams on; the
//     target equals the sources row by row;
//   - changelog ClickHouse targets (`c_*`, and `c_1` alone) and a jsonl
//     file (`c_*`): the column widened, rows after the DDL carry the new
//     type, the history kept as it was (the latest change of each key
//     equals the source, but for MySQL's rounding of rows not changed
//     since);
//   - `SNAPSHOT never` into an upsert target (`n_*`): nothing can be read
//     again: the column widened, with a WARN that the rows already there
//     keep the old type's representation (again, MySQL's rounding).
//
// (Failed before: the run stopped with `output column "v" is STRING in
// db.sh_2 but INT32 in another table of the pipeline: no type holds both`
// and `column "v" changed type from int(11) to varchar(20) … re-snapshot
// the table`.)
func TestTypeChangeSharedAndLog(t *testing.T) {
	t.Parallel()
	onBothServers(t, testTypeChangeSharedAndLog)
}

func testTypeChangeSharedAndLog(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db)
	tables := []string{"sh_1", "sh_2", "c_1", "c_2", "n_1", "n_2"}
	for _, tb := range tables {
		myExec(t, my, "CREATE TABLE "+db+"."+tb+" (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, v INT, d DECIMAL(10,4), e INT)",
			"INSERT INTO "+db+"."+tb+" SELECT seq, seq, seq * 7, seq + 0.1234 + (seq % 2) * 0.0051, seq * 3 FROM "+db+".seq_1_to_200")
	}
	dir := t.TempDir()
	file, state, out := filepath.Join(dir, "tc.etl"), filepath.Join(dir, "state"), filepath.Join(dir, "c.jsonl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_sh FROM binlog s.%[3]s.sh_* TRANSFORM _table, * INTO clickhouse dw.%[3]s.sh_all KEY (_table, id) WITH (batch_rows = 500, flush_interval = '100ms');
CREATE PIPELINE p_log FROM binlog s.%[3]s.c_* TRANSFORM _table, * INTO clickhouse dw.%[3]s.c_log MODE changelog WITH (batch_rows = 500, flush_interval = '100ms');
CREATE PIPELINE p_file FROM binlog s.%[3]s.c_* TRANSFORM _table, * INTO file '%[5]s' FORMAT jsonl;
CREATE PIPELINE p_one FROM binlog s.%[3]s.c_1 TRANSFORM _table, * INTO clickhouse dw.%[3]s.c1_log MODE changelog WITH (batch_rows = 500, flush_interval = '100ms');
CREATE PIPELINE p_never FROM binlog s.%[3]s.n_* SNAPSHOT never TRANSFORM _table, * INTO clickhouse dw.%[3]s.n_all KEY (_table, id) WITH (batch_rows = 500, flush_interval = '100ms');
`, myDSN, chDSN, db, testServerID(), out))

	// The source's rows, "table|id|k|v|d|e", decimals without trailing
	// zeros (round2: d rounded to 2 places, for a table whose d is
	// DECIMAL(10,2): a history target's row not changed since the DDL
	// holds the value before MySQL rounded it).
	source := func(tbs ...string) ([]string, map[string]bool) {
		var rows []string
		round := map[string]bool{}
		for _, tb := range tbs {
			round[tb] = myRows(t, my, fmt.Sprintf("SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s' AND COLUMN_NAME = 'd'", db, tb))[0] == "decimal(10,2)"
			for _, r := range myCells(t, my, fmt.Sprintf("SELECT '%s', id, k, CAST(v AS CHAR), CAST(d AS CHAR), CAST(e AS CHAR) FROM %s.%s", tb, db, tb)) {
				rows = append(rows, typeChangeRow(r, false))
			}
		}
		sort.Strings(rows)
		return rows, round
	}
	upsertRows := func() []string {
		var rows []string
		for _, r := range chCells(t, ch, fmt.Sprintf("SELECT _table, toString(id), toString(k), toString(v), toString(d), toString(e) FROM %s.sh_all_current", db)) {
			rows = append(rows, typeChangeRow(r, false))
		}
		sort.Strings(rows)
		return rows
	}
	// latest keeps the last change of each key of a history, rounding d
	// where round says.
	latest := func(hist [][]string, round map[string]bool) []string {
		last := map[string][]string{}
		for _, r := range hist {
			last[r[0]+"|"+r[1]] = r
		}
		var rows []string
		for _, r := range last {
			rows = append(rows, typeChangeRow(r, round[r[0]]))
		}
		sort.Strings(rows)
		return rows
	}
	logRows := func(table string, round map[string]bool) []string {
		return latest(chCells(t, ch, fmt.Sprintf("SELECT _table, toString(id), toString(k), toString(v), toString(d), toString(e) FROM %s.%s ORDER BY _version", db, table)), round)
	}
	fileRows := func(round map[string]bool) []string {
		return latest(readTypeChangeJSONL(t, out), round)
	}
	marker := 1000000
	// waitMarker waits for the marker in every ClickHouse target (c1_log
	// too: checked before it had the marker, it lacked c_1's last rows
	// now and then).
	waitMarker := func(a *liveApply) {
		t.Helper()
		a.waitFor(t, fmt.Sprintf("the marker %d in the targets", marker), 180*time.Second, func() (bool, string) {
			n1, err1 := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.sh_all_current WHERE k = %d", db, marker))
			n2, err2 := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.c_log WHERE k = %d", db, marker))
			n3, err3 := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.n_all_current WHERE k = %d", db, marker))
			n4, err4 := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.c1_log WHERE k = %d", db, marker))
			return err1 == nil && err2 == nil && err3 == nil && err4 == nil && n1 == 2 && n2 == 2 && n3 == 2 && n4 == 1,
				fmt.Sprintf("%d %d %d %d %v %v %v %v", n1, n2, n3, n4, err1, err2, err3, err4)
		})
	}
	// change makes the three type changes of tables, with a writer on
	// every table, then a marker row in each table with values of the
	// new types where they have them.
	change := func(first int, tbs ...string) {
		t.Helper()
		marker++
		typeChangesUnderWriters(t, myDSN, my, db, tables, first, marker, tbs...)
	}
	check := func(when string) {
		t.Helper()
		want, _ := source("sh_1", "sh_2")
		diffRows(t, want, upsertRows())
		want, round := source("c_1", "c_2")
		diffRows(t, want, logRows("c_log", round))
		diffRows(t, want, fileRows(round))
		want, round = source("c_1")
		diffRows(t, want, logRows("c1_log", round))
		// SNAPSHOT never: the target holds the rows changed since the
		// start; those not changed since the DDL keep the value MySQL
		// rounded (a WARN says so).
		src, round := source("n_1", "n_2")
		has := map[string]string{}
		for _, r := range src {
			f := strings.SplitN(r, "|", 3)
			has[f[0]+"|"+f[1]] = r
		}
		var got, exp []string
		for _, r := range chCells(t, ch, fmt.Sprintf("SELECT _table, toString(id), toString(k), toString(v), toString(d), toString(e) FROM %s.n_all_current", db)) {
			got = append(got, typeChangeRow(r, round[r[0]]))
			exp = append(exp, has[r[0]+"|"+r[1]])
		}
		sort.Strings(got)
		sort.Strings(exp)
		if len(got) < 10 {
			t.Errorf("n_all has %d rows: the writer's changes did not reach it", len(got))
		}
		diffRows(t, exp, got)
		for _, tb := range []string{"sh_all", "c_log", "n_all"} {
			for col, typ := range map[string]string{"v": "Nullable(String)", "d": "Nullable(Decimal(12, 4))", "e": "Nullable(Decimal(12, 2))"} {
				if got := chCells(t, ch, fmt.Sprintf("SELECT type FROM system.columns WHERE database = '%s' AND table = '%s' AND name = '%s'", db, tb, col))[0][0]; got != typ {
					t.Errorf("%s.%s is %s in ClickHouse, want %s", tb, col, got, typ)
				}
			}
		}
		for col, typ := range map[string]string{"v": "Nullable(String)", "d": "Nullable(Decimal(12, 4))", "e": "Nullable(Decimal(12, 2))"} {
			if got := chCells(t, ch, fmt.Sprintf("SELECT type FROM system.columns WHERE database = '%s' AND table = 'c1_log' AND name = '%s'", db, col))[0][0]; got != typ {
				t.Errorf("c1_log.%s is %s in ClickHouse, want %s", col, got, typ)
			}
		}
		if t.Failed() {
			t.Fatalf("%s: a target differs from its source", when)
		}
	}

	// 1. While etlq runs: sh_2 and c_1.
	a := startApply(t, state, file)
	a.waitFor(t, "the snapshots", 120*time.Second, func() (bool, string) {
		n1, _ := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.sh_all_current", db))
		n2, _ := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.c_log", db))
		return n1 == 400 && n2 == 400, fmt.Sprintf("%d %d", n1, n2)
	})
	change(10000, "sh_2", "c_1", "n_1")
	waitMarker(a)
	// The re-read of sh_2 brings MySQL's rounded decimals.
	a.waitFor(t, "the upsert target equal to the sources", 120*time.Second, func() (bool, string) {
		want, _ := source("sh_1", "sh_2")
		got := upsertRows()
		return strings.Join(want, "\n") == strings.Join(got, "\n"), fmt.Sprintf("%d rows, want %d", len(got), len(want))
	})
	a.running(t)
	check("sh_2, c_1 changed while running")
	log := a.stop(t)
	for _, want := range []string{db + ".sh_2: a type change that is no lossless widening, and the table cannot be rebuilt: its targets' column takes a type that holds both, and the table is read again in place",
		db + ".c_1: a type change that is no lossless widening: the targets (no upsert target) take the rows of the new type",
		db + ".n_1: a type change that is no lossless widening, and the table can be neither rebuilt nor read again: its targets' column takes a type that holds both; the rows already in upsert targets keep their values in the old type's representation",
		"clickhouse: a column's type changed in the source to one that is no widening: the column takes a type that holds both"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log does not say %q:\n%s", want, log)
		}
	}

	// 2. While etlq is stopped: sh_1 and c_2.
	change(100000, "sh_1", "c_2", "n_2")
	log, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err != nil {
		t.Fatalf("apply after the type changes made while stopped: %v\n%s", err, log)
	}
	if !strings.Contains(log, db+".sh_1: the table was read again after its type change") {
		t.Errorf("the restart does not say it read sh_1 again:\n%s", log)
	}
	check("sh_1, c_2 changed while stopped")
}

// typeChangesUnderWriters makes the type changes of the tests of issue
// #12 — v INT → VARCHAR(20), d DECIMAL(10,4) → DECIMAL(10,2), e INT →
// DECIMAL(10,2) — of the tables changed, with a writer on every table of
// tables (its ids from first on), then inserts a marker row in each
// table with values of the new types where they have them.
func typeChangesUnderWriters(t *testing.T, myDSN string, my *client.Conn, db string, tables []string, first, marker int, changed ...string) {
	t.Helper()
	var ws []*ddlWriter
	for _, tb := range tables {
		ws = append(ws, startDDLWriter(t, myDSN, db+"."+tb, first))
	}
	time.Sleep(300 * time.Millisecond)
	for _, alter := range []string{"MODIFY v VARCHAR(20)", "MODIFY d DECIMAL(10,2)", "MODIFY e DECIMAL(10,2)"} {
		for _, tb := range changed {
			myExec(t, my, "ALTER TABLE "+db+"."+tb+" "+alter)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	for _, w := range ws {
		w.halt()
		if w.ops.Load() == 0 {
			t.Fatalf("a writer made no change (%d errors)", w.errors.Load())
		}
	}
	for _, tb := range tables {
		myExec(t, my, fmt.Sprintf("INSERT INTO %s.%s (id, k, v, d, e) VALUES (%d, %d, '%d', 12.345, 7)", db, tb, marker, marker, marker))
	}
}

// typeChangeRow joins a row of TestTypeChangeSharedAndLog (table, id, k,
// v, d, e) as text, the decimals without trailing zeros, d rounded half
// away from zero to 2 places when round2.
func typeChangeRow(r []string, round2 bool) string {
	d := r[4]
	if round2 && d != "NULL" {
		d = roundDecimal2(d)
	}
	return strings.Join([]string{r[0], r[1], r[2], r[3], normDecimal(d), normDecimal(r[5])}, "|")
}

// roundDecimal2 rounds a decimal's text half away from zero to 2 places.
func roundDecimal2(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	ip, fp, _ := strings.Cut(s, ".")
	fp += "000"
	var n int64
	fmt.Sscanf(ip+fp[:2], "%d", &n)
	if fp[2] >= '5' {
		n++
	}
	sign := ""
	if neg && n != 0 {
		sign = "-"
	}
	return fmt.Sprintf("%s%d.%02d", sign, n/100, n%100)
}

// readTypeChangeJSONL reads the jsonl file's rows (table, id, k, v, d,
// e) in the file's order.
func readTypeChangeJSONL(t *testing.T, path string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.UseNumber()
		m := map[string]any{}
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%s: %v: %s", path, err, sc.Text())
		}
		var row []string
		for _, c := range []string{"_table", "id", "k", "v", "d", "e"} {
			switch v := m[c].(type) {
			case nil:
				row = append(row, "NULL")
			case string:
				row = append(row, v)
			case json.Number:
				row = append(row, v.String())
			default:
				t.Fatalf("%s: column %s is %T: %s", path, c, v, sc.Text())
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// TestTypeChangeSharedKey (issue #12): a key column of a shared upsert
// target (`FROM binlog db.sh_* … KEY (_table, id)`) changed to a type
// that is no lossless widening (INT → VARCHAR): ClickHouse cannot change
// a sorting key's type and no one table can be rebuilt for it, so the
// pipeline stops alone before the change, with a message that says how
// to follow it; the other pipeline of the source goes on; the restart
// stops again there. (Before, the union refused INT and VARCHAR with "no
// type holds both"; with the union's String and no check, the sink's
// error stopped the whole run.)
func TestTypeChangeSharedKey(t *testing.T) {
	t.Parallel()
	onBothServers(t, testTypeChangeSharedKey)
}

func testTypeChangeSharedKey(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db)
	for _, tb := range []string{"sh_1", "sh_2", "o"} {
		myExec(t, my, "CREATE TABLE "+db+"."+tb+" (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0)",
			"INSERT INTO "+db+"."+tb+" SELECT seq, seq FROM "+db+".seq_1_to_50")
	}
	dir := t.TempDir()
	file, state := filepath.Join(dir, "k.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_sh FROM binlog s.%[3]s.sh_* TRANSFORM _table, * INTO clickhouse dw.%[3]s.sh_all KEY (_table, id);
CREATE PIPELINE p_o FROM binlog s.%[3]s.o INTO clickhouse dw.%[3]s.o;
`, myDSN, chDSN, db, testServerID()))
	a := startApply(t, state, file)
	a.waitFor(t, "the snapshots", 60*time.Second, func() (bool, string) {
		n1, _ := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.sh_all_current", db))
		n2, _ := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.o_current", db))
		return n1 == 100 && n2 == 50, fmt.Sprintf("%d %d", n1, n2)
	})
	myExec(t, my, "ALTER TABLE "+db+".sh_2 MODIFY id VARCHAR(20)", "INSERT INTO "+db+".sh_2 VALUES ('abc', 1)")
	a.waitFor(t, "p_sh stopped alone", 60*time.Second, func() (bool, string) {
		return strings.Contains(a.out.String(), "pipeline stopped; the other pipelines of the source go on"), ""
	})
	myExec(t, my, "INSERT INTO "+db+".o VALUES (51, 51)")
	a.waitFor(t, "the other pipeline's row", 60*time.Second, func() (bool, string) {
		n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.o_current WHERE id = 51", db))
		return n == 1, fmt.Sprintf("%d %v", n, err)
	})
	a.running(t)
	out := a.stopFailing(t)
	want := `key column "id" of the target ` + db + `.sh_all, which several tables share, changed type from int32 to utf8: no lossless widening, and a ClickHouse table's sorting key cannot change type. To follow it, stop etlq, drop the table`
	if !strings.Contains(out, want) {
		t.Errorf("the log does not say %q:\n%s", want, out)
	}
	if n, _ := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.sh_all_current", db)); n != 100 {
		t.Errorf("sh_all has %d rows, want the 100 from before the change", n)
	}
	// The next run stops again at the change, saying how to follow it.
	out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err == nil || !strings.Contains(out, `key column "id"`) || !strings.Contains(out, "drop the table") {
		t.Errorf("the restart does not stop at the key's type change (%v):\n%s", err, out)
	}
	_ = ch
}

// TestTypeChangeRereadKilled (issue #12): etlq killed with SIGKILL while
// it reads a shard again in place after a type change (DECIMAL(10,4) →
// DECIMAL(10,2), which MySQL rounds) of a pattern into one upsert target,
// with a writer running: the next run resumes the re-read from the
// checkpoint (whose snapshot state keeps its version), and the target
// equals the sources row by row, the rounded decimals included.
func TestTypeChangeRereadKilled(t *testing.T) {
	t.Parallel()
	onBothServers(t, testTypeChangeRereadKilled)
}

func testTypeChangeRereadKilled(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db)
	for tb, n := range map[string]int{"sh_1": 1000, "sh_2": 100000} {
		myExec(t, my, "CREATE TABLE "+db+"."+tb+" (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, d DECIMAL(10,4), pad VARCHAR(200))",
			fmt.Sprintf("INSERT INTO %s.%s SELECT seq, seq, seq + 0.1234 + (seq %% 2) * 0.0051, REPEAT('x', 150) FROM %s.seq_1_to_%d", db, tb, db, n))
	}
	// etlq reads the server through a proxy slowed during the re-read
	// (4 KiB per 10 ms: sh_2's 17 MB take tens of seconds), so that the
	// kill falls in the middle of it on a quiet machine too.
	viaProxy, px := throttled(t, myDSN)
	dir := t.TempDir()
	file, state := filepath.Join(dir, "k.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d, chunk_rows = 1000);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.sh_* TRANSFORM _table, * EXCEPT (pad) INTO clickhouse dw.%[3]s.sh_all KEY (_table, id) WITH (batch_rows = 1000, flush_interval = '100ms');
`, viaProxy, chDSN, db, testServerID()))
	myQ := fmt.Sprintf("SELECT * FROM (SELECT 'sh_1' AS tb, id, k, CAST(d AS CHAR) FROM %[1]s.sh_1 UNION ALL SELECT 'sh_2', id, k, CAST(d AS CHAR) FROM %[1]s.sh_2) x ORDER BY tb, id", db)
	chQ := fmt.Sprintf("SELECT _table, toString(id), toString(k), toString(d) FROM %s.sh_all_current ORDER BY _table, id", db)
	a := startApply(t, state, file)
	a.waitFor(t, "the snapshot in ClickHouse", 180*time.Second, func() (bool, string) {
		n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.sh_all_current", db))
		return err == nil && n == 101000, fmt.Sprintf("%d, %v", n, err)
	})
	px.slow.Store(true)
	w := startDDLWriter(t, myDSN, db+".sh_2", 200000)
	w1 := startDDLWriter(t, myDSN, db+".sh_1", 200000)
	time.Sleep(300 * time.Millisecond)
	myExec(t, my, "ALTER TABLE "+db+".sh_2 MODIFY d DECIMAL(10,2)")
	// Killed once the re-read wrote rows, before all are written.
	for deadline := time.Now().Add(120 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no re-read started:\n%s", a.out.String())
		}
		// (Rows read again hold two fraction digits; the writer's rows
		// have no d.)
		if n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.sh_all_current WHERE _table = 'sh_2' AND toString(d) LIKE '%%00'", db)); err == nil && n > 0 {
			break
		}
	}
	// … and once a checkpoint holds the re-read under way, so that the
	// restart takes it up from the checkpoint (not from a replay of the
	// ALTER).
	a.waitFor(t, "a checkpoint with the re-read under way", 120*time.Second, func() (bool, string) {
		b, _ := os.ReadFile(filepath.Join(state, "source-s.json"))
		return strings.Contains(string(b), `.sh_2":{"ranges"`) && strings.Contains(string(b), `"type_change":true`), ""
	})
	a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
	px.slow.Store(false)
	// Not every row read again is in the target: no checkpoint passed
	// the re-read's end, and the restart must finish it.
	read, _ := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.sh_all_current WHERE _table = 'sh_2' AND toString(d) LIKE '%%00'", db))
	if read >= 100000 {
		t.Fatalf("the re-read was written before the kill: nothing tested:\n%s", a.out.String())
	}
	t.Logf("killed with %d rows of sh_2 read again in the target", read)
	time.Sleep(300 * time.Millisecond)
	w.halt()
	w1.halt()
	myExec(t, my, "INSERT INTO "+db+".sh_2 (id, k, d) VALUES (999999, 999999, 1.005)")
	out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err != nil {
		t.Fatalf("apply after the kill: %v\n%s", err, out)
	}
	if !strings.Contains(out, db+".sh_2: the table was read again after its type change") {
		t.Errorf("the restart does not say it read sh_2 again:\n%s", out)
	}
	norm := func(rows []string) []string {
		out := make([]string, len(rows))
		for i, r := range rows {
			f := strings.Split(r, "|")
			f[len(f)-1] = normDecimal(f[len(f)-1])
			out[i] = strings.Join(f, "|")
		}
		return out
	}
	diffRows(t, norm(myRows(t, my, myQ)), norm(chRows(t, ch, chQ)))
}
