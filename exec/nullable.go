package exec

import (
	"fmt"
	"strings"
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
// resultNil). What a stdlib function gives for values that are not NULL is
// not looked at (json_value of an absent path, the weekday of a zero
// date): those are not reported.
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
			// It sees NULL arguments and decides itself (concat_ws).
			return ""
		}
	case *arithExpr:
		if e.op == '/' || e.op == '%' {
			if lit, ok := e.r.(*litExpr); !ok || lit.v.IsNull(0) || isZero(lit) {
				return fmt.Sprintf("%s is NULL where %s is 0", e.String(), e.r.String())
			}
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
