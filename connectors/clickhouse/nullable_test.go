package clickhouse

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/exec"
)

// TestNullInNotNullColumn: a NULL that reaches a column etlq planned NOT
// NULL (and so created without Nullable) is never written as the type's
// default: the insert fails with a row error naming the row (source
// position, operation, key) and the column, out_of_range = 'null'
// notwithstanding, and CheckRows (on_error = 'skip' / 'dead_letter') names
// each such row, so that the runtime leaves them out instead. A table
// whose column an earlier version created Nullable takes the NOT NULL
// column as it is (no ALTER) and its NULLs as NULL.
func TestNullInNotNullColumn(t *testing.T) {
	e := newEnv(t, nil)
	fields := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String},
	}
	s := sinktest.SinkSchema(fields, false)
	rows := [][]any{
		sysRow(1, false, "insert", int64(1), int64(10), "a"),
		sysRow(2, false, "insert", int64(2), nil, "b"),
		sysRow(3, false, "update", int64(3), int64(30), nil),
	}
	w := e.open(e.target("nn", connectors.ModeUpsert, []string{"id"}, s, map[string]any{"out_of_range": "null"}))
	for _, c := range e.query("SELECT name, type FROM system.columns WHERE database = '" + e.db + "' AND table = 'nn' AND name IN ('v', 's') ORDER BY name") {
		if strings.HasPrefix(c[1].(string), "Nullable") {
			t.Errorf("column %v created %v for a NOT NULL field", c[0], c[1])
		}
	}
	b := e.build(s, rows...)
	rc, ok := w.(connectors.RowChecker)
	if !ok {
		t.Fatal("the writer is no RowChecker")
	}
	var got []string
	for _, re := range rc.CheckRows(b) {
		got = append(got, re.Error())
	}
	want := []string{
		`row of src.t at binlog.000001:2 (insert, id = 2): column "v": NULL but ClickHouse column is Int64`,
		`row of src.t at binlog.000001:3 (update, id = 3): column "s": NULL but ClickHouse column is String`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("CheckRows:\n got %q\nwant %q", got, want)
	}
	write(t, w, b, nil)
	err := w.Flush(context.Background())
	var re exec.RowError
	if err == nil || !strings.Contains(err.Error(), want[0]) || !errors.As(err, &re) || re.Row != 1 || re.Column != "v" {
		t.Errorf("insert of a NULL into a NOT NULL column: got %v (row error %+v), want %q", err, re, want[0])
	}
	if got := e.text("SELECT count() FROM " + quote(e.db) + ".nn"); got != "0\n" {
		t.Errorf("rows written: %s", got)
	}

	// A table created with Nullable(Int64), Nullable(String) by an
	// earlier version: no error, no ALTER, NULL stays NULL.
	e.exec("CREATE TABLE " + quote(e.db) + ".old (id Int64, v Nullable(Int64), s Nullable(String), _version UInt64, _is_deleted UInt8) ENGINE = ReplacingMergeTree(_version) ORDER BY id")
	w2 := e.open(e.target("old", connectors.ModeUpsert, []string{"id"}, s, nil))
	b2 := e.build(s, rows...)
	if bad := w2.(connectors.RowChecker).CheckRows(b2); len(bad) != 0 {
		t.Errorf("CheckRows into Nullable columns: %v", bad)
	}
	write(t, w2, b2, nil)
	flush(t, w2)
	if got, want := e.text("SELECT id, v, s FROM "+quote(e.db)+".old ORDER BY id"), "1\t10\ta\n2\tNULL\tb\n3\t30\tNULL\n"; got != want {
		t.Errorf("rows in the Nullable table:\n got %q\nwant %q", got, want)
	}
	if got, want := e.text("SELECT name, type FROM system.columns WHERE database = '"+e.db+"' AND table = 'old' AND name IN ('v', 's') ORDER BY name"), "s\tNullable(String)\nv\tNullable(Int64)\n"; got != want {
		t.Errorf("the Nullable table's columns changed:\n got %q\nwant %q", got, want)
	}
}
