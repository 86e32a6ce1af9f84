package clickhouse

import (
	"fmt"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestDecimalFastPathFound fails when clickhouse-go's Decimal column no
// longer has the layout the fast path reaches into (it would then silently
// fall back to the slow path).
func TestDecimalFastPathFound(t *testing.T) {
	for _, typ := range []string{"Decimal(9, 2)", "Decimal(18, 4)", "Decimal(38, 10)", "Decimal(65, 30)"} {
		for _, null := range []bool{false, true} {
			ct := typ
			if null {
				ct = nullable(typ)
			}
			col, err := column.Type(ct).Column("c", nil)
			if err != nil {
				t.Fatal(err)
			}
			d, ok := findDecimalTarget(col)
			if !ok || (d.nulls != nil) != null {
				t.Errorf("%s: fast path not found", ct)
			}
		}
	}
}

// TestDecimalFastPathMatchesDriver appends the same Arrow decimals through
// the fast path and through clickhouse-go's own conversion, and compares
// what each column holds, NULLs, negatives and 38/65-digit values included.
func TestDecimalFastPathMatchesDriver(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cases := []struct {
		typ    arrow.DataType
		values []string
	}{
		{&arrow.Decimal128Type{Precision: 9, Scale: 2}, []string{"1234567.89", "-0.01", "", "0"}},
		{&arrow.Decimal128Type{Precision: 18, Scale: 4}, []string{"99999999999999.9999", "-99999999999999.9999", ""}},
		{&arrow.Decimal128Type{Precision: 38, Scale: 10}, []string{"1234567890123456789012345678.0123456789", "-9999999999999999999999999999.9999999999", "", "-0.0000000001"}},
		{&arrow.Decimal256Type{Precision: 65, Scale: 30}, []string{"-12345678901234567890123456789012345.123456789012345678901234567890", "", "1"}},
	}
	for _, tc := range cases {
		dt := tc.typ.(arrow.DecimalType)
		var arr arrow.Array
		switch tt := tc.typ.(type) {
		case *arrow.Decimal128Type:
			b := array.NewDecimal128Builder(mem, tt)
			for _, v := range tc.values {
				if v == "" {
					b.AppendNull()
					continue
				}
				n, err := decimal128.FromString(v, tt.Precision, tt.Scale)
				if err != nil {
					t.Fatal(err)
				}
				b.Append(n)
			}
			arr = b.NewArray()
			b.Release()
		case *arrow.Decimal256Type:
			b := array.NewDecimal256Builder(mem, tt)
			for _, v := range tc.values {
				if v == "" {
					b.AppendNull()
					continue
				}
				n, err := decimal256.FromString(v, tt.Precision, tt.Scale)
				if err != nil {
					t.Fatal(err)
				}
				b.Append(n)
			}
			arr = b.NewArray()
			b.Release()
		}
		chType := fmt.Sprintf("Decimal(%d, %d)", dt.GetPrecision(), dt.GetScale())
		c := &colSpec{name: "c", field: arrow.Field{Name: "c", Type: tc.typ, Nullable: true}, m: mapping{base: chType, enc: encDecimal}, nullable: true}
		r := rows{n: arr.Len()}
		fastCol, _ := column.Type(nullable(chType)).Column("c", nil)
		slowCol, _ := column.Type(nullable(chType)).Column("c", nil)
		target, ok := findDecimalTarget(fastCol)
		if !ok {
			t.Fatal("no fast path")
		}
		if err := appendDecimals(target, c, arr, r); err != nil {
			t.Fatal(err)
		}
		v, err := columnSlice(c, arr, r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := slowCol.Append(v); err != nil {
			t.Fatal(err)
		}
		if fastCol.Rows() != slowCol.Rows() || fastCol.Rows() != len(tc.values) {
			t.Fatalf("%s: rows %d vs %d", chType, fastCol.Rows(), slowCol.Rows())
		}
		for i := 0; i < fastCol.Rows(); i++ {
			f, s := fmt.Sprint(fastCol.Row(i, false)), fmt.Sprint(slowCol.Row(i, false))
			if f != s {
				t.Errorf("%s row %d: fast %s, driver %s", chType, i, f, s)
			}
		}
		arr.Release()
	}
}
