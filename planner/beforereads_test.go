package planner_test

import (
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors"
)

// TestBeforeReads pins which before values of an update each kind of
// pipeline reads: an upsert only its key's (and what its WHERE and
// outputs read as before.x or changed(x)); a changelog the before values
// it keeps; canal_json and debezium_json the whole images their outputs
// read. The source decodes only these (connectors.BeforeCols).
func TestBeforeReads(t *testing.T) {
	cases := []struct{ name, pipeline, want string }{
		{"upsert star", `FROM binlog shop.shopdb.orders TRANSFORM * INTO clickhouse dw.a.o MODE upsert KEY (id)`, "id"},
		{"upsert computed key", `FROM binlog shop.shopdb.orders TRANSFORM concat(coalesce(customer, ''), '-', id) AS k, amount INTO clickhouse dw.a.o MODE upsert KEY (k)`, "customer,id"},
		{"upsert changed", `FROM binlog shop.shopdb.orders TRANSFORM id, status, changed(status) AS moved INTO clickhouse dw.a.o MODE upsert KEY (id)`, "status,id"},
		{"append where changed", `FROM binlog shop.shopdb.orders WHERE changed(status) TRANSFORM id INTO clickhouse dw.a.o MODE append`, "status"},
		{"upsert before output", `FROM binlog shop.shopdb.orders TRANSFORM id, before.amount AS old_amount INTO clickhouse dw.a.o MODE upsert KEY (id)`, "amount,id"},
		{"append", `FROM binlog shop.shopdb.orders TRANSFORM id, status INTO clickhouse dw.a.o MODE append`, ""},
		{"changelog", `FROM binlog shop.shopdb.orders TRANSFORM id, status, amount * 2 AS twice INTO clickhouse dw.a.o MODE changelog`, "id,status,amount"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := build(t, header+"CREATE PIPELINE p "+c.pipeline+";\n")
			if err != nil {
				t.Fatal(err)
			}
			tp := p.Pipelines[0].Tables[0]
			if got := strings.Join(tp.BeforeReads(), ","); got != c.want {
				t.Errorf("BeforeReads = %q, want %q", got, c.want)
			}
			// An upsert's outputs over the before image read the key's
			// before values and the other outputs' new ones.
			if p.Pipelines[0].Target.Mode == connectors.ModeUpsert {
				for i, e := range tp.BeforeOutputs {
					key := false
					for _, k := range tp.KeyIndex {
						key = key || k == i
					}
					if !key && e != tp.Outputs[i] {
						t.Errorf("output %d over the before image is %v, want the output %v", i, e, tp.Outputs[i])
					}
				}
			}
		})
	}
}
