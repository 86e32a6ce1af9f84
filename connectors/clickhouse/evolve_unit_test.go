package clickhouse

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestArrowOfCH(t *testing.T) {
	i32, i64, u64 := arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Uint64
	f32, f64 := arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64
	d := func(p, s int32) arrow.DataType { return &arrow.Decimal128Type{Precision: p, Scale: s} }
	for ch, want := range map[string]arrow.DataType{"Int32": i32, "UInt64": u64, "Float32": f32, "Decimal(12, 2)": d(12, 2), "String": nil} {
		if got := arrowOfCH(ch); (got == nil) != (want == nil) || (got != nil && !arrow.TypeEqual(got, want)) {
			t.Errorf("arrowOfCH(%s) = %v", ch, got)
		}
	}
	if got := arrowOrText("String"); got == nil || !arrow.TypeEqual(got, arrow.BinaryTypes.String) || arrowOrText("Date") != nil {
		t.Errorf("arrowOrText(String) = %v", got)
	}
	// widenArray keeps values and nulls.
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := array.NewInt32Builder(mem)
	b.AppendValues([]int32{-5, 0, 2147483647}, nil)
	b.AppendNull()
	a := b.NewArray()
	b.Release()
	w := widenArray(a, i64)
	// A type change that is no widening: the text, or a DECIMAL.
	ws := widenArray(a, arrow.BinaryTypes.String)
	defer ws.Release()
	if ws.String() != `["-5" "0" "2147483647" (null)]` {
		t.Errorf("as text: %s", ws)
	}
	wd := widenArray(a, d(12, 2))
	defer wd.Release()
	if wd.String() != "[-5 0 2147483647 (null)]" || !arrow.TypeEqual(wd.DataType(), d(12, 2)) {
		t.Errorf("as DECIMAL(12,2): %s %s", wd, wd.DataType())
	}
	a.Release()
	defer w.Release()
	if w.String() != "[-5 0 2147483647 (null)]" || !arrow.TypeEqual(w.DataType(), i64) {
		t.Errorf("widened: %s %s", w, w.DataType())
	}
	// DECIMAL(12,3) to DECIMAL(16,4): the same values, one more fraction
	// digit.
	db := array.NewDecimal128Builder(mem, &arrow.Decimal128Type{Precision: 12, Scale: 3})
	for _, v := range []string{"-999999999.999", "0.001", "12.5"} {
		n, err := decimal128.FromString(v, 12, 3)
		if err != nil {
			t.Fatal(err)
		}
		db.Append(n)
	}
	db.AppendNull()
	da := db.NewArray()
	db.Release()
	dw := widenArray(da, d(16, 4))
	dt := widenArray(da, arrow.BinaryTypes.String)
	defer dt.Release()
	if dt.String() != `["-999999999.999" "0.001" "12.500" (null)]` {
		t.Errorf("decimal as text: %s", dt)
	}
	da.Release()
	defer dw.Release()
	var got []string
	for i := 0; i < dw.Len(); i++ {
		if dw.IsNull(i) {
			got = append(got, "null")
			continue
		}
		got = append(got, dw.(*array.Decimal128).Value(i).BigInt().String())
	}
	if strings.Join(got, " ") != "-9999999999990 10 125000 null" || !arrow.TypeEqual(dw.DataType(), d(16, 4)) {
		t.Errorf("widened decimal (unscaled): %v %s", got, dw.DataType())
	}
	if !roundsExisting(d(16, 4), d(12, 3)) || roundsExisting(d(16, 4), d(12, 4)) || !roundsExisting(f64, f32) || roundsExisting(i64, i32) {
		t.Error("roundsExisting")
	}
}

// TestAdoptSupertype (issue #12): a restart whose plan takes the type that
// holds the table's and another (String for INT and VARCHAR: one table of
// a pattern changed type while etlq was stopped) makes the column that
// type; a key column, which ClickHouse cannot change, is still refused.
func TestAdoptSupertype(t *testing.T) {
	col := func(typ arrow.DataType, key bool) *colSpec {
		f := arrow.Field{Name: "v", Type: typ, Nullable: !key}
		m, err := mapType(f, v1816)
		if err != nil {
			t.Fatal(err)
		}
		return &colSpec{name: "v", src: "v", field: f, m: m, nullable: !key, key: key}
	}
	for _, c := range []struct {
		table string
		typ   arrow.DataType
		want  string
	}{
		{"Nullable(Int32)", arrow.BinaryTypes.String, "MODIFY COLUMN `v` Nullable(String)"},
		{"Nullable(Decimal(10, 4))", &arrow.Decimal128Type{Precision: 12, Scale: 4}, "MODIFY COLUMN `v` Nullable(Decimal(12, 4))"},
		{"Nullable(Int32)", &arrow.Decimal128Type{Precision: 12, Scale: 2}, "MODIFY COLUMN `v` Nullable(Decimal(12, 2))"},
		// Neither holds the other: the type that holds both, a widening
		// of the table's (unix_timestamp of a DATETIME(3) become a
		// DATETIME(6) while etlq was stopped).
		{"Nullable(Decimal(22, 3))", &arrow.Decimal128Type{Precision: 22, Scale: 6}, "MODIFY COLUMN `v` Nullable(Decimal(25, 6))"},
	} {
		_, alter, err := adopt(col(c.typ, false), c.table, v1816)
		if err != nil || alter != c.want {
			t.Errorf("%s, etlq writes %s: %q, %v; want %q", c.table, c.typ, alter, err, c.want)
		}
	}
	if _, _, err := adopt(col(arrow.BinaryTypes.String, true), "Int32", v1816); err == nil || !strings.Contains(err.Error(), "changed outside etlq") {
		t.Errorf("a key column Int32, etlq writes String: %v, want the refusal", err)
	}
	if _, _, err := adopt(col(arrow.PrimitiveTypes.Int32, false), "Nullable(Date)", v1816); err == nil {
		t.Errorf("a Date column, etlq writes Int32: no refusal")
	}
}
