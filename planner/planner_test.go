package planner_test

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/specstest"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

// The planner checks WITH clauses against the connectors' specs; the
// compiler's tests link no connector (no database driver), only a copy of
// their specs.
func init() { specstest.Register() }

// fixedCatalog serves fixed schemas: a planner unit test needs no server
// (the end-to-end tests in cmd/etlq plan against live ones).
type fixedCatalog map[string]*connectors.TableSchema

func (c fixedCatalog) Tables(_ context.Context, _ *planner.SourceDecl, db, pattern string) ([]connectors.TableRef, error) {
	var out []connectors.TableRef
	for k, ts := range c {
		okDB, _ := path.Match(db, ts.Ref.DB)
		if ok, _ := path.Match(pattern, ts.Ref.Table); ok && okDB {
			out = append(out, ts.Ref)
		}
		_ = k
	}
	return out, nil
}

func (c fixedCatalog) Describe(_ context.Context, _ *planner.SourceDecl, ref connectors.TableRef) (*connectors.TableSchema, error) {
	ts := c[ref.String()]
	if ts == nil {
		return nil, fmt.Errorf("table %s does not exist", ref)
	}
	return ts, nil
}

func field(name string, t arrow.DataType, srcType string) arrow.Field {
	return arrow.Field{Name: name, Type: t, Nullable: true, Metadata: arrow.NewMetadata([]string{exec.MetaSourceType}, []string{srcType})}
}

// notNull is a field of a NOT NULL column (a primary key column).
func notNull(f arrow.Field) arrow.Field {
	f.Nullable = false
	return f
}

var shop = fixedCatalog{
	"shopdb.orders": {
		Ref: connectors.TableRef{DB: "shopdb", Table: "orders"},
		Fields: []arrow.Field{
			notNull(field("id", arrow.PrimitiveTypes.Uint64, "bigint(20) unsigned")),
			field("customer", arrow.BinaryTypes.String, "varchar(64)"),
			field("status", arrow.BinaryTypes.String, "varchar(16)"),
			field("amount", &arrow.Decimal128Type{Precision: 12, Scale: 2}, "decimal(12,2)"),
			field("created_at", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, "datetime(6)"),
		},
		PrimaryKey: []string{"id"},
	},
	"shopdb.events": {
		Ref:    connectors.TableRef{DB: "shopdb", Table: "events"},
		Fields: []arrow.Field{field("name", arrow.BinaryTypes.String, "varchar(64)")},
	},
}

const header = `CREATE SOURCE shop FROM mysql 'mysql://repl:secret@127.0.0.1:3306';
CREATE SINK dw INTO clickhouse 'clickhouse://127.0.0.1:9000';
`

func build(t *testing.T, src string) (*planner.Plan, error) {
	t.Helper()
	f, err := lang.ParseFile("test.etl", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if errs := lang.Expand(f, func(string) (string, bool) { return "", false }); len(errs) > 0 {
		return nil, errs
	}
	return planner.Build(context.Background(), f, planner.Options{Catalog: shop})
}

func TestBuildPlansTheSpine(t *testing.T) {
	p, err := build(t, header+`CREATE PIPELINE orders
  FROM binlog shop.shopdb.orders SNAPSHOT initial
  WHERE status <> 'cancelled'
  TRANSFORM id, amount * 100 AS cents, date(created_at) AS day, _op
  INTO clickhouse dw.analytics.orders MODE upsert KEY (id);
`)
	if err != nil {
		t.Fatal(err)
	}
	pl := p.Pipelines[0]
	var cols []string
	for _, c := range pl.Output {
		cols = append(cols, c.Name+" "+c.Source)
	}
	if got, want := strings.Join(cols, ", "), "id UINT64, cents DECIMAL(15,2), day DATE, _op STRING"; got != want {
		t.Errorf("output columns:\n got %s\nwant %s", got, want)
	}
	if pl.Target.Mode != connectors.ModeUpsert || strings.Join(pl.Target.Key, ",") != "id" || pl.Target.Name != "analytics.orders" {
		t.Errorf("target: %+v", pl.Target)
	}
	if p.Sources[0].Redacted != "mysql://repl:****@127.0.0.1:3306" {
		t.Errorf("redacted DSN: %s", p.Sources[0].Redacted)
	}
	// user columns, then the five system columns
	if n := pl.Target.Schema.NumFields(); n != 4+5 {
		t.Errorf("sink schema has %d fields: %s", n, pl.Target.Schema)
	}
}

func TestDefaultModeFollowsThePrimaryKey(t *testing.T) {
	p, err := build(t, header+`CREATE PIPELINE a FROM binlog shopdb.orders INTO clickhouse analytics.orders;
CREATE PIPELINE b FROM binlog shopdb.events INTO clickhouse analytics.events;
`)
	if err != nil {
		t.Fatal(err)
	}
	if m := p.Pipelines[0].Target.Mode; m != connectors.ModeUpsert {
		t.Errorf("table with a primary key: mode %s, want upsert", m)
	}
	if m := p.Pipelines[1].Target.Mode; m != connectors.ModeAppend {
		t.Errorf("table without a primary key: mode %s, want append", m)
	}
	if n := len(p.Pipelines[0].Output); n != 5 {
		t.Errorf("TRANSFORM left out means *: %d columns", n)
	}
}

// TestCheckErrors asserts the exact message and position of each error
// class the planner reports.
func TestCheckErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       string // "line:col: message"
	}{
		{"unknown column", `CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id, amout INTO clickhouse a.b;`,
			`3:59: unknown column "amout" in shopdb.orders (did you mean "amount"?)`},
		{"unknown table", `CREATE PIPELINE p FROM binlog shopdb.ordrs INTO clickhouse a.b;`,
			`3:31: no table matches shopdb.ordrs in source shop (did you mean "orders"?)`},
		{"changelog before name taken", `CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id, status, amount AS _before_status INTO clickhouse a.b MODE changelog;`,
			`3:67: output column "_before_status" is the name of the column MODE changelog adds for the value of status before an update: rename it with AS`},
		{"mysql function", `CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id, isnull(customer) AS c INTO clickhouse a.b;`,
			`3:59: unknown function "isnull" (write x IS NULL)`},
		{"aggregate", `CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id, SUM(amount) AS c INTO clickhouse a.b;`,
			`3:59: unknown function "SUM" (a pipeline transforms each change on its own: there are no aggregate functions)`},
		{"key column twice", `CREATE PIPELINE p FROM binlog shopdb.orders INTO clickhouse a.b KEY (id, ID);`,
			`3:74: KEY column "ID" is named twice (first at line 3, column 70)`},
		{"unknown database", `CREATE PIPELINE p FROM binlog shopbd.orders INTO clickhouse a.b;`,
			`3:31: no table matches shopbd.orders in source shop (did you mean "shopdb.orders"?)`},
		{"unknown source", `CREATE PIPELINE p FROM binlog shp.shopdb.orders INTO clickhouse a.b;`,
			`3:31: unknown source "shp" (did you mean "shop"?)`},
		{"unknown sink", `CREATE PIPELINE p FROM binlog shopdb.orders INTO clickhouse wd.a.b;`,
			`3:61: unknown sink "wd" (did you mean "dw"?)`},
		{"sink name as database", `CREATE PIPELINE p FROM binlog shopdb.orders INTO clickhouse dw.orders;`,
			`3:61: dw.orders: "dw" is read as the database (a clickhouse target is [sink.]database.table), and it is the name of sink dw: write dw.<database>.orders, or dw.dw.orders for a database named dw`},
		{"unknown sink kind", `CREATE PIPELINE p FROM binlog shopdb.orders INTO clikhouse a.b;`,
			`3:50: unknown sink kind "clikhouse" (did you mean "clickhouse"?)`},
		{"unknown sink kind, no near name", `CREATE SINK k INTO kafka 'broker:9092';`,
			`3:20: unknown sink kind "kafka": etlq has clickhouse, file, http and stdout sinks`},
		{"unknown source kind, no near name", `CREATE SOURCE pg FROM postgres 'postgres://db';`,
			`3:23: unknown source kind "postgres": etlq has mysql sources`},
		{"unknown source kind", `CREATE SOURCE m FROM mysq 'mysql://db';`,
			`3:22: unknown source kind "mysq" (did you mean "mysql"?)`},
		{"unknown function", `CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id, uper(customer) AS c INTO clickhouse a.b;`,
			`3:59: unknown function "uper" (did you mean "upper"?)`},
		{"argument count", `CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id, substr() AS c INTO clickhouse a.b;`,
			`3:59: function "substr" takes 2 or 3 arguments, got 0`},
		{"operator types", `CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id, created_at * 2 AS c INTO clickhouse a.b;`,
			`3:59: operator "*" cannot take TIMESTAMP and INT64`},
		{"where not boolean", `CREATE PIPELINE p FROM binlog shopdb.orders WHERE INTERVAL '5' MINUTE INTO clickhouse a.b;`,
			`3:51: WHERE must be a boolean condition, got INTERVAL`},
		{"duplicate pipeline", `CREATE PIPELINE p FROM binlog shopdb.orders INTO clickhouse a.b;
CREATE PIPELINE p FROM binlog shopdb.orders INTO clickhouse a.c;`,
			`4:17: pipeline "p" is declared twice`},
		{"duplicate output column", `CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id, status, customer AS status INTO clickhouse a.b;`,
			`3:67: duplicate output column "status" (first at line 3)`},
		{"key not in output", `CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id, status INTO clickhouse a.b MODE upsert KEY (idd);`,
			`3:103: KEY column "idd" is not an output column of pipeline p (did you mean "id"?)`},
		{"upsert without key", `CREATE PIPELINE p FROM binlog shopdb.events INTO clickhouse a.b MODE upsert;`,
			`3:17: MODE upsert needs a key: the source table has no primary key, add KEY (…)`},
		{"unknown option", `CREATE PIPELINE p FROM binlog shopdb.orders INTO clickhouse a.b WITH (on_eror = 'skip');`,
			`3:71: unknown option "on_eror" for pipeline p (did you mean "on_error"?)`},
		{"ill-typed option", `CREATE PIPELINE p FROM binlog shopdb.orders INTO clickhouse a.b WITH (batch_rows = 'many');`,
			`3:84: option "batch_rows" takes an integer, got 'many'`},
		{"option value not allowed", `CREATE PIPELINE p FROM binlog shopdb.orders INTO clickhouse a.b WITH (on_error = 'ignore');`,
			`3:82: option "on_error" must be one of 'fail', 'skip', 'dead_letter', got 'ignore'`},
		{"before outside binlog", `CREATE PIPELINE p FROM binlog shopdb.orders SNAPSHOT only TRANSFORM id, before.status AS s INTO clickhouse a.b;`,
			`3:73: before.status is only known in a binlog pipeline (this one has SNAPSHOT only)`},
		{"changed outside binlog", `CREATE PIPELINE p FROM binlog shopdb.orders SNAPSHOT only WHERE changed(status) INTO clickhouse a.b;`,
			`3:65: changed() is only known in a binlog pipeline (this one has SNAPSHOT only)`},
		{"unit unquoted", `CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id, timestampdiff(HOUR, created_at, created_at) AS h INTO clickhouse a.b;`,
			`3:73: unknown column "HOUR" in shopdb.orders: the unit of timestampdiff is a string, write 'HOUR'`},
		{"expression without a name", `CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id, amount * 2 INTO clickhouse a.b;`,
			`3:59: this expression needs a name: add AS <name>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := build(t, header+tc.body+"\n")
			var errs lang.Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("want an error %q, got %v", tc.want, err)
			}
			got := fmt.Sprintf("%d:%d: %s", errs[0].Pos.Line, errs[0].Pos.Column, errs[0].Msg)
			if got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestAllErrorsOfAFileAreReported(t *testing.T) {
	_, err := build(t, header+`CREATE PIPELINE p FROM binlog shopdb.orders WHERE stauts = 'x' TRANSFORM id, amout INTO clickhouse a.b;
CREATE PIPELINE q FROM binlog shopdb.orders TRANSFORM id, nope(id) AS n INTO clickhouse a.c;
`)
	var errs lang.Errors
	if !errors.As(err, &errs) || len(errs) != 3 {
		t.Fatalf("want 3 errors, got %v", err)
	}
}

func TestUnsetEnvironmentVariable(t *testing.T) {
	_, err := build(t, `CREATE SOURCE shop FROM mysql 'mysql://repl:${SHOP_PW}@db:3306';`)
	if err == nil || !strings.Contains(err.Error(), "SHOP_PW") {
		t.Fatalf("want an error naming SHOP_PW, got %v", err)
	}
}

func TestPatternAndSeveralTables(t *testing.T) {
	p, err := build(t, header+`CREATE PIPELINE all_tables FROM binlog shopdb.* TRANSFORM _table, _op, _version INTO stdout;
CREATE PIPELINE two FROM binlog shopdb.orders, shopdb.ord?rs TRANSFORM id, _table INTO stdout;
`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tp := range p.Pipelines[0].Tables {
		got = append(got, tp.Ref.String())
	}
	if len(got) != 2 {
		t.Errorf("shopdb.* matched %v, want events and orders", got)
	}
	if n := len(p.Pipelines[1].Tables); n != 2 {
		t.Errorf("two FROM tables planned %d tables", n)
	}
	// The select list must type-check for each table.
	_, err = build(t, header+`CREATE PIPELINE bad FROM binlog shopdb.* TRANSFORM name INTO stdout;`)
	if err == nil || !strings.Contains(err.Error(), `unknown column "name" in shopdb.orders`) {
		t.Errorf("want the column error for the table lacking it, got %v", err)
	}
}

// TestRedactUnparsableDSN: a DSN that url.Parse refuses (here a bad port)
// still has its password replaced: it is shown in the error about it.
func TestRedactUnparsableDSN(t *testing.T) {
	if got, want := planner.Redact("mysql://repl:s3cr3tP@ss@127.0.0.1:notaport"), "mysql://repl:****@127.0.0.1:notaport"; got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
}

// TestExplainHidesExpandedSecrets: a target URL or an option whose value
// names a ${VAR} (a token in an http query, a bearer token in headers) is
// shown in the plan as written, never with the secret it expands to.
func TestExplainHidesExpandedSecrets(t *testing.T) {
	f, err := lang.ParseFile("test.etl", []byte(header+`CREATE PIPELINE hook FROM binlog shopdb.orders TRANSFORM id
  INTO http 'https://hooks.example.com/x?token=${HOOK_TOKEN}' FORMAT canal_json WITH (headers = 'Authorization: Bearer ${HOOK_TOKEN}');
`))
	if err != nil {
		t.Fatal(err)
	}
	if errs := lang.Expand(f, func(string) (string, bool) { return "t0ps3cret", true }); len(errs) > 0 {
		t.Fatal(errs)
	}
	p, err := planner.Build(context.Background(), f, planner.Options{Catalog: shop})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Pipelines[0].Options["headers"]; got != "Authorization: Bearer t0ps3cret" {
		t.Errorf("the pipeline must run with the expanded value, got %v", got)
	}
	var out strings.Builder
	planner.Explain(&out, p, nil)
	if strings.Contains(out.String(), "t0ps3cret") || !strings.Contains(out.String(), "headers = 'Authorization: Bearer ${HOOK_TOKEN}'") ||
		!strings.Contains(out.String(), "https://hooks.example.com/x?token=${HOOK_TOKEN}") {
		t.Errorf("plan shows the secret or not the option as written:\n%s", out.String())
	}
}

// TestNullableKeyIntoClickHouse: a KEY column of a ClickHouse target that
// copies a NULL-able source column is an error at the KEY (the first NULL
// would fail the insert, since ORDER BY columns cannot be Nullable); a
// value given to NULL, a NOT NULL column, or a stream sink are fine.
func TestNullableKeyIntoClickHouse(t *testing.T) {
	for _, src := range []string{
		`CREATE PIPELINE p FROM binlog shopdb.orders INTO clickhouse analytics.o MODE upsert KEY (customer);`,
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id, (customer) AS who INTO clickhouse analytics.o KEY (id, who);`,
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM * EXCEPT (amount) INTO clickhouse analytics.o MODE append KEY (status);`,
	} {
		_, err := build(t, header+src+"\n")
		if err == nil || !strings.Contains(err.Error(), "which may be NULL") || !strings.Contains(err.Error(), "test.etl:3:") {
			t.Errorf("%s\nwant an error at the KEY, got %v", src, err)
		}
	}
	// A computed key that can be NULL: the reason is named.
	for src, why := range map[string]string{
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM nullif(id, 5) AS k INTO clickhouse analytics.o KEY (k);`:                               `KEY column "k" may be NULL: nullif(id, 5) gives NULL`,
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id, customer || '-' AS k INTO clickhouse analytics.o KEY (k);`:                         "column customer may be NULL at the source",
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM CASE WHEN id > 9 THEN 'big' END AS k INTO clickhouse analytics.o KEY (k);`:             "it has no ELSE",
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM coalesce(customer, status) AS k INTO clickhouse analytics.o KEY (k);`:                  "column status may be NULL",
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id % (id - 1) AS k INTO clickhouse analytics.o KEY (k);`:                               "is NULL where (id - 1) is 0",
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM before.id AS k INTO clickhouse analytics.o MODE changelog KEY (k);`:                    "before.id is NULL for inserts",
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM json_value(concat('{"a":', id, '}'), '$.b') AS k INTO clickhouse analytics.o KEY (k);`: `json_value(concat('{"a":', id, '}'), '$.b') may give NULL for arguments that are not NULL`,
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM year(concat(id, '')) AS k INTO clickhouse analytics.o KEY (k);`:                        "does not convert to TIMESTAMP",
	} {
		_, err := build(t, header+src+"\n")
		if err == nil || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "test.etl:3:") {
			t.Errorf("%s\nwant an error at the KEY with %q, got %v", src, why, err)
		}
	}
	for _, src := range []string{
		`CREATE PIPELINE p FROM binlog shopdb.orders INTO clickhouse analytics.o MODE upsert KEY (id);`,
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id, coalesce(customer, '') AS customer INTO clickhouse analytics.o KEY (customer);`,
		`CREATE PIPELINE p FROM binlog shopdb.orders INTO stdout KEY (customer);`,
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id * 2 + 1 AS k, lower(concat('o-', id)) AS s INTO clickhouse analytics.o KEY (k, s);`,
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM ifnull(customer, '') AS k, id / 2 AS h, CASE WHEN id > 9 THEN 1 ELSE 0 END AS c INTO clickhouse analytics.o KEY (k, h, c);`,
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM coalesce(nullif(customer, ''), status, 'none') AS k INTO clickhouse analytics.o KEY (k);`,
	} {
		if _, err := build(t, header+src+"\n"); err != nil {
			t.Errorf("%s\nwant no error, got %v", src, err)
		}
	}
}

// TestNullableKeyUDF: a KEY computed by a user function (CREATE
// FUNCTION) may be NULL when an argument may be (a NULL argument gives
// NULL without running the body), and when the body may give nil for
// values that are not NULL (a STRING, BINARY, JSON, DATE, TIMESTAMP or
// TIME result whose body writes nil or gives a value of a type it does not
// fix: a map's element) — check refuses such a key at the KEY. Both used
// to pass check, and apply stopped at the first NULL key. A body that
// cannot give nil (an INT64 body's nil is a row error, not NULL) passes.
func TestNullableKeyUDF(t *testing.T) {
	const funcs = `CREATE FUNCTION tag(x UINT64) RETURNS STRING AS EXPR 'x > 5 ? "big" : nil'; ` +
		`CREATE FUNCTION pick(x UINT64) RETURNS STRING AS EXPR '{"1": "one"}[string(x)]'; ` +
		`CREATE FUNCTION day0(x UINT64) RETURNS TIMESTAMP AS EXPR 'x > 0 ? now() : nil'; ` +
		`CREATE FUNCTION lbl(s STRING) RETURNS STRING AS EXPR 's + "-x"'; ` +
		`CREATE FUNCTION dbl(x UINT64) RETURNS INT64 AS EXPR 'x * 2'; ` +
		`CREATE FUNCTION name(x UINT64) RETURNS STRING AS EXPR '"o-" + string(x)'; ` +
		`CREATE FUNCTION dflt(s STRING) RETURNS STRING AS EXPR 's ?? "none"';` + "\n"
	for src, why := range map[string]string{
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM tag(id) AS k INTO clickhouse analytics.o KEY (k);`:            `KEY column "k" may be NULL: tag(id) may give NULL: the body of function "tag" writes nil`,
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM pick(id) AS k INTO clickhouse analytics.o KEY (k);`:           `the body of function "pick" gives a value whose type it does not fix`,
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM day0(id) AS k INTO clickhouse analytics.o KEY (k);`:           `function "day0" writes nil`,
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM lbl(customer) AS k INTO clickhouse analytics.o KEY (k);`:      "column customer may be NULL at the source",
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM dbl(nullif(id, 3)) AS k INTO clickhouse analytics.o KEY (k);`: "nullif(id, 3) gives NULL",
	} {
		_, err := build(t, header+funcs+src+"\n")
		if err == nil || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "test.etl:4:") {
			t.Errorf("%s\nwant an error at the KEY with %q, got %v", src, why, err)
		}
	}
	for _, src := range []string{
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM dbl(id) AS k, name(id) AS n INTO clickhouse analytics.o KEY (k, n);`,
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM lbl(coalesce(customer, '')) AS k INTO clickhouse analytics.o KEY (k);`,
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM coalesce(tag(id), 'small') AS k INTO clickhouse analytics.o KEY (k);`,
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM dflt(concat('a', id)) AS k INTO clickhouse analytics.o KEY (k);`,
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM tag(id) AS k INTO stdout KEY (k);`,
	} {
		if _, err := build(t, header+funcs+src+"\n"); err != nil {
			t.Errorf("%s\nwant no error, got %v", src, err)
		}
	}
}

// TestTableOnlyTarget: INTO clickhouse orders, a table without its
// database, writes into the sink's database — its database option, else
// the DSN's, else "default" — as the option's documentation says; it was
// refused ("a clickhouse target is written [sink.]database.table").
func TestTableOnlyTarget(t *testing.T) {
	for _, c := range []struct{ sink, want string }{
		{`CREATE SINK dw INTO clickhouse 'clickhouse://127.0.0.1:9000' WITH (database = 'analytics');`, "analytics.orders"},
		{`CREATE SINK dw INTO clickhouse 'clickhouse://127.0.0.1:9000/dwdb';`, "dwdb.orders"},
		{`CREATE SINK dw INTO clickhouse 'clickhouse://127.0.0.1:9000';`, "default.orders"},
	} {
		p, err := build(t, "CREATE SOURCE shop FROM mysql 'mysql://repl@127.0.0.1:3306';\n"+c.sink+"\nCREATE PIPELINE p FROM binlog shopdb.orders INTO clickhouse orders;\n")
		if err != nil {
			t.Errorf("%s: %v", c.sink, err)
			continue
		}
		if got := p.Pipelines[0].Target.Name; got != c.want || p.Pipelines[0].Sink != "dw" {
			t.Errorf("%s: target %s of sink %s, want %s of dw", c.sink, got, p.Pipelines[0].Sink, c.want)
		}
	}
	_, err := build(t, header+"CREATE SINK dw2 INTO clickhouse 'clickhouse://127.0.0.1:9001';\nCREATE PIPELINE p FROM binlog shopdb.orders INTO clickhouse orders;\n")
	if err == nil || !strings.Contains(err.Error(), "several clickhouse sinks are declared") {
		t.Errorf("two sinks: %v", err)
	}
}

// TestTransformWithoutColumns: * EXCEPT naming every column of the table
// leaves the pipeline no output column; it is an error at the TRANSFORM
// item. It planned, and apply wrote `{}` for every row (new-user trial).
func TestTransformWithoutColumns(t *testing.T) {
	for _, src := range []string{
		`CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM * EXCEPT (id, customer, status, amount, created_at) INTO stdout FORMAT jsonl;`,
		`CREATE PIPELINE p FROM binlog shopdb.events TRANSFORM * EXCEPT (name) INTO clickhouse analytics.e MODE append;`,
	} {
		_, err := build(t, header+src+"\n")
		if err == nil || !strings.Contains(err.Error(), "test.etl:3:55: TRANSFORM gives no output column") {
			t.Errorf("%s\nwant an error at the TRANSFORM, got %v", src, err)
		}
	}
	if _, err := build(t, header+`CREATE PIPELINE p FROM binlog shopdb.events TRANSFORM * EXCEPT (name), _op INTO stdout;`+"\n"); err != nil {
		t.Errorf("* EXCEPT every column, and a metadata column: %v", err)
	}
}

// TestBrokenFunctionNoSecondError: a CREATE FUNCTION whose body does not
// compile is one error, at its body; a pipeline that only calls it got a
// second one, "TRANSFORM gives no output column: * EXCEPT (…) leaves out
// every column", at an item that has no * EXCEPT (new-user trial).
func TestBrokenFunctionNoSecondError(t *testing.T) {
	for _, body := range []string{`'a +'`, `'a + 1'`} {
		src := header + "CREATE FUNCTION f(a INT64) RETURNS STRING AS EXPR " + body + ";\n" +
			"CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM f(id) AS x INTO stdout;\n"
		_, err := build(t, src)
		if err == nil || !strings.Contains(err.Error(), `function "f"`) {
			t.Errorf("body %s: want the body's error, got %v", body, err)
			continue
		}
		if strings.Contains(err.Error(), "no output column") {
			t.Errorf("body %s: a second, false error:\n%v", body, err)
		}
	}
}

// TestWhereOnAnOutputName: WHERE reads the source row, so an alias of
// TRANSFORM is not a column there; the error said only "unknown column"
// (new-user trial) and now says what the name is and what to write.
func TestWhereOnAnOutputName(t *testing.T) {
	_, err := build(t, header+"CREATE PIPELINE p FROM binlog shopdb.orders WHERE cents > 100 TRANSFORM id, amount * 100 AS cents INTO stdout;\n")
	want := `test.etl:3:51: unknown column "cents" in shopdb.orders: WHERE reads the source row, and cents is an output of TRANSFORM; write its expression, amount * 100`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v\nwant %s", err, want)
	}
	// An alias that is also a column of the table is the column.
	if _, err := build(t, header+"CREATE PIPELINE p FROM binlog shopdb.orders WHERE amount > 100 TRANSFORM id, amount * 100 AS amount INTO stdout;\n"); err != nil {
		t.Errorf("alias named like a column: %v", err)
	}
	// An alias whose expression reads a column of its own name that the
	// table does not have (dropped since the file was written): the hint
	// said to write that expression, which names the same missing column
	// (trial-trust: "note is an output of TRANSFORM; write its
	// expression, coalesce(note, '-')"). The column is unknown, plainly.
	_, err = build(t, header+"CREATE PIPELINE p FROM binlog shopdb.orders WHERE note IS NOT NULL TRANSFORM id, coalesce(note, '-') AS note INTO stdout;\n")
	if err == nil || !strings.Contains(err.Error(), `test.etl:3:51: unknown column "note" in shopdb.orders`) || strings.Contains(err.Error(), "write its expression") {
		t.Errorf("alias over a missing column of its name: %v", err)
	}
}

// TestUpsertWhereOnTheChange: in upsert mode the target holds the source
// rows that pass WHERE, so a WHERE on the change (changed(), before.*,
// _op, _ts, _pos, _version) has no meaning there: WHERE changed(status)
// removed every key whose last update kept its status (new-user trial).
// It is an error; append and changelog pick changes as before.
func TestUpsertWhereOnTheChange(t *testing.T) {
	for where, want := range map[string]string{
		"changed(status)":                       "3:51: WHERE uses changed(), which describes the change, not the row: in MODE upsert (the default for a ClickHouse table with a key)",
		"amount > 1 AND before.amount < amount": "3:66: WHERE uses before.amount",
		"_op <> 'delete'":                       "3:51: WHERE uses _op",
		"_ts > TIMESTAMP '2026-01-01 00:00:00'": "3:51: WHERE uses _ts",
		"_version > 5":                          "3:51: WHERE uses _version",
	} {
		_, err := build(t, header+"CREATE PIPELINE p FROM binlog shopdb.orders WHERE "+where+" INTO clickhouse a.b;\n")
		if err == nil || !strings.Contains(err.Error(), "test.etl:"+want) {
			t.Errorf("WHERE %s: got %v\nwant %s", where, err, want)
		}
	}
	for _, src := range []string{
		"CREATE PIPELINE p FROM binlog shopdb.orders WHERE changed(status) INTO clickhouse a.b MODE append;",
		"CREATE PIPELINE p FROM binlog shopdb.orders WHERE _op = 'update' AND before.status <> status INTO clickhouse a.b MODE changelog;",
		"CREATE PIPELINE p FROM binlog shopdb.orders WHERE changed(status) INTO stdout;",
		"CREATE PIPELINE p FROM binlog shopdb.orders WHERE status <> 'x' AND _table = 'orders' TRANSFORM id, status, _op INTO clickhouse a.b;",
	} {
		if _, err := build(t, header+src+"\n"); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
	_, err := build(t, header+"CREATE PIPELINE p FROM binlog shopdb.orders WHERE changed(status) INTO clickhouse a.b MODE upsert;\n")
	if err == nil || !strings.Contains(err.Error(), "in MODE upsert the target") {
		t.Errorf("MODE upsert written: %v", err)
	}
}

// TestStarRepeatsColumns: a * that gives columns the output already has
// is one error at the *, naming them; it was one error per column, the
// same line and caret repeated (seven for TRANSFORM *, * over orders).
func TestStarRepeatsColumns(t *testing.T) {
	_, err := build(t, header+"CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM *, * INTO stdout;\n")
	if err == nil || strings.Count(err.Error(), "duplicate output") != 1 ||
		!strings.Contains(err.Error(), `test.etl:3:58: duplicate output columns: * gives "id", "customer", "status", "amount", "created_at" again (first at line 3)`) {
		t.Errorf("TRANSFORM *, *: %v", err)
	}
	_, err = build(t, header+"CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id, * INTO stdout;\n")
	if err == nil || !strings.Contains(err.Error(), `test.etl:3:59: duplicate output column "id": * gives it again (first at line 3); write * EXCEPT (id)`) {
		t.Errorf("TRANSFORM id, *: %v", err)
	}
}

// TestQuotedNameReadsTheTableColumn: a table may have a column named like
// a metadata column (`_op`); back-quoted, the name reads the table's column
// (as `before` back-quoted is a column, not the before image), bare it is
// the metadata column. Both read the metadata column, so the table's `_op`,
// which `*` shows, could not be named (new-user trial).
func TestQuotedNameReadsTheTableColumn(t *testing.T) {
	cat := fixedCatalog{"shopdb.audit": {
		Ref: connectors.TableRef{DB: "shopdb", Table: "audit"},
		Fields: []arrow.Field{
			notNull(field("id", arrow.PrimitiveTypes.Int32, "int(11)")),
			field("_op", arrow.BinaryTypes.String, "varchar(5)"),
		},
		PrimaryKey: []string{"id"},
	}}
	f, err := lang.ParseFile("test.etl", []byte(header+"CREATE PIPELINE p FROM binlog shopdb.audit TRANSFORM id, `_op` AS src_op, _op AS meta_op, `_ts` AS ts INTO stdout;\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := planner.Build(context.Background(), f, planner.Options{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	out := p.Pipelines[0].Output
	src, meta := out[1], out[2]
	if st, _ := src.Meta.GetValue(exec.MetaSourceType); st != "varchar(5)" || !src.Nullable {
		t.Errorf("`_op`: source type %q, nullable %v; want the table's varchar(5), nullable", st, src.Nullable)
	}
	if _, ok := meta.Meta.GetValue(exec.MetaSourceType); ok || meta.Nullable {
		t.Errorf("_op: %+v; want the metadata column, never NULL", meta)
	}
	if ts := out[3]; ts.Nullable || ts.Type.ID() != arrow.TIMESTAMP {
		t.Errorf("`_ts` (no such table column): %+v; want the metadata column", ts)
	}
}

// TestSystemColumnNames: an output named like a column the mode keeps for
// the change itself must be that metadata column. In upsert mode
// `id AS _version` made the id the version ReplacingMergeTree keeps the
// largest row by; in changelog mode `status AS _op`, or a table column
// _op through *, wrote it where the change's operation belongs, and the
// operation was lost (new-user trial). check refuses them.
func TestSystemColumnNames(t *testing.T) {
	cat := fixedCatalog{"shopdb.audit": {
		Ref: connectors.TableRef{DB: "shopdb", Table: "audit"},
		Fields: []arrow.Field{
			notNull(field("id", arrow.PrimitiveTypes.Int32, "int(11)")),
			field("_op", arrow.BinaryTypes.String, "varchar(5)"),
		},
		PrimaryKey: []string{"id"},
	}}
	for src, want := range map[string]string{
		"TRANSFORM id, id AS _version INTO clickhouse a.b":              `test.etl:3:58: output column "_version" is the change's own _version in MODE upsert`,
		"TRANSFORM id, `_op` AS _op INTO clickhouse a.b MODE changelog": `test.etl:3:58: output column "_op" is the change's own _op in MODE changelog`,
		"TRANSFORM id, upper(_ts) AS _TS INTO stdout MODE changelog":    `test.etl:3:58: output column "_TS" is the change's own _ts in MODE changelog`,
		"TRANSFORM * INTO clickhouse a.b MODE changelog":                "test.etl:3:54: the table's column \"_op\" takes the name of the change's own _op in MODE changelog: leave it out with * EXCEPT (`_op`), or rename it (`_op` AS …)",
		"INTO clickhouse a.b MODE changelog":                            `test.etl:3:17: the table's column "_op" takes the name`,
		"TRANSFORM id, `_op` AS _is_deleted INTO clickhouse a.b":        `test.etl:3:58: output column "_is_deleted" is reserved in MODE upsert: the table marks deleted rows in it`,
	} {
		_, err := buildWith(t, cat, header+"CREATE PIPELINE p FROM binlog shopdb.audit "+src+";\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %s", src, err, want)
		}
	}
	for _, src := range []string{
		"TRANSFORM id, _version, (_op) AS _OP, _ts, _pos INTO clickhouse a.b MODE changelog",
		"TRANSFORM id, _version INTO clickhouse a.b",
		"TRANSFORM * EXCEPT (`_op`), `_op` AS src_op INTO clickhouse a.b MODE changelog",
		"TRANSFORM * INTO clickhouse a.b",         // upsert: only _version is the change's
		"TRANSFORM id, status AS _op INTO stdout", // append: no column is the change's
	} {
		if _, err := buildWith(t, cat, header+"CREATE PIPELINE p FROM binlog shopdb.audit "+src+";\n"); err != nil && !strings.Contains(err.Error(), "status") {
			t.Errorf("%s: %v", src, err)
		}
	}
}

// TestUDFArgumentErrors: a call of a CREATE FUNCTION that cannot work for
// any row — too many or too few arguments, an argument of a type that does
// not convert to the parameter's, a constant the parameter type cannot
// hold — is an error of the file at the argument (at the call when one is
// missing), naming the function, the parameter and what is wrong. The
// constants were row errors of every row at run time.
func TestUDFArgumentErrors(t *testing.T) {
	decl := "CREATE FUNCTION dbl(x INT32) RETURNS INT64 AS EXPR 'x * 2';\n" +
		"CREATE FUNCTION d(x DATE, s STRING) RETURNS STRING AS EXPR 's';\n"
	for _, tc := range []struct{ item, want string }{
		{"dbl(id, 2)", `test.etl:5:67: function "dbl" takes 1 argument (x INT32), got 2`},
		{"dbl()", `test.etl:5:59: function "dbl" takes 1 argument (x INT32), got 0`},
		{"d(created_at)", `test.etl:5:59: function "d" takes 2 arguments (x DATE, s STRING), got 1`},
		{"dbl('abc')", `test.etl:5:63: argument 1 of "dbl" (x INT32): cannot cast 'abc' to INT32`},
		{"dbl(3000000000)", `test.etl:5:63: argument 1 of "dbl" (x INT32): value 3000000000 is out of range for INT32`},
		{"dbl(-2147483648 - 1)", `test.etl:5:63: argument 1 of "dbl" (x INT32): value -2147483649 is out of range for INT32`},
		{"d(TRUE, customer)", `test.etl:5:61: argument 1 of "d" (x DATE) must be DATE, got BOOL`},
		{"d(created_at, 'x', 3)", `test.etl:5:78: function "d" takes 2 arguments (x DATE, s STRING), got 3`},
		{"d('2024-02-30', customer)", `test.etl:5:61: argument 1 of "d" (x DATE): cannot cast '2024-02-30' to DATE`},
	} {
		src := header + decl + "CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id, " + tc.item + " AS v INTO stdout;\n"
		_, err := build(t, src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v\nwant %s", tc.item, err, tc.want)
		}
	}
	// Arguments that convert row by row are no error of the file.
	for _, item := range []string{"dbl(customer)", "dbl('12')", "dbl(amount)", "d(customer, id)", "dbl(NULL)"} {
		if _, err := build(t, header+decl+"CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id, "+item+" AS v INTO stdout;\n"); err != nil {
			t.Errorf("%s: %v", item, err)
		}
	}
}
