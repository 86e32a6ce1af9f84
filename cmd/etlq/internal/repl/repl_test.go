package repl

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	_ "github.com/etlq/etlq/connectors/all" // the kinds a session reaches through the registry
	"github.com/etlq/etlq/connectors/stdout"
	"github.com/etlq/etlq/connectors/testenv"
	etlexec "github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/planner"
)

// The tests of a running `etlq repl` (statements, queries, errors,
// interrupts) are in cmd/etlq/repl_test.go: they run the binary. These
// test the session's parts.

// replDB makes a database with an orders and a lines table for one test.
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

// TestReplComplete checks Tab completion against a live source.
func TestReplComplete(t *testing.T) {
	dsn, db := replDB(t)
	r := newRepl(context.Background(), io.Discard, io.Discard, false, false)
	defer r.close()
	r.flagSrc = &planner.SourceDecl{Name: flagSourceName, Kind: "mysql", DSN: dsn, Options: map[string]any{}}
	for _, tc := range []struct {
		pending, line string
		want          []string
	}{
		{"", "sh", []string{"show "}},
		{"", "SHOW TA", []string{"TABLES "}},
		{"", `\lo`, []string{`\load `}},
		{"", "FROM binlog " + db[:len(db)-3], []string{db + "."}},
		{"", "FROM binlog " + db + ".or", []string{db + ".orders "}},
		{"", "DESCRIBE " + db + ".", []string{db + ".lines ", db + ".orders "}},
		{"", "FROM binlog " + db + ".orders WHERE cust", []string{"customer"}},
		{"FROM binlog " + db + ".orders\n", "TRANSFORM id, am", []string{"amount"}},
		{"", "FROM binlog " + db + ".orders TRANSFORM before.cr", []string{"before.created_at"}},
		{"", "FROM binlog " + db + ".orders WHERE amount > 1 TRANS", []string{"TRANSFORM "}},
		{"", "FROM binlog " + db + ".orders SNAPSHOT n", []string{"never "}},
		{"", "FROM binlog " + db + ".orders TRANSFORM _o", []string{"_op"}},
		{"", "FROM binlog " + db + ".orders TRANSFORM uppe", []string{"upper("}},
	} {
		r.pending = tc.pending
		head, got, tail := r.complete(tc.line, len(tc.line))
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("complete(%q) = %q, want %q", tc.line, got, tc.want)
		}
		if tail != "" || !strings.HasPrefix(tc.line, head) {
			t.Errorf("complete(%q): head %q tail %q", tc.line, head, tail)
		}
	}
	// A second source of the same server, with a server_id of its own (as
	// examples/shop.etl has), leaves database.table unambiguous.
	r.pending = ""
	r.extra = []*planner.SourceDecl{{Name: "shop", Kind: "mysql", DSN: dsn, Options: map[string]any{"server_id": int64(7302)}}}
	for line, want := range map[string]string{
		"DESCRIBE " + db[:len(db)-3]:               db + ".",
		"FROM binlog " + db + ".orders WHERE cust": "customer",
	} {
		if _, got, _ := r.complete(line, len(line)); strings.Join(got, ",") != want {
			t.Errorf("with a second source of the same server, complete(%q) = %q, want %q", line, got, want)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	for _, tc := range []struct {
		in    string
		stmts []string
		rest  string
	}{
		{"SHOW TABLES;", []string{"SHOW TABLES;"}, ""},
		{"SHOW TABLES; DESCRIBE a.b;\n", []string{"SHOW TABLES;", " DESCRIBE a.b;"}, "\n"},
		{"FROM binlog a.b\nWHERE x = ';'", nil, "FROM binlog a.b\nWHERE x = ';'"},
		{"FROM binlog a.b WHERE x = 'it''s;';", []string{"FROM binlog a.b WHERE x = 'it''s;';"}, ""},
		{"FROM binlog `a;b`.c; -- done; really\n", []string{"FROM binlog `a;b`.c;"}, " -- done; really\n"},
		{"FROM binlog a.b /* ; */ LIMIT 1;", []string{"FROM binlog a.b /* ; */ LIMIT 1;"}, ""},
		{"FROM binlog a.b WHERE x = 'open;", nil, "FROM binlog a.b WHERE x = 'open;"},
	} {
		stmts, rest := splitStatements(tc.in)
		if fmt.Sprintf("%q", stmts) != fmt.Sprintf("%q", tc.stmts) || rest != tc.rest {
			t.Errorf("splitStatements(%q) = %q, %q; want %q, %q", tc.in, stmts, rest, tc.stmts, tc.rest)
		}
	}
	for s, want := range map[string]bool{"": true, " \n": true, "-- x\n": true, "/* x */ ": true, "/* open": false, "x": false} {
		if blank(s) != want {
			t.Errorf("blank(%q) = %v", s, !want)
		}
	}
}

// TestLimitSink: a batch larger than the rows left is cut through its
// selection vector, later batches are dropped and acknowledged, and the
// limit is signalled once.
func TestLimitSink(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer alloc.AssertSize(t, 0)
	var buf bytes.Buffer
	reached := 0
	s := &limitSink{inner: stdout.New(&buf, false), left: 3, reached: func() { reached++ }}
	target := connectors.Target{Format: "csv", Schema: sinkSchema()}
	w, err := s.Open(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	acks := 0
	for _, ids := range [][]int64{{1, 2}, {3, 4, 5}, {6}} {
		b := sinkBatch(alloc, ids)
		if err := w.Write(context.Background(), b, func(err error) {
			if err != nil {
				t.Error(err)
			}
			acks++
		}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	s.Close()
	if acks != 3 || reached != 1 || s.printed() != 3 {
		t.Errorf("acks %d reached %d printed %d, want 3, 1, 3", acks, reached, s.printed())
	}
	var ids []string
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		ids = append(ids, strings.SplitN(sc.Text(), ",", 2)[0])
	}
	if got := strings.Join(ids, " "); got != "id 1 2 3" {
		t.Errorf("printed ids %q, want the header and 1 2 3", got)
	}
}

func sinkSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: etlexec.SysVersion, Type: arrow.PrimitiveTypes.Uint64},
		{Name: etlexec.SysDeleted, Type: arrow.PrimitiveTypes.Uint8},
		{Name: etlexec.SysOp, Type: arrow.BinaryTypes.String},
		{Name: etlexec.SysTs, Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: etlexec.SysPos, Type: arrow.BinaryTypes.String},
	}, nil)
}

func sinkBatch(alloc memory.Allocator, ids []int64) *etlexec.Batch {
	b := array.NewRecordBuilder(alloc, sinkSchema())
	defer b.Release()
	for i, id := range ids {
		b.Field(0).(*array.Int64Builder).Append(id)
		b.Field(1).(*array.Uint64Builder).Append(uint64(id))
		b.Field(2).(*array.Uint8Builder).Append(0)
		b.Field(3).(*array.StringBuilder).Append(etlexec.OpInsert)
		b.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(i))
		b.Field(5).(*array.StringBuilder).Append("binlog.000001:4")
	}
	return &etlexec.Batch{Record: b.NewRecordBatch(), DB: "db", Table: "t"}
}

// TestStreamSource: a query's binlog connection never uses the server_id of
// the source's pipelines.
func TestStreamSource(t *testing.T) {
	d := &planner.SourceDecl{Name: "shop", Kind: "mysql", DSN: "mysql://root@127.0.0.1:3316", Options: map[string]any{"server_id": int64(4242), "flavor": "mariadb"}}
	c := streamSource(d)
	id, _ := c.Options["server_id"].(int64)
	if id < 1<<31 || id >= 1<<32 {
		t.Errorf("server_id %d, want one in [2^31, 2^32)", id)
	}
	if d.Options["server_id"] != int64(4242) || c.Options["flavor"] != "mariadb" || c.Name != "shop" {
		t.Errorf("streamSource changed the original or lost an option: %v, %v", d.Options, c.Options)
	}
	if streamSource(nil) != nil {
		t.Error("streamSource(nil) != nil")
	}
}

// TestHistoryHidesSecrets: a CREATE SOURCE typed with its password inline
// went into ~/.etlq_history as typed (new-user trial); docs/security.md
// says the REPL never shows a password, and the history file is one more
// copy of it on disk. The entry keeps the statement with the password as
// ****, as the REPL's messages show it; a ${VAR} reference stays as typed.
func TestHistoryHidesSecrets(t *testing.T) {
	got := historyEntry("CREATE SOURCE s FROM mysql\n  'mysql://etl:Hist0ry-pw@db:3306?ssl_mode=required';")
	if strings.Contains(got, "Hist0ry-pw") || !strings.Contains(got, "'mysql://etl:****@db:3306?ssl_mode=required'") || !strings.Contains(got, HistoryBreak) {
		t.Errorf("history entry %q: want the password as **** and the line break kept", got)
	}
	const ref = "CREATE SOURCE s FROM mysql 'mysql://etl:${DB_PW}@db:3306';"
	if got := historyEntry(ref); got != ref {
		t.Errorf("history entry %q, want %q", got, ref)
	}
}

// tabReader is a terminal's line editor in a test: its first ReadLine
// presses Tab on line (the completer runs while the editor holds the
// terminal), then the input ends.
type tabReader struct {
	r    *repl
	line string
	done bool
}

func (t *tabReader) ReadLine(string) (string, error) {
	if t.done {
		return "", io.EOF
	}
	t.done = true
	t.r.complete(t.line, len(t.line))
	return "", nil
}
func (t *tabReader) AddHistory(string) {}
func (t *tabReader) Close()            {}

// TestCompletionWarningWaitsForTheLine: the source's first connection is
// made by the first Tab, while the line editor holds the terminal; its
// warning (ssl_mode = 'preferred' finding no TLS) was written straight
// onto the line being typed — "etlq> SHOW TABLES 2026/12/07 08:45:10 WARN
// unencrypted connection: …" (new-user trial), in the log package's
// format where a query's warnings are slog text. A warning logged while
// completing is shown once the line is entered, on the REPL's error
// output, as a query's are.
func TestCompletionWarningWaitsForTheLine(t *testing.T) {
	dsn, db := replDB(t)
	var direct, errw bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&direct, nil)))
	defer slog.SetDefault(prev)

	r := newRepl(context.Background(), io.Discard, &errw, false, false)
	defer r.close()
	// A source name of its own: the warning is logged once per source and
	// address in the process.
	name := "tab_" + db
	r.flagSrc = &planner.SourceDecl{Name: name, Kind: "mysql", DSN: dsn, Options: map[string]any{}}
	r.loop(&tabReader{r: r, line: "DESCRIBE " + db + ".or"})
	if strings.Contains(direct.String(), "unencrypted") {
		t.Errorf("the warning went to the terminal while the line was edited: %q", direct.String())
	}
	if got := errw.String(); !strings.Contains(got, "unencrypted connection") || !strings.Contains(got, "source="+name) {
		t.Errorf("the REPL's error output %q, want the unencrypted-connection warning of %s", got, name)
	}
}

// TestPrintTableWideCharacters: SHOW's lists line up by the columns a
// terminal gives a name (a table named in Japanese takes two a character),
// as the table format does; counting runes put its bar three columns early.
func TestPrintTableWideCharacters(t *testing.T) {
	var out strings.Builder
	printTable(&out, []string{"table", "rows"}, [][]string{{"注文", "3"}, {"orders", "12"}}, "table")
	want := " table  | rows\n" +
		"--------+------\n" +
		" 注文   | 3\n" +
		" orders | 12\n" +
		"(2 tables)\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}
