package exec

import (
	"fmt"
	"strings"

	"github.com/etlq/etlq/stdlib"
)

// NullReason says why e may be NULL for some row, or "" when the
// expression itself never gives NULL. nullable reports whether input
// column i may be NULL (a source column without NOT NULL, a before-image).
//
// What is looked at is what the expression says: a NULL-able column that
// no coalesce/ifnull (CASE WHEN x IS NOT NULL THEN x) guards, a NULL
// literal, nullif and CASE without ELSE, a division or modulo by a value
// that may be 0, IN with NULL in its list. A function that propagates NULL
// arguments gives NULL when they do; so does a user function (CREATE
// FUNCTION), and its body may give NULL unless it is proven not to (see
// resultNil). A stdlib function may give NULL for values that are not
// NULL (json_value of an absent path, the weekday of a zero date) unless
// its registration declares it NullFree; an implicit conversion may give
// NULL for a value it cannot convert (text that is no date) unless every
// value converts (lenientTotal). A row that fails (a CAST of bad text, an
// overflow) is not NULL: it never reaches the output.
func NullReason(e Expr, nullable func(col int) bool) string {
	n, err := asNode(e)
	if err != nil {
		return ""
	}
	return nullReason(n, nullable)
}

func nullReason(n node, nullable func(int) bool) string {
	switch e := n.(type) {
	case *colExpr:
		if !nullable(e.index) {
			return ""
		}
		if strings.HasPrefix(e.name, BeforePrefix) {
			return fmt.Sprintf("%s is NULL for inserts, deletes and snapshot reads", e.name)
		}
		return fmt.Sprintf("column %s may be NULL at the source (it is not NOT NULL)", e.name)
	case *litExpr:
		if e.v.IsNull(0) {
			return "it is NULL"
		}
		return ""
	case *isNullExpr:
		return ""
	case *textNode:
		return nullReason(e.node, nullable)
	case *udfExpr:
		// A NULL argument gives NULL (the children, below); so does a
		// body that may give nil.
		if e.f.nilWhy != "" {
			return fmt.Sprintf("%s may give NULL: the body of function %q %s", e.String(), e.f.Name, e.f.nilWhy)
		}
	case *callExpr:
		if e.b.NullAware {
			// It sees NULL arguments and decides itself: only those
			// it declares give NULL (concat_ws's separator).
			if !e.f.NullFree {
				return fmt.Sprintf("%s may give NULL", e.String())
			}
			for _, i := range e.f.NullArgs {
				if i < len(e.args) {
					if w := nullReason(e.args[i], nullable); w != "" {
						return w
					}
				}
			}
			return ""
		}
		for _, c := range e.args {
			if w := nullReason(c, nullable); w != "" {
				return w
			}
		}
		if !e.f.NullFree {
			return fmt.Sprintf("%s may give NULL for arguments that are not NULL (%s can)", e.String(), e.f.Name)
		}
		return ""
	case *castExpr:
		if w := nullReason(e.x, nullable); w != "" {
			return w
		}
		if e.lenient && !lenientTotal(e.x.Type(), e.t) {
			return fmt.Sprintf("%s is NULL where it does not convert to %s", e.String(), e.t)
		}
		return ""
	case *arithExpr:
		if e.l.Type().Kind == stdlib.Interval || e.r.Type().Kind == stdlib.Interval {
			if w := nullReason(e.l, nullable); w != "" {
				return w
			}
			if w := nullReason(e.r, nullable); w != "" {
				return w
			}
			return fmt.Sprintf("%s is NULL where it falls outside years 1…9999", e.String())
		}
		if e.op == '/' || e.op == '%' {
			if lit, ok := e.r.(*litExpr); !ok || lit.v.IsNull(0) || isZero(lit) {
				return fmt.Sprintf("%s is NULL where %s is 0", e.String(), e.r.String())
			}
		}
	case *intDivExpr:
		if lit, ok := e.r.(*litExpr); !ok || lit.v.IsNull(0) || isZero(lit) {
			return fmt.Sprintf("%s is NULL where %s is 0", e.String(), e.r.String())
		}
	case *inExpr:
		if e.hasNull {
			return fmt.Sprintf("%s is NULL where it is not TRUE (its list holds NULL)", e.String())
		}
	case *caseExpr:
		for i, r := range e.results {
			if guarded(e.conds[i], r) {
				continue // coalesce(x, …): x where x IS NOT NULL
			}
			if w := nullReason(r, nullable); w != "" {
				return caseReason(e, r, w)
			}
		}
		if e.els == nil {
			return fmt.Sprintf("%s is NULL where no WHEN matches (it has no ELSE)", e.String())
		}
		if w := nullReason(e.els, nullable); w != "" {
			return caseReason(e, e.els, w)
		}
		// The conditions only choose a branch: a NULL one takes the next.
		return ""
	}
	for _, c := range n.children() {
		if w := nullReason(c, nullable); w != "" {
			return w
		}
	}
	return ""
}

// caseReason names a CASE (or the nullif, if or coalesce it was written
// as) whose branch r may be NULL because of w.
func caseReason(e *caseExpr, r node, w string) string {
	if lit, ok := r.(*litExpr); ok && lit.v.IsNull(0) {
		return fmt.Sprintf("%s gives NULL", e.String())
	}
	return fmt.Sprintf("%s may give %s, and %s", e.String(), r.String(), w)
}

// guarded reports whether cond is r IS NOT NULL (the branch r of a
// coalesce or ifnull).
func guarded(cond, r node) bool {
	is, ok := cond.(*isNullExpr)
	return ok && is.not && (is.x == r || is.x.String() == r.String())
}

// isZero reports whether a constant number is 0.
func isZero(l *litExpr) bool {
	return strings.Trim(strings.TrimPrefix(l.text, "-"), "0.") == ""
}

// lenientTotal reports whether the implicit conversion from → to converts
// every value (a lenient cast gives NULL for one it cannot: text that is
// no date, a number out of the target's range): to text or BOOL, between
// dates and timestamps, numbers to FLOAT64, integers and decimals to a
// type with room for all their digits (TestLenientTotal).
func lenientTotal(from, to stdlib.Type) bool {
	switch {
	case from == to:
		return true
	case to.Kind == stdlib.String || to.Kind == stdlib.Binary:
		return true
	case to.Kind == stdlib.Bool:
		// (text as a condition: its numeric prefix, 'abc' FALSE)
		return from.IsNumeric() || from.IsTemporal() || from.IsStringLike() || from.Kind == stdlib.Binary
	case from.Kind == stdlib.Date && (to.Kind == stdlib.Timestamp || to.Kind == stdlib.Date),
		from.Kind == stdlib.Timestamp && (to.Kind == stdlib.Date || to.Kind == stdlib.Time):
		return true
	case to.Kind == stdlib.Float64:
		return from.IsNumeric() || from.Kind == stdlib.Bool
	case to.Kind == stdlib.Decimal:
		// Every integer digit fits (the fraction is rounded, not NULL).
		room := to.Precision - to.Scale
		switch {
		case from.Kind == stdlib.Decimal:
			// (9.99 rounds to 10: a digit more unless the scale stays)
			return from.Precision-from.Scale < room || from.Precision-from.Scale == room && from.Scale <= to.Scale
		case from.IsInteger() || from.Kind == stdlib.Bool:
			return intDigits[from.Kind] <= room
		}
		return false
	case to.Kind == stdlib.Int64:
		return from.IsSigned() || from.Kind == stdlib.Bool || (from.IsUnsigned() && from.Kind != stdlib.Uint64)
	case to.Kind == stdlib.Uint64:
		return from.IsUnsigned() || from.Kind == stdlib.Bool
	}
	return false
}

// intDigits is the most decimal digits a value of an integer type has.
var intDigits = map[stdlib.Kind]int32{stdlib.Bool: 1, stdlib.Int8: 3, stdlib.Uint8: 3, stdlib.Int16: 5, stdlib.Uint16: 5,
	stdlib.Int32: 10, stdlib.Uint32: 10, stdlib.Int64: 19, stdlib.Uint64: 20}
