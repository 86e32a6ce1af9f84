package exec

import (
	"cmp"
	"strings"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/etlq/etlq/stdlib"
)

// This file evaluates predicates as refinements of a selection, the way
// CockroachDB's colexec runs a WHERE clause: instead of a column of
// booleans, a predicate yields the rows (of those it is given) where it is
// TRUE, and the rows where it is NULL. An AND passes the rows where its
// left side is TRUE on to its right side, so the right side only ever sees
// the rows that still matter, and comparisons of a column with a constant
// write the selection directly from typed loops.

// selectTrue returns the rows of sel (every row when sel is nil) where nd
// is TRUE (yes) and where it is NULL (null), both ascending. Both slices
// come from c's scratch space. Row errors go to c.Errs as with eval; a row
// that fails is NULL.
func (c *evalCtx) selectTrue(nd node, sel []int32) (yes, null []int32) {
	switch e := nd.(type) {
	case *logicExpr:
		if e.and {
			return c.selectAnd(e, sel)
		}
	case *cmpExpr:
		return c.selectCompare(e, sel)
	}
	return c.split(nd.eval(c, sel), sel)
}

// split turns a boolean vector into the TRUE and NULL rows of sel.
func (c *evalCtx) split(v *stdlib.Vector, sel []int32) (yes, null []int32) {
	n := c.n
	m := selLen(sel, n)
	yes = c.selBuf(m)
	null = c.selBuf(0)
	if v.Const {
		switch {
		case v.IsNull(0):
			null = c.selBuf(m)
			each(sel, n, func(i int) { null = append(null, int32(i)) })
		case v.Bool[0]:
			each(sel, n, func(i int) { yes = append(yes, int32(i)) })
		}
		return yes, null
	}
	b := v.Bool
	if v.Nulls == nil {
		yes = yes[:m]
		k := 0
		each(sel, n, func(i int) {
			yes[k] = int32(i)
			if b[i] {
				k++
			}
		})
		return yes[:k], null
	}
	null = c.selBuf(m)
	each(sel, n, func(i int) {
		switch {
		case v.Nulls[i]:
			null = append(null, int32(i))
		case b[i]:
			yes = append(yes, int32(i))
		}
	})
	return yes, null
}

// selectAnd refines the selection by the left side, then by the right
// side. As with eval, the right side sees every row the left side does not
// settle as FALSE: its TRUE rows and its NULL rows.
func (c *evalCtx) selectAnd(e *logicExpr, sel []int32) (yes, null []int32) {
	y1, n1 := c.selectTrue(e.l, sel)
	if len(n1) == 0 {
		if len(y1) == 0 {
			return y1, n1
		}
		return c.selectTrue(e.r, y1)
	}
	rest := c.selBuf(len(y1) + len(n1))
	j, k := 0, 0
	for j < len(y1) || k < len(n1) {
		if k == len(n1) || j < len(y1) && y1[j] < n1[k] {
			rest = append(rest, y1[j])
			j++
		} else {
			rest = append(rest, n1[k])
			k++
		}
	}
	b := e.r.eval(c, rest)
	yes = c.selBuf(len(y1))
	null = c.selBuf(len(rest))
	j = 0
	for _, i := range rest {
		lTrue := j < len(y1) && y1[j] == i
		if lTrue {
			j++
		}
		row := int(i)
		bNull := b.IsNull(row)
		bTrue := !bNull && b.Bool[b.Idx(row)]
		switch {
		case lTrue && bTrue:
			yes = append(yes, i)
		case !bNull && !bTrue: // x AND FALSE is FALSE
		default:
			null = append(null, i)
		}
	}
	return yes, null
}

// selectCompare is the selection form of a comparison.
func (c *evalCtx) selectCompare(e *cmpExpr, sel []int32) (yes, null []int32) {
	if e.coll != nil {
		return c.split(e.evalCollated(c, sel), sel)
	}
	if yes, null, ok := c.selectStringColumnConst(e, sel); ok {
		return yes, null
	}
	a := e.l.eval(c, sel)
	b := e.r.eval(c, sel)
	if (a.Const && a.IsNull(0)) || (b.Const && b.IsNull(0)) {
		return c.split(stdlib.NewNullConst(stdlib.TBool), sel)
	}
	if a.Const && b.Const {
		v := c.vec(stdlib.TBool, 1)
		v.Const = true
		compareInto(e.op, a, b, nil, 1, v.Bool)
		return c.split(v, sel)
	}
	n := c.n
	live := sel
	null = c.selBuf(0)
	if a.Nulls != nil || b.Nulls != nil {
		live = c.selBuf(selLen(sel, n))
		null = c.selBuf(selLen(sel, n))
		each(sel, n, func(i int) {
			if a.IsNull(i) || b.IsNull(i) {
				null = append(null, int32(i))
			} else {
				live = append(live, int32(i))
			}
		})
	}
	yes = c.selBuf(selLen(live, n))
	switch {
	case a.I64 != nil && b.I64 != nil:
		yes = selOrdered(e.op, a.I64, a.Const, b.I64, b.Const, live, n, yes)
	case a.U64 != nil && b.U64 != nil:
		yes = selOrdered(e.op, a.U64, a.Const, b.U64, b.Const, live, n, yes)
	case a.F64 != nil && b.F64 != nil:
		yes = selOrdered(e.op, a.F64, a.Const, b.F64, b.Const, live, n, yes)
	case a.Str != nil && b.Str != nil:
		yes = selOrdered(e.op, a.Str, a.Const, b.Str, b.Const, live, n, yes)
	default:
		each(live, n, func(i int) {
			if holds(e.op, cmpSlot(a, b, i)) {
				yes = append(yes, int32(i))
			}
		})
	}
	return yes, null
}

// selOrdered appends to out the rows of sel where x op y holds; it is the
// selection form of cmpOrdered. out has room for every row of sel.
func selOrdered[T cmp.Ordered](op string, x []T, xc bool, y []T, yc bool, sel []int32, n int, out []int32) []int32 {
	if xc && !yc {
		x, y, xc, yc = y, x, yc, xc
		op = mirror(op)
	}
	out = out[:selLen(sel, n)]
	k := 0
	// Each loop writes every row and advances past the ones that pass,
	// which compiles to a conditional increment rather than a branch.
	if yc {
		c := y[0]
		switch op {
		case "=":
			each(sel, n, func(i int) { out[k] = int32(i); k += b2i(x[i] == c) })
		case "<>":
			each(sel, n, func(i int) { out[k] = int32(i); k += b2i(x[i] != c) })
		case "<":
			each(sel, n, func(i int) { out[k] = int32(i); k += b2i(x[i] < c) })
		case "<=":
			each(sel, n, func(i int) { out[k] = int32(i); k += b2i(x[i] <= c) })
		case ">":
			each(sel, n, func(i int) { out[k] = int32(i); k += b2i(x[i] > c) })
		case ">=":
			each(sel, n, func(i int) { out[k] = int32(i); k += b2i(x[i] >= c) })
		}
		return out[:k]
	}
	switch op {
	case "=":
		each(sel, n, func(i int) { out[k] = int32(i); k += b2i(x[i] == y[i]) })
	case "<>":
		each(sel, n, func(i int) { out[k] = int32(i); k += b2i(x[i] != y[i]) })
	case "<":
		each(sel, n, func(i int) { out[k] = int32(i); k += b2i(x[i] < y[i]) })
	case "<=":
		each(sel, n, func(i int) { out[k] = int32(i); k += b2i(x[i] <= y[i]) })
	case ">":
		each(sel, n, func(i int) { out[k] = int32(i); k += b2i(x[i] > y[i]) })
	case ">=":
		each(sel, n, func(i int) { out[k] = int32(i); k += b2i(x[i] >= y[i]) })
	}
	return out[:k]
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// selectStringColumnConst is "string column op constant" read from the
// Arrow array's bytes in place, without building strings.
func (c *evalCtx) selectStringColumnConst(e *cmpExpr, sel []int32) (yes, null []int32, ok bool) {
	col, ok := e.l.(*colExpr)
	if !ok || col.t.Physical() != stdlib.PhysString || c.cols[col.index] != nil {
		return nil, nil, false
	}
	lit, ok := e.r.(*litExpr)
	if !ok || lit.v.IsNull(0) {
		return nil, nil, false
	}
	arr, ok := c.rec.Column(col.index).(*array.String)
	if !ok {
		return nil, nil, false
	}
	n := c.n
	live := sel
	null = c.selBuf(0)
	if arr.NullN() > 0 {
		live = c.selBuf(selLen(sel, n))
		null = c.selBuf(selLen(sel, n))
		each(sel, n, func(i int) {
			if arr.IsNull(i) {
				null = append(null, int32(i))
			} else {
				live = append(live, int32(i))
			}
		})
	}
	k := lit.v.Str[0]
	offs := arr.ValueOffsets()
	var data string
	if vb := arr.ValueBytes(); len(vb) > 0 {
		data = unsafe.String(&vb[0], len(vb))
	}
	base := offs[0]
	yes = c.selBuf(selLen(live, n))
	yes = yes[:selLen(live, n)]
	m := 0
	switch e.op {
	case "=":
		kl := int32(len(k))
		each(live, n, func(i int) {
			yes[m] = int32(i)
			s, t := offs[i]-base, offs[i+1]-base
			m += b2i(t-s == kl && data[s:t] == k)
		})
	case "<>":
		each(live, n, func(i int) { yes[m] = int32(i); m += b2i(data[offs[i]-base:offs[i+1]-base] != k) })
	default:
		each(live, n, func(i int) {
			yes[m] = int32(i)
			m += b2i(holds(e.op, strings.Compare(data[offs[i]-base:offs[i+1]-base], k)))
		})
	}
	return yes[:m], null, true
}
