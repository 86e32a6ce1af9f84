package sinktest

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// RowsOf converts a record into Reader rows, for sinks that store Arrow
// data (parquet): integers, floats, decimal strings, string, []byte,
// time.Time for dates and timestamps, time.Duration, bool; NULL is nil.
func RowsOf(rec arrow.RecordBatch) []map[string]any {
	n := int(rec.NumRows())
	rows := make([]map[string]any, n)
	for i := range rows {
		rows[i] = map[string]any{}
	}
	for c, f := range rec.Schema().Fields() {
		col := rec.Column(c)
		for i := 0; i < n; i++ {
			rows[i][f.Name] = valueAt(col, i)
		}
	}
	return rows
}

func valueAt(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.Boolean:
		return a.Value(i)
	case *array.Int8:
		return a.Value(i)
	case *array.Int16:
		return a.Value(i)
	case *array.Int32:
		return a.Value(i)
	case *array.Int64:
		return a.Value(i)
	case *array.Uint8:
		return a.Value(i)
	case *array.Uint16:
		return a.Value(i)
	case *array.Uint32:
		return a.Value(i)
	case *array.Uint64:
		return a.Value(i)
	case *array.Float32:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Decimal256:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal256Type).Scale)
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.Binary:
		return append([]byte(nil), a.Value(i)...)
	case *array.LargeBinary:
		return append([]byte(nil), a.Value(i)...)
	case *array.Date32:
		return a.Value(i).ToTime()
	case *array.Timestamp:
		return a.Value(i).ToTime(a.DataType().(*arrow.TimestampType).Unit)
	case *array.Duration:
		d := time.Duration(a.Value(i))
		switch a.DataType().(*arrow.DurationType).Unit {
		case arrow.Second:
			return d * time.Second
		case arrow.Millisecond:
			return d * time.Millisecond
		case arrow.Microsecond:
			return d * time.Microsecond
		}
		return d
	}
	return a.ValueStr(i)
}
