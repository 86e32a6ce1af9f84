package clickhouse

import (
	"context"
	"strings"
	"testing"

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
