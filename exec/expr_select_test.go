package exec_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/stdlib"
)

// selectRecord is a record with NULLs in most columns and text that does
// not always cast to a number (row errors), sliced so that its arrays
// start at an offset.
func selectRecord(mem memory.Allocator, n int) (arrow.RecordBatch, map[string]exec.Expr) {
	fields := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "u", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "s2", Type: arrow.BinaryTypes.String},
		{Name: "c", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "d", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}, Nullable: true},
	}
	schema := arrow.NewSchema(fields, nil)
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"a", "b", "c", "bb", "", "paid", "Ünï", "Mixed Case, longer than 8", "ÀÉÎ ünïcode ıß long"}
	for k := 0; k < n+20; k++ {
		null := func() bool { return r.IntN(5) == 0 }
		rb.Field(0).(*array.Int64Builder).Append(int64(k))
		if null() {
			rb.Field(1).AppendNull()
		} else {
			rb.Field(1).(*array.Int64Builder).Append(int64(r.IntN(20) - 5))
		}
		if null() {
			rb.Field(2).AppendNull()
		} else {
			rb.Field(2).(*array.Uint64Builder).Append(uint64(r.IntN(10)))
		}
		if null() {
			rb.Field(3).AppendNull()
		} else {
			rb.Field(3).(*array.Float64Builder).Append(r.Float64())
		}
		if null() {
			rb.Field(4).AppendNull()
		} else {
			rb.Field(4).(*array.StringBuilder).Append(words[r.IntN(len(words))])
		}
		rb.Field(5).(*array.StringBuilder).Append(words[r.IntN(len(words))])
		switch r.IntN(6) {
		case 0:
			rb.Field(6).AppendNull()
		case 1:
			rb.Field(6).(*array.StringBuilder).Append("x") // fails CAST AS INT64
		default:
			rb.Field(6).(*array.StringBuilder).Append(fmt.Sprint(r.IntN(6)))
		}
		if null() {
			rb.Field(7).AppendNull()
		} else {
			rb.Field(7).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(r.IntN(400))))
		}
	}
	whole := rb.NewRecordBatch()
	defer whole.Release()
	rec := whole.NewSlice(7, int64(7+n))
	cols := map[string]exec.Expr{}
	for i, f := range fields {
		t, err := stdlib.FromField(f)
		if err != nil {
			panic(err)
		}
		cols[f.Name] = exec.Col(i, f.Name, t)
	}
	return rec, cols
}

// selectPredicates exercise each selection fast path (typed comparisons
// with a constant on either side or two columns, the in-place string
// comparison, AND refinement with NULLs and with row errors on either
// side) and the generic fallback.
var selectPredicates = []string{
	"i > 3", "3 < i", "i = 4", "i <> 4", "i <= 0", "i >= u",
	"u >= 5", "u = 3", "5 > u",
	"f < 0.5", "0.5 >= f", "f * 100 > 50", "f = f",
	"s = 'b'", "s <> 'b'", "s < 'bb'", "s >= 'b'", "'b' = s", "s = s2", "s2 = 'a'", "s2 > 'b'",
	"d > 1.5", "d = 0.25",
	"i > 3 AND s = 'a'", "(i > 3 AND f < 0.5) AND s2 <> 'c'", "i IS NULL AND s = 'a'",
	"s = 'a' AND CAST(c AS INT64) > 2", "CAST(c AS INT64) > 2 AND s = 'a'",
	"CAST(c AS INT64) > 2 AND CAST(c AS INT64) < 5",
	"(i > 3 AND CAST(c AS INT64) > 2) AND s <> 'b'", "(CAST(c AS INT64) > 1 AND i > 0) AND f < 0.7",
	"i > 3 OR s = 'a'", "NOT (i > 3)", "s IN ('a', 'b')", "s LIKE 'b%'",
	"i > NULL", "NULL = s", "1 = 1", "1 = 0", "i > 3 AND NULL", "NULL AND i > 3", "TRUE AND s2 = 'b'",
	"f * 1e308 * 10 > 1",
}

// TestWhereSelectionMatchesEvaluation runs each predicate as a WHERE (the
// selection path) and as an output column (the boolean vector path) and
// checks that they agree on kept rows, rejected rows and row errors, with
// and without an input selection.
func TestWhereSelectionMatchesEvaluation(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	const n = 200
	rec, cols := selectRecord(mem, n)
	defer rec.Release()
	r := rand.New(rand.NewPCG(3, 4))
	var someSel []int32
	for i := 0; i < n; i++ {
		if r.IntN(3) > 0 {
			someSel = append(someSel, int32(i))
		}
	}
	ctx := context.Background()
	for _, sql := range selectPredicates {
		pred, err := parseMini(sql, cols)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		where, err := exec.NewProgram(exec.ProgramConfig{Where: pred, Outputs: []exec.Expr{cols["id"]},
			Names: []string{"id"}, OnError: exec.OnErrorSkip, Alloc: mem})
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		ref, err := exec.NewProgram(exec.ProgramConfig{Outputs: []exec.Expr{pred},
			Names: []string{"p"}, OnError: exec.OnErrorSkip, Alloc: mem})
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		for _, sel := range [][]int32{nil, someSel, {}} {
			name := fmt.Sprintf("%s sel=%d", sql, len(sel))
			if sel == nil {
				name = sql
			}
			b := &exec.Batch{Record: rec, Sel: sel}
			out, kept, rejected, rowErrs, err := where.Run(ctx, b)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			rout, rkept, _, rerrs, err := ref.Run(ctx, b)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var wantKept, wantRej []int32
			pv := rout.Column(0)
			for k, row := range rkept {
				if pv.IsValid(k) && pv.(*array.Boolean).Value(k) {
					wantKept = append(wantKept, row)
				} else {
					wantRej = append(wantRej, row)
				}
			}
			if !slices.Equal(kept, wantKept) {
				t.Errorf("%s: kept %v, want %v", name, kept, wantKept)
			}
			if !slices.Equal(rejected, wantRej) {
				t.Errorf("%s: rejected %v, want %v", name, rejected, wantRej)
			}
			if len(rowErrs) != len(rerrs) {
				t.Errorf("%s: %d row errors, want %d", name, len(rowErrs), len(rerrs))
			} else {
				for k := range rowErrs {
					if rowErrs[k].Row != rerrs[k].Row || rowErrs[k].Reason != rerrs[k].Reason || rowErrs[k].Column != "WHERE" {
						t.Errorf("%s: row error %v, want %v", name, rowErrs[k], rerrs[k])
					}
				}
			}
			ids := out.Column(0).(*array.Int64)
			for k, row := range kept {
				if ids.Value(k) != int64(row)+7 {
					t.Errorf("%s: output row %d has id %d, want %d", name, k, ids.Value(k), row+7)
				}
			}
			out.Release()
			rout.Release()
		}
	}
}

// TestWhereSelectionOverBatches checks a Program's WHERE, which narrows a
// batch's selection through the same path, over batches with and without
// a selection, twice over the same program (its scratch space reused).
func TestWhereSelectionOverBatches(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec, cols := selectRecord(mem, 50)
	defer rec.Release()
	pred, err := parseMini("i > 3 AND s <> 'a'", cols)
	if err != nil {
		t.Fatal(err)
	}
	var want []int32
	iv, sv := rec.Column(1).(*array.Int64), rec.Column(4).(*array.String)
	for k := 0; k < 50; k++ {
		if iv.IsValid(k) && iv.Value(k) > 3 && sv.IsValid(k) && sv.Value(k) != "a" && k%2 == 0 {
			want = append(want, int32(k))
		}
	}
	var even []int32
	for k := int32(0); k < 50; k += 2 {
		even = append(even, k)
	}
	p, err := exec.NewProgram(exec.ProgramConfig{Where: pred, Outputs: []exec.Expr{cols["i"]}, Names: []string{"i"}, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	for _, sel := range [][]int32{nil, even} {
		for k := 0; k < 2; k++ {
			out, kept, _, _, err := p.Run(context.Background(), &exec.Batch{Record: rec, Sel: sel})
			if err != nil {
				t.Fatal(err)
			}
			got := kept
			if sel == nil {
				got = slices.DeleteFunc(slices.Clone(got), func(i int32) bool { return i%2 != 0 })
			}
			if !slices.Equal(got, want) {
				t.Errorf("sel=%v batch %d: %v, want %v", sel != nil, k, got, want)
			}
			out.Release()
		}
	}
}
