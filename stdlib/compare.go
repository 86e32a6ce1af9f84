package stdlib

import (
	"cmp"
	"strings"
)

// CompareSlot compares row i of a and b (same physical type, or signed with
// unsigned integers), neither NULL.
func CompareSlot(a, b *Vector, i int) int {
	x, y := a.Idx(i), b.Idx(i)
	switch {
	case a.Bool != nil:
		return cmpBool(a.Bool[x], b.Bool[y])
	case a.Dec != nil:
		return DecCmp(a.Dec[x], b.Dec[y])
	case a.I64 != nil && b.I64 != nil:
		return cmp.Compare(a.I64[x], b.I64[y])
	case a.U64 != nil && b.U64 != nil:
		return cmp.Compare(a.U64[x], b.U64[y])
	case a.I64 != nil && b.U64 != nil:
		if a.I64[x] < 0 {
			return -1
		}
		return cmp.Compare(uint64(a.I64[x]), b.U64[y])
	case a.U64 != nil && b.I64 != nil:
		if b.I64[y] < 0 {
			return 1
		}
		return cmp.Compare(a.U64[x], uint64(b.I64[y]))
	case a.F64 != nil:
		return cmp.Compare(a.F64[x], b.F64[y])
	case a.Str != nil:
		return strings.Compare(a.Str[x], b.Str[y])
	case a.Iv != nil:
		p, q := a.Iv[x], b.Iv[y]
		if c := cmp.Compare(p.Months, q.Months); c != 0 {
			return c
		}
		if c := cmp.Compare(p.Days, q.Days); c != 0 {
			return c
		}
		return cmp.Compare(p.Nanoseconds, q.Nanoseconds)
	}
	return 0
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
