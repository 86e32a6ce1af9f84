package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleFixtures: every file in examples/ has fixtures in
// examples/testdata/<name>/, and `etlq test` passes them, with no server.
func TestExampleFixtures(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../examples/*.etl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".etl")
		t.Run(name, func(t *testing.T) {
			fx, _ := filepath.Glob(filepath.Join("../../examples/testdata", name, "*.json"))
			if len(fx) == 0 {
				t.Fatalf("examples/%s.etl has no fixtures in examples/testdata/%s", name, name)
			}
			out := mustEtlqEnv(t, noDemoEnv(), "test", f)
			if !strings.Contains(out, "0 failed") || strings.Contains(out, "FAIL") {
				t.Fatalf("etlq test %s:\n%s", f, out)
			}
		})
	}
}

// noDemoEnv is the environment without the examples' ${…} variables:
// `etlq test` needs no server address.
func noDemoEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETLQ_DEMO_") {
			env = append(env, kv)
		}
	}
	return env
}

func mustEtlqEnv(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, err := etlqEnv(env, args...)
	if err != nil {
		t.Fatalf("etlq %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func etlqEnv(env []string, args ...string) (string, error) {
	cmd := exec.Command(etlqBin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// failingTest runs `etlq test` and wants exit code 1 and each of want in
// its output.
func failingTest(t *testing.T, want []string, args ...string) string {
	t.Helper()
	out, err := etlqEnv(noDemoEnv(), append([]string{"test"}, args...)...)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("etlq test %s: want exit code 1, got %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("etlq test %s: output lacks %q:\n%s", strings.Join(args, " "), w, out)
		}
	}
	return out
}

// TestFixtureFailures: `etlq test` fails, with a readable diff, when the
// pipeline's output differs from the fixture — a changed expression, a
// changed expected value, a missing or extra row, a dead letter that does
// not come.
func TestFixtureFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The shop example with the amount in tenths instead of cents.
	src, err := os.ReadFile("../../examples/shop.etl")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(src), "amount * 100", "amount * 10", 1)
	if bad == string(src) {
		t.Fatal("shop.etl has no amount * 100")
	}
	etl := filepath.Join(dir, "shop.etl")
	if err := os.WriteFile(etl, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	failingTest(t, []string{"FAIL", "pipeline orders_olap: row 1 (id = 1) differs:", "amount_cents: want 1250, got \"125.00\"", "0 passed, 1 failed"},
		etl, "--fixtures", "../../examples/testdata/shop")

	// The fixtures changed: a wrong value, a row too many, a dead letter
	// that does not come.
	mutate := func(name, fixture string, edit func(m map[string]any)) string {
		data, err := os.ReadFile(filepath.Join("../../examples/testdata", name, fixture))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		out, _ := json.MarshalIndent(m, "", "  ")
		if err := os.WriteFile(filepath.Join(d, fixture), out, 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := mutate("audit", "orders_changes.json", func(m map[string]any) {
		rows := m["expect"].(map[string]any)["orders_audit"].([]any)
		rows[1].(map[string]any)["__before.status"] = "paid"
		m["expect"].(map[string]any)["orders_audit"] = rows[:2]
	})
	failingTest(t, []string{"pipeline orders_audit: row 2 (id = 1) differs:", `__before.status: want "paid", got "new"`,
		"pipeline orders_audit: row 3 is not expected: got {\"id\": \"1\""}, "../../examples/audit.etl", "--fixtures", d)

	d = mutate("validation", "items.json", func(m map[string]any) {
		dl := m["dead_letters"].(map[string]any)["items_checked"].([]any)
		dl[0].(map[string]any)["row"].(map[string]any)["qty"] = 7
		m["dead_letters"].(map[string]any)["items_checked"] = append(dl, map[string]any{"reason": "assert: never"})
	})
	failingTest(t, []string{"pipeline items_checked: dead letter 1 differs:", `qty: want 7, got "0"`,
		`pipeline items_checked: dead letter 4 is missing: want reason "assert: never"`}, "../../examples/validation.etl", "--fixtures", d)

	d = mutate("notify", "paid_alerts.json", func(m map[string]any) {
		m["expect"].(map[string]any)["paid_alerts"] = []any{}
	})
	failingTest(t, []string{"pipeline paid_alerts: row 1 is not expected"}, "../../examples/notify.etl", "--fixtures", d)
}

// TestFixtureErrors: a fixture that does not say what the source holds is
// an error naming the place (file:line:col, at the value), not a pass. (A
// value its column cannot hold used to be found only by the run, named
// changes[1]: column "amount" without a place.)
func TestFixtureErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(text string) {
		if err := os.WriteFile(filepath.Join(dir, "case.json"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	table := `{"table": "shopdb.orders", "columns": [{"name": "id", "type": "bigint(20) unsigned", "key": 1},
	  {"name": "customer", "type": "varchar(64)"}, {"name": "status", "type": "enum('new','paid')"},
	  {"name": "amount", "type": "decimal(12,2)"}]}`
	table2 := `{"table": "shopdb.orders", "columns": [{"name": "id", "type": "bigint(20) unsigned", "key": 1},
	  {"name": "customer", "type": "varchar(64)"}, {"name": "status", "type": "enum('new','paid')"},
	  {"name": "amount", "type": "decimal(12,2)"}, {"name": "tags", "type": "set('a','b''x')", "nullable": true},
	  {"name": "y", "type": "year(4)", "nullable": true}, {"name": "at", "type": "datetime(6)", "nullable": true},
	  {"name": "d", "type": "date", "nullable": true}]}`
	table3 := `{"table": "shopdb.orders", "columns": [{"name": "id", "type": "bigint(20) unsigned", "key": 1},
	  {"name": "customer", "type": "varchar(64)"}, {"name": "status", "type": "enum('new','paid')"},
	  {"name": "amount", "type": "decimal(12,2) unsigned"}, {"name": "m", "type": "mediumint(8) unsigned"},
	  {"name": "sm", "type": "mediumint(9)"}, {"name": "b", "type": "bit(3)"}]}`
	row3 := func(amount, m, sm, b string) string {
		return `{"tables": [` + table3 + `], "changes": [` + "\n" + `{"table": "shopdb.orders", "op": "insert", "after": {"id": 1, "customer": "a", "status": "new", "amount": ` +
			amount + `, "m": ` + m + `, "sm": ` + sm + `, "b": ` + b + `}}], "expect": {"orders_audit": []}}`
	}
	for _, c := range []struct{ text, want string }{
		// A MEDIUMINT is an Int32 or a Uint32 in Arrow, a BIT(n) a
		// Uint64, a DECIMAL UNSIGNED a Decimal128: values those hold but
		// the column does not were taken (inventory_id 20000000 in a
		// mediumint(8) unsigned passed; new-user trial).
		{row3("1", "16777216", "0", "0"), `changes[0].after.m: "16777216" is not a mediumint(8) unsigned value: out of the column's range 0..16777215`},
		{row3("1", "0", "8388608", "0"), `changes[0].after.sm: "8388608" is not a mediumint(9) value: out of the column's range -8388608..8388607`},
		{row3("1", "0", "-8388609", "0"), `changes[0].after.sm: "-8388609" is not a mediumint(9) value: out of the column's range -8388608..8388607`},
		{row3("1", "0", "0", "8"), `changes[0].after.b: "8" is not a bit(3) value: out of the column's range 0..7`},
		{row3("-1.5", "0", "0", "0"), `changes[0].after.amount: "-1.5" is not a decimal(12, 2) unsigned value: the column is unsigned`},
		{`{"tables": [` + table + `], "changes": [{"table": "shopdb.orders", "op": "insert", "after": {"id": 1, "customer": "a", "status": "new"}}], "expect": {"orders_audit": []}}`,
			`changes[0].after: column "amount" has no value (write null for NULL)`},
		{`{"tables": [` + table + `], "changes": [{"table": "shopdb.orders", "op": "insert", "after": {"id": 1, "customer": "a", "status": "new", "amount": 1}},` + "\n" +
			`  {"table": "shopdb.orders", "op": "insert", "after": {"id": 2, "customer": "a", "status": "new", "amount": 1.234}}], "expect": {"orders_audit": []}}`,
			`case.json:4:109: changes[1].after.amount: "1.234" is not a decimal(12, 2) value: more than 2 fractional digits`},
		{`{"tables": [` + table + `], "changes": [` + "\n" + `{"table": "shopdb.orders", "op": "update", "before": {"id": 1, "customer": "a", "status": "new", "amount": "x1"},` +
			` "after": {"id": 1, "customer": "a", "status": "new", "amount": 1}}], "expect": {"orders_audit": []}}`,
			`case.json:4:108: changes[0].before.amount: "x1" is not a decimal(12, 2) value`},
		{`{"tables": [` + table + `], "changes": [` + "\n" + `{"table": "shopdb.orders", "op": "delete", "before": {"id": null, "customer": "a", "status": "new", "amount": 1}}], "expect": {"orders_audit": []}}`,
			`case.json:4:61: changes[0].before.id: NULL in a NOT NULL column`},
		{`{"tables": [` + table + `], "changes": [` + "\n" + `{"table": "shopdb.orders", "op": "insert", "ts": "yesterday", "after": {"id": 1, "customer": "a", "status": "new", "amount": 1}}], "expect": {"orders_audit": []}}`,
			`case.json:4:50: changes[0].ts: want YYYY-MM-DD`},
		{`{"tables": [` + table + `], "changes": [` + "\n" + `{"table": "shopdb.orders", "op": "insert", "after": {"id": 1, "customer": "a", "status": "new", "amount": 1, "x": 2}}], "expect": {"orders_audit": []}}`,
			`case.json:4:115: changes[0].after: table shopdb.orders has no column "x"`},
		{`{"tables": [` + table + `], "changes": [], "expect": {}}`,
			`expect has no rows for pipeline "orders_audit" (write [] for none)`},
		{`{"tables": [` + table + `], "changes": [], "expect": {"orders_audit": [], "orders_audit_log": [], "orders_adit": []}}`,
			`case.json:3:137: expect.orders_adit: the file has no pipeline "orders_adit" (did you mean "orders_audit"?)`},
		// Values the column's type cannot hold, named at the value: they
		// used to be taken (an ENUM or SET member the column lacks, a YEAR
		// out of range) or made into another date (month 13 became the
		// next year's month 0; found in a new-user trial).
		{`{"tables": [` + table + `], "changes": [` + "\n" + `{"table": "shopdb.orders", "op": "insert", "after": {"id": 1, "customer": "a", "status": "shipped", "amount": 1}}], "expect": {"orders_audit": []}}`,
			`case.json:4:90: changes[0].after.status: "shipped" is not a member of enum('new','paid')`},
		{`{"tables": [` + table2 + `], "changes": [` + "\n" + `{"table": "shopdb.orders", "op": "insert", "after": {"id": 1, "customer": "a", "status": "NEW", "amount": 1, "tags": "a,c", "y": 2000, "at": null, "d": null}}], "expect": {"orders_audit": []}}`,
			`case.json:6:118: changes[0].after.tags: "a,c" is not a value of set('a','b''x'): "c" is not a member`},
		{`{"tables": [` + table2 + `], "changes": [` + "\n" + `{"table": "shopdb.orders", "op": "insert", "after": {"id": 1, "customer": "a", "status": "new", "amount": 1, "tags": "b'x,a", "y": 2156, "at": null, "d": null}}], "expect": {"orders_audit": []}}`,
			`changes[0].after.y: "2156" is not a year(4) value: a YEAR is 0 or 1901..2155`},
		{`{"tables": [` + table2 + `], "changes": [` + "\n" + `{"table": "shopdb.orders", "op": "insert", "after": {"id": 1, "customer": "a", "status": "new", "amount": 1, "tags": "", "y": 0, "at": "2026-13-01 00:00:00", "d": null}}], "expect": {"orders_audit": []}}`,
			`changes[0].after.at: "2026-13-01 00:00:00" is not a datetime(6) value: month 13 is not 0..12`},
		{`{"tables": [` + table2 + `], "changes": [` + "\n" + `{"table": "shopdb.orders", "op": "insert", "after": {"id": 1, "customer": "a", "status": "new", "amount": 1, "tags": null, "y": null, "at": null, "d": "2024-02-32"}}], "expect": {"orders_audit": []}}`,
			`changes[0].after.d: "2024-02-32" is not a date value: day 32 is not 0..31`},
		{`{"tables": [` + table2 + `], "changes": [` + "\n" + `{"table": "shopdb.orders", "op": "insert", "ts": "2024-01-01 24:00:00", "after": {"id": 1, "customer": "a", "status": "new", "amount": 1, "tags": null, "y": null, "at": null, "d": null}}], "expect": {"orders_audit": []}}`,
			`changes[0].ts: want YYYY-MM-DD HH:MM:SS`},
		// Numbers a column cannot hold say why in the fixture's terms:
		// they said "val {12345 0} doesn't fit in precision 4" and
		// "strconv.ParseUint: parsing "-1": invalid syntax", and the
		// type in Arrow's words (timestamp[us, tz=UTC], date32).
		{`{"tables": [` + table + `], "changes": [` + "\n" + `{"table": "shopdb.orders", "op": "insert", "after": {"id": 1, "customer": "a", "status": "new", "amount": 12345678901.5}}], "expect": {"orders_audit": []}}`,
			`changes[0].after.amount: "12345678901.5" is not a decimal(12, 2) value: more than 10 digits before the point`},
		{`{"tables": [` + table + `], "changes": [` + "\n" + `{"table": "shopdb.orders", "op": "insert", "after": {"id": -1, "customer": "a", "status": "new", "amount": 1}}], "expect": {"orders_audit": []}}`,
			`changes[0].after.id: "-1" is not a bigint(20) unsigned value: the column is unsigned`},
		{`{"tables": [` + table + `], "changes": [` + "\n" + `{"table": "shopdb.orders", "op": "insert", "after": {"id": 1.5, "customer": "a", "status": "new", "amount": 1}}], "expect": {"orders_audit": []}}`,
			`changes[0].after.id: "1.5" is not a bigint(20) unsigned value: not an integer`},
		{`{"tables": [` + table + `], "changes": [` + "\n" + `{"table": "shopdb.orders", "op": "update", "after": {"id": 1, "customer": "a", "status": "new", "amount": 1}}], "expect": {"orders_audit": []}}`,
			`changes[0]: an update needs a before row`},
		// A value of the wrong JSON kind is named by its path, in JSON's
		// words: it said "json: cannot unmarshal object into Go struct
		// field File.expect of type []fixture.Row" (pipelinetests trial).
		{`{"tables": [` + table + `], "changes": [], "expect": {"orders_audit":` + "\n" + ` {"id": 1}}}`,
			`case.json:4:2: expect.orders_audit: want an array of rows, got an object`},
		{`{"tables": [` + table + `], "changes": [], "expect": {"orders_audit": [` + "\n" + ` [1]]}}`,
			`case.json:4:2: expect.orders_audit[0]: want an object, got an array`},
		{`{"tables": [{"table": "shopdb.orders", "columns": [{"name": "id", "type": "int", "key": 1},` + "\n" + ` {"name": "x", "type": "int", "key": "2"}]}], "changes": [], "expect": {"orders_audit": []}}`,
			`case.json:2:38: tables[0].columns[1].key: want a whole number, got a string`},
		{`{"tables": [{"table": "shopdb.orders", "columns": [{"name": "id", "type": "int", "key": 1.5}]}], "changes": [], "expect": {"orders_audit": []}}`,
			`tables[0].columns[0].key: want a whole number, got 1.5`},
		{`{"tables": [` + table + `], "changes": [], "expect": {"orders_audit": []}, "dead_letters": {"orders_audit": [{"reason": 5}]}}`,
			`dead_letters.orders_audit[0].reason: want a string, got a number`},
		{`{"tables": [` + table + `], "changes": {}, "expect": {"orders_audit": []}}`,
			`changes: want an array of changes, got an object`},
		{`{"tables": [` + table + `], "changes": [{"table": "shopdb.orders", "op": "insert", "after": [1, 2]}], "expect": {"orders_audit": []}}`,
			`changes[0].after: want an object, got an array`},
		{`{"tables": [` + table + `], "changes": [], "expect": {"orders_audit": []}, "name": true}`,
			`name: want a string, got true`},
		// Last: the check below reuses this case.
		{`{"tables": [` + table + `], "changes": [], "expect": {"orders_audit": []},` + "\n" + ` "expected": 1}`,
			`case.json:4:16: json: unknown field "expected"`},
	} {
		write(c.text)
		out, err := etlqEnv(noDemoEnv(), "test", "../../examples/audit.etl", "--fixtures", dir)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("fixture %s: want an error containing %q, got %v:\n%s", c.text, c.want, err, out)
		}
	}

	// A bad fixture fails alone: the good ones beside it still run.
	good, err := os.ReadFile("../../examples/testdata/audit/orders_changes.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "z_good.json"), good, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := etlqEnv(noDemoEnv(), "test", "../../examples/audit.etl", "--fixtures", dir)
	for _, want := range []string{"FAIL  ", "case.json", "json: unknown field \"expected\"", "ok    ", "z_good.json", "1 passed, 1 failed"} {
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("a bad fixture beside a good one: want %q in the output and a failure, got %v:\n%s", want, err, out)
		}
	}
}

// TestFixtureNeedsNoServerSettings: `etlq test` runs a file whose DSNs
// name variables and secret files that this machine does not have.
func TestFixtureNeedsNoServerSettings(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../../examples/audit.etl")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(src), "'${ETLQ_DEMO_MYSQL_DSN}'", "'mysql://etl:${file:/nonexistent/etlq-secret}@db.invalid:3306'", 1)
	if text == string(src) {
		t.Fatal("audit.etl has no ${ETLQ_DEMO_MYSQL_DSN}")
	}
	etl := filepath.Join(t.TempDir(), "audit.etl")
	if err := os.WriteFile(etl, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := mustEtlqEnv(t, noDemoEnv(), "test", etl, "--fixtures", "../../examples/testdata/audit"); !strings.Contains(out, "1 passed, 0 failed") {
		t.Fatalf("etlq test:\n%s", out)
	}
}

// TestFixtureRunFailureComparesNoRows: when the run stops on an error the
// fixture does not expect, `etlq test` says so and compares no rows: it
// used to list every expected row after the failure as missing, which
// buried the cause.
func TestFixtureRunFailureComparesNoRows(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	etl := filepath.Join(dir, "p.etl")
	if err := os.WriteFile(etl, []byte(`CREATE SOURCE shop FROM mysql '${ETLQ_DEMO_MYSQL_DSN}';
CREATE PIPELINE p FROM binlog shop.shopdb.orders SNAPSHOT never
  WHERE assert(amount < 100, 'amount too big')
  TRANSFORM id, amount INTO stdout;
`), 0o644); err != nil {
		t.Fatal(err)
	}
	fx := filepath.Join(dir, "testdata", "p")
	if err := os.MkdirAll(fx, 0o755); err != nil {
		t.Fatal(err)
	}
	row := func(id, amount int) string {
		return fmt.Sprintf(`{"table": "shopdb.orders", "op": "insert", "after": {"id": %d, "amount": %d}}`, id, amount)
	}
	if err := os.WriteFile(filepath.Join(fx, "case.json"), []byte(`{"tables": [{"table": "shopdb.orders", "columns": [
  {"name": "id", "type": "int(11)", "key": 1}, {"name": "amount", "type": "decimal(12,2)"}]}],
  "changes": [`+row(1, 10)+`, `+row(2, 500)+`, `+row(3, 20)+`],
  "expect": {"p": [{"id": 1, "amount": 10}, {"id": 2, "amount": 500}, {"id": 3, "amount": 20}]}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := failingTest(t, []string{"FAIL", "the run failed: ", "amount too big", "(rows not compared)", "0 passed, 1 failed"}, etl)
	if strings.Contains(out, "is missing") {
		t.Errorf("etlq test lists rows as missing after the run failed:\n%s", out)
	}
	// The failure is the row's, without apply's advice on a checkpoint
	// and on running apply again, which a test has neither of (it said
	// "its checkpoint stays at the start of the stream … then run apply
	// again, and it resumes from there"; new-user trial).
	for _, bad := range []string{"checkpoint", "run apply again"} {
		if strings.Contains(out, bad) {
			t.Errorf("etlq test speaks of %q:\n%s", bad, out)
		}
	}
}

// TestFixtureTestsPipelinesOfItsTables: a fixture tests the pipelines
// whose tables it describes; a pipeline reading a table it lacks is left
// out of it and said so, a pipeline no fixture tests is said at the end,
// rows expected of a pipeline the fixture does not test are an error, and
// a fixture that tests no pipeline is a FAIL. A fixture had to describe
// every table of the file (no table matches shopdb.customers), so a
// recording of one table could not test a file over several (trial).
func TestFixtureTestsPipelinesOfItsTables(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../examples/testdata/shop/orders_and_customers.json")
	if err != nil {
		t.Fatal(err)
	}
	// only keeps the fixture's tables and changes of table, and the
	// expected rows of pipelines.
	only := func(table string, pipelines ...string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		var tables, changes []any
		for _, x := range m["tables"].([]any) {
			if x.(map[string]any)["table"] == table {
				tables = append(tables, x)
			}
		}
		for _, x := range m["changes"].([]any) {
			if x.(map[string]any)["table"] == table {
				changes = append(changes, x)
			}
		}
		if len(tables) != 1 || len(changes) == 0 {
			t.Fatalf("the shop fixture has no table %s with changes", table)
		}
		expect := map[string]any{}
		for _, p := range pipelines {
			expect[p] = m["expect"].(map[string]any)[p]
		}
		m["tables"], m["changes"], m["expect"] = tables, changes, expect
		return m
	}
	write := func(dir, name string, m map[string]any) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		b, _ := json.MarshalIndent(m, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := t.TempDir()

	// One fixture per table: each tests its table's pipeline, and the two
	// test the file.
	dir := filepath.Join(base, "split")
	write(dir, "orders.json", only("shopdb.orders", "orders_olap"))
	write(dir, "customers.json", only("shopdb.customers", "customers"))
	out := mustEtlqEnv(t, noDemoEnv(), "test", "../../examples/shop.etl", "--fixtures", dir)
	for _, want := range []string{"ok    " + filepath.Join(dir, "customers.json") + "\n  pipeline orders_olap: not tested by fixture customers.json (it has no table shopdb.orders)\n",
		"ok    " + filepath.Join(dir, "orders.json") + "\n  pipeline customers: not tested by fixture orders.json (it has no table shopdb.customers)\n",
		"2 passed, 0 failed\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("etlq test over a fixture per table: output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "tested by no fixture") {
		t.Errorf("a pipeline is said untested:\n%s", out)
	}

	// The orders fixture alone: customers is tested by none. A wrong row
	// of orders_olap still fails it.
	dir = filepath.Join(base, "orders")
	m := only("shopdb.orders", "orders_olap")
	write(dir, "orders.json", m)
	if out := mustEtlqEnv(t, noDemoEnv(), "test", "../../examples/shop.etl", "--fixtures", dir); !strings.HasSuffix(out, "1 passed, 0 failed\npipeline customers: tested by no fixture\n") {
		t.Errorf("etlq test over the orders fixture:\n%s", out)
	}
	m["expect"].(map[string]any)["orders_olap"].([]any)[0].(map[string]any)["amount_cents"] = 1251
	write(dir, "orders.json", m)
	failingTest(t, []string{"pipeline orders_olap: row 1 (id = 1) differs:", "amount_cents: want 1251", "pipeline customers: not tested by fixture orders.json"},
		"../../examples/shop.etl", "--fixtures", dir)

	// Rows expected of a pipeline the fixture does not test are an error.
	m = only("shopdb.orders", "orders_olap")
	m["expect"].(map[string]any)["customers"] = []any{map[string]any{"id": 1}}
	write(dir, "orders.json", m)
	failingTest(t, []string{`expect.customers: this fixture does not test pipeline "customers": it has no table shopdb.customers`, "0 passed, 1 failed"},
		"../../examples/shop.etl", "--fixtures", dir)

	// A fixture of a table no pipeline reads tests nothing: a FAIL.
	m = only("shopdb.orders")
	m["tables"].([]any)[0].(map[string]any)["table"] = "shopdb.refunds"
	for _, c := range m["changes"].([]any) {
		c.(map[string]any)["table"] = "shopdb.refunds"
	}
	write(dir, "orders.json", m)
	failingTest(t, []string{"FAIL  ", "it tests no pipeline of shop.etl:\n    pipeline orders_olap: it has no table shopdb.orders\n    pipeline customers: it has no table shopdb.customers",
		"0 passed, 1 failed"}, "../../examples/shop.etl", "--fixtures", dir)
}
