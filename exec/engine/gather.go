package engine

import (
	"bytes"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func releaseAll(arrs []arrow.Array) {
	for _, a := range arrs {
		a.Release()
	}
}

func gatherUint64(mem memory.Allocator, a *array.Uint64, rows []int32) arrow.Array {
	bld := array.NewUint64Builder(mem)
	defer bld.Release()
	bld.Reserve(len(rows))
	vals := a.Uint64Values()
	for _, i := range rows {
		if a.IsNull(int(i)) {
			bld.AppendNull()
		} else {
			bld.UnsafeAppend(vals[i])
		}
	}
	return bld.NewArray()
}

func gatherTimestamp(mem memory.Allocator, a *array.Timestamp, rows []int32) arrow.Array {
	bld := array.NewTimestampBuilder(mem, a.DataType().(*arrow.TimestampType))
	defer bld.Release()
	bld.Reserve(len(rows))
	vals := a.TimestampValues()
	for _, i := range rows {
		if a.IsNull(int(i)) {
			bld.AppendNull()
		} else {
			bld.UnsafeAppend(vals[i])
		}
	}
	return bld.NewArray()
}

func gatherString(mem memory.Allocator, a *array.String, rows []int32) arrow.Array {
	bld := array.NewStringBuilder(mem)
	defer bld.Release()
	bld.Reserve(len(rows))
	for _, i := range rows {
		if a.IsNull(int(i)) {
			bld.AppendNull()
		} else {
			bld.Append(a.Value(int(i)))
		}
	}
	return bld.NewArray()
}

func uint8Array(mem memory.Allocator, vals []uint8) arrow.Array {
	bld := array.NewUint8Builder(mem)
	defer bld.Release()
	bld.AppendValues(vals, nil)
	return bld.NewArray()
}

// takeRows returns a record of the given rows of rec.
func takeRows(mem memory.Allocator, rec arrow.RecordBatch, rows []int) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, rec.NumCols())
	for c := range cols {
		parts := make([]arrow.Array, len(rows))
		for k, r := range rows {
			parts[k] = array.NewSlice(rec.Column(c), int64(r), int64(r+1))
		}
		cat, err := array.Concatenate(parts, mem)
		releaseAll(parts)
		if err != nil {
			releaseAll(cols[:c])
			return nil, err
		}
		cols[c] = cat
	}
	out := array.NewRecordBatch(rec.Schema(), cols, int64(len(rows)))
	releaseAll(cols)
	return out, nil
}

// sameValue compares a[i] and b[j] of the same type; NULL equals NULL (a
// key comparison, not SQL equality).
func sameValue(a arrow.Array, i int, b arrow.Array, j int) bool {
	an, bn := a.IsNull(i), b.IsNull(j)
	if an || bn {
		return an == bn
	}
	switch x := a.(type) {
	case *array.Int64:
		return x.Value(i) == b.(*array.Int64).Value(j)
	case *array.Int32:
		return x.Value(i) == b.(*array.Int32).Value(j)
	case *array.Uint64:
		return x.Value(i) == b.(*array.Uint64).Value(j)
	case *array.Uint32:
		return x.Value(i) == b.(*array.Uint32).Value(j)
	case *array.String:
		return x.Value(i) == b.(*array.String).Value(j)
	case *array.Binary:
		return bytes.Equal(x.Value(i), b.(*array.Binary).Value(j))
	}
	return a.ValueStr(i) == b.ValueStr(j)
}

// identity reports whether rows is 0, 1, …, n-1.
func identity(rows []int32, n int) bool {
	if len(rows) != n {
		return false
	}
	for i, r := range rows {
		if int(r) != i {
			return false
		}
	}
	return true
}
