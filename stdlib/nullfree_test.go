package stdlib

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/decimal256"
)

// TestNullFreeFunctions checks the declaration the planner trusts to make
// a computed output NOT NULL (Func.NullFree, exec.NullReason): bound to
// every combination of argument types it takes, and run over values at
// the edges (empty and odd text, zero and invalid dates, extreme numbers),
// a function declared NullFree gives NULL for no row it does not fail —
// a failed row never reaches the output, a NULL would reach a NOT NULL
// column. NullAware ones are run without NULL arguments.
func TestNullFreeFunctions(t *testing.T) {
	types := []Type{TString, TBinary, TJSON, TInt64, TUint64, TFloat64, {Kind: Int32}, {Kind: Decimal, Precision: 12, Scale: 2},
		{Kind: Decimal, Precision: 40, Scale: 5}, TDate, TTimestamp, TTime, TBool}
	checked := 0
	for _, f := range Funcs() {
		if !f.NullFree {
			continue
		}
		for n := f.MinArgs; n <= 3 && (f.MaxArgs < 0 || n <= f.MaxArgs); n++ {
			for _, combo := range combos(types, n) {
				args := make([]Arg, n)
				for i, ty := range combo {
					args[i] = Arg{Type: ty}
				}
				b, err := Bind(f.Name, args)
				if err != nil || b.Kernel == nil {
					continue
				}
				ts := combo
				if b.Args != nil {
					ts = b.Args
				}
				if bad := runEdges(b, ts); bad != "" {
					t.Errorf("%s(%s), declared NullFree: %s", f.Name, typeList(combo), bad)
				}
				checked++
			}
		}
	}
	if checked < 100 {
		t.Errorf("only %d bindings checked", checked)
	}
}

func combos(ts []Type, n int) [][]Type {
	if n == 0 {
		return [][]Type{nil}
	}
	var out [][]Type
	for _, c := range combos(ts, n-1) {
		for _, t := range ts {
			out = append(out, append(append([]Type(nil), c...), t))
		}
	}
	return out
}

func typeList(ts []Type) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.String())
	}
	return strings.Join(s, ", ")
}

// edges returns values at the edges of type t, as a source or an earlier
// expression may give them.
func edges(t Type) *Vector {
	day := func(y, m, d int64) int64 { return DaysFromCivil(y, m, d) }
	switch t.Physical() {
	case PhysBool:
		return &Vector{Type: t, Bool: []bool{true, false}}
	case PhysUint:
		return &Vector{Type: t, U64: []uint64{0, 1, 255, math.MaxUint64}}
	case PhysFloat:
		return &Vector{Type: t, F64: []float64{0, -0.5, 2.5, 1e308, -1e308, 5e-324}}
	case PhysDecimal:
		return &Vector{Type: t, Dec: []decimal256.Num{decimal256.FromI64(0), decimal256.FromI64(-150), decimal256.FromI64(99999)}}
	case PhysString:
		return &Vector{Type: t, Str: []string{"", "abc", " x ", "-12.5e3", "ẞß", "\xed\xa0\x80", "\xff", "0000-00-00", "2024-02-30", strings.Repeat("z", 300)}}
	case PhysInt:
		switch t.Kind {
		case Date:
			// (a zero date and an invalid one as the source's sentinels)
			return &Vector{Type: t, I64: []int64{0, -1, day(2024, 2, 29), day(9999, 12, 31), day(1000, 1, 1), InvalidDate(0, 0, 0), InvalidDate(2024, 2, 30)}}
		case Timestamp:
			return &Vector{Type: t, I64: []int64{0, -1, day(2024, 2, 29)*usPerDay + 123456, day(9999, 12, 31)*usPerDay + usPerDay - 1,
				DateToTimestamp(InvalidDate(0, 0, 0)), DateToTimestamp(InvalidDate(2024, 2, 30)) + 5*usPerHour}}
		case Time:
			return &Vector{Type: t, I64: []int64{0, -1, 838*usPerHour + 59*usPerMin + 59*usPerSec, -(838*usPerHour + 59*usPerMin + 59*usPerSec)}}
		}
		return &Vector{Type: t, I64: []int64{0, 1, -1, 255, math.MinInt64, math.MaxInt64}}
	}
	return nil
}

// runEdges runs b over every combination of the edge values of ts and
// describes the first row that is NULL without having failed.
func runEdges(b *Bound, ts []Type) (bad string) {
	vals := make([]*Vector, len(ts))
	rows := 1
	for i, t := range ts {
		if vals[i] = edges(t); vals[i] == nil {
			return ""
		}
		rows *= vals[i].Len()
	}
	args := make([]*Vector, len(ts))
	for i, t := range ts {
		args[i] = NewVector(t, rows)
	}
	for r := 0; r < rows; r++ {
		k := r
		for i, v := range vals {
			args[i].Set(r, v, k%v.Len(), rows)
			k /= v.Len()
		}
	}
	out := NewVector(b.Ret, rows)
	var c Ctx
	defer func() {
		if p := recover(); p != nil {
			bad = fmt.Sprintf("panic: %v", p)
		}
	}()
	b.Kernel(&c, args, nil, rows, out)
	failed := map[int]bool{}
	for _, e := range c.Errs {
		failed[e.Row] = true
	}
	for r := 0; r < rows; r++ {
		if out.IsNull(r) && !failed[r] {
			var vs []string
			for _, a := range args {
				s, _ := Format(a, r, DefaultFormat)
				vs = append(vs, s)
			}
			return fmt.Sprintf("NULL for (%s)", strings.Join(vs, ", "))
		}
	}
	return ""
}
