package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFixtureClickHouseValueChecks: `etlq test` makes the checks apply's
// ClickHouse writer makes on the values, with no server: a zero date, or a
// date outside the range of the target's Date type, goes to the dead
// letters with apply's reason (on_error = 'dead_letter'), is written as
// NULL (out_of_range = 'null' into a Nullable column), or stops the
// pipeline with apply's error naming the row (on_error = 'fail'); the
// fixture's clickhouse_version chooses the server's types (18.16: Date,
// 1970-01-01..2105-12-31). These fixtures used to pass with the values
// written as they came.
func TestFixtureClickHouseValueChecks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	etl := filepath.Join(dir, "p.etl")
	if err := os.WriteFile(etl, []byte(`CREATE SOURCE shop FROM mysql '${ETLQ_DEMO_MYSQL_DSN}';
CREATE SINK dw INTO clickhouse '${ETLQ_DEMO_CLICKHOUSE_DSN}';
CREATE PIPELINE dead FROM binlog shop.shopdb.t TRANSFORM id, d
  INTO clickhouse dw.a.dead MODE upsert KEY (id) WITH (on_error = 'dead_letter');
CREATE PIPELINE nulled FROM binlog shop.shopdb.t TRANSFORM id, n
  INTO clickhouse dw.a.nulled MODE append WITH (out_of_range = 'null');
CREATE PIPELINE failing FROM binlog shop.shopdb.t TRANSFORM id, d
  INTO clickhouse dw.a.failing MODE upsert KEY (id);
`), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) string {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "case.json"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	const tables = `"tables": [{"table": "shopdb.t", "columns": [
  {"name": "id", "type": "int(11)", "key": 1}, {"name": "d", "type": "date"}, {"name": "n", "type": "datetime", "nullable": true}]}]`
	const changes = `"changes": [
  {"table": "shopdb.t", "op": "insert", "after": {"id": 1, "d": "2024-03-01", "n": "2024-03-01 10:00:00"}},
  {"table": "shopdb.t", "op": "insert", "after": {"id": 2, "d": "0000-00-00", "n": "0000-00-00 00:00:00"}},
  {"table": "shopdb.t", "op": "insert", "after": {"id": 3, "d": "1955-03-01", "n": "1955-03-01 00:00:00"}}]`
	zeroDate := "date 0000-00-00 or another invalid date is outside the range of ClickHouse Date32 (1900-01-01..2299-12-31)"

	// What apply does on the newest server: the zero date refused, 1955
	// kept; the three changes are one batch (one transaction), whose
	// insert fails as a whole under on_error = 'fail'.
	ok := write("newest", `{`+tables+`, `+changes+`,
  "expect": {
    "dead": [{"id": 1, "d": "2024-03-01"}, {"id": 3, "d": "1955-03-01"}],
    "nulled": [{"id": 1, "n": "2024-03-01 10:00:00"}, {"id": 2, "n": null}, {"id": 3, "n": "1955-03-01 00:00:00"}],
    "failing": []},
  "dead_letters": {"dead": [{"reason": "`+zeroDate+`", "row": {"id": 2}}]},
  "expect_error": "column \"d\" = '0000-00-00': `+zeroDate+`"}
`)
	out, err := etlqEnv(noDemoEnv(), "test", etl, "--fixtures", ok)
	if err != nil || !strings.Contains(out, "1 passed, 0 failed") {
		t.Fatalf("etlq test: %v\n%s", err, out)
	}

	// The values written as they came — what etlq test used to accept —
	// fail now, each with the difference.
	asCame := write("as_came", `{`+tables+`, `+changes+`,
  "expect": {
    "dead": [{"id": 1, "d": "2024-03-01"}, {"id": 2, "d": "0000-00-00"}, {"id": 3, "d": "1955-03-01"}],
    "nulled": [{"id": 1, "n": "2024-03-01 10:00:00"}, {"id": 2, "n": "0000-00-00 00:00:00"}, {"id": 3, "n": "1955-03-01 00:00:00"}],
    "failing": [{"id": 1, "d": "2024-03-01"}, {"id": 2, "d": "0000-00-00"}, {"id": 3, "d": "1955-03-01"}]}}
`)
	failingTest(t, []string{"FAIL", "the run failed: ", "pipeline failing", zeroDate, "(rows not compared)"}, etl, "--fixtures", asCame)

	// ClickHouse 18.16: Date, from 1970-01-01; DateTime64 is not there
	// (timestamps are Int64 numbers, never out of range).
	old := "date 1955-03-01 is outside the range of ClickHouse Date (1970-01-01..2105-12-31)"
	v18 := write("v18", `{"clickhouse_version": "18.16", `+tables+`, `+changes+`,
  "expect": {
    "dead": [{"id": 1, "d": "2024-03-01"}],
    "nulled": [{"id": 1, "n": "2024-03-01 10:00:00"}, {"id": 2, "n": "0000-00-00 00:00:00"}, {"id": 3, "n": "1955-03-01 00:00:00"}],
    "failing": []},
  "dead_letters": {"dead": [{"reason": "date 0000-00-00 or another invalid date is outside the range of ClickHouse Date (1970-01-01..2105-12-31)", "row": {"id": 2}},
    {"reason": "`+old+`", "row": {"id": 3}}]},
  "expect_error": "0000-00-00"}
`)
	out, err = etlqEnv(noDemoEnv(), "test", etl, "--fixtures", v18)
	if err != nil || !strings.Contains(out, "1 passed, 0 failed") {
		t.Fatalf("etlq test (clickhouse_version 18.16): %v\n%s", err, out)
	}

	// A version that is none: said at its place, before anything runs.
	bad := write("bad", `{"clickhouse_version": "latest", `+tables+`, `+changes+`, "expect": {}}`)
	out, err = etlqEnv(noDemoEnv(), "test", etl, "--fixtures", bad)
	if err == nil || !strings.Contains(out, "case.json:1:24: clickhouse_version: cannot parse clickhouse version \"latest\"") {
		t.Errorf("clickhouse_version = latest: %v\n%s", err, out)
	}
}
