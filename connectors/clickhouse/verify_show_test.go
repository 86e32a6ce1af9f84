package clickhouse

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/exec"
)

// TestShownTime: a timestamp or time value's canonical verify text, as
// 18.16's Int64 and a newer server's DateTime64 give it, is shown as the
// source shows it — the column's fractional digits, a zero or invalid
// date as MySQL writes it, a TIME as [-]HH:MM:SS; NULL and other columns
// as they are. (verify listed 1711828800120000 for 2024-03-30 20:00:00.120
// on 18.16, TestVerifyShowsTimesAsTheSource.)
func TestShownTime(t *testing.T) {
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	field := func(name string, typ arrow.DataType, src string) arrow.Field {
		return arrow.Field{Name: name, Type: typ, Nullable: true, Metadata: arrow.NewMetadata([]string{exec.MetaSourceType}, []string{src})}
	}
	at := time.Date(2024, 3, 30, 20, 0, 0, 120e6, time.UTC)
	for _, tc := range []struct {
		f     arrow.Field
		v     serverVersion
		canon string
		shown string
	}{
		{field("dt", ts, "datetime(3)"), v1816, "1711828800120000", "2024-03-30 20:00:00.120"},
		{field("dt", ts, "datetime(3)"), v2403, at.Format("2006-01-02 15:04:05.999999999"), "2024-03-30 20:00:00.120"},
		{field("dt", ts, "datetime"), v1816, "1711828800000000", "2024-03-30 20:00:00"},
		{field("dt", ts, "datetime"), v2403, "2024-03-30 20:00:00", "2024-03-30 20:00:00"},
		{field("ts", ts, "timestamp(6)"), v1816, "1704164645000007", "2024-01-02 03:04:05.000007"},
		{field("z", ts, "datetime"), v1816, "-9223372036854775808", "0000-00-00 00:00:00"},
		{field("tm", arrow.FixedWidthTypes.Duration_us, "time"), v1816, "-3020399000000", "-838:59:59"},
		{field("tm", arrow.FixedWidthTypes.Duration_us, "time(2)"), v2403, "43200500000", "12:00:00.50"},
		{field("dt", ts, "datetime"), v1816, `\N`, `\N`},
		{field("n", arrow.PrimitiveTypes.Int64, "bigint"), v1816, "1711828800120000", "1711828800120000"},
	} {
		m, err := mapType(tc.f, tc.v)
		if err != nil {
			t.Fatal(err)
		}
		c := colSpec{name: tc.f.Name, src: tc.f.Name, field: tc.f, m: m}
		if got := shownTime(&c, tc.canon); got != tc.shown {
			t.Errorf("%s %s on %v: %q shown as %q, want %q", tc.f.Name, tc.f.Metadata, tc.v, tc.canon, got, tc.shown)
		}
	}
}

// TestShownDecimal: a DECIMAL's canonical verify text (clickhouse-go's
// decimal, trailing zeros dropped) is shown with the column's scale, as
// the source shows it. verify listed a DECIMAL(14,4) 68978.1080 as
// 68978.108 and a DECIMAL(15,2) 369534.00 as 369534 on both sides (trust-
// tools trial), which read as a value etlq had cut.
func TestShownDecimal(t *testing.T) {
	for _, tc := range []struct {
		typ   arrow.DataType
		canon string
		shown string
	}{
		{&arrow.Decimal128Type{Precision: 14, Scale: 4}, "68978.108", "68978.1080"},
		{&arrow.Decimal128Type{Precision: 15, Scale: 2}, "369534", "369534.00"},
		{&arrow.Decimal128Type{Precision: 15, Scale: 2}, "-0.5", "-0.50"},
		{&arrow.Decimal128Type{Precision: 12, Scale: 2}, "12.34", "12.34"},
		{&arrow.Decimal256Type{Precision: 65, Scale: 30}, "1", "1.000000000000000000000000000000"},
		{&arrow.Decimal128Type{Precision: 10, Scale: 0}, "42", "42"},
		{&arrow.Decimal128Type{Precision: 12, Scale: 2}, `\N`, `\N`},
		{&arrow.Decimal128Type{Precision: 12, Scale: 2}, "1.234", "1.234"},
		{arrow.PrimitiveTypes.Int64, "42", "42"},
	} {
		f := arrow.Field{Name: "d", Type: tc.typ, Nullable: true}
		m, err := mapType(f, v1816)
		if err != nil {
			t.Fatal(err)
		}
		c := colSpec{name: "d", src: "d", field: f, m: m}
		if got := shown(&c, tc.canon); got != tc.shown {
			t.Errorf("%s: %q shown as %q, want %q", tc.typ, tc.canon, got, tc.shown)
		}
	}
}
