package exec

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

func TestWidens(t *testing.T) {
	i8, i32, i64 := arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64
	u32, u64 := arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64
	f32, f64 := arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64
	d := func(p, s int32) arrow.DataType { return &arrow.Decimal128Type{Precision: p, Scale: s} }
	for _, c := range []struct {
		from, to arrow.DataType
		want     bool
	}{
		{i32, i64, true}, {i8, i32, true}, {i64, i32, false}, {i32, i32, false},
		{u32, i64, true}, {u32, u64, true}, {u64, i64, false}, {i32, u64, false},
		{f32, f64, true}, {f64, f32, false}, {i32, f64, false},
		{d(8, 2), d(12, 2), true}, {d(12, 2), d(8, 2), false}, {d(8, 2), d(12, 3), true},
		{d(12, 3), d(16, 4), true}, {d(8, 2), d(8, 3), false}, {d(8, 2), d(12, 1), false}, {d(13, 3), d(17, 4), true},
		{arrow.BinaryTypes.String, arrow.BinaryTypes.Binary, false},
	} {
		if got := Widens(c.from, c.to); got != c.want {
			t.Errorf("Widens(%s, %s) = %v", c.from, c.to, got)
		}
	}
}
