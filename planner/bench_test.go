package planner_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

const benchRows = 1_000_000
const benchBatch = 8192 // the mysql source's default batch size

// BenchmarkTransform compiles the pipeline through the real parser and
// planner and runs its program over 1,000,000 in-memory rows laid out as a
// source delivers them (table columns, before.* columns, metadata).
// Compare with BenchmarkTransformExprLang and BenchmarkTransformHandLoop in
// exec/, which run the same logic row by row and by hand.
func BenchmarkTransform(b *testing.B) {
	cat := fixedCatalog{"shop.orders": {
		Ref: connectors.TableRef{DB: "shop", Table: "orders"},
		Fields: []arrow.Field{
			field("id", arrow.PrimitiveTypes.Int64, "bigint(20)"),
			field("amount", arrow.PrimitiveTypes.Float64, "double"),
			field("status", arrow.BinaryTypes.String, "varchar(16)"),
			field("customer", arrow.BinaryTypes.String, "varchar(64)"),
		},
		PrimaryKey: []string{"id"},
	}}
	src := `CREATE SOURCE s FROM mysql 'mysql://u@localhost:3306';
CREATE PIPELINE bench FROM binlog shop.orders
  WHERE amount * 100 > 5000 AND status = 'paid'
  TRANSFORM id, amount * 1.1 AS amount2, upper(customer) AS customer
  INTO stdout;`
	f, err := lang.ParseFile("bench.etl", []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	plan, err := planner.Build(context.Background(), f, planner.Options{Catalog: cat})
	if err != nil {
		b.Fatal(err)
	}
	tp := plan.Pipelines[0].Tables[0]
	mem := memory.NewGoAllocator()
	prog, err := exec.NewProgram(exec.ProgramConfig{Where: tp.Where, Outputs: tp.Outputs, Names: []string{"id", "amount2", "customer"}, Alloc: mem})
	if err != nil {
		b.Fatal(err)
	}
	batches := benchBatches(mem, tp.Input)
	defer func() {
		for _, x := range batches {
			x.Release()
		}
	}()
	ctx := context.Background()
	kept := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		kept = 0
		for _, x := range batches {
			out, k, _, _, err := prog.Run(ctx, x)
			if err != nil {
				b.Fatal(err)
			}
			kept += len(k)
			out.Release()
		}
	}
	b.StopTimer()
	if kept != benchRows/4/2 {
		b.Fatalf("kept %d rows, want %d", kept, benchRows/4/2)
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// benchBatches builds the benchmark rows: id 0..n-1, amount (i%10000)/100,
// status cycling new paid shipped cancelled, customer customer-<i%5000>.
func benchBatches(mem memory.Allocator, schema *arrow.Schema) []*exec.Batch {
	statuses := []string{"new", "paid", "shipped", "cancelled"}
	var out []*exec.Batch
	for start := 0; start < benchRows; start += benchBatch {
		n := min(benchBatch, benchRows-start)
		bld := array.NewRecordBuilder(mem, schema)
		for i := start; i < start+n; i++ {
			bld.Field(0).(*array.Int64Builder).Append(int64(i))
			bld.Field(1).(*array.Float64Builder).Append(float64(i%10000) / 100)
			bld.Field(2).(*array.StringBuilder).Append(statuses[i%4])
			bld.Field(3).(*array.StringBuilder).Append(fmt.Sprintf("customer-%d", i%5000))
			for c := 4; c < 8; c++ {
				bld.Field(c).AppendNull()
			}
			bld.Field(8).(*array.StringBuilder).Append("insert")
			bld.Field(9).(*array.TimestampBuilder).Append(arrow.Timestamp(1_700_000_000_000_000))
			bld.Field(10).(*array.StringBuilder).Append("shop")
			bld.Field(11).(*array.StringBuilder).Append("orders")
			bld.Field(12).(*array.StringBuilder).Append("binlog.000001:4")
			bld.Field(13).(*array.Uint64Builder).Append(uint64(i))
		}
		out = append(out, &exec.Batch{Record: bld.NewRecordBatch(), DB: "shop", Table: "orders"})
		bld.Release()
	}
	return out
}
