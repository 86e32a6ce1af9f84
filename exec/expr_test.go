package exec_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/stdlib"
)

// testRecord has one column per type, 4 rows, row 3 all NULL.
func testRecord(mem memory.Allocator) (arrow.RecordBatch, map[string]exec.Expr) {
	fields := []arrow.Field{
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "u", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "d", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "dt", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true,
			Metadata: arrow.NewMetadata([]string{exec.MetaSourceType}, []string{"datetime(3)"})},
		{Name: "tm", Type: &arrow.DurationType{Unit: arrow.Microsecond}, Nullable: true,
			Metadata: arrow.NewMetadata([]string{exec.MetaLogicalType, exec.MetaSourceType}, []string{"time", "time"})},
		{Name: "j", Type: arrow.BinaryTypes.String, Nullable: true, Metadata: arrow.NewMetadata([]string{exec.MetaLogicalType}, []string{"json"})},
		{Name: "y", Type: arrow.PrimitiveTypes.Uint16, Nullable: true, Metadata: arrow.NewMetadata([]string{exec.MetaLogicalType}, []string{"year"})},
	}
	schema := arrow.NewSchema(fields, nil)
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	valid := []bool{true, true, true, false}
	rb.Field(0).(*array.BooleanBuilder).AppendValues([]bool{true, false, true, false}, valid)
	rb.Field(1).(*array.Int8Builder).AppendValues([]int8{1, -128, 127, 0}, valid)
	rb.Field(2).(*array.Int32Builder).AppendValues([]int32{10, -2147483648, 7, 0}, valid)
	rb.Field(3).(*array.Int64Builder).AppendValues([]int64{5, -9223372036854775808, 9223372036854775807, 0}, valid)
	rb.Field(4).(*array.Uint64Builder).AppendValues([]uint64{3, 18446744073709551615, 0, 0}, valid)
	rb.Field(5).(*array.Float64Builder).AppendValues([]float64{1.5, -0.25, 1e300, 0}, valid)
	rb.Field(6).(*array.Float32Builder).AppendValues([]float32{1.1, 123456.789, -3, 0}, valid)
	decs := []decimal128.Num{decimal128.FromI64(1050), decimal128.FromI64(-1), decimal128.FromI64(99999999999), {}}
	rb.Field(7).(*array.Decimal128Builder).AppendValues(decs, valid)
	rb.Field(8).(*array.StringBuilder).AppendValues([]string{"abc", "", "Ünï", ""}, valid)
	rb.Field(9).(*array.BinaryBuilder).AppendValues([][]byte{{0, 1}, {}, []byte("x"), nil}, valid)
	d1, _ := stdlib.ParseDate("2024-02-29")
	d2, _ := stdlib.ParseDate("1969-12-31")
	rb.Field(10).(*array.Date32Builder).AppendValues([]arrow.Date32{arrow.Date32(d1), arrow.Date32(d2), 0, 0}, valid)
	t1, _ := stdlib.ParseTimestamp("2024-02-29 23:59:59.125")
	t2, _ := stdlib.ParseTimestamp("1969-12-31 23:59:59")
	rb.Field(11).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{arrow.Timestamp(t1), arrow.Timestamp(t2), 0, 0}, valid)
	tm1, _ := stdlib.ParseTime("-838:59:59")
	tm2, _ := stdlib.ParseTime("100:00:00.5")
	rb.Field(12).(*array.DurationBuilder).AppendValues([]arrow.Duration{arrow.Duration(tm1), arrow.Duration(tm2), 0, 0}, valid)
	rb.Field(13).(*array.StringBuilder).AppendValues([]string{`{"a": [1, 2]}`, `[]`, `"x"`, ""}, valid)
	rb.Field(14).(*array.Uint16Builder).AppendValues([]uint16{2024, 0, 1901, 0}, valid)
	rec := rb.NewRecordBatch()
	cols := map[string]exec.Expr{}
	for i, f := range fields {
		t, err := stdlib.FromField(f)
		if err != nil {
			panic(err)
		}
		cols[f.Name] = exec.Col(i, f.Name, t)
	}
	return rec, cols
}

// evalRows evaluates sql over the test record (OnErrorSkip) and returns
// each row as text: the value, "NULL" or "ERROR: reason".
func evalRows(t *testing.T, sql string) []string {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec, cols := testRecord(mem)
	defer rec.Release()
	e, err := parseMini(sql, cols)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if e, err = exec.Fold(e); err != nil {
		t.Fatal(err)
	}
	s, err := exec.Cast(e, stdlib.TString)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	p, err := exec.NewProgram(exec.ProgramConfig{Outputs: []exec.Expr{s}, Names: []string{"v"}, OnError: exec.OnErrorSkip, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	out, kept, _, rowErrs, err := p.Run(context.Background(), &exec.Batch{Record: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	got := make([]string, rec.NumRows())
	for _, re := range rowErrs {
		got[re.Row] = "ERROR: " + re.Reason
	}
	col := out.Column(0).(*array.String)
	for k, row := range kept {
		if col.IsNull(k) {
			got[row] = "NULL"
		} else {
			got[row] = col.Value(k)
		}
	}
	return got
}

func TestOperators(t *testing.T) {
	cases := []struct {
		sql  string
		want []string // per row; a want starting with "ERROR" matches any row error
	}{
		// arithmetic per type, NULL propagation in row 3
		{"i8 + 1", []string{"2", "-127", "128", "NULL"}},
		{"i32 * 2", []string{"20", "-4294967296", "14", "NULL"}},
		{"i + 1", []string{"6", "-9223372036854775807", "ERROR", "NULL"}},
		{"i - 1", []string{"4", "ERROR", "9223372036854775806", "NULL"}},
		{"i * i", []string{"25", "ERROR", "ERROR", "NULL"}},
		{"i % 3", []string{"2", "-2", "1", "NULL"}},
		{"i / 0", []string{"NULL", "NULL", "NULL", "NULL"}},
		{"i % 0", []string{"NULL", "NULL", "NULL", "NULL"}},
		// DIV: truncated toward zero, NULL for 0, a row error out of range.
		{"i DIV 2", []string{"2", "-4611686018427387904", "4611686018427387903", "NULL"}},
		{"i DIV -1", []string{"-5", "ERROR", "-9223372036854775807", "NULL"}},
		{"i DIV 0", []string{"NULL", "NULL", "NULL", "NULL"}},
		{"i32 DIV -3", []string{"-3", "715827882", "-2", "NULL"}},
		{"u DIV 2", []string{"1", "9223372036854775807", "0", "NULL"}},
		{"i8 DIV u", []string{"0", "0", "NULL", "NULL"}},
		{"u DIV -1", []string{"ERROR", "ERROR", "0", "NULL"}},
		{"d DIV 3", []string{"3", "0", "333333333", "NULL"}},
		{"d DIV -0.3", []string{"-35", "0", "-3333333333", "NULL"}},
		{"f DIV 0.1", []string{"15", "-2", "ERROR", "NULL"}},
		{"f32 DIV 2", []string{"0", "61728", "-1", "NULL"}},
		{"i / 2", []string{"2.5000", "-4611686018427387904.0000", "4611686018427387903.5000", "NULL"}},
		{"-i", []string{"-5", "ERROR", "-9223372036854775807", "NULL"}},
		{"u + 1", []string{"4", "ERROR", "1", "NULL"}},
		{"u - 1", []string{"2", "18446744073709551614", "ERROR", "NULL"}},
		{"u + i8", []string{"4", "18446744073709551487", "127", "NULL"}},
		{"i8 - u", []string{"ERROR", "ERROR", "127", "NULL"}},
		// % takes the dividend's sign and signedness, as MySQL
		{"i8 % u", []string{"1", "-128", "NULL", "NULL"}},
		{"mod(i, u)", []string{"2", "-9223372036854775808", "NULL", "NULL"}},
		{"u % -2", []string{"1", "1", "0", "NULL"}},
		{"u * 2", []string{"6", "ERROR", "0", "NULL"}},
		{"f * 2", []string{"3", "-0.5", "2e300", "NULL"}},
		{"f * 1e10", []string{"15000000000", "-2500000000", "ERROR", "NULL"}},
		{"f / 0", []string{"NULL", "NULL", "NULL", "NULL"}},
		{"f + i", []string{"6.5", "-9.223372036854776e18", "1e300", "NULL"}},
		{"f32 + 0", []string{"1.100000023841858", "123456.7890625", "-3", "NULL"}},
		{"d + 1", []string{"11.50", "0.99", "1000000000.99", "NULL"}},
		{"d + 0.005", []string{"10.505", "-0.005", "999999999.995", "NULL"}},
		{"d * d", []string{"110.2500", "0.0001", "999999999980000000.0001", "NULL"}},
		{"d / 3", []string{"3.500000", "-0.003333", "333333333.330000", "NULL"}},
		{"d % 4", []string{"2.50", "-0.01", "3.99", "NULL"}},
		{"d - 0.1 * 3", []string{"10.20", "-0.31", "999999999.69", "NULL"}},
		{"i8 + 1.5", []string{"2.5", "-126.5", "128.5", "NULL"}},
		{"-d", []string{"-10.50", "0.01", "-999999999.99", "NULL"}},
		// comparisons and three-valued logic
		{"i > 0", []string{"1", "0", "1", "NULL"}},
		{"i = u", []string{"0", "0", "0", "NULL"}},
		{"u > i", []string{"0", "1", "0", "NULL"}},
		{"d >= 10.5", []string{"1", "0", "1", "NULL"}},
		{"f < d", []string{"1", "1", "0", "NULL"}},
		{"s = 'abc'", []string{"1", "0", "0", "NULL"}},
		{"s <> ''", []string{"1", "0", "1", "NULL"}},
		{"s < 'b'", []string{"1", "1", "0", "NULL"}},
		{"i = '5'", []string{"1", "0", "0", "NULL"}},
		{"dt = '2024-02-29'", []string{"1", "0", "0", "NULL"}},
		{"ts > dt", []string{"1", "1", "0", "NULL"}},
		{"b AND i > 0", []string{"1", "0", "1", "NULL"}},
		{"b AND NULL", []string{"NULL", "0", "NULL", "NULL"}},
		{"b OR NULL", []string{"1", "NULL", "1", "NULL"}},
		{"NOT b", []string{"0", "1", "0", "NULL"}},
		{"i IS NULL", []string{"0", "0", "0", "1"}},
		{"s IS NOT NULL", []string{"1", "1", "1", "0"}},
		{"(i > 0) = TRUE", []string{"1", "0", "1", "NULL"}},
		{"s LIKE 'a%'", []string{"1", "0", "0", "NULL"}},
		{"s LIKE '_n%'", []string{"0", "0", "1", "NULL"}},
		{"s LIKE 'Ü__'", []string{"0", "0", "1", "NULL"}},
		{"'50%' LIKE '50\\%'", []string{"1", "1", "1", "1"}},
		// a number or a date matches as its text, as MySQL
		{"i8 LIKE '1%'", []string{"1", "0", "1", "NULL"}},
		{"d LIKE '%.50'", []string{"1", "0", "0", "NULL"}},
		{"dt NOT LIKE '2024-%'", []string{"0", "1", "1", "NULL"}},
		{"s || '!'", []string{"abc!", "!", "Ünï!", "NULL"}},
		{"i IN (5, 7)", []string{"1", "0", "0", "NULL"}},
		{"i IN (5, NULL)", []string{"1", "NULL", "NULL", "NULL"}},
		{"NOT (i IN (5, NULL))", []string{"0", "NULL", "NULL", "NULL"}},
		{"s IN ('abc', i32)", []string{"1", "0", "0", "NULL"}},
		// each item compares as x = item: signed with unsigned exactly,
		// text with numbers as numbers
		{"u IN (-1, 3)", []string{"1", "0", "0", "NULL"}},
		{"u NOT IN (-1, 3)", []string{"0", "1", "1", "NULL"}},
		{"CAST(i8 AS STRING) IN (1, 127.0)", []string{"1", "0", "1", "NULL"}},
		{"i8 IN (1, 127.0, NULL)", []string{"1", "NULL", "1", "NULL"}},
		// CASE laziness: 1/0-like failures in branches not taken do not count
		{"CASE WHEN i > 0 THEN i + 1 ELSE 0 END", []string{"6", "0", "ERROR", "0"}},
		{"CASE WHEN i < 9223372036854775807 THEN i + 1 ELSE -1 END", []string{"6", "-9223372036854775807", "-1", "-1"}},
		{"if(i > 0, 'pos', 'neg')", []string{"pos", "neg", "pos", "neg"}},
		{"coalesce(s, 'none')", []string{"abc", "", "Ünï", "none"}},
		{"hex(u)", []string{"3", "FFFFFFFFFFFFFFFF", "0", "NULL"}},
		{"hex(i8)", []string{"1", "FFFFFFFFFFFFFF80", "7F", "NULL"}},
		{"nullif(i8, 1)", []string{"NULL", "-128", "127", "NULL"}},
		// CAST: source formats and errors
		{"CAST(ts AS STRING)", []string{"2024-02-29 23:59:59.125", "1969-12-31 23:59:59.000", "1970-01-01 00:00:00.000", "NULL"}},
		{"CAST(tm AS STRING)", []string{"-838:59:59", "100:00:00", "00:00:00", "NULL"}},
		{"CAST(y AS STRING)", []string{"2024", "0000", "1901", "NULL"}},
		{"CAST(f32 AS STRING)", []string{"1.1", "123457", "-3", "NULL"}},
		{"CAST(d AS STRING)", []string{"10.50", "-0.01", "999999999.99", "NULL"}},
		{"CAST(dt AS STRING)", []string{"2024-02-29", "1969-12-31", "1970-01-01", "NULL"}},
		{"CAST(b AS STRING)", []string{"1", "0", "1", "NULL"}},
		{"CAST(j AS STRING)", []string{`{"a": [1, 2]}`, "[]", `"x"`, "NULL"}},
		{"CAST(bin AS STRING) = unhex('0001')", []string{"1", "0", "0", "NULL"}},
		{"CAST(s AS INT64)", []string{"ERROR", "ERROR", "ERROR", "NULL"}},
		{"CAST(i AS INT32)", []string{"5", "ERROR", "ERROR", "NULL"}},
		{"CAST(i8 AS UINT8)", []string{"1", "ERROR", "127", "NULL"}},
		{"CAST(u AS INT64)", []string{"3", "ERROR", "0", "NULL"}},
		{"CAST(d AS DECIMAL(5,1))", []string{"10.5", "0.0", "ERROR", "NULL"}},
		{"CAST(d AS INT64)", []string{"11", "0", "1000000000", "NULL"}},
		{"CAST(f AS DECIMAL(10,3))", []string{"1.500", "-0.250", "ERROR", "NULL"}},
		{"CAST('12.5' AS DECIMAL(4,1)) + d", []string{"23.00", "12.49", "1000000012.49", "NULL"}},
		{"CAST(s AS DATE)", []string{"ERROR", "ERROR", "ERROR", "NULL"}},
		{"CAST('2024-13-01' AS DATE)", []string{"ERROR", "ERROR", "ERROR", "ERROR"}},
		{"CAST(ts AS DATE)", []string{"2024-02-29", "1969-12-31", "1970-01-01", "NULL"}},
		{"CAST(dt AS TIMESTAMP)", []string{"2024-02-29 00:00:00", "1969-12-31 00:00:00", "1970-01-01 00:00:00", "NULL"}},
		{"CAST(' 42 ' AS INT64) + i8", []string{"43", "-86", "169", "NULL"}},
		{"CAST(i AS FLOAT64)", []string{"5", "-9.223372036854776e18", "9.223372036854776e18", "NULL"}},
		{"CAST('{\"a\":1}' AS JSON)", []string{`{"a":1}`, `{"a":1}`, `{"a":1}`, `{"a":1}`}},
		{"CAST('{bad' AS JSON)", []string{"ERROR", "ERROR", "ERROR", "ERROR"}},
		// temporal arithmetic
		{"dt + INTERVAL 1 DAY", []string{"2024-03-01", "1970-01-01", "1970-01-02", "NULL"}},
		{"ts - INTERVAL 1 MONTH", []string{"2024-01-29 23:59:59.125000", "1969-11-30 23:59:59", "1969-12-01 00:00:00", "NULL"}},
		{"dt + INTERVAL 1 YEAR", []string{"2025-02-28", "1970-12-31", "1971-01-01", "NULL"}},
		// past year 9999 is NULL, as MySQL and date_add()
		{"dt + INTERVAL 8000 YEAR", []string{"NULL", "9969-12-31", "9970-01-01", "NULL"}},
		{"ts - INTERVAL 2000 YEAR", []string{"0024-02-29 23:59:59.125000", "NULL", "NULL", "NULL"}},
	}
	for _, c := range cases {
		got := evalRows(t, c.sql)
		for row, want := range c.want {
			g := got[row]
			if want == "ERROR" && strings.HasPrefix(g, "ERROR") {
				continue
			}
			if g != want {
				t.Errorf("%s row %d = %q, want %q", c.sql, row, g, want)
			}
		}
	}
}

func TestConstructorErrors(t *testing.T) {
	i := exec.Col(0, "i", stdlib.TInt64)
	s := exec.Col(1, "s", stdlib.TString)
	// Text is no number in arithmetic (MySQL reads '12abc' as 12): the
	// error says how to convert it, and that rows that are no number then
	// fail.
	const hint = ` (text is no number in arithmetic: CAST(x AS INT64) or CAST(x AS DECIMAL(p,s)) reads one, and a value that is not a number is then a row error, handled by on_error)`
	if _, err := exec.Binary("+", s, i); err == nil || err.Error() != `operator "+" cannot take STRING and INT64`+hint {
		t.Errorf("got %v", err)
	}
	if _, err := exec.Binary("DIV", i, s); err == nil || err.Error() != `operator "DIV" cannot take INT64 and STRING`+hint {
		t.Errorf("got %v", err)
	}
	if _, err := exec.Unary("-", s); err == nil || err.Error() != `operator "-" cannot take STRING`+hint {
		t.Errorf("got %v", err)
	}
	d, _ := exec.Lit("2024-01-02", stdlib.TDate)
	if _, err := exec.Binary("*", d, i); err == nil || err.Error() != `operator "*" cannot take DATE and INT64` {
		t.Errorf("got %v", err)
	}
	one, _ := exec.Lit(int64(1), stdlib.TInt64)
	if _, err := exec.Call("substr", []exec.Expr{s}); err == nil || err.Error() != `function "substr" takes 2 or 3 arguments, got 1` {
		t.Errorf("got %v", err)
	}
	if _, err := exec.Call("round", []exec.Expr{i, s}); err == nil || err.Error() != `argument 2 of "round" must be an integer, got STRING` {
		t.Errorf("got %v", err)
	}
	if _, err := exec.Call("nosuch", []exec.Expr{one}); !errors.Is(err, exec.ErrUnknownFunction) {
		t.Errorf("got %v", err)
	}
	if _, err := exec.Lit("2024-02-30", stdlib.TDate); err == nil {
		t.Error("bad date literal accepted")
	}
	if _, err := exec.Lit("x", stdlib.Dec(5, 2)); err == nil {
		t.Error("bad decimal literal accepted")
	}
	if _, err := exec.Cast(exec.Col(0, "iv", stdlib.TInterval), stdlib.TInt64); err == nil {
		t.Error("cast of interval accepted")
	}
	if _, err := exec.NewProgram(exec.ProgramConfig{Where: exec.Col(0, "iv", stdlib.TInterval)}); err == nil {
		t.Error("interval WHERE accepted")
	}
}

func TestFold(t *testing.T) {
	e, err := parseMini("1 + 2 * 3", nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := exec.Fold(e)
	if err != nil {
		t.Fatal(err)
	}
	if f.String() != "7" || f.Type() != stdlib.TInt64 {
		t.Errorf("fold = %s %s", f, f.Type())
	}
	// A constant that fails stays unfolded, to fail per row.
	e, _ = parseMini("CAST('x' AS INT64)", nil)
	f, _ = exec.Fold(e)
	if f.String() == "NULL" {
		t.Errorf("failing constant folded to %s", f)
	}
	// Columns are not folded.
	i := exec.Col(0, "i", stdlib.TInt64)
	two, _ := exec.Lit(int64(2), stdlib.TInt64)
	e, _ = exec.Binary("+", i, two)
	if f, _ := exec.Fold(e); f.String() != "(i + 2)" {
		t.Errorf("fold = %s", f)
	}
}
