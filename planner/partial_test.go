package planner_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

// TestPartialPlanLeavesOutPipelines: with Options.Partial (etlq test over
// a fixture that describes some of the file's tables), a pipeline whose
// FROM table — one of a list, or a pattern — matches no table of the
// catalog is left out of the plan and named with those tables, the
// others planned in full; an error of its own that needs no table is
// still reported. Without Partial the same file is refused at the
// table.
func TestPartialPlanLeavesOutPipelines(t *testing.T) {
	src := header + `CREATE PIPELINE orders FROM binlog shop.shopdb.orders TRANSFORM id, amount INTO stdout;
CREATE PIPELINE customers FROM binlog shop.shopdb.customers TRANSFORM id INTO stdout;
CREATE PIPELINE both_ FROM binlog shop.shopdb.orders, shop.shopdb.refunds INTO stdout;
CREATE PIPELINE logs FROM binlog shop.logdb.log_* INTO stdout;
CREATE PIPELINE all_shop FROM binlog shop.shopdb.* TRANSFORM * INTO stdout;
`
	f, err := lang.ParseFile("test.etl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := planner.Build(context.Background(), f, planner.Options{Catalog: shop}); err == nil || !strings.Contains(err.Error(), "no table matches shopdb.customers") {
		t.Fatalf("without Partial: %v", err)
	}
	p, err := planner.Build(context.Background(), f, planner.Options{Catalog: shop, Partial: true})
	if err != nil {
		t.Fatal(err)
	}
	var planned []string
	for _, pl := range p.Pipelines {
		planned = append(planned, pl.Name)
	}
	if got := strings.Join(planned, ","); got != "orders,all_shop" {
		t.Errorf("planned %s, want orders,all_shop", got)
	}
	if got, want := fmt.Sprint(p.LeftOut), "[{customers [shopdb.customers]} {both_ [shopdb.refunds]} {logs [logdb.log_*]}]"; got != want {
		t.Errorf("left out %s, want %s", got, want)
	}

	// An error that needs no table is still one.
	f, err = lang.ParseFile("test.etl", []byte(header+`CREATE PIPELINE customers FROM binlog shop.shopdb.customers INTO stdout WITH (batch_rowz = 1);
CREATE PIPELINE orders FROM binlog shop.shopdb.orders INTO stdout;
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := planner.Build(context.Background(), f, planner.Options{Catalog: shop, Partial: true}); err == nil || !strings.Contains(err.Error(), "batch_rowz") {
		t.Fatalf("an unknown option of a pipeline left out: %v", err)
	}
}
