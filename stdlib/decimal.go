package stdlib

import (
	"errors"
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/decimal256"
)

// Decimal values are unscaled 256-bit two's complement integers
// (decimal256.Num) with the scale carried by the type. The helpers below
// keep the common case (values that fit in 64 bits) off math/big.

var pow10u64 = func() [20]uint64 {
	var p [20]uint64
	p[0] = 1
	for i := 1; i < 20; i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

var pow10big = func() [80]*big.Int {
	var p [80]*big.Int
	p[0] = big.NewInt(1)
	ten := big.NewInt(10)
	for i := 1; i < 80; i++ {
		p[i] = new(big.Int).Mul(p[i-1], ten)
	}
	return p
}()

// decSmall returns x as an int64 when it fits.
func decSmall(x decimal256.Num) (int64, bool) {
	a := x.Array()
	lo := int64(a[0])
	if lo >= 0 && a[1] == 0 && a[2] == 0 && a[3] == 0 {
		return lo, true
	}
	m := ^uint64(0)
	if lo < 0 && a[1] == m && a[2] == m && a[3] == m {
		return lo, true
	}
	return 0, false
}

// DecFromInt returns the unscaled decimal of an integer.
func DecFromInt(v int64) decimal256.Num { return decimal256.FromI64(v) }

// DecFromUint returns the unscaled decimal of an unsigned integer.
func DecFromUint(v uint64) decimal256.Num { return decimal256.FromU64(v) }

func decFromBig(b *big.Int) (decimal256.Num, bool) {
	if b.BitLen() > 254 {
		return decimal256.Num{}, false
	}
	return decimal256.FromBigInt(b), true
}

// decMulPow10 multiplies x by 10^k; ok is false on overflow of 256 bits.
func decMulPow10(x decimal256.Num, k int32) (decimal256.Num, bool) {
	if k == 0 {
		return x, true
	}
	if v, ok := decSmall(x); ok && k < 19 {
		hi, lo := bits.Mul64(uint64(absI64(v)), pow10u64[k])
		if hi == 0 && lo <= math.MaxInt64 {
			r := int64(lo)
			if v < 0 {
				r = -r
			}
			return decimal256.FromI64(r), true
		}
	}
	if k >= 80 {
		return decimal256.Num{}, false
	}
	b := x.BigInt()
	return decFromBig(b.Mul(b, pow10big[k]))
}

func absI64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// decDivPow10Round divides x by 10^k rounding half away from zero (MySQL's
// rounding of decimals).
func decDivPow10Round(x decimal256.Num, k int32) decimal256.Num {
	if k == 0 {
		return x
	}
	if v, ok := decSmall(x); ok && v != math.MinInt64 {
		if k >= 19 {
			// |v| < 10^19: the quotient is 0, or ±1 when |v| is at
			// least half of 10^19 (it was 0 always).
			if k == 19 && absI64(v) >= 5e18 {
				return decimal256.FromI64(int64(sign64(v)))
			}
			return decimal256.Num{}
		}
		p := int64(pow10u64[k])
		q, r := v/p, v%p
		if 2*absI64(r) >= p {
			if v < 0 {
				q--
			} else {
				q++
			}
		}
		return decimal256.FromI64(q)
	}
	if k >= 80 {
		return decimal256.Num{}
	}
	b := x.BigInt()
	q, r := new(big.Int).QuoRem(b, pow10big[k], new(big.Int))
	r.Abs(r).Lsh(r, 1)
	if r.Cmp(pow10big[k]) >= 0 {
		q.Add(q, big.NewInt(int64(b.Sign())))
	}
	out, _ := decFromBig(q)
	return out
}

// decDivPow10Trunc divides x by 10^k truncating toward zero.
func decDivPow10Trunc(x decimal256.Num, k int32) decimal256.Num {
	if k == 0 {
		return x
	}
	if v, ok := decSmall(x); ok {
		if k >= 19 {
			return decimal256.Num{}
		}
		return decimal256.FromI64(v / int64(pow10u64[k]))
	}
	if k >= 80 {
		return decimal256.Num{}
	}
	b := x.BigInt()
	out, _ := decFromBig(b.Quo(b, pow10big[k]))
	return out
}

// DecRescale changes the scale of x from 'from' to 'to', rounding half away
// from zero when the scale shrinks; ok is false on overflow.
func DecRescale(x decimal256.Num, from, to int32) (decimal256.Num, bool) {
	if to >= from {
		return decMulPow10(x, to-from)
	}
	return decDivPow10Round(x, from-to), true
}

// DecFits reports whether x has at most prec digits.
func DecFits(x decimal256.Num, prec int32) bool {
	if v, ok := decSmall(x); ok {
		if v == math.MinInt64 {
			return prec >= 19
		}
		if prec >= 19 {
			return true
		}
		return uint64(absI64(v)) < pow10u64[prec]
	}
	if prec >= 76 {
		return true
	}
	return x.FitsInPrecision(prec)
}

// decMul multiplies two unscaled decimals; ok is false on 256-bit overflow.
func decMul(a, b decimal256.Num) (decimal256.Num, bool) {
	x, ok1 := decSmall(a)
	y, ok2 := decSmall(b)
	if ok1 && ok2 {
		hi, lo := bits.Mul64(uint64(absI64(x)), uint64(absI64(y)))
		if hi == 0 && lo <= math.MaxInt64 && x != math.MinInt64 && y != math.MinInt64 {
			r := int64(lo)
			if (x < 0) != (y < 0) {
				r = -r
			}
			return decimal256.FromI64(r), true
		}
	}
	ba, bb := a.BigInt(), b.BigInt()
	return decFromBig(ba.Mul(ba, bb))
}

// decDiv returns round(a * 10^e / b) (half away from zero); b must not be 0.
func decDiv(a, b decimal256.Num, e int32) (decimal256.Num, bool) {
	if x, ok := decSmall(a); ok && e < 19 {
		if y, ok := decSmall(b); ok && x != math.MinInt64 && y != math.MinInt64 {
			hi, lo := bits.Mul64(uint64(absI64(x)), pow10u64[e])
			d := uint64(absI64(y))
			if hi < d {
				q, r := bits.Div64(hi, lo, d)
				if r >= d-r {
					q++
				}
				if q <= math.MaxInt64 {
					v := int64(q)
					if (x < 0) != (y < 0) {
						v = -v
					}
					return decimal256.FromI64(v), true
				}
			}
		}
	}
	if e >= 80 {
		return decimal256.Num{}, false
	}
	na := a.BigInt()
	na.Mul(na, pow10big[e])
	nb := b.BigInt()
	q, r := new(big.Int).QuoRem(na, nb, new(big.Int))
	r.Abs(r).Lsh(r, 1)
	if r.Cmp(new(big.Int).Abs(nb)) >= 0 {
		if na.Sign() == nb.Sign() {
			q.Add(q, big.NewInt(1))
		} else {
			q.Sub(q, big.NewInt(1))
		}
	}
	return decFromBig(q)
}

// DecDivTrunc returns a * 10^e / b cut toward zero; b must not be 0.
func DecDivTrunc(a, b decimal256.Num, e int32) (decimal256.Num, bool) {
	if e >= 80 {
		return decimal256.Num{}, false
	}
	na := a.BigInt()
	na.Mul(na, pow10big[e])
	return decFromBig(na.Quo(na, b.BigInt()))
}

// DecDivCuts reports whether MySQL's (and MariaDB's) division of a DECIMAL
// of scale s1 by one of scale s2, to the result scale s, cuts the quotient
// instead of rounding it: strings/decimal.c computes ROUND_UP(s1+s2+4)
// groups of 9 digits and rounds that to s, so when those digits are
// exactly s (s2 = 0 and s1 = 5, 14 or 23) there is nothing left to round
// (2.00000 / 3 is 0.666666666).
func DecDivCuts(s1, s2, s int32) bool {
	return (s1+s2+4+8)/9*9 == s
}

// DecString formats an unscaled decimal with its scale as MySQL does:
// "-12.30", "0.05".
func DecString(x decimal256.Num, scale int32) string {
	var digits string
	neg := false
	if v, ok := decSmall(x); ok {
		if v < 0 {
			neg = true
			digits = uitoa(uint64(-v)) // MinInt64 wraps to its magnitude
		} else {
			digits = uitoa(uint64(v))
		}
	} else {
		b := x.BigInt()
		neg = b.Sign() < 0
		digits = b.Abs(b).String()
	}
	if scale > 0 {
		if int32(len(digits)) <= scale {
			digits = strings.Repeat("0", int(scale)-len(digits)+1) + digits
		}
		p := len(digits) - int(scale)
		digits = digits[:p] + "." + digits[p:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

func uitoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for v >= 10 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	i--
	b[i] = byte('0' + v)
	return string(b[i:])
}

var errBadDecimal = errors.New("not a decimal number")

// DecParse parses decimal text ("-12.345", "1e3", " 7 ") to an unscaled
// decimal of the given scale, rounding half away from zero. It fails on
// anything that is not a number.
func DecParse(s string, scale int32) (decimal256.Num, error) {
	s = strings.TrimSpace(s)
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	mant, exp := s, int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, ok := parseExp(s[i+1:])
		if !ok {
			return decimal256.Num{}, errBadDecimal
		}
		exp = e
	}
	intPart, frac := mant, ""
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		intPart, frac = mant[:i], mant[i+1:]
	}
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return decimal256.Num{}, errBadDecimal
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	// value = digits * 10^(exp - len(frac)); we want value * 10^scale.
	shift := exp - int64(len(frac)) + int64(scale)
	if digits == "" {
		return decimal256.Num{}, nil
	}
	if int64(len(digits))+shift > 76 {
		return decimal256.Num{}, errors.New("decimal value is out of range")
	}
	b, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return decimal256.Num{}, errBadDecimal
	}
	if shift >= 0 {
		b.Mul(b, new(big.Int).Exp(big.NewInt(10), big.NewInt(shift), nil))
	} else {
		if -shift > int64(len(digits))+1 {
			return decimal256.Num{}, nil
		}
		d := new(big.Int).Exp(big.NewInt(10), big.NewInt(-shift), nil)
		q, r := new(big.Int).QuoRem(b, d, new(big.Int))
		if r.Lsh(r, 1).Cmp(d) >= 0 {
			q.Add(q, big.NewInt(1))
		}
		b = q
	}
	if neg {
		b.Neg(b)
	}
	out, ok := decFromBig(b)
	if !ok {
		return decimal256.Num{}, errors.New("decimal value is out of range")
	}
	return out, nil
}

func parseExp(s string) (int64, bool) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" || !allDigits(s) || len(s) > 6 {
		return 0, false
	}
	var e int64
	for i := 0; i < len(s); i++ {
		e = e*10 + int64(s[i]-'0')
	}
	if neg {
		e = -e
	}
	return e, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// DecToFloat converts an unscaled decimal to the float64 nearest its
// value, as MySQL's decimal2double (strtod of the text) does. An unscaled
// value within ±2^53 and a power of ten up to 1e22 are exact float64s, so
// one division rounds once; other values are read from their text (an
// integer beyond 2^53 made a float64 and then divided rounded twice:
// 1599812690727.238000 became 1599812690727.2378).
func DecToFloat(x decimal256.Num, scale int32) float64 {
	if v, ok := decSmall(x); ok && v >= -1<<53 && v <= 1<<53 && scale <= 22 {
		return float64(v) / pow10f[scale]
	}
	f, _ := strconv.ParseFloat(DecString(x, scale), 64) // 65 digits at most: always in range
	return f
}

var pow10f = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13,
	1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// DecCmp compares two unscaled decimals of the same scale.
func DecCmp(a, b decimal256.Num) int {
	x, ok1 := decSmall(a)
	y, ok2 := decSmall(b)
	if ok1 && ok2 {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return a.Cmp(b)
}

// DecMul multiplies two unscaled decimals (the result scale is the sum of
// the scales); ok is false on overflow.
func DecMul(a, b decimal256.Num) (decimal256.Num, bool) { return decMul(a, b) }

// DecDiv returns round(a × 10^e / b), half away from zero; b must not be 0.
func DecDiv(a, b decimal256.Num, e int32) (decimal256.Num, bool) { return decDiv(a, b, e) }

func sign64(v int64) int {
	if v < 0 {
		return -1
	}
	return 1
}
