package mysql

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"
)

// Snapshot chunks are read with the binary protocol (a prepared
// statement): numbers come as their bytes and temporal values as packed
// fields, so neither the server formats them as text nor etlq parses the
// text back (the server spends about half the CPU of a text-protocol read
// of the same rows). DECIMAL, strings, ENUM/SET, BIT, JSON and GEOMETRY
// come as length-prefixed bytes, as in the text protocol, and are appended
// by the same code. A result column whose type does not fit its schema
// column, or a statement the server will not prepare, is read again with
// the text protocol, in the same transaction.

// binDecoder decodes the value at p[pos:] into its builder and returns the
// position after it; -1 when the packet is too short, ok false when the
// value does not fit the column.
type binDecoder func(p []byte, pos int) (next int, ok bool)

// errBinaryType: the binary protocol cannot be used (a result column does
// not fit its schema column, or the statement could not be prepared).
var errBinaryType = errors.New("binary protocol not usable")

// binDecoders returns the decoders of the result columns fields.
func (r *rowReader) binDecoders(fields []*gm.Field) ([]binDecoder, error) {
	out := make([]binDecoder, len(fields))
	for i, f := range fields {
		c := r.t.Cols[i]
		d := binDecoderFor(f.Type, c.Kind, r.cols[i])
		if d == nil {
			switch f.Type {
			case gm.MYSQL_TYPE_DECIMAL, gm.MYSQL_TYPE_NEWDECIMAL, gm.MYSQL_TYPE_VARCHAR, gm.MYSQL_TYPE_VAR_STRING,
				gm.MYSQL_TYPE_STRING, gm.MYSQL_TYPE_TINY_BLOB, gm.MYSQL_TYPE_MEDIUM_BLOB, gm.MYSQL_TYPE_LONG_BLOB,
				gm.MYSQL_TYPE_BLOB, gm.MYSQL_TYPE_ENUM, gm.MYSQL_TYPE_SET, gm.MYSQL_TYPE_BIT, gm.MYSQL_TYPE_JSON,
				gm.MYSQL_TYPE_GEOMETRY:
				put := r.put[i]
				d = func(p []byte, pos int) (int, bool) {
					v, next := lenencBytes(p, pos)
					if next < 0 {
						return -1, false
					}
					return next, put(v)
				}
			default:
				return nil, fmt.Errorf("%w: column %q (%s) came as type %d", errBinaryType, c.Name, c.ColumnType, f.Type)
			}
		}
		out[i] = d
	}
	return out, nil
}

// binDecoderFor returns the decoder of a fixed-width or temporal value of
// result type tp into a column of kind k, or nil.
func binDecoderFor(tp byte, k kind, b outCol) binDecoder {
	switch {
	case tp == gm.MYSQL_TYPE_TINY && k == kInt8:
		bb := b.(*fixedCol[int8])
		return fixed(1, func(v []byte) { bb.append(int8(v[0])) })
	case tp == gm.MYSQL_TYPE_TINY && k == kUint8:
		bb := b.(*fixedCol[uint8])
		return fixed(1, func(v []byte) { bb.append(v[0]) })
	case tp == gm.MYSQL_TYPE_SHORT && k == kInt16:
		bb := b.(*fixedCol[int16])
		return fixed(2, func(v []byte) { bb.append(int16(binary.LittleEndian.Uint16(v))) })
	case (tp == gm.MYSQL_TYPE_SHORT || tp == gm.MYSQL_TYPE_YEAR) && (k == kUint16 || k == kYear):
		bb := b.(*fixedCol[uint16])
		return fixed(2, func(v []byte) { bb.append(binary.LittleEndian.Uint16(v)) })
	case (tp == gm.MYSQL_TYPE_INT24 || tp == gm.MYSQL_TYPE_LONG) && k == kInt32:
		bb := b.(*fixedCol[int32])
		return fixed(4, func(v []byte) { bb.append(int32(binary.LittleEndian.Uint32(v))) })
	case (tp == gm.MYSQL_TYPE_INT24 || tp == gm.MYSQL_TYPE_LONG) && k == kUint32:
		bb := b.(*fixedCol[uint32])
		return fixed(4, func(v []byte) { bb.append(binary.LittleEndian.Uint32(v)) })
	case tp == gm.MYSQL_TYPE_LONGLONG && k == kInt64:
		bb := b.(*fixedCol[int64])
		return fixed(8, func(v []byte) { bb.append(int64(binary.LittleEndian.Uint64(v))) })
	case tp == gm.MYSQL_TYPE_LONGLONG && k == kUint64:
		bb := b.(*fixedCol[uint64])
		return fixed(8, func(v []byte) { bb.append(binary.LittleEndian.Uint64(v)) })
	case tp == gm.MYSQL_TYPE_FLOAT && k == kFloat32:
		bb := b.(*fixedCol[float32])
		return fixed(4, func(v []byte) { bb.append(math.Float32frombits(binary.LittleEndian.Uint32(v))) })
	case tp == gm.MYSQL_TYPE_DOUBLE && k == kFloat64:
		bb := b.(*fixedCol[float64])
		return fixed(8, func(v []byte) { bb.append(math.Float64frombits(binary.LittleEndian.Uint64(v))) })
	case tp == gm.MYSQL_TYPE_DOUBLE && k == kFloat32:
		// FLOAT is selected as col*1e0: the float's exact double.
		bb := b.(*fixedCol[float32])
		return fixed(8, func(v []byte) { bb.append(float32(math.Float64frombits(binary.LittleEndian.Uint64(v)))) })
	case (tp == gm.MYSQL_TYPE_DATE || tp == gm.MYSQL_TYPE_NEWDATE) && k == kDate:
		bb := b.(*fixedCol[arrow.Date32])
		return temporal(func(y, mo, d, h, mi, s, us int) bool {
			bb.append(arrow.Date32(EncodeDate(y, mo, d)))
			return h == 0 && mi == 0 && s == 0 && us == 0
		})
	case (tp == gm.MYSQL_TYPE_DATETIME && k == kDatetime) || (tp == gm.MYSQL_TYPE_TIMESTAMP && k == kTimestamp):
		bb := b.(*fixedCol[arrow.Timestamp])
		return temporal(func(y, mo, d, h, mi, s, us int) bool {
			bb.append(arrow.Timestamp(EncodeDatetime(y, mo, d, h, mi, s, us)))
			return true
		})
	case tp == gm.MYSQL_TYPE_TIME && k == kTime:
		bb := b.(*fixedCol[arrow.Duration])
		return func(p []byte, pos int) (int, bool) {
			us, next := binTime(p, pos)
			if next >= 0 {
				bb.append(arrow.Duration(us))
			}
			return next, next >= 0
		}
	}
	return nil
}

// fixed returns the decoder of an n-byte value.
func fixed(n int, put func(v []byte)) binDecoder {
	return func(p []byte, pos int) (int, bool) {
		if pos+n > len(p) {
			return -1, false
		}
		put(p[pos : pos+n])
		return pos + n, true
	}
}

// temporal returns the decoder of a binary DATE/DATETIME/TIMESTAMP: a
// length (0, 4, 7 or 11) and year(2) month day hour minute second
// microsecond(4); zero parts are left out.
func temporal(put func(y, mo, d, h, mi, s, us int) bool) binDecoder {
	return func(p []byte, pos int) (int, bool) {
		if pos >= len(p) {
			return -1, false
		}
		n := int(p[pos])
		v := p[pos+1:]
		if len(v) < n || (n != 0 && n != 4 && n != 7 && n != 11) {
			return -1, false
		}
		var y, mo, d, h, mi, s, us int
		if n >= 4 {
			y, mo, d = int(binary.LittleEndian.Uint16(v)), int(v[2]), int(v[3])
		}
		if n >= 7 {
			h, mi, s = int(v[4]), int(v[5]), int(v[6])
		}
		if n == 11 {
			us = int(binary.LittleEndian.Uint32(v[7:]))
		}
		return pos + 1 + n, put(y, mo, d, h, mi, s, us)
	}
}

// binTime decodes a binary TIME: a length (0, 8 or 12), sign, days(4),
// hour, minute, second, microsecond(4); it returns signed microseconds.
func binTime(p []byte, pos int) (int64, int) {
	if pos >= len(p) {
		return 0, -1
	}
	n := int(p[pos])
	v := p[pos+1:]
	if len(v) < n || (n != 0 && n != 8 && n != 12) {
		return 0, -1
	}
	var us int64
	if n >= 8 {
		days := int64(binary.LittleEndian.Uint32(v[1:]))
		us = ((days*24+int64(v[5]))*3600 + int64(v[6])*60 + int64(v[7])) * 1e6
		if n == 12 {
			us += int64(binary.LittleEndian.Uint32(v[8:]))
		}
		if v[0] == 1 {
			us = -us
		}
	}
	return us, pos + 1 + n
}

// lenencBytes returns the length-encoded string at p[pos:] and the
// position after it (-1: malformed; a NULL is not expected here).
func lenencBytes(p []byte, pos int) ([]byte, int) {
	if pos >= len(p) {
		return nil, -1
	}
	l := int(p[pos])
	switch {
	case l < 0xfb:
		pos++
	case l == 0xfc && pos+3 <= len(p):
		l = int(p[pos+1]) | int(p[pos+2])<<8
		pos += 3
	case l == 0xfd && pos+4 <= len(p):
		l = int(p[pos+1]) | int(p[pos+2])<<8 | int(p[pos+3])<<16
		pos += 4
	case l == 0xfe && pos+9 <= len(p):
		u := binary.LittleEndian.Uint64(p[pos+1:])
		if u > uint64(len(p)) {
			return nil, -1
		}
		l = int(u)
		pos += 9
	default:
		return nil, -1
	}
	if pos+l > len(p) {
		return nil, -1
	}
	return p[pos : pos+l : pos+l], pos + l
}

// binRow appends one binary-protocol row packet.
func (r *rowReader) binRow(p []byte) error {
	nb := (len(r.dec) + 7 + 2) >> 3
	if len(p) < 1+nb || p[0] != 0 {
		return gm.ErrMalformPacket
	}
	nulls := p[1 : 1+nb]
	pos := 1 + nb
	for i, dec := range r.dec {
		if nulls[(i+2)>>3]&(1<<((i+2)&7)) != 0 {
			r.cols[i].appendNull()
			continue
		}
		next, ok := dec(p, pos)
		if next < 0 {
			return gm.ErrMalformPacket
		}
		if !ok {
			return errValue(r.t.Cols[i], p[pos:next])
		}
		pos = next
	}
	r.rows++
	return nil
}

// selectBinary runs q as a prepared statement and calls row with each
// binary row packet (valid only during the call), after r has its
// decoders for the result's columns. An errBinaryType error is returned
// before any row was passed on.
func selectBinary(c *client.Conn, q string, r *rowReader, row func([]byte) error) error {
	st, err := c.Prepare(q)
	if err != nil {
		// A server (or proxy) that refuses prepared statements: the
		// rows are read as text.
		var me *gm.MyError
		if errors.As(err, &me) && !lostConn(err) {
			return fmt.Errorf("%w: prepare: %v", errBinaryType, err)
		}
		return err
	}
	defer st.Close()
	if st.ParamNum() != 0 {
		return fmt.Errorf("snapshot statement has %d parameters", st.ParamNum())
	}
	return queryResult(c, executePacket(st.ID), func(defs [][]byte) error {
		if len(defs) != len(r.t.Cols) {
			return fmt.Errorf("query returned %d columns, want %d", len(defs), len(r.t.Cols))
		}
		fields := make([]*gm.Field, len(defs))
		for i, d := range defs {
			fields[i] = new(gm.Field)
			if err := fields[i].Parse(d); err != nil {
				return err
			}
		}
		var err error
		r.dec, err = r.binDecoders(fields)
		return err
	}, row)
}
