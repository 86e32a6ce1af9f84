package exec

import (
	"fmt"

	"github.com/etlq/etlq/stdlib"
)

// compareTypes returns the types l and r are converted to before they are
// compared (MySQL's rules, simplified): numbers compare as numbers (FLOAT64
// if either is a float, DECIMAL if either is a decimal), text with a number
// compares as FLOAT64, text with a DATE/TIMESTAMP/TIME compares as that
// type, DATE with TIMESTAMP as TIMESTAMP, JSON and BINARY with text as text.
func compareTypes(op string, l, r stdlib.Type) (stdlib.Type, stdlib.Type, error) {
	if l.Kind == stdlib.Null {
		l = r
	}
	if r.Kind == stdlib.Null {
		r = l
	}
	if l.Kind == stdlib.Null {
		return stdlib.TInt64, stdlib.TInt64, nil
	}
	if l == r {
		return l, r, nil
	}
	num := func(t stdlib.Type) bool { return t.IsNumeric() || t.Kind == stdlib.Bool }
	text := func(t stdlib.Type) bool { return t.IsStringLike() || t.Kind == stdlib.Binary }
	switch {
	case num(l) && num(r):
		if l.Kind == stdlib.Bool {
			l = stdlib.TInt64
		}
		if r.Kind == stdlib.Bool {
			r = stdlib.TInt64
		}
		switch {
		case l.IsFloat() || r.IsFloat():
			return stdlib.TFloat64, stdlib.TFloat64, nil
		case l.Kind == stdlib.Decimal || r.Kind == stdlib.Decimal:
			t := commonDecimal(stdlib.DecimalOf(l), stdlib.DecimalOf(r))
			return t, t, nil
		case l.IsSigned() && r.IsSigned():
			return stdlib.TInt64, stdlib.TInt64, nil
		case l.IsUnsigned() && r.IsUnsigned():
			return stdlib.TUint64, stdlib.TUint64, nil
		}
		// signed with unsigned: compared exactly, each as it is
		ls, rs := stdlib.TInt64, stdlib.TInt64
		if l.IsUnsigned() {
			ls = stdlib.TUint64
		}
		if r.IsUnsigned() {
			rs = stdlib.TUint64
		}
		return ls, rs, nil
	case text(l) && text(r):
		return stdlib.TString, stdlib.TString, nil
	case text(l) && num(r), num(l) && text(r):
		return stdlib.TFloat64, stdlib.TFloat64, nil
	case l.IsTemporal() && r.IsTemporal():
		if l.Kind == stdlib.Time || r.Kind == stdlib.Time {
			break
		}
		return stdlib.TTimestamp, stdlib.TTimestamp, nil
	case l.IsTemporal() && text(r):
		return l, l, nil
	case text(l) && r.IsTemporal():
		return r, r, nil
	}
	return l, r, opErr(op, l, r)
}

// commonDecimal is the decimal type holding every value of a and b.
func commonDecimal(a, b stdlib.Type) stdlib.Type {
	s := max(a.Scale, b.Scale)
	p := max(a.Precision-a.Scale, b.Precision-b.Scale) + s
	return stdlib.Dec(min(p, stdlib.MaxDecimalPrecision), s)
}

// unifyTypes returns the type of a value that can come from any of ts
// (CASE branches, IN lists, COALESCE arguments).
func unifyTypes(what string, ts []stdlib.Type) (stdlib.Type, error) {
	var out stdlib.Type
	for _, t := range ts {
		if t.Kind == stdlib.Null {
			continue
		}
		if out.Kind == stdlib.Null {
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

func unify2(a, b stdlib.Type) (stdlib.Type, error) {
	if a == b {
		return a, nil
	}
	num := func(t stdlib.Type) bool { return t.IsNumeric() || t.Kind == stdlib.Bool }
	text := func(t stdlib.Type) bool { return t.IsStringLike() || t.Kind == stdlib.Binary }
	switch {
	case num(a) && num(b):
		switch {
		case a.IsFloat() || b.IsFloat():
			return stdlib.TFloat64, nil
		case a.Kind == stdlib.Decimal || b.Kind == stdlib.Decimal:
			return commonDecimal(stdlib.DecimalOf(a), stdlib.DecimalOf(b)), nil
		case (a.IsUnsigned() || a.Kind == stdlib.Bool) && (b.IsUnsigned() || b.Kind == stdlib.Bool):
			if a.Kind == stdlib.Bool {
				return b, nil
			}
			if b.Kind == stdlib.Bool {
				return a, nil
			}
			return stdlib.TUint64, nil
		case a.IsUnsigned() && b.Kind == stdlib.Uint64, b.IsUnsigned() && a.Kind == stdlib.Uint64:
			return stdlib.TUint64, nil
		case a.Kind == stdlib.Uint64 || b.Kind == stdlib.Uint64:
			return stdlib.Dec(20, 0), nil
		}
		return stdlib.TInt64, nil
	case a.Kind == stdlib.JSON && b.Kind == stdlib.JSON:
		return stdlib.TJSON, nil
	case text(a) && text(b):
		if a.Kind == stdlib.Binary && b.Kind == stdlib.Binary {
			return stdlib.TBinary, nil
		}
		return stdlib.TString, nil
	case a.Kind == stdlib.Date && b.Kind == stdlib.Timestamp, a.Kind == stdlib.Timestamp && b.Kind == stdlib.Date:
		return stdlib.TTimestamp, nil
	case text(a) || text(b):
		if a.Kind == stdlib.Interval || b.Kind == stdlib.Interval {
			break
		}
		return stdlib.TString, nil
	}
	return a, fmt.Errorf("cannot unify")
}
