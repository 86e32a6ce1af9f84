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

func TestSupertype(t *testing.T) {
	i8, i32, i64 := arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64
	u64 := arrow.PrimitiveTypes.Uint64
	f32, f64 := arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64
	str := arrow.BinaryTypes.String
	d := func(p, s int32) arrow.DataType { return &arrow.Decimal128Type{Precision: p, Scale: s} }
	d256 := func(p, s int32) arrow.DataType { return &arrow.Decimal256Type{Precision: p, Scale: s} }
	for _, c := range []struct {
		a, b, want arrow.DataType
	}{
		{i32, i32, i32}, {i32, i64, i64}, {i64, i32, i64},
		{i32, str, str}, {str, i32, str},
		{d(10, 4), d(10, 2), d(12, 4)}, {d(10, 2), d(10, 4), d(12, 4)}, {d(10, 2), d(6, 4), d(12, 4)}, {d(4, 2), d(8, 4), d(8, 4)}, {d(10, 2), d(12, 1), d(13, 2)},
		{i32, d(10, 2), d(12, 2)}, {d(10, 2), i8, d(10, 2)}, {u64, i64, d(20, 0)},
		{i64, d(38, 20), str}, {f64, d(10, 2), str}, {f32, i32, f64}, {f64, i64, str},
		{d(10, 2), str, str}, {f64, str, str},
		{arrow.FixedWidthTypes.Date32, str, nil}, {arrow.BinaryTypes.Binary, i32, nil},
		// DECIMAL(10,0) → DECIMAL(65,30) (a Decimal256): no Widens (a
		// ClickHouse before 22.1 keeps its text, another scale), the
		// Decimal256 holds both (new-user trial: was nil, the pipeline
		// stopped).
		{d(10, 0), d256(65, 30), d256(65, 30)}, {d256(65, 30), i64, d256(65, 30)}, {d256(40, 2), d256(50, 4), d256(50, 4)}, {d256(70, 0), d(10, 9), str},
	} {
		got := Supertype(c.a, c.b)
		if (got == nil) != (c.want == nil) || got != nil && !arrow.TypeEqual(got, c.want) {
			t.Errorf("Supertype(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	if !Holds(i32, str) || !Holds(d(10, 2), d(12, 4)) || Holds(d(10, 2), d(10, 4)) || !Holds(i32, d(12, 2)) || Holds(str, i32) || Holds(d(10, 4), d(10, 2)) || Holds(i64, d(12, 2)) {
		t.Error("Holds does not follow Supertype")
	}
}
