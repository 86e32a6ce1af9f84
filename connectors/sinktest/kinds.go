package sinktest

import (
	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/exec"
)

// AllTypes returns one nullable user field per Arrow type the sources
// produce, named after the type, plus a non-NULL "id" Int64 key first:
// id, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64, dec (Decimal128(12,2)),
// dec256 (Decimal256(40,10)), str, js (String, logical json), bin, day
// (Date32), ts (Timestamp µs UTC), tm (Duration µs, logical time), ok (Boolean).
func AllTypes() []arrow.Field {
	meta := arrow.NewMetadata
	return []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Metadata: meta([]string{exec.MetaPrimaryKey, exec.MetaSourceType}, []string{"1", "bigint"})},
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "i16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "u8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
		{Name: "u16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
		{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
		{Name: "u64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "dec", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}, Nullable: true},
		{Name: "dec256", Type: &arrow.Decimal256Type{Precision: 40, Scale: 10}, Nullable: true},
		{Name: "str", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "js", Type: arrow.BinaryTypes.String, Nullable: true, Metadata: meta([]string{exec.MetaLogicalType, exec.MetaSourceType}, []string{"json", "json"})},
		{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "tm", Type: arrow.FixedWidthTypes.Duration_us, Nullable: true, Metadata: meta([]string{exec.MetaLogicalType, exec.MetaSourceType}, []string{"time", "time(6)"})},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	}
}
