package mysql

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/etlq/etlq/exec"
)

// CastText returns the text MySQL/MariaDB gives for CAST(col AS CHAR) of the
// source value at row i of arr, a column of field f as this source
// produces it (f carries exec.MetaSourceType). ok is false for NULL.
// TIMESTAMP values are given in UTC (as with time_zone = '+00:00').
func CastText(f arrow.Field, arr arrow.Array, i int) (s string, ok bool) {
	if arr.IsNull(i) {
		return "", false
	}
	st, _ := f.Metadata.GetValue(exec.MetaSourceType)
	lt, _ := f.Metadata.GetValue(exec.MetaLogicalType)
	fsp := typeFsp(st)
	switch a := arr.(type) {
	case *array.Int8:
		return strconv.FormatInt(int64(a.Value(i)), 10), true
	case *array.Int16:
		return strconv.FormatInt(int64(a.Value(i)), 10), true
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(i)), 10), true
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10), true
	case *array.Uint8:
		return strconv.FormatUint(uint64(a.Value(i)), 10), true
	case *array.Uint16:
		if lt == "year" {
			return fmt.Sprintf("%04d", a.Value(i)), true
		}
		return strconv.FormatUint(uint64(a.Value(i)), 10), true
	case *array.Uint32:
		return strconv.FormatUint(uint64(a.Value(i)), 10), true
	case *array.Uint64:
		if lt == "bit" {
			n := (typeWidth(st, 1) + 7) / 8
			b := make([]byte, n)
			v := a.Value(i)
			for k := n - 1; k >= 0; k-- {
				b[k] = byte(v)
				v >>= 8
			}
			return binaryText(b), true
		}
		return strconv.FormatUint(a.Value(i), 10), true
	case *array.Float32:
		return exec.FloatCastText(float64(a.Value(i)), 32), true
	case *array.Float64:
		return exec.FloatCastText(a.Value(i), 64), true
	case *array.Decimal128:
		dt := a.DataType().(*arrow.Decimal128Type)
		return formatUnscaled(a.Value(i).BigInt().String(), int(dt.Scale)), true
	case *array.Decimal256:
		dt := a.DataType().(*arrow.Decimal256Type)
		return formatUnscaled(a.Value(i).BigInt().String(), int(dt.Scale)), true
	case *array.String:
		return a.Value(i), true
	case *array.Binary:
		if lt == "geometry" {
			return string(a.Value(i)), true
		}
		return binaryText(a.Value(i)), true
	case *array.Date32:
		y, m, d, _ := DecodeDate(int32(a.Value(i)))
		return fmt.Sprintf("%04d-%02d-%02d", y, m, d), true
	case *array.Timestamp:
		y, mo, d, h, mi, s, us, _ := DecodeDatetime(int64(a.Value(i)))
		out := fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d", y, mo, d, h, mi, s)
		return out + fracText(us, fsp), true
	case *array.Duration:
		v := int64(a.Value(i))
		sign := ""
		if v < 0 {
			sign, v = "-", -v
		}
		h, m, s, us := v/3600e6, v/60e6%60, v/1e6%60, int(v%1e6)
		return fmt.Sprintf("%s%02d:%02d:%02d", sign, h, m, s) + fracText(us, fsp), true
	}
	return arr.ValueStr(i), true
}

// typeFsp returns the fractional digits of "datetime(3)"/"time(6)".
func typeFsp(st string) int {
	if !strings.HasPrefix(st, "datetime") && !strings.HasPrefix(st, "timestamp") && !strings.HasPrefix(st, "time") {
		return 0
	}
	return typeWidth(st, 0)
}

// typeWidth returns n from "type(n)…", or def.
func typeWidth(st string, def int) int {
	i := strings.IndexByte(st, '(')
	j := strings.IndexByte(st, ')')
	if i < 0 || j < i {
		return def
	}
	n, err := strconv.Atoi(st[i+1 : j])
	if err != nil {
		return def
	}
	return n
}

func fracText(us, fsp int) string {
	if fsp <= 0 {
		return ""
	}
	s := fmt.Sprintf(".%06d", us)
	return s[:1+fsp]
}

// formatUnscaled places a decimal point scale digits from the right.
func formatUnscaled(digits string, scale int) string {
	neg := strings.HasPrefix(digits, "-")
	if neg {
		digits = digits[1:]
	}
	for len(digits) <= scale {
		digits = "0" + digits
	}
	if scale > 0 {
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if neg {
		digits = "-" + digits
	}
	return digits
}

// binaryText is a binary string as the server sends it in a utf8mb4
// result: bytes that are not valid UTF-8 become '?'.
func binaryText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			out = append(out, '?')
			b = b[1:]
			continue
		}
		out = append(out, b[:n]...)
		b = b[n:]
	}
	return string(out)
}
