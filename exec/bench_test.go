package exec_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/expr-lang/expr"

	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/stdlib"
)

// The transform benchmarks run the same logic three ways over 1,000,000
// in-memory rows:
//
//	WHERE amount * 100 > 5000 AND status = 'paid'
//	TRANSFORM id, amount * 1.1 AS amount2, upper(customer) AS customer
//
// Run: go test -run '^$' -bench 'Transform|Program' -cpu 1 ./exec/

const benchRows = 1_000_000

var (
	benchOnce sync.Once
	benchRec  arrow.RecordBatch
)

func benchRecord() arrow.RecordBatch {
	benchOnce.Do(func() {
		mem := memory.DefaultAllocator
		schema := arrow.NewSchema([]arrow.Field{
			{Name: "id", Type: arrow.PrimitiveTypes.Int64},
			{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
			{Name: "status", Type: arrow.BinaryTypes.String},
			{Name: "customer", Type: arrow.BinaryTypes.String},
		}, nil)
		b := array.NewRecordBuilder(mem, schema)
		defer b.Release()
		statuses := []string{"new", "paid", "shipped", "cancelled"}
		ids := b.Field(0).(*array.Int64Builder)
		amts := b.Field(1).(*array.Float64Builder)
		sts := b.Field(2).(*array.StringBuilder)
		cus := b.Field(3).(*array.StringBuilder)
		for i := 0; i < benchRows; i++ {
			ids.Append(int64(i))
			amts.Append(float64(i%10000) / 100)
			sts.Append(statuses[i%4])
			cus.Append(fmt.Sprintf("customer-%d", i%5000))
		}
		benchRec = b.NewRecordBatch()
	})
	return benchRec
}

func reportRows(b *testing.B) {
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func outSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "amount2", Type: arrow.PrimitiveTypes.Float64},
		{Name: "customer", Type: arrow.BinaryTypes.String},
	}, nil)
}

// BenchmarkTransformHandLoop is the logic written by hand over the Arrow
// arrays: the ceiling a vectorized engine is measured against.
func BenchmarkTransformHandLoop(b *testing.B) {
	rec := benchRecord()
	id := rec.Column(0).(*array.Int64).Int64Values()
	amt := rec.Column(1).(*array.Float64).Float64Values()
	st := rec.Column(2).(*array.String)
	cu := rec.Column(3).(*array.String)
	b.ResetTimer()
	for b.Loop() {
		rb := array.NewRecordBuilder(memory.DefaultAllocator, outSchema())
		ib := rb.Field(0).(*array.Int64Builder)
		ab := rb.Field(1).(*array.Float64Builder)
		cb := rb.Field(2).(*array.StringBuilder)
		for i := range id {
			if amt[i]*100 > 5000 && st.Value(i) == "paid" {
				ib.Append(id[i])
				ab.Append(amt[i] * 1.1)
				cb.Append(strings.ToUpper(cu.Value(i)))
			}
		}
		out := rb.NewRecordBatch()
		if out.NumRows() == 0 {
			b.Fatal("no rows")
		}
		out.Release()
		rb.Release()
	}
	reportRows(b)
}

// BenchmarkTransformExprLang runs the logic as expr-lang programs row by
// row (how CREATE FUNCTION bodies run).
func BenchmarkTransformExprLang(b *testing.B) {
	rec := benchRecord()
	type env struct {
		Amount   float64 `expr:"amount"`
		Status   string  `expr:"status"`
		Customer string  `expr:"customer"`
	}
	where, err := expr.Compile(`amount * 100 > 5000 && status == "paid"`, expr.Env(env{}), expr.AsBool())
	if err != nil {
		b.Fatal(err)
	}
	amount2, err := expr.Compile(`amount * 1.1`, expr.Env(env{}), expr.AsFloat64())
	if err != nil {
		b.Fatal(err)
	}
	upper, err := expr.Compile(`upper(customer)`, expr.Env(env{}))
	if err != nil {
		b.Fatal(err)
	}
	id := rec.Column(0).(*array.Int64).Int64Values()
	amt := rec.Column(1).(*array.Float64).Float64Values()
	st := rec.Column(2).(*array.String)
	cu := rec.Column(3).(*array.String)
	b.ResetTimer()
	for b.Loop() {
		rb := array.NewRecordBuilder(memory.DefaultAllocator, outSchema())
		ib := rb.Field(0).(*array.Int64Builder)
		ab := rb.Field(1).(*array.Float64Builder)
		cb := rb.Field(2).(*array.StringBuilder)
		for i := range id {
			e := env{Amount: amt[i], Status: st.Value(i), Customer: cu.Value(i)}
			ok, err := expr.Run(where, e)
			if err != nil {
				b.Fatal(err)
			}
			if !ok.(bool) {
				continue
			}
			a2, err := expr.Run(amount2, e)
			if err != nil {
				b.Fatal(err)
			}
			c, err := expr.Run(upper, e)
			if err != nil {
				b.Fatal(err)
			}
			ib.Append(id[i])
			ab.Append(a2.(float64))
			cb.Append(c.(string))
		}
		out := rb.NewRecordBatch()
		out.Release()
		rb.Release()
	}
	reportRows(b)
}

func benchProgram(b testing.TB) *exec.Program { return benchProgramColl(b, nil) }

// benchProgramColl is benchProgram with the text columns under coll (nil:
// byte for byte), as a MySQL source's columns are.
func benchProgramColl(b testing.TB, coll *stdlib.Collation) *exec.Program {
	must := func(e exec.Expr, err error) exec.Expr {
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	id := exec.Col(0, "id", stdlib.TInt64)
	amount := exec.Col(1, "amount", stdlib.TFloat64)
	status := exec.CollatedCol(2, "status", stdlib.TString, coll)
	customer := exec.CollatedCol(3, "customer", stdlib.TString, coll)
	where := must(exec.Binary("AND",
		must(exec.Binary(">", must(exec.Binary("*", amount, must(exec.Lit(int64(100), stdlib.TInt64)))), must(exec.Lit(int64(5000), stdlib.TInt64)))),
		must(exec.Binary("=", status, must(exec.Lit("paid", stdlib.TString))))))
	amount2 := must(exec.Binary("*", amount, must(exec.Lit("1.1", stdlib.Dec(2, 1)))))
	upper := must(exec.Call("upper", []exec.Expr{customer}))
	p, err := exec.NewProgram(exec.ProgramConfig{Where: where, Outputs: []exec.Expr{id, amount2, upper},
		Names: []string{"id", "amount2", "customer"}})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkTransformProgram runs the logic through the constructors and a
// Program on one core.
func BenchmarkTransformProgram(b *testing.B) {
	rec := benchRecord()
	p := benchProgram(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		out, _, _, _, err := p.Run(ctx, &exec.Batch{Record: rec})
		if err != nil {
			b.Fatal(err)
		}
		if out.NumRows() != 125000 {
			b.Fatalf("%d rows", out.NumRows())
		}
		out.Release()
	}
	reportRows(b)
}

// BenchmarkTransformProgramGeneralCI is BenchmarkTransformProgram with
// status and customer under utf8mb4_general_ci (MariaDB's default), so
// status = 'paid' compares case-insensitively (the ASCII fast path).
func BenchmarkTransformProgramGeneralCI(b *testing.B) {
	benchCollated(b, "utf8mb4_general_ci")
}

// BenchmarkTransformProgram0900AICI is the same under MySQL 8's default.
func BenchmarkTransformProgram0900AICI(b *testing.B) {
	benchCollated(b, "utf8mb4_0900_ai_ci")
}

func benchCollated(b *testing.B, name string) {
	rec := benchRecord()
	coll, _ := stdlib.LookupCollation(name)
	p := benchProgramColl(b, coll)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		out, _, _, _, err := p.Run(ctx, &exec.Batch{Record: rec})
		if err != nil {
			b.Fatal(err)
		}
		if out.NumRows() != 125000 {
			b.Fatalf("%d rows", out.NumRows())
		}
		out.Release()
	}
	reportRows(b)
}

// BenchmarkProgram is BenchmarkTransformProgram under the name the brief
// gives it.
func BenchmarkProgram(b *testing.B) { BenchmarkTransformProgram(b) }
