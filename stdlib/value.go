package stdlib

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// FormatOptions refine how a value is shown as text.
type FormatOptions struct {
	// FSP is the number of fractional second digits of TIMESTAMP and TIME
	// values (MySQL's fsp, from the source column type); -1 prints 6 digits
	// when the value has a fraction and none otherwise.
	FSP int
	// Logical is the source's logical type ("year", "bit", …), if any.
	Logical string
}

// DefaultFormat prints fractions only when present.
var DefaultFormat = FormatOptions{FSP: -1}

// FormatFloat formats f as MySQL/MariaDB print a DOUBLE (bitSize 64: the
// shortest text that reads back the same value) or a FLOAT (bitSize 32: six
// significant digits), in exponent form ("1e20", "1.5e-16") when the
// decimal exponent is at least 15 or below -15. Negative zero prints "0".
func FormatFloat(f float64, bitSize int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case f == 0:
		return "0"
	}
	if bitSize == 32 {
		return layoutFloat(strconv.FormatFloat(f, 'e', 5, 64))
	}
	return layoutFloat(strconv.FormatFloat(f, 'e', -1, 64))
}

// FormatFloatShortest formats f as FormatFloat formats a DOUBLE — plain
// digits, exponent form from 1e15 and below 1e-15 — with the shortest
// digits that read back the same value of its bitSize (32 or 64): a FLOAT
// keeps every digit its float32 needs, where CAST shows six. The text
// formats (csv, table, canal_json) write floats so.
func FormatFloatShortest(f float64, bitSize int) string {
	switch {
	case math.IsNaN(f), math.IsInf(f, 0):
		return FormatFloat(f, bitSize)
	case f == 0:
		return "0"
	}
	return layoutFloat(strconv.FormatFloat(f, 'e', -1, bitSize))
}

// layoutFloat lays out s, a float in Go's 'e' form ("-1.5e+06"), as MySQL
// prints a DOUBLE: "-1500000"; "1e20" and "1.5e-16" from 1e15 and below
// 1e-15.
func layoutFloat(s string) string {
	mant, expText, _ := strings.Cut(s, "e")
	if strings.Contains(mant, ".") {
		mant = strings.TrimRight(strings.TrimRight(mant, "0"), ".")
	}
	exp, _ := strconv.Atoi(expText)
	if exp < -15 || exp >= 15 {
		return mant + "e" + strconv.Itoa(exp)
	}
	neg := strings.HasPrefix(mant, "-")
	digits := strings.Replace(strings.TrimPrefix(mant, "-"), ".", "", 1)
	var out string
	switch {
	case exp < 0:
		out = "0." + strings.Repeat("0", -exp-1) + digits
	case exp+1 >= len(digits):
		out = digits + strings.Repeat("0", exp+1-len(digits))
	default:
		out = digits[:exp+1] + "." + digits[exp+1:]
	}
	if neg {
		return "-" + out
	}
	return out
}

// Format returns row of v as MySQL's CAST(… AS CHAR) shows it. ok is false
// for NULL.
func Format(v *Vector, row int, opt FormatOptions) (s string, ok bool) {
	if v.IsNull(row) {
		return "", false
	}
	i := v.Idx(row)
	t := v.Type
	switch t.Kind {
	case Null:
		return "", false
	case Bool:
		if v.Bool[i] {
			return "1", true
		}
		return "0", true
	case Int8, Int16, Int32, Int64:
		return strconv.FormatInt(v.I64[i], 10), true
	case Uint8, Uint16, Uint32, Uint64:
		if opt.Logical == "year" && v.U64[i] == 0 {
			return "0000", true
		}
		return strconv.FormatUint(v.U64[i], 10), true
	case Float32:
		return FormatFloat(v.F64[i], 32), true
	case Float64:
		return FormatFloat(v.F64[i], 64), true
	case Decimal:
		return DecString(v.Dec[i], t.Scale), true
	case String, JSON, Binary:
		return v.Str[i], true
	case Date:
		return FormatDate(v.I64[i]), true
	case Timestamp:
		return FormatTimestamp(v.I64[i], opt.FSP), true
	case Time:
		return FormatTime(v.I64[i], opt.FSP), true
	case Interval:
		return FormatInterval(v.Iv[i]), true
	}
	return "", false
}

// ConstOf returns a constant vector holding v (nil, bool, int64, uint64,
// float64, string or []byte) as type t. Strings are parsed for numeric,
// decimal and temporal types.
func ConstOf(v any, t Type) (*Vector, error) {
	if v == nil {
		return NewNullConst(t), nil
	}
	if t.Kind == Null {
		return nil, fmt.Errorf("a NULL literal cannot hold %v", v)
	}
	src := NewConst(srcTypeOf(v))
	switch x := v.(type) {
	case bool:
		src.Bool[0] = x
	case int:
		src.I64[0] = int64(x)
	case int64:
		src.I64[0] = x
	case uint64:
		src.U64[0] = x
	case float64:
		src.F64[0] = x
	case string:
		src.Str[0] = x
	case []byte:
		src.Str[0] = string(x)
	default:
		return nil, fmt.Errorf("literal of Go type %T is not supported", v)
	}
	if src.Type == t {
		return src, nil
	}
	out := NewConst(t)
	if t.Kind == Interval {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("an interval literal needs text such as '5 MINUTE'")
		}
		iv, err := ParseInterval(s)
		if err != nil {
			return nil, err
		}
		out.Iv[0] = iv
		return out, nil
	}
	k, err := CastKernel(src.Type, t, CastOptions{Format: DefaultFormat})
	if err != nil {
		return nil, err
	}
	var c Ctx
	k(&c, []*Vector{src}, nil, 1, out)
	if len(c.Errs) > 0 {
		return nil, fmt.Errorf("literal %s: %s", SQLLiteral(src), c.Errs[0].Reason)
	}
	return out, nil
}

func srcTypeOf(v any) Type {
	switch v.(type) {
	case bool:
		return TBool
	case int, int64:
		return TInt64
	case uint64:
		return TUint64
	case float64:
		return TFloat64
	case []byte:
		return TBinary
	}
	return TString
}

// SQLLiteral returns row 0 of a constant vector in the language's syntax.
func SQLLiteral(v *Vector) string {
	if v.IsNull(0) {
		return "NULL"
	}
	s, _ := Format(v, 0, DefaultFormat)
	switch v.Type.Kind {
	case Bool:
		if v.Bool[0] {
			return "TRUE"
		}
		return "FALSE"
	case String, JSON:
		return quote(s)
	case Binary:
		return "X'" + strings.ToUpper(hex.EncodeToString([]byte(s))) + "'"
	case Date:
		return "DATE " + quote(s)
	case Timestamp:
		return "TIMESTAMP " + quote(s)
	case Time:
		return "TIME " + quote(s)
	case Interval:
		return "INTERVAL " + quote(s)
	case Float32, Float64:
		if !strings.ContainsAny(s, ".eIN") {
			s += "e0"
		}
	}
	return s
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
