package mysql

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// makeNullArrays returns all-NULL arrays of the fields' types, n rows each.
// The before.* columns of a snapshot chunk or of a batch of inserts are
// such arrays, one per column of the table. array.MakeArrayOfNull gives
// each array a zeroed buffer of its own (n × the value's width): for a
// 300-column table, 20 MiB a set of 8,192 rows, 53 MiB of the wide-table
// snapshot's heap at its peak (docs/benchmarks.md). Here the arrays of
// fixed-width and offset-based types share one zeroed buffer, as large as
// the widest of them needs: an all-zero validity bitmap says every value is
// NULL, zero offsets make every string empty, and Arrow arrays are never
// written once made. Other types (dictionaries, extensions, nested) get
// array.MakeArrayOfNull's. The caller releases the arrays.
func makeNullArrays(mem memory.Allocator, fields []arrow.Field, n int) []arrow.Array {
	bitmap := int(bitutil.BytesForBits(int64(n)))
	size := bitmap
	for _, f := range fields {
		if b, ok := nullBufferLen(f.Type, n); ok {
			size = max(size, b)
		}
	}
	buf := memory.NewResizableBuffer(mem)
	defer buf.Release()
	buf.Resize(size)
	clear(buf.Bytes()) // (an allocator need not hand out zeroed memory)
	out := make([]arrow.Array, len(fields))
	for i, f := range fields {
		if _, ok := nullBufferLen(f.Type, n); !ok {
			out[i] = array.MakeArrayOfNull(mem, f.Type, n)
			continue
		}
		bufs := []*memory.Buffer{buf, buf}
		if _, binary := f.Type.(arrow.BinaryDataType); binary {
			bufs = append(bufs, buf) // (the values: none, all offsets are 0)
		}
		data := array.NewData(f.Type, n, bufs, nil, n, 0)
		out[i] = array.MakeFromData(data)
		data.Release()
	}
	return out
}

// nullBufferLen is the bytes an all-NULL array of t with n rows needs in
// its values or offsets buffer; false for the types makeNullArrays leaves
// to array.MakeArrayOfNull.
func nullBufferLen(t arrow.DataType, n int) (int, bool) {
	switch t := t.(type) {
	case *arrow.DictionaryType, arrow.ExtensionType, arrow.NestedType, *arrow.NullType:
		return 0, false
	case arrow.FixedWidthDataType:
		return int(bitutil.BytesForBits(int64(n) * int64(t.BitWidth()))), true
	case arrow.BinaryDataType:
		if l, ok := t.(arrow.OffsetsDataType); ok {
			return (n + 1) * l.OffsetTypeTraits().BytesRequired(1), true
		}
	}
	return 0, false
}
