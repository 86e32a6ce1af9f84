package planner_test

import (
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// TestStreamTargetsRefuseUpsert: stdout, file and http pass each change
// on and keep no state per key; MODE upsert there is an error at the MODE,
// never a silent append. MODE changelog is planned with the changelog
// columns (_before_ values of the outputs computed from the row).
func TestStreamTargetsRefuseUpsert(t *testing.T) {
	for src, want := range map[string]string{
		`CREATE PIPELINE p FROM binlog shopdb.orders INTO stdout MODE upsert;`:                              "test.etl:3:62: INTO stdout cannot take MODE upsert",
		`CREATE PIPELINE p FROM binlog shopdb.orders INTO http 'https://h.example/x' MODE upsert KEY (id);`: "test.etl:3:82: INTO http cannot take MODE upsert",
	} {
		_, err := build(t, header+src+"\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s\nwant %q, got %v", src, want, err)
		}
	}
	if _, err := build(t, header+"CREATE PIPELINE p FROM binlog shopdb.orders INTO stdout MODE append;\n"); err != nil {
		t.Errorf("MODE append into stdout: %v", err)
	}
	for _, into := range []string{"stdout", "file 'o.jsonl'", "file 'o.parquet'", "http 'https://h.example/x'"} {
		plan, err := build(t, header+"CREATE PIPELINE p FROM binlog shopdb.orders TRANSFORM id, upper(status) AS status INTO "+into+" MODE changelog;\n")
		if err != nil {
			t.Errorf("MODE changelog into %s: %v", into, err)
			continue
		}
		pl := plan.Pipelines[0]
		if pl.Target.Mode != connectors.ModeChangelog {
			t.Errorf("MODE changelog into %s planned as mode %v", into, pl.Target.Mode)
		}
		for _, tp := range pl.Tables {
			if _, ok := tp.Sink.FieldsByName(exec.SysBeforePrefix + "status"); !ok {
				t.Errorf("MODE changelog into %s: sink schema has no %sstatus: %v", into, exec.SysBeforePrefix, tp.Sink)
			}
		}
	}
}

// TestFileTargetNeedsAKnownFormat: a file whose extension says no format
// needs FORMAT, instead of being written as jsonl without a word.
func TestFileTargetNeedsAKnownFormat(t *testing.T) {
	for src, want := range map[string]string{
		`CREATE PIPELINE p FROM binlog shopdb.orders INTO file 'out/x.unknown';`: `test.etl:3:55: file "out/x.unknown" ends in .unknown, which says no format: add FORMAT (`,
		`CREATE PIPELINE p FROM binlog shopdb.orders INTO file 'out/x';`:         `test.etl:3:55: file "out/x" has no extension`,
	} {
		_, err := build(t, header+src+"\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s\nwant %q, got %v", src, want, err)
		}
	}
	for _, src := range []string{
		`CREATE PIPELINE p FROM binlog shopdb.orders INTO file 'out/x.unknown' FORMAT csv;`,
		`CREATE PIPELINE p FROM binlog shopdb.orders INTO file 'out/x.JSONL';`,
		`CREATE PIPELINE p FROM binlog shopdb.orders INTO file 'out/x.csv';`,
		`CREATE PIPELINE p FROM binlog shopdb.orders INTO file 'out/x.parquet';`,
	} {
		if _, err := build(t, header+src+"\n"); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

// TestFunctionBodyErrorPointsIntoTheBody: an expr-lang error in a function
// body has its caret at the spot in the body (a doubled quote counted as one
// quote of the body, non-ASCII letters as one column).
func TestFunctionBodyErrorPointsIntoTheBody(t *testing.T) {
	src := "CREATE FUNCTION tier(amount DECIMAL(12,2)) RETURNS STRING\n  AS EXPR 'amount > 1 ? \"gold\" : ''é'' + amout';\n"
	_, err := build(t, header+src)
	if err == nil || !strings.Contains(err.Error(), `test.etl:4:42: function "tier": unknown name amout`) {
		t.Fatalf("want the error at amout, got %v", err)
	}
}

// TestIntoDeclaredSink: a file, http or stdout sink declared with CREATE
// SINK is named in INTO: its DSN is the file sink's base directory (the
// target a path under it) or the http sink's URL (a target string
// replaces it), its WITH options apply. Declared, it could not be used at
// all: `INTO out 'x.jsonl'` was "unknown sink kind" and `INTO file 'x'`
// made a sink of its own (new-user trial, after docs/connectors.md: "A
// CREATE SINK of this kind may give a base directory as its target").
func TestIntoDeclaredSink(t *testing.T) {
	src := header + `CREATE SINK out INTO file '/var/lib/etlq/out';
CREATE SINK hook INTO http 'https://hooks.example.com/x' WITH (timeout = '3s');
CREATE PIPELINE pf FROM binlog shopdb.orders INTO out 'orders.jsonl';
CREATE PIPELINE ph FROM binlog shopdb.orders INTO hook FORMAT canal_json;
CREATE PIPELINE pc FROM binlog shopdb.orders INTO out 'orders.parquet';
`
	plan, err := build(t, src)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][3]string{
		"pf": {"file", "out", "orders.jsonl"},
		"ph": {"http", "hook", ""},
		"pc": {"file", "out", "orders.parquet"},
	}
	for _, pl := range plan.Pipelines {
		w := want[pl.Name]
		if pl.SinkKind != w[0] || pl.Sink != w[1] || pl.Target.Name != w[2] {
			t.Errorf("%s: kind %q, sink %q, target %q; want %q", pl.Name, pl.SinkKind, pl.Sink, pl.Target.Name, w)
		}
	}
	for src, want := range map[string]string{
		`CREATE SINK out INTO file '/tmp/o'; CREATE PIPELINE p FROM binlog shopdb.orders INTO out;`:             `INTO out needs a target: INTO out '…'`,
		`CREATE SINK out INTO file '/tmp/o'; CREATE PIPELINE p FROM binlog shopdb.orders INTO out 'x.unknown';`: `ends in .unknown, which says no format`,
		`CREATE PIPELINE p FROM binlog shopdb.orders INTO dw 'x';`:                                              `sink dw is a clickhouse sink: INTO clickhouse dw.database.table`,
		`CREATE PIPELINE p FROM binlog shopdb.orders INTO nosuch 'x';`:                                          `unknown sink kind "nosuch": INTO takes clickhouse, file, http or stdout, or a sink the file declares (dw)`,
		// no near name: what INTO takes, the file's own sinks included
		`CREATE SINK exports INTO file '/tmp/o'; CREATE PIPELINE p FROM binlog shopdb.orders INTO kafka 'x';`: `unknown sink kind "kafka": INTO takes clickhouse, file, http or stdout, or a sink the file declares (dw, exports)`,
		// a typo of a declared sink's name names it (it named no candidate)
		`CREATE SINK exports INTO file '/tmp/o'; CREATE PIPELINE p FROM binlog shopdb.orders INTO exprts 'x.jsonl';`: `unknown sink kind "exprts" (did you mean "exports"?)`,
	} {
		_, err := build(t, header+src+"\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s\nwant %q, got %v", src, want, err)
		}
	}
}
