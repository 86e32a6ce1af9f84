package exec

import "github.com/etlq/etlq/stdlib"

// fspOf returns the fractional second digits n has as a temporal argument,
// as MariaDB counts them (its datetime precision): n of a column declared
// DATETIME(n), TIMESTAMP(n) or TIME(n); the digits a TIMESTAMP literal or
// constant text writes; 0 for a DATE and for now(); the arguments' for
// date arithmetic, convert_tz, CASE, if and coalesce; 6 for other text and
// for what it cannot tell (a TIMESTAMP holds microseconds: no digit is lost).
func fspOf(n node) int {
	switch n.Type().Kind {
	case stdlib.Date, stdlib.Null:
		return 0
	}
	switch x := n.(type) {
	case *colExpr:
		if x.hasFSP {
			return x.fsp
		}
	case *litExpr:
		if x.hasFSP {
			return x.fsp
		}
		if x.v.Type.IsStringLike() && !x.v.IsNull(0) {
			return stdlib.TextFSP(x.v.Str[0])
		}
	case *castExpr:
		switch x.t.Kind {
		case stdlib.Timestamp, stdlib.Time:
			return fspOf(x.x)
		}
	case *collateExpr:
		return fspOf(x.x)
	case *arithExpr:
		if x.kind == akTemporal {
			return intervalFSP(fspOf(x.l), x.r)
		}
	case *caseExpr:
		f := 0
		for _, r := range append(append([]node{}, x.results...), x.els) {
			if r != nil && r.Type().Kind != stdlib.Null {
				f = max(f, fspOf(r))
			}
		}
		return f
	case *callExpr:
		switch x.label {
		case "now":
			return 0
		case "date_add", "date_sub":
			return intervalFSP(fspOf(x.args[0]), x.args[1])
		case "convert_tz":
			return fspOf(x.args[0])
		case "date_trunc":
			return fspOf(x.args[1])
		case "from_unixtime":
			switch t := x.args[0].Type(); {
			case t.Kind == stdlib.Decimal:
				return min(int(t.Scale), 6)
			case t.IsSigned(), t.IsUnsigned():
				return 0
			}
		}
	}
	return 6
}

// intervalFSP is the fractional digits of t ± iv where t has fsp digits:
// 6 when iv is not a constant of whole seconds.
func intervalFSP(fsp int, iv node) int {
	if l, ok := iv.(*litExpr); ok && (l.v.IsNull(0) || l.v.Iv[0].Nanoseconds%1e9 == 0) {
		return fsp
	}
	return 6
}
