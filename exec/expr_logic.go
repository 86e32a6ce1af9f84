package exec

import (
	"fmt"
	"strings"

	"github.com/etlq/etlq/stdlib"
)

// logicExpr is l AND r or l OR r with SQL three-valued logic. The right
// side is evaluated only for rows the left side does not decide.
type logicExpr struct {
	and  bool
	l, r node
}

func newLogic(op string, l, r node) (node, error) {
	var err error
	if l, err = boolOperand(op, l); err != nil {
		return nil, err
	}
	if r, err = boolOperand(op, r); err != nil {
		return nil, err
	}
	return &logicExpr{and: op == "AND", l: l, r: r}, nil
}

// boolOperand reads x as a condition, as MySQL does: BOOL and NULL as they
// are, a number (DECIMAL included) is TRUE when it is not zero, text (JSON
// and BINARY included) when its numeric prefix is not zero ('abc' and
// '0.0' are FALSE, '12abc' is TRUE), a date when it is not the zero date,
// a TIME when it is not 00:00:00.
func boolOperand(op string, x node) (node, error) {
	t := x.Type()
	switch {
	case t.Kind == stdlib.Bool:
		return x, nil
	case t.Kind == stdlib.Null, t.IsNumeric(), t.IsStringLike(), t.Kind == stdlib.Binary, t.IsTemporal():
		return coerce(x, stdlib.TBool)
	}
	return nil, fmt.Errorf("operator %q needs a boolean, got %s", op, t)
}

// Condition returns e read as a condition, as WHERE, AND, OR, NOT, CASE
// WHEN and IF read their operands (see boolOperand): e itself when it is a
// BOOL, else its conversion. It fails for a type that is no condition (an
// INTERVAL).
func Condition(e Expr) (Expr, error) {
	n, err := asNode(e)
	if err != nil {
		return nil, err
	}
	return boolOperand("WHERE", n)
}

func (e *logicExpr) Type() stdlib.Type { return stdlib.TBool }
func (e *logicExpr) children() []node  { return []node{e.l, e.r} }
func (e *logicExpr) String() string {
	op := "OR"
	if e.and {
		op = "AND"
	}
	return fmt.Sprintf("(%s %s %s)", e.l, op, e.r)
}

func (e *logicExpr) eval(c *evalCtx, sel []int32) *stdlib.Vector {
	n := c.n
	a := e.l.eval(c, sel)
	// decided is the value that settles the result: FALSE for AND, TRUE for OR.
	decided := !e.and
	if a.Const {
		if !a.IsNull(0) && a.Bool[0] == decided {
			return a
		}
		b := e.r.eval(c, sel)
		if !a.IsNull(0) {
			return b // TRUE AND b, FALSE OR b
		}
		// NULL AND b: FALSE where b is FALSE, else NULL (dually for OR).
		out := c.vec(stdlib.TBool, n)
		out.Nulls = c.mask(n)
		each(sel, n, func(i int) {
			if !b.IsNull(i) && b.Bool[b.Idx(i)] == decided {
				out.Bool[i] = decided
			} else {
				out.Nulls[i] = true
			}
		})
		return out
	}
	// Rows left undecided by the left side.
	rest := c.selBuf(selLen(sel, n))
	if a.Nulls == nil {
		av := a.Bool
		each(sel, n, func(i int) {
			if av[i] != decided {
				rest = append(rest, int32(i))
			}
		})
	} else {
		each(sel, n, func(i int) {
			if a.Nulls[i] || a.Bool[i] != decided {
				rest = append(rest, int32(i))
			}
		})
	}
	out := c.vec(stdlib.TBool, n)
	o := out.Bool
	each(sel, n, func(i int) { o[i] = decided })
	if len(rest) == 0 {
		return out
	}
	b := e.r.eval(c, rest)
	if a.Nulls == nil && b.Nulls == nil {
		if b.Const {
			v := b.Bool[0]
			for _, i := range rest {
				o[i] = v
			}
		} else {
			for _, i := range rest {
				o[i] = b.Bool[i]
			}
		}
		return out
	}
	for _, i := range rest {
		bi := int(i)
		switch {
		case !b.IsNull(bi) && b.Bool[b.Idx(bi)] == decided:
			o[i] = decided
		case a.IsNull(bi) || b.IsNull(bi):
			out.SetNull(bi, n)
		default:
			o[i] = !decided
		}
	}
	return out
}

// notExpr is NOT x.
type notExpr struct{ x node }

func (e *notExpr) Type() stdlib.Type { return stdlib.TBool }
func (e *notExpr) children() []node  { return []node{e.x} }
func (e *notExpr) String() string    { return fmt.Sprintf("(NOT %s)", e.x) }

func (e *notExpr) eval(c *evalCtx, sel []int32) *stdlib.Vector {
	a := e.x.eval(c, sel)
	n := c.n
	if a.Const {
		n, sel = 1, nil
	}
	out := c.vec(stdlib.TBool, n)
	out.Const = a.Const
	out.Nulls = a.Nulls // shared read-only
	each(sel, n, func(i int) { out.Bool[i] = !a.Bool[i] })
	return out
}

// isNullExpr is x IS [NOT] NULL.
type isNullExpr struct {
	x   node
	not bool
}

// IsNull returns x IS NULL, or x IS NOT NULL when not is true.
func IsNull(x Expr, not bool) Expr {
	n, err := asNode(x)
	if err != nil {
		return &litExpr{v: stdlib.NewNullConst(stdlib.TBool), text: "NULL"}
	}
	return &isNullExpr{x: n, not: not}
}

func (e *isNullExpr) Type() stdlib.Type { return stdlib.TBool }
func (e *isNullExpr) children() []node  { return []node{e.x} }
func (e *isNullExpr) String() string {
	if e.not {
		return fmt.Sprintf("(%s IS NOT NULL)", e.x)
	}
	return fmt.Sprintf("(%s IS NULL)", e.x)
}

func (e *isNullExpr) eval(c *evalCtx, sel []int32) *stdlib.Vector {
	a := e.x.eval(c, sel)
	n := c.n
	if a.Const {
		n, sel = 1, nil
	}
	out := c.vec(stdlib.TBool, n)
	out.Const = a.Const
	if a.Nulls == nil {
		each(sel, n, func(i int) { out.Bool[i] = e.not })
	} else {
		each(sel, n, func(i int) { out.Bool[i] = a.Nulls[i] != e.not })
	}
	return out
}

// caseExpr is a searched CASE; the operand form and IF/COALESCE/NULLIF are
// rewritten to it. Each branch is evaluated only for the rows that reach it.
type caseExpr struct {
	conds, results []node
	els            node // nil: NULL
	t              stdlib.Type
	text           string // display form when rewritten from another syntax
}

// Case returns CASE [operand] WHEN conds[i] THEN results[i] … [ELSE els]
// END. operand nil is a searched CASE; els nil means ELSE NULL. A branch
// that is not taken is never evaluated for that row (its errors do not
// count).
func Case(operand Expr, conds, results []Expr, els Expr) (Expr, error) {
	if len(conds) == 0 || len(conds) != len(results) {
		return nil, fmt.Errorf("CASE needs WHEN … THEN … pairs")
	}
	cs, err := asNodes(conds)
	if err != nil {
		return nil, err
	}
	rs, err := asNodes(results)
	if err != nil {
		return nil, err
	}
	var en node
	if els != nil {
		if en, err = asNode(els); err != nil {
			return nil, err
		}
	}
	var text string
	if operand != nil {
		on, err := asNode(operand)
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "CASE %s", on)
		for i := range cs {
			fmt.Fprintf(&b, " WHEN %s THEN %s", cs[i], rs[i])
			if cs[i], err = newCompare("=", on, cs[i]); err != nil {
				return nil, err
			}
		}
		if en != nil {
			fmt.Fprintf(&b, " ELSE %s", en)
		}
		text = b.String() + " END"
	}
	return newCase(cs, rs, en, text)
}

func newCase(cs, rs []node, en node, text string) (*caseExpr, error) {
	var err error
	for i := range cs {
		if cs[i], err = boolOperand("CASE", cs[i]); err != nil {
			return nil, err
		}
	}
	ts := make([]stdlib.Type, 0, len(rs)+1)
	for _, r := range rs {
		ts = append(ts, r.Type())
	}
	if en != nil {
		ts = append(ts, en.Type())
	}
	t, err := unifyTypes("CASE", ts)
	if err != nil {
		return nil, err
	}
	if t.Kind == stdlib.Decimal {
		// An integer literal among decimals counts its own digits
		// (decimalOf), as MariaDB's COALESCE(amount, 0) does.
		var ds []stdlib.Type
		for _, r := range append(append([]node{}, rs...), en) {
			if r != nil && r.Type().Kind != stdlib.Null {
				ds = append(ds, decimalOf(r))
			}
		}
		if t, err = unifyTypes("CASE", ds); err != nil {
			return nil, err
		}
	}
	for i := range rs {
		if rs[i], err = coerce(rs[i], t); err != nil {
			return nil, err
		}
	}
	if en != nil {
		if en, err = coerce(en, t); err != nil {
			return nil, err
		}
	}
	return &caseExpr{conds: cs, results: rs, els: en, t: t, text: text}, nil
}

func (e *caseExpr) Type() stdlib.Type { return e.t }
func (e *caseExpr) children() []node {
	out := append(append([]node{}, e.conds...), e.results...)
	if e.els != nil {
		out = append(out, e.els)
	}
	return out
}

func (e *caseExpr) String() string {
	if e.text != "" {
		return e.text
	}
	var b strings.Builder
	b.WriteString("CASE")
	for i := range e.conds {
		fmt.Fprintf(&b, " WHEN %s THEN %s", e.conds[i], e.results[i])
	}
	if e.els != nil {
		fmt.Fprintf(&b, " ELSE %s", e.els)
	}
	b.WriteString(" END")
	return b.String()
}

func (e *caseExpr) eval(c *evalCtx, sel []int32) *stdlib.Vector {
	n := c.n
	out := c.vec(e.t, n)
	rest := sel
	if rest == nil {
		rest = make([]int32, n)
		for i := range rest {
			rest[i] = int32(i)
		}
	}
	for bi, cond := range e.conds {
		if len(rest) == 0 {
			break
		}
		cv := cond.eval(c, rest)
		var taken, next []int32
		for _, i := range rest {
			if !cv.IsNull(int(i)) && cv.Bool[cv.Idx(int(i))] {
				taken = append(taken, i)
			} else {
				next = append(next, i)
			}
		}
		if len(taken) > 0 {
			rv := e.results[bi].eval(c, taken)
			for _, i := range taken {
				out.Set(int(i), rv, int(i), n)
			}
		}
		rest = next
	}
	if len(rest) > 0 {
		if e.els == nil {
			for _, i := range rest {
				out.SetNull(int(i), n)
			}
		} else {
			rv := e.els.eval(c, rest)
			for _, i := range rest {
				out.Set(int(i), rv, int(i), n)
			}
		}
	}
	return out
}
