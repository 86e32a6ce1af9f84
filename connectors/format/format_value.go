package format

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/exec"
)

// Value encodings shared by the formats. A caller checks IsNull first; these
// functions encode non-NULL values only.

// textStyle selects how binary values are written as text.
type textStyle int

const (
	textHuman  textStyle = iota // table: binary as 0x… hex
	textBase64                  // csv, canal_json: binary as base64
)

// Text returns the text form of non-NULL a[i] that csv and canal_json
// write: decimals with exactly their scale ("2000.00"), dates and times as
// MySQL writes them ("2026-01-02 03:04:05.123456", "-838:59:59", zero
// dates as "0000-00-00"), timestamps in UTC, binary as base64, floats with
// the shortest round-tripping digits. For text that quotes values outside
// the formats (dead letters, error messages).
func Text(a arrow.Array, i int) (string, error) {
	b, err := appendText(nil, a, i, textBase64)
	return string(b), err
}

// TextOf is Text for a value of column f: a DATETIME, TIMESTAMP or TIME
// column that declares its fractional digits (its etlq.source_type,
// "time(2)") is written with exactly that many, as the csv format writes
// it ("-838:59:59.00", "2024-03-30 20:00:00.123").
func TextOf(f arrow.Field, a arrow.Array, i int) (string, error) {
	b, err := appendColumnText(nil, a, i, textBase64, sourceFSP(f), logicalType(f))
	return string(b), err
}

// TimeText is TextOf for one value v of a timestamp or time column f (a
// Timestamp or Duration field), given as a count of the field's unit: the
// text of a value a target keeps as that number (a ClickHouse without
// DateTime64, docs/types.md), as the source shows it.
func TimeText(f arrow.Field, v int64) (string, error) {
	b := array.NewBuilder(memory.DefaultAllocator, f.Type)
	defer b.Release()
	switch b := b.(type) {
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(v))
	case *array.DurationBuilder:
		b.Append(arrow.Duration(v))
	default:
		return "", fmt.Errorf("column %q: %s is no timestamp or time", f.Name, f.Type)
	}
	a := b.NewArray()
	defer a.Release()
	return TextOf(f, a, 0)
}

// appendColumnText is appendTextFSP for a value of a column of logical
// type logical: a YEAR is written with 4 digits, as MariaDB shows it
// ("0000" for YEAR 0, which is no year 0 but MySQL's zero YEAR).
func appendColumnText(dst []byte, a arrow.Array, i int, st textStyle, fsp int, logical string) ([]byte, error) {
	if y, ok := a.(*array.Uint16); ok && logical == "year" {
		return fmt.Appendf(dst, "%04d", y.Value(i)), nil
	}
	return appendTextFSP(dst, a, i, st, fsp)
}

// appendText appends the text form of a[i]: MySQL-like for dates and times
// ("2026-01-02 03:04:05.123456", "-838:59:59"), exact decimals, shortest
// round-tripping floats.
func appendText(dst []byte, a arrow.Array, i int, st textStyle) ([]byte, error) {
	switch a := a.(type) {
	case *array.Boolean:
		return strconv.AppendBool(dst, a.Value(i)), nil
	case *array.Int8:
		return strconv.AppendInt(dst, int64(a.Value(i)), 10), nil
	case *array.Int16:
		return strconv.AppendInt(dst, int64(a.Value(i)), 10), nil
	case *array.Int32:
		return strconv.AppendInt(dst, int64(a.Value(i)), 10), nil
	case *array.Int64:
		return strconv.AppendInt(dst, a.Value(i), 10), nil
	case *array.Uint8:
		return strconv.AppendUint(dst, uint64(a.Value(i)), 10), nil
	case *array.Uint16:
		return strconv.AppendUint(dst, uint64(a.Value(i)), 10), nil
	case *array.Uint32:
		return strconv.AppendUint(dst, uint64(a.Value(i)), 10), nil
	case *array.Uint64:
		return strconv.AppendUint(dst, a.Value(i), 10), nil
	case *array.Float32:
		return appendFloat(dst, float64(a.Value(i)), 32), nil
	case *array.Float64:
		return appendFloat(dst, a.Value(i), 64), nil
	case *array.Decimal128:
		return appendDecimal128(dst, a.Value(i), a.DataType().(*arrow.Decimal128Type).Scale), nil
	case *array.Decimal256:
		return append(dst, a.Value(i).ToString(a.DataType().(*arrow.Decimal256Type).Scale)...), nil
	case *array.String:
		return append(dst, a.Value(i)...), nil
	case *array.LargeString:
		return append(dst, a.Value(i)...), nil
	case *array.StringView:
		return append(dst, a.Value(i)...), nil
	case *array.Binary, *array.LargeBinary, *array.FixedSizeBinary, *array.BinaryView:
		v := bytesAt(a, i)
		if st == textHuman {
			dst = append(dst, "0x"...)
			return hex.AppendEncode(dst, v), nil
		}
		return base64.StdEncoding.AppendEncode(dst, v), nil
	case *array.Date32, *array.Date64:
		if y, m, d, _, ok := invalidDate(a, i); ok {
			return appendYMD(dst, y, m, d), nil
		}
		t, _ := timeAt(a, i)
		return t.AppendFormat(dst, "2006-01-02"), nil
	case *array.Timestamp:
		if y, m, d, tod, ok := invalidDate(a, i); ok {
			return appendInvalidDateTime(dst, y, m, d, tod, ' ', false), nil
		}
		t, _ := timeAt(a, i)
		return appendDateTime(dst, t), nil
	case *array.Duration:
		return appendClock(dst, durationMicros(a, i)), nil
	case *array.Time32, *array.Time64:
		return appendClock(dst, timeOfDayMicros(a, i)), nil
	}
	return dst, fmt.Errorf("unsupported column type %s", a.DataType())
}

// sourceFSP returns the fractional-second digits that a MySQL DATETIME(n),
// TIMESTAMP(n) or TIME(n) source column declares (0 for DATETIME), or -1
// for any other field.
func sourceFSP(f arrow.Field) int {
	st := strings.ToLower(strings.TrimSpace(sourceType(f)))
	name, args, _ := strings.Cut(st, "(")
	if name != "datetime" && name != "timestamp" && name != "time" {
		return -1
	}
	n, _, _ := strings.Cut(args, ")")
	fsp, err := strconv.Atoi(n)
	if err != nil || fsp < 0 || fsp > 6 {
		return 0
	}
	return fsp
}

// appendTextFSP is appendText, except that a timestamp or time of a column
// that declares fsp fractional digits (fsp >= 0, from sourceFSP) is
// written with exactly that many, zero dates included, as MySQL's
// CAST(col AS CHAR) shows it: "0000-00-00 00:00:00.000" for DATETIME(3).
func appendTextFSP(dst []byte, a arrow.Array, i int, st textStyle, fsp int) ([]byte, error) {
	switch a := a.(type) {
	case *array.Timestamp:
		if fsp < 0 || a.DataType().(*arrow.TimestampType).Unit != arrow.Microsecond {
			break
		}
		y, m, d, tod, ok := invalidDate(a, i)
		if !ok {
			t, _ := timeAt(a, i)
			y, m, d = t.Year(), int(t.Month()), t.Day()
			tod = int64(t.Hour())*3600e6 + int64(t.Minute())*60e6 + int64(t.Second())*1e6 + int64(t.Nanosecond()/1000)
		}
		dst = appendYMD(dst, y, m, d)
		dst = append(dst, ' ')
		return appendClockFSP(dst, tod, fsp), nil
	case *array.Duration:
		if fsp < 0 {
			break
		}
		return appendClockFSP(dst, durationMicros(a, i), fsp), nil
	}
	return appendText(dst, a, i, st)
}

// appendClockFSP writes "[-]HH:MM:SS" and exactly fsp fractional digits.
func appendClockFSP(dst []byte, us int64, fsp int) []byte {
	if us < 0 {
		dst = append(dst, '-')
		us = -us
	}
	s := us / 1e6
	dst = fmt.Appendf(dst, "%02d:%02d:%02d", s/3600, s/60%60, s%60)
	if fsp > 0 {
		f := strconv.AppendInt(nil, us%1e6+1e6, 10)
		dst = append(dst, '.')
		dst = append(dst, f[1:1+fsp]...)
	}
	return dst
}

// appendJSON appends non-NULL a[i] as a JSON value. dbz selects Debezium's
// encodings (date as days since the epoch, time as microseconds); otherwise
// dates and times are strings. A JSON column is a string of its text in
// both, so that a document that is JSON null ("null") stays apart from
// SQL NULL (null); embed (a column with exec.MetaEmbedJSON, never NULL)
// embeds valid JSON text instead, without whitespace between its tokens.
func appendJSON(dst []byte, a arrow.Array, i int, dbz, embed bool) ([]byte, error) {
	switch a := a.(type) {
	case *array.Boolean:
		return strconv.AppendBool(dst, a.Value(i)), nil
	case *array.Int8, *array.Int16, *array.Int32, *array.Int64,
		*array.Uint8, *array.Uint16, *array.Uint32, *array.Uint64:
		// Integers are exact in JSON text, whatever their size.
		return appendText(dst, a, i, textBase64)
	case *array.Float32:
		return appendJSONFloat(dst, float64(a.Value(i)), 32), nil
	case *array.Float64:
		return appendJSONFloat(dst, a.Value(i), 64), nil
	case *array.String, *array.LargeString, *array.StringView:
		// A JSON column too is a string, of its text: embedded, the
		// document null would be the null of SQL NULL.
		s := stringAt(a, i)
		if embed {
			// Without the whitespace between its tokens, so that a line
			// of jsonl holds one row.
			n := len(dst)
			buf := bytes.NewBuffer(dst)
			if err := json.Compact(buf, []byte(s)); err == nil {
				return buf.Bytes(), nil
			}
			dst = buf.Bytes()[:n]
		}
		return appendJSONString(dst, s), nil
	case *array.Binary, *array.LargeBinary, *array.FixedSizeBinary, *array.BinaryView:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, bytesAt(a, i))
		return append(dst, '"'), nil
	case *array.Timestamp:
		if y, m, d, tod, ok := invalidDate(a, i); ok {
			if dbz {
				return append(dst, "null"...), nil // as Debezium writes zero dates
			}
			dst = append(dst, '"')
			dst = appendInvalidDateTime(dst, y, m, d, tod, 'T', true)
			return append(dst, "Z\""...), nil
		}
		t, _ := timeAt(a, i)
		dst = append(dst, '"')
		dst = t.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
		return append(dst, '"'), nil
	case *array.Date32, *array.Date64:
		if y, m, d, _, ok := invalidDate(a, i); ok {
			if dbz {
				return append(dst, "null"...), nil
			}
			dst = append(dst, '"')
			dst = appendYMD(dst, y, m, d)
			return append(dst, '"'), nil
		}
		t, _ := timeAt(a, i)
		if dbz {
			return strconv.AppendInt(dst, t.Unix()/86400, 10), nil
		}
		dst = append(dst, '"')
		dst = t.AppendFormat(dst, "2006-01-02")
		return append(dst, '"'), nil
	case *array.Duration, *array.Time32, *array.Time64:
		var us int64
		if d, ok := a.(*array.Duration); ok {
			us = durationMicros(d, i)
		} else {
			us = timeOfDayMicros(a, i)
		}
		if dbz {
			return strconv.AppendInt(dst, us, 10), nil
		}
		dst = append(dst, '"')
		dst = appendClock(dst, us)
		return append(dst, '"'), nil
	}
	// Decimals and anything else with a text form: a JSON string, exact.
	start := len(dst)
	txt, err := appendText(dst, a, i, textBase64)
	if err != nil {
		return dst[:start], err
	}
	s := string(txt[start:])
	return appendJSONString(txt[:start], s), nil
}

// appendDecimal128 writes n with scale digits after the point; values that
// fit an int64 (nearly all) take a fast path without allocating.
func appendDecimal128(dst []byte, n decimal128.Num, scale int32) []byte {
	hi, lo := n.HighBits(), n.LowBits()
	if scale < 0 || !(hi == 0 && lo < 1<<63 || hi == -1 && lo >= 1<<63) {
		return append(dst, n.ToString(scale)...)
	}
	v := int64(lo)
	u := uint64(v)
	if v < 0 {
		dst = append(dst, '-')
		u = uint64(-v) // also right for math.MinInt64
	}
	var buf [20]byte
	digits := strconv.AppendUint(buf[:0], u, 10)
	sc := int(scale)
	if sc == 0 {
		return append(dst, digits...)
	}
	if len(digits) <= sc {
		dst = append(dst, '0', '.')
		for k := len(digits); k < sc; k++ {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	dst = append(dst, digits[:len(digits)-sc]...)
	dst = append(dst, '.')
	return append(dst, digits[len(digits)-sc:]...)
}

func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	// As MariaDB shows a DOUBLE (and CAST(x AS STRING) writes it):
	// 1500000, not 1.5e+06; exponent form from 1e15 and below 1e-15.
	return append(dst, exec.FloatText(f, bits)...)
}

// appendJSONFloat writes a float as a JSON number, or as the strings "NaN",
// "Infinity" and "-Infinity", which JSON numbers cannot hold.
func appendJSONFloat(dst []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		dst = append(dst, '"')
		dst = appendFloat(dst, f, bits)
		return append(dst, '"')
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

// appendDateTime writes "2006-01-02 15:04:05" in UTC, with ".ffffff" when
// the time has a fraction of a second.
func appendDateTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	if t.Nanosecond() == 0 {
		return t.AppendFormat(dst, "2006-01-02 15:04:05")
	}
	return t.AppendFormat(dst, "2006-01-02 15:04:05.000000")
}

// Zero and invalid MySQL dates ('0000-00-00', '2024-02-00'), kept under a
// lenient sql_mode, are not calendar dates: the source encodes them as
// sentinels below every real date (docs/types.md). Date32 values below
// invalidDateLimit are math.MinInt32 + (Y·13+M)·32 + D; Timestamp(µs)
// values below invalidTimestampLimit are math.MinInt64 + ((Y·13+M)·32+D)
// days + the time of day. They are written as MySQL writes them.
const (
	invalidDateLimit      = math.MinInt32 + 10000*13*32
	invalidTimestampLimit = math.MinInt64 + 10000*13*32*usPerDay
	usPerDay              = 86400 * 1000000
)

// IsInvalidDate reports whether a[i] (a Date32 or a Timestamp(µs)) is a
// source's sentinel for a zero or invalid MySQL date, which Text writes as
// MySQL does ('0000-00-00', '2024-02-00 10:11:12').
func IsInvalidDate(a arrow.Array, i int) bool {
	_, _, _, _, ok := invalidDate(a, i)
	return ok
}

// invalidDate decodes a[i] when it is such a sentinel.
func invalidDate(a arrow.Array, i int) (y, m, d int, tod int64, ok bool) {
	var c int64
	switch a := a.(type) {
	case *array.Date32:
		v := int32(a.Value(i))
		if v >= invalidDateLimit {
			return
		}
		c = int64(v) - math.MinInt32
	case *array.Timestamp:
		v := int64(a.Value(i))
		if a.DataType().(*arrow.TimestampType).Unit != arrow.Microsecond || v >= invalidTimestampLimit {
			return
		}
		u := uint64(v) - uint64(1<<63) // v - math.MinInt64, without overflow
		c, tod = int64(u/usPerDay), int64(u%usPerDay)
	default:
		return
	}
	return int(c / 32 / 13), int(c / 32 % 13), int(c % 32), tod, true
}

func appendYMD(dst []byte, y, m, d int) []byte {
	return fmt.Appendf(dst, "%04d-%02d-%02d", y, m, d)
}

// appendInvalidDateTime writes an invalid date with its time of day, sep
// between them, the microseconds always (frac) or as appendDateTime does.
func appendInvalidDateTime(dst []byte, y, m, d int, tod int64, sep byte, frac bool) []byte {
	dst = appendYMD(dst, y, m, d)
	dst = append(dst, sep)
	s := tod / 1e6
	dst = fmt.Appendf(dst, "%02d:%02d:%02d", s/3600, s/60%60, s%60)
	if us := tod % 1e6; frac || us != 0 {
		dst = fmt.Appendf(dst, ".%06d", us)
	}
	return dst
}

// appendClock writes a MySQL TIME: "[-]HH:MM:SS" with ".ffffff" when there
// is a fraction; hours may exceed 24.
func appendClock(dst []byte, us int64) []byte {
	if us < 0 {
		dst = append(dst, '-')
		us = -us
	}
	frac := us % 1e6
	s := us / 1e6
	h, m, sec := s/3600, (s/60)%60, s%60
	if h < 10 {
		dst = append(dst, '0')
	}
	dst = strconv.AppendInt(dst, h, 10)
	dst = append(dst, ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+sec/10), byte('0'+sec%10))
	if frac != 0 {
		dst = append(dst, '.')
		f := strconv.AppendInt(nil, frac+1e6, 10)
		dst = append(dst, f[1:]...)
	}
	return dst
}

func durationMicros(a *array.Duration, i int) int64 {
	v := int64(a.Value(i))
	switch a.DataType().(*arrow.DurationType).Unit {
	case arrow.Second:
		return v * 1e6
	case arrow.Millisecond:
		return v * 1e3
	case arrow.Nanosecond:
		return v / 1e3
	}
	return v
}

// timeOfDayMicros returns a Time32 or Time64 value in microseconds.
func timeOfDayMicros(a arrow.Array, i int) int64 {
	switch a := a.(type) {
	case *array.Time32:
		v := int64(a.Value(i))
		if a.DataType().(*arrow.Time32Type).Unit == arrow.Second {
			return v * 1e6
		}
		return v * 1e3
	case *array.Time64:
		v := int64(a.Value(i))
		if a.DataType().(*arrow.Time64Type).Unit == arrow.Nanosecond {
			return v / 1e3
		}
		return v
	}
	return 0
}

// timeAt returns a date or timestamp value as a time in UTC.
func timeAt(a arrow.Array, i int) (time.Time, bool) {
	switch a := a.(type) {
	case *array.Timestamp:
		return a.Value(i).ToTime(a.DataType().(*arrow.TimestampType).Unit).UTC(), true
	case *array.Date32:
		return a.Value(i).ToTime().UTC(), true
	case *array.Date64:
		return a.Value(i).ToTime().UTC(), true
	}
	return time.Time{}, false
}

// stringAt returns a string column's value, "" when NULL or not a string.
func stringAt(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return ""
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.StringView:
		return a.Value(i)
	}
	return ""
}

func bytesAt(a arrow.Array, i int) []byte {
	switch a := a.(type) {
	case *array.Binary:
		return a.Value(i)
	case *array.LargeBinary:
		return a.Value(i)
	case *array.FixedSizeBinary:
		return a.Value(i)
	case *array.BinaryView:
		return a.Value(i)
	}
	return nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// logicalType returns a field's exec.MetaLogicalType ("" when unset).
func logicalType(f arrow.Field) string {
	if v, ok := f.Metadata.GetValue(exec.MetaLogicalType); ok {
		return v
	}
	return ""
}

// sourceType returns a field's exec.MetaSourceType ("" when unset).
func sourceType(f arrow.Field) string {
	if v, ok := f.Metadata.GetValue(exec.MetaSourceType); ok {
		return v
	}
	return ""
}
