package engine_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/exec/engine"
)

// TestSchemaChangeLoggedOnce: a DDL that two pipelines of the table follow
// is logged once ("schema change: pipeline planned again"), naming the
// table, the change and the pipelines — not once per pipeline, and not
// again for the batches that follow it; a second DDL is a second line.
func TestSchemaChangeLoggedOnce(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE up
  FROM binlog shop.shopdb.orders
  INTO clickhouse dw.analytics.orders MODE upsert KEY (id);
CREATE PIPELINE log
  FROM binlog shop.shopdb.orders
  INTO clickhouse dw.analytics.orders_log MODE append;
`)
	added := append(ordersSchema(t, connectors.TableRef{}).Fields, field(t, "note", "varchar(10)", true, 0))
	added[3].Metadata = arrow.NewMetadata(append(append([]string(nil), added[3].Metadata.Keys()...), exec.MetaAddedByDDL),
		append(append([]string(nil), added[3].Metadata.Values()...), "true"))
	dropped := []arrow.Field{added[0], added[2], added[3]} // status dropped
	e.src.add("orders", ins(1, "a", 1)).
		addWith("orders", added).
		addWith("orders", added, change{op: exec.OpInsert, after: []any{int64(2), "b", 1, "hi"}}).
		addWith("orders", added, change{op: exec.OpInsert, after: []any{int64(3), "c", 1, "ho"}}).
		addWith("orders", dropped).
		addWith("orders", dropped, change{op: exec.OpInsert, after: []any{int64(4), 1, "hu"}})
	var buf bytes.Buffer // (slog's handler writes one record at a time)
	opts := e.opts(true)
	opts.Log = slog.New(slog.NewTextHandler(&buf, nil))
	if err := engine.Run(context.Background(), e.plan, opts); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, "planned again") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("%d log lines for 2 DDLs, want one each:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for i, want := range []string{`change="added note varchar(10)"`, `change="dropped status"`} {
		for _, w := range []string{"table=shopdb.orders", want, `pipelines="log, up"`} {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d does not say %s:\n%s", i+1, w, lines[i])
			}
		}
	}
}
