package lang

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

const pipe = "CREATE PIPELINE p FROM binlog a.b "

// TestParseErrors asserts the exact message and position of parse errors.
func TestParseErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		// missing ";": reported where it belongs, not at the next statement
		{"CREATE SOURCE a FROM mysql 'x'\nCREATE SINK b INTO clickhouse 'y';", `f.etl:1:31: missing ";" at the end of the statement`},
		{pipe + "INTO stdout", `f.etl:1:46: missing ";" at the end of the statement`},
		// unterminated string, name, comment; stray characters
		{"CREATE SOURCE a FROM mysql 'x;\n", `f.etl:1:28: unterminated string: missing closing "'"`},
		{pipe + "TRANSFORM `a INTO stdout;", "f.etl:1:45: unterminated name: missing closing \"`\""},
		{"CREATE SOURCE a FROM mysql 'x'; /* no end", `f.etl:1:33: unterminated comment: "/*" has no matching "*/"`},
		{pipe + `WHERE a = "x" INTO stdout;`, `f.etl:1:45: unexpected character "\"" (strings are written in single quotes, names in back quotes)`},
		{pipe + "WHERE a = 1 && 2 INTO stdout;", `f.etl:1:47: unexpected character "&" (use AND)`},
		{pipe + "WHERE a == 1 INTO stdout;", `f.etl:1:44: unexpected "==": equality is written with a single "="`},
		{pipe + "INTO stdout WITH (batch_rows: 100);", `f.etl:1:63: unexpected character ":" (options are written name = value; casts x::type)`},
		{pipe + "INTO stdout WITH (a = 1 b = 2);", `f.etl:1:59: expected "," or ")", found "b"`},
		{pipe + "WHERE x COLLATE = 'a' INTO stdout;", `f.etl:1:51: expected a collation name after COLLATE (utf8mb4_bin, utf8mb4_general_ci, …), found "="`},
		{pipe + "WHERE x IN (1, 2 INTO stdout;", `f.etl:1:52: expected "," or ")" to close the IN list, found "INTO"`},
		{pipe + "WHERE f(a INTO stdout;", `f.etl:1:45: expected "," or ")" to close the arguments of f, found "INTO"`},
		{pipe + "WHERE prix = 'é' AND café = 1 INTO stdout;", `f.etl:1:59: unexpected character "é" (names with non-ASCII letters must be back-quoted)`},
		// clauses out of order, repeated, unknown, not allowed
		{pipe + "TRANSFORM x WHERE y = 1 INTO stdout;", "f.etl:1:47: WHERE must come before TRANSFORM"},
		{pipe + "INTO stdout SNAPSHOT never;", "f.etl:1:47: SNAPSHOT must come before INTO"},
		{pipe + "WHERE y = 1 WHERE z INTO stdout;", "f.etl:1:47: duplicate WHERE clause (the first is at line 1)"},
		{"CREATE PIPELINE p FORM binlog a.b INTO stdout;", `f.etl:1:19: expected a clause (FROM binlog, SNAPSHOT, WHERE, TRANSFORM, INTO, FORMAT, MODE, KEY, WITH) or ";", found "FORM" (did you mean FROM?)`},
		{pipe + "TRANSFORM a b INTO stdout;", `f.etl:1:47: expected a clause (FROM binlog, SNAPSHOT, WHERE, TRANSFORM, INTO, FORMAT, MODE, KEY, WITH) or ";", found "b" (an output name needs AS: … AS b)`},
		{pipe + "TRANSFORM a, amount * 100 cents INTO stdout;", `f.etl:1:61: expected a clause (FROM binlog, SNAPSHOT, WHERE, TRANSFORM, INTO, FORMAT, MODE, KEY, WITH) or ";", found "cents" (an output name needs AS: … AS cents)`},
		{"CREATE SOURCE a FROM mysql 'x';\n/* outer /* inner */ still */\n", `f.etl:2:22: expected a statement (CREATE SOURCE, CREATE SINK, CREATE FUNCTION or CREATE PIPELINE), found "still" (block comments do not nest: the comment from line 2 ended at its first */)`},
		// An argument that began and broke off has its own error, not
		// "expected an argument": position('l' IN s) said expected an
		// argument or ")" after position(, found "s" (pipelinetests trial).
		{pipe + "WHERE position('l' IN s) > 0 INTO stdout;", `f.etl:1:57: expected "(" after IN, found "s"`},
		{pipe + "WHERE upper(a IS) INTO stdout;", `f.etl:1:51: expected NULL after IS, found ")"`},
		{pipe + "TRANSFORM count(*) AS n INTO stdout;", `f.etl:1:51: expected an argument or ")" after count(, found "*" (a pipeline transforms each change on its own: there are no aggregate functions)`},
		{pipe + "SELECT id INTO stdout;", `f.etl:1:35: expected a clause (FROM binlog, SNAPSHOT, WHERE, TRANSFORM, INTO, FORMAT, MODE, KEY, WITH) or ";", found "SELECT" (the output columns are listed by TRANSFORM: TRANSFORM id, amount)`},
		{pipe + "TO stdout;", `f.etl:1:35: expected a clause (FROM binlog, SNAPSHOT, WHERE, TRANSFORM, INTO, FORMAT, MODE, KEY, WITH) or ";", found "TO" (did you mean INTO?)`},
		{pipe + "WHERE a > 1 ORDER BY a INTO stdout;", `f.etl:1:47: expected a clause (FROM binlog, SNAPSHOT, WHERE, TRANSFORM, INTO, FORMAT, MODE, KEY, WITH) or ";", found "ORDER" (a pipeline has no ORDER BY: each change is passed on as it comes)`},
		{pipe + "TRANSFORM a AS b c INTO stdout;", `f.etl:1:52: expected a clause (FROM binlog, SNAPSHOT, WHERE, TRANSFORM, INTO, FORMAT, MODE, KEY, WITH) or ";", found "c"`},
		{"FROM binlog a.b TRANSFORM id x;", `f.etl:1:30: expected a clause (SNAPSHOT, WHERE, TRANSFORM, LIMIT) or the end of the query, found "x" (an output name needs AS: … AS x)`},
		{pipe + "INTO stdout LIMIT 5;", "f.etl:1:47: LIMIT is not allowed in CREATE PIPELINE (LIMIT is for REPL queries)"},
		{"CREATE PIPELINE p INTO stdout;", `f.etl:1:17: pipeline "p" has no FROM binlog clause`},
		{"CREATE PIPELINE p FROM binlog a.b;", `f.etl:1:17: pipeline "p" has no INTO clause`},
		{"CREATE PIPELINE p FROM binlog INTO stdout;", `f.etl:1:31: expected a table name, found "INTO"`},
		{"CREATE PIPELINE p FROM binlog a.b.c.d INTO stdout;", "f.etl:1:37: a table name has at most 3 parts: [source.]database.table"},
		{pipe + "SNAPSHOT sometimes INTO stdout;", `f.etl:1:44: unknown SNAPSHOT "sometimes" (expected initial, never, only)`},
		{pipe + "INTO stdout MODE merge;", `f.etl:1:52: unknown MODE "merge" (expected append, upsert, changelog)`},
		// statements
		{"CREATE TABLE x;", `f.etl:1:8: expected SOURCE, SINK, FUNCTION or PIPELINE, found "TABLE"`},
		{"SELECT 1;", `f.etl:1:1: expected a statement (CREATE SOURCE, CREATE SINK, CREATE FUNCTION or CREATE PIPELINE), found "SELECT"`},
		{"CREATE SOURCE a FROM mysql;", `f.etl:1:27: expected a string, found ";"`},
		{"CREATE SOURCE a FROM mysql 'x' WTH (a = 1);", `f.etl:1:32: expected WITH (…) or ";", found "WTH" (did you mean WITH?)`},
		{"FROM binlog a.b LIMIT 5;", "f.etl:1:1: a query without CREATE PIPELINE is only allowed in the REPL (write CREATE PIPELINE name FROM … INTO …)"},
		{"CREATE SOURCE a FROM mysql 'x' WITH (a = b);", `f.etl:1:42: option "a" needs a literal value: a string, a number or TRUE/FALSE`},
		{"CREATE SOURCE a FROM mysql 'x' WITH (a = 1, A = 2);", `f.etl:1:45: option "A" is set twice (first at line 1)`},
		// functions and types
		{"CREATE FUNCTION f(a FLOAT) RETURNS INT AS EXPR 'a';", `f.etl:1:21: type "FLOAT" is ambiguous: write FLOAT32 or FLOAT64`},
		{"CREATE FUNCTION f(a INT) RETURNS CHAR AS EXPR 'a';", `f.etl:1:34: unknown type "CHAR" (expected one of BOOL, INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64, FLOAT32, FLOAT64, DECIMAL, STRING, BINARY, DATE, TIMESTAMP, TIME, JSON)`},
		{"CREATE FUNCTION f(a INT) RETURNS INT AS LUA 'a';", `f.etl:1:41: unsupported function language "LUA" (expected EXPR)`},
		{"CREATE FUNCTION f(a INT, a INT) RETURNS INT AS EXPR 'a';", `f.etl:1:26: duplicate parameter "a"`},
		{"CREATE FUNCTION f(a DECIMAL) RETURNS INT AS EXPR 'a';", `f.etl:1:21: DECIMAL needs a precision: DECIMAL(p) or DECIMAL(p,s)`},
		{"CREATE FUNCTION f(a DECIMAL(5,6)) RETURNS INT AS EXPR 'a';", `f.etl:1:21: DECIMAL scale 6 is larger than its precision 5`},
		{"CREATE FUNCTION f(a) RETURNS INT64 AS EXPR 'a';", `f.etl:1:20: expected a type, found ")"`},
		{"CREATE FUNCTION f(a INT64 RETURNS INT64 AS EXPR 'a';", `f.etl:1:27: expected "," or ")", found "RETURNS"`},
		{"CREATE FUNCTION f(a INT64(3)) RETURNS INT AS EXPR 'a';", `f.etl:1:21: type INT64 takes no parameters`},
		{"CREATE FUNCTION f(a VARCHAR(10)) RETURNS INT AS EXPR 'a';", `f.etl:1:21: type VARCHAR (STRING) takes no length or other parameters: write VARCHAR alone`},
		// names
		{pipe + "INTO stdout KEY (key);", `f.etl:1:52: expected a name, found reserved word "key" (back-quote it to use it as a name: ` + "`key`)"},
		{pipe + "TRANSFORM a AS format INTO stdout;", `f.etl:1:50: expected a name, found reserved word "format" (back-quote it to use it as a name: ` + "`format`)"},
		// expressions
		{pipe + "WHERE a = INTO stdout;", `f.etl:1:45: expected an expression after "=", found "INTO"`},
		{pipe + "WHERE (a = 1 INTO stdout;", `f.etl:1:48: expected ")" to close "(", found "INTO"`},
		{pipe + "TRANSFORM a, INTO stdout;", `f.etl:1:48: expected an expression, found reserved word "INTO" (back-quote it to use it as a name: ` + "`INTO`)"},
		{pipe + "WHERE x IN () INTO stdout;", "f.etl:1:47: IN needs at least one value"},
		{pipe + "WHERE t.x = 1 INTO stdout;", `f.etl:1:42: unexpected "." after "t": columns are named without their table; only before.<column> has a prefix`},
		{pipe + "WHERE x > ts + INTERVAL 1.5 HOUR INTO stdout;", `f.etl:1:59: an INTERVAL takes a whole number, found "1.5" (write INTERVAL '90' MINUTE for 1.5 HOUR)`},
		{pipe + "WHERE x > INTERVAL '5' MINUTES INTO stdout;", `f.etl:1:58: expected an interval unit (MICROSECOND, SECOND, MINUTE, HOUR, DAY, WEEK, MONTH, QUARTER, YEAR), found "MINUTES"`},
		{pipe + "WHERE CASE x END INTO stdout;", `f.etl:1:48: expected WHEN in CASE, found "END"`},
		{pipe + "WHERE CASE WHEN x THEN 1 INTO stdout;", `f.etl:1:60: expected END to close CASE, found "INTO"`},
		{pipe + "WHERE x BETWEEN 1 INTO stdout;", `f.etl:1:53: expected AND in BETWEEN … AND …, found "INTO"`},
		{pipe + "WHERE x IS 5 INTO stdout;", `f.etl:1:46: expected NULL after IS, found "5"`},
		{pipe + "WHERE f(1,) INTO stdout;", `f.etl:1:45: expected an expression after ",", found ")"`},
		{pipe + "WHERE CAST(x INT64) INTO stdout;", `f.etl:1:48: expected AS in CAST(x AS type), found "INT64"`},
		{pipe + "WHERE CAST(x AS STRNG) = 'a' INTO stdout;", `f.etl:1:51: unknown type "STRNG" (expected one of BOOL, INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64, FLOAT32, FLOAT64, DECIMAL, STRING, BINARY, DATE, TIMESTAMP, TIME, JSON)`},
		{pipe + "WHERE x::INT64( INTO stdout;", `f.etl:1:51: expected a number in the parameters of INT64, found "INTO"`},
		{pipe + "WHERE before. = 1 INTO stdout;", `f.etl:1:49: expected a column name after "before.", found "="`},
	}
	for _, c := range cases {
		_, err := ParseFile("f.etl", []byte(c.src))
		if err == nil {
			t.Errorf("%s: no error, want %s", c.src, c.want)
			continue
		}
		errs, ok := err.(Errors)
		if !ok || len(errs) == 0 {
			t.Errorf("%s: error is %T, want Errors", c.src, err)
			continue
		}
		if got := errs[0].Error(); got != c.want {
			t.Errorf("%s\n got  %s\n want %s", c.src, got, c.want)
		}
	}
}

// TestErrorsFormat checks the caret and tildes under the offending text.
func TestErrorsFormat(t *testing.T) {
	src := "CREATE PIPELINE p\n  FROM binlog a.b\n\tTRANSFORM x\n  WHERE y = 1\n  INTO stdout;\n"
	_, err := ParseFile("f.etl", []byte(src))
	if err == nil {
		t.Fatal("no error")
	}
	got := err.(Errors).Format([]byte(src))
	want := "f.etl:4:3: WHERE must come before TRANSFORM\n" +
		"  WHERE y = 1\n" +
		"  ^~~~~\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	// Tabs are expanded in the quoted line and the caret follows them;
	// several errors are all reported, in source order.
	src = "CREATE PIPELINE p FROM binlog a.b\n\tSNAPSHOT maybe\n\tINTO stdout MODE merge;\n"
	_, err = ParseFile("g.etl", []byte(src))
	got = err.(Errors).Format([]byte(src))
	want = "g.etl:2:11: unknown SNAPSHOT \"maybe\" (expected initial, never, only)\n" +
		"    SNAPSHOT maybe\n" +
		"             ^~~~~\n" +
		"g.etl:3:19: unknown MODE \"merge\" (expected append, upsert, changelog)\n" +
		"    INTO stdout MODE merge;\n" +
		"                     ^~~~~\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if s := err.Error(); !strings.Contains(s, "g.etl:2:11: unknown SNAPSHOT") || !strings.Contains(s, "\ng.etl:3:19: unknown MODE") {
		t.Errorf("Errors.Error() = %q", s)
	}

	// An error at the end of input quotes the last line.
	src = "CREATE PIPELINE p FROM binlog a.b INTO stdout"
	_, err = ParseFile("h.etl", []byte(src))
	got = err.(Errors).Format([]byte(src))
	want = "h.etl:1:46: missing \";\" at the end of the statement\n" + src + "\n" + strings.Repeat(" ", 45) + "^\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestParseStatement(t *testing.T) {
	st, err := ParseStatement("repl", "FROM binlog shopdb.orders WHERE amount > 100 TRANSFORM id, amount, _op LIMIT 20;")
	if err != nil {
		t.Fatal(err)
	}
	q := st.Query
	if q == nil || len(q.From) != 1 || q.From[0].String() != "shopdb.orders" || q.Where == nil ||
		len(q.Transform) != 3 || q.Limit == nil || *q.Limit != 20 {
		t.Fatalf("bad query: %s", Dump(st, DumpOptions{}))
	}
	// The ";" is optional in the REPL, and CREATE statements work too.
	st, err = ParseStatement("repl", "from binlog shopdb.order_* snapshot never")
	if err != nil || st.Query == nil || !st.Query.From[0].HasGlob() || st.Query.Snapshot.Name != "never" {
		t.Fatalf("got %v, %v", st, err)
	}
	st, err = ParseStatement("repl", "CREATE PIPELINE p FROM binlog a.b INTO stdout")
	if err != nil || st.Pipeline == nil {
		t.Fatalf("got %v, %v", st, err)
	}
	_, err = ParseStatement("repl", "FROM binlog a.b; FROM binlog c.d")
	if err == nil || err.Error() != `repl:1:18: one statement at a time: unexpected "FROM" after ";"` {
		t.Fatalf("got %v", err)
	}
	// Clauses a query cannot have.
	_, err = ParseStatement("repl", "FROM binlog a.b INTO stdout")
	if err == nil || err.Error() != "repl:1:17: INTO is not allowed in a REPL query (it shows rows; use CREATE PIPELINE to send them somewhere)" {
		t.Fatalf("got %v", err)
	}
	_, err = ParseStatement("repl", "FROM binlog a.b LIMIT 5 WHERE x")
	if err == nil || err.Error() != "repl:1:25: WHERE must come before LIMIT" {
		t.Fatalf("got %v", err)
	}
}

func TestExpand(t *testing.T) {
	src := "CREATE SOURCE s FROM mysql 'mysql://repl:${PW}@h:3306/${DB}?x=$${literal}&q=''' WITH (token = '${TOKEN}', n = 1);\n" +
		"CREATE PIPELINE p FROM binlog a.b INTO http 'https://h/${HOOK}' WITH (auth = 'Bearer ${TOKEN}');\n"
	f := mustParse(t, "x.etl", []byte(src))
	env := map[string]string{"PW": "s3cret", "DB": "shop", "TOKEN": "tok", "HOOK": ""}
	errs := Expand(f, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if errs != nil {
		t.Fatal(errs)
	}
	src0 := f.Statements[0].Source
	if got := src0.DSN.Value; got != "mysql://repl:s3cret@h:3306/shop?x=${literal}&q='" {
		t.Errorf("DSN = %q", got)
	}
	if got := src0.With[0].Value.(*Literal).Value; got != "tok" {
		t.Errorf("option = %q", got)
	}
	p := f.Statements[1].Pipeline
	if got := p.Into.Target.Value; got != "https://h/" {
		t.Errorf("target = %q", got)
	}
	if got := p.With[0].Value.(*Literal).Value; got != "Bearer tok" {
		t.Errorf("option = %q", got)
	}
	// fmt never shows the expanded secrets.
	out := string(Format(f))
	if strings.Contains(out, "s3cret") || !strings.Contains(out, "${PW}") {
		t.Errorf("Format leaks or loses ${PW}:\n%s", out)
	}

	// Unset variables: an error at the "${", every one reported.
	src = "CREATE SOURCE s FROM mysql\n  'mysql://u:${UNSET}@h/${ALSO_UNSET}';\nCREATE SINK k INTO clickhouse 'c://${BAD NAME}';\nCREATE SINK k2 INTO clickhouse 'c://${OPEN';\n"
	f = mustParse(t, "y.etl", []byte(src))
	errs = Expand(f, func(string) (string, bool) { return "", false })
	want := "y.etl:2:14: environment variable \"UNSET\" is not set\n" +
		"  'mysql://u:${UNSET}@h/${ALSO_UNSET}';\n" +
		"             ^~~~~~~~\n" +
		"y.etl:2:25: environment variable \"ALSO_UNSET\" is not set\n" +
		"  'mysql://u:${UNSET}@h/${ALSO_UNSET}';\n" +
		"                        ^~~~~~~~~~~~~\n" +
		"y.etl:3:36: invalid variable name \"BAD NAME\" in ${…} (letters, digits and _, not starting with a digit; or file:PATH)\n" +
		"CREATE SINK k INTO clickhouse 'c://${BAD NAME}';\n" +
		"                                   ^~~~~~~~~~~\n" +
		"y.etl:4:37: unterminated \"${\": missing \"}\"\n" +
		"CREATE SINK k2 INTO clickhouse 'c://${OPEN';\n" +
		"                                    ^~\n"
	if got := errs.Format([]byte(src)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestWalk(t *testing.T) {
	f := mustParse(t, "w.etl", []byte("CREATE PIPELINE p FROM binlog a.b WHERE x > 1 AND f(y) TRANSFORM z + 1 AS w INTO stdout;"))
	var cols []string
	Walk(f, func(n Node) bool {
		if c, ok := n.(*ColumnRef); ok {
			cols = append(cols, c.Name.Name)
		}
		return true
	})
	if strings.Join(cols, ",") != "x,y,z" {
		t.Errorf("columns = %v", cols)
	}
	// Returning false skips the children.
	n := 0
	Walk(f, func(node Node) bool {
		n++
		_, isWhere := node.(*Binary)
		return !isWhere
	})
	var all int
	Walk(f, func(Node) bool { all++; return true })
	if n >= all {
		t.Errorf("pruned walk visited %d of %d nodes", n, all)
	}
}

// TestFormatHandBuilt formats a file built without the parser (no
// positions, no Clauses), as a tool generating .etl files would.
func TestFormatHandBuilt(t *testing.T) {
	id := func(n string) *Ident { return &Ident{Name: n} }
	f := &File{Statements: []*Statement{{Pipeline: &CreatePipeline{
		Name:      id("gen"),
		From:      []*TableName{{Parts: []*Ident{id("db"), id("order items")}}},
		Where:     &Binary{Op: ">", L: &ColumnRef{Name: id("amount")}, R: &Literal{Kind: LitInt, Value: "10"}},
		Transform: []*SelectItem{{Star: true, Except: []*Ident{id("key")}}},
		Into:      &IntoClause{Kind: id("stdout")},
		With:      []*Option{{Name: id("batch_rows"), Value: &Literal{Kind: LitInt, Value: "5"}}},
	}}}}
	got := string(Format(f))
	want := "CREATE PIPELINE gen\n  FROM binlog db.`order items`\n  WHERE amount > 10\n  TRANSFORM * EXCEPT (`key`)\n  INTO stdout\n  WITH (batch_rows = 5);\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := ParseFile("gen.etl", []byte(got)); err != nil {
		t.Error(err)
	}
}

// TestRunawayStringError: a string left open on line 2 runs to the next quote
// lines later; the error must point at its opening quote, not at the stray
// "$" or the last quote it leaves behind.
func TestRunawayStringError(t *testing.T) {
	src := "CREATE PIPELINE p FROM binlog a.b\n" +
		"  WHERE status <> 'cancelled\n" +
		"  TRANSFORM id,\n" +
		"    json_value(note, '$.channel') AS channel\n" +
		"  INTO stdout WITH (flush_interval = '500ms');\n"
	_, err := ParseFile("f.etl", []byte(src))
	want := "f.etl:2:19: unterminated string: missing closing \"'\" (the string runs on to line 4)\n" +
		"  WHERE status <> 'cancelled\n" +
		"                  ^"
	errs, _ := err.(Errors)
	if got := strings.TrimRight(errs.Format([]byte(src)), "\n"); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	// A string that spans lines on purpose is still fine, and a stray
	// character after one is reported as it is.
	ok := "CREATE SOURCE a FROM mysql 'x' WITH (headers = 'A: 1\nB: 2');\n"
	if _, err := ParseFile("f.etl", []byte(ok)); err != nil {
		t.Fatalf("multi-line string: %v", err)
	}
	_, err = ParseFile("f.etl", []byte(ok+pipe+"WHERE a = 1 && 2 INTO stdout;"))
	if err == nil || !strings.HasPrefix(err.Error(), `f.etl:3:47: unexpected character "&" (use AND)`) {
		t.Fatalf("stray character after a multi-line string: %v", err)
	}
}

// TestBackslashQuoteError: MySQL reads 'O\'Brien' as one string; here a
// backslash does not escape a quote, so the string ends at \' and the
// error was an "unterminated string" at a later quote, far from the
// mistake. The error points at the \' and says how to write the quote.
func TestBackslashQuoteError(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{pipe + "WHERE customer LIKE 'O\\'Brien%' INTO stdout;",
			"f.etl:1:57: a backslash does not escape a quote: this ' ends the string 'O\\' (write a quote inside a string twice: 'O''Brien%')\n" +
				"CREATE PIPELINE p FROM binlog a.b WHERE customer LIKE 'O\\'Brien%' INTO stdout;\n" +
				"                                                        ^~"},
		{pipe + "WHERE a = 'it\\'s' AND b = 'x' INTO stdout;",
			"f.etl:1:48: a backslash does not escape a quote: this ' ends the string 'it\\' (write a quote inside a string twice: 'it''s')\n" +
				"CREATE PIPELINE p FROM binlog a.b WHERE a = 'it\\'s' AND b = 'x' INTO stdout;\n" +
				"                                               ^~"},
	} {
		_, err := ParseFile("f.etl", []byte(c.src))
		errs, _ := err.(Errors)
		if got := strings.TrimRight(errs.Format([]byte(c.src)), "\n"); got != c.want {
			t.Errorf("got\n%s\nwant\n%s", got, c.want)
		}
	}
	// A string that ends with a backslash is fine when nothing is left open.
	ok := pipe + "WHERE path LIKE 'C:\\\\' INTO stdout;"
	if _, err := ParseFile("f.etl", []byte(ok)); err != nil {
		t.Errorf("%s: %v", ok, err)
	}
}

// TestSyntaxErrorOfEachStatement: a file that does not parse reports the
// syntax error of each statement, in the file's order, not only its first
// (etlq check reports every error of the file in one run); a ";" in a
// string or a comment separates nothing, and a statement after the error
// that parses adds none.
func TestSyntaxErrorOfEachStatement(t *testing.T) {
	src := `CREATE PIPELINE p1 FROM binlog db.t TRANSFORM id + INTO stdout;
CREATE PIPELINE p2 FROM binlog db.t INTO http 'a;b';
-- a comment; with a semicolon
CREATE PIPELINE p3 FROM binlog db.t INTO INTO stdout;
CREATE PIPELINE p4 FROM binlog db.t TRANSFORM (id INTO stdout;
`
	_, err := ParseFile("f.etl", []byte(src))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want Errors, got %v", err)
	}
	var got []string
	for _, e := range errs {
		got = append(got, fmt.Sprintf("%d:%d", e.Pos.Line, e.Pos.Column))
	}
	if want := "1:52 4:42 5:51"; strings.Join(got, " ") != want {
		t.Errorf("errors at %s, want %s:\n%v", strings.Join(got, " "), want, err)
	}
}

// TestDoubleQuotedStringOneError: a string written in double quotes, as
// MySQL allows, is one error under the whole "x" — it was two, one at
// each quote, the second saying again what the first said (in a file,
// one syntax error per statement; repl-and-language trial).
func TestDoubleQuotedStringOneError(t *testing.T) {
	src := pipe + "WHERE a = \"x y\" OR b = \"z\" INTO stdout;\n" + pipe + "WHERE a = \"x INTO stdout;\n"
	_, err := ParseFile("f.etl", []byte(src))
	errs, _ := err.(Errors)
	want := "f.etl:1:45: unexpected character \"\\\"\" (strings are written in single quotes, names in back quotes)\n" +
		pipe + "WHERE a = \"x y\" OR b = \"z\" INTO stdout;\n" +
		strings.Repeat(" ", 44) + "^~~~~\n" +
		"f.etl:1:58: unexpected character \"\\\"\" (strings are written in single quotes, names in back quotes)\n" +
		pipe + "WHERE a = \"x y\" OR b = \"z\" INTO stdout;\n" +
		strings.Repeat(" ", 57) + "^~~\n" +
		"f.etl:2:45: unexpected character \"\\\"\" (strings are written in single quotes, names in back quotes)\n" +
		pipe + "WHERE a = \"x INTO stdout;\n" +
		strings.Repeat(" ", 44) + "^\n"
	if got := errs.Format([]byte(src)); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := ParseStatement("repl", "SHOW TABLES LIKE \"f%\";"); err == nil || strings.Count(err.Error(), "repl:") != 1 {
		t.Errorf("SHOW TABLES LIKE \"f%%\": want one error, got %v", err)
	}
}

// TestClauseOutOfOrderAlone: an INTO (or FROM) out of order is that one
// error: the pipeline has the clause, so "has no INTO clause" is not
// added (found in the new-user trial: `… KEY (id) INTO stdout;` gave
// both, the first one false and first).
func TestClauseOutOfOrderAlone(t *testing.T) {
	for src, want := range map[string]string{
		"CREATE PIPELINE p FROM binlog a.b KEY (id) INTO stdout;":            "f.etl:1:44: INTO must come before KEY",
		"CREATE PIPELINE p SNAPSHOT never FROM binlog a.b INTO stdout;":      "f.etl:1:34: FROM must come before SNAPSHOT",
		"CREATE PIPELINE p FROM binlog a.b INTO stdout INTO file 'x.jsonl';": "f.etl:1:47: duplicate INTO clause (the first is at line 1)",
		"CREATE PIPELINE p FROM binlog a.b WITH (a = 1);":                    `f.etl:1:17: pipeline "p" has no INTO clause`,
	} {
		_, err := ParseFile("f.etl", []byte(src))
		errs, _ := err.(Errors)
		var got []string
		for _, e := range errs {
			got = append(got, e.Error())
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s:\n got  %q\n want [%q]", src, got, want)
		}
	}
}

// TestErrorsUnwrapCause: a positioned error keeps the error it tells of,
// through a list: a worker's re-plan cut off by SIGINT (its catalog read
// failed with context.Canceled) is a stop, which apply tells by
// errors.Is. Before, the planner's message held only the text, and the
// stop failed the run ("source s: context canceled", a CI run).
func TestErrorsUnwrapCause(t *testing.T) {
	cause := fmt.Errorf("source s: %w", context.Canceled)
	var err error = Errors{{Msg: "other"}, {Msg: cause.Error(), Cause: cause}}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("errors.Is(%v, context.Canceled) = false", err)
	}
	if errors.Is(Errors{{Msg: "context canceled"}}, context.Canceled) {
		t.Errorf("an error without a cause matched by its text")
	}
}
