package clickhouse

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/exec"
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

// TestRangeProblemOfNotNullColumn: the range warning of a NOT NULL DATE
// column (a zero date '0000-00-00' under a lenient sql_mode, DEFAULT
// '0000-00-00') says what out_of_range does for it: under 'fail' that
// 'null' writes NULL instead (the column is then made Nullable), under
// 'null' that the value is written as NULL. For a DATE key, where 'null'
// is refused, it names CAST(… AS STRING) instead (the live-tables trial:
// check kept advising out_of_range = 'null' where it could not help).
func TestRangeProblemOfNotNullColumn(t *testing.T) {
	user := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Uint64},
		{Name: "shipped_on", Type: arrow.FixedWidthTypes.Date32},
	}
	for _, c := range []struct {
		opt, key, want string
	}{
		{"fail", "id", "a row holding one fails the insert (out_of_range = 'null' writes NULL instead)"},
		{"null", "id", "such a value is written as NULL (out_of_range = 'null')"},
		{"fail", "shipped_on", "the column is part of the key, which cannot hold NULL, so out_of_range = 'null' is no way out (TRANSFORM it as text, CAST(shipped_on AS STRING) AS shipped_on"},
	} {
		l, err := buildLayout("shop", "orders", connectors.ModeUpsert, []string{c.key}, arrow.NewSchema(sysFields(user...), nil), v1816, targetOptions{outOfRange: c.opt})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.problems) != 1 {
			t.Fatalf("out_of_range = '%s', key %s: problems %+v", c.opt, c.key, l.problems)
		}
		msg := l.problems[0].Msg
		if !strings.Contains(msg, `column "shipped_on": DATE values outside 1970-01-01..2105-12-31`) || !strings.Contains(msg, c.want) {
			t.Errorf("out_of_range = '%s', key %s: %s, want %q", c.opt, c.key, msg, c.want)
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

// TestOutOfRangeNullMakesDatesNullable: under out_of_range = 'null' a date
// or timestamp column whose values may fall outside its ClickHouse type's
// range is created Nullable though the planner knows it is never NULL (a
// NOT NULL DATE, date() of a NOT NULL DATETIME), so that such a value can
// be written as NULL as the option says; a MySQL TIMESTAMP (always within
// range) and other types keep NOT NULL, and so does everything under
// 'fail'. A key column of such a type is refused, naming it: a key is
// never NULL.
func TestOutOfRangeNullMakesDatesNullable(t *testing.T) {
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	user := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32},
		{Name: "at", Type: ts},
		{Name: "stamp", Type: ts, Metadata: arrow.NewMetadata([]string{exec.MetaSourceType}, []string{"timestamp"})},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64},
	}
	s := arrow.NewSchema(sysFields(user...), nil)
	for _, tc := range []struct {
		v          serverVersion
		oor, types string
	}{
		{v1816, "null", "id Int64, day Nullable(Date), at Int64, stamp Int64, n Int64"},
		{v2403, "null", "id Int64, day Nullable(Date32), at Nullable(DateTime64(6, 'UTC')), stamp DateTime64(6, 'UTC'), n Int64"},
		{v1816, "fail", "id Int64, day Date, at Int64, stamp Int64, n Int64"},
		{v2403, "fail", "id Int64, day Date32, at DateTime64(6, 'UTC'), stamp DateTime64(6, 'UTC'), n Int64"},
	} {
		l, err := buildLayout("shop", "t", connectors.ModeUpsert, []string{"id"}, s, tc.v, targetOptions{outOfRange: tc.oor})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range l.cols[:l.user] {
			got = append(got, c.name+" "+c.chType())
		}
		if g := strings.Join(got, ", "); g != tc.types {
			t.Errorf("%s out_of_range %s:\n got %s\nwant %s", tc.v, tc.oor, g, tc.types)
		}
		for _, p := range l.problems {
			if tc.oor == "null" && strings.Contains(p.Msg, "fails the insert") {
				t.Errorf("%s out_of_range null: %s", tc.v, p.Msg)
			}
		}
	}
	for _, key := range []string{"day", "at"} {
		_, err := buildLayout("shop", "t", connectors.ModeUpsert, []string{"id", key}, s, v2403, targetOptions{outOfRange: "null"})
		if err == nil || !strings.Contains(err.Error(), `key column "`+key+`": out_of_range = 'null' cannot write a value outside the range of ClickHouse 24.3`) {
			t.Errorf("key %s under out_of_range = 'null': %v", key, err)
		}
		if _, err := buildLayout("shop", "t", connectors.ModeUpsert, []string{"id", key}, s, v2403, targetOptions{outOfRange: "fail"}); err != nil {
			t.Errorf("key %s under out_of_range = 'fail': %v", key, err)
		}
	}
	if _, err := buildLayout("shop", "t", connectors.ModeUpsert, []string{"id", "stamp"}, s, v2403, targetOptions{outOfRange: "null"}); err != nil {
		t.Errorf("a TIMESTAMP key, always within range: %v", err)
	}
}
