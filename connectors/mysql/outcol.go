package mysql

import (
	"fmt"
	"math"
	"slices"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// outCol is one column of a batchBuilder, which the binlog decoder
// appends to: plain Go slices that become the Arrow array's buffers when
// the batch ends. Arrow's builders check capacity and set the validity
// bit through a method call per value (~9 ns an integer, ~24 ns a
// string); these append to a slice and keep no validity bitmap until the
// first NULL (~2 and ~8 ns). The decoder was two thirds of the catch-up's
// CPU.
type outCol interface {
	appendNull()
	appendNulls(n int)
	len() int
	// reserve makes room for rows more rows (and bytes more bytes of
	// string values).
	reserve(rows, bytes int)
	// capacity is the bytes the column's slices hold room for.
	capacity() int
	// newArray returns the column built so far and starts a new one; the
	// array owns the slices.
	newArray() arrow.Array
}

// newOutCol returns the outCol of an Arrow type of arrowType.
func newOutCol(typ arrow.DataType) outCol {
	switch typ.ID() {
	case arrow.STRING, arrow.BINARY:
		return &strCol{typ: typ, offs: []int32{0}}
	case arrow.INT8:
		return &fixedCol[int8]{typ: typ}
	case arrow.INT16:
		return &fixedCol[int16]{typ: typ}
	case arrow.INT32:
		return &fixedCol[int32]{typ: typ}
	case arrow.INT64:
		return &fixedCol[int64]{typ: typ}
	case arrow.UINT8:
		return &fixedCol[uint8]{typ: typ}
	case arrow.UINT16:
		return &fixedCol[uint16]{typ: typ}
	case arrow.UINT32:
		return &fixedCol[uint32]{typ: typ}
	case arrow.UINT64:
		return &fixedCol[uint64]{typ: typ}
	case arrow.FLOAT32:
		return &fixedCol[float32]{typ: typ}
	case arrow.FLOAT64:
		return &fixedCol[float64]{typ: typ}
	case arrow.DECIMAL128:
		return &fixedCol[decimal128.Num]{typ: typ}
	case arrow.DECIMAL256:
		return &fixedCol[decimal256.Num]{typ: typ}
	case arrow.DATE32:
		return &fixedCol[arrow.Date32]{typ: typ}
	case arrow.TIMESTAMP:
		return &fixedCol[arrow.Timestamp]{typ: typ}
	case arrow.DURATION:
		return &fixedCol[arrow.Duration]{typ: typ}
	}
	panic(fmt.Sprintf("mysql: no column builder for Arrow type %s", typ))
}

// validity is a column's validity bitmap, nil until its first NULL.
type validity struct {
	bits  []byte
	nulls int
}

// valid marks row i (the next row) valid; only called once bits exist.
func (v *validity) valid(i int) {
	if i&7 == 0 {
		v.bits = append(v.bits, 0)
	}
	v.bits[i>>3] |= 1 << (i & 7)
}

// null marks rows i..i+n-1 (the next rows) NULL, making the bitmap with
// rows 0..i-1 valid at the first NULL.
func (v *validity) null(i, n int) {
	if v.bits == nil {
		v.bits = make([]byte, (i+7)/8, (i+n+7)/8+8)
		for j := range i / 8 {
			v.bits[j] = 0xFF
		}
		if i&7 != 0 {
			v.bits[i/8] = byte(1)<<(i&7) - 1
		}
	}
	for j := i; j < i+n; j++ {
		if j&7 == 0 {
			v.bits = append(v.bits, 0)
		}
	}
	v.nulls += n
}

// buffer returns the bitmap as the array's buffer (nil: no NULL) and
// starts a new one.
func (v *validity) buffer() (*memory.Buffer, int) {
	if v.bits == nil {
		return nil, 0
	}
	b, n := memory.NewBufferBytes(v.bits), v.nulls
	v.bits, v.nulls = nil, 0
	return b, n
}

// fixedCol is an outCol of fixed-width values.
type fixedCol[T arrow.FixedWidthType] struct {
	typ  arrow.DataType
	vals []T
	validity
}

func (f *fixedCol[T]) append(x T) {
	if f.bits != nil {
		f.valid(len(f.vals))
	}
	f.vals = append(f.vals, x)
}

func (f *fixedCol[T]) appendNull() { f.appendNulls(1) }

func (f *fixedCol[T]) appendNulls(n int) {
	f.null(len(f.vals), n)
	l := len(f.vals)
	f.vals = slices.Grow(f.vals, n)[:l+n]
	clear(f.vals[l:])
}

func (f *fixedCol[T]) len() int { return len(f.vals) }

func (f *fixedCol[T]) reserve(rows, _ int) { f.vals = slices.Grow(f.vals, rows) }

func (f *fixedCol[T]) capacity() int {
	var zero T
	return cap(f.vals)*int(unsafe.Sizeof(zero)) + cap(f.bits)
}

func (f *fixedCol[T]) newArray() arrow.Array {
	valid, nulls := f.buffer()
	data := array.NewData(f.typ, len(f.vals), []*memory.Buffer{valid, memory.NewBufferBytes(arrow.GetBytes(f.vals))}, nil, nulls, 0)
	f.vals = nil
	a := array.MakeFromData(data)
	data.Release()
	return a
}

// strCol is an outCol of string or binary values.
type strCol struct {
	typ  arrow.DataType // arrow.BinaryTypes.String or .Binary
	offs []int32        // rows+1 offsets into data
	data []byte
	validity
}

func (s *strCol) len() int { return len(s.offs) - 1 }

// append appends one value. A batch never holds 2 GiB of one column's
// values (batches are cut at max_batch_bytes, a value is at most the
// server's max_allowed_packet): beyond, Arrow's 32-bit offsets cannot say
// where a value starts, and the decoder fails on it (decodeImage recovers).
func (s *strCol) append(v []byte) { appendStr(s, v) }

func (s *strCol) appendString(v string) { appendStr(s, v) }

func appendStr[T []byte | string](s *strCol, v T) {
	if s.bits != nil {
		s.valid(len(s.offs) - 1)
	}
	s.data = append(s.data, v...)
	if len(s.data) > math.MaxInt32 {
		panic(fmt.Sprintf("%d bytes of values in one column of a batch: over Arrow's 2 GiB", len(s.data)))
	}
	s.offs = append(s.offs, int32(len(s.data)))
}

func (s *strCol) appendNull() { s.appendNulls(1) }

func (s *strCol) appendNulls(n int) {
	s.null(len(s.offs)-1, n)
	end := int32(len(s.data))
	for range n {
		s.offs = append(s.offs, end)
	}
}

func (s *strCol) reserve(rows, bytes int) {
	s.offs = slices.Grow(s.offs, rows)
	s.data = slices.Grow(s.data, bytes)
}

func (s *strCol) capacity() int { return cap(s.offs)*4 + cap(s.data) + cap(s.bits) }

func (s *strCol) newArray() arrow.Array {
	valid, nulls := s.buffer()
	offs := memory.NewBufferBytes(arrow.GetBytes(s.offs))
	data := array.NewData(s.typ, len(s.offs)-1, []*memory.Buffer{valid, offs, memory.NewBufferBytes(s.data)}, nil, nulls, 0)
	a := array.MakeFromData(data)
	data.Release()
	s.offs, s.data = []int32{0}, nil
	return a
}
