package clickhouse

import (
	"fmt"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// Decimals are the costly column of the slow path: clickhouse-go takes
// them only as shopspring decimals (a big.Int per value, several more in its
// own conversion, about 0.5 µs a value). Both sides already hold the same
// thing — an unscaled two's complement integer at the column's scale — so
// the fast path (fastpath.go) appends Arrow's integers straight into the
// ch-go column under clickhouse-go's Decimal column.

// int256 is an Arrow decimal's unscaled value as four little-endian words.
type int256 [4]uint64

func signExtend(lo uint64, hi int64) int256 {
	s := uint64(hi >> 63)
	return int256{lo, uint64(hi), s, s}
}

// appendDecimals appends the live rows of arr to t, checking each value
// against the declared precision, as columnSlice does.
func appendDecimals(t chTarget, c *colSpec, arr arrow.Array, r rows) error {
	dt := c.field.Type.(arrow.DecimalType)
	prec, scale := dt.GetPrecision(), dt.GetScale()
	var get func(i int) (int256, error)
	tooWide := func(i int, s string) error {
		return rowError(c, i, fmt.Sprintf("%s has more digits than DECIMAL(%d,%d) holds", s, prec, scale))
	}
	if a, ok := arr.(*array.Decimal128); ok {
		// The common case, without int256 in between.
		get := func(i int) (decimal128.Num, error) {
			n := a.Value(i)
			if !n.FitsInPrecision(prec) {
				return n, tooWide(i, n.ToString(scale))
			}
			return n, nil
		}
		switch col := t.col.(type) {
		case *proto.ColDecimal32:
			return appendRows((*[]proto.Decimal32)(col), t.nulls, c, arr, r, func(i int) (proto.Decimal32, error) {
				n, err := get(i)
				return proto.Decimal32(n.LowBits()), err
			})
		case *proto.ColDecimal64:
			return appendRows((*[]proto.Decimal64)(col), t.nulls, c, arr, r, func(i int) (proto.Decimal64, error) {
				n, err := get(i)
				return proto.Decimal64(n.LowBits()), err
			})
		case *proto.ColDecimal128:
			return appendRows((*[]proto.Decimal128)(col), t.nulls, c, arr, r, func(i int) (proto.Decimal128, error) {
				n, err := get(i)
				return proto.Decimal128{Low: n.LowBits(), High: uint64(n.HighBits())}, err
			})
		}
	}
	switch a := arr.(type) {
	case *array.Decimal32:
		get = func(i int) (int256, error) {
			n := a.Value(i)
			if !n.FitsInPrecision(prec) {
				return int256{}, tooWide(i, fmt.Sprint(n))
			}
			return signExtend(uint64(int64(n)), int64(n)>>63), nil
		}
	case *array.Decimal64:
		get = func(i int) (int256, error) {
			n := a.Value(i)
			if !n.FitsInPrecision(prec) {
				return int256{}, tooWide(i, fmt.Sprint(n))
			}
			return signExtend(uint64(n), int64(n)>>63), nil
		}
	case *array.Decimal128:
		get = func(i int) (int256, error) {
			n := a.Value(i)
			if !n.FitsInPrecision(prec) {
				return int256{}, tooWide(i, n.ToString(scale))
			}
			return signExtend(n.LowBits(), n.HighBits()), nil
		}
	case *array.Decimal256:
		get = func(i int) (int256, error) {
			n := a.Value(i)
			if !n.FitsInPrecision(prec) {
				return int256{}, tooWide(i, n.ToString(scale))
			}
			return n.Array(), nil
		}
	default:
		return fmt.Errorf("column %q: cannot write arrow %s as ClickHouse %s", c.name, arr.DataType(), c.chType())
	}
	var put func(v int256)
	switch col := t.col.(type) {
	case *proto.ColDecimal32:
		put = func(v int256) { col.Append(proto.Decimal32(uint32(v[0]))) }
	case *proto.ColDecimal64:
		put = func(v int256) { col.Append(proto.Decimal64(v[0])) }
	case *proto.ColDecimal128:
		put = func(v int256) { col.Append(proto.Decimal128{Low: v[0], High: v[1]}) }
	case *proto.ColDecimal256:
		put = func(v int256) {
			col.Append(proto.Decimal256{Low: proto.UInt128{Low: v[0], High: v[1]}, High: proto.UInt128{Low: v[2], High: v[3]}})
		}
	}
	nulls := arr.NullN() > 0
	n := r.len()
	for j := 0; j < n; j++ {
		i := r.at(j)
		if nulls && arr.IsNull(i) {
			if t.nulls == nil && (c.key || r.dead == nil || r.dead[i] == 0) {
				return nullError(c, i)
			}
			if t.nulls != nil {
				t.nulls.Append(1)
			}
			put(int256{})
			continue
		}
		v, err := get(i)
		if err != nil {
			return err
		}
		if t.nulls != nil {
			t.nulls.Append(0)
		}
		put(v)
	}
	return nil
}
