package stdlib

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/decimal256"
)

// Kernel computes a function's result for the selected rows (all rows
// 0..n-1 when sel is nil). The caller has already marked in out the rows
// where an argument is NULL and left them out of sel, unless the function
// says it handles NULLs itself. Arguments are either all constant (n is
// then 1) or all full vectors. A kernel writes out only at selected rows,
// never modifies its arguments, and reports a failing row with c.Fail and
// out.SetNull.
type Kernel func(c *Ctx, args []*Vector, sel []int32, n int, out *Vector)

// CastOptions control a conversion.
type CastOptions struct {
	// Lenient conversions never fail: text that is not a number reads as
	// its numeric prefix (or 0), as MySQL does when it compares a string
	// with a number. Explicit CASTs are strict: bad text is a row error.
	Lenient bool
	// Format says how values are shown when converted to text.
	Format FormatOptions
}

// CanCast reports whether values of type from can be converted to type to.
func CanCast(from, to Type) bool {
	_, err := CastKernel(from, to, CastOptions{})
	return err == nil
}

// CastKernel returns the kernel converting from → to (arguments: one
// vector of type from; out: a vector of type to).
func CastKernel(from, to Type, opt CastOptions) (Kernel, error) {
	bad := fmt.Errorf("cannot cast %s to %s", from, to)
	if from == to && to.Kind != Decimal {
		return func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) { out.Set(i, a[0], i, n) })
		}, nil
	}
	if from.Kind == Null {
		return func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) { out.SetNull(i, n) })
		}, nil
	}
	if from.Kind == Interval || to.Kind == Interval || to.Kind == Null {
		return nil, bad
	}
	switch to.Kind {
	case String, Binary:
		if from.Kind == Binary && to.Kind == String {
			return func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
				Sel(sel, n, func(i int) { out.Str[i] = BinaryText(a[0].Str[i]) })
			}, nil
		}
		return func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) { out.Str[i], _ = Format(a[0], i, opt.Format) })
		}, nil
	case JSON:
		return func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				s, _ := Format(a[0], i, opt.Format)
				if from.IsStringLike() || from.Kind == Binary {
					if !json.Valid([]byte(s)) {
						c.Fail(i, fmt.Sprintf("invalid JSON text %s", clip(s)))
						out.SetNull(i, n)
						return
					}
				} else if from.IsTemporal() {
					s = strconv.Quote(s)
				}
				out.Str[i] = s
			})
		}, nil
	}
	// Every other target is computed row by row from a typed reader.
	var conv func(c *Ctx, a *Vector, i int, out *Vector) string // "" ok, else the reason
	switch {
	case to.Kind == Bool:
		conv = toBool(from, opt)
	case to.IsSigned():
		conv = toInt(from, to, opt)
	case to.IsUnsigned():
		conv = toUint(from, to, opt)
	case to.IsFloat():
		conv = toFloat(from, to, opt)
	case to.Kind == Decimal:
		conv = toDecimal(from, to, opt)
	case to.Kind == Date, to.Kind == Timestamp, to.Kind == Time:
		conv = toTemporal(from, to)
	}
	if conv == nil {
		return nil, bad
	}
	return func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
		in := a[0]
		Sel(sel, n, func(i int) {
			if reason := conv(c, in, i, out); reason != "" {
				if !opt.Lenient {
					c.Fail(i, reason)
				}
				out.SetNull(i, n)
			}
		})
	}, nil
}

func clip(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return quote(s)
}

func castFail(a *Vector, i int, to Type) string {
	s, _ := Format(a, i, DefaultFormat)
	if a.Type.IsStringLike() || a.Type.Kind == Binary {
		s = clip(s)
	}
	return fmt.Sprintf("cannot cast %s to %s", s, to)
}

func outOfRange(a *Vector, i int, to Type) string {
	s, _ := Format(a, i, DefaultFormat)
	return fmt.Sprintf("value %s is out of range for %s", s, to)
}

// numericPrefix returns the longest prefix of s that is a number ("12abc" → "12").
func numericPrefix(s string) string {
	s = strings.TrimSpace(s)
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return "0"
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k > j {
			i = k
		}
	}
	return strings.TrimSuffix(s[:i], ".")
}

// ParseFloatText parses text as a number; lenient takes the numeric prefix.
func ParseFloatText(s string, lenient bool) (float64, bool) {
	if lenient {
		f, _ := strconv.ParseFloat(numericPrefix(s), 64)
		return f, true
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f, true
		}
		return 0, false
	}
	return f, true
}

// temporalNumber returns a DATE/TIMESTAMP/TIME as MySQL's number
// (YYYYMMDD, YYYYMMDDHHMMSS, HHMMSS), dropping fractions.
func temporalNumber(t Type, v int64) int64 {
	switch t.Kind {
	case Date:
		y, m, d := DateParts(v)
		return y*10000 + m*100 + d
	case Timestamp:
		y, m, d, rem := TimestampParts(v)
		return ((y*10000+m*100+d)*100+rem/usPerHour)*10000 + rem/usPerMin%60*100 + rem/usPerSec%60
	case Time:
		neg := v < 0
		if neg {
			v = -v
		}
		r := v/usPerHour*10000 + v/usPerMin%60*100 + v/usPerSec%60
		if neg {
			r = -r
		}
		return r
	}
	return v
}

// temporalFracUs returns the fraction of a second of a TIMESTAMP or TIME
// in µs (negative for a negative TIME), 0 for a DATE: MySQL's number of a
// DATETIME(6) keeps it after the point (20240229235959.500000).
func temporalFracUs(t Type, v int64) int64 {
	switch t.Kind {
	case Timestamp:
		return TimeOfDay(v) % usPerSec
	case Time:
		return v % usPerSec
	}
	return 0
}

// readDec reads row i of a numeric vector as an unscaled decimal at scale.
func readDec(a *Vector, i int, scale int32, opt CastOptions) (decimal256.Num, string) {
	j := a.Idx(i)
	t := a.Type
	switch {
	case t.Kind == Bool:
		v := int64(0)
		if a.Bool[j] {
			v = 1
		}
		d, _ := decMulPow10(DecFromInt(v), scale)
		return d, ""
	case t.IsSigned():
		d, ok := decMulPow10(DecFromInt(a.I64[j]), scale)
		if !ok {
			return d, "overflow"
		}
		return d, ""
	case t.IsTemporal():
		// The number with its microseconds, rounded to scale as MySQL does.
		v := a.I64[j]
		d, _ := decMulPow10(DecFromInt(temporalNumber(t, v)), 6)
		d = d.Add(DecFromInt(temporalFracUs(t, v)))
		d, ok := DecRescale(d, 6, scale)
		if !ok {
			return d, "overflow"
		}
		return d, ""
	case t.IsUnsigned():
		d, ok := decMulPow10(DecFromUint(a.U64[j]), scale)
		if !ok {
			return d, "overflow"
		}
		return d, ""
	case t.IsFloat():
		f := a.F64[j]
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return decimal256.Num{}, "overflow"
		}
		d, err := DecParse(strconv.FormatFloat(f, 'e', -1, 64), scale)
		if err != nil {
			return d, "overflow"
		}
		return d, ""
	case t.Kind == Decimal:
		d, ok := DecRescale(a.Dec[j], t.Scale, scale)
		if !ok {
			return d, "overflow"
		}
		return d, ""
	case t.IsStringLike() || t.Kind == Binary:
		s := a.Str[j]
		if opt.Lenient {
			s = numericPrefix(s)
		}
		d, err := DecParse(s, scale)
		if err != nil {
			if err == errBadDecimal {
				return d, "bad"
			}
			return d, "overflow"
		}
		return d, ""
	}
	return decimal256.Num{}, "bad"
}

// readIntText reads text (at row i of a) as CAST(s AS SIGNED) and
// UNSIGNED do in MariaDB: the integer part of the number, without its
// fraction and without its exponent ('2.7' → 2, '1e3' → 1, '-2.7e1' → -2;
// MariaDB warns "Truncated incorrect INTEGER value" for each and takes the
// digits before the '.' or 'e').
func readIntText(a *Vector, i int, opt CastOptions) (decimal256.Num, string) {
	if _, why := readDec(a, i, 0, opt); why == "bad" {
		return decimal256.Num{}, why
	}
	s := a.Str[a.Idx(i)]
	if opt.Lenient {
		s = numericPrefix(s)
	}
	if k := strings.IndexAny(s, "eE"); k >= 0 {
		s = s[:k]
	}
	t, err := DecParse(s, 6)
	if err != nil {
		if err == errBadDecimal {
			return t, "bad"
		}
		return t, "overflow"
	}
	return decDivPow10Trunc(t, 6), ""
}

func toDecimal(from, to Type, opt CastOptions) func(*Ctx, *Vector, int, *Vector) string {
	if from.Kind == Date || from.Kind == Timestamp || from.Kind == Time || from.Kind == Interval {
		if from.Kind == Interval {
			return nil
		}
	}
	return func(c *Ctx, a *Vector, i int, out *Vector) string {
		d, why := readDec(a, i, to.Scale, opt)
		switch {
		case why == "bad":
			return castFail(a, i, to)
		case why != "" || !DecFits(d, to.Precision):
			return outOfRange(a, i, to)
		}
		out.Dec[i] = d
		return ""
	}
}

func toInt(from, to Type, opt CastOptions) func(*Ctx, *Vector, int, *Vector) string {
	lo, hi := IntRange(to.Kind)
	return func(c *Ctx, a *Vector, i int, out *Vector) string {
		j := a.Idx(i)
		// An implicit conversion (a function's integer argument) clamps a
		// value out of range, as MySQL does, instead of losing it.
		over := func(neg bool) string {
			if !opt.Lenient {
				return outOfRange(a, i, to)
			}
			out.I64[i] = hi
			if neg {
				out.I64[i] = lo
			}
			return ""
		}
		var v int64
		switch {
		case from.IsSigned():
			v = a.I64[j]
		case from.IsTemporal():
			v = temporalNumber(from, a.I64[j])
		case from.IsUnsigned():
			if a.U64[j] > math.MaxInt64 {
				return over(false)
			}
			v = int64(a.U64[j])
		case from.Kind == Bool:
			if a.Bool[j] {
				v = 1
			}
		case from.IsFloat():
			f := math.RoundToEven(a.F64[j]) // MariaDB rounds a DOUBLE half to even (a DECIMAL half up)
			if !(f >= -9.223372036854775808e18 && f < 9.223372036854775808e18) {
				return over(f < 0)
			}
			v = int64(f)
		default: // decimal, text: through a decimal, rounding (text truncates, as MySQL)
			scale := int32(0)
			if from.Kind == Decimal {
				scale = from.Scale
			}
			d, why := readDec(a, i, scale, opt)
			if from.Kind != Decimal {
				d, why = readIntText(a, i, opt)
			} else {
				d = decDivPow10Round(d, scale)
			}
			if why == "bad" {
				return castFail(a, i, to)
			}
			s, ok := decSmall(d)
			if why != "" || !ok {
				return over(d.Sign() < 0 || (from.Kind != Decimal && strings.HasPrefix(strings.TrimSpace(a.Str[j]), "-")))
			}
			v = s
		}
		if v < lo || v > hi {
			return over(v < lo)
		}
		out.I64[i] = v
		return ""
	}
}

func toUint(from, to Type, opt CastOptions) func(*Ctx, *Vector, int, *Vector) string {
	max := UintMax(to.Kind)
	return func(c *Ctx, a *Vector, i int, out *Vector) string {
		j := a.Idx(i)
		// An implicit conversion clamps, as in toInt.
		over := func(neg bool) string {
			if !opt.Lenient {
				return outOfRange(a, i, to)
			}
			out.U64[i] = max
			if neg {
				out.U64[i] = 0
			}
			return ""
		}
		var v uint64
		switch {
		case from.IsUnsigned():
			v = a.U64[j]
		case from.IsSigned() || from.IsTemporal():
			x := a.I64[j]
			if from.IsTemporal() {
				x = temporalNumber(from, x)
			}
			if x < 0 {
				return over(true)
			}
			v = uint64(x)
		case from.Kind == Bool:
			if a.Bool[j] {
				v = 1
			}
		case from.IsFloat():
			f := math.RoundToEven(a.F64[j])
			if !(f >= 0 && f < 1.8446744073709551616e19) {
				return over(!(f >= 0))
			}
			v = uint64(f)
		default:
			var d decimal256.Num
			var why string
			if from.Kind == Decimal {
				d, why = readDec(a, i, from.Scale, opt)
				d = decDivPow10Round(d, from.Scale)
			} else {
				d, why = readIntText(a, i, opt)
			}
			if why == "bad" {
				return castFail(a, i, to)
			}
			arr := d.Array()
			if why != "" || d.Sign() < 0 || arr[1] != 0 || arr[2] != 0 || arr[3] != 0 {
				return over(d.Sign() < 0 || (from.Kind != Decimal && strings.HasPrefix(strings.TrimSpace(a.Str[j]), "-")))
			}
			v = arr[0]
		}
		if v > max {
			return over(false)
		}
		out.U64[i] = v
		return ""
	}
}

func toFloat(from, to Type, opt CastOptions) func(*Ctx, *Vector, int, *Vector) string {
	return func(c *Ctx, a *Vector, i int, out *Vector) string {
		j := a.Idx(i)
		var f float64
		switch {
		case from.IsSigned():
			f = float64(a.I64[j])
		case from.IsTemporal():
			// As MariaDB computes it: the number, plus the fraction.
			f = float64(temporalNumber(from, a.I64[j])) + float64(temporalFracUs(from, a.I64[j]))/1e6
		case from.IsUnsigned():
			f = float64(a.U64[j])
		case from.IsFloat():
			f = a.F64[j]
		case from.Kind == Bool:
			if a.Bool[j] {
				f = 1
			}
		case from.Kind == Decimal:
			f = DecToFloat(a.Dec[j], from.Scale)
		default:
			var ok bool
			f, ok = ParseFloatText(a.Str[j], opt.Lenient)
			if !ok {
				return castFail(a, i, to)
			}
		}
		if to.Kind == Float32 {
			if math.Abs(f) > math.MaxFloat32 && !math.IsInf(f, 0) {
				return outOfRange(a, i, to)
			}
			f = float64(float32(f))
		}
		out.F64[i] = f
		return ""
	}
}

func toBool(from Type, opt CastOptions) func(*Ctx, *Vector, int, *Vector) string {
	return func(c *Ctx, a *Vector, i int, out *Vector) string {
		j := a.Idx(i)
		switch {
		case from.Kind == Date:
			// MySQL reads a date as the number YYYYMMDD: only the zero
			// date is FALSE.
			out.Bool[i] = a.I64[j] != invalidDateBase
		case from.Kind == Timestamp:
			out.Bool[i] = a.I64[j] != invalidTsBase
		case from.IsSigned() || from.IsTemporal():
			out.Bool[i] = a.I64[j] != 0
		case from.IsUnsigned():
			out.Bool[i] = a.U64[j] != 0
		case from.IsFloat():
			out.Bool[i] = a.F64[j] != 0
		case from.Kind == Decimal:
			out.Bool[i] = a.Dec[j].Sign() != 0
		case opt.Lenient:
			// Text as a condition, as MySQL reads it: its numeric prefix
			// is not zero ('abc' is FALSE, '12abc' TRUE).
			f, _ := ParseFloatText(a.Str[j], true)
			out.Bool[i] = f != 0
		default:
			s := strings.ToLower(strings.TrimSpace(a.Str[j]))
			switch s {
			case "true", "t", "yes", "y", "on":
				out.Bool[i] = true
			case "false", "f", "no", "n", "off":
				out.Bool[i] = false
			default:
				f, ok := ParseFloatText(s, opt.Lenient)
				if !ok {
					return castFail(a, i, TBool)
				}
				out.Bool[i] = f != 0
			}
		}
		return ""
	}
}

func toTemporal(from, to Type) func(*Ctx, *Vector, int, *Vector) string {
	switch {
	case from.IsStringLike():
		return func(c *Ctx, a *Vector, i int, out *Vector) string {
			s := a.Str[a.Idx(i)]
			var v int64
			var err error
			switch to.Kind {
			case Date:
				v, err = ParseDate(s)
			case Timestamp:
				v, err = ParseTimestamp(s)
			default:
				v, err = ParseTime(s)
			}
			if err != nil {
				return castFail(a, i, to)
			}
			out.I64[i] = v
			return ""
		}
	case from.Kind == Date && to.Kind == Timestamp:
		return func(c *Ctx, a *Vector, i int, out *Vector) string {
			out.I64[i] = DateToTimestamp(a.I64[a.Idx(i)])
			return ""
		}
	case from.Kind == Timestamp && to.Kind == Date:
		return func(c *Ctx, a *Vector, i int, out *Vector) string {
			out.I64[i] = TimestampToDate(a.I64[a.Idx(i)])
			return ""
		}
	case from.Kind == Timestamp && to.Kind == Time:
		return func(c *Ctx, a *Vector, i int, out *Vector) string {
			out.I64[i] = TimeOfDay(a.I64[a.Idx(i)])
			return ""
		}
	}
	return nil
}

// BinaryText is bytes as text, as MariaDB's CAST(x AS CHAR) converts a
// binary string to utf8mb4: each byte that does not begin a well-formed
// character becomes '?' (a truncated sequence is a '?' per byte). As in
// MariaDB's utf8mb4, the forms of the surrogates U+D800…U+DFFF are
// characters; overlong forms and code points above U+10FFFF are not.
func BinaryText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	cont := func(i int) bool { return i < len(s) && s[i]&0xC0 == 0x80 }
	for i := 0; i < len(s); {
		c := s[i]
		n := 0
		switch {
		case c < 0x80:
			n = 1
		case c >= 0xC2 && c <= 0xDF && cont(i+1):
			n = 2
		case c >= 0xE0 && c <= 0xEF && cont(i+1) && cont(i+2) && (c >= 0xE1 || s[i+1] >= 0xA0):
			n = 3
		case c >= 0xF0 && c <= 0xF4 && cont(i+1) && cont(i+2) && cont(i+3) &&
			(c >= 0xF1 || s[i+1] >= 0x90) && (c < 0xF4 || s[i+1] < 0x90):
			n = 4
		}
		if n == 0 {
			b = append(b, '?')
			i++
			continue
		}
		b = append(b, s[i:i+n]...)
		i += n
	}
	return string(b)
}
