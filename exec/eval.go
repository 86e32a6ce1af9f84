package exec

import (
	"fmt"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal256"

	"github.com/etlq/etlq/stdlib"
)

// evalCtx is the state of one evaluation over one record.
type evalCtx struct {
	stdlib.Ctx
	rec  arrow.RecordBatch
	n    int
	cols []*stdlib.Vector // whole columns already converted
	udf  map[*UDF]*udfRunner
	scratch
	// schemaIn and schemaOut cache Program.Schema between runs over
	// batches of the same schema.
	schemaIn, schemaOut *arrow.Schema
	// bytes is the scratch buffer output strings are written to before
	// their single copy into an array (appendColumn).
	bytes []byte
}

func newEvalCtx(rec arrow.RecordBatch) *evalCtx {
	return &evalCtx{rec: rec, n: int(rec.NumRows()), cols: make([]*stdlib.Vector, rec.NumCols())}
}

// reset points c at another record, keeping what can be reused.
func (c *evalCtx) reset(rec arrow.RecordBatch) {
	c.rec = rec
	c.n = int(rec.NumRows())
	if cap(c.cols) >= int(rec.NumCols()) {
		c.cols = c.cols[:rec.NumCols()]
		clear(c.cols)
	} else {
		c.cols = make([]*stdlib.Vector, rec.NumCols())
	}
	c.Errs = c.Errs[:0]
}

// column returns column idx of the record as a vector. Fixed-width columns
// are converted whole (often without a copy) and cached; a string column
// under a selection converts only the selected rows.
func (c *evalCtx) column(idx int, t stdlib.Type, sel []int32) *stdlib.Vector {
	if v := c.cols[idx]; v != nil {
		return v
	}
	arr := c.rec.Column(idx)
	if sel != nil && t.Physical() == stdlib.PhysString {
		if a, ok := arr.(*array.String); ok && arr.NullN() == 0 {
			// Only the selected rows, into a recycled slice: views of
			// the array's bytes, which outlive the evaluation.
			v := c.vec(t, c.n)
			offs, data := a.ValueOffsets(), a.ValueBytes()
			var text string
			if len(data) > 0 {
				text = unsafe.String(&data[0], len(data))
			}
			base, str := offs[0], v.Str
			each(sel, c.n, func(i int) { str[i] = text[offs[i]-base : offs[i+1]-base] })
			return v
		}
		return arrayToVector(arr, t, sel)
	}
	v := arrayToVector(arr, t, nil)
	c.cols[idx] = v
	return v
}

// arrayToVector converts an Arrow array to a vector of type t. With a
// selection, string values are taken only for selected rows.
func arrayToVector(arr arrow.Array, t stdlib.Type, sel []int32) *stdlib.Vector {
	n := arr.Len()
	v := &stdlib.Vector{Type: t}
	if arr.NullN() > 0 {
		v.Nulls = make([]bool, n)
		if arr.NullN() == n {
			for i := range v.Nulls {
				v.Nulls[i] = true
			}
		} else {
			for i := range v.Nulls {
				v.Nulls[i] = arr.IsNull(i)
			}
		}
	}
	switch a := arr.(type) {
	case *array.Null:
		v.Nulls = make([]bool, n)
		for i := range v.Nulls {
			v.Nulls[i] = true
		}
		allocFor(v, n)
	case *array.Boolean:
		v.Bool = make([]bool, n)
		for i := range v.Bool {
			v.Bool[i] = a.Value(i)
		}
	case *array.Int8:
		v.I64 = widen(a.Int8Values())
	case *array.Int16:
		v.I64 = widen(a.Int16Values())
	case *array.Int32:
		v.I64 = widen(a.Int32Values())
	case *array.Int64:
		v.I64 = a.Int64Values()
	case *array.Uint8:
		v.U64 = widenU(a.Uint8Values())
	case *array.Uint16:
		v.U64 = widenU(a.Uint16Values())
	case *array.Uint32:
		v.U64 = widenU(a.Uint32Values())
	case *array.Uint64:
		v.U64 = a.Uint64Values()
	case *array.Float32:
		src := a.Float32Values()
		v.F64 = make([]float64, n)
		for i, x := range src {
			v.F64[i] = float64(x)
		}
	case *array.Float64:
		v.F64 = a.Float64Values()
	case *array.Decimal128:
		src := a.Values()
		v.Dec = make([]decimal256.Num, n)
		for i, x := range src {
			v.Dec[i] = decimal256.FromDecimal128(x)
		}
	case *array.Decimal256:
		v.Dec = a.Values()
	case *array.String:
		v.Str = make([]string, n)
		each(sel, n, func(i int) { v.Str[i] = a.Value(i) })
	case *array.LargeString:
		v.Str = make([]string, n)
		each(sel, n, func(i int) { v.Str[i] = a.Value(i) })
	case *array.Binary:
		v.Str = make([]string, n)
		each(sel, n, func(i int) {
			b := a.Value(i)
			if len(b) > 0 {
				v.Str[i] = unsafe.String(&b[0], len(b))
			}
		})
	case *array.Date32:
		src := a.Date32Values()
		v.I64 = make([]int64, n)
		for i, x := range src {
			v.I64[i] = int64(x)
		}
	case *array.Timestamp:
		src := a.TimestampValues()
		if len(src) > 0 {
			v.I64 = unsafe.Slice((*int64)(unsafe.Pointer(&src[0])), len(src))
		} else {
			v.I64 = []int64{}
		}
	case *array.Duration:
		src := a.DurationValues()
		if len(src) > 0 {
			v.I64 = unsafe.Slice((*int64)(unsafe.Pointer(&src[0])), len(src))
		} else {
			v.I64 = []int64{}
		}
	case *array.MonthDayNanoInterval:
		v.Iv = a.MonthDayNanoIntervalValues()
	default:
		panic(fmt.Sprintf("exec: arrow type %s is not supported", arr.DataType()))
	}
	// The physical class follows the array; make the vector's type agree
	// with it if the declared type says otherwise.
	if got := physOf(v); got != t.Physical() && t.Kind != stdlib.Null {
		panic(fmt.Sprintf("exec: column of arrow type %s cannot be read as %s", arr.DataType(), t))
	}
	return v
}

func physOf(v *stdlib.Vector) stdlib.Physical {
	switch {
	case v.Bool != nil:
		return stdlib.PhysBool
	case v.I64 != nil:
		return stdlib.PhysInt
	case v.U64 != nil:
		return stdlib.PhysUint
	case v.F64 != nil:
		return stdlib.PhysFloat
	case v.Dec != nil:
		return stdlib.PhysDecimal
	case v.Str != nil:
		return stdlib.PhysString
	case v.Iv != nil:
		return stdlib.PhysInterval
	}
	return v.Type.Physical()
}

func allocFor(v *stdlib.Vector, n int) {
	w := stdlib.NewVector(v.Type, n)
	v.Bool, v.I64, v.U64, v.F64, v.Dec, v.Str, v.Iv = w.Bool, w.I64, w.U64, w.F64, w.Dec, w.Str, w.Iv
}

func widen[T int8 | int16 | int32](src []T) []int64 {
	out := make([]int64, len(src))
	for i, x := range src {
		out[i] = int64(x)
	}
	return out
}

func widenU[T uint8 | uint16 | uint32](src []T) []uint64 {
	out := make([]uint64, len(src))
	for i, x := range src {
		out[i] = uint64(x)
	}
	return out
}
