package format

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/etlq/etlq/exec"
)

// appendJSONColumn appends `"name":value` for user column k (record column
// c) of row i; NULL is null.
func appendJSONColumn(dst []byte, l *layout, r arrow.RecordBatch, k, c, i int, dbz bool) ([]byte, error) {
	dst = append(dst, l.keys[k]...)
	a := r.Column(c)
	if a.IsNull(i) {
		return append(dst, "null"...), nil
	}
	if u, ok := a.(*array.Uint64); ok && dbz && l.dbzBits[k] > 0 {
		return appendDebeziumBits(dst, u.Value(i), l.dbzBits[k]), nil
	}
	if dbz && l.dbzGeom[k] != 0 {
		if v := bytesAt(a, i); len(v) >= 4 {
			return appendDebeziumGeometry(dst, v, l.dbzGeom[k] == dbzPoint), nil
		}
	}
	if dbz && l.dbzNotNull[k] && IsInvalidDate(a, i) {
		// Debezium's MySQL connector writes a zero or invalid date
		// ('0000-00-00', '2024-02-00') as null in a column that may be
		// NULL, but in a NOT NULL column as the epoch (its schema there is
		// not optional, and a consumer that trusts it fails on a null).
		switch a.(type) {
		case *array.Date32, *array.Date64:
			return append(dst, '0'), nil
		case *array.Timestamp:
			if l.dbzEpoch[k] > 0 {
				return append(dst, '0'), nil
			}
			return appendZonedTimestamp(dst, time.Unix(0, 0), l.dbzFSP[k]), nil
		}
	}
	if ts, ok := a.(*array.Timestamp); ok && dbz {
		if _, _, _, _, invalid := invalidDate(ts, i); !invalid {
			t, _ := timeAt(ts, i)
			if l.dbzEpoch[k] > 0 {
				return appendEpoch(dst, t.UnixMicro(), l.dbzEpoch[k]), nil
			}
			if fsp := l.dbzFSP[k]; fsp >= 0 {
				return appendZonedTimestamp(dst, t, fsp), nil
			}
		}
	}
	out, err := appendJSON(dst, a, i, dbz, false)
	if err != nil {
		return dst, &columnError{l.names[k], err}
	}
	return out, nil
}

// appendZonedTimestamp writes t as Debezium's ZonedTimestamp of a
// TIMESTAMP(fsp) column: an ISO string in UTC with exactly fsp fractional
// digits (fsp < 0, a timestamp of no such column: 6).
func appendZonedTimestamp(dst []byte, t time.Time, fsp int) []byte {
	if fsp < 0 {
		fsp = 6
	}
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, "2006-01-02T15:04:05")
	if fsp > 0 {
		f := strconv.AppendInt(nil, int64(t.Nanosecond()/1000)+1e6, 10)
		dst = append(dst, '.')
		dst = append(dst, f[1:1+fsp]...)
	}
	return append(dst, "Z\""...)
}

// appendJSONRow appends the user columns of row i as a JSON object. With
// before set, the values come from the __before.<col> columns (a column
// without one is null).
func appendJSONRow(dst []byte, l *layout, r arrow.RecordBatch, i int, before, dbz bool) ([]byte, error) {
	dst = append(dst, '{')
	var err error
	for k, c := range l.user {
		if k > 0 {
			dst = append(dst, ',')
		}
		if before {
			c = l.before[k]
			if c < 0 {
				dst = append(dst, l.keys[k]...)
				dst = append(dst, "null"...)
				continue
			}
		}
		if dst, err = appendJSONColumn(dst, l, r, k, c, i, dbz); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// debeziumEpochUnit returns layout.dbzEpoch for field f: Debezium's MySQL
// connector (time.precision.mode adaptive_time_microseconds, its default)
// writes a DATETIME as a number since the epoch, in milliseconds up to
// DATETIME(3) and in microseconds beyond; TIMESTAMP stays an ISO string.
func debeziumEpochUnit(f arrow.Field) int64 {
	st, ok := f.Metadata.GetValue(exec.MetaSourceType)
	if !ok {
		return 0
	}
	st = strings.ToLower(strings.TrimSpace(st))
	if !strings.HasPrefix(st, "datetime") {
		return 0
	}
	fsp := 0
	if i := strings.IndexByte(st, '('); i >= 0 {
		if j := strings.IndexByte(st[i:], ')'); j > 0 {
			fsp, _ = strconv.Atoi(st[i+1 : i+j])
		}
	}
	if fsp <= 3 {
		return 1000
	}
	return 1
}

// debeziumBits returns layout.dbzBits for field f: n for a BIT(n) source
// column (logical type "bit"), else 0.
func debeziumBits(f arrow.Field) int {
	if logicalType(f) != "bit" || f.Type.ID() != arrow.UINT64 {
		return 0
	}
	st := strings.ToLower(strings.TrimSpace(sourceType(f)))
	rest, ok := strings.CutPrefix(st, "bit")
	if !ok {
		return 0
	}
	if rest == "" {
		return 1 // BIT is BIT(1)
	}
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rest, "("), ")"))
	if err != nil || n < 1 || n > 64 {
		return 0
	}
	return n
}

// appendDebeziumBits appends a BIT(n) value as Debezium's MySQL connector
// writes it: BIT(1) a boolean, wider BITs io.debezium.data.Bits, the bits in
// little-endian order in the fewest bytes that hold n bits, base64 in JSON.
func appendDebeziumBits(dst []byte, v uint64, n int) []byte {
	if n == 1 {
		return strconv.AppendBool(dst, v&1 != 0)
	}
	var b [8]byte
	for j := range b {
		b[j] = byte(v >> (8 * j))
	}
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b[:(n+7)/8])
	return append(dst, '"')
}

// debeziumTimestampFSP returns layout.dbzFSP for field f.
func debeziumTimestampFSP(f arrow.Field) int {
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(sourceType(f))), "timestamp") {
		return -1
	}
	return sourceFSP(f)
}

// Kinds of spatial columns (layout.dbzGeom).
const (
	dbzGeometry = 1 // io.debezium.data.geometry.Geometry
	dbzPoint    = 2 // io.debezium.data.geometry.Point
)

// debeziumGeometryKind returns layout.dbzGeom for field f.
func debeziumGeometryKind(f arrow.Field) int {
	if logicalType(f) != "geometry" {
		return 0
	}
	if strings.EqualFold(strings.TrimSpace(sourceType(f)), "point") {
		return dbzPoint
	}
	return dbzGeometry
}

// appendDebeziumGeometry appends a spatial value (MySQL's bytes: a 4-byte
// little-endian SRID, then the WKB) as Debezium's MySQL connector writes it:
// {"wkb": base64 of the WKB, "srid": the SRID, null for 0}; a POINT column
// (io.debezium.data.geometry.Point) also has "x" and "y" when the WKB is a
// 2D point.
func appendDebeziumGeometry(dst, v []byte, point bool) []byte {
	srid, wkb := binary.LittleEndian.Uint32(v), v[4:]
	dst = append(dst, `{"wkb":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, wkb)
	dst = append(dst, `","srid":`...)
	if srid == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = strconv.AppendInt(dst, int64(int32(srid)), 10)
	}
	if point && len(wkb) == 21 {
		var order binary.ByteOrder = binary.LittleEndian
		if wkb[0] == 0 {
			order = binary.BigEndian
		}
		if order.Uint32(wkb[1:]) == 1 {
			dst = append(dst, `,"x":`...)
			dst = appendJSONFloat(dst, math.Float64frombits(order.Uint64(wkb[5:])), 64)
			dst = append(dst, `,"y":`...)
			dst = appendJSONFloat(dst, math.Float64frombits(order.Uint64(wkb[13:])), 64)
		}
	}
	return append(dst, '}')
}

// appendEpoch appends us (microseconds since the epoch) in units of unit
// microseconds, rounded down as Java's Instant.toEpochMilli does.
func appendEpoch(dst []byte, us, unit int64) []byte {
	v := us / unit
	if us%unit < 0 {
		v--
	}
	return strconv.AppendInt(dst, v, 10)
}
