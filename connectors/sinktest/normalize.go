package sinktest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// normalize renders v, a value of column f as a sink read it back, in one
// canonical text per value, so values from different sinks compare equal.
func normalize(f arrow.Field, v any) string {
	if v == nil {
		return "NULL"
	}
	if p, ok := v.(*string); ok {
		if p == nil {
			return "NULL"
		}
		v = *p
	}
	switch f.Type.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return normInt(v)
	case arrow.FLOAT32, arrow.FLOAT64:
		return normFloat(v)
	case arrow.DECIMAL128, arrow.DECIMAL256:
		return normDecimal(fmt.Sprint(v))
	case arrow.STRING:
		return normBytes(v)
	case arrow.BINARY:
		return normBytes(v)
	case arrow.DATE32:
		if t, ok := v.(time.Time); ok {
			return t.Format("2006-01-02")
		}
		return fmt.Sprint(v)
	case arrow.TIMESTAMP:
		switch v := v.(type) {
		case time.Time:
			return v.UTC().Format("2006-01-02T15:04:05.000000Z")
		case string:
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				return t.UTC().Format("2006-01-02T15:04:05.000000Z")
			}
			if t, err := time.Parse("2006-01-02 15:04:05.999999", v); err == nil {
				return t.UTC().Format("2006-01-02T15:04:05.000000Z")
			}
		}
		return fmt.Sprint(v)
	case arrow.DURATION:
		switch v := v.(type) {
		case time.Duration:
			return strconv.FormatInt(v.Microseconds(), 10)
		case string:
			if us, ok := parseClock(v); ok {
				return strconv.FormatInt(us, 10)
			}
		}
		return normInt(v)
	case arrow.BOOL:
		switch v := v.(type) {
		case bool:
			return strconv.FormatBool(v)
		case string:
			return strconv.FormatBool(v == "true" || v == "1")
		}
		return strconv.FormatBool(normInt(v) != "0")
	}
	return fmt.Sprint(v)
}

func normInt(v any) string {
	switch v := v.(type) {
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return strconv.FormatInt(int64(v), 10)
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case json.Number:
		return v.String()
	}
	return fmt.Sprint(v)
}

func normFloat(v any) string {
	var f float64
	switch v := v.(type) {
	case float32:
		f = float64(v)
	case float64:
		f = v
	case json.Number:
		g, err := v.Float64()
		if err != nil {
			return v.String()
		}
		f = g
	case string:
		g, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return v
		}
		f = g
	default:
		return fmt.Sprint(v)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// normDecimal writes a decimal without trailing fraction zeros.
func normDecimal(s string) string {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return s
	}
	out := r.FloatString(40)
	out = strings.TrimRight(out, "0")
	return strings.TrimSuffix(out, ".")
}

func normBytes(v any) string {
	switch v := v.(type) {
	case []byte:
		return strconv.Quote(string(v))
	case string:
		return strconv.Quote(v)
	}
	return fmt.Sprint(v)
}

// parseClock parses "[-]HH:MM:SS[.ffffff]" into microseconds.
func parseClock(s string) (int64, bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, false
	}
	h, err1 := strconv.ParseInt(parts[0], 10, 64)
	m, err2 := strconv.ParseInt(parts[1], 10, 64)
	sec, frac, _ := strings.Cut(parts[2], ".")
	sv, err3 := strconv.ParseInt(sec, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, false
	}
	us := (h*3600 + m*60 + sv) * 1e6
	if frac != "" {
		f, err := strconv.ParseInt((frac + "000000")[:6], 10, 64)
		if err != nil {
			return 0, false
		}
		us += f
	}
	if neg {
		us = -us
	}
	return us, true
}

// DecodeJSONL decodes jsonl output (the jsonl format) into rows for a
// Reader: numbers stay json.Number, binary columns of schema are decoded
// from base64, timestamps and dates become time.Time, durations
// time.Duration.
func DecodeJSONL(data []byte, schema *arrow.Schema) ([]map[string]any, error) {
	var rows []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if err := TypeJSONRow(m, schema); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		rows = append(rows, m)
	}
	return rows, sc.Err()
}

// TypeJSONRow converts, in place, the JSON values of a decoded jsonl object
// to the Go values a Reader returns, using the column types of schema.
func TypeJSONRow(m map[string]any, schema *arrow.Schema) error {
	for _, f := range schema.Fields() {
		v, ok := m[f.Name].(string)
		if !ok {
			continue
		}
		switch f.Type.ID() {
		case arrow.BINARY:
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return fmt.Errorf("column %q: %w", f.Name, err)
			}
			m[f.Name] = b
		case arrow.TIMESTAMP:
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return fmt.Errorf("column %q: %w", f.Name, err)
			}
			m[f.Name] = t
		case arrow.DATE32:
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				return fmt.Errorf("column %q: %w", f.Name, err)
			}
			m[f.Name] = t
		case arrow.DURATION:
			us, ok := parseClock(v)
			if !ok {
				return fmt.Errorf("column %q: bad time %q", f.Name, v)
			}
			m[f.Name] = time.Duration(us) * time.Microsecond
		}
	}
	return nil
}
