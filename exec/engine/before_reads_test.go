package engine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec/engine"
)

// TestStreamRequestBeforeReads: the stream is asked for the before values
// its pipelines read (connectors.BeforeCols), per table and per pattern,
// the union over the pipelines reading each; every one where a pipeline
// writes dead letters (a letter holds the whole before image) or shows old
// values (a changelog: of columns a DDL may add), and in what `etlq
// capture` asks for a log.
func TestStreamRequestBeforeReads(t *testing.T) {
	show := func(b connectors.BeforeCols) string {
		if !b.Some {
			return "all"
		}
		return "[" + strings.Join(b.Cols, ",") + "]"
	}
	const upsert = `CREATE PIPELINE up
  FROM binlog shop.shopdb.orders
  TRANSFORM id, status, qty
  INTO clickhouse dw.a.up MODE upsert KEY (id);
`
	const paid = `CREATE PIPELINE paid
  FROM binlog shop.shopdb.orders
  WHERE changed(status)
  TRANSFORM id
  INTO clickhouse dw.a.paid MODE append;
`
	const pattern = `CREATE PIPELINE pat
  FROM binlog shop.shopdb.orders_*
  TRANSFORM _table, id, qty
  INTO clickhouse dw.a.pat MODE upsert KEY (_table, id);
`
	const letters = `CREATE PIPELINE dl
  FROM binlog shop.shopdb.orders
  TRANSFORM id, status
  INTO clickhouse dw.a.dl MODE upsert KEY (id)
  WITH (on_error = 'dead_letter');
`
	const changelog = `CREATE PIPELINE audit
  FROM binlog shop.shopdb.orders
  TRANSFORM *
  INTO clickhouse dw.a.audit MODE changelog;
`
	cases := []struct{ name, file, want string }{
		{"upsert", upsert, "shopdb.orders [id]"},
		{"upsert and changed", upsert + paid, "shopdb.orders [id,status]"},
		{"pattern", pattern, "shopdb.orders_* [id]; shopdb.orders_2024 [id]"},
		{"dead letters", upsert + letters, "shopdb.orders all"},
		{"changelog", upsert + changelog, "shopdb.orders all"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, newCatalog(t, "orders", "orders_2024"), c.file)
			if err := e.run(); err != nil {
				t.Fatal(err)
			}
			req := e.src.request(t)
			var got []string
			for _, p := range req.Patterns {
				got = append(got, fmt.Sprintf("%s.%s %s", p.DB, p.Table, show(p.Before)))
			}
			for _, tb := range req.Tables {
				got = append(got, tb.Ref.String()+" "+show(tb.Before))
			}
			if g := strings.Join(got, "; "); g != c.want {
				t.Errorf("before values asked: %s, want %s", g, c.want)
			}
			for _, r := range engine.StreamRequests(e.plan, true) {
				for _, tb := range r.Tables {
					if tb.Before.Some {
						t.Errorf("capture asks for some before values of %s only: %+v", tb.Ref, tb.Before)
					}
				}
				for _, p := range r.Patterns {
					if p.Before.Some {
						t.Errorf("capture asks for some before values of %s.%s only: %+v", p.DB, p.Table, p.Before)
					}
				}
			}
		})
	}
}
