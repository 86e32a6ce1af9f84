package exec

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/stdlib"
)

// castExpr converts its operand to another type.
type castExpr struct {
	x       node
	t       stdlib.Type
	lenient bool // implicit conversion: never a row error
	kernel  stdlib.Kernel
	// opts are resolved per record when x is a column (source fsp).
	fmtFromCol bool
	// errPrefix starts the reason of each row this conversion fails
	// (not of rows x itself fails): which argument of which user function
	// it converts.
	errPrefix string
}

// Cast returns CAST(x AS to). Failing rows (bad text, overflow) are row
// errors. Converting to STRING gives MySQL's CAST(… AS CHAR) text; for a
// source column the fractional digits of DATETIME(n)/TIME(n) come from its
// "etlq.source_type" metadata.
func Cast(x Expr, to stdlib.Type) (Expr, error) {
	n, err := asNode(x)
	if err != nil {
		return nil, err
	}
	return newCast(n, to, false)
}

func newCast(x node, to stdlib.Type, lenient bool) (*castExpr, error) {
	opt := stdlib.CastOptions{Lenient: lenient, Format: stdlib.DefaultFormat}
	k, err := stdlib.CastKernel(x.Type(), to, opt)
	if err != nil {
		return nil, err
	}
	_, isCol := x.(*colExpr)
	return &castExpr{x: x, t: to, lenient: lenient, kernel: k,
		fmtFromCol: isCol && (to.Kind == stdlib.String || to.Kind == stdlib.JSON || to.Kind == stdlib.Binary)}, nil
}

// coerce converts x to t implicitly; it returns x itself when the stored
// representation already fits (INT32 read as INT64, …).
func coerce(x node, t stdlib.Type) (node, error) {
	xt := x.Type()
	if xt == t {
		return x, nil
	}
	if xt.Physical() == t.Physical() {
		switch {
		case xt.IsSigned() && t.Kind == stdlib.Int64,
			xt.IsUnsigned() && t.Kind == stdlib.Uint64,
			xt.IsFloat() && t.Kind == stdlib.Float64,
			(xt.IsStringLike() || xt.Kind == stdlib.Binary) && (t.Kind == stdlib.String || t.Kind == stdlib.Binary):
			return x, nil
		}
	}
	if l, ok := x.(*litExpr); ok && l.v.IsNull(0) {
		return &litExpr{v: stdlib.NewNullConst(t), text: "NULL"}, nil
	}
	c, err := newCast(x, t, true)
	if err != nil {
		return nil, err
	}
	if l, ok := x.(*litExpr); ok {
		// Convert a literal once, here, rather than once per batch; it
		// keeps its spelling (1.1, not 1.1e0).
		if v, ok := foldConst(c); ok {
			return &litExpr{v: v, text: l.text, fsp: fspOf(l), hasFSP: true}, nil
		}
	}
	return c, nil
}

func (e *castExpr) Type() stdlib.Type { return e.t }
func (e *castExpr) children() []node  { return []node{e.x} }

func (e *castExpr) String() string {
	if e.lenient {
		return e.x.String()
	}
	return fmt.Sprintf("CAST(%s AS %s)", e.x, e.t)
}

func (e *castExpr) eval(c *evalCtx, sel []int32) *stdlib.Vector {
	a := e.x.eval(c, sel)
	k := e.kernel
	if e.fmtFromCol {
		if opt, ok := c.formatOf(e.x.(*colExpr).index); ok {
			k, _ = stdlib.CastKernel(e.x.Type(), e.t, stdlib.CastOptions{Lenient: e.lenient, Format: opt})
		}
	}
	n0 := len(c.Errs)
	out := runKernel(c, k, []*stdlib.Vector{a}, e.t, sel, false)
	if e.errPrefix != "" {
		for i := n0; i < len(c.Errs); i++ {
			c.Errs[i].Reason = e.errPrefix + c.Errs[i].Reason
		}
	}
	return out
}

// formatOf returns how to print column idx as text, from its source type.
func (c *evalCtx) formatOf(idx int) (stdlib.FormatOptions, bool) {
	f := c.rec.Schema().Field(idx)
	opt := stdlib.DefaultFormat
	found := false
	if lt, ok := f.Metadata.GetValue(MetaLogicalType); ok {
		opt.Logical = lt
		found = true
	}
	if _, ok := f.Metadata.GetValue(MetaSourceType); ok {
		found = true
		if fsp, ok := SourceFSP(f); ok {
			opt.FSP = fsp
		}
	}
	return opt, found
}

// SourceFSP returns the fractional second digits n of a column the source
// declares DATETIME(n), TIMESTAMP(n) or TIME(n) (0 without the (n)); ok is
// false for other columns and when f has no etlq.source_type.
func SourceFSP(f arrow.Field) (fsp int, ok bool) {
	st, _ := f.Metadata.GetValue(MetaSourceType)
	st = strings.ToLower(st)
	for _, p := range []string{"datetime", "timestamp", "time"} {
		if strings.HasPrefix(st, p) {
			if i := strings.IndexByte(st, '('); i >= 0 {
				if j := strings.IndexByte(st[i:], ')'); j > 0 {
					if v, err := strconv.Atoi(st[i+1 : i+j]); err == nil {
						return v, true
					}
				}
			}
			return 0, true
		}
	}
	return 0, false
}

// runKernel runs a kernel with the usual NULL handling: rows where an
// argument is NULL are NULL and not passed to the kernel (unless
// nullAware). Constant arguments are expanded unless all are constant, in
// which case the result is constant.
func runKernel(c *evalCtx, k stdlib.Kernel, args []*stdlib.Vector, t stdlib.Type, sel []int32, nullAware bool) *stdlib.Vector {
	n := c.n
	allConst := true
	for _, a := range args {
		if !a.Const {
			allConst = false
		}
	}
	if allConst {
		out := stdlib.NewConst(t)
		if !nullAware {
			for _, a := range args {
				if a.IsNull(0) {
					out.Nulls = []bool{true}
					return out
				}
			}
		}
		before := len(c.Errs)
		k(&c.Ctx, args, nil, 1, out)
		if len(c.Errs) > before {
			// A constant that fails fails on every row.
			reason := c.Errs[before].Reason
			c.Errs = c.Errs[:before]
			each(sel, n, func(i int) { c.Fail(i, reason) })
		}
		return out
	}
	for i, a := range args {
		if a.Const {
			args[i] = a.Expand(n)
		}
	}
	out := c.vec(t, n)
	if !nullAware {
		var hasNulls bool
		for _, a := range args {
			if a.Nulls != nil {
				hasNulls = true
			}
		}
		if hasNulls {
			out.Nulls = c.mask(n)
			live := c.selBuf(selLen(sel, n))
			each(sel, n, func(i int) {
				for _, a := range args {
					if a.Nulls != nil && a.Nulls[i] {
						out.Nulls[i] = true
						return
					}
				}
				live = append(live, int32(i))
			})
			sel = live
		}
	}
	k(&c.Ctx, args, sel, n, out)
	return out
}

func selLen(sel []int32, n int) int {
	if sel == nil {
		return n
	}
	return len(sel)
}
