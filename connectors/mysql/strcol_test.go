package mysql

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestStrColMatchesArrowBuilder builds the same values, NULLs and empty
// strings (across validity bytes, after a reserve, over two batches)
// with strCol and with Arrow's own builder and compares the arrays.
func TestStrColMatchesArrowBuilder(t *testing.T) {
	for _, typ := range []arrow.DataType{arrow.BinaryTypes.String, arrow.BinaryTypes.Binary} {
		s := newStrCol(typ)
		for batch := 0; batch < 2; batch++ {
			want := array.NewBuilder(memory.DefaultAllocator, typ)
			wb, ok := want.(*array.BinaryBuilder)
			if !ok {
				wb = want.(*array.StringBuilder).BinaryBuilder
			}
			if batch == 1 {
				s.reserve(10, 40)
			}
			for i := 0; i < 37+batch; i++ {
				switch {
				case i%5 == 3:
					s.appendNull()
					want.AppendNull()
				case i%11 == 0:
					s.appendNulls(3)
					want.AppendNulls(3)
				case i%7 == 0:
					s.append(nil)
					want.AppendEmptyValue()
				default:
					v := fmt.Sprintf("v%d-%d", batch, i)
					if i%2 == 0 {
						s.appendString(v)
					} else {
						s.append([]byte(v))
					}
					wb.Append([]byte(v))
				}
			}
			got, exp := s.newArray(), want.NewArray()
			if !array.Equal(got, exp) || got.NullN() != exp.NullN() || !arrow.TypeEqual(got.DataType(), typ) {
				t.Fatalf("%s batch %d:\n got %v (%d NULLs)\nwant %v (%d NULLs)", typ, batch, got, got.NullN(), exp, exp.NullN())
			}
			got.Release()
			exp.Release()
			want.Release()
		}
		if s.len() != 0 {
			t.Fatalf("newArray left %d rows", s.len())
		}
	}
	// no NULLs: no validity bitmap
	s := newStrCol(arrow.BinaryTypes.String)
	s.appendString("a")
	if a := s.newArray(); a.Data().Buffers()[0] != nil || a.NullN() != 0 {
		t.Fatal("a column without NULLs has a validity bitmap")
	}
}
