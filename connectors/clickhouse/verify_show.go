package clickhouse

import (
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/format"
)

var _ connectors.VerifyShower = (*verifyTarget)(nil)

// ShowRow rewrites a canonical row text (BatchRows, LiveRows) for a
// person: each DATETIME, TIMESTAMP or TIME value as the source shows it
// (format.TextOf: the column's fractional digits, a zero date as
// 0000-00-00 00:00:00, TIMESTAMP in UTC) where the canonical text has the
// Int64 count a ClickHouse without DateTime64 stores (docs/types.md), or
// DateTime64's time without trailing zeros; each DECIMAL with its scale's
// digits, where the canonical text drops trailing zeros.
func (v *verifyTarget) ShowRow(row string) string {
	parts := strings.Split(row, "\x1f")
	if len(parts) != len(v.cols) {
		return row
	}
	for i := range parts {
		parts[i] = shown(&v.cols[i], parts[i])
	}
	return strings.Join(parts, "\x1f")
}

// ShowKey is ShowRow for a key text (joinKey).
func (v *verifyTarget) ShowKey(key string) string {
	_, keys := v.userCols()
	parts := strings.Split(key, "\x1f")
	if len(parts) != len(keys) {
		return key
	}
	for i, k := range keys {
		parts[i] = shown(&v.cols[k], parts[i])
	}
	return strings.Join(parts, "\x1f")
}

// shown is the canonical text s of a value of column c as the source
// shows it: shownTime's, or a DECIMAL's with exactly its scale's digits
// (clickhouse-go's decimal text, the canonical one, drops trailing zeros:
// 68978.108 for a DECIMAL(14,4) 68978.1080).
func shown(c *colSpec, s string) string {
	var scale int32
	switch t := c.field.Type.(type) {
	case *arrow.Decimal128Type:
		scale = t.Scale
	case *arrow.Decimal256Type:
		scale = t.Scale
	default:
		return shownTime(c, s)
	}
	digits := strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(digits, ".")
	if scale <= 0 || whole == "" || len(frac) > int(scale) || strings.Trim(whole+frac, "0123456789") != "" {
		return s
	}
	if frac == "" && !strings.Contains(s, ".") {
		s += "."
	}
	return s + strings.Repeat("0", int(scale)-len(frac))
}

// shownTime is the canonical text s of a value of column c as the source
// shows it, when c holds timestamps or times; s itself otherwise, and for
// NULL (\N) or a text it cannot read.
func shownTime(c *colSpec, s string) string {
	if s == `\N` {
		return s
	}
	var n int64
	switch c.m.enc {
	case encInt64:
		var err error
		if n, err = strconv.ParseInt(s, 10, 64); err != nil {
			return s
		}
	case encDateTime64:
		tt, ok := c.field.Type.(*arrow.TimestampType)
		if !ok {
			return s
		}
		t, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", s, time.UTC)
		if err != nil {
			return s
		}
		switch tt.Unit {
		case arrow.Second:
			n = t.Unix()
		case arrow.Millisecond:
			n = t.UnixMilli()
		case arrow.Microsecond:
			n = t.UnixMicro()
		default:
			n = t.UnixNano()
		}
	default:
		return s
	}
	text, err := format.TimeText(c.field, n)
	if err != nil {
		return s
	}
	return text
}
