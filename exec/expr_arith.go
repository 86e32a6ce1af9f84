package exec

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow/decimal256"

	"github.com/etlq/etlq/stdlib"
)

type arithKind uint8

const (
	akFloat    arithKind = iota
	akInt                // both signed, result INT64
	akUint               // result UINT64, operands of either signedness
	akDec                // result DECIMAL
	akTemporal           // DATE/TIMESTAMP ± INTERVAL
)

// arithExpr is l op r for op in + - * / %.
type arithExpr struct {
	op   byte
	l, r node
	t    stdlib.Type
	kind arithKind
}

func opErr(op string, l, r stdlib.Type) error {
	return fmt.Errorf("operator %q cannot take %s and %s%s", op, l, r, textHint(l, r))
}

// textHint is what an error of an arithmetic operator given text adds:
// etlq does not read a number out of text as MySQL does ('12abc' + 0 is 12
// there, with a warning); an explicit CAST does, and fails the rows whose
// text is no number (a row error, routed by on_error), never giving 0.
func textHint(ts ...stdlib.Type) string {
	for _, t := range ts {
		if t.IsStringLike() {
			return " (text is no number in arithmetic: CAST(x AS INT64) or CAST(x AS DECIMAL(p,s)) reads one, and a value that is not a number is then a row error, handled by on_error)"
		}
	}
	return ""
}

func newArith(op string, l, r node) (node, error) {
	lt, rt := l.Type(), r.Type()
	e := &arithExpr{op: op[0], l: l, r: r}
	// NULL takes the type of the other side.
	if lt.Kind == stdlib.Null && rt.Kind == stdlib.Null {
		return &litExpr{v: stdlib.NewNullConst(stdlib.TInt64), text: "NULL"}, nil
	}
	if lt.Kind == stdlib.Null {
		lt = rt
	}
	if rt.Kind == stdlib.Null {
		rt = lt
	}
	if lt.Kind == stdlib.Bool {
		lt = stdlib.TInt64
	}
	if rt.Kind == stdlib.Bool {
		rt = stdlib.TInt64
	}
	// Temporal arithmetic: DATE/TIMESTAMP ± INTERVAL.
	if lt.Kind == stdlib.Interval && (rt.Kind == stdlib.Date || rt.Kind == stdlib.Timestamp) && op == "+" {
		e.l, e.r, lt, rt = r, l, rt, lt
	}
	if (lt.Kind == stdlib.Date || lt.Kind == stdlib.Timestamp) && rt.Kind == stdlib.Interval && (op == "+" || op == "-") {
		e.kind = akTemporal
		e.t = stdlib.TTimestamp
		if lt.Kind == stdlib.Date {
			if lit, ok := e.r.(*litExpr); ok && !lit.v.IsNull(0) && lit.v.Iv[0].Nanoseconds == 0 {
				e.t = stdlib.TDate
			}
		}
		var err error
		if e.l, err = coerce(e.l, stdlib.TTimestamp); err != nil {
			return nil, err
		}
		return e, nil
	}
	if !lt.IsNumeric() || !rt.IsNumeric() {
		return nil, opErr(op, l.Type(), r.Type())
	}
	var lc, rc stdlib.Type
	switch {
	case lt.IsFloat() || rt.IsFloat():
		e.kind, e.t, lc, rc = akFloat, stdlib.TFloat64, stdlib.TFloat64, stdlib.TFloat64
	case lt.Kind == stdlib.Decimal || rt.Kind == stdlib.Decimal || op == "/":
		a, b := decimalOf(l), decimalOf(r)
		e.kind, e.t, lc, rc = akDec, decResult(op[0], a, b), a, b
	case lt.IsUnsigned() || rt.IsUnsigned():
		e.kind, e.t = akUint, stdlib.TUint64
		if op == "%" && !lt.IsUnsigned() {
			// As MySQL: the remainder takes the dividend's sign and
			// signedness (-7 % 3 UNSIGNED is -1).
			e.t = stdlib.TInt64
		}
		lc, rc = stdlib.TInt64, stdlib.TInt64
		if lt.IsUnsigned() {
			lc = stdlib.TUint64
		}
		if rt.IsUnsigned() {
			rc = stdlib.TUint64
		}
	default:
		e.kind, e.t, lc, rc = akInt, stdlib.TInt64, stdlib.TInt64, stdlib.TInt64
	}
	var err error
	if e.l, err = coerce(l, lc); err != nil {
		return nil, err
	}
	if e.r, err = coerce(r, rc); err != nil {
		return nil, err
	}
	return e, nil
}

// decResult is MySQL's result type of a decimal operation.
func decResult(op byte, a, b stdlib.Type) stdlib.Type {
	p1, s1, p2, s2 := a.Precision, a.Scale, b.Precision, b.Scale
	var p, s int32
	switch op {
	case '+', '-':
		s = max(s1, s2)
		p = max(p1-s1, p2-s2) + s + 1
	case '*':
		s = min(s1+s2, stdlib.MaxDecimalScale)
		p = p1 + p2
	case '/':
		s = min(s1+4, stdlib.MaxDecimalScale)
		p = p1 - s1 + s2 + s
	default: // %
		s = max(s1, s2)
		p = max(p1-s1, p2-s2) + s
	}
	return stdlib.Dec(min(max(p, 1), stdlib.MaxDecimalPrecision), s)
}

func (e *arithExpr) Type() stdlib.Type { return e.t }
func (e *arithExpr) children() []node  { return []node{e.l, e.r} }
func (e *arithExpr) String() string {
	return fmt.Sprintf("(%s %c %s)", e.l, e.op, e.r)
}

// mergeNulls returns the NULL mask of a row-wise operation on a and b.
func (c *evalCtx) mergeNulls(a, b *stdlib.Vector, sel []int32, n int) []bool {
	if a.Nulls == nil && b.Nulls == nil {
		return nil
	}
	out := c.mask(n)
	each(sel, n, func(i int) { out[i] = a.IsNull(i) || b.IsNull(i) })
	return out
}

func (e *arithExpr) eval(c *evalCtx, sel []int32) *stdlib.Vector {
	return evalBinary(c, sel, e.t, e.l, e.r, e.compute)
}

// evalBinary evaluates a binary operator whose result is NULL where an
// operand is: two constants are computed once (a failure then fails every
// selected row), a NULL constant gives a NULL constant, else compute runs
// over the rows with the operands' NULLs merged into the result's.
func evalBinary(c *evalCtx, sel []int32, t stdlib.Type, l, r node,
	compute func(c *evalCtx, a, b *stdlib.Vector, sel []int32, n int, out *stdlib.Vector)) *stdlib.Vector {
	a := l.eval(c, sel)
	b := r.eval(c, sel)
	n := c.n
	if a.Const && b.Const {
		if a.IsNull(0) || b.IsNull(0) {
			return stdlib.NewNullConst(t)
		}
		out := stdlib.NewConst(t)
		before := len(c.Errs)
		compute(c, a, b, nil, 1, out)
		if len(c.Errs) > before {
			reason := c.Errs[before].Reason
			c.Errs = c.Errs[:before]
			each(sel, n, func(i int) { c.Fail(i, reason) })
		}
		return out
	}
	if (a.Const && a.IsNull(0)) || (b.Const && b.IsNull(0)) {
		return stdlib.NewNullConst(t)
	}
	out := c.vec(t, n)
	out.Nulls = c.mergeNulls(a, b, sel, n)
	compute(c, a, b, sel, n, out)
	return out
}

func (e *arithExpr) fail(c *evalCtx, out *stdlib.Vector, i, n int, what string) {
	c.Fail(i, fmt.Sprintf("%s in %s", what, e))
	out.SetNull(i, n)
}

func (e *arithExpr) compute(c *evalCtx, a, b *stdlib.Vector, sel []int32, n int, out *stdlib.Vector) {
	switch e.kind {
	case akFloat:
		e.floatKernel(c, a, b, sel, n, out)
	case akInt:
		e.intKernel(c, a, b, sel, n, out)
	case akUint:
		e.uintKernel(c, a, b, sel, n, out)
	case akDec:
		e.decKernel(c, a, b, sel, n, out)
	case akTemporal:
		e.temporalKernel(c, a, b, sel, n, out)
	}
}

// nonFinite has bit 63 set when f is ±Inf or NaN (exponent all ones): the
// kernels OR it over their results to learn, without a branch per row,
// whether some row needs a second look.
func nonFinite(f float64) uint64 {
	return math.Float64bits(f)&0x7ff0000000000000 + 1<<52
}

func (e *arithExpr) floatKernel(c *evalCtx, a, b *stdlib.Vector, sel []int32, n int, out *stdlib.Vector) {
	x, y, o := a.F64, b.F64, out.F64[:n]
	// Slicing to n lets the compiler drop bounds checks in the loops.
	if !a.Const {
		x = x[:n]
	}
	if !b.Const {
		y = y[:n]
	}
	var acc uint64
	switch {
	case b.Const:
		k := y[0]
		switch e.op {
		case '+':
			each(sel, n, func(i int) { r := x[i] + k; o[i] = r; acc |= nonFinite(r) })
		case '-':
			each(sel, n, func(i int) { r := x[i] - k; o[i] = r; acc |= nonFinite(r) })
		case '*':
			each(sel, n, func(i int) { r := x[i] * k; o[i] = r; acc |= nonFinite(r) })
		case '/':
			if k == 0 {
				each(sel, n, func(i int) { out.SetNull(i, n) })
				return
			}
			each(sel, n, func(i int) { r := x[i] / k; o[i] = r; acc |= nonFinite(r) })
		case '%':
			if k == 0 {
				each(sel, n, func(i int) { out.SetNull(i, n) })
				return
			}
			each(sel, n, func(i int) { r := fmod(x[i], k); o[i] = r; acc |= nonFinite(r) })
		}
	case a.Const:
		k := x[0]
		switch e.op {
		case '+':
			each(sel, n, func(i int) { r := k + y[i]; o[i] = r; acc |= nonFinite(r) })
		case '-':
			each(sel, n, func(i int) { r := k - y[i]; o[i] = r; acc |= nonFinite(r) })
		case '*':
			each(sel, n, func(i int) { r := k * y[i]; o[i] = r; acc |= nonFinite(r) })
		default:
			e.floatSlow(a, b, sel, n, out)
			acc = 1 << 63
		}
	default:
		switch e.op {
		case '+':
			each(sel, n, func(i int) { r := x[i] + y[i]; o[i] = r; acc |= nonFinite(r) })
		case '-':
			each(sel, n, func(i int) { r := x[i] - y[i]; o[i] = r; acc |= nonFinite(r) })
		case '*':
			each(sel, n, func(i int) { r := x[i] * y[i]; o[i] = r; acc |= nonFinite(r) })
		default:
			e.floatSlow(a, b, sel, n, out)
			acc = 1 << 63
		}
	}
	if acc>>63 == 0 {
		return
	}
	// A finite operation that overflows is an error, as in MySQL.
	each(sel, n, func(i int) {
		if (math.IsInf(o[i], 0) || math.IsNaN(o[i])) && !out.IsNull(i) &&
			!math.IsInf(x[a.Idx(i)], 0) && !math.IsInf(y[b.Idx(i)], 0) {
			e.fail(c, out, i, n, "DOUBLE value is out of range")
		}
	})
}

func (e *arithExpr) floatSlow(a, b *stdlib.Vector, sel []int32, n int, out *stdlib.Vector) {
	each(sel, n, func(i int) {
		x, y := a.F64[a.Idx(i)], b.F64[b.Idx(i)]
		if y == 0 {
			out.SetNull(i, n)
			return
		}
		if e.op == '/' {
			out.F64[i] = x / y
		} else {
			out.F64[i] = fmod(x, y)
		}
	})
}

// fmod is x % y as MySQL computes it for DOUBLE: the remainder with the
// dividend's sign, but a zero one without a sign (-6e0 % 3 is 0, where
// math.Mod gives -0).
func fmod(x, y float64) float64 {
	r := math.Mod(x, y)
	if r == 0 {
		return 0
	}
	return r
}

func (e *arithExpr) intKernel(c *evalCtx, a, b *stdlib.Vector, sel []int32, n int, out *stdlib.Vector) {
	x, y, o := a.I64, b.I64, out.I64
	switch e.op {
	case '+', '-':
		var ovf int64
		if e.op == '+' {
			if b.Const {
				k := y[0]
				each(sel, n, func(i int) { s := x[i] + k; o[i] = s; ovf |= (x[i] ^ s) & (k ^ s) })
			} else if !a.Const {
				each(sel, n, func(i int) { s := x[i] + y[i]; o[i] = s; ovf |= (x[i] ^ s) & (y[i] ^ s) })
			} else {
				ovf = -1
			}
		} else {
			if b.Const {
				k := y[0]
				each(sel, n, func(i int) { s := x[i] - k; o[i] = s; ovf |= (x[i] ^ k) & (x[i] ^ s) })
			} else if !a.Const {
				each(sel, n, func(i int) { s := x[i] - y[i]; o[i] = s; ovf |= (x[i] ^ y[i]) & (x[i] ^ s) })
			} else {
				ovf = -1
			}
		}
		if ovf < 0 { // some row overflowed (or a constant left side): recheck row by row
			each(sel, n, func(i int) {
				p, q := x[a.Idx(i)], y[b.Idx(i)]
				var s int64
				var bad bool
				if e.op == '+' {
					s = p + q
					bad = (p^s)&(q^s) < 0
				} else {
					s = p - q
					bad = (p^q)&(p^s) < 0
				}
				o[i] = s
				if bad && !out.IsNull(i) {
					e.fail(c, out, i, n, "BIGINT value is out of range")
				}
			})
		}
	case '*':
		each(sel, n, func(i int) {
			p, q := x[a.Idx(i)], y[b.Idx(i)]
			hi, lo := bits.Mul64(uint64(absI(p)), uint64(absI(q)))
			neg := (p < 0) != (q < 0)
			if hi != 0 || lo > math.MaxInt64+boolU(neg) || p == math.MinInt64 && q != 1 && q != 0 || q == math.MinInt64 && p != 1 && p != 0 {
				if !out.IsNull(i) {
					e.fail(c, out, i, n, "BIGINT value is out of range")
				}
				return
			}
			o[i] = p * q
		})
	case '%':
		each(sel, n, func(i int) {
			p, q := x[a.Idx(i)], y[b.Idx(i)]
			switch q {
			case 0:
				out.SetNull(i, n)
			case -1:
				o[i] = 0
			default:
				o[i] = p % q
			}
		})
	}
}

func absI(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func boolU(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// operand reads slot i of an integer vector as sign and magnitude.
func operand(v *stdlib.Vector, i int) (neg bool, mag uint64) {
	if v.U64 != nil {
		return false, v.U64[v.Idx(i)]
	}
	x := v.I64[v.Idx(i)]
	if x < 0 {
		return true, uint64(-x)
	}
	return false, uint64(x)
}

func (e *arithExpr) uintKernel(c *evalCtx, a, b *stdlib.Vector, sel []int32, n int, out *stdlib.Vector) {
	o := out.U64
	if a.U64 != nil && b.U64 != nil && b.Const && (e.op == '+' || e.op == '-') {
		x, k := a.U64, b.U64[0]
		var carry uint64
		if e.op == '+' {
			each(sel, n, func(i int) {
				s, cy := bits.Add64(x[i], k, 0)
				o[i] = s
				carry |= cy
			})
		} else {
			each(sel, n, func(i int) {
				s, cy := bits.Sub64(x[i], k, 0)
				o[i] = s
				carry |= cy
			})
		}
		if carry == 0 {
			return
		}
	}
	each(sel, n, func(i int) {
		if out.IsNull(i) {
			return
		}
		na, ma := operand(a, i)
		nb, mb := operand(b, i)
		var r uint64
		bad := false
		switch e.op {
		case '+', '-':
			if e.op == '-' {
				nb = !nb
			}
			switch {
			case !na && !nb:
				var cy uint64
				r, cy = bits.Add64(ma, mb, 0)
				bad = cy != 0
			case na && nb:
				bad = ma != 0 || mb != 0
			case na: // -ma + mb
				bad = ma > mb
				r = mb - ma
			default: // ma - mb
				bad = mb > ma
				r = ma - mb
			}
		case '*':
			hi, lo := bits.Mul64(ma, mb)
			r = lo
			bad = hi != 0 || (na != nb && lo != 0)
		case '%':
			if mb == 0 {
				out.SetNull(i, n)
				return
			}
			r = ma % mb
			if out.I64 != nil { // a signed dividend
				if na {
					out.I64[i] = -int64(r)
				} else {
					out.I64[i] = int64(r)
				}
				return
			}
			bad = na && r != 0
		}
		if bad {
			e.fail(c, out, i, n, "BIGINT UNSIGNED value is out of range")
			return
		}
		o[i] = r
	})
}

func (e *arithExpr) decKernel(c *evalCtx, a, b *stdlib.Vector, sel []int32, n int, out *stdlib.Vector) {
	s1, s2 := a.Type.Scale, b.Type.Scale
	t := e.t
	// A quotient MySQL cuts rather than rounds (stdlib.DecDivCuts).
	div := stdlib.DecDiv
	if e.op == '/' && stdlib.DecDivCuts(s1, s2, t.Scale) {
		div = stdlib.DecDivTrunc
	}
	each(sel, n, func(i int) {
		if out.IsNull(i) {
			return
		}
		x, y := a.Dec[a.Idx(i)], b.Dec[b.Idx(i)]
		var r decimal256.Num
		ok := true
		switch e.op {
		case '+', '-':
			var ok1, ok2 bool
			x, ok1 = stdlib.DecRescale(x, s1, t.Scale)
			y, ok2 = stdlib.DecRescale(y, s2, t.Scale)
			ok = ok1 && ok2
			if e.op == '+' {
				r = x.Add(y)
			} else {
				r = x.Sub(y)
			}
		case '*':
			r, ok = stdlib.DecMul(x, y)
			if ok && s1+s2 != t.Scale {
				r, _ = stdlib.DecRescale(r, s1+s2, t.Scale)
			}
		case '/':
			if y.Sign() == 0 {
				out.SetNull(i, n)
				return
			}
			r, ok = div(x, y, t.Scale-s1+s2)
		case '%':
			if y.Sign() == 0 {
				out.SetNull(i, n)
				return
			}
			var ok1, ok2 bool
			x, ok1 = stdlib.DecRescale(x, s1, t.Scale)
			y, ok2 = stdlib.DecRescale(y, s2, t.Scale)
			ok = ok1 && ok2
			bx, by := x.BigInt(), y.BigInt()
			r = decimal256.FromBigInt(new(big.Int).Rem(bx, by))
		}
		if !ok || !stdlib.DecFits(r, t.Precision) {
			e.fail(c, out, i, n, "DECIMAL value is out of range")
			return
		}
		out.Dec[i] = r
	})
}

func (e *arithExpr) temporalKernel(c *evalCtx, a, b *stdlib.Vector, sel []int32, n int, out *stdlib.Vector) {
	sign := int64(1)
	if e.op == '-' {
		sign = -1
	}
	const usPerDay = 86400e6
	each(sel, n, func(i int) {
		if out.IsNull(i) {
			return
		}
		r, ok := stdlib.AddInterval(a.I64[a.Idx(i)], b.Iv[b.Idx(i)], sign)
		if !ok {
			// Past year 9999 (or before year 1): NULL, as MySQL and
			// date_add() give.
			out.SetNull(i, n)
			return
		}
		if e.t.Kind == stdlib.Date {
			r = stdlib.FloorDiv(r, usPerDay)
		}
		out.I64[i] = r
	})
}

// negExpr is unary minus.
type negExpr struct {
	x node
	t stdlib.Type
}

func (e *negExpr) Type() stdlib.Type { return e.t }
func (e *negExpr) children() []node  { return []node{e.x} }
func (e *negExpr) String() string    { return fmt.Sprintf("-%s", e.x) }

func (e *negExpr) eval(c *evalCtx, sel []int32) *stdlib.Vector {
	a := e.x.eval(c, sel)
	n := c.n
	rows := sel
	if a.Const {
		n = 1
		sel = nil
	}
	out := c.vec(e.t, n)
	fail := func(i int) {
		reason := fmt.Sprintf("BIGINT value is out of range in %s", e)
		if a.Const {
			each(rows, c.n, func(r int) { c.Fail(r, reason) }) // a constant fails on every row
		} else {
			c.Fail(i, reason)
		}
		out.SetNull(i, n)
	}
	out.Const = a.Const
	if a.Nulls != nil {
		out.Nulls = c.mask(len(a.Nulls))
		copy(out.Nulls, a.Nulls)
	}
	switch e.t.Physical() {
	case stdlib.PhysFloat:
		each(sel, n, func(i int) { out.F64[i] = -a.F64[i] })
	case stdlib.PhysInt:
		if a.Type.Kind == stdlib.Uint64 {
			each(sel, n, func(i int) {
				if a.U64[i] > 1<<63 && !a.IsNull(i) {
					fail(i)
					return
				}
				out.I64[i] = -int64(a.U64[i]) // 1<<63 wraps to the smallest INT64, as wanted
			})
			break
		}
		each(sel, n, func(i int) {
			if a.I64[i] == math.MinInt64 && !a.IsNull(i) {
				fail(i)
				return
			}
			out.I64[i] = -a.I64[i]
		})
	case stdlib.PhysDecimal:
		each(sel, n, func(i int) { out.Dec[i] = a.Dec[i].Negate() })
	}
	return out
}
