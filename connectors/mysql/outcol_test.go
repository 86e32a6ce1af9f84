package mysql

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestOutColsMatchArrowBuilders builds the same values, NULLs (first,
// none, runs across validity bytes) and empty strings with outCols and
// with Arrow's own builders, over two batches (the second after a
// reserve), and compares the arrays.
func TestOutColsMatchArrowBuilders(t *testing.T) {
	types := []arrow.DataType{arrow.BinaryTypes.String, arrow.BinaryTypes.Binary, arrow.PrimitiveTypes.Int64,
		arrow.PrimitiveTypes.Uint8, &arrow.Decimal128Type{Precision: 12, Scale: 2},
		&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}}
	// null patterns: which rows are NULL (j: row, n: rows in the batch)
	patterns := []func(j int) int{
		func(j int) int { return 0 },                                 // none
		func(j int) int { return map[bool]int{true: 1}[j == 0] },     // the first
		func(j int) int { return map[bool]int{true: 1}[j%5 == 3] },   // one at a time
		func(j int) int { return map[bool]int{true: 3}[j%11 == 10] }, // runs of 3
		func(j int) int { return map[bool]int{true: 9}[j == 20] },    // a run across two bytes, late
	}
	for _, typ := range types {
		for pi, nullAt := range patterns {
			col := newOutCol(typ)
			for batch := 0; batch < 2; batch++ {
				want := array.NewBuilder(memory.DefaultAllocator, typ)
				if batch == 1 {
					col.reserve(10, 40)
				}
				for j := 0; j < 37+batch; j++ {
					if n := nullAt(j); n > 0 {
						if n == 1 {
							col.appendNull()
						} else {
							col.appendNulls(n)
						}
						want.AppendNulls(n)
						continue
					}
					appendBoth(t, col, want, j, batch)
				}
				if col.len() != want.Len() {
					t.Fatalf("%s pattern %d: %d rows, Arrow %d", typ, pi, col.len(), want.Len())
				}
				got, exp := col.newArray(), want.NewArray()
				if !array.Equal(got, exp) || got.NullN() != exp.NullN() || !arrow.TypeEqual(got.DataType(), typ) {
					t.Fatalf("%s pattern %d batch %d:\n got %v (%d NULLs)\nwant %v (%d NULLs)", typ, pi, batch, got, got.NullN(), exp, exp.NullN())
				}
				if (got.NullN() == 0) != (got.Data().Buffers()[0] == nil) {
					t.Fatalf("%s pattern %d: %d NULLs, validity bitmap %v", typ, pi, got.NullN(), got.Data().Buffers()[0] != nil)
				}
				got.Release()
				exp.Release()
				want.Release()
			}
			if col.len() != 0 {
				t.Fatalf("newArray left %d rows", col.len())
			}
		}
	}
}

func appendBoth(t *testing.T, col outCol, want array.Builder, j, batch int) {
	switch c := col.(type) {
	case *strCol:
		wb, ok := want.(*array.BinaryBuilder)
		if !ok {
			wb = want.(*array.StringBuilder).BinaryBuilder
		}
		v := fmt.Sprintf("v%d-%d", batch, j)
		switch {
		case j%7 == 0:
			c.append(nil)
			wb.Append(nil)
		case j%2 == 0:
			c.appendString(v)
			wb.Append([]byte(v))
		default:
			c.append([]byte(v))
			wb.Append([]byte(v))
		}
	case *fixedCol[int64]:
		c.append(int64(j*1000 + batch))
		want.(*array.Int64Builder).Append(int64(j*1000 + batch))
	case *fixedCol[uint8]:
		c.append(uint8(j + batch))
		want.(*array.Uint8Builder).Append(uint8(j + batch))
	case *fixedCol[decimal128.Num]:
		c.append(decimal128.FromI64(int64(j - 20)))
		want.(*array.Decimal128Builder).Append(decimal128.FromI64(int64(j - 20)))
	case *fixedCol[arrow.Timestamp]:
		c.append(arrow.Timestamp(j) * 1e6)
		want.(*array.TimestampBuilder).Append(arrow.Timestamp(j) * 1e6)
	default:
		t.Fatalf("no case for %T", col)
	}
}

// TestOutColEveryArrowType: every Arrow type a MySQL column maps to has an
// outCol of the type the binlog decoder asserts.
func TestOutColEveryArrowType(t *testing.T) {
	for k := kInt8; k <= kYear; k++ {
		c := &column{Kind: k, Precision: 10, Scale: 2}
		if k == kDecimal256 {
			c.Precision = 60
		}
		col := newOutCol(c.arrowType())
		col.appendNull()
		if a := col.newArray(); !arrow.TypeEqual(a.DataType(), c.arrowType()) || a.Len() != 1 || a.NullN() != 1 {
			t.Errorf("kind %d: %s, %d rows, %d NULLs", k, a.DataType(), a.Len(), a.NullN())
		}
	}
}
