package exec

import (
	"fmt"
	"math"
	"math/big"

	"github.com/etlq/etlq/stdlib"
)

// intDivExpr is l DIV r, MySQL's integer division: the exact quotient
// truncated toward zero (7.9 DIV 2 is 3, -7 DIV 2 is -3), a BIGINT, or a
// BIGINT UNSIGNED when an operand is unsigned; NULL when r is 0; a
// quotient outside the result's range is a row error (-9223372036854775808
// DIV -1, -7 DIV u with u unsigned), as MySQL's.
type intDivExpr struct {
	l, r node
	t    stdlib.Type // TInt64 or TUint64
	kind arithKind   // how the operands are divided: akInt, akUint, akDec or akFloat
}

func newIntDiv(l, r node) (node, error) {
	lt, rt := l.Type(), r.Type()
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
	if !lt.IsNumeric() || !rt.IsNumeric() {
		return nil, opErr("DIV", l.Type(), r.Type())
	}
	e := &intDivExpr{t: stdlib.TInt64}
	if lt.IsUnsigned() || rt.IsUnsigned() {
		e.t = stdlib.TUint64
	}
	var lc, rc stdlib.Type
	switch {
	case lt.IsFloat() || rt.IsFloat():
		e.kind, lc, rc = akFloat, stdlib.TFloat64, stdlib.TFloat64
	case lt.Kind == stdlib.Decimal || rt.Kind == stdlib.Decimal:
		e.kind, lc, rc = akDec, stdlib.DecimalOf(lt), stdlib.DecimalOf(rt)
	case e.t.Kind == stdlib.Uint64:
		e.kind, lc, rc = akUint, stdlib.TInt64, stdlib.TInt64
		if lt.IsUnsigned() {
			lc = stdlib.TUint64
		}
		if rt.IsUnsigned() {
			rc = stdlib.TUint64
		}
	default:
		e.kind, lc, rc = akInt, stdlib.TInt64, stdlib.TInt64
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

func (e *intDivExpr) Type() stdlib.Type { return e.t }
func (e *intDivExpr) children() []node  { return []node{e.l, e.r} }
func (e *intDivExpr) String() string    { return fmt.Sprintf("(%s DIV %s)", e.l, e.r) }

func (e *intDivExpr) eval(c *evalCtx, sel []int32) *stdlib.Vector {
	return evalBinary(c, sel, e.t, e.l, e.r, e.compute)
}

// compute divides row by row; a row already NULL (an operand NULL) is
// left as it is.
func (e *intDivExpr) compute(c *evalCtx, a, b *stdlib.Vector, sel []int32, n int, out *stdlib.Vector) {
	unsigned := e.t.Kind == stdlib.Uint64
	rangeErr := "BIGINT value is out of range"
	if unsigned {
		rangeErr = "BIGINT UNSIGNED value is out of range"
	}
	fail := func(i int) {
		c.Fail(i, fmt.Sprintf("%s in %s", rangeErr, e))
		out.SetNull(i, n)
	}
	// set stores a quotient of sign neg and magnitude mag, or fails the
	// row when the result type cannot hold it.
	set := func(i int, neg bool, mag uint64) {
		if mag == 0 {
			neg = false // -1 DIV 2 is 0, whatever the types
		}
		switch {
		case unsigned && neg, !unsigned && !neg && mag > math.MaxInt64, !unsigned && neg && mag > 1<<63:
			fail(i)
		case unsigned:
			out.U64[i] = mag
		case neg:
			out.I64[i] = -int64(mag) // 1<<63 wraps to the smallest INT64, as wanted
		default:
			out.I64[i] = int64(mag)
		}
	}
	each(sel, n, func(i int) {
		if out.IsNull(i) {
			return
		}
		switch e.kind {
		case akInt, akUint:
			na, ma := operand(a, i)
			nb, mb := operand(b, i)
			if mb == 0 {
				out.SetNull(i, n)
				return
			}
			set(i, na != nb, ma/mb)
		case akFloat:
			x, y := a.F64[a.Idx(i)], b.F64[b.Idx(i)]
			if y == 0 {
				out.SetNull(i, n)
				return
			}
			q := math.Trunc(x / y)
			// 2^64 and up (NaN, ±Inf too) holds in no result type.
			if !(math.Abs(q) < 1<<64) {
				fail(i)
				return
			}
			set(i, q < 0, uint64(math.Abs(q)))
		case akDec:
			y := b.Dec[b.Idx(i)]
			if y.Sign() == 0 {
				out.SetNull(i, n)
				return
			}
			// x / 10^s1 DIV y / 10^s2 = (x * 10^s2) quo (y * 10^s1).
			num := new(big.Int).Mul(a.Dec[a.Idx(i)].BigInt(), pow10(b.Type.Scale))
			den := new(big.Int).Mul(y.BigInt(), pow10(a.Type.Scale))
			q := num.Quo(num, den)
			if !q.IsUint64() && !new(big.Int).Neg(q).IsUint64() {
				fail(i)
				return
			}
			neg := q.Sign() < 0
			set(i, neg, new(big.Int).Abs(q).Uint64())
		}
	})
}

// pow10 is 10^s.
func pow10(s int32) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(s)), nil)
}
