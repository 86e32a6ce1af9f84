package exec

import (
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

func commonDecimal(a, b stdlib.Type) stdlib.Type { return stdlib.CommonDecimal(a, b) }

func unifyTypes(what string, ts []stdlib.Type) (stdlib.Type, error) { return stdlib.Unify(what, ts) }
