package clickhouse

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/ch-go/proto"
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
// So the fast path writes ch-go columns of its own (ch-go's public column
// API) straight from the Arrow buffers, in bulk where the rows are
// contiguous, into columns grown once per insert (reserve), and sends them
// over its own connection (native.go). The columns it does not cover
// (decimals as text, a table column of another type than etlq writes) go
// through clickhouse-go's public column API (driverCol).
//
// Every check of the slow path holds: a NULL in a column that cannot hold
// one fails the insert naming the column and row (tombstones aside, see
// rows.dead), decimals wider than declared and dates outside the type's
// range fail it the same way (or, with out_of_range = 'null', are written
// as NULL), and only the live rows (the selection vector) are written.
// TestFastPathMatchesDriver compares the bytes both paths put on the wire,
// column by column.

// chTarget is the ch-go column the fast path writes a column into.
type chTarget struct {
	col   proto.Column    // *proto.ColStr, *proto.ColInt64, *proto.ColDecimal128, ...
	nulls *proto.ColUInt8 // the Nullable's null map; nil when not Nullable
}

// newTarget makes the ch-go column c's values are written into when the
// table's column has type typ (as the server names it in its sample
// block) and the fast path covers c: typ must be the type c is written as.
func newTarget(c *colSpec, typ string) (chTarget, bool) {
	if normType(typ) != normType(c.chType()) {
		return chTarget{}, false
	}
	col := newColumn(c)
	if col == nil {
		return chTarget{}, false
	}
	t := chTarget{col: col}
	if c.nullable {
		t.nulls = new(proto.ColUInt8)
	}
	return t, true
}

// newColumn returns the ch-go column appendFast writes c's Arrow type
// into, nil when it writes none.
func newColumn(c *colSpec) proto.Column {
	id := c.field.Type.ID()
	switch c.m.enc {
	case encPrimitive:
		switch id {
		case arrow.INT8:
			return new(proto.ColInt8)
		case arrow.INT16:
			return new(proto.ColInt16)
		case arrow.INT32:
			return new(proto.ColInt32)
		case arrow.INT64:
			return new(proto.ColInt64)
		case arrow.UINT8:
			return new(proto.ColUInt8)
		case arrow.UINT16:
			return new(proto.ColUInt16)
		case arrow.UINT32:
			return new(proto.ColUInt32)
		case arrow.UINT64:
			return new(proto.ColUInt64)
		case arrow.FLOAT32:
			return new(proto.ColFloat32)
		case arrow.FLOAT64:
			return new(proto.ColFloat64)
		}
	case encInt64:
		if id == arrow.TIMESTAMP || id == arrow.DURATION {
			return new(proto.ColInt64)
		}
	case encBool:
		if id == arrow.BOOL {
			return new(proto.ColUInt8)
		}
	case encString:
		switch id {
		case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
			return new(proto.ColStr)
		}
	case encDecimal:
		// Decimal(P, S) is sent as the unscaled integer of the width P needs.
		switch p := c.field.Type.(arrow.DecimalType).GetPrecision(); {
		case p <= 9:
			return new(proto.ColDecimal32)
		case p <= 18:
			return new(proto.ColDecimal64)
		case p <= 38:
			return new(proto.ColDecimal128)
		case p <= 76:
			return new(proto.ColDecimal256)
		}
	case encDateTime64:
		// DateTime64(p) of the Arrow unit's precision: the same count.
		if id == arrow.TIMESTAMP {
			return new(proto.ColDateTime64)
		}
	case encDate:
		if id != arrow.DATE32 {
			return nil
		}
		switch c.m.base {
		case "Date":
			return new(proto.ColDate)
		case "Date32":
			return new(proto.ColDate32)
		}
	}
	return nil
}

// fastCol is a column of an insert's block written by the fast path: the
// ch-go column, after the null map when Nullable, under the type the
// server named (ch-go's own names, such as Decimal64, are not ones the
// server takes).
type fastCol struct {
	typ proto.ColumnType
	chTarget
}

var _ proto.ColInput = (*fastCol)(nil)

func (f *fastCol) Type() proto.ColumnType { return f.typ }
func (f *fastCol) Rows() int              { return f.col.Rows() }

func (f *fastCol) EncodeColumn(b *proto.Buffer) {
	if f.nulls != nil {
		f.nulls.EncodeColumn(b)
	}
	if s, ok := f.col.(*proto.ColStr); ok {
		encodeStrings(s, b)
		return
	}
	f.col.EncodeColumn(b)
}

// encodeStrings writes col as ch-go's ColStr.EncodeColumn does (each
// string's length as a uvarint, then its bytes), into b grown once: ch-go
// appends the length and the bytes separately, each append checking b's
// capacity, which made string columns an eighth of the catch-up's CPU.
func encodeStrings(col *proto.ColStr, b *proto.Buffer) {
	if len(col.Pos) == 0 {
		return
	}
	// The strings' total length bounds their bytes; a length takes at
	// most binary.MaxVarintLen64 bytes.
	total := 0
	for _, p := range col.Pos {
		total += p.End - p.Start
	}
	start := len(b.Buf)
	b.Buf = slices.Grow(b.Buf, total+binary.MaxVarintLen64*len(col.Pos))
	dst := b.Buf[start:cap(b.Buf)]
	src := col.Buf
	o := 0
	for _, p := range col.Pos {
		l := p.End - p.Start
		if l < 0x80 {
			dst[o] = byte(l)
			o++
		} else {
			o += binary.PutUvarint(dst[o:], uint64(l))
		}
		o += copy(dst[o:], src[p.Start:p.End])
	}
	b.Buf = b.Buf[:start+o]
}

func (f *fastCol) WriteColumn(w *proto.Writer) { w.ChainBuffer(f.EncodeColumn) }

// errNotCovered is a column appendFast was given but does not write:
// newTarget made a column appendFast has no case for.
var errNotCovered = errors.New("no fast path")

// appendFast appends the live rows of arr, a column of c, to t.
func appendFast(t chTarget, c *colSpec, arr arrow.Array, r rows) error {
	switch c.m.enc {
	case encDecimal:
		return appendDecimals(t, c, arr, r)
	case encDate:
		return appendDates(t, c, arr, r)
	case encDateTime64:
		return appendTimestamps(t, c, arr, r)
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

// appendTimestamps appends the live rows of arr, an Arrow Timestamp, to t
// (DateTime64 of the unit's precision, which counts the same units),
// checking each against the type's range as columnSlice does.
func appendTimestamps(t chTarget, c *colSpec, arr arrow.Array, r rows) error {
	a, ok := arr.(*array.Timestamp)
	col, ok2 := t.col.(*proto.ColDateTime64)
	if !ok || !ok2 {
		return fmt.Errorf("column %q: arrow %s into ClickHouse %s: %w", c.name, arr.DataType(), c.chType(), errNotCovered)
	}
	per := int64(time.Second / a.DataType().(*arrow.TimestampType).Unit.Multiplier())
	lo, hi := c.m.minSec, c.m.maxSec
	return appendRows(&col.Data, t.nulls, c, arr, r, func(i int) (proto.DateTime64, error) {
		v := int64(a.Value(i))
		sec := v / per
		if v%per < 0 {
			sec--
		}
		if sec < lo || sec > hi {
			return 0, timestampRangeError(c, i, sec)
		}
		return proto.DateTime64(v), nil
	})
}

func appendDays[T proto.Date | proto.Date32](col *[]T, nulls *proto.ColUInt8, c *colSpec, a *array.Date32, r rows) error {
	lo, hi := c.m.minDays, c.m.maxDays
	return appendRows(col, nulls, c, a, r, func(i int) (T, error) {
		d := int64(a.Value(i))
		if d < lo || d > hi {
			return 0, dateRangeError(c, i, d)
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
	case *proto.ColDateTime64:
		col.Data = slices.Grow(col.Data, rows)
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
