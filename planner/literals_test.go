package planner_test

import (
	"context"
	"strings"
	"testing"

	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

// buildOffline plans src without a catalog, as `etlq check --offline`.
func buildOffline(t *testing.T, src string) error {
	t.Helper()
	f, err := lang.ParseFile("test.etl", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	_, err = planner.Build(context.Background(), f, planner.Options{})
	return err
}

// TestOfflineRefusesBadLiterals: literals apply would refuse are errors of
// an offline check too, every one of them, each at its place.
func TestOfflineRefusesBadLiterals(t *testing.T) {
	src := header + `CREATE PIPELINE p FROM binlog shopdb.orders
  WHERE created_at > TIMESTAMP '2026-13-45 99:99:99' AND amount < 1e999999
    AND id < 12345678901234567890123456789012345678901234567890123456789012345678901234567890
    AND created_at > _ts - INTERVAL '999999999999' DAY
  INTO stdout;
`
	err := buildOffline(t, src)
	for _, want := range []string{
		"test.etl:4:22: literal '2026-13-45 99:99:99': cannot cast",
		"test.etl:4:67: number 1e999999 is beyond the range of FLOAT64",
		"test.etl:5:14: number 1234567890",
		"test.etl:6:28: interval 999999999999 DAY is out of range",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q, got %v", want, err)
		}
	}
	if err := buildOffline(t, header+"CREATE PIPELINE p FROM binlog shopdb.orders WHERE created_at > TIMESTAMP '2026-12-31 23:59:59' - INTERVAL '5' DAY AND amount < 1e300 INTO stdout;\n"); err != nil {
		t.Errorf("good literals: %v", err)
	}
}

// TestOptionRanges: integer options outside what the connector accepts are
// errors at their value, online and offline.
func TestOptionRanges(t *testing.T) {
	src := `CREATE SOURCE shop FROM mysql 'mysql://repl@127.0.0.1:3306' WITH (server_id = 0);
CREATE SINK dw INTO clickhouse 'clickhouse://127.0.0.1:9000';
CREATE PIPELINE p FROM binlog shopdb.orders INTO stdout WITH (batch_rows = -1, chunk_rows = 0, snapshot_parallelism = -3);
CREATE PIPELINE q FROM binlog shopdb.orders INTO clickhouse dw.a.o WITH (batch_rows = 0, max_inflight = 0);
`
	want := []string{
		`test.etl:1:79: option "server_id" must be between 1 and 4294967295, got 0`,
		`test.etl:3:76: option "batch_rows" must be at least 0, got -1`,
		`test.etl:3:93: option "chunk_rows" must be at least 1, got 0`,
		`test.etl:3:119: option "snapshot_parallelism" must be between 1 and 1024, got -3`,
		`test.etl:4:87: option "batch_rows" must be at least 1, got 0`,
		`test.etl:4:105: option "max_inflight" must be between 1 and 65536, got 0`,
	}
	offline := buildOffline(t, src)
	_, online := build(t, src)
	for _, err := range []error{offline, online} {
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("want %q, got %v", w, err)
			}
		}
	}
	if err := buildOffline(t, header+"CREATE PIPELINE p FROM binlog shopdb.orders INTO http 'https://h.example' WITH (batch_rows = 0, chunk_rows = 1);\n"); err != nil {
		t.Errorf("batch_rows = 0 into http: %v", err)
	}
}

// TestAllErrorsOfAPipeline: an error in INTO, MODE or WITH does not hide
// those of the columns: every one is reported.
func TestAllErrorsOfAPipeline(t *testing.T) {
	_, err := build(t, header+"CREATE PIPELINE p FROM binlog shopdb.orders WHERE amout > 1 TRANSFORM id INTO stdout MODE upsert WITH (batch_rowz = 1);\n"+
		"CREATE PIPELINE q FROM binlog shopdb.orders TRANSFORM idd INTO nowhere;\n")
	for _, want := range []string{
		`test.etl:3:51: unknown column "amout"`,
		"test.etl:3:91: INTO stdout cannot take MODE upsert",
		`test.etl:3:104: unknown option "batch_rowz"`,
		`test.etl:4:55: unknown column "idd"`,
		`test.etl:4:64: unknown sink kind "nowhere"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q, got %v", want, err)
		}
	}
}

// TestConstantArgumentsChecked: a constant argument a function would
// refuse on every row — a regular expression that does not compile, a
// JSON path etlq cannot read, an unknown timestampdiff unit — is an error
// of the file at the call, as date_trunc's unit is, not a row error that
// stops the pipeline at its first row (`etlq check` said ok).
func TestConstantArgumentsChecked(t *testing.T) {
	src := header + `CREATE PIPELINE p FROM binlog shopdb.orders
  WHERE regexp_like(status, '(') AND json_value(customer, 'a.b') = 'x'
  TRANSFORM id, timestampdiff('FORTNIGHT', created_at, _ts) AS d, json_extract(customer, '$.a[*]') AS a,
    regexp_replace(status, '(?=x)', '') AS r, json_length(customer, '$[') AS l, json_contains(customer, '1', '$$') AS c,
    date_trunc('fortnight', created_at) AS w
  INTO stdout;
`
	_, err := build(t, src)
	for _, want := range []string{
		`test.etl:4:29: invalid regular expression '(' for "regexp_like": missing closing )`,
		`test.etl:4:59: invalid JSON path 'a.b' for "json_value"`,
		`test.etl:5:31: unknown unit "FORTNIGHT" for "timestampdiff"`,
		`test.etl:5:90: invalid JSON path '$.a[*]' for "json_extract"`,
		`test.etl:6:28: invalid regular expression '(?=x)' for "regexp_replace": invalid or unsupported Perl syntax`,
		`test.etl:6:69: invalid JSON path '$[' for "json_length"`,
		`test.etl:6:110: invalid JSON path '$$' for "json_contains"`,
		`test.etl:7:16: unknown unit "fortnight" for "date_trunc" (expected year, quarter, month, week, day, hour, minute or second)`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q, got %v", want, err)
		}
	}
	if _, err := build(t, header+`CREATE PIPELINE p FROM binlog shopdb.orders
  WHERE regexp_like(status, '^p[a-z]+$') AND json_value(customer, '$."a b"[0]') = 'x'
  TRANSFORM id, timestampdiff('months', created_at, _ts) AS d, json_extract(customer, status) AS a, regexp_substr(status, status) AS r
  INTO stdout;
`); err != nil {
		t.Errorf("good arguments: %v", err)
	}
}

// TestCastOfLiteralChecked: a CAST of a literal that cannot succeed is an
// error of the file at the cast, as DATE 'yesterday' is — it was a row
// error that stopped the pipeline at its first row.
func TestCastOfLiteralChecked(t *testing.T) {
	src := header + `CREATE PIPELINE p FROM binlog shopdb.orders
  WHERE created_at > CAST('2024-02-30' AS DATE) AND id <> '7x'::INT64
  TRANSFORM id, CAST(1e300 AS FLOAT32) AS f, CAST(-1 AS UINT8) AS u
  INTO stdout;
`
	_, err := build(t, src)
	for _, want := range []string{
		`test.etl:4:22: cannot cast '2024-02-30' to DATE`,
		`test.etl:4:59: cannot cast '7x' to INT64`,
		`test.etl:5:17: value 1e300 is out of range for FLOAT32`,
		`test.etl:5:46: value -1 is out of range for UINT8`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q, got %v", want, err)
		}
	}
	if _, err := build(t, header+`CREATE PIPELINE p FROM binlog shopdb.orders
  WHERE created_at > CAST('2024-02-29' AS DATE) AND id <> '7'::INT64 AND status = CAST(12 AS STRING)
  TRANSFORM id, if(id > 0, 1, CAST(status AS INT64)) AS x
  INTO stdout;
`); err != nil {
		t.Errorf("good casts: %v", err)
	}
}

// TestConstantArithmeticChecked: arithmetic on constants that cannot be
// computed (an overflow of BIGINT, as MariaDB's "BIGINT value is out of
// range") is an error of the file at the expression — check said ok and
// apply failed on every row (new-user trial). Constants that compute,
// and a division by zero (NULL, as in MariaDB), are no error.
func TestConstantArithmeticChecked(t *testing.T) {
	_, err := build(t, header+`CREATE PIPELINE p FROM binlog shopdb.orders
  TRANSFORM id, 9223372036854775807 + 1 AS a, -(-9223372036854775807 - 1) AS b
  INTO stdout;
`)
	for _, want := range []string{`test.etl:4:17: BIGINT value is out of range`, `test.etl:4:47: BIGINT value is out of range`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error at %q, got %v", want, err)
		}
	}
	if _, err := build(t, header+`CREATE PIPELINE p FROM binlog shopdb.orders
  TRANSFORM id, 9223372036854775806 + 1 AS a, 1 / 0 AS z, id + 9223372036854775807 AS c
  INTO stdout;
`); err != nil {
		t.Errorf("constants that compute: %v", err)
	}
}

// TestOptionsFromEnvironment: an integer or boolean option may take its
// value from the environment, '${NAME}' (a string, the way every ${…} is
// written); it was refused as "takes an integer, got '${BR}'" (new-user
// trial). The expanded text must still be an integer or a boolean, and a
// string written out ('5000') stays an error.
func TestOptionsFromEnvironment(t *testing.T) {
	env := map[string]string{"SID": "77", "BR": " 5000", "GAP": "true", "BAD": "x7"}
	plan := func(src string) error {
		t.Helper()
		f, err := lang.ParseFile("test.etl", []byte(src))
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if errs := lang.Expand(f, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); len(errs) > 0 {
			t.Fatalf("expand: %v", errs)
		}
		_, err = planner.Build(context.Background(), f, planner.Options{})
		return err
	}
	good := `CREATE SOURCE shop FROM mysql 'mysql://repl@127.0.0.1:3306' WITH (server_id = '${SID}', snapshot_on_purge = '${GAP}');
CREATE PIPELINE p FROM binlog shopdb.orders INTO stdout WITH (batch_rows = '${BR}');
`
	if err := plan(good); err != nil {
		t.Errorf("options from the environment: %v", err)
	}
	err := plan(`CREATE SOURCE shop FROM mysql 'mysql://repl@127.0.0.1:3306' WITH (server_id = '${BAD}');
CREATE PIPELINE p FROM binlog shopdb.orders INTO stdout WITH (batch_rows = '5000');
`)
	for _, want := range []string{
		`test.etl:1:79: option "server_id" takes an integer, got '${BAD}' ("x7" from the environment)`,
		`test.etl:2:76: option "batch_rows" takes an integer, got '5000'`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q, got %v", want, err)
		}
	}
}

// TestOfflineRefusesUnknownFunctions: a call of a function that is neither
// in the library nor declared in the file, and a TRANSFORM expression
// without a name, are errors of an offline check too — `etlq check
// --offline` said ok to `TRANSFORM nosuchfn(amount)` and apply refused it
// (repl-and-language trial). The file's own functions and changed() are
// known.
func TestOfflineRefusesUnknownFunctions(t *testing.T) {
	src := header + `CREATE FUNCTION tier(amount DECIMAL(12,2)) RETURNS STRING AS EXPR 'amount > 1000 ? "gold" : "std"';
CREATE PIPELINE p FROM binlog shopdb.orders
  WHERE upper(status) = 'PAID' AND nosuchfn(amount) > 1 AND changed(status)
  TRANSFORM id, tier(amount) AS t, isnull(customer) AS n, substr(customer, 1, 2), (id), before.id
  INTO stdout;
`
	err := buildOffline(t, src)
	for _, want := range []string{
		`test.etl:5:36: unknown function "nosuchfn"`,
		`test.etl:6:36: unknown function "isnull" (write x IS NULL)`,
		`test.etl:6:59: this expression needs a name: add AS <name>`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q, got %v", want, err)
		}
	}
	if err != nil && strings.Count(err.Error(), "test.etl:") != 3 {
		t.Errorf("want 3 errors, got %v", err)
	}
}

// TestUnknownFunctionBeforeName: a TRANSFORM item that calls an unknown
// function is reported as that, not as "needs a name": the name is no use
// while the call is wrong (repl-and-language trial: `TRANSFORM
// nosuchfn(amount)` said "add AS <name>", and then the function was
// unknown).
func TestUnknownFunctionBeforeName(t *testing.T) {
	_, err := build(t, header+"CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM nosuchfn(amount) INTO stdout;\n")
	if err == nil || !strings.Contains(err.Error(), `test.etl:3:55: unknown function "nosuchfn"`) || strings.Contains(err.Error(), "needs a name") {
		t.Errorf("want the unknown function alone, got %v", err)
	}
	_, err = build(t, header+"CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM upper(status) INTO stdout;\n")
	if err == nil || !strings.Contains(err.Error(), "test.etl:3:55: this expression needs a name: add AS <name>") {
		t.Errorf("want needs a name, got %v", err)
	}
}
