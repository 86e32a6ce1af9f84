package engine_test

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// TestRunTablesShareAChain: two tables of one layout under a pattern run
// through one chain (their plans are alike, engine.tableRunFor); their
// batches, interleaved — inserts, an update that moves a key, a delete,
// a row WHERE leaves out — come out as each table's own chain made them,
// and a DDL of one table (a column added) plans that table alone again:
// the other goes on through the chain they shared (the DDL's replan
// closed it, its next batch opens it again).
func TestRunTablesShareAChain(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders", "orders_2024"), `CREATE PIPELINE o
  FROM binlog shop.shopdb.orders*
  WHERE status <> 'cancelled'
  TRANSFORM _table AS tbl, id, status, qty
  INTO clickhouse dw.analytics.o MODE upsert KEY (tbl, id);
`)
	cols := append(ordersSchema(t, connectors.TableRef{}).Fields, field(t, "note", "varchar(10)", true, 0))
	cols[3].Metadata = arrow.MetadataFrom(map[string]string{exec.MetaAddedByDDL: "true"})
	e.src.add("orders", ins(1, "a", 1), ins(2, "b", 2)).
		add("orders_2024", ins(1, "x", 1), upd(3, "y", 1, 1)).
		add("orders", upd(2, "cancelled", 2, 2), del(1, "a", 1)).
		add("orders_2024", ins(4, "z", 4)).
		addWith("orders", cols, change{op: exec.OpInsert, after: []any{int64(5), "c", 5, "hi"}}).
		add("orders_2024", upd(4, "z2", 5, 4), ins(6, "w", 6)).
		addWith("orders", cols, change{op: exec.OpUpdate, after: []any{int64(5), "c2", 5, "ho"}, before: []any{int64(5), "c", 5, "hi"}})
	if err := e.run(); err != nil {
		t.Fatal(err)
	}
	equal(t, "rows", e.snk.rows("o", "tbl", "id", "status", "qty", exec.SysDeleted, exec.SysOp), []string{
		"orders 1 a 1 0 insert",
		"orders 2 b 2 0 insert",
		"orders_2024 1 x 1 0 insert",
		"orders_2024 3 y 1 0 update",
		"orders_2024 1 y 1 1 update",
		"orders 2 cancelled 2 1 update",
		"orders 1 a 1 1 delete",
		"orders_2024 4 z 4 0 insert",
		"orders 5 c 5 0 insert",
		"orders_2024 4 z2 5 0 update",
		"orders_2024 6 w 6 0 insert",
		"orders 5 c2 5 0 update",
	})
	if got := e.checkpoint(); got != `{"pos":7}` {
		t.Errorf("checkpoint %s, want the last batch's mark", got)
	}
}
