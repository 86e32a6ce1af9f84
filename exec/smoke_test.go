package exec

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/stdlib"
)

func TestSmoke(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true}}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2, 3, 4}, nil)
	b.Field(1).(*array.Float64Builder).AppendValues([]float64{10, 60, 0, 70}, []bool{true, true, false, true})
	rec := b.NewRecordBatch()
	defer rec.Release()
	id := Col(0, "id", stdlib.TInt64)
	amt := Col(1, "amount", stdlib.TFloat64)
	k, _ := Lit(int64(50), stdlib.TInt64)
	w, err := Binary(">", amt, k)
	if err != nil {
		t.Fatal(err)
	}
	two, _ := Lit(int64(2), stdlib.TInt64)
	o1, err := Binary("*", id, two)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProgram(ProgramConfig{Where: w, Outputs: []Expr{id, o1}, Names: []string{"id", "x"}, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	out, kept, rej, errs, err := p.Run(context.Background(), &Batch{Record: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	t.Log(out, kept, rej, errs)
}
