package clickhouse

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
)

// TestSplitTargetName: back-quoted parts of a target name may hold dots
// and doubled back quotes.
func TestSplitTargetName(t *testing.T) {
	s := &Sink{database: "def"}
	for name, want := range map[string]string{
		"db.t":                 "db|t",
		"t":                    "def|t",
		"`dw7.x`.`t.33`":       "dw7.x|t.33",
		"db.`a``b`":            "db|a`b",
		"`a``.b`.c":            "a`.b|c",
		"db.`t(1)`":            "",
		"a.b.c":                "",
		"`unterminated.t":      "",
		"`a`b.c":               "",
		"db.":                  "",
		"`d`.`t`.`x`":          "",
		"`with space`.`ünï t`": "with space|ünï t",
	} {
		db, table, err := s.splitName(name)
		got := db + "|" + table
		if err != nil {
			got = ""
		}
		if got != want {
			t.Errorf("splitName(%q) = %q (%v), want %q", name, got, err, want)
		}
	}
}

// TestRangeProblemFollowsOutOfRange: with out_of_range = 'null' the DATE
// range warning says such values become NULL, not that the insert fails
// (a NOT NULL column still fails).
func TestRangeProblemFollowsOutOfRange(t *testing.T) {
	l, err := buildLayout("shop", "orders", connectors.ModeUpsert, []string{"id"}, testSchema(), v1816, targetOptions{outOfRange: "null"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.problems) != 2 || !strings.Contains(l.problems[1].Msg, `column "day": DATE values outside 1970-01-01..2105-12-31`) ||
		!strings.Contains(l.problems[1].Msg, "such a value is written as NULL (out_of_range = 'null')") || strings.Contains(l.problems[1].Msg, "fails the insert") {
		t.Errorf("problems: %+v", l.problems)
	}
}

// TestRangeProblemOfNotNullColumn: out_of_range = 'null' writes NULL only
// into a Nullable column. For a NOT NULL DATE column (a zero date
// '0000-00-00' under a lenient sql_mode, DEFAULT '0000-00-00') check's
// warning kept advising "(out_of_range = 'null' writes NULL instead)" with
// that option already in the file, and the insert still failed (the
// live-tables trial). It now says the option does not apply to the column
// and what does.
func TestRangeProblemOfNotNullColumn(t *testing.T) {
	user := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Uint64},
		{Name: "shipped_on", Type: arrow.FixedWidthTypes.Date32},
	}
	for _, opt := range []string{"null", "fail"} {
		l, err := buildLayout("shop", "orders", connectors.ModeUpsert, []string{"id"}, arrow.NewSchema(sysFields(user...), nil), v1816, targetOptions{outOfRange: opt})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.problems) != 1 {
			t.Fatalf("out_of_range = '%s': problems %+v", opt, l.problems)
		}
		msg := l.problems[0].Msg
		if !strings.Contains(msg, `column "shipped_on": DATE values outside 1970-01-01..2105-12-31`) || !strings.Contains(msg, "a row holding one fails the insert") ||
			strings.Contains(msg, "out_of_range = 'null' writes NULL instead") ||
			!strings.Contains(msg, "the column is NOT NULL, so out_of_range = 'null' cannot write NULL there") ||
			!strings.Contains(msg, "CAST(shipped_on AS STRING)") {
			t.Errorf("out_of_range = '%s': %s", opt, msg)
		}
	}
}

// TestUpsertIntoMergeTreeNamesColumns: an existing MergeTree refused for an
// upsert is reported with its mismatched column types too.
func TestUpsertIntoMergeTreeNamesColumns(t *testing.T) {
	e := newEnv(t, nil)
	e.exec("CREATE DATABASE " + quote(e.db))
	e.exec("CREATE TABLE " + quote(e.db) + ".orders (id String, name Nullable(String), _version UInt64, _is_deleted UInt8) ENGINE = MergeTree ORDER BY id")
	s := sinktest.SinkSchema(orderFields()[:2], false)
	_, _, err := e.sink.Plan(context.Background(), e.target("orders", connectors.ModeUpsert, []string{"id"}, s, nil))
	if err == nil || !strings.Contains(err.Error(), "is MergeTree: upsert needs a ReplacingMergeTree") || !strings.Contains(err.Error(), `column "id" is String, etlq writes`) {
		t.Errorf("want the engine and the column named, got %v", err)
	}
}
