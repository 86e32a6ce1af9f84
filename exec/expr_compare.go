package exec

import (
	"cmp"
	"fmt"
	"strings"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/etlq/etlq/stdlib"
)

// cmpExpr is l op r for op in = <> < <= > >=.
type cmpExpr struct {
	op   string
	l, r node
	// coll, when set, is the collation text operands compare under (nil:
	// byte for byte); konst the constant side, prepared for it.
	coll  *stdlib.Collation
	konst *constText
}

func canonOp(op string) string {
	if op == "!=" {
		return "<>"
	}
	return op
}

func newCompare(op string, l, r node) (node, error) {
	op = canonOp(op)
	l, r = jsonAsText(l, r.Type()), jsonAsText(r, l.Type())
	lc, rc, err := compareTypes(op, l.Type(), r.Type())
	if err != nil {
		return nil, err
	}
	if l, err = coerce(l, lc); err != nil {
		return nil, err
	}
	if r, err = coerce(r, rc); err != nil {
		return nil, err
	}
	e := &cmpExpr{op: op, l: l, r: r}
	if (lc.IsStringLike() || lc.Kind == stdlib.Binary) && (rc.IsStringLike() || rc.Kind == stdlib.Binary) {
		if e.coll, err = textCollation(op, l, r); err != nil {
			return nil, err
		}
		if e.coll != nil {
			for _, side := range []node{r, l} {
				if lit, ok := unwrapCollate(side).(*litExpr); ok && !lit.v.IsNull(0) {
					e.konst = newConstText(e.coll, lit.v.Str[0])
					break
				}
			}
		}
	}
	return e, nil
}

func (e *cmpExpr) Type() stdlib.Type { return stdlib.TBool }
func (e *cmpExpr) children() []node  { return []node{e.l, e.r} }
func (e *cmpExpr) String() string    { return fmt.Sprintf("(%s %s %s)", e.l, e.op, e.r) }

// mirror returns the operator with its operands swapped.
func mirror(op string) string {
	switch op {
	case "<":
		return ">"
	case "<=":
		return ">="
	case ">":
		return "<"
	case ">=":
		return "<="
	}
	return op
}

// operands evaluates both sides of a comparison and the BOOL vector its
// result goes into, with their NULLs merged; out is nil when a side is a
// NULL constant (the result is NULL). n and sel are the rows to compare:
// one row, no selection, when both sides are constant.
func (e *cmpExpr) operands(c *evalCtx, sel []int32) (a, b, out *stdlib.Vector, n int, _ []int32) {
	a = e.l.eval(c, sel)
	b = e.r.eval(c, sel)
	n = c.n
	if a.Const && b.Const {
		n, sel = 1, nil
	}
	if (a.Const && a.IsNull(0)) || (b.Const && b.IsNull(0)) {
		return a, b, nil, n, sel
	}
	out = c.vec(stdlib.TBool, n)
	out.Const = a.Const && b.Const
	out.Nulls = c.mergeNulls(a, b, sel, n)
	return a, b, out, n, sel
}

func (e *cmpExpr) eval(c *evalCtx, sel []int32) *stdlib.Vector {
	if e.coll != nil {
		return e.evalCollated(c, sel)
	}
	if out := e.stringColumnConst(c, sel); out != nil {
		return out
	}
	a, b, out, n, sel := e.operands(c, sel)
	if out == nil {
		return stdlib.NewNullConst(stdlib.TBool)
	}
	compareInto(e.op, a, b, sel, n, out.Bool)
	return out
}

// compareInto writes a op b for the selected rows into o.
func compareInto(op string, a, b *stdlib.Vector, sel []int32, n int, o []bool) {
	switch {
	case a.I64 != nil && b.I64 != nil:
		cmpOrdered(op, a.I64, a.Const, b.I64, b.Const, sel, n, o)
	case a.U64 != nil && b.U64 != nil:
		cmpOrdered(op, a.U64, a.Const, b.U64, b.Const, sel, n, o)
	case a.F64 != nil && b.F64 != nil:
		cmpOrdered(op, a.F64, a.Const, b.F64, b.Const, sel, n, o)
	case a.Str != nil && b.Str != nil:
		cmpOrdered(op, a.Str, a.Const, b.Str, b.Const, sel, n, o)
	default:
		each(sel, n, func(i int) { o[i] = holds(op, cmpSlot(a, b, i)) })
	}
}

func holds(op string, c int) bool {
	switch op {
	case "=":
		return c == 0
	case "<>":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	}
	return c >= 0
}

func cmpSlot(a, b *stdlib.Vector, i int) int { return stdlib.CompareSlot(a, b, i) }

// cmpOrdered is the typed comparison loop, specialised for a constant
// right (or left) operand.
func cmpOrdered[T cmp.Ordered](op string, x []T, xc bool, y []T, yc bool, sel []int32, n int, o []bool) {
	if xc && !yc {
		x, y, xc, yc = y, x, yc, xc
		op = mirror(op)
	}
	if yc {
		if xc {
			n, sel = 1, nil
		}
		k := y[0]
		switch op {
		case "=":
			each(sel, n, func(i int) { o[i] = x[i] == k })
		case "<>":
			each(sel, n, func(i int) { o[i] = x[i] != k })
		case "<":
			each(sel, n, func(i int) { o[i] = x[i] < k })
		case "<=":
			each(sel, n, func(i int) { o[i] = x[i] <= k })
		case ">":
			each(sel, n, func(i int) { o[i] = x[i] > k })
		case ">=":
			each(sel, n, func(i int) { o[i] = x[i] >= k })
		}
		return
	}
	switch op {
	case "=":
		each(sel, n, func(i int) { o[i] = x[i] == y[i] })
	case "<>":
		each(sel, n, func(i int) { o[i] = x[i] != y[i] })
	case "<":
		each(sel, n, func(i int) { o[i] = x[i] < y[i] })
	case "<=":
		each(sel, n, func(i int) { o[i] = x[i] <= y[i] })
	case ">":
		each(sel, n, func(i int) { o[i] = x[i] > y[i] })
	case ">=":
		each(sel, n, func(i int) { o[i] = x[i] >= y[i] })
	}
}

// inExpr is x [NOT] IN (list) with constant list items looked up in a set.
type inExpr struct {
	x       node
	list    []node // non-constant items, compared one by one
	set     map[any]struct{}
	hasNull bool // the list holds a NULL
	not     bool
	text    []string // every item as written, in order, for String
	// cmps, when set, are x = item for each non-NULL item, each compared
	// as that pair compares (the items need different comparison types).
	cmps []node
	// coll, when set, is the collation text compares under; the constant
	// items are then in collSet by their collation key.
	coll    *stdlib.Collation
	collSet map[string]struct{}
}

// In returns x [NOT] IN (list). Like SQL: TRUE if x equals an item, else
// NULL if x or an item is NULL, else FALSE (NOT IN negates that).
func In(x Expr, list []Expr, not bool) (Expr, error) {
	xn, err := asNode(x)
	if err != nil {
		return nil, err
	}
	items, err := asNodes(list)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("IN needs at least one value")
	}
	for _, it := range items {
		if it.Type().Kind == stdlib.String {
			xn = jsonAsText(xn, it.Type()) // json_extract(…) IN ('x')
			break
		}
	}
	common, mixed := inTypes(xn, items)
	if mixed {
		// x IN (a, b) is x = a OR x = b: each item is compared as the
		// pair compares (u IN (-1, 3) compares signed with unsigned
		// exactly, s IN (42, 3.5) compares the text as a number), which
		// one common type for every item cannot do.
		e := &inExpr{x: xn, not: not}
		for _, it := range items {
			e.text = append(e.text, it.String())
			if it.Type().Kind == stdlib.Null {
				e.hasNull = true
				continue
			}
			c, err := newCompare("=", xn, it)
			if err != nil {
				return nil, err
			}
			e.cmps = append(e.cmps, c)
		}
		return e, nil
	}
	// Every item compares with x as one type: x and the items are
	// converted to it (s IN (42, 3.5) compares as FLOAT64, not as text).
	t := common
	if t.Kind == stdlib.Null {
		// x or every item is NULL
		t = xn.Type()
		for _, it := range items {
			lc, _, err := compareTypes("IN", t, it.Type())
			if err != nil {
				return nil, err
			}
			t = lc
		}
	}
	e := &inExpr{not: not, set: map[any]struct{}{}}
	for _, it := range items {
		e.text = append(e.text, it.String())
	}
	if t.IsStringLike() {
		if e.coll, err = textCollation("IN", append([]node{xn}, items...)...); err != nil {
			return nil, err
		}
		if e.coll != nil {
			e.collSet = map[string]struct{}{}
		}
	}
	if e.x, err = coerce(xn, t); err != nil {
		return nil, err
	}
	for _, it := range items {
		cn, err := coerce(it, t)
		if err != nil {
			return nil, err
		}
		if lit, ok := foldConst(cn); ok {
			if lit.IsNull(0) {
				e.hasNull = true
				continue
			}
			if e.coll != nil {
				e.collSet[string(e.coll.Key(nil, lit.Str[0]))] = struct{}{}
				continue
			}
			if k, ok := setKey(lit, 0); ok {
				e.set[k] = struct{}{}
				continue
			}
		}
		e.list = append(e.list, cn)
	}
	return e, nil
}

// setKey returns a comparable key for slot j of v.
func setKey(v *stdlib.Vector, i int) (any, bool) {
	j := v.Idx(i)
	switch {
	case v.I64 != nil:
		return v.I64[j], true
	case v.U64 != nil:
		return v.U64[j], true
	case v.F64 != nil:
		f := v.F64[j]
		if f == 0 {
			f = 0 // -0 = 0
		}
		return f, true
	case v.Str != nil:
		return v.Str[j], true
	case v.Bool != nil:
		return v.Bool[j], true
	case v.Dec != nil:
		return v.Dec[j], true
	}
	return nil, false
}

// inTypes returns the type x = item compares as, when it is the same on
// both sides for every (non-NULL) item; mixed reports that it is not. The
// type is NULL when x or every item is NULL.
func inTypes(x node, items []node) (common stdlib.Type, mixed bool) {
	common = stdlib.Type{Kind: stdlib.Null}
	if x.Type().Kind == stdlib.Null {
		return common, false
	}
	for _, it := range items {
		if it.Type().Kind == stdlib.Null {
			continue
		}
		lc, rc, err := compareTypes("IN", x.Type(), it.Type())
		if err != nil {
			return common, true // newCompare reports it
		}
		if lc != rc || common.Kind != stdlib.Null && lc != common {
			return common, true
		}
		common = lc
	}
	return common, false
}

func (e *inExpr) Type() stdlib.Type { return stdlib.TBool }
func (e *inExpr) children() []node {
	if e.cmps != nil {
		return e.cmps
	}
	return append([]node{e.x}, e.list...)
}

func (e *inExpr) String() string {
	parts := e.text // in the order written: a map's order would change from run to run
	not := ""
	if e.not {
		not = "NOT "
	}
	return fmt.Sprintf("(%s %sIN (%s))", e.x, not, strings.Join(parts, ", "))
}

func (e *inExpr) eval(c *evalCtx, sel []int32) *stdlib.Vector {
	if e.cmps != nil {
		return e.evalMixed(c, sel)
	}
	a := e.x.eval(c, sel)
	n := c.n
	items := make([]*stdlib.Vector, len(e.list))
	for i, it := range e.list {
		items[i] = it.eval(c, sel)
	}
	out := c.vec(stdlib.TBool, n)
	var key []byte
	each(sel, n, func(i int) {
		if a.IsNull(i) {
			out.SetNull(i, n)
			return
		}
		found := false
		switch {
		case e.coll != nil && len(e.collSet) > 0:
			key = e.coll.Key(key[:0], a.Str[a.Idx(i)])
			_, found = e.collSet[string(key)]
		case len(e.set) > 0:
			k, _ := setKey(a, i)
			_, found = e.set[k]
		}
		null := e.hasNull
		for _, it := range items {
			if found {
				break
			}
			if it.IsNull(i) {
				null = true
				continue
			}
			if e.coll != nil {
				found = e.coll.Equal(a.Str[a.Idx(i)], it.Str[it.Idx(i)])
			} else {
				found = cmpSlot(a, it, i) == 0
			}
		}
		e.result(out, i, n, found, null)
	})
	return out
}

// result writes row i of an IN's result: TRUE when x matched an item (FALSE
// for NOT IN), else NULL when an item or x was NULL, else FALSE (TRUE).
func (e *inExpr) result(out *stdlib.Vector, i, n int, found, null bool) {
	switch {
	case found:
		out.Bool[i] = !e.not
	case null:
		out.SetNull(i, n)
	default:
		out.Bool[i] = e.not
	}
}

// evalMixed combines x = item over the items as OR does: TRUE if one is
// TRUE, else NULL if one is NULL (or the list holds a NULL), else FALSE.
func (e *inExpr) evalMixed(c *evalCtx, sel []int32) *stdlib.Vector {
	n := c.n
	items := make([]*stdlib.Vector, len(e.cmps))
	for i, it := range e.cmps {
		items[i] = it.eval(c, sel)
	}
	out := c.vec(stdlib.TBool, n)
	each(sel, n, func(i int) {
		found, null := false, e.hasNull
		for _, it := range items {
			switch {
			case it.IsNull(i):
				null = true
			case it.Bool[it.Idx(i)]:
				found = true
			}
			if found {
				break
			}
		}
		e.result(out, i, n, found, null)
	})
	return out
}

// Between returns x [NOT] BETWEEN lo AND hi, that is lo <= x AND x <= hi.
func Between(x, lo, hi Expr, not bool) (Expr, error) {
	ge, err := Binary(">=", x, lo)
	if err != nil {
		return nil, err
	}
	le, err := Binary("<=", x, hi)
	if err != nil {
		return nil, err
	}
	and, err := Binary("AND", ge, le)
	if err != nil {
		return nil, err
	}
	if not {
		return Unary("NOT", and)
	}
	return and, nil
}

// stringColumnConst is the fast path of "string column op constant": it
// compares the Arrow array's bytes in place, without building strings.
func (e *cmpExpr) stringColumnConst(c *evalCtx, sel []int32) *stdlib.Vector {
	col, ok := e.l.(*colExpr)
	if !ok || col.t.Physical() != stdlib.PhysString || c.cols[col.index] != nil {
		return nil
	}
	lit, ok := e.r.(*litExpr)
	if !ok || lit.v.IsNull(0) {
		return nil
	}
	arr, ok := c.rec.Column(col.index).(*array.String)
	if !ok {
		return nil
	}
	n := c.n
	k := lit.v.Str[0]
	offs := arr.ValueOffsets()
	var data string
	if vb := arr.ValueBytes(); len(vb) > 0 {
		data = unsafe.String(&vb[0], len(vb))
	}
	base := offs[0]
	out := c.vec(stdlib.TBool, n)
	o := out.Bool
	switch e.op {
	case "=":
		each(sel, n, func(i int) { o[i] = data[offs[i]-base:offs[i+1]-base] == k })
	case "<>":
		each(sel, n, func(i int) { o[i] = data[offs[i]-base:offs[i+1]-base] != k })
	default:
		each(sel, n, func(i int) { o[i] = holds(e.op, strings.Compare(data[offs[i]-base:offs[i+1]-base], k)) })
	}
	if arr.NullN() > 0 {
		out.Nulls = c.mask(n)
		each(sel, n, func(i int) { out.Nulls[i] = arr.IsNull(i) })
	}
	return out
}
