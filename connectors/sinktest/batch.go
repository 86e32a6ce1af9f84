package sinktest

import (
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/exec"
)

// SinkSchema returns a sink schema: the user fields, their __before.*
// copies when before is set, then exec.SysFields.
func SinkSchema(user []arrow.Field, before bool) *arrow.Schema {
	fs := append([]arrow.Field(nil), user...)
	if before {
		for _, f := range user {
			f.Name = exec.SysBeforePrefix + f.Name
			f.Nullable = true
			fs = append(fs, f)
		}
	}
	fs = append(fs, exec.SysFields()...)
	return arrow.NewSchema(fs, nil)
}

// Build makes a batch of schema s from rows, each row one Go value per
// column in schema order (nil is NULL). Values: any Go integer for integer
// columns, float32/float64, a string ("12.30") for decimals, string, []byte,
// time.Time for dates and timestamps, time.Duration for durations, bool.
// It panics on a value that does not fit, which is a bug in the test.
func Build(mem memory.Allocator, s *arrow.Schema, db, table string, rows ...[]any) *exec.Batch {
	rb := array.NewRecordBuilder(mem, s)
	defer rb.Release()
	for _, row := range rows {
		if len(row) != s.NumFields() {
			panic(fmt.Sprintf("sinktest: row has %d values, schema %d", len(row), s.NumFields()))
		}
		for c, v := range row {
			appendValue(rb.Field(c), v)
		}
	}
	return &exec.Batch{Record: rb.NewRecordBatch(), DB: db, Table: table}
}

func appendValue(b array.Builder, v any) {
	if v == nil {
		b.AppendNull()
		return
	}
	switch b := b.(type) {
	case *array.Int8Builder:
		b.Append(int8(toInt(v)))
	case *array.Int16Builder:
		b.Append(int16(toInt(v)))
	case *array.Int32Builder:
		b.Append(int32(toInt(v)))
	case *array.Int64Builder:
		b.Append(toInt(v))
	case *array.Uint8Builder:
		b.Append(uint8(toUint(v)))
	case *array.Uint16Builder:
		b.Append(uint16(toUint(v)))
	case *array.Uint32Builder:
		b.Append(uint32(toUint(v)))
	case *array.Uint64Builder:
		b.Append(toUint(v))
	case *array.Float32Builder:
		switch v := v.(type) {
		case float32:
			b.Append(v)
		default:
			b.Append(float32(v.(float64)))
		}
	case *array.Float64Builder:
		switch v := v.(type) {
		case float32:
			b.Append(float64(v))
		default:
			b.Append(v.(float64))
		}
	case *array.Decimal128Builder:
		t := b.Type().(*arrow.Decimal128Type)
		n, err := decimal128.FromString(v.(string), t.Precision, t.Scale)
		if err != nil {
			panic(err)
		}
		b.Append(n)
	case *array.Decimal256Builder:
		t := b.Type().(*arrow.Decimal256Type)
		n, err := decimal256.FromString(v.(string), t.Precision, t.Scale)
		if err != nil {
			panic(err)
		}
		b.Append(n)
	case *array.StringBuilder:
		b.Append(v.(string))
	case *array.BinaryBuilder:
		switch v := v.(type) {
		case string:
			b.AppendString(v)
		default:
			b.Append(v.([]byte))
		}
	case *array.BooleanBuilder:
		b.Append(v.(bool))
	case *array.Date32Builder:
		b.Append(arrow.Date32FromTime(v.(time.Time)))
	case *array.TimestampBuilder:
		ts, err := arrow.TimestampFromTime(v.(time.Time), b.Type().(*arrow.TimestampType).Unit)
		if err != nil {
			panic(err)
		}
		b.Append(ts)
	case *array.DurationBuilder:
		d := v.(time.Duration)
		switch b.Type().(*arrow.DurationType).Unit {
		case arrow.Second:
			b.Append(arrow.Duration(d / time.Second))
		case arrow.Millisecond:
			b.Append(arrow.Duration(d / time.Millisecond))
		case arrow.Microsecond:
			b.Append(arrow.Duration(d / time.Microsecond))
		default:
			b.Append(arrow.Duration(d))
		}
	default:
		panic(fmt.Sprintf("sinktest: no builder for %s", b.Type()))
	}
}

func toInt(v any) int64 {
	switch v := v.(type) {
	case int:
		return int64(v)
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case int64:
		return v
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	}
	panic(fmt.Sprintf("sinktest: %T is not a signed integer", v))
}

func toUint(v any) uint64 {
	switch v := v.(type) {
	case int:
		return uint64(v)
	case uint:
		return uint64(v)
	case uint8:
		return uint64(v)
	case uint16:
		return uint64(v)
	case uint32:
		return uint64(v)
	case uint64:
		return v
	}
	panic(fmt.Sprintf("sinktest: %T is not an unsigned integer", v))
}
