package clickhouse

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/shopspring/decimal"

	"github.com/etlq/etlq/exec"
)

var epoch = time.Unix(0, 0).UTC()

// dataError is a value ClickHouse cannot take: retrying does not help.
// One of a row (rowError) has row >= 0, the row's index in its batch, and
// column and reason apart, so that the writer can name the row
// (writer.describe) as exec.RowError does.
type dataError struct {
	msg    string
	row    int
	column string
	reason string
	re     *exec.RowError // the row named (describe)
}

func (e *dataError) Error() string { return e.msg }

// DataError marks it as the data's error (connectors.DataError): the
// pipeline that wrote it stops alone.
func (e *dataError) DataError() {}

// Unwrap gives the exec.RowError of a row's error, once its row is named.
func (e *dataError) Unwrap() error {
	if e.re == nil {
		return nil
	}
	return *e.re
}

// rowError is the error of the value at row of column c.
func rowError(c *colSpec, row int, reason string) *dataError {
	return &dataError{msg: fmt.Sprintf("column %q: %s", c.name, reason), row: row, column: c.name, reason: reason}
}

// rangeError is a date or timestamp outside the range of its ClickHouse
// type; with out_of_range = 'null' it is written as NULL instead.
type rangeError struct{ dataError }

// zeroDateDays: days before year 0 are a source's encoding of zero or
// invalid dates (MySQL's 0000-00-00), not calendar dates.
var zeroDateDays = days(0, 1, 1)

func describeDay(d int64) string {
	if d < zeroDateDays {
		return "0000-00-00 or another invalid date"
	}
	return dayString(d)
}

// dateRangeError is the error for day d outside the range of c's type.
func dateRangeError(c *colSpec, row int, d int64) error {
	return &rangeError{*rowError(c, row, fmt.Sprintf("date %s is outside the range of ClickHouse %s (%s..%s)",
		describeDay(d), c.m.base, dayString(c.m.minDays), dayString(c.m.maxDays)))}
}

// timestampRangeError is the error for second sec outside the range of
// c's DateTime64.
func timestampRangeError(c *colSpec, row int, sec int64) error {
	ts := time.Unix(sec, 0).UTC().Format(time.DateTime)
	if sec/86400 < zeroDateDays {
		ts = "0000-00-00 00:00:00 or another invalid date"
	}
	return &rangeError{*rowError(c, row, fmt.Sprintf("timestamp %s is outside the range of ClickHouse DateTime64 (%s..%s)",
		ts, dayString(c.m.minSec/86400), dayString(c.m.maxSec/86400)))}
}

// rows is the live rows of a batch: sel when set, else 0..n-1.
type rows struct {
	sel []int32
	n   int
	// dead[i] = 1 marks a tombstone row (__deleted = 1): its NULLs in
	// non-nullable columns are written as zero values, since only the key
	// of a tombstone matters.
	dead []uint8
	// bad, when set, takes the error of each row whose value cannot be
	// written, and the conversion goes on with the next row (the row's
	// value is left zero): one pass names every bad row (CheckRows).
	bad func(err error)
}

func (r rows) len() int {
	if r.sel != nil {
		return len(r.sel)
	}
	return r.n
}

func (r rows) at(j int) int {
	if r.sel != nil {
		return int(r.sel[j])
	}
	return j
}

// liveRows returns the live rows of b.
func liveRows(b *exec.Batch) rows {
	r := rows{sel: b.Sel, n: int(b.Record.NumRows())}
	if idx := b.Record.Schema().FieldIndices(exec.SysDeleted); len(idx) > 0 {
		if d, ok := b.Record.Column(idx[0]).(*array.Uint8); ok {
			r.dead = d.Uint8Values()
		}
	}
	return r
}

// nullError is the message for a NULL in a column that cannot hold one.
func nullError(c *colSpec, row int) error {
	return rowError(c, row, "NULL but ClickHouse column is "+c.chType())
}

// gather builds the clickhouse-go slice of column c from arr: []T, or []*T
// (pointers into one []T, no allocation per row) when c is Nullable.
// get converts the value at row i; it is never called for a NULL.
func gather[T any](c *colSpec, arr arrow.Array, r rows, get func(i int) (T, error)) (any, error) {
	n := r.len()
	vals := make([]T, n)
	var ptrs []*T
	if c.nullable {
		ptrs = make([]*T, n)
	}
	nulls := arr.NullN() > 0
	for j := 0; j < n; j++ {
		i := r.at(j)
		if nulls && arr.IsNull(i) {
			if c.nullable {
				continue
			}
			if c.key || r.dead == nil || r.dead[i] == 0 {
				if r.bad != nil {
					r.bad(nullError(c, i))
					continue
				}
				return nil, nullError(c, i)
			}
			continue // tombstone: zero value
		}
		v, err := get(i)
		if err != nil {
			var re *rangeError
			if c.nullable && c.outOfRangeNull && errors.As(err, &re) {
				continue // out_of_range = 'null'
			}
			if r.bad != nil {
				r.bad(err)
				continue
			}
			return nil, err
		}
		vals[j] = v
		if c.nullable {
			ptrs[j] = &vals[j]
		}
	}
	if c.nullable {
		return ptrs, nil
	}
	return vals, nil
}

// primitive handles the numeric types: with no selection, no NULLs and a
// non-Nullable target the Arrow value buffer itself is handed over.
func primitive[T any](c *colSpec, arr arrow.Array, values []T, r rows) (any, error) {
	if r.sel == nil && arr.NullN() == 0 && !c.nullable {
		return values, nil
	}
	return gather(c, arr, r, func(i int) (T, error) { return values[i], nil })
}

// columnSlice converts the live rows of one Arrow column to the slice
// clickhouse-go's Column(i).Append takes for c.
func columnSlice(c *colSpec, arr arrow.Array, r rows) (any, error) {
	switch c.m.enc {
	case encPrimitive:
		switch a := arr.(type) {
		case *array.Int8:
			return primitive(c, arr, a.Int8Values(), r)
		case *array.Int16:
			return primitive(c, arr, a.Int16Values(), r)
		case *array.Int32:
			return primitive(c, arr, a.Int32Values(), r)
		case *array.Int64:
			return primitive(c, arr, a.Int64Values(), r)
		case *array.Uint8:
			return primitive(c, arr, a.Uint8Values(), r)
		case *array.Uint16:
			return primitive(c, arr, a.Uint16Values(), r)
		case *array.Uint32:
			return primitive(c, arr, a.Uint32Values(), r)
		case *array.Uint64:
			return primitive(c, arr, a.Uint64Values(), r)
		case *array.Float32:
			return primitive(c, arr, a.Float32Values(), r)
		case *array.Float64:
			return primitive(c, arr, a.Float64Values(), r)
		}
	case encBool:
		if a, ok := arr.(*array.Boolean); ok {
			return gather(c, arr, r, func(i int) (uint8, error) {
				if a.Value(i) {
					return 1, nil
				}
				return 0, nil
			})
		}
	case encString:
		switch a := arr.(type) {
		case *array.String:
			return gather(c, arr, r, func(i int) (string, error) { return a.Value(i), nil })
		case *array.LargeString:
			return gather(c, arr, r, func(i int) (string, error) { return a.Value(i), nil })
		case *array.Binary:
			return gather(c, arr, r, func(i int) (string, error) { return a.ValueString(i), nil })
		case *array.LargeBinary:
			return gather(c, arr, r, func(i int) (string, error) { return a.ValueString(i), nil })
		}
	case encDecimal:
		dt := c.field.Type.(arrow.DecimalType)
		scale, prec := dt.GetScale(), dt.GetPrecision()
		tooWide := func(i int, s string) error {
			return rowError(c, i, fmt.Sprintf("%s has more digits than DECIMAL(%d,%d) holds", s, prec, scale))
		}
		switch a := arr.(type) {
		case *array.Decimal32:
			return gather(c, arr, r, func(i int) (decimal.Decimal, error) { return decimal.New(int64(a.Value(i)), -scale), nil })
		case *array.Decimal64:
			return gather(c, arr, r, func(i int) (decimal.Decimal, error) { return decimal.New(int64(a.Value(i)), -scale), nil })
		case *array.Decimal128:
			return gather(c, arr, r, func(i int) (decimal.Decimal, error) {
				n := a.Value(i)
				if !n.FitsInPrecision(prec) {
					return decimal.Decimal{}, tooWide(i, n.ToString(scale))
				}
				return dec128(n, scale), nil
			})
		case *array.Decimal256:
			return gather(c, arr, r, func(i int) (decimal.Decimal, error) {
				n := a.Value(i)
				if !n.FitsInPrecision(prec) {
					return decimal.Decimal{}, tooWide(i, n.ToString(scale))
				}
				return decimal.NewFromBigInt(n.BigInt(), -scale), nil
			})
		}
	case encDecimalText:
		scale := int32(c.field.Type.(arrow.DecimalType).GetScale())
		switch a := arr.(type) {
		case *array.Decimal128:
			return gather(c, arr, r, func(i int) (string, error) { return a.Value(i).ToString(scale), nil })
		case *array.Decimal256:
			return gather(c, arr, r, func(i int) (string, error) { return a.Value(i).ToString(scale), nil })
		}
	case encDate:
		if a, ok := arr.(*array.Date32); ok {
			lo, hi := c.m.minDays, c.m.maxDays
			return gather(c, arr, r, func(i int) (time.Time, error) {
				d := int64(a.Value(i))
				if d < lo || d > hi {
					return time.Time{}, dateRangeError(c, i, d)
				}
				return time.Unix(d*86400, 0).UTC(), nil
			})
		}
	case encDateTime64:
		if a, ok := arr.(*array.Timestamp); ok {
			unit := a.DataType().(*arrow.TimestampType).Unit
			per := int64(time.Second / unit.Multiplier())
			lo, hi := c.m.minSec, c.m.maxSec
			return gather(c, arr, r, func(i int) (time.Time, error) {
				v := int64(a.Value(i))
				sec, frac := v/per, v%per
				if frac < 0 {
					sec, frac = sec-1, frac+per
				}
				if sec < lo || sec > hi {
					return time.Time{}, timestampRangeError(c, i, sec)
				}
				return time.Unix(sec, frac*int64(unit.Multiplier())).UTC(), nil
			})
		}
	case encInt64:
		switch a := arr.(type) {
		case *array.Timestamp:
			return primitive(c, arr, arrow.Int64Traits.CastFromBytes(arrow.TimestampTraits.CastToBytes(a.TimestampValues())), r)
		case *array.Duration:
			return primitive(c, arr, arrow.Int64Traits.CastFromBytes(arrow.DurationTraits.CastToBytes(a.DurationValues())), r)
		}
	}
	return nil, fmt.Errorf("column %q: cannot write arrow %s as ClickHouse %s", c.name, arr.DataType(), c.chType())
}

// dec128 converts an Arrow decimal to a shopspring decimal, without big.Int
// arithmetic when the unscaled value fits in an int64.
func dec128(n decimal128.Num, scale int32) decimal.Decimal {
	lo, hi := n.LowBits(), n.HighBits()
	if (hi == 0 && lo <= math.MaxInt64) || (hi == -1 && lo > math.MaxInt64) {
		return decimal.New(int64(lo), -scale)
	}
	return decimal.NewFromBigInt(n.BigInt(), -scale)
}
