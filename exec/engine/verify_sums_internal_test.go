package engine

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// TestSumKind: the checksum kind of each source column type; a type the
// two servers do not write the same text for has none (the pipeline is
// streamed).
func TestSumKind(t *testing.T) {
	logical := func(typ arrow.DataType, lt string) arrow.Field {
		return arrow.Field{Name: "c", Type: typ, Metadata: arrow.NewMetadata([]string{exec.MetaLogicalType}, []string{lt})}
	}
	plain := func(typ arrow.DataType) arrow.Field { return arrow.Field{Name: "c", Type: typ} }
	for _, c := range []struct {
		f    arrow.Field
		want string
	}{
		{plain(arrow.PrimitiveTypes.Int8), connectors.SumInt},
		{plain(arrow.PrimitiveTypes.Int32), connectors.SumInt},
		{plain(arrow.PrimitiveTypes.Uint64), connectors.SumInt},
		{logical(arrow.PrimitiveTypes.Uint16, "year"), ""},
		{plain(arrow.BinaryTypes.String), connectors.SumString},
		{logical(arrow.BinaryTypes.String, "enum"), connectors.SumString},
		{logical(arrow.BinaryTypes.String, "json"), ""},
		{plain(&arrow.Decimal128Type{Precision: 10, Scale: 2}), connectors.SumDecimal},
		{plain(arrow.FixedWidthTypes.Date32), connectors.SumDate},
		{plain(&arrow.TimestampType{Unit: arrow.Microsecond}), connectors.SumMicros},
		{plain(&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}), connectors.SumMicros},
		{plain(&arrow.TimestampType{Unit: arrow.Millisecond}), ""},
		{plain(arrow.PrimitiveTypes.Float64), connectors.SumDouble},
		{plain(arrow.PrimitiveTypes.Float32), ""},
		{plain(arrow.BinaryTypes.Binary), ""},
		{plain(arrow.FixedWidthTypes.Time64us), ""},
	} {
		if got := sumKind(c.f); got != c.want {
			t.Errorf("%s %v: %q, want %q", c.f.Type, c.f.Metadata, got, c.want)
		}
	}
}

// TestLogName: a log's URL loses its credentials and scheme in ids.
func TestLogName(t *testing.T) {
	for raw, want := range map[string]string{
		"nats://127.0.0.1:14222":            "127.0.0.1:14222",
		"nats://user:p@ss@host:4222":        "host:4222",
		"tls://u:secret@nats.example.com:1": "nats.example.com:1",
		"host:4222":                         "host:4222",
	} {
		if got := logName(raw); got != want {
			t.Errorf("%s: %q, want %q", raw, got, want)
		}
	}
}
