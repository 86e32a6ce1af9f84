package exec

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/stdlib"
)

// toArray builds an Arrow array of type dt from the given rows of v (rows
// nil: rows 0..n-1). The caller owns the result.
func toArray(alloc memory.Allocator, v *stdlib.Vector, rows []int32, n int, dt arrow.DataType) (arrow.Array, error) {
	m := n
	if rows != nil {
		m = len(rows)
	}
	if v.Type.Kind == stdlib.Null || (v.Const && v.IsNull(0)) {
		if dt.ID() == arrow.NULL {
			return array.NewNull(m), nil
		}
		b := array.NewBuilder(alloc, dt)
		defer b.Release()
		b.AppendNulls(m)
		return b.NewArray(), nil
	}
	valid := gatherValid(v, rows, m)
	switch dt.ID() {
	case arrow.BOOL:
		b := array.NewBooleanBuilder(alloc)
		defer b.Release()
		b.AppendValues(gather(v.Bool, v.Const, rows, m), valid)
		return b.NewArray(), nil
	case arrow.INT8:
		return buildConv[int8](array.NewInt8Builder(alloc), v.I64, v.Const, rows, m, valid), nil
	case arrow.INT16:
		return buildConv[int16](array.NewInt16Builder(alloc), v.I64, v.Const, rows, m, valid), nil
	case arrow.INT32:
		return buildConv[int32](array.NewInt32Builder(alloc), v.I64, v.Const, rows, m, valid), nil
	case arrow.INT64:
		b := array.NewInt64Builder(alloc)
		defer b.Release()
		b.AppendValues(gather(v.I64, v.Const, rows, m), valid)
		return b.NewArray(), nil
	case arrow.UINT8:
		return buildConv[uint8](array.NewUint8Builder(alloc), v.U64, v.Const, rows, m, valid), nil
	case arrow.UINT16:
		return buildConv[uint16](array.NewUint16Builder(alloc), v.U64, v.Const, rows, m, valid), nil
	case arrow.UINT32:
		return buildConv[uint32](array.NewUint32Builder(alloc), v.U64, v.Const, rows, m, valid), nil
	case arrow.UINT64:
		b := array.NewUint64Builder(alloc)
		defer b.Release()
		b.AppendValues(gather(v.U64, v.Const, rows, m), valid)
		return b.NewArray(), nil
	case arrow.FLOAT32:
		return buildConv[float32](array.NewFloat32Builder(alloc), v.F64, v.Const, rows, m, valid), nil
	case arrow.FLOAT64:
		b := array.NewFloat64Builder(alloc)
		defer b.Release()
		b.AppendValues(gather(v.F64, v.Const, rows, m), valid)
		return b.NewArray(), nil
	case arrow.DECIMAL128:
		b := array.NewDecimal128Builder(alloc, dt.(*arrow.Decimal128Type))
		defer b.Release()
		src := gather(v.Dec, v.Const, rows, m)
		vals := make([]decimal128.Num, m)
		for i, d := range src {
			a := d.Array()
			vals[i] = decimal128.New(int64(a[1]), a[0])
		}
		b.AppendValues(vals, valid)
		return b.NewArray(), nil
	case arrow.DECIMAL256:
		b := array.NewDecimal256Builder(alloc, dt.(*arrow.Decimal256Type))
		defer b.Release()
		b.AppendValues(gather(v.Dec, v.Const, rows, m), valid)
		return b.NewArray(), nil
	case arrow.STRING:
		return buildStrings(alloc, gather(v.Str, v.Const, rows, m), valid), nil
	case arrow.BINARY:
		b := array.NewBinaryBuilder(alloc, arrow.BinaryTypes.Binary)
		defer b.Release()
		vals := gather(v.Str, v.Const, rows, m)
		b.AppendStringValues(vals, valid)
		return b.NewArray(), nil
	case arrow.DATE32:
		return buildConv[arrow.Date32](array.NewDate32Builder(alloc), v.I64, v.Const, rows, m, valid), nil
	case arrow.TIMESTAMP:
		return buildConv[arrow.Timestamp](array.NewTimestampBuilder(alloc, dt.(*arrow.TimestampType)), v.I64, v.Const, rows, m, valid), nil
	case arrow.DURATION:
		return buildConv[arrow.Duration](array.NewDurationBuilder(alloc, dt.(*arrow.DurationType)), v.I64, v.Const, rows, m, valid), nil
	case arrow.INTERVAL_MONTH_DAY_NANO:
		b := array.NewMonthDayNanoIntervalBuilder(alloc)
		defer b.Release()
		b.AppendValues(gather(v.Iv, v.Const, rows, m), valid)
		return b.NewArray(), nil
	}
	return nil, fmt.Errorf("output of arrow type %s is not supported", dt)
}

// gather returns the values of the rows (all m rows when rows is nil).
func gather[T any](src []T, isConst bool, rows []int32, m int) []T {
	if isConst {
		out := make([]T, m)
		for i := range out {
			out[i] = src[0]
		}
		return out
	}
	if rows == nil {
		return src[:m]
	}
	out := make([]T, len(rows))
	for k, i := range rows {
		out[k] = src[i]
	}
	return out
}

func gatherValid(v *stdlib.Vector, rows []int32, m int) []bool {
	if v.Nulls == nil {
		return nil
	}
	valid := make([]bool, m)
	switch {
	case v.Const:
		for i := range valid {
			valid[i] = !v.Nulls[0]
		}
	case rows == nil:
		for i := range valid {
			valid[i] = !v.Nulls[i]
		}
	default:
		for k, i := range rows {
			valid[k] = !v.Nulls[i]
		}
	}
	return valid
}

type appender[T any] interface {
	AppendValues([]T, []bool)
	NewArray() arrow.Array
	Release()
}

func buildConv[T, S int8 | int16 | int32 | uint8 | uint16 | uint32 | float32 | arrow.Date32 | arrow.Timestamp | arrow.Duration | int64 | uint64 | float64](b appender[T], src []S, isConst bool, rows []int32, m int, valid []bool) arrow.Array {
	defer b.Release()
	vals := gather(src, isConst, rows, m)
	out := make([]T, len(vals))
	for i, x := range vals {
		out[i] = T(x)
	}
	b.AppendValues(out, valid)
	return b.NewArray()
}

// buildStrings writes a String array's buffers directly.
func buildStrings(alloc memory.Allocator, vals []string, valid []bool) arrow.Array {
	m := len(vals)
	total := 0
	for _, s := range vals {
		total += len(s)
	}
	offBuf := memory.NewResizableBuffer(alloc)
	offBuf.Resize(arrow.Int32Traits.BytesRequired(m + 1))
	offs := arrow.Int32Traits.CastFromBytes(offBuf.Bytes())
	dataBuf := memory.NewResizableBuffer(alloc)
	dataBuf.Resize(total)
	data := dataBuf.Bytes()
	pos := 0
	for i, s := range vals {
		offs[i] = int32(pos)
		pos += copy(data[pos:], s)
	}
	offs[m] = int32(pos)
	var nullBuf *memory.Buffer
	nulls := 0
	if valid != nil {
		nullBuf = memory.NewResizableBuffer(alloc)
		nullBuf.Resize(int(bitutil.BytesForBits(int64(m))))
		bm := nullBuf.Bytes()
		clear(bm)
		for i, ok := range valid {
			if ok {
				bitutil.SetBit(bm, i)
			} else {
				nulls++
			}
		}
	}
	data2 := array.NewData(arrow.BinaryTypes.String, m, []*memory.Buffer{nullBuf, offBuf, dataBuf}, nil, nulls, 0)
	defer data2.Release()
	offBuf.Release()
	dataBuf.Release()
	if nullBuf != nil {
		nullBuf.Release()
	}
	return array.NewStringData(data2)
}
