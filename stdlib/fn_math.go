package stdlib

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow/decimal256"
)

func init() {
	Register(&Func{Name: "abs", NullFree: true, Sig: "abs(x) → type of x", Doc: "Absolute value.", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"abs(-3)", "3"}, {"abs(-2.50)", "2.50"}},
		Bind: bindAbs})
	Register(&Func{Name: "round", NullFree: true, Sig: "round(x[, d]) → type of x", Doc: "x rounded to d decimals (default 0; negative rounds left of the point), half away from zero; FLOAT64 rounds half to even like MySQL.", MySQL: true,
		MinArgs: 1, MaxArgs: 2, Examples: []Example{{"round(2.5)", "3"}, {"round(1.2345, 2)", "1.23"}, {"round(1250, -2)", "1300"}, {"round(-2.5)", "-3"}},
		Bind: bindRound(false)})
	Register(&Func{Name: "truncate", NullFree: true, Sig: "truncate(x, d) → type of x", Doc: "x cut (toward zero) to d decimals.", MySQL: true,
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"truncate(1.2999, 2)", "1.29"}, {"truncate(-1.29, 1)", "-1.2"}, {"truncate(1299, -2)", "1200"}},
		Bind: bindRound(true)})
	Register(&Func{Name: "floor", NullFree: true, Sig: "floor(x) → INT64 | DECIMAL | FLOAT64", Doc: "Largest integer not above x.", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"floor(-1.5)", "-2"}, {"floor(2.7)", "2"}},
		Bind: bindFloorCeil("floor", math.Floor, false)})
	ceil := &Func{Name: "ceil", NullFree: true, Sig: "ceil(x) → INT64 | DECIMAL | FLOAT64", Doc: "Smallest integer not below x.", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"ceil(-1.5)", "-1"}, {"ceil(2.1)", "3"}},
		Bind: bindFloorCeil("ceil", math.Ceil, true)}
	Register(ceil)
	alias("ceiling", ceil)
	Register(&Func{Name: "sign", NullFree: true, Sig: "sign(x) → INT64", Doc: "-1, 0 or 1 as x is negative, zero or positive.", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"sign(-7.5)", "-1"}, {"sign(0)", "0"}},
		Bind: func(args []Arg) (*Bound, error) {
			if _, err := numArg("sign", 0, args[0].Type); err != nil {
				return nil, err
			}
			return &Bound{Ret: TInt64, Kernel: signKernel}, nil
		}})
	float1 := func(name, doc string, ex []Example, f func(float64) (float64, bool)) {
		Register(&Func{Name: name, Sig: name + "(x) → FLOAT64", Doc: doc, MySQL: true, MinArgs: 1, MaxArgs: 1, Examples: ex,
			Bind: simple(name, TFloat64, floatKernel(f), floatArg)})
	}
	float1("sqrt", "Square root; NULL for negative x.", []Example{{"sqrt(16)", "4"}, {"sqrt(-1)", "NULL"}},
		func(x float64) (float64, bool) { return math.Sqrt(x), x >= 0 })
	float1("exp", "e raised to x.", []Example{{"exp(0)", "1"}},
		func(x float64) (float64, bool) { return math.Exp(x), true })
	float1("ln", "Natural logarithm; NULL for x <= 0. The 17th significant digit may differ from MariaDB's (Go's logarithm against the C library's: ln(0.01) is -4.605170185988092 here, -4.605170185988091 in MariaDB).", []Example{{"ln(1)", "0"}, {"ln(0)", "NULL"}},
		func(x float64) (float64, bool) { return math.Log(x), x > 0 })
	float1("log10", "Base-10 logarithm; NULL for x <= 0.", []Example{{"log10(1000)", "3"}},
		func(x float64) (float64, bool) { return log10(x), x > 0 })
	pow := &Func{Name: "pow", Sig: "pow(x, y) → FLOAT64", Doc: "x raised to y. The 17th significant digit may differ from MariaDB's for a y that is no integer (Go's math library against the C library's).", MySQL: true, MinArgs: 2, MaxArgs: 2,
		Examples: []Example{{"pow(2, 10)", "1024"}, {"pow(4, 0.5)", "2"}},
		Bind: simple("pow", TFloat64, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				r := math.Pow(a[0].F64[i], a[1].F64[i])
				if math.IsNaN(r) {
					out.SetNull(i, n)
					return
				}
				if math.IsInf(r, 0) {
					c.Fail(i, "DOUBLE value is out of range")
					out.SetNull(i, n)
					return
				}
				out.F64[i] = r
			})
		}, floatArg)}
	Register(pow)
	alias("power", pow)
	Register(&Func{Name: "mod", Sig: "mod(a, b) → like a % b", Doc: "Remainder of a / b (sign of a); NULL when b is 0.", MySQL: true,
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"mod(7, 3)", "1"}, {"mod(-7, 3)", "-1"}, {"mod(7, 0)", "NULL"}, {"mod(7.5, 2)", "1.5"}},
		Bind: specialBind("mod")})
	Register(&Func{Name: "greatest", NullFree: true, Sig: "greatest(a, b, …) → common type", Doc: "The largest argument; NULL if any is NULL. Text and numbers compare, and give, FLOAT64 (as MariaDB).", MySQL: true,
		MinArgs: 2, MaxArgs: -1, Examples: []Example{{"greatest(1, 5, 3)", "5"}, {"greatest('b', 'a')", "b"}, {"greatest(1, NULL)", "NULL"}},
		Bind: bindExtreme("greatest", 1)})
	Register(&Func{Name: "least", NullFree: true, Sig: "least(a, b, …) → common type", Doc: "The smallest argument; NULL if any is NULL. Text and numbers compare, and give, FLOAT64 (as MariaDB).", MySQL: true,
		MinArgs: 2, MaxArgs: -1, Examples: []Example{{"least(1, 5, 3)", "1"}, {"least(2.5, 1)", "1.0"}, {"least('10', 9)", "9"}},
		Bind: bindExtreme("least", -1)})
	Register(&Func{Name: "rand", NullFree: true, Sig: "rand() → FLOAT64", Doc: "A random number in [0, 1), new for every row.",
		MinArgs: 0, MaxArgs: 0,
		Bind: func(args []Arg) (*Bound, error) {
			return &Bound{Ret: TFloat64, Volatile: true, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
				r := c.rand()
				Sel(sel, n, func(i int) { out.F64[i] = r.Float64() })
			}}, nil
		}})
}

func bindAbs(args []Arg) (*Bound, error) {
	t, err := numArg("abs", 0, args[0].Type)
	if err != nil {
		return nil, err
	}
	switch {
	case t.IsSigned() || t.Kind == Bool:
		return &Bound{Ret: TInt64, Args: []Type{TInt64}, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				x := a[0].I64[i]
				if x == math.MinInt64 {
					c.Fail(i, "BIGINT value is out of range")
					out.SetNull(i, n)
					return
				}
				out.I64[i] = absI64(x)
			})
		}}, nil
	case t.IsUnsigned():
		return &Bound{Ret: TUint64, Args: []Type{TUint64}, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			copy(out.U64, a[0].U64)
		}}, nil
	case t.IsFloat():
		return &Bound{Ret: TFloat64, Args: []Type{TFloat64}, Kernel: floatKernel(func(x float64) (float64, bool) { return math.Abs(x), true })}, nil
	}
	return &Bound{Ret: t, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
		Sel(sel, n, func(i int) { out.Dec[i] = a[0].Dec[i].Abs() })
	}}, nil
}

func floatKernel(f func(float64) (float64, bool)) Kernel {
	return func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
		in := a[0].F64
		Sel(sel, n, func(i int) {
			r, ok := f(in[i])
			if !ok {
				out.SetNull(i, n)
				return
			}
			if math.IsInf(r, 0) && !math.IsInf(in[i], 0) {
				c.Fail(i, "DOUBLE value is out of range")
				out.SetNull(i, n)
				return
			}
			out.F64[i] = r
		})
	}
}

func signKernel(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
	v := a[0]
	Sel(sel, n, func(i int) {
		var s int
		switch {
		case v.I64 != nil:
			s = cmpI(v.I64[i], 0)
		case v.U64 != nil:
			s = cmpI(int64(min(v.U64[i], 1)), 0)
		case v.F64 != nil:
			s = cmpF(v.F64[i])
		case v.Dec != nil:
			s = v.Dec[i].Sign()
		case v.Bool != nil:
			if v.Bool[i] {
				s = 1
			}
		}
		out.I64[i] = int64(s)
	})
}

func cmpI(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpF(x float64) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

// bindRound binds round (trunc false) and truncate (trunc true).
func bindRound(trunc bool) func([]Arg) (*Bound, error) {
	name := "round"
	if trunc {
		name = "truncate"
	}
	return func(args []Arg) (*Bound, error) {
		t, err := numArg(name, 0, args[0].Type)
		if err != nil {
			return nil, err
		}
		conv := []Type{t}
		d, dConst := int64(0), true
		if len(args) > 1 {
			if _, err := intArg(name, 1, args[1].Type); err != nil {
				return nil, err
			}
			conv = append(conv, TInt64)
			d, dConst = constInt(args[1])
		}
		switch {
		case t.IsFloat():
			conv[0] = TFloat64
			return &Bound{Ret: TFloat64, Args: conv, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
				Sel(sel, n, func(i int) {
					dd := int64(0)
					if len(a) > 1 {
						dd = a[1].I64[i]
					}
					out.F64[i] = roundFloat(a[0].F64[i], dd, trunc)
				})
			}}, nil
		case t.IsInteger() || t.Kind == Bool:
			ret := TInt64
			if t.IsUnsigned() {
				ret = TUint64
			}
			conv[0] = ret
			return &Bound{Ret: ret, Args: conv, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
				Sel(sel, n, func(i int) {
					dd := int64(0)
					if len(a) > 1 {
						dd = a[1].I64[i]
					}
					var x decimal256.Num
					if ret == TUint64 {
						x = DecFromUint(a[0].U64[i])
					} else {
						x = DecFromInt(a[0].I64[i])
					}
					r := roundDec(x, 0, dd, trunc)
					if ret == TUint64 {
						// Rounding up may carry past 64 bits (it wrapped
						// around: round(18446744073709551615, -1) was 4).
						if w := r.Array(); w[1] != 0 || w[2] != 0 || w[3] != 0 {
							c.Fail(i, "BIGINT UNSIGNED value is out of range")
							out.SetNull(i, n)
							return
						}
						out.U64[i] = r.LowBits()
					} else if v, ok := decSmall(r); ok {
						out.I64[i] = v
					} else {
						c.Fail(i, "BIGINT value is out of range")
						out.SetNull(i, n)
					}
				})
			}}, nil
		}
		// DECIMAL: the result scale is d when d is a constant; otherwise
		// the scale of x, with room for the digit rounding may carry
		// (round(-9999.99, 0) is -10000.00).
		ret := t
		if !trunc {
			ret = Dec(min(t.Precision+1, MaxDecimalPrecision), t.Scale)
		}
		if dConst {
			s := int32(min(max(d, 0), MaxDecimalScale))
			p := min(max(t.Precision-t.Scale+s+1, 1), MaxDecimalPrecision)
			if trunc {
				p = min(max(t.Precision-t.Scale+s, 1), MaxDecimalPrecision)
			}
			ret = Dec(p, s)
		}
		return &Bound{Ret: ret, Args: conv, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				dd := int64(0)
				if len(a) > 1 {
					dd = a[1].I64[i]
				}
				r := roundDec(a[0].Dec[i], t.Scale, dd, trunc)
				r, _ = DecRescale(r, t.Scale, ret.Scale)
				if !DecFits(r, ret.Precision) {
					c.Fail(i, "DECIMAL value is out of range")
					out.SetNull(i, n)
					return
				}
				out.Dec[i] = r
			})
		}}, nil
	}
}

// roundDec rounds (or truncates) x of scale s to d decimals, keeping scale s.
func roundDec(x decimal256.Num, s int32, d int64, trunc bool) decimal256.Num {
	if d >= int64(s) {
		return x
	}
	k := int64(s) - d
	if k > 76 {
		return decimal256.Num{}
	}
	var r decimal256.Num
	if trunc {
		r = decDivPow10Trunc(x, int32(k))
	} else {
		r = decDivPow10Round(x, int32(k))
	}
	out, ok := decMulPow10(r, int32(k))
	if !ok {
		return x
	}
	return out
}

func roundFloat(x float64, d int64, trunc bool) float64 {
	if d > 308 || math.IsInf(x, 0) || math.IsNaN(x) {
		return x
	}
	if d < -308 {
		return 0
	}
	p := math.Pow(10, float64(d))
	y := x * p
	if math.IsInf(y, 0) {
		return x
	}
	if trunc {
		y = math.Trunc(y)
	} else {
		y = math.RoundToEven(y)
	}
	return y / p
}

func bindFloorCeil(name string, f func(float64) float64, up bool) func([]Arg) (*Bound, error) {
	return func(args []Arg) (*Bound, error) {
		t, err := numArg(name, 0, args[0].Type)
		if err != nil {
			return nil, err
		}
		switch {
		case t.IsFloat():
			return &Bound{Ret: TFloat64, Args: []Type{TFloat64}, Kernel: floatKernel(func(x float64) (float64, bool) { return f(x), true })}, nil
		case t.Kind != Decimal:
			ret := TInt64
			if t.IsUnsigned() {
				ret = TUint64
			}
			return &Bound{Ret: ret, Args: []Type{ret}, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
				Sel(sel, n, func(i int) { out.Set(i, a[0], i, n) })
			}}, nil
		}
		ret := Dec(max(t.Precision-t.Scale+1, 1), 0)
		if ret.Precision <= 18 {
			ret = TInt64
		}
		return &Bound{Ret: ret, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				x := a[0].Dec[i]
				q := decDivPow10Trunc(x, t.Scale)
				back, _ := decMulPow10(q, t.Scale)
				if back != x {
					if up && x.Sign() > 0 {
						q = q.Add(decimal256.FromI64(1))
					} else if !up && x.Sign() < 0 {
						q = q.Sub(decimal256.FromI64(1))
					}
				}
				if ret.Kind == Int64 {
					v, _ := decSmall(q)
					out.I64[i] = v
				} else {
					out.Dec[i] = q
				}
			})
		}}, nil
	}
}

// bindExtreme binds greatest (dir 1) and least (dir -1).
func bindExtreme(name string, dir int) func([]Arg) (*Bound, error) {
	return func(args []Arg) (*Bound, error) {
		t, err := Unify(name, Types(args))
		if err != nil {
			return nil, err
		}
		if t.Kind == Null {
			t = TInt64
		}
		if textAndNumbers(args) {
			// As MariaDB (DOUBLE), and as = compares text with a
			// number: the text's numeric prefix ('12abc' is 12).
			t = TFloat64
		}
		if t.Kind == Interval {
			return nil, fmt.Errorf("function %q cannot take %s", name, t)
		}
		conv := make([]Type, len(args))
		for i := range conv {
			conv[i] = t
		}
		if t.IsStringLike() {
			// Text compares under the arguments' collation.
			coll, err := argsCollation(name, args)
			if err != nil {
				return nil, err
			}
			if !coll.IsBytes() {
				return &Bound{Ret: t, Args: conv, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
					Sel(sel, n, func(i int) {
						best := a[0]
						for _, v := range a[1:] {
							if coll.Compare(v.Str[v.Idx(i)], best.Str[best.Idx(i)])*dir > 0 {
								best = v
							}
						}
						out.Set(i, best, i, n)
					})
				}}, nil
			}
		}
		return &Bound{Ret: t, Args: conv, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				best := a[0]
				for _, v := range a[1:] {
					if CompareSlotPair(v, i, best, i)*dir > 0 {
						best = v
					}
				}
				out.Set(i, best, i, n)
			})
		}}, nil
	}
}

// textAndNumbers reports whether args mix text with numbers and hold
// nothing else (NULLs aside).
func textAndNumbers(args []Arg) bool {
	var text, num bool
	for _, a := range args {
		switch t := a.Type; {
		case t.Kind == Null:
		case t.IsStringLike() || t.Kind == Binary:
			text = true
		case t.IsNumeric() || t.Kind == Bool:
			num = true
		default:
			return false
		}
	}
	return text && num
}

// CompareSlotPair compares slot i of a with slot j of b (same physical type).
func CompareSlotPair(a *Vector, i int, b *Vector, j int) int {
	if i == j {
		return CompareSlot(a, b, i)
	}
	return CompareSlot(a.slice(i), b.slice(j), 0)
}

// slice returns a one-row constant view of row i.
func (v *Vector) slice(i int) *Vector {
	out := NewConst(v.Type)
	out.Set(0, v, i, 1)
	return out
}

// log10 is fdlibm's __ieee754_log10 (as the C library MySQL uses): Go's
// math.Log10 is off by an ulp for values like 0.1 and 1e15.
func log10(x float64) float64 {
	const (
		ivln10   = 4.34294481903251816668e-01
		log102hi = 3.01029995663611771306e-01
		log102lo = 3.69423907715893078616e-13
	)
	if x <= 0 || math.IsInf(x, 0) || math.IsNaN(x) {
		return math.Log10(x)
	}
	bits := math.Float64bits(x)
	hx := int32(bits >> 32)
	k := int32(0)
	if hx < 0x00100000 { // subnormal
		x *= 1 << 54
		k -= 54
		bits = math.Float64bits(x)
		hx = int32(bits >> 32)
	}
	k += (hx >> 20) - 1023
	i := int32(uint32(k) >> 31)
	hx = (hx & 0x000fffff) | ((0x3ff - i) << 20)
	y := float64(k + i)
	x = math.Float64frombits(uint64(uint32(hx))<<32 | bits&0xffffffff)
	z := y*log102lo + ivln10*math.Log(x)
	return z + y*log102hi
}
