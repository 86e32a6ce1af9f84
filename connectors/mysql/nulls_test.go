package mysql

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestNullArraysShareOneBuffer(t *testing.T) {
	types := []arrow.DataType{
		arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Uint64,
		arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64, arrow.FixedWidthTypes.Boolean,
		&arrow.Decimal128Type{Precision: 38, Scale: 10}, &arrow.Decimal256Type{Precision: 65, Scale: 30},
		arrow.BinaryTypes.String, arrow.BinaryTypes.Binary, arrow.BinaryTypes.LargeString,
		&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, arrow.FixedWidthTypes.Date32,
		arrow.FixedWidthTypes.Time64us, &arrow.FixedSizeBinaryType{ByteWidth: 3},
		&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String},
	}
	// 300 columns, as the wide-table benchmark's before.* columns.
	var fields []arrow.Field
	for len(fields) < 300 {
		fields = append(fields, arrow.Field{Name: "c", Type: types[len(fields)%len(types)], Nullable: true})
	}
	for _, n := range []int{0, 1, 7, 8, 9, 8192} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		arrs := makeNullArrays(mem, fields, n)
		if len(arrs) != len(fields) {
			t.Fatalf("%d arrays for %d fields", len(arrs), len(fields))
		}
		for i, a := range arrs {
			if !arrow.TypeEqual(a.DataType(), fields[i].Type) || a.Len() != n || a.NullN() != n {
				t.Fatalf("n=%d column %d: %s len %d nulls %d", n, i, a.DataType(), a.Len(), a.NullN())
			}
			if v, ok := a.(interface{ ValidateFull() error }); ok {
				if err := v.ValidateFull(); err != nil {
					t.Fatalf("n=%d column %d (%s): %v", n, i, a.DataType(), err)
				}
			}
			for r := 0; r < n; r++ {
				if a.IsValid(r) {
					t.Fatalf("n=%d column %d row %d is not NULL", n, i, r)
				}
			}
			if s, ok := a.(*array.String); ok && n > 0 && s.Value(n-1) != "" {
				t.Fatalf("string of a NULL: %q", s.Value(n-1))
			}
		}
		// One buffer of the widest type (Decimal256: 32 bytes a row) for
		// all, plus what the 17 dictionary columns make on their own:
		// not one buffer per column (300 × up to 32 bytes a row).
		perColumn := 0
		for _, f := range fields {
			a := array.MakeArrayOfNull(memory.DefaultAllocator, f.Type, n)
			for _, b := range a.Data().Buffers() {
				if b != nil {
					perColumn += b.Len()
				}
			}
			a.Release()
		}
		if got, limit := mem.CurrentAlloc(), 32*n+64+18*(4*n+256); got > limit {
			t.Errorf("n=%d: %d bytes allocated for the arrays, want ≤ %d (one buffer per column: %d)", n, got, limit, perColumn)
		}
		for _, a := range arrs {
			a.Release()
		}
		mem.AssertSize(t, 0)
	}
}
