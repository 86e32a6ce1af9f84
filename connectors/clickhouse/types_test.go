package clickhouse

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/exec"
)

// typeCase is one row of the Arrow → ClickHouse type map: values written
// into a column of the Arrow type, and what the server holds afterwards
// (its own text, through the expression expr, with {c} the column).
type typeCase struct {
	name   string
	typ    arrow.DataType
	meta   arrow.Metadata
	values []any
	// want maps a server generation to the stored type and texts.
	old, cur typeWant
}

type typeWant struct {
	chType string
	expr   string // default toString({c})
	texts  []string
}

func utc(y int, m time.Month, d, h, mi, s, us int) time.Time {
	return time.Date(y, m, d, h, mi, s, us*1000, time.UTC)
}

func typeCases() []typeCase {
	same := func(chType string, texts ...string) (typeWant, typeWant) {
		w := typeWant{chType: chType, texts: texts}
		return w, w
	}
	var cases []typeCase
	add := func(name string, typ arrow.DataType, values []any, old, cur typeWant) {
		cases = append(cases, typeCase{name: name, typ: typ, values: values, old: old, cur: cur})
	}
	o, c := same("Int8", "-128", "127", "NULL")
	add("int8", arrow.PrimitiveTypes.Int8, []any{math.MinInt8, math.MaxInt8, nil}, o, c)
	o, c = same("Int16", "-32768", "32767", "NULL")
	add("int16", arrow.PrimitiveTypes.Int16, []any{math.MinInt16, math.MaxInt16, nil}, o, c)
	o, c = same("Int32", "-2147483648", "2147483647", "NULL")
	add("int32", arrow.PrimitiveTypes.Int32, []any{math.MinInt32, math.MaxInt32, nil}, o, c)
	o, c = same("Int64", "-9223372036854775808", "9223372036854775807", "NULL")
	add("int64", arrow.PrimitiveTypes.Int64, []any{int64(math.MinInt64), int64(math.MaxInt64), nil}, o, c)
	o, c = same("UInt8", "0", "255", "NULL")
	add("uint8", arrow.PrimitiveTypes.Uint8, []any{0, math.MaxUint8, nil}, o, c)
	o, c = same("UInt16", "0", "65535", "NULL")
	add("uint16", arrow.PrimitiveTypes.Uint16, []any{0, math.MaxUint16, nil}, o, c)
	o, c = same("UInt32", "0", "4294967295", "NULL")
	add("uint32", arrow.PrimitiveTypes.Uint32, []any{0, uint32(math.MaxUint32), nil}, o, c)
	o, c = same("UInt64", "0", "18446744073709551615", "NULL")
	add("uint64", arrow.PrimitiveTypes.Uint64, []any{0, uint64(math.MaxUint64), nil}, o, c)
	o, c = same("Float32", "1.5", "-3.4028235e38", "NULL")
	add("float32", arrow.PrimitiveTypes.Float32, []any{float32(1.5), float32(-math.MaxFloat32), nil}, o, c)
	o, c = same("Float64", "0.1", "-1.7976931348623157e308", "NULL")
	add("float64", arrow.PrimitiveTypes.Float64, []any{0.1, -math.MaxFloat64, nil}, o, c)
	o, c = same("Decimal(12, 2)", "-9999999999.99", "0.01", "NULL")
	add("decimal(12,2)", &arrow.Decimal128Type{Precision: 12, Scale: 2}, []any{"-9999999999.99", "0.01", nil}, o, c)
	// 18.16's toString(Decimal128) prints garbage: read decimals as values.
	o, c = same("Decimal(38, 10)", "1234567890123456789012345678.0123456789", "-0.0000000001", "NULL")
	o.expr, c.expr = "{c}", "{c}"
	add("decimal(38,10)", &arrow.Decimal128Type{Precision: 38, Scale: 10},
		[]any{"1234567890123456789012345678.0123456789", "-0.0000000001", nil}, o, c)
	add("decimal(65,30)", &arrow.Decimal256Type{Precision: 65, Scale: 30},
		[]any{"-12345678901234567890123456789012345.123456789012345678901234567890", "0.000000000000000000000000000001", nil},
		typeWant{chType: "String", texts: []string{"-12345678901234567890123456789012345.123456789012345678901234567890", "0.000000000000000000000000000001", "NULL"}},
		typeWant{chType: "Decimal(65, 30)", texts: []string{"-12345678901234567890123456789012345.123456789012345678901234567890", "0.000000000000000000000000000001", "NULL"}})
	o, c = same("String", "héllo 'q' \\t €", "", "NULL")
	add("string", arrow.BinaryTypes.String, []any{"héllo 'q' \\t €", "", nil}, o, c)
	o, c = same("String", "00FF61", "", "NULL")
	o.expr, c.expr = "hex({c})", "hex({c})"
	add("binary", arrow.BinaryTypes.Binary, []any{[]byte{0, 0xff, 'a'}, []byte{}, nil}, o, c)
	o, c = same("UInt8", "1", "0", "NULL")
	add("bool", arrow.FixedWidthTypes.Boolean, []any{true, false, nil}, o, c)
	// Days since 1970-01-01: 18.16 prints day 0 as 0000-00-00.
	add("date", arrow.FixedWidthTypes.Date32,
		[]any{utc(2026, 1, 2, 0, 0, 0, 0), utc(1970, 1, 1, 0, 0, 0, 0), utc(2105, 12, 31, 0, 0, 0, 0), nil},
		typeWant{chType: "Date", expr: "toString(toInt32({c}))", texts: []string{"20455", "0", "49672", "NULL"}},
		typeWant{chType: "Date32", expr: "toString(toInt32({c}))", texts: []string{"20455", "0", "49672", "NULL"}})
	o, c = same("Date", "2026-01-02", "2105-12-31", "NULL")
	c.chType = "Date32"
	add("date text", arrow.FixedWidthTypes.Date32, []any{utc(2026, 1, 2, 0, 0, 0, 0), utc(2105, 12, 31, 0, 0, 0, 0), nil}, o, c)
	add("timestamp(us)", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"},
		[]any{utc(2026, 1, 2, 3, 4, 5, 123456), utc(1969, 12, 31, 23, 59, 59, 999999), utc(2038, 1, 19, 3, 14, 8, 1), nil},
		typeWant{chType: "Int64", texts: []string{"1767323045123456", "-1", "2147483648000001", "NULL"}},
		typeWant{chType: "DateTime64(6, 'UTC')", texts: []string{"2026-01-02 03:04:05.123456", "1969-12-31 23:59:59.999999", "2038-01-19 03:14:08.000001", "NULL"}})
	o, c = same("Int64", "-3020399000000", "90000000001", "NULL")
	add("time", arrow.FixedWidthTypes.Duration_us, []any{-(838*time.Hour + 59*time.Minute + 59*time.Second), 25*time.Hour + time.Microsecond, nil}, o, c)
	o, c = same("UInt16", "1901", "2155", "NULL")
	add("year", arrow.PrimitiveTypes.Uint16, []any{1901, 2155, nil}, o, c)
	o, c = same("UInt64", "0", "18446744073709551615", "NULL")
	add("bit(64)", arrow.PrimitiveTypes.Uint64, []any{0, uint64(math.MaxUint64), nil}, o, c)
	return cases
}

// TestTypeMap writes each row of the type map and reads it back exactly,
// into a Nullable column (NULL included) and into a non-Nullable one.
func TestTypeMap(t *testing.T) {
	e := newEnv(t, nil)
	for i, tc := range typeCases() {
		for _, null := range []bool{true, false} {
			name := tc.name
			if !null {
				name += " not null"
			}
			t.Run(name, func(t *testing.T) {
				fields := []arrow.Field{
					{Name: "id", Type: arrow.PrimitiveTypes.Int64},
					{Name: "c", Type: tc.typ, Nullable: null, Metadata: tc.meta},
				}
				s := sinktest.SinkSchema(fields, false)
				table := fmt.Sprintf("types_%d_%v", i, null)
				w := e.open(e.target(table, connectors.ModeUpsert, []string{"id"}, s, nil))
				want := tc.old
				if e.sink.version.hasDateTime64() {
					want = tc.cur
				}
				var rows [][]any
				var texts []string
				for j, v := range tc.values {
					if v == nil && !null {
						continue
					}
					rows = append(rows, sysRow(uint64(j+1), false, "read", j, v))
					texts = append(texts, want.texts[j])
				}
				var a acks
				write(t, w, e.build(s, rows...), a.done(0))
				flush(t, w)
				if _, errs := a.snapshot(); len(errs) > 0 {
					t.Fatal(errs)
				}
				wantType := want.chType
				if null {
					wantType = "Nullable(" + wantType + ")"
				}
				gotType := e.text("SELECT type FROM system.columns WHERE database = '" + e.db + "' AND table = '" + table + "' AND name = 'c'")
				if gotType != wantType+"\n" {
					t.Errorf("stored as %q, want %s", strings.TrimSpace(gotType), wantType)
				}
				expr := want.expr
				if expr == "" {
					expr = "toString({c})"
				}
				expr = strings.ReplaceAll(expr, "{c}", "c")
				got := e.text("SELECT " + expr + " FROM " + quote(e.db) + "." + quote(table) + " ORDER BY id")
				if w := strings.Join(texts, "\n") + "\n"; got != w {
					t.Errorf("read back\n%swant\n%s", got, w)
				}
			})
		}
	}
}

// TestRangeErrors: a value the ClickHouse type cannot hold fails the insert
// with a message naming the table, the row (source table, position,
// operation, values), the column and the value; nothing is truncated.
func TestRangeErrors(t *testing.T) {
	e := newEnv(t, nil)
	_, v, err := e.sink.connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, lo, _ := v.dateType()
	tooEarly := epoch.AddDate(0, 0, int(lo)-1)
	fields := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true}}
	s := sinktest.SinkSchema(fields, false)
	w := e.open(e.target("dates", connectors.ModeAppend, nil, s, nil))
	var a acks
	write(t, w, e.build(s, sysRow(1, false, "insert", 1, utc(2020, 1, 1, 0, 0, 0, 0)), sysRow(2, false, "insert", 2, tooEarly)), a.done(0))
	err = w.Flush(context.Background())
	day := tooEarly.Format("2006-01-02")
	want := `clickhouse insert into ` + e.db + `.dates: row of src.t at binlog.000001:2 (insert, id = 2, d = ` + day + `): column "d" = '` + day + `': date ` + day + ` is outside the range of ClickHouse`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
	if _, errs := a.snapshot(); errs[0] == nil {
		t.Error("done got no error")
	}
	if n := e.text("SELECT count() FROM " + quote(e.db) + ".dates"); n != "0\n" {
		t.Errorf("a failed insert wrote %s rows", n)
	}
}

var _ = exec.SysVersion

// TestOutOfRangeNull: with out_of_range = 'null', a date the type cannot
// hold (here a MySQL zero date sentinel) is written as NULL; by default it
// fails the insert with a message that names it.
func TestOutOfRangeNull(t *testing.T) {
	e := newEnv(t, nil)
	zero := epoch.AddDate(0, 0, int(zeroDateDays)-1000)
	fields := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	}
	s := sinktest.SinkSchema(fields, false)
	w := e.open(e.target("dates", connectors.ModeAppend, nil, s, map[string]any{"out_of_range": "null"}))
	write(t, w, e.build(s, sysRow(1, false, "insert", 1, utc(2020, 1, 1, 0, 0, 0, 0)), sysRow(2, false, "insert", 2, zero)), nil)
	flush(t, w)
	if got := e.text("SELECT id, toString(d) FROM " + quote(e.db) + ".dates ORDER BY id"); got != "1\t2020-01-01\n2\tNULL\n" {
		t.Errorf("got %q", got)
	}

	w2 := e.open(e.target("dates2", connectors.ModeAppend, nil, s, nil))
	write(t, w2, e.build(s, sysRow(2, false, "insert", 2, zero)), nil)
	err := w2.Flush(context.Background())
	if err == nil || !strings.Contains(err.Error(), `row of src.t at binlog.000001:2 (insert, id = 2, d = 0000-00-00): column "d" = '0000-00-00': date 0000-00-00 or another invalid date is outside the range`) {
		t.Errorf("got %v", err)
	}
}
