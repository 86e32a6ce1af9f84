package clickhouse

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"unsafe"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// The fast path of an insert. clickhouse-go's columns take Go slices and
// copy them value by value into the ch-go columns they wrap (a string at a
// time, into buffers that grow by doubling; a nulls slice made per call,
// then copied one byte at a time by Nullable), after columnSlice has made
// those slices from the Arrow columns — two copies, the first one per
// value. Both sides already hold the same layout: Arrow's value buffers are
// ch-go's numeric columns, Arrow's string data and offsets map onto
// proto.ColStr's Buf and Pos, Arrow's validity onto the Nullable null map,
// Arrow's decimals are the unscaled integers ch-go's decimal columns hold.
// So the fast path writes the ch-go columns straight from the Arrow
// buffers, in bulk where the rows are contiguous, into columns grown once
// per insert (reserve).
//
// The ch-go column is an unexported field of clickhouse-go's column; it is
// reached by reflection once per insert. When clickhouse-go's layout is not
// the one this was written against (a version change), findTarget reports
// false and the insert takes the slow path (columnSlice, then clickhouse-go's
// Append); TestFastPathFound fails then, so that it is not silent.
//
// Every check of the slow path holds: a NULL in a column that cannot hold
// one fails the insert naming the column and row (tombstones aside, see
// rows.dead), decimals wider than declared and dates outside the type's
// range fail it the same way (or, with out_of_range = 'null', are written
// as NULL), and only the live rows (the selection vector) are written.
// TestFastPathMatchesDriver compares what both paths write, column by
// column.

// chTarget is the ch-go column under a clickhouse-go column of an insert.
type chTarget struct {
	col   proto.Column    // *proto.ColStr, *proto.ColInt64, *proto.ColDecimal128, ...
	nulls *proto.ColUInt8 // the Nullable's null map; nil when not Nullable
}

var colUInt8Type = reflect.TypeOf(proto.ColUInt8{})

// unexported returns an unexported field of the struct v points to.
func unexported(v reflect.Value, name string) (reflect.Value, bool) {
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	f := v.Elem().FieldByName(name)
	if !f.IsValid() {
		return reflect.Value{}, false
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem(), true
}

// findTarget finds the ch-go column under c, a clickhouse-go column of one
// of the kinds the fast path writes, or Nullable of one.
func findTarget(c column.Interface) (chTarget, bool) {
	var t chTarget
	if n, ok := c.(*column.Nullable); ok {
		v := reflect.ValueOf(n)
		enable, ok1 := unexported(v, "enable")
		nulls, ok2 := unexported(v, "nulls")
		base, ok3 := unexported(v, "base")
		if !ok1 || !ok2 || !ok3 || enable.Kind() != reflect.Bool || !enable.Bool() || nulls.Type() != colUInt8Type {
			return t, false
		}
		b, ok := base.Interface().(column.Interface)
		if !ok {
			return t, false
		}
		t.nulls = nulls.Addr().Interface().(*proto.ColUInt8)
		c = b
	}
	switch c.(type) {
	case *column.String, *column.Decimal, *column.Date, *column.Date32,
		*column.Int8, *column.Int16, *column.Int32, *column.Int64,
		*column.UInt8, *column.UInt16, *column.UInt32, *column.UInt64,
		*column.Float32, *column.Float64:
	default:
		return t, false
	}
	f, ok := unexported(reflect.ValueOf(c), "col")
	if !ok {
		return t, false
	}
	var pc any
	switch f.Kind() {
	case reflect.Interface, reflect.Pointer:
		if f.IsNil() {
			return t, false
		}
		pc = f.Interface()
	default:
		pc = f.Addr().Interface()
	}
	switch pc.(type) {
	case *proto.ColStr, *proto.ColDate, *proto.ColDate32,
		*proto.ColDecimal32, *proto.ColDecimal64, *proto.ColDecimal128, *proto.ColDecimal256,
		*proto.ColInt8, *proto.ColInt16, *proto.ColInt32, *proto.ColInt64,
		*proto.ColUInt8, *proto.ColUInt16, *proto.ColUInt32, *proto.ColUInt64,
		*proto.ColFloat32, *proto.ColFloat64:
		t.col = pc.(proto.Column)
		return t, true
	}
	return t, false
}

// fastTarget returns the ch-go column the fast path writes c's values
// into, when col (the insert's clickhouse-go column for c) has the type c
// is written as and the fast path covers its kind.
func fastTarget(c *colSpec, col column.Interface) (chTarget, bool) {
	if normType(string(col.Type())) != normType(c.chType()) {
		return chTarget{}, false
	}
	t, ok := findTarget(col)
	if !ok || (t.nulls != nil) != c.nullable || !covers(c, t.col) {
		return chTarget{}, false
	}
	return t, true
}

// covers reports whether appendFast writes c's Arrow type into col.
func covers(c *colSpec, col proto.Column) bool {
	id := c.field.Type.ID()
	switch c.m.enc {
	case encPrimitive:
		switch id {
		case arrow.INT8:
			return is[*proto.ColInt8](col)
		case arrow.INT16:
			return is[*proto.ColInt16](col)
		case arrow.INT32:
			return is[*proto.ColInt32](col)
		case arrow.INT64:
			return is[*proto.ColInt64](col)
		case arrow.UINT8:
			return is[*proto.ColUInt8](col)
		case arrow.UINT16:
			return is[*proto.ColUInt16](col)
		case arrow.UINT32:
			return is[*proto.ColUInt32](col)
		case arrow.UINT64:
			return is[*proto.ColUInt64](col)
		case arrow.FLOAT32:
			return is[*proto.ColFloat32](col)
		case arrow.FLOAT64:
			return is[*proto.ColFloat64](col)
		}
	case encInt64:
		return (id == arrow.TIMESTAMP || id == arrow.DURATION) && is[*proto.ColInt64](col)
	case encBool:
		return id == arrow.BOOL && is[*proto.ColUInt8](col)
	case encString:
		switch id {
		case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
			return is[*proto.ColStr](col)
		}
	case encDecimal:
		switch id {
		case arrow.DECIMAL32, arrow.DECIMAL64, arrow.DECIMAL128, arrow.DECIMAL256:
			return is[*proto.ColDecimal32](col) || is[*proto.ColDecimal64](col) ||
				is[*proto.ColDecimal128](col) || is[*proto.ColDecimal256](col)
		}
	case encDate:
		return id == arrow.DATE32 && (is[*proto.ColDate](col) || is[*proto.ColDate32](col))
	}
	return false
}

// is reports whether col is a T.
func is[T proto.Column](col proto.Column) bool {
	_, ok := col.(T)
	return ok
}

// errNotCovered is a column appendFast was given but does not write:
// fastTarget let through what covers does not cover.
var errNotCovered = errors.New("no fast path")

// appendFast appends the live rows of arr, a column of c, to t.
func appendFast(t chTarget, c *colSpec, arr arrow.Array, r rows) error {
	switch c.m.enc {
	case encDecimal:
		return appendDecimals(t, c, arr, r)
	case encDate:
		return appendDates(t, c, arr, r)
	}
	if err := checkNulls(c, t.nulls != nil, arr, r); err != nil {
		return err
	}
	switch a := arr.(type) {
	case *array.Int8:
		appendValues((*[]int8)(t.col.(*proto.ColInt8)), arr, a.Int8Values(), r)
	case *array.Int16:
		appendValues((*[]int16)(t.col.(*proto.ColInt16)), arr, a.Int16Values(), r)
	case *array.Int32:
		appendValues((*[]int32)(t.col.(*proto.ColInt32)), arr, a.Int32Values(), r)
	case *array.Int64:
		appendValues((*[]int64)(t.col.(*proto.ColInt64)), arr, a.Int64Values(), r)
	case *array.Uint8:
		appendValues((*[]uint8)(t.col.(*proto.ColUInt8)), arr, a.Uint8Values(), r)
	case *array.Uint16:
		appendValues((*[]uint16)(t.col.(*proto.ColUInt16)), arr, a.Uint16Values(), r)
	case *array.Uint32:
		appendValues((*[]uint32)(t.col.(*proto.ColUInt32)), arr, a.Uint32Values(), r)
	case *array.Uint64:
		appendValues((*[]uint64)(t.col.(*proto.ColUInt64)), arr, a.Uint64Values(), r)
	case *array.Float32:
		appendValues((*[]float32)(t.col.(*proto.ColFloat32)), arr, a.Float32Values(), r)
	case *array.Float64:
		appendValues((*[]float64)(t.col.(*proto.ColFloat64)), arr, a.Float64Values(), r)
	case *array.Timestamp:
		appendValues((*[]int64)(t.col.(*proto.ColInt64)), arr, arrow.Int64Traits.CastFromBytes(arrow.TimestampTraits.CastToBytes(a.TimestampValues())), r)
	case *array.Duration:
		appendValues((*[]int64)(t.col.(*proto.ColInt64)), arr, arrow.Int64Traits.CastFromBytes(arrow.DurationTraits.CastToBytes(a.DurationValues())), r)
	case *array.Boolean:
		appendBools((*[]uint8)(t.col.(*proto.ColUInt8)), a, r)
	case *array.String:
		appendStrings(t.col.(*proto.ColStr), arr, a.ValueOffsets(), a.ValueBytes(), r)
	case *array.LargeString:
		appendStrings(t.col.(*proto.ColStr), arr, a.ValueOffsets(), a.ValueBytes(), r)
	case *array.Binary:
		appendStrings(t.col.(*proto.ColStr), arr, a.ValueOffsets(), a.ValueBytes(), r)
	case *array.LargeBinary:
		appendStrings(t.col.(*proto.ColStr), arr, a.ValueOffsets(), a.ValueBytes(), r)
	default:
		return fmt.Errorf("column %q: arrow %s into ClickHouse %s: %w", c.name, arr.DataType(), c.chType(), errNotCovered)
	}
	appendNulls(t.nulls, arr, r)
	return nil
}

// checkNulls returns the error gather returns for the first NULL among the
// live rows of arr that c cannot hold: any NULL when the column is not
// Nullable, except in tombstones' columns other than the key.
func checkNulls(c *colSpec, nullable bool, arr arrow.Array, r rows) error {
	if nullable {
		return nil
	}
	bm := nullBits(arr)
	if bm.bits == nil {
		return nil
	}
	for j, n := 0, r.len(); j < n; j++ {
		i := r.at(j)
		if bm.null(i) == 1 && (c.key || r.dead == nil || r.dead[i] == 0) {
			return nullError(c, i)
		}
	}
	return nil
}

// bitmap is an Arrow validity bitmap from the bit of an array's row 0.
type bitmap struct {
	bits []byte
	off  int
}

// nullBits returns arr's validity bitmap; its bits are nil when arr has no
// NULL.
func nullBits(arr arrow.Array) bitmap {
	if arr.NullN() == 0 || len(arr.NullBitmapBytes()) == 0 {
		return bitmap{}
	}
	return bitmap{arr.NullBitmapBytes(), arr.Data().Offset()}
}

// null is 1 when row i is NULL, else 0.
func (b bitmap) null(i int) uint8 {
	i += b.off
	return 1 &^ (b.bits[i>>3] >> (i & 7))
}

// appendNulls appends the null map of the live rows of arr: 1 for a NULL.
func appendNulls(nulls *proto.ColUInt8, arr arrow.Array, r rows) {
	if nulls == nil {
		return
	}
	n := r.len()
	bm := nullBits(arr)
	if bm.bits == nil {
		*nulls = append(*nulls, make([]uint8, n)...)
		return
	}
	s := slices.Grow(*nulls, n)
	m := s[len(s) : len(s)+n]
	if r.sel == nil {
		for j := range m {
			m[j] = bm.null(j)
		}
	} else {
		for j, i := range r.sel {
			m[j] = bm.null(int(i))
		}
	}
	*nulls = s[:len(s)+n]
}

// appendValues appends the live rows of values (arr's value buffer) to col;
// a NULL is written as zero, as clickhouse-go writes it.
func appendValues[T any](col *[]T, arr arrow.Array, values []T, r rows) {
	n := r.len()
	s := *col
	base := len(s)
	if r.sel == nil {
		s = append(s, values[:n]...)
	} else {
		s = slices.Grow(s, n)[:base+n]
		for j, i := range r.sel {
			s[base+j] = values[i]
		}
	}
	if bm := nullBits(arr); bm.bits != nil {
		var zero T
		for j := 0; j < n; j++ {
			if bm.null(r.at(j)) == 1 {
				s[base+j] = zero
			}
		}
	}
	*col = s
}

// appendBools appends the live rows of a as UInt8 0/1; a NULL as 0.
func appendBools(col *[]uint8, a *array.Boolean, r rows) {
	n := r.len()
	s := slices.Grow(*col, n)
	m := s[len(s) : len(s)+n]
	for j := range m {
		i := r.at(j)
		m[j] = 0
		if a.IsValid(i) && a.Value(i) {
			m[j] = 1
		}
	}
	*col = s[:len(s)+n]
}

// appendStrings appends the live rows of arr, a string or binary array with
// offsets offs and data (its data buffer from offs[0] to offs[len]), to
// col; a NULL as ”. Without a selection the data is copied at once and
// the positions are the Arrow offsets shifted; with one, row by row into
// capacity reserved for the rows' total length.
func appendStrings[O int32 | int64](col *proto.ColStr, arr arrow.Array, offs []O, data []byte, r rows) {
	n := r.len()
	first := offs[0]
	bm := nullBits(arr)
	bulk := r.sel == nil
	if bulk && bm.bits != nil {
		// Arrow lets a NULL cover bytes; clickhouse-go writes ''.
		for i := 0; i < n; i++ {
			if offs[i] != offs[i+1] && bm.null(i) == 1 {
				bulk = false
				break
			}
		}
	}
	pos := slices.Grow(col.Pos, n)
	if bulk {
		shift := len(col.Buf) - int(first)
		col.Buf = append(col.Buf, data...)
		p := pos[len(pos) : len(pos)+n]
		for i := range p {
			p[i] = proto.Position{Start: int(offs[i]) + shift, End: int(offs[i+1]) + shift}
		}
		col.Pos = pos[:len(pos)+n]
		return
	}
	total := 0
	for j := 0; j < n; j++ {
		i := r.at(j)
		if bm.bits == nil || bm.null(i) == 0 {
			total += int(offs[i+1] - offs[i])
		}
	}
	buf := slices.Grow(col.Buf, total)
	for j := 0; j < n; j++ {
		i := r.at(j)
		start := len(buf)
		if bm.bits == nil || bm.null(i) == 0 {
			buf = append(buf, data[offs[i]-first:offs[i+1]-first]...)
		}
		pos = append(pos, proto.Position{Start: start, End: len(buf)})
	}
	col.Buf, col.Pos = buf, pos
}

// appendDates appends the live rows of arr, an Arrow Date32, to t (Date or
// Date32), checking each against the type's range as columnSlice does.
func appendDates(t chTarget, c *colSpec, arr arrow.Array, r rows) error {
	if a, ok := arr.(*array.Date32); ok {
		switch col := t.col.(type) {
		case *proto.ColDate:
			return appendDays((*[]proto.Date)(col), t.nulls, c, a, r)
		case *proto.ColDate32:
			return appendDays((*[]proto.Date32)(col), t.nulls, c, a, r)
		}
	}
	return fmt.Errorf("column %q: arrow %s into ClickHouse %s: %w", c.name, arr.DataType(), c.chType(), errNotCovered)
}

func appendDays[T proto.Date | proto.Date32](col *[]T, nulls *proto.ColUInt8, c *colSpec, a *array.Date32, r rows) error {
	lo, hi := c.m.minDays, c.m.maxDays
	return appendRows(col, nulls, c, a, r, func(i int) (T, error) {
		d := int64(a.Value(i))
		if d < lo || d > hi {
			return 0, dateRangeError(c, d)
		}
		return T(d), nil
	})
}

// appendRows appends the live rows of arr to col, each converted by get,
// and their null map when the column is Nullable, as gather does: a NULL,
// or with out_of_range = 'null' a value out of range, is written as zero
// and NULL; a NULL in a column that cannot hold one fails, except in a
// tombstone's column other than the key, where it is written as zero.
func appendRows[T any](col *[]T, nulls *proto.ColUInt8, c *colSpec, arr arrow.Array, r rows, get func(i int) (T, error)) error {
	n := r.len()
	s := slices.Grow(*col, n)
	v := s[len(s) : len(s)+n]
	var m []uint8
	if nulls != nil {
		ns := slices.Grow(*nulls, n)
		m = ns[len(ns) : len(ns)+n]
		*nulls = ns[:len(ns)+n]
	}
	*col = s[:len(s)+n]
	bm := nullBits(arr)
	var zero T
	for j := range v {
		i := r.at(j)
		if bm.bits != nil && bm.null(i) == 1 {
			if m == nil && (c.key || r.dead == nil || r.dead[i] == 0) {
				return nullError(c, i)
			}
			v[j] = zero
			if m != nil {
				m[j] = 1
			}
			continue
		}
		x, err := get(i)
		if err != nil {
			var re *rangeError
			if m == nil || !c.outOfRangeNull || !errors.As(err, &re) {
				return err
			}
			v[j], m[j] = zero, 1
			continue
		}
		v[j] = x
		if m != nil {
			m[j] = 0
		}
	}
	return nil
}

// reserve grows t's columns once for rows more rows holding bytes more
// bytes of strings, instead of doubling as the rows are appended.
func (t chTarget) reserve(rows, bytes int) {
	if t.nulls != nil {
		*t.nulls = slices.Grow(*t.nulls, rows)
	}
	switch col := t.col.(type) {
	case *proto.ColStr:
		col.Pos = slices.Grow(col.Pos, rows)
		col.Buf = slices.Grow(col.Buf, bytes)
	case *proto.ColInt8:
		*col = slices.Grow(*col, rows)
	case *proto.ColInt16:
		*col = slices.Grow(*col, rows)
	case *proto.ColInt32:
		*col = slices.Grow(*col, rows)
	case *proto.ColInt64:
		*col = slices.Grow(*col, rows)
	case *proto.ColUInt8:
		*col = slices.Grow(*col, rows)
	case *proto.ColUInt16:
		*col = slices.Grow(*col, rows)
	case *proto.ColUInt32:
		*col = slices.Grow(*col, rows)
	case *proto.ColUInt64:
		*col = slices.Grow(*col, rows)
	case *proto.ColFloat32:
		*col = slices.Grow(*col, rows)
	case *proto.ColFloat64:
		*col = slices.Grow(*col, rows)
	case *proto.ColDate:
		*col = slices.Grow(*col, rows)
	case *proto.ColDate32:
		*col = slices.Grow(*col, rows)
	case *proto.ColDecimal32:
		*col = slices.Grow(*col, rows)
	case *proto.ColDecimal64:
		*col = slices.Grow(*col, rows)
	case *proto.ColDecimal128:
		*col = slices.Grow(*col, rows)
	case *proto.ColDecimal256:
		*col = slices.Grow(*col, rows)
	}
}

// stringBytes is the length of the strings in the live rows of arr (0 when
// arr is not a string or binary array): the Buf an insert reserves.
func stringBytes(arr arrow.Array, r rows) int {
	switch a := arr.(type) {
	case *array.String:
		return liveBytes(a.ValueOffsets(), r)
	case *array.LargeString:
		return liveBytes(a.ValueOffsets(), r)
	case *array.Binary:
		return liveBytes(a.ValueOffsets(), r)
	case *array.LargeBinary:
		return liveBytes(a.ValueOffsets(), r)
	}
	return 0
}

func liveBytes[O int32 | int64](offs []O, r rows) int {
	if r.sel == nil {
		return int(offs[len(offs)-1] - offs[0])
	}
	n := 0
	for _, i := range r.sel {
		n += int(offs[i+1] - offs[i])
	}
	return n
}
