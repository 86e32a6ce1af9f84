package exec

import (
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/decimal256"

	"github.com/etlq/etlq/stdlib"
)

// TestLenientTotal checks what NullReason trusts of an implicit
// conversion: one lenientTotal calls total gives NULL for none of the
// values at the edges of its source type (odd text, zero dates, extreme
// numbers, the widest decimal).
func TestLenientTotal(t *testing.T) {
	types := []stdlib.Type{stdlib.TString, stdlib.TBinary, stdlib.TJSON, stdlib.TBool, {Kind: stdlib.Int8}, {Kind: stdlib.Int32}, stdlib.TInt64,
		{Kind: stdlib.Uint8}, {Kind: stdlib.Uint32}, stdlib.TUint64, {Kind: stdlib.Float32}, stdlib.TFloat64,
		{Kind: stdlib.Decimal, Precision: 5, Scale: 2}, {Kind: stdlib.Decimal, Precision: 12, Scale: 2}, {Kind: stdlib.Decimal, Precision: 20, Scale: 0},
		{Kind: stdlib.Decimal, Precision: 40, Scale: 5}, {Kind: stdlib.Decimal, Precision: 65, Scale: 30}, stdlib.TDate, stdlib.TTimestamp, stdlib.TTime}
	total := 0
	for _, from := range types {
		for _, to := range types {
			if !lenientTotal(from, to) {
				continue
			}
			k, err := stdlib.CastKernel(from, to, stdlib.CastOptions{Lenient: true, Format: stdlib.DefaultFormat})
			if err != nil {
				continue
			}
			total++
			in := edgeValues(from)
			out := stdlib.NewVector(to, in.Len())
			var c stdlib.Ctx
			k(&c, []*stdlib.Vector{in}, nil, in.Len(), out)
			for i := 0; i < in.Len(); i++ {
				if out.IsNull(i) {
					s, _ := stdlib.Format(in, i, stdlib.DefaultFormat)
					t.Errorf("%s → %s, taken as total: NULL for %q", from, to, s)
				}
			}
		}
	}
	if total < 50 {
		t.Errorf("only %d conversions checked", total)
	}
}

func edgeValues(t stdlib.Type) *stdlib.Vector {
	day := stdlib.DaysFromCivil
	max := func(p int32) decimal256.Num { // 10^p - 1
		n := decimal256.FromI64(1)
		for i := int32(0); i < p; i++ {
			n = n.Mul(decimal256.FromI64(10))
		}
		return n.Sub(decimal256.FromI64(1))
	}
	switch t.Physical() {
	case stdlib.PhysBool:
		return &stdlib.Vector{Type: t, Bool: []bool{true, false}}
	case stdlib.PhysUint:
		hi := map[stdlib.Kind]uint64{stdlib.Uint8: math.MaxUint8, stdlib.Uint16: math.MaxUint16, stdlib.Uint32: math.MaxUint32, stdlib.Uint64: math.MaxUint64}[t.Kind]
		return &stdlib.Vector{Type: t, U64: []uint64{0, 1, hi}}
	case stdlib.PhysFloat:
		return &stdlib.Vector{Type: t, F64: []float64{0, -0.5, 1e308, -1e308, 5e-324, 3.4e38}}
	case stdlib.PhysDecimal:
		return &stdlib.Vector{Type: t, Dec: []decimal256.Num{decimal256.FromI64(0), decimal256.FromI64(-150), max(t.Precision), max(t.Precision).Negate()}}
	case stdlib.PhysString:
		return &stdlib.Vector{Type: t, Str: []string{"", "abc", " 12abc", "-12.5e3", "1e999", "ẞß", "\xff", "0000-00-00", "2024-02-30", "99999999999999999999999", strings.Repeat("9", 80)}}
	case stdlib.PhysInt:
		switch t.Kind {
		case stdlib.Date:
			return &stdlib.Vector{Type: t, I64: []int64{0, -1, day(9999, 12, 31), day(1000, 1, 1), stdlib.InvalidDate(0, 0, 0), stdlib.InvalidDate(2024, 2, 30)}}
		case stdlib.Timestamp:
			return &stdlib.Vector{Type: t, I64: []int64{0, -1, day(9999, 12, 31)*86400e6 + 86400e6 - 1, stdlib.DateToTimestamp(stdlib.InvalidDate(0, 0, 0)), stdlib.DateToTimestamp(stdlib.InvalidDate(2024, 2, 30)) + 3600e6}}
		case stdlib.Time:
			return &stdlib.Vector{Type: t, I64: []int64{0, -1, 3020399e6, -3020399e6}}
		}
		r := map[stdlib.Kind][2]int64{stdlib.Int8: {math.MinInt8, math.MaxInt8}, stdlib.Int16: {math.MinInt16, math.MaxInt16},
			stdlib.Int32: {math.MinInt32, math.MaxInt32}, stdlib.Int64: {math.MinInt64, math.MaxInt64}}[t.Kind]
		lo, hi := r[0], r[1]
		return &stdlib.Vector{Type: t, I64: []int64{0, 1, -1, lo, hi}}
	}
	return nil
}
