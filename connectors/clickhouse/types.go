package clickhouse

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/exec"
)

// encoding says how an Arrow column becomes a clickhouse-go column slice.
type encoding int

const (
	encPrimitive   encoding = iota // IntN, UintN, FloatN: the Arrow values as they are
	encBool                        // Boolean → UInt8 0/1
	encDecimal                     // DecimalN → Decimal(p, s)
	encDecimalText                 // DecimalN → String holding the exact decimal text
	encString                      // String, Binary → String (bytes as they are)
	encDate                        // Date32 → Date or Date32, range checked
	encDateTime64                  // Timestamp → DateTime64(p, 'UTC'), range checked
	encInt64                       // Timestamp, Duration → Int64 counting the Arrow unit
)

// mapping is the ClickHouse side of one Arrow field.
type mapping struct {
	base    string // ClickHouse type without Nullable, as system.columns prints it
	enc     encoding
	comment string // what the stored number means, when it is not obvious
	problem string // a value the type cannot hold exactly, for `etlq check`
	// minDays/maxDays (encDate) and minSec/maxSec (encDateTime64) bound the
	// values the type holds; others fail the insert with a clear message.
	minDays, maxDays int64
	minSec, maxSec   int64
}

// ranged reports whether a value of the column may lie outside the
// range of its ClickHouse type (a date or timestamp: its problem says so).
func (m mapping) ranged() bool {
	return (m.enc == encDate || m.enc == encDateTime64) && m.problem != ""
}

// rangeString is the range of a ranged mapping's type, "lo..hi".
func (m mapping) rangeString() string {
	if m.enc == encDate {
		return dayString(m.minDays) + ".." + dayString(m.maxDays)
	}
	return dayString(m.minSec/86400) + ".." + dayString(m.maxSec/86400)
}

// unitName names a time unit for column comments.
func unitName(u arrow.TimeUnit) string {
	return [...]string{"seconds", "milliseconds", "microseconds", "nanoseconds"}[u]
}

// mapType maps an Arrow field to the ClickHouse type v stores it in.
// The map is exact: a value is either stored unchanged or the insert fails
// with a message; it is never truncated.
func mapType(f arrow.Field, v serverVersion) (mapping, error) {
	switch t := f.Type.(type) {
	case *arrow.Int8Type:
		return mapping{base: "Int8"}, nil
	case *arrow.Int16Type:
		return mapping{base: "Int16"}, nil
	case *arrow.Int32Type:
		return mapping{base: "Int32"}, nil
	case *arrow.Int64Type:
		return mapping{base: "Int64"}, nil
	case *arrow.Uint8Type:
		return mapping{base: "UInt8"}, nil
	case *arrow.Uint16Type:
		return mapping{base: "UInt16"}, nil
	case *arrow.Uint32Type:
		return mapping{base: "UInt32"}, nil
	case *arrow.Uint64Type:
		return mapping{base: "UInt64"}, nil
	case *arrow.Float32Type:
		return mapping{base: "Float32"}, nil
	case *arrow.Float64Type:
		return mapping{base: "Float64"}, nil
	case *arrow.BooleanType:
		return mapping{base: "UInt8", enc: encBool}, nil
	case *arrow.StringType, *arrow.LargeStringType, *arrow.BinaryType, *arrow.LargeBinaryType:
		return mapping{base: "String", enc: encString}, nil
	case arrow.DecimalType:
		p, s := int(t.GetPrecision()), int(t.GetScale())
		if p <= v.maxDecimalPrecision() {
			return mapping{base: fmt.Sprintf("Decimal(%d, %d)", p, s), enc: encDecimal}, nil
		}
		return mapping{base: "String", enc: encDecimalText,
			comment: fmt.Sprintf("DECIMAL(%d,%d) as exact decimal text", p, s),
			problem: fmt.Sprintf("column %q: DECIMAL(%d,%d) cannot be held exactly by ClickHouse %s Decimal (at most %d digits): it is stored as String holding the exact decimal text",
				f.Name, p, s, v, v.maxDecimalPrecision())}, nil
	case *arrow.Date32Type:
		name, lo, hi := v.dateType()
		return mapping{base: name, enc: encDate, minDays: lo, maxDays: hi,
			problem: fmt.Sprintf("column %q: DATE values outside %s..%s cannot be held by ClickHouse %s %s: "+rangeFails,
				f.Name, dayString(lo), dayString(hi), v, name)}, nil
	case *arrow.TimestampType:
		if v.hasDateTime64() {
			prec := [...]int{0, 3, 6, 9}[t.Unit]
			lo, hi := v.dateTime64Range()
			m := mapping{base: fmt.Sprintf("DateTime64(%d, 'UTC')", prec), enc: encDateTime64, minSec: lo, maxSec: hi}
			// MySQL TIMESTAMP (1970..2038) always fits; DATETIME (1000..9999) may not.
			if !isSourceType(f, "timestamp") {
				m.problem = fmt.Sprintf("column %q: TIMESTAMP values outside %s..%s cannot be held by ClickHouse %s DateTime64: "+rangeFails,
					f.Name, dayString(lo/86400), dayString(hi/86400), v)
			}
			return m, nil
		}
		// No DateTime64 before 20.1: keep every digit as a number.
		return mapping{base: "Int64", enc: encInt64,
			comment: unitName(t.Unit) + " since 1970-01-01 00:00:00 UTC"}, nil
	case *arrow.DurationType:
		return mapping{base: "Int64", enc: encInt64, comment: "TIME as " + unitName(t.Unit)}, nil
	}
	return mapping{}, fmt.Errorf("column %q: arrow type %s has no ClickHouse mapping", f.Name, f.Type)
}

// isSourceType reports whether the field's source type starts with prefix.
func isSourceType(f arrow.Field, prefix string) bool {
	if f.Metadata.Len() == 0 {
		return false
	}
	st, ok := f.Metadata.GetValue(exec.MetaSourceType)
	return ok && strings.HasPrefix(st, prefix)
}

// dayString formats days since 1970-01-01 as YYYY-MM-DD.
func dayString(d int64) string {
	return epoch.AddDate(0, 0, int(d)).Format("2006-01-02")
}

// normType normalizes a ClickHouse type for comparison: no spaces.
func normType(t string) string { return strings.ReplaceAll(t, " ", "") }

// nullable wraps t in Nullable().
func nullable(t string) string { return "Nullable(" + t + ")" }

// unwrapNullable returns the inner type of Nullable(t) and true, or t and false.
func unwrapNullable(t string) (string, bool) {
	if strings.HasPrefix(t, "Nullable(") && strings.HasSuffix(t, ")") {
		return t[len("Nullable(") : len(t)-1], true
	}
	return t, false
}
