package engine

import (
	"github.com/apache/arrow-go/v18/arrow"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/planner"
	"github.com/etlq/etlq/stdlib"
)

// TestResnapshotTargetFilter: a resnapshot's WHERE on the source's columns
// becomes the same condition on the target's columns (renamed as the
// TRANSFORM renames them); a column the target does not hold as it is,
// and anything but one condition, is refused.
func TestResnapshotTargetFilter(t *testing.T) {
	i64 := stdlib.Type{Kind: stdlib.Int64}
	str := stdlib.Type{Kind: stdlib.String}
	upper, err := exec.Call("upper", []exec.Expr{exec.Col(1, "status", str)})
	if err != nil {
		t.Fatal(err)
	}
	tp := &planner.TablePlan{
		Ref: connectors.TableRef{DB: "shop", Table: "orders"},
		Outputs: []exec.Expr{
			exec.Col(0, "id", i64),
			exec.Col(1, "status", str),
			upper,
		},
		Output:   []planner.Column{{Name: "order_id"}, {Name: "status"}, {Name: "big"}},
		KeyIndex: []int{0},
	}
	p := &planner.Pipeline{Name: "p", Tables: []*planner.TablePlan{tp}, Target: connectors.Target{Mode: connectors.ModeUpsert}}
	for where, want := range map[string]string{
		"":                                  "",
		"id BETWEEN 1 AND 1000":             "`order_id` BETWEEN 1 AND 1000",
		"ID in (1, 2) AND status <> 'x''y'": "`order_id` IN (1,2) AND `status`!='x''y'",
		"orders.id > 5 OR status IS NULL":   "`order_id`>5 OR `status` IS NULL",
	} {
		got, err := CheckResnapshot(p, &ResnapshotRequest{Table: "shop.orders", Where: where})
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", where, got, err, want)
		}
	}
	for where, want := range map[string]string{
		"big > 1 AND id > 0":   "column big is not passed to the target",
		"id > 1; DROP TABLE x": "not one SQL condition",
		"id IN (SELECT 1)":     "subquery",
		"id >":                 "not an SQL condition",
	} {
		if _, err := CheckResnapshot(p, &ResnapshotRequest{Table: "shop.orders", Where: where}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error saying %q", where, err, want)
		}
	}
	if _, err := CheckResnapshot(p, &ResnapshotRequest{Table: "shop.other"}); err == nil || !strings.Contains(err.Error(), "does not read table") {
		t.Errorf("another table: %v", err)
	}
}

// TestResnapshotWhereErrors: a --where that does not parse, or names a
// column the source table does not have, is reported at its place in the
// condition with a caret, for every mode.
func TestResnapshotWhereErrors(t *testing.T) {
	i64 := stdlib.Type{Kind: stdlib.Int64}
	tp := &planner.TablePlan{
		Ref: connectors.TableRef{DB: "shop", Table: "orders"},
		Input: arrow.NewSchema([]arrow.Field{
			{Name: "id", Type: arrow.PrimitiveTypes.Int64},
			{Name: "status", Type: arrow.BinaryTypes.String},
		}, nil),
		Outputs:  []exec.Expr{exec.Col(0, "id", i64)},
		Output:   []planner.Column{{Name: "id"}},
		KeyIndex: []int{0},
	}
	for _, mode := range []connectors.Mode{connectors.ModeUpsert, connectors.ModeAppend} {
		p := &planner.Pipeline{Name: "p", Tables: []*planner.TablePlan{tp}, Target: connectors.Target{Mode: mode}}
		for where, want := range map[string]string{
			"id BETWEN 1 AND 3": "--where \"id BETWEN 1 AND 3\", column 4: syntax error: not an SQL condition\n" +
				"  id BETWEN 1 AND 3\n" +
				"     ^",
			"id >": "--where \"id >\", column 5: unexpected end of the condition: not an SQL condition\n" +
				"  id >\n" +
				"      ^",
			"id = 1 AND 'stats' = stats": "--where \"id = 1 AND 'stats' = stats\", column 22: unknown column \"stats\" in shop.orders (did you mean \"status\"?)\n" +
				"  id = 1 AND 'stats' = stats\n" +
				"                       ^~~~~",
		} {
			_, err := CheckResnapshot(p, &ResnapshotRequest{Table: "shop.orders", Where: where})
			if err == nil || err.Error() != want {
				t.Errorf("%v %q:\n got %v\nwant %s", mode, where, err, want)
			}
		}
	}
}
