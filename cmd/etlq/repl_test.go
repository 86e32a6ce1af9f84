package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"golang.org/x/sys/unix"

	"github.com/etlq/etlq/cmd/etlq/internal/repl"
	"github.com/etlq/etlq/connectors/testenv"
)

// replProc is `etlq repl` running as a separate process with its input
// piped in, the way a script uses it.
type replProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer // stdout
	errb bytes.Buffer // stderr
	done chan error
}

func (p *replProc) stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *replProc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errb.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}

// startRepl starts etlq repl with args and input as its standard input.
func startRepl(t *testing.T, input string, args ...string) *replProc {
	t.Helper()
	p := &replProc{done: make(chan error, 1)}
	p.cmd = exec.Command(etlqBin, append([]string{"repl"}, args...)...)
	p.cmd.Stdin = strings.NewReader(input)
	p.cmd.Stdout = lockedWriter{&p.mu, &p.out}
	p.cmd.Stderr = lockedWriter{&p.mu, &p.errb}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
	})
	return p
}

// wait waits for the process to end; it fails the test after d.
func (p *replProc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(d):
		p.cmd.Process.Kill()
		t.Fatalf("etlq repl did not end within %s\nstdout:\n%s\nstderr:\n%s", d, p.stdout(), p.stderr())
		return nil
	}
}

// runRepl pipes input into etlq repl and returns its stdout, stderr and
// exit code.
func runRepl(t *testing.T, input string, args ...string) (string, string, int) {
	t.Helper()
	p := startRepl(t, input, args...)
	err := p.wait(t, 2*time.Minute)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return p.stdout(), p.stderr(), code
}

// replDB makes a database with an orders table for one test.
func replDB(t *testing.T) (dsn, db string) {
	t.Helper()
	dsn = testenv.MySQLDSN(t)
	db = testenv.UniqueName(t)
	my := testenv.MySQLConn(t, dsn)
	testenv.Exec(t, my,
		"CREATE DATABASE "+db,
		"CREATE TABLE "+db+".orders (id INT PRIMARY KEY, customer VARCHAR(64) NOT NULL, amount DECIMAL(12,2), created_at DATETIME(6))",
		"CREATE TABLE "+db+".lines (order_id INT NOT NULL, n SMALLINT UNSIGNED NOT NULL, sku VARCHAR(16), PRIMARY KEY (order_id, n))",
		"INSERT INTO "+db+".orders VALUES (1, 'ann', 50.00, '2026-01-02 03:04:05.000006')",
	)
	t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
	return dsn, db
}

// replOnBothServers runs fn as parallel subtests A and B, on MariaDB A
// (binlog_row_metadata=FULL) and B (the default), each with a database of
// its own holding the table orders (cols), dropped when the subtest ends.
func replOnBothServers(t *testing.T, cols string, fn func(t *testing.T, dsn, db string, my *client.Conn)) {
	for _, srv := range []struct{ name, dsn string }{{"A", testenv.MySQLDSN(t)}, {"B", testenv.MySQLMinimalDSN(t)}} {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			db := testenv.UniqueName(t)
			my := testenv.MySQLConn(t, srv.dsn)
			testenv.Exec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".orders ("+cols+")")
			t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
			fn(t, srv.dsn, db, my)
		})
	}
}

// withoutPlainWarning is stderr without the WARN that ssl_mode = 'preferred'
// logs when it connects in plain, which the test servers without TLS give.
func withoutPlainWarning(stderr string) string {
	var keep []string
	for _, l := range strings.SplitAfter(stderr, "\n") {
		if !strings.Contains(l, "unencrypted connection: the server offers no TLS") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

// lineRE matches a table line of cells separated by "|", blanks ignored.
func lineRE(cells ...string) *regexp.Regexp {
	for i, c := range cells {
		cells[i] = regexp.QuoteMeta(c)
	}
	return regexp.MustCompile(`(?m)^ *` + strings.Join(cells, ` *\| *`) + ` *$`)
}

func TestReplShowDescribe(t *testing.T) {
	t.Parallel()
	dsn, db := replDB(t)
	out, errs, code := runRepl(t, "SHOW TABLES FROM "+db+"; DESCRIBE "+db+".orders;\nDESCRIBE\n  "+db+".lines;\nSHOW TABLES LIKE 'line%';\n", "--source", dsn)
	if code != 0 || withoutPlainWarning(errs) != "" {
		t.Fatalf("exit %d, stderr:\n%s\nstdout:\n%s", code, errs, out)
	}
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^ table\n-+\n lines\n orders\n\(2 tables\)$`),
		lineRE("column", "type", "source type", "null", "key"),
		lineRE("id", "INT32", "int(11)", "no", "PRI"),
		lineRE("customer", "STRING", "varchar(64)", "no", ""),
		lineRE("amount", "DECIMAL(12,2)", "decimal(12,2)", "yes", ""),
		lineRE("created_at", "TIMESTAMP", "datetime(6)", "yes", ""),
		regexp.MustCompile(`\(4 columns\)`),
		lineRE("order_id", "INT32", "int(11)", "no", "PRI 1"),
		lineRE("n", "UINT16", "smallint(5) unsigned", "no", "PRI 2"),
		lineRE("sku", "STRING", "varchar(16)", "yes", ""),
		lineRE(db, "lines"),
	} {
		if !re.MatchString(out) {
			t.Errorf("output does not match %s:\n%s", re, out)
		}
	}
	if strings.Contains(out, db+" | orders") {
		t.Errorf("SHOW TABLES LIKE 'line%%' listed orders:\n%s", out)
	}
}

// TestReplDescribeEnumMemberCase: DESCRIBE shows an ENUM's and a SET's
// source type with the members as MySQL has them: enum('G','PG-13'), not
// enum('g','pg-13') (new-user trial: DESCRIBE sakila.film).
func TestReplDescribeEnumMemberCase(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, dsn string) {
		db := testenv.UniqueName(t)
		my := testenv.MySQLConn(t, dsn)
		t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
		testenv.Exec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".film (id INT PRIMARY KEY, rating ENUM('G','PG','PG-13','R','NC-17') NOT NULL, f SET('Trailers','Deleted Scenes'))")
		out, errs, code := runRepl(t, "DESCRIBE "+db+".film;\n", "--source", dsn)
		if code != 0 || withoutPlainWarning(errs) != "" {
			t.Fatalf("exit %d, stderr:\n%s\nstdout:\n%s", code, errs, out)
		}
		for _, re := range []*regexp.Regexp{
			lineRE("rating", "STRING", "enum('G','PG','PG-13','R','NC-17')", "no", ""),
			lineRE("f", "STRING", "set('Trailers','Deleted Scenes')", "yes", ""),
		} {
			if !re.MatchString(out) {
				t.Errorf("output does not match %s:\n%s", re, out)
			}
		}
	})
}

// waitFor waits until the REPL's stderr holds s.
func (p *replProc) waitFor(t *testing.T, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.stderr(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q on stderr within %s\nstdout:\n%s\nstderr:\n%s", s, d, p.stdout(), p.stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplQueryLimit tails the binlog while the test writes: once the
// query says it follows the table, every commit shows; the three first rows
// that pass the WHERE are printed (the last transaction cut at the limit),
// then the query ends by itself and the REPL goes on.
func TestReplQueryLimit(t *testing.T) {
	t.Parallel()
	dsn, db := replDB(t)
	p := startRepl(t, "FROM binlog "+db+".orders WHERE amount > 100 TRANSFORM id, amount, upper(customer) AS who, _op LIMIT 3;\nSHOW SOURCES;\n", "--source", dsn)
	p.waitFor(t, db+".orders: changes from now on (Ctrl-C stops)", time.Minute)

	w := testenv.MySQLConn(t, dsn)
	testenv.Exec(t, w,
		"INSERT INTO "+db+".orders VALUES (2, 'c2', 102.25, NOW(6)), (3, 'low', 1.00, NOW(6))",
		"UPDATE "+db+".orders SET amount = 2 WHERE id = 1",
		"INSERT INTO "+db+".orders VALUES (4, 'c4', 104.25, NOW(6)), (5, 'low', 1.00, NOW(6)), (6, 'c6', 106.25, NOW(6)), (8, 'c8', 108.25, NOW(6))",
	)
	var err error
	select {
	case err = <-p.done:
	case <-time.After(time.Minute):
		t.Fatalf("the query did not end after 3 rows\nstdout:\n%s\nstderr:\n%s", p.stdout(), p.stderr())
	}
	out := p.stdout()
	if err != nil {
		t.Fatalf("etlq repl: %v\nstdout:\n%s\nstderr:\n%s", err, out, p.stderr())
	}
	rows := regexp.MustCompile(`(?m)^ +(\d+) \| +(\d+\.\d\d) \| (\w+) +\| (\w+)$`).FindAllStringSubmatch(out, -1)
	var got []string
	for _, r := range rows {
		got = append(got, strings.Join(r[1:], " "))
	}
	want := []string{"2 102.25 C2 insert", "4 104.25 C4 insert", "6 106.25 C6 insert"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s\nstdout:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), out)
	}
	if !regexp.MustCompile(`(?m)^ id +\| amount +\| who +\| _op$`).MatchString(out) {
		t.Errorf("no header in:\n%s", out)
	}
	if !strings.Contains(out, "(3 rows)\n") || !strings.Contains(out, "(1 source)") {
		t.Errorf("want (3 rows) then the SHOW SOURCES that follows:\n%s", out)
	}
}

// TestReplQueryNoteFirst: while the table is being written, the note that
// the stream is open still comes before the rows (standard output and
// standard error going to the same terminal, as in a session).
func TestReplQueryNoteFirst(t *testing.T) {
	t.Parallel()
	dsn, db := replDB(t)
	w := testenv.MySQLConn(t, dsn)
	stopW := make(chan struct{})
	wrote := make(chan error, 1)
	go func() {
		for i := 100; ; i++ {
			select {
			case <-stopW:
				wrote <- nil
				return
			default:
			}
			if _, err := w.Execute(fmt.Sprintf("INSERT INTO %s.orders VALUES (%d, 'c%d', 1, NOW(6))", db, i, i)); err != nil {
				wrote <- err
				return
			}
		}
	}()
	p := &replProc{done: make(chan error, 1)}
	p.cmd = exec.Command(etlqBin, "repl", "--source", dsn)
	p.cmd.Stdin = strings.NewReader("FROM binlog " + db + ".orders TRANSFORM id, customer LIMIT 20;\n")
	p.cmd.Stdout = lockedWriter{&p.mu, &p.out}
	p.cmd.Stderr = lockedWriter{&p.mu, &p.out}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.cmd.Process.Kill() })
	err := p.wait(t, time.Minute)
	close(stopW)
	if werr := <-wrote; werr != nil {
		t.Fatal(werr)
	}
	out := p.stdout()
	if err != nil {
		t.Fatalf("etlq repl: %v\n%s", err, out)
	}
	note := strings.Index(out, db+".orders: changes from now on (Ctrl-C stops)")
	header := regexp.MustCompile(`(?m)^ _op +\| id +\| customer$`).FindStringIndex(out)
	if note < 0 || header == nil || !strings.Contains(out, "(20 rows)") {
		t.Fatalf("want the note, a header and 20 rows:\n%s", out)
	}
	if note > header[0] {
		t.Errorf("rows were printed before the note that the stream is open:\n%s", out)
	}
}

// TestReplInterrupt: Ctrl-C (SIGINT) stops the running query, and the REPL
// goes on with the next statement.
func TestReplInterrupt(t *testing.T) {
	t.Parallel()
	dsn, db := replDB(t)
	p := startRepl(t, "FROM binlog "+db+".orders TRANSFORM id, customer;\nSHOW TABLES FROM "+db+";\n", "--source", dsn)
	p.waitFor(t, "(Ctrl-C stops)", time.Minute)
	w := testenv.MySQLConn(t, dsn)
	deadline := time.Now().Add(time.Minute)
	for i := 100; !strings.Contains(p.stdout(), "insert") && !strings.Contains(p.stdout(), "c100"); i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no row printed\nstdout:\n%s\nstderr:\n%s", p.stdout(), p.stderr())
		}
		testenv.Exec(t, w, fmt.Sprintf("INSERT INTO %s.orders VALUES (%d, 'c%d', 1, NOW(6))", db, i, i))
		time.Sleep(300 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Fatalf("etlq repl: %v\nstdout:\n%s\nstderr:\n%s", err, p.stdout(), p.stderr())
	}
	out := p.stdout()
	if !regexp.MustCompile(`\(\d+ rows?, stopped\)\n`).MatchString(out) {
		t.Errorf("the query was not reported stopped:\n%s", out)
	}
	if !strings.Contains(out, "(2 tables)") {
		t.Errorf("the REPL did not go on after Ctrl-C:\n%s\nstderr:\n%s", out, p.stderr())
	}
}

// TestReplErrors: a syntax error and a binding error show the statement with
// a caret, and the REPL goes on; a script with errors exits 1.
func TestReplErrors(t *testing.T) {
	t.Parallel()
	dsn, db := replDB(t)
	in := "FROM binlog " + db + ".orders WHERE;\n" +
		"FROM binlog " + db + ".orders WHERE amout > 1;\n" +
		"SHOW TABLE;\n" +
		"SELECT * FROM " + db + ".orders;\n" +
		"DESCRIBE " + db + ".ordrs;\n" +
		"DESCRIBE " + db + "x.orders;\n" +
		"SHOW TABLES FROM " + db + "x;\n" +
		"DESCRIBE " + db + ".orders;\n"
	out, errs, code := runRepl(t, in, "--source", dsn)
	if code != 1 {
		t.Errorf("exit code %d, want 1 after errors", code)
	}
	for _, want := range []string{
		"repl:1:", "WHERE;\n",
		`unknown column "amout" in ` + db + `.orders (did you mean "amount"?)`,
		"FROM binlog " + db + ".orders WHERE amout > 1;\n" + strings.Repeat(" ", len("FROM binlog "+db+".orders WHERE ")) + "^~~~~\n",
		"SHOW TABLE is not known",
		"repl:1:1: \"SELECT\" does not begin a statement here: SHOW, DESCRIBE, FROM binlog, PLAN, CREATE SOURCE or CREATE FUNCTION (\\help lists them)\nSELECT * FROM " + db + ".orders;\n^~~~~~\n",
		// A table or database that is not there is shown like a FROM
		// binlog's, with the place and a suggestion (it was a bare
		// "error: source src: table … does not exist"; new-user trial).
		"repl:1:10: no table " + db + ".ordrs in source src (did you mean \"orders\"?)\nDESCRIBE " + db + ".ordrs;\n" +
			strings.Repeat(" ", len("DESCRIBE ")) + "^" + strings.Repeat("~", len(db+".ordrs")-1) + "\n",
		"repl:1:10: no database " + db + "x in source src (did you mean \"" + db + "\"?)\nDESCRIBE " + db + "x.orders;\n" +
			strings.Repeat(" ", len("DESCRIBE ")) + "^" + strings.Repeat("~", len(db+"x")-1) + "\n",
		// (SHOW TABLES FROM a database that is not there listed "(0 tables)".)
		"repl:1:18: no database " + db + "x in source src (did you mean \"" + db + "\"?)\nSHOW TABLES FROM " + db + "x;\n",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if !regexp.MustCompile(`(?m)^ *WHERE;\n *\^`).MatchString(errs) && !regexp.MustCompile(`(?m)^FROM binlog .*WHERE;\n +\^`).MatchString(errs) {
		t.Errorf("no caret under the syntax error:\n%s", errs)
	}
	if !lineRE("amount", "DECIMAL(12,2)", "decimal(12,2)", "yes", "").MatchString(out) {
		t.Errorf("the REPL did not go on after the errors:\n%s", out)
	}
}

// TestReplLoadPlan loads a file, shows its pipelines and plans one.
func TestReplLoadPlan(t *testing.T) {
	t.Parallel()
	dsn, db := replDB(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "shop.etl")
	// The file's source has a server_id of its own, as examples/shop.etl.
	src := fmt.Sprintf(`CREATE SOURCE shop FROM mysql '%s' WITH (server_id = 7301);
CREATE FUNCTION tier(amount DECIMAL(12,2)) RETURNS STRING AS EXPR 'amount > 1000 ? "gold" : "standard"';
CREATE PIPELINE big_orders
  FROM binlog shop.%s.orders SNAPSHOT never
  WHERE amount > 100
  TRANSFORM id, amount, tier(amount) AS tier
  INTO stdout FORMAT jsonl;
`, dsn, db)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	// --source names the same server as the file's source: database.table
	// needs no source prefix, whatever server_id the file gives.
	out, errs, code := runRepl(t, `\load `+file+"\nSHOW PIPELINES;\nPLAN big_orders;\nPLAN nothing;\nDESCRIBE "+db+".orders;\nSHOW SOURCES;\n", "--source", dsn)
	if code != 1 {
		t.Errorf("exit code %d, want 1 (PLAN nothing fails)", code)
	}
	for _, want := range []string{
		"loaded " + file + ": 1 source, 0 sinks, 1 function, 1 pipeline",
		"pipeline big_orders\n",
		"  scan       binlog " + db + ".orders  snapshot never\n",
		"  filter     ",
		"  sink       stdout",
		"(1 pipeline)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s\nstderr:\n%s", want, out, errs)
		}
	}
	if !regexp.MustCompile(`tier +STRING +=`).MatchString(out) {
		t.Errorf("the plan does not show the tier column:\n%s", out)
	}
	if !strings.Contains(errs, `no pipeline "nothing" in `+file+" (pipelines: big_orders)") {
		t.Errorf("stderr:\n%s", errs)
	}
	if !lineRE("id", "INT32", "int(11)", "no", "PRI").MatchString(out) {
		t.Errorf("DESCRIBE through the file's source failed:\n%s", out)
	}
	if !lineRE("shop", "mysql", dsn, "file").MatchString(out) || !lineRE("src", "mysql", dsn, "--source").MatchString(out) {
		t.Errorf("SHOW SOURCES does not list both sources:\n%s", out)
	}
}

// TestReplDeclare: CREATE SOURCE and CREATE FUNCTION typed in the REPL join
// the session; a SNAPSHOT only query reads the table through them and ends.
func TestReplDeclare(t *testing.T) {
	t.Parallel()
	dsn, db := replDB(t)
	minimal := testenv.MySQLMinimalDSN(t)
	in := "CREATE SOURCE b FROM mysql '" + minimal + "';\n" +
		"CREATE FUNCTION twice(x BIGINT) RETURNS INT64 as expr 'x * 2';\n" +
		"SHOW TABLES FROM " + db + ";\n" + // ambiguous: two servers
		"SHOW TABLES FROM src." + db + ";\n" +
		"FROM binlog src." + db + ".orders SNAPSHOT only TRANSFORM id, twice(id) AS t, customer;\n" +
		"SHOW FUNCTIONS LIKE 'twi%';\n" +
		// Typed again: replaced, and said so.
		"CREATE SOURCE b FROM mysql '" + minimal + "';\n" +
		"CREATE FUNCTION twice(x BIGINT) RETURNS INT64 as expr 'x * 3';\n" +
		"FROM binlog src." + db + ".orders SNAPSHOT only TRANSFORM id, twice(id) AS t, customer;\n"
	out, errs, code := runRepl(t, in, "--source", dsn)
	if code != 1 {
		t.Errorf("exit code %d, want 1 (one statement fails)", code)
	}
	if !strings.Contains(errs, "several sources are known (src, b)") {
		t.Errorf("stderr:\n%s", errs)
	}
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^source b: mysql://`),
		regexp.MustCompile(`(?m)^function twice declared$`),
		regexp.MustCompile(`(?m)^ table\n-+\n lines\n orders\n\(2 tables\)$`),
		lineRE("read", "1", "2", "ann"),
		regexp.MustCompile(`(?m)^\(1 row\)$`),
		lineRE("twice(x INT64) → INT64", "user function: AS EXPR 'x * 2'"),
		regexp.MustCompile(`(?m)^source b replaced: mysql://`),
		regexp.MustCompile(`(?m)^function twice replaced$`),
		lineRE("read", "1", "3", "ann"),
	} {
		if !re.MatchString(out) {
			t.Errorf("stdout does not match %s:\n%s\nstderr:\n%s", re, out, errs)
		}
	}
}

// TestReplRedeclareFunction: a CREATE FUNCTION typed again in the REPL
// replaces the earlier one of its name, as a CREATE SOURCE does; it said
// "function twice declared" and queries went on with the old body, and
// SHOW FUNCTIONS listed both (new-user trial). On MariaDB A and B.
func TestReplRedeclareFunction(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{testenv.MySQLDSN(t), testenv.MySQLMinimalDSN(t)} {
		db := testenv.UniqueName(t)
		my := testenv.MySQLConn(t, dsn)
		testenv.Exec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".orders (id INT PRIMARY KEY)", "INSERT INTO "+db+".orders VALUES (1)")
		t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
		in := "CREATE FUNCTION twice(x BIGINT) RETURNS INT64 AS EXPR 'x * 2';\n" +
			"CREATE FUNCTION TWICE(x BIGINT) RETURNS INT64 AS EXPR 'x * 3';\n" +
			"FROM binlog " + db + ".orders SNAPSHOT only TRANSFORM id, twice(id) AS t;\n" +
			"SHOW FUNCTIONS LIKE 'twi%';\n"
		out, errs, code := runRepl(t, in, "--source", dsn)
		if code != 0 {
			t.Errorf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
		}
		for _, re := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^function TWICE replaced$`),
			lineRE("read", "1", "3"),
			regexp.MustCompile(`(?m)^\(1 function\)$`),
			lineRE("TWICE(x INT64) → INT64", "user function: AS EXPR 'x * 3'"),
		} {
			if !re.MatchString(out) {
				t.Errorf("stdout does not match %s:\n%s\nstderr:\n%s", re, out, errs)
			}
		}
	}
}

// TestReplShowPipelinesMode: a ClickHouse pipeline without MODE runs as
// upsert when its table has a primary key; SHOW PIPELINES (and plan
// --offline, which cannot know the key) must not call it append.
func TestReplShowPipelinesMode(t *testing.T) {
	t.Parallel()
	dsn, db := replDB(t)
	ch := testenv.ClickHouseDSN(t)
	my := testenv.MySQLConn(t, dsn)
	testenv.Exec(t, my, "CREATE TABLE "+db+".notes (txt VARCHAR(10) NOT NULL)")
	file := filepath.Join(t.TempDir(), "modes.etl")
	src := fmt.Sprintf(`CREATE SOURCE shop FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE olap FROM binlog shop.%[3]s.orders INTO clickhouse dw.%[3]s.orders;
CREATE PIPELINE keyed FROM binlog shop.%[3]s.notes INTO clickhouse dw.%[3]s.notes KEY (txt);
CREATE PIPELINE keyless FROM binlog shop.%[3]s.notes INTO clickhouse dw.%[3]s.notes2;
CREATE PIPELINE tail FROM binlog shop.%[3]s.orders INTO stdout;
`, dsn, ch, db)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := runRepl(t, `\load `+file+"\nSHOW PIPELINES;\n")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, re := range []*regexp.Regexp{
		lineRE("olap", "shop."+db+".orders", "clickhouse "+db+".orders", "upsert"),
		lineRE("keyed", "shop."+db+".notes", "clickhouse "+db+".notes", "upsert"),
		lineRE("keyless", "shop."+db+".notes", "clickhouse "+db+".notes2", "append"),
		lineRE("tail", "shop."+db+".orders", "stdout", "append"),
	} {
		if !re.MatchString(out) {
			t.Errorf("SHOW PIPELINES does not match %s:\n%s", re, out)
		}
	}
	plan := mustEtlq(t, "plan", "--offline", file)
	for _, want := range []string{
		"dw." + db + ".orders  mode upsert (append if the table has no primary key)\n",
		"dw." + db + ".notes  mode upsert  key (txt)\n",
		"mode append",
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan --offline lacks %q:\n%s", want, plan)
		}
	}
}

// TestReplHistoryLineBreaks types a statement on two lines, the first
// ending in a "-- comment", at a terminal; the history keeps its line break,
// so recalling it (Up, Enter) in a new session runs the same statement
// instead of one whose comment swallowed the rest.
func TestReplHistoryLineBreaks(t *testing.T) {
	t.Parallel()
	dsn, db := replDB(t)
	home := t.TempDir()
	// A new prompt, on a line of its own (the editor also reprints the
	// prompt as keys are typed, on the same line).
	prompt := regexp.MustCompile(`\n[^\n]*(etlq>|   ->) `)
	session := func(keys ...string) string {
		t.Helper()
		p := openPTY(t)
		cmd := exec.Command(etlqBin, "repl", "--source", dsn)
		cmd.Env = append(os.Environ(), "HOME="+home, "TERM=xterm")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = p.slave, p.slave, p.slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer p.slave.Close() // kept open to read the terminal's mode
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { cmd.Process.Kill() })
		off := 0
		for _, k := range keys {
			// Each line once the editor prompts for it and reads keys one
			// by one: it prints the prompt, then leaves canonical mode;
			// keys typed before would go through the kernel's line editing.
			p.waitFor(t, done, func(out string) bool {
				if !prompt.MatchString(out[off:]) {
					return false
				}
				tio, err := unix.IoctlGetTermios(int(p.slave.Fd()), unix.TCGETS)
				return err == nil && tio.Lflag&unix.ICANON == 0
			})
			off = len(p.output())
			if _, err := p.master.Write([]byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("etlq repl: %v\n%s", err, p.output())
			}
		case <-time.After(time.Minute):
			t.Fatalf("etlq repl did not end:\n%s", p.output())
		}
		return p.output()
	}
	out := session("SHOW TABLES FROM "+db+" -- only the orders\r", "LIKE 'ord%';\r", "\x04") // Ctrl-D leaves
	if !strings.Contains(out, "(1 table)") {
		t.Fatalf("the statement did not run:\n%s", out)
	}
	hist, err := os.ReadFile(filepath.Join(home, ".etlq_history"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "SHOW TABLES FROM " + db + " -- only the orders" + repl.HistoryBreak + "LIKE 'ord%';\n"; !strings.Contains(string(hist), want) {
		t.Errorf("history file %q lacks %q", hist, want)
	}
	// Up recalls it; the ";" after it ends whatever is pending: the
	// statement without its LIKE, had the comment swallowed it.
	out = session("\x1b[A\r", ";\r", "\x04")
	if !strings.Contains(out, "(1 table)") || strings.Contains(out, "(2 tables)") {
		t.Errorf("the recalled statement did not run as typed:\n%s", out)
	}
}

// TestReplQueryRowError: a query stopped by a row it cannot compute (a
// cast that fails) says what failed, with the row, and nothing of apply's
// advice: it used to end with "its checkpoint stays at binlog…: fix the
// pipeline in the file …, then run apply again, and it resumes from
// there", while a query has no file, no apply and a checkpoint deleted
// when it ends (new-user trial).
func TestReplQueryRowError(t *testing.T) {
	t.Parallel()
	dsn, db := replDB(t)
	out, errs, code := runRepl(t, "FROM binlog "+db+".orders SNAPSHOT only TRANSFORM id, CAST(customer AS INT32) AS n;\nSHOW TABLES FROM "+db+";\n", "--source", dsn)
	if code != 1 {
		t.Errorf("exit code %d, want 1 after the failed query", code)
	}
	for _, want := range []string{"query stopped: ", `cannot cast 'ann' to INT32`, "id = 1"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	for _, bad := range []string{"checkpoint", "apply", "in the file"} {
		if strings.Contains(errs, bad) {
			t.Errorf("stderr speaks of %q, which a query has not:\n%s", bad, errs)
		}
	}
	if !strings.Contains(out, "orders") {
		t.Errorf("the REPL did not go on after the failed query:\n%s", out)
	}
}

// TestReplPlanOneOfABrokenFile: PLAN p plans p, however another pipeline
// of the file stands against the live schemas: it used to plan the whole
// file and show the other pipeline's error instead (a file being written
// is where PLAN helps; new-user trial). PLAN of the broken one shows its
// error.
func TestReplPlanOneOfABrokenFile(t *testing.T) {
	t.Parallel()
	dsn, db := replDB(t)
	file := filepath.Join(t.TempDir(), "p.etl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE shop FROM mysql '%[1]s';
CREATE PIPELINE good FROM binlog shop.%[2]s.orders TRANSFORM id, amount INTO stdout;
CREATE PIPELINE bad FROM binlog shop.%[2]s.orders TRANSFORM id, amout INTO stdout;
`, dsn, db))
	out, errs, code := runRepl(t, `\load `+file+"\nPLAN good;\nPLAN bad;\n", "--source", dsn)
	if code != 1 {
		t.Errorf("exit code %d, want 1 (PLAN bad fails)", code)
	}
	if !strings.Contains(out, "pipeline good\n") || !regexp.MustCompile(`amount +DECIMAL\(12,2\) +=`).MatchString(out) {
		t.Errorf("PLAN good did not show its plan:\nstdout:\n%s\nstderr:\n%s", out, errs)
	}
	if strings.Contains(out, "pipeline bad\n") {
		t.Errorf("PLAN bad showed a plan:\n%s", out)
	}
	// The load warns of the bad pipeline once, PLAN bad says it again; PLAN good does not.
	if n := strings.Count(errs, `unknown column "amout"`); n != 2 {
		t.Errorf("the bad pipeline's error is shown %d times, want 2 (load, PLAN bad):\n%s", n, errs)
	}
}

// TestReplQueryFromNow: a query shows the changes committed from the
// moment it says so, whatever the loaded file's source says about where
// apply starts, and a file's source that names the same server as
// --source with other settings than the server_id needs no prefix. A
// new-user trial loaded a file written as docs/LANGUAGE.md's example
// (WITH (server_id = …, flavor = 'mariadb')) next to --source: every
// statement failed with "several sources are known"; with start_at =
// 'earliest' a query printed changes of ten minutes before under "changes
// from now on"; and the source's INFO logs (a schema change) came between
// the rows, though a query logs warnings only. On both servers.
func TestReplQueryFromNow(t *testing.T) {
	t.Parallel()
	replOnBothServers(t, "id INT PRIMARY KEY, customer VARCHAR(64) NOT NULL", func(t *testing.T, dsn, db string, my *client.Conn) {
		st := testenv.Query(t, my, "SHOW MASTER STATUS")
		testenv.Exec(t, my, "INSERT INTO "+db+".orders VALUES (1, 'before the query')")
		file := filepath.Join(t.TempDir(), "shop.etl")
		src := fmt.Sprintf("CREATE SOURCE shop FROM mysql '%s' WITH (server_id = 7303, flavor = 'mariadb', start_at = '%s:%s', chunk_rows = 1000);\n",
			dsn, st[0][0], st[0][1])
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		p := startRepl(t, "FROM binlog "+db+".orders TRANSFORM id, customer LIMIT 1;\nDESCRIBE "+db+".orders;\n", "--source", dsn, file)
		p.waitFor(t, db+".orders: changes from now on (Ctrl-C stops)", time.Minute)
		testenv.Exec(t, my, "ALTER TABLE "+db+".orders ADD COLUMN note VARCHAR(8)", "INSERT INTO "+db+".orders VALUES (2, 'after the note', NULL)")
		if err := p.wait(t, time.Minute); err != nil {
			t.Fatalf("etlq repl: %v\nstdout:\n%s\nstderr:\n%s", err, p.stdout(), p.stderr())
		}
		out, errs := p.stdout(), p.stderr()
		if !lineRE("insert", "2", "after the note").MatchString(out) || strings.Contains(out, "before the query") || !strings.Contains(out, "(1 row)\n") {
			t.Errorf("want the row inserted after the note alone:\nstdout:\n%s\nstderr:\n%s", out, errs)
		}
		if !lineRE("note", "STRING", "varchar(8)", "yes", "").MatchString(out) {
			t.Errorf("DESCRIBE without a source prefix failed:\nstdout:\n%s\nstderr:\n%s", out, errs)
		}
		if strings.Contains(errs, "INFO") {
			t.Errorf("a query's stderr has INFO logs:\n%s", errs)
		}

		// The file's source alone: its start_at is before row 1.
		p = startRepl(t, "FROM binlog "+db+".orders TRANSFORM id, customer LIMIT 1;\n", file)
		p.waitFor(t, db+".orders: changes from now on (Ctrl-C stops)", time.Minute)
		testenv.Exec(t, my, "INSERT INTO "+db+".orders VALUES (3, 'after the note', NULL)")
		if err := p.wait(t, time.Minute); err != nil {
			t.Fatalf("etlq repl: %v\nstdout:\n%s\nstderr:\n%s", err, p.stdout(), p.stderr())
		}
		if out := p.stdout(); !lineRE("insert", "3", "after the note").MatchString(out) || !strings.Contains(out, "(1 row)\n") {
			t.Errorf("want the row inserted after the note alone:\nstdout:\n%s\nstderr:\n%s", out, p.stderr())
		}
	})
}

// TestReplQueryStoppedByDDLShowsCaret: a query that a DDL stops (the
// column its WHERE reads is dropped while it streams) shows the error as
// every other REPL error (docs/repl.md): the position, the statement and
// a caret under the column. It printed the message alone, the position
// buried in the middle of the line (new-user trial). On both servers.
func TestReplQueryStoppedByDDLShowsCaret(t *testing.T) {
	t.Parallel()
	replOnBothServers(t, "id INT PRIMARY KEY, amount INT", func(t *testing.T, dsn, db string, my *client.Conn) {
		stmt := "FROM binlog " + db + ".orders WHERE amount > 1;"
		p := startRepl(t, stmt+"\n", "--source", dsn)
		p.waitFor(t, db+".orders: changes from now on (Ctrl-C stops)", time.Minute)
		testenv.Exec(t, my, "ALTER TABLE "+db+".orders DROP COLUMN amount", "INSERT INTO "+db+".orders VALUES (2)")
		p.wait(t, time.Minute)
		errs := withoutPlainWarning(p.stderr())
		col := strings.Index(stmt, "amount")
		want := "\n" + stmt + "\n" + strings.Repeat(" ", col) + "^~~~~~\n"
		if !strings.Contains(errs, want) || !strings.Contains(errs, fmt.Sprintf("repl:1:%d: ", col+1)) {
			t.Errorf("want the error with its position, the statement and a caret under amount:\n%s", errs)
		}
	})
}

// TestReplShowFunctionsCells: SHOW FUNCTIONS keeps its table a table: a
// signature whose result is one of several types (date_add → TIMESTAMP or
// DATE, floor → INT64, DECIMAL or FLOAT64) has no "|" that splits its cell —
// the rows of date_add and floor had a column more than the header
// (new-user trial).
func TestReplShowFunctionsCells(t *testing.T) {
	t.Parallel()
	out, errs, code := runRepl(t, "SHOW FUNCTIONS LIKE 'date_%';\nSHOW FUNCTIONS LIKE 'floor';\n")
	if code != 0 {
		t.Fatalf("exit code %d:\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"date_add(t, i INTERVAL) → TIMESTAMP or DATE", "floor(x) → INT64, DECIMAL or FLOAT64"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	rows := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "→") {
			rows++
			if n := strings.Count(l, "|"); n != 1 {
				t.Errorf("%d cell separators in a row of 2 cells: %s", n, l)
			}
		}
	}
	if rows < 3 {
		t.Errorf("want date_add, date_sub, date_format… and floor, got %d rows:\n%s", rows, out)
	}
}

// TestReplSameServerTLSSpelling: a file's source and --source name the same
// server when they say the same about TLS, whichever way they say it — the
// file in WITH (ssl_mode = 'disabled'), as the plain-connection warning
// advises, --source in its DSN (?ssl_mode=disabled, the only way it has),
// and an ssl_mode left out is the default 'preferred'. An ops trial loaded
// its file (WITH (…, ssl_mode = 'disabled')) next to --source with the
// same DSN and ?ssl_mode=disabled: every SHOW TABLES and DESCRIBE failed
// with "several sources are known (src, shop)". Another ssl_mode is
// another connection: the prefix is still needed. On both servers.
func TestReplSameServerTLSSpelling(t *testing.T) {
	t.Parallel()
	replOnBothServers(t, "id INT PRIMARY KEY, customer VARCHAR(64) NOT NULL", func(t *testing.T, dsn, db string, my *client.Conn) {
		for _, tc := range []struct {
			name, with, flagParams string
			same                   bool
		}{
			{"option and parameter", " WITH (server_id = 7311, ssl_mode = 'disabled')", "?ssl_mode=disabled", true},
			{"default and parameter", "", "?ssl_mode=preferred", true},
			{"option and default", " WITH (ssl_mode = 'preferred')", "", true},
			{"other modes", " WITH (ssl_mode = 'disabled')", "", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				file := filepath.Join(t.TempDir(), "shop.etl")
				src := fmt.Sprintf("CREATE SOURCE shop FROM mysql '%s'%s;\n", dsn, tc.with)
				if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
				out, errs, code := runRepl(t, "DESCRIBE "+db+".orders;\n", "--source", dsn+tc.flagParams, file)
				described := lineRE("customer", "STRING", "varchar(64)", "no", "").MatchString(out)
				ambiguous := strings.Contains(errs, "several sources are known (src, shop)")
				if tc.same && (code != 0 || !described || ambiguous) {
					t.Errorf("DESCRIBE without a source prefix failed (exit %d):\nstdout:\n%s\nstderr:\n%s", code, out, errs)
				}
				if !tc.same && (code != 1 || !ambiguous) {
					t.Errorf("want the two sources told apart (exit 1, several sources are known), got exit %d:\nstdout:\n%s\nstderr:\n%s", code, out, errs)
				}
			})
		}
	})
}
