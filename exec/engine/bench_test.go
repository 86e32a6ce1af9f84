package engine_test

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/exec/engine"
	"github.com/etlq/etlq/planner"
)

// BenchmarkRunUpsert runs batches of 1,000 changes (inserts, updates, one
// in ten moving its key, deletes, rows WHERE rejects) through the runtime
// into an upsert target that drops them: the cost of routing, the program
// and the change operators per source row.
func BenchmarkRunUpsert(b *testing.B) {
	const batches, rows = 20, 1000
	p := plan(b, newCatalog(b, "orders"), upsertPipeline)
	src := newSource(memory.DefaultAllocator)
	for k := range batches {
		var cs []change
		for i := range rows {
			id := int64(k*rows + i)
			switch i % 10 {
			case 0:
				cs = append(cs, upd(id, "paid", i, id+1)) // key moved
			case 1, 2:
				cs = append(cs, upd(id, "paid", i, id))
			case 3:
				cs = append(cs, del(id, "new", i))
			case 4:
				cs = append(cs, ins(id, "cancelled", i))
			default:
				cs = append(cs, ins(id, "new", i))
			}
		}
		src.add("orders", cs...)
	}
	runBench(b, p, src, batches*rows)
}

// BenchmarkRunUpsertDeletes runs batches of 10,000 deletes (one DELETE of
// many rows) through `TRANSFORM *` into an upsert target that drops them:
// the tombstones' cost per source row, where every column passes on as
// it is.
func BenchmarkRunUpsertDeletes(b *testing.B) {
	const batches, rows = 20, 10000
	p := plan(b, newCatalog(b, "orders"), `CREATE PIPELINE orders FROM binlog shop.shopdb.orders
  TRANSFORM * INTO clickhouse dw.analytics.orders MODE upsert KEY (id);`)
	src := newSource(memory.DefaultAllocator)
	for k := range batches {
		cs := make([]change, 0, rows)
		for i := range rows {
			cs = append(cs, del(int64(k*rows+i), "paid", i))
		}
		src.add("orders", cs...)
	}
	runBench(b, p, src, batches*rows)
}

// runBench runs p over src's script into an upsert target that drops its
// rows, b.N times, and reports the time per source row (of rows a run).
// The source batches are made once: the runs measure the runtime only.
func runBench(b *testing.B, p *planner.Plan, src *source, rows int) {
	for k, it := range src.script {
		batch := it.b(memory.DefaultAllocator)
		src.script[k].b = func(memory.Allocator) *exec.Batch {
			cp := *batch
			cp.Record.Retain()
			return &cp
		}
	}
	snk := newSink()
	snk.discard = true
	b.ResetTimer()
	for range b.N {
		dir := b.TempDir()
		err := engine.Run(context.Background(), p, engine.Options{StateDir: dir, Once: true,
			Sources: map[string]connectors.Source{"shop": src}, Sinks: map[string]connectors.Sink{"dw": snk}})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}
