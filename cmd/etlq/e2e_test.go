package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors/testenv"
)

// etlqBin is the etlq binary built once for the end-to-end tests: they run
// it the way a user does, as a separate process.
var etlqBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "etlq-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	etlqBin = filepath.Join(dir, "etlq")
	if bin := os.Getenv("ETLQ_TEST_BIN"); bin != "" {
		// Another etlq binary (e.g. one built from an older commit) under
		// the same tests and benchmarks: same-run comparisons of two
		// versions (docs/benchmarks.md). Used as is, never rebuilt.
		abs, err := filepath.Abs(bin)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "ETLQ_TEST_BIN:", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "etlq binary from ETLQ_TEST_BIN:", abs)
		etlqBin = abs
	} else {
		build := exec.Command("go", "build", "-o", etlqBin, ".")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building etlq:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runEtlq runs the binary and returns its combined output.
func runEtlq(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, etlqBin, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustEtlq(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runEtlq(t, args...)
	if err != nil {
		t.Fatalf("etlq %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func myExec(t *testing.T, c *client.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := c.Execute(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// myRows returns the rows of a MySQL query as text, one string per row.
func myRows(t *testing.T, c *client.Conn, q string) []string {
	t.Helper()
	r, err := c.Execute(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	var out []string
	for i := range r.Values {
		var cells []string
		for j := range r.Values[i] {
			v := r.Values[i][j]
			if v.Value() == nil {
				cells = append(cells, "NULL")
				continue
			}
			s, _ := r.GetString(i, j)
			cells = append(cells, s)
		}
		out = append(out, strings.Join(cells, "|"))
	}
	return out
}

// chRows returns the rows of a ClickHouse query whose columns are all
// Nullable(String) or String, as text.
func chRows(t *testing.T, c driver.Conn, q string) []string {
	t.Helper()
	rows, err := c.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	n := len(rows.Columns())
	for rows.Next() {
		vals := make([]*string, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var cells []string
		for _, v := range vals {
			if v == nil {
				cells = append(cells, "NULL")
			} else {
				cells = append(cells, *v)
			}
		}
		out = append(out, strings.Join(cells, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// chColumnType returns a column's ClickHouse type.
func chColumnType(t *testing.T, c driver.Conn, db, table, col string) string {
	t.Helper()
	rows := chRows(t, c, fmt.Sprintf("SELECT type FROM system.columns WHERE database = '%s' AND table = '%s' AND name = '%s'", db, table, col))
	if len(rows) != 1 {
		t.Fatalf("column %s.%s.%s not found in ClickHouse", db, table, col)
	}
	return rows[0]
}

func diffRows(t *testing.T, want, got []string) {
	t.Helper()
	if strings.Join(want, "\n") == strings.Join(got, "\n") {
		return
	}
	t.Errorf("ClickHouse differs from the source: %d rows expected, %d found", len(want), len(got))
	w := map[string]bool{}
	for _, r := range want {
		w[r] = true
	}
	g := map[string]bool{}
	for _, r := range got {
		g[r] = true
	}
	shown := 0
	for _, r := range want {
		if !g[r] && shown < 10 {
			t.Errorf("  missing: %s", r)
			shown++
		}
	}
	for _, r := range got {
		if !w[r] && shown < 20 {
			t.Errorf("  extra:   %s", r)
			shown++
		}
	}
}

// TestApplyOnceUpsert is the spine: rows → apply --once → inserts, updates,
// deletes, updates across the WHERE and key changes → apply --once again
// from the checkpoint → ClickHouse equals the source query row by row.
func TestApplyOnceUpsert(t *testing.T) {
	t.Parallel()
	onBothServers(t, testApplyOnceUpsert)
}

func testApplyOnceUpsert(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my,
		"CREATE DATABASE "+db,
		"CREATE TABLE "+db+".orders (id INT PRIMARY KEY, customer VARCHAR(64) NOT NULL, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2), created_at DATETIME(6) NOT NULL)",
	)
	statuses := []string{"new", "paid", "shipped", "cancelled"}
	var vals []string
	for i := 1; i <= 500; i++ {
		vals = append(vals, fmt.Sprintf("(%d, 'c%d', '%s', %d.%02d, '2026-01-%02d 10:11:12.%06d')", i, i%37, statuses[i%4], i*3, i%100, 1+i%28, i*7))
	}
	myExec(t, my, "INSERT INTO "+db+".orders VALUES "+strings.Join(vals, ","))

	dir := t.TempDir()
	file := filepath.Join(dir, "orders.etl")
	src := fmt.Sprintf(`-- end-to-end test pipeline
CREATE SOURCE shop FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE orders
  FROM binlog shop.%s.orders SNAPSHOT initial
  WHERE status <> 'cancelled'
  TRANSFORM id, customer, status, amount * 100 AS cents, created_at, _op
  INTO clickhouse dw.%s.orders MODE upsert KEY (id);
`, myDSN, chDSN, db, db)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	mustEtlq(t, "apply", "--once", "--state-dir", state, file)

	// created_at is DateTime64(6) on servers that have it, Int64
	// microseconds before (docs/types.md): compare in that unit.
	ts := "DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f')"
	if typ := chColumnType(t, ch, db, "orders", "created_at"); typ == "Int64" || typ == "Nullable(Int64)" {
		ts = "CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', created_at) AS CHAR)"
	}
	want := func() []string {
		return myRows(t, my, "SELECT id, customer, status, CAST(amount * 100 AS CHAR), "+ts+" FROM "+db+".orders WHERE status <> 'cancelled' ORDER BY id")
	}
	got := func() []string {
		return chRows(t, ch, "SELECT toString(id), customer, status, toString(cents), toString(created_at) FROM "+db+".orders_current ORDER BY id")
	}
	diffRows(t, want(), got())

	// Changes: updates (in place, across the WHERE both ways, of the key),
	// deletes, inserts.
	myExec(t, my,
		"UPDATE "+db+".orders SET amount = amount + 1 WHERE id % 5 = 0",
		"UPDATE "+db+".orders SET status = 'cancelled' WHERE id % 7 = 1",
		"UPDATE "+db+".orders SET status = 'paid' WHERE id % 4 = 3 AND id % 7 <> 1",
		"DELETE FROM "+db+".orders WHERE id % 11 = 0",
		"UPDATE "+db+".orders SET id = id + 10000 WHERE id % 13 = 0",
		"INSERT INTO "+db+".orders VALUES (9001, 'new1', 'new', 1.50, '2026-02-01 00:00:00.000001'), (9002, 'new2', 'cancelled', 2.50, '2026-02-01 00:00:00')",
		"UPDATE "+db+".orders SET amount = NULL WHERE id = 9001",
	)
	mustEtlq(t, "apply", "--once", "--state-dir", state, file)
	diffRows(t, want(), got())
}

// TestApplyOnceFailedInsertFails: with --once, an insert that ClickHouse
// cannot take (a zero DATE) fails the run naming the column, and the
// checkpoint keeps the rows: once the value is fixed at the source, the next
// run delivers every row. (The end of the --once stream used to hide the
// failure: exit 0, no rows, the snapshot left behind.)
func TestApplyOnceFailedInsertFails(t *testing.T) {
	t.Parallel()
	s, file := zeroDateTable(t, testenv.MySQLDSN(t))
	db := s.db
	state := filepath.Join(filepath.Dir(file), "state")
	out, err := runEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	if err == nil || !strings.Contains(out, `column "d" = '0000-00-00': date 0000-00-00`) {
		t.Fatalf("a failed insert must fail the run and name the column, got %v:\n%s", err, out)
	}
	myExec(t, s.my, "UPDATE "+db+".t SET d = '2026-01-02' WHERE id = 2")
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	diffRows(t, []string{"1|2026-01-01", "2|2026-01-02"},
		chRows(t, s.ch, "SELECT toString(id), toString(d) FROM "+db+".t_current ORDER BY id"))
}

// zeroDateTable makes, on the MySQL server at myDSN, a table t of rows 1
// (a date) and 2 (the zero DATE, which ClickHouse cannot take) in a
// database of the test's own, and an .etl file in a temporary directory
// that loads it into ClickHouse in upsert mode.
func zeroDateTable(t *testing.T, myDSN string) (*scratch, string) {
	t.Helper()
	s := newScratch(t, myDSN)
	myExec(t, s.my,
		"SET SESSION sql_mode = ''",
		"CREATE DATABASE "+s.db,
		"CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, d DATE)",
		"INSERT INTO "+s.db+".t VALUES (1, '2026-01-01'), (2, '0000-00-00')",
	)
	file := filepath.Join(t.TempDir(), "t.etl")
	src := fmt.Sprintf("CREATE SOURCE s FROM mysql '%s';\nCREATE SINK dw INTO clickhouse '%s';\nCREATE PIPELINE p FROM binlog s.%s.t TRANSFORM id, d INTO clickhouse dw.%s.t MODE upsert;\n",
		myDSN, s.chDSN, s.db, s.db)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return s, file
}

// TestApplyFailedInsertStopsTheRun: without --once, an insert ClickHouse
// cannot take stops the run with the reason, though the source then stays
// idle (it used to wait for the next change, silently, and end as
// "finished" when stopped). A private MariaDB, so that no other test's
// writes wake the run up.
func TestApplyFailedInsertStopsTheRun(t *testing.T) {
	t.Parallel()
	_, file := zeroDateTable(t, startPrivateServices(t, "mariadb-a").MySQLDSN)
	dir := filepath.Dir(file)
	// The deadline only bounds a hung run; what is checked is the reason.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, etlqBin, "apply", "--progress", "never", "--state-dir", filepath.Join(dir, "state"), file).CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), `column "d" = '0000-00-00': date 0000-00-00`) {
		t.Fatalf("a failed insert must stop the run with its reason, got %v:\n%s", err, out)
	}
}

// TestBadInput: a syntax error is reported with its position before any
// connection is made; an unreachable server is one clear line.
func TestBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.etl")
	os.WriteFile(bad, []byte("CREATE SOURCE shop FROM mysql 'mysql://root@127.0.0.1:1';\nCREATE PIPELINE p FROM binlog shopdb.orders\n  WHERE amount >\n  INTO stdout;\n"), 0o644)
	out, err := runEtlq(t, "apply", "--once", "--state-dir", filepath.Join(dir, "s"), bad)
	if err == nil {
		t.Fatalf("a syntax error must fail:\n%s", out)
	}
	if !strings.Contains(out, bad+":4:3: ") || !strings.Contains(out, "\n  ^") || strings.Contains(out, "connect") {
		t.Errorf("want a positioned error with a caret and no connection attempt, got:\n%s", out)
	}

	down := filepath.Join(dir, "down.etl")
	os.WriteFile(down, []byte("CREATE SOURCE shop FROM mysql 'mysql://repl:s3cret@127.0.0.1:1';\nCREATE PIPELINE p FROM binlog shopdb.orders INTO stdout;\n"), 0o644)
	out, err = runEtlq(t, "apply", "--once", "--state-dir", filepath.Join(dir, "s"), down)
	if err == nil {
		t.Fatalf("an unreachable source must fail:\n%s", out)
	}
	// One error, at the DSN, naming the source, the password masked in
	// the message and in the quoted line.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "etlq: "+down+":1:31: source shop (mysql://repl:****@127.0.0.1:1): ") ||
		lines[1] != "CREATE SOURCE shop FROM mysql 'mysql://repl:****@127.0.0.1:1';" || !strings.HasPrefix(lines[2], strings.Repeat(" ", 30)+"^~~") || strings.Contains(out, "s3cret") {
		t.Errorf("want one error at the DSN naming the source with the password masked, got:\n%s", out)
	}
}

// TestRowErrorNamesTheRow: with on_error = 'fail' (the default) a value that
// cannot be cast stops the pipeline with the table, position, key, column
// and reason; with 'skip' the other rows flow on.
func TestRowErrorNamesTheRow(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	db := testenv.UniqueName(t)
	my := testenv.MySQLConn(t, myDSN)
	t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, qty VARCHAR(10))", "INSERT INTO "+db+".t VALUES (1, '5'), (2, 'x7'), (3, '9')")
	dir := t.TempDir()
	file := filepath.Join(dir, "p.etl")
	write := func(onError string) {
		os.WriteFile(file, []byte(fmt.Sprintf("CREATE SOURCE s FROM mysql '%s';\nCREATE PIPELINE p FROM binlog %s.t TRANSFORM id, CAST(qty AS INT64) AS qty INTO stdout FORMAT jsonl WITH (on_error = '%s');\n", myDSN, db, onError)), 0o644)
	}
	write("fail")
	out, err := runEtlq(t, "apply", "--once", "--state-dir", filepath.Join(dir, "s1"), "--progress", "never", file)
	if err == nil || !strings.Contains(out, "row of "+db+".t at ") || !strings.Contains(out, "id = 2") || !strings.Contains(out, `column "qty" = 'x7': cannot cast 'x7' to INT64`) {
		t.Errorf("want a failure naming the row, got %v:\n%s", err, out)
	}
	// The failed batch was not written, so its position was not
	// checkpointed: the next run meets the same row again instead of
	// going on without it.
	out, err = runEtlq(t, "apply", "--once", "--state-dir", filepath.Join(dir, "s1"), "--progress", "never", file)
	if err == nil || !strings.Contains(out, "id = 2") || !strings.Contains(out, `column "qty" = 'x7': cannot cast 'x7' to INT64`) {
		t.Errorf("the run after a row error must stop at the same row, got %v:\n%s", err, out)
	}
	write("skip")
	out = mustEtlq(t, "apply", "--once", "--state-dir", filepath.Join(dir, "s2"), "--progress", "never", file)
	if !strings.Contains(out, `{"id":1,"qty":5`) || !strings.Contains(out, `{"id":3,"qty":9`) || strings.Contains(out, `"id":2,`) || !strings.Contains(out, "row_errors=1") {
		t.Errorf("with skip, rows 1 and 3 pass and row 2 is counted:\n%s", out)
	}
}

// TestFmtCommand: etlq fmt prints the canonical layout, -w rewrites the
// file, and a second run changes nothing.
func TestFmtCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "messy.etl")
	src := "-- keep me\ncreate source s from mysql 'mysql://u@h:3306';\ncreate pipeline p from binlog db.t where a>1 and b<>'x' transform a,b as c into stdout format jsonl;\n"
	os.WriteFile(file, []byte(src), 0o644)
	out := mustEtlq(t, "fmt", file)
	if !strings.Contains(out, "-- keep me") || !strings.Contains(out, "CREATE PIPELINE p") || !strings.Contains(out, "WHERE a > 1 AND b <> 'x'") {
		t.Errorf("fmt output:\n%s", out)
	}
	mustEtlq(t, "fmt", "-w", file)
	once, _ := os.ReadFile(file)
	if string(once) != out {
		t.Errorf("fmt -w wrote something else than fmt printed:\n%s", once)
	}
	mustEtlq(t, "fmt", "-w", file)
	twice, _ := os.ReadFile(file)
	if string(twice) != string(once) {
		t.Errorf("fmt is not idempotent:\n%s\n---\n%s", once, twice)
	}
}

// TestDataErrorNamesTheRow: on MariaDB A and B, a zero DATE that the
// ClickHouse Date column cannot take stops the pipeline (on_error =
// 'fail'; the run, for it is the only one) with
// the pipeline, the source table, the row's source position (the snapshot,
// then a binlog position), its key, the column, the value and the reason,
// never a row number of a batch.
func TestDataErrorNamesTheRow(t *testing.T) {
	t.Parallel()
	for _, srv := range []struct{ name, dsn string }{{"A", testenv.MySQLDSN(t)}, {"B", testenv.MySQLMinimalDSN(t)}} {
		t.Run(srv.name, func(t *testing.T) {
			s, file := zeroDateTable(t, srv.dsn)
			state := filepath.Join(filepath.Dir(file), "state")
			out, err := runEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
			snap := regexp.MustCompile(`pipeline p( stopped)?: .*row of ` + s.db + `\.t at \S+\.\d{6}:\d+ \(snapshot, id = 2\): column "d" = '0000-00-00': date 0000-00-00 or another invalid date is outside the range of ClickHouse Date`)
			if err == nil || !snap.MatchString(out) || !strings.Contains(out, "row_errors=1") {
				t.Fatalf("want the snapshot row id = 2 named and counted, got %v:\n%s", err, out)
			}
			myExec(t, s.my, "UPDATE "+s.db+".t SET d = '2026-01-02' WHERE id = 2")
			mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
			myExec(t, s.my, "SET SESSION sql_mode = ''", "INSERT INTO "+s.db+".t VALUES (3, '0000-00-00')")
			out, err = runEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
			at := regexp.MustCompile(`pipeline p( stopped)?: .*row of ` + s.db + `\.t at \S+\.\d{6}:\d+ \(insert, id = 3\): column "d" = '0000-00-00': date 0000-00-00`)
			if err == nil || !at.MatchString(out) {
				t.Fatalf("want a binlog position and id = 3, got %v:\n%s", err, out)
			}

			// With dead letters, the run goes on without row 3 (from the
			// snapshot of a second pipeline), and its dead letter says
			// what the error said.
			dl := filepath.Join(filepath.Dir(file), "dl.etl")
			src := fmt.Sprintf("CREATE SOURCE s FROM mysql '%s';\nCREATE SINK dw INTO clickhouse '%s';\nCREATE PIPELINE q FROM binlog s.%s.t TRANSFORM id, d INTO clickhouse dw.%s.t2 MODE upsert WITH (on_error = 'dead_letter');\n",
				srv.dsn, s.chDSN, s.db, s.db)
			if err := os.WriteFile(dl, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			state2 := filepath.Join(filepath.Dir(file), "state2")
			out = mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state2, dl)
			if !strings.Contains(out, "row_errors=1") || !strings.Contains(out, "dead_letters=1") {
				t.Errorf("want one row error, dead-lettered:\n%s", out)
			}
			if !regexp.MustCompile(`pipeline=q rows_in=3 rows_out=2 `).MatchString(out) {
				// (ClickHouse's refusal is found before the insert,
				// connectors.RowChecker: the row is not out.)
				t.Errorf("want rows_out=2, the dead-lettered row not counted out:\n%s", out)
			}
			diffRows(t, []string{"1|2026-01-01", "2|2026-01-02"},
				chRows(t, s.ch, "SELECT toString(id), toString(d) FROM "+s.db+".t2_current ORDER BY id"))
			f, err := os.ReadFile(filepath.Join(state2, "deadletter", "q.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			var letter struct {
				Pipeline, Table, Pos, Op, Key, Column, Value, Reason, Error string
				Version                                                     uint64
				Row                                                         map[string]*string
			}
			if err := json.Unmarshal(f, &letter); err != nil {
				t.Fatalf("%v: %s", err, f)
			}
			errAt := regexp.MustCompile(`^pipeline q: row of ` + s.db + `\.t at \S+\.\d{6}:\d+ \(snapshot, id = 3\): column "d" = '0000-00-00': date 0000-00-00`)
			if letter.Pipeline != "q" || letter.Table != s.db+".t" || !regexp.MustCompile(`\.\d{6}:\d+$`).MatchString(letter.Pos) || letter.Key != "id = 3" ||
				letter.Column != "d" || letter.Value != "'0000-00-00'" || !strings.HasPrefix(letter.Reason, "date 0000-00-00 or another invalid date is outside") ||
				!errAt.MatchString(letter.Error) || letter.Version == 0 || letter.Row["id"] == nil || *letter.Row["id"] != "3" {
				t.Errorf("dead letter: %s", f)
			}
		})
	}
}
