package stdlib

import "fmt"

// CommonDecimal is the decimal type holding every value of a and b.
func CommonDecimal(a, b Type) Type {
	s := max(a.Scale, b.Scale)
	p := max(a.Precision-a.Scale, b.Precision-b.Scale) + s
	return Dec(min(p, MaxDecimalPrecision), s)
}

// Unify returns the type of a value that can come from any of ts
// (CASE branches, IN lists, COALESCE arguments).
func Unify(what string, ts []Type) (Type, error) {
	var out Type
	for _, t := range ts {
		if t.Kind == Null {
			continue
		}
		if out.Kind == Null {
			out = t
			continue
		}
		u, err := unify2(out, t)
		if err != nil {
			return out, fmt.Errorf("%s mixes %s and %s", what, out, t)
		}
		out = u
	}
	return out, nil
}

func unify2(a, b Type) (Type, error) {
	if a == b {
		return a, nil
	}
	num := func(t Type) bool { return t.IsNumeric() || t.Kind == Bool }
	text := func(t Type) bool { return t.IsStringLike() || t.Kind == Binary }
	switch {
	case num(a) && num(b):
		switch {
		case a.IsFloat() || b.IsFloat():
			return TFloat64, nil
		case a.Kind == Decimal || b.Kind == Decimal:
			return CommonDecimal(DecimalOf(a), DecimalOf(b)), nil
		case (a.IsUnsigned() || a.Kind == Bool) && (b.IsUnsigned() || b.Kind == Bool):
			if a.Kind == Bool {
				return b, nil
			}
			if b.Kind == Bool {
				return a, nil
			}
			return TUint64, nil
		case a.IsUnsigned() && b.Kind == Uint64, b.IsUnsigned() && a.Kind == Uint64:
			return TUint64, nil
		case a.Kind == Uint64 || b.Kind == Uint64:
			return Dec(20, 0), nil
		}
		return TInt64, nil
	case a.Kind == JSON && b.Kind == JSON:
		return TJSON, nil
	case text(a) && text(b):
		if a.Kind == Binary && b.Kind == Binary {
			return TBinary, nil
		}
		return TString, nil
	case a.Kind == Date && b.Kind == Timestamp, a.Kind == Timestamp && b.Kind == Date:
		return TTimestamp, nil
	case text(a) || text(b):
		if a.Kind == Interval || b.Kind == Interval {
			break
		}
		return TString, nil
	}
	return a, fmt.Errorf("cannot unify")
}
