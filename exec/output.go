package exec

import (
	"fmt"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/stdlib"
)

// toArray builds an Arrow array of type dt from the given rows of v (rows
// nil: rows 0..n-1). The caller owns the result. The buffers are written
// directly (no builder, no intermediate Go slice).
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
	switch dt.ID() {
	case arrow.BOOL:
		return boolArray(alloc, v, rows, m), nil
	case arrow.INT8:
		return fixedArray[int8](alloc, dt, v, v.I64, rows, m), nil
	case arrow.INT16:
		return fixedArray[int16](alloc, dt, v, v.I64, rows, m), nil
	case arrow.INT32:
		return fixedArray[int32](alloc, dt, v, v.I64, rows, m), nil
	case arrow.INT64:
		return fixedArray[int64](alloc, dt, v, v.I64, rows, m), nil
	case arrow.UINT8:
		return fixedArray[uint8](alloc, dt, v, v.U64, rows, m), nil
	case arrow.UINT16:
		return fixedArray[uint16](alloc, dt, v, v.U64, rows, m), nil
	case arrow.UINT32:
		return fixedArray[uint32](alloc, dt, v, v.U64, rows, m), nil
	case arrow.UINT64:
		return fixedArray[uint64](alloc, dt, v, v.U64, rows, m), nil
	case arrow.FLOAT32:
		return fixedArray[float32](alloc, dt, v, v.F64, rows, m), nil
	case arrow.FLOAT64:
		return fixedArray[float64](alloc, dt, v, v.F64, rows, m), nil
	case arrow.DATE32:
		return fixedArray[arrow.Date32](alloc, dt, v, v.I64, rows, m), nil
	case arrow.TIMESTAMP:
		return fixedArray[arrow.Timestamp](alloc, dt, v, v.I64, rows, m), nil
	case arrow.DURATION:
		return fixedArray[arrow.Duration](alloc, dt, v, v.I64, rows, m), nil
	case arrow.DECIMAL128:
		return mapArray(alloc, dt, v, v.Dec, rows, m, func(d decimal256.Num) decimal128.Num {
			a := d.Array()
			return decimal128.New(int64(a[1]), a[0])
		}), nil
	case arrow.DECIMAL256:
		return mapArray(alloc, dt, v, v.Dec, rows, m, func(d decimal256.Num) decimal256.Num { return d }), nil
	case arrow.INTERVAL_MONTH_DAY_NANO:
		return mapArray(alloc, dt, v, v.Iv, rows, m, func(x arrow.MonthDayNanoInterval) arrow.MonthDayNanoInterval { return x }), nil
	case arrow.STRING, arrow.BINARY:
		return stringArray(alloc, dt, v, rows, m), nil
	}
	return nil, fmt.Errorf("output of arrow type %s is not supported", dt)
}

// validity returns the validity bitmap of the rows of v and its NULL
// count; the bitmap is nil when no row is NULL.
func validity(alloc memory.Allocator, v *stdlib.Vector, rows []int32, m int) (*memory.Buffer, int) {
	if v.Nulls == nil {
		return nil, 0
	}
	nulls := 0
	switch {
	case v.Const:
		if v.Nulls[0] {
			nulls = m
		}
	case rows == nil:
		for _, isNull := range v.Nulls[:m] {
			if isNull {
				nulls++
			}
		}
	default:
		for _, i := range rows {
			if v.Nulls[i] {
				nulls++
			}
		}
	}
	if nulls == 0 {
		return nil, 0
	}
	buf := memory.NewResizableBuffer(alloc)
	buf.Resize(int(bitutil.BytesForBits(int64(m))))
	bm := buf.Bytes()
	clear(bm)
	for k := 0; k < m; k++ {
		if !v.IsNull(rowAt(rows, k)) {
			bitutil.SetBit(bm, k)
		}
	}
	return buf, nulls
}

// rowAt returns the k-th row of a selection (k itself when rows is nil).
func rowAt(rows []int32, k int) int {
	if rows == nil {
		return k
	}
	return int(rows[k])
}

// newBuffer allocates a buffer of m values of T and returns it with a
// typed view of its bytes.
func newBuffer[T any](alloc memory.Allocator, m int) (*memory.Buffer, []T) {
	var zero T
	buf := memory.NewResizableBuffer(alloc)
	buf.Resize(m * int(unsafe.Sizeof(zero)))
	if m == 0 {
		return buf, nil
	}
	return buf, unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(buf.Bytes()))), m)
}

// makeArray wraps buffers (validity first) as an array of type dt and
// gives up the caller's references to them.
func makeArray(dt arrow.DataType, m, nulls int, bufs ...*memory.Buffer) arrow.Array {
	data := array.NewData(dt, m, bufs, nil, nulls, 0)
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	defer data.Release()
	return array.MakeFromData(data)
}

type fixedWidth interface {
	int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64 | float32 | float64 |
		arrow.Date32 | arrow.Timestamp | arrow.Duration
}

// fixedArray gathers the rows of src (v's value slice) into a new buffer
// of T, converting each value.
func fixedArray[T fixedWidth, S int64 | uint64 | float64](alloc memory.Allocator, dt arrow.DataType, v *stdlib.Vector, src []S, rows []int32, m int) arrow.Array {
	valid, nulls := validity(alloc, v, rows, m)
	buf, dst := newBuffer[T](alloc, m)
	switch {
	case v.Const:
		x := T(src[0])
		for k := range dst {
			dst[k] = x
		}
	case rows == nil:
		for k, x := range src[:m] {
			dst[k] = T(x)
		}
	default:
		for k, i := range rows {
			dst[k] = T(src[i])
		}
	}
	return makeArray(dt, m, nulls, valid, buf)
}

// mapArray is fixedArray for value types that need a function to convert.
func mapArray[T, S any](alloc memory.Allocator, dt arrow.DataType, v *stdlib.Vector, src []S, rows []int32, m int, f func(S) T) arrow.Array {
	valid, nulls := validity(alloc, v, rows, m)
	buf, dst := newBuffer[T](alloc, m)
	for k := range dst {
		i := rowAt(rows, k)
		if v.Const {
			i = 0
		}
		dst[k] = f(src[i])
	}
	return makeArray(dt, m, nulls, valid, buf)
}

func boolArray(alloc memory.Allocator, v *stdlib.Vector, rows []int32, m int) arrow.Array {
	valid, nulls := validity(alloc, v, rows, m)
	buf := memory.NewResizableBuffer(alloc)
	buf.Resize(int(bitutil.BytesForBits(int64(m))))
	bm := buf.Bytes()
	clear(bm)
	for k := 0; k < m; k++ {
		if v.Bool[v.Idx(rowAt(rows, k))] {
			bitutil.SetBit(bm, k)
		}
	}
	return makeArray(arrow.FixedWidthTypes.Boolean, m, nulls, valid, buf)
}

// stringArray writes a String or Binary array's offsets and bytes directly
// from the rows of v.
func stringArray(alloc memory.Allocator, dt arrow.DataType, v *stdlib.Vector, rows []int32, m int) arrow.Array {
	valid, nulls := validity(alloc, v, rows, m)
	src := v.Str
	total := 0
	switch {
	case v.Const:
		total = len(src[0]) * m
	case rows == nil:
		for _, s := range src[:m] {
			total += len(s)
		}
	default:
		for _, i := range rows {
			total += len(src[i])
		}
	}
	offBuf, offs := newBuffer[int32](alloc, m+1)
	dataBuf, data := newBuffer[byte](alloc, total)
	pos := 0
	switch {
	case v.Const:
		for k := 0; k < m; k++ {
			offs[k] = int32(pos)
			pos += copy(data[pos:], src[0])
		}
	case rows == nil:
		for k, s := range src[:m] {
			offs[k] = int32(pos)
			pos += copy(data[pos:], s)
		}
	default:
		for k, i := range rows {
			offs[k] = int32(pos)
			pos += copy(data[pos:], src[i])
		}
	}
	offs[m] = int32(pos)
	return makeArray(dt, m, nulls, valid, offBuf, dataBuf)
}

// takeStrings copies the given rows of a String or Binary array (whose
// offsets and bytes are offs and data, as ValueOffsets and ValueBytes give
// them: data starts at offs[0]) into a new array of the same type.
func takeStrings(alloc memory.Allocator, arr arrow.Array, offs []int32, data []byte, rows []int32) arrow.Array {
	m := len(rows)
	total := 0
	for _, i := range rows {
		total += int(offs[i+1] - offs[i])
	}
	var valid *memory.Buffer
	nulls := 0
	if arr.NullN() > 0 {
		for _, i := range rows {
			if arr.IsNull(int(i)) {
				nulls++
			}
		}
		if nulls > 0 {
			valid = memory.NewResizableBuffer(alloc)
			valid.Resize(int(bitutil.BytesForBits(int64(m))))
			bm := valid.Bytes()
			clear(bm)
			for k, i := range rows {
				if arr.IsValid(int(i)) {
					bitutil.SetBit(bm, k)
				}
			}
		}
	}
	offBuf, o := newBuffer[int32](alloc, m+1)
	dataBuf, d := newBuffer[byte](alloc, total)
	pos, base := int32(0), offs[0]
	for k, i := range rows {
		o[k] = pos
		pos += int32(copy(d[pos:], data[offs[i]-base:offs[i+1]-base]))
	}
	o[m] = pos
	return makeArray(arr.DataType(), m, nulls, valid, offBuf, dataBuf)
}

// directColumn returns the output column for a node that is a plain
// column of the input when it can be had without evaluating: the input
// array itself (every row, same type) or its rows copied byte for byte
// (strings). ok is false when the node must be evaluated.
func directColumn(alloc memory.Allocator, rec arrow.RecordBatch, o node, rows []int32, m int, dt arrow.DataType) (arrow.Array, bool) {
	col, ok := o.(*colExpr)
	if !ok || col.index >= int(rec.NumCols()) {
		return nil, false
	}
	arr := rec.Column(col.index)
	if !arrow.TypeEqual(arr.DataType(), dt) {
		return nil, false
	}
	if rows == nil && m == arr.Len() {
		arr.Retain()
		return arr, true
	}
	if rows == nil {
		return nil, false
	}
	switch a := arr.(type) {
	case *array.String:
		return takeStrings(alloc, a, a.ValueOffsets(), a.ValueBytes(), rows), true
	case *array.Binary:
		return takeStrings(alloc, a, a.ValueOffsets(), a.ValueBytes(), rows), true
	}
	return nil, false
}

// appendable reports whether o is a call with an Append form (see
// stdlib.Bound.Append) of a column, whose output build can write
// directly. The argument must be a column: evaluating it cannot fail, so
// it can wait until the output is built, after row errors are settled.
func appendable(o node) (*callExpr, bool) {
	call, ok := o.(*callExpr)
	if !ok || call.b.Append == nil || len(call.args) != 1 || call.b.NullAware ||
		call.args[0].Type().Physical() != stdlib.PhysString {
		return nil, false
	}
	if _, ok := call.args[0].(*colExpr); !ok {
		return nil, false
	}
	return call, true
}

// appendColumn builds the output of a call with an Append form over the
// given rows straight into a String array's offsets and bytes: no string
// per row, and one copy of the bytes from c's reused scratch buffer into
// the array. A plain String column argument is read from its Arrow
// buffers in place.
func (c *evalCtx) appendColumn(alloc memory.Allocator, o node, rows []int32, m int, dt arrow.DataType) (arrow.Array, bool) {
	call, ok := appendable(o)
	if !ok || dt.ID() != arrow.STRING {
		return nil, false
	}
	f := call.b.Append
	offBuf, offs := newBuffer[int32](alloc, m+1)
	data := c.bytes[:0]
	var nulls nullBits
	if col, ok := call.args[0].(*colExpr); ok && col.index < int(c.rec.NumCols()) {
		if arr, ok := c.rec.Column(col.index).(*array.String); ok {
			so, sb := arr.ValueOffsets(), arr.ValueBytes()
			var text string
			if len(sb) > 0 {
				text = unsafe.String(&sb[0], len(sb))
			}
			base := so[0]
			hasNulls := arr.NullN() > 0
			for k := 0; k < m; k++ {
				i := rowAt(rows, k)
				offs[k] = int32(len(data))
				if hasNulls && arr.IsNull(i) {
					nulls.set(alloc, k, m)
					continue
				}
				data = f(data, text[so[i]-base:so[i+1]-base])
			}
			offs[m] = int32(len(data))
			return c.finishAppend(alloc, dt, m, offBuf, data, &nulls), true
		}
	}
	v := call.args[0].eval(c, rows)
	for k := 0; k < m; k++ {
		i := rowAt(rows, k)
		offs[k] = int32(len(data))
		if v.IsNull(i) {
			nulls.set(alloc, k, m)
			continue
		}
		data = f(data, v.Str[v.Idx(i)])
	}
	offs[m] = int32(len(data))
	return c.finishAppend(alloc, dt, m, offBuf, data, &nulls), true
}

func (c *evalCtx) finishAppend(alloc memory.Allocator, dt arrow.DataType, m int, offBuf *memory.Buffer, data []byte, nulls *nullBits) arrow.Array {
	dataBuf, d := newBuffer[byte](alloc, len(data))
	copy(d, data)
	c.bytes = data[:0] // keep the grown buffer for the next batch
	return makeArray(dt, m, nulls.n, nulls.buf, offBuf, dataBuf)
}

// nullBits is a validity bitmap made on the first NULL.
type nullBits struct {
	buf *memory.Buffer
	n   int
}

// set marks slot k of m NULL.
func (b *nullBits) set(alloc memory.Allocator, k, m int) {
	if b.buf == nil {
		b.buf = memory.NewResizableBuffer(alloc)
		b.buf.Resize(int(bitutil.BytesForBits(int64(m))))
		bm := b.buf.Bytes()
		for i := range bm {
			bm[i] = 0xff
		}
	}
	bitutil.ClearBit(b.buf.Bytes(), k)
	b.n++
}
