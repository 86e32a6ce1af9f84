package exec_test

import (
	"context"
	"math"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/stdlib"
)

// TestFloatRemainderZeroHasNoSign: a FLOAT64 remainder that is zero is +0,
// whatever the dividend's sign, as MySQL's (-6e0 % 3 is 0): Go's math.Mod
// gives -0 for a negative dividend, which a FLOAT64 output (jsonl, a
// ClickHouse Float64) would carry as "-0". Each shape of the kernel: a
// constant divisor, a constant dividend, two columns, two constants.
func TestFloatRemainderZeroHasNoSign(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
		{Name: "y", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	rb.Field(0).(*array.Float64Builder).AppendValues([]float64{-6, -1.5, 6, -7, math.Copysign(0, -1)}, nil)
	rb.Field(1).(*array.Float64Builder).AppendValues([]float64{3, -0.5, -3, 3, 5}, nil)
	rec := rb.NewRecordBatch()
	defer rec.Release()
	x, y := exec.Col(0, "x", stdlib.TFloat64), exec.Col(1, "y", stdlib.TFloat64)
	lit := func(v float64) exec.Expr {
		e, err := exec.Lit(v, stdlib.TFloat64)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	mod := func(l, r exec.Expr) exec.Expr {
		e, err := exec.Binary("%", l, r)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	negX, err := exec.Unary("-", x)
	if err != nil {
		t.Fatal(err)
	}
	outs := []exec.Expr{mod(x, y), mod(x, lit(3)), mod(lit(-6), y), mod(lit(-6), lit(3)), mod(negX, lit(0.5))}
	names := []string{"cols", "const_divisor", "const_dividend", "consts", "neg"}
	p, err := exec.NewProgram(exec.ProgramConfig{Outputs: outs, Names: names, OnError: exec.OnErrorFail, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	out, _, _, _, err := p.Run(context.Background(), &exec.Batch{Record: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	for c, name := range names {
		col := out.Column(c).(*array.Float64)
		for i := 0; i < col.Len(); i++ {
			if v := col.Value(i); !col.IsNull(i) && v == 0 && math.Signbit(v) {
				t.Errorf("%s row %d: -0, want 0", name, i)
			}
		}
	}
}
