package mysql

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
	gm "github.com/go-mysql-org/go-mysql/mysql"
)

// tableMap is a TABLE_MAP event bound to the schema version it decodes with.
type tableMap struct {
	id     uint64
	types  []byte
	metas  []uint16
	names  []string // only with binlog_row_metadata=FULL
	t      *table
	colIdx []int // binlog column → schema column, -1: not in the schema
	// fromBin: for each schema column, its binlog column or -1.
	fromBin []int
	// cols is how each binlog column decodes, in binlog order: the
	// column, type and metadata side by side (one load per value, not one
	// from each of four slices).
	cols []colDec
}

// colDec is how one binlog column of a table map decodes.
type colDec struct {
	c    *column
	ci   int // its schema column
	meta uint16
	tp   byte
	// A DATETIME column's last date (its binlog ymd bits) and what it
	// encodes to (EncodeDatetime at midnight): the rows of a window share
	// few dates, so most values skip the calendar arithmetic.
	dateOK   bool
	dateBits int64
	dateVal  int64
	// size is the bytes every value of a fixed-size type takes in a row
	// image (0: a length-prefixed or packed type): a value nobody reads
	// (an update's before value no pipeline asks for) is stepped over
	// without decoding it.
	size int
}

// fixedSize is the bytes every value of binlog type tp with metadata meta
// takes in a row image, 0 when values differ in size.
func fixedSize(tp byte, meta uint16) int {
	switch tp {
	case gm.MYSQL_TYPE_TINY, gm.MYSQL_TYPE_YEAR:
		return 1
	case gm.MYSQL_TYPE_SHORT:
		return 2
	case gm.MYSQL_TYPE_INT24, gm.MYSQL_TYPE_DATE:
		return 3
	case gm.MYSQL_TYPE_LONG, gm.MYSQL_TYPE_FLOAT:
		return 4
	case gm.MYSQL_TYPE_LONGLONG, gm.MYSQL_TYPE_DOUBLE:
		return 8
	case gm.MYSQL_TYPE_NEWDECIMAL:
		return decimalBinSize(int(meta>>8), int(meta&0xFF))
	case gm.MYSQL_TYPE_TIMESTAMP2:
		return 4 + int(meta+1)/2
	case gm.MYSQL_TYPE_DATETIME2:
		return 5 + int(meta+1)/2
	case gm.MYSQL_TYPE_TIME2:
		return 3 + int(meta+1)/2
	}
	return 0
}

// imageCols is a rows event's column bitmap (which binlog columns its row
// images hold) with its set bits counted once per event, not per row.
type imageCols struct {
	bitmap  []byte
	present int
	all     bool // every column (binlog_row_image=FULL)
	// fromBefore: an update's after image whose missing columns are
	// taken from its full before image (checkImages): decodeImage
	// appends nothing for them, decodeUpdate does.
	fromBefore bool
}

func newImageCols(bitmap []byte, ncols int) imageCols {
	present := 0
	for i := 0; i < ncols; i++ {
		if bitmap[i>>3]&(1<<(i&7)) != 0 {
			present++
		}
	}
	return imageCols{bitmap: bitmap, present: present, all: present == ncols}
}

func (img imageCols) has(i int) bool { return img.all || img.bitmap[i>>3]&(1<<(i&7)) != 0 }

// missing names the binlog columns of m the image lacks.
func (img imageCols) missing(m *tableMap) []string {
	var names []string
	for i, cd := range m.cols {
		if !img.has(i) {
			names = append(names, cd.c.Name)
		}
	}
	return names
}

// checkImages is called for a rows event of m only when one of its images
// lacks columns (a session that logged with binlog_row_image = MINIMAL or
// NOBLOB, or FULL_NODUP: binlog_row_image is a session variable, whatever
// the global setting etlq checked at the start). A value the binlog does
// not carry is never read as NULL: such an event is refused, but for an
// update whose before image is full (FULL_NODUP: the after image holds
// the updated columns only). A column missing from its after image is one
// the statement did not change — the server's own replicas leave it as it
// is, mariadb-binlog --flashback rebuilds the images the same way — so its
// after value is its before value: after is marked to take it from there.
// img2 is nil for an insert or a delete (img1 their one image); at is
// the event's position.
func checkImages(m *tableMap, op, at string, img1 imageCols, img2 *imageCols) error {
	if img2 != nil && img1.all {
		img2.fromBefore = true
		return nil
	}
	var lacks string
	if img2 == nil {
		lacks = "the row image lacks " + strings.Join(img1.missing(m), ", ")
	} else {
		var parts []string
		if !img1.all {
			parts = append(parts, "the before image lacks "+strings.Join(img1.missing(m), ", "))
		}
		if !img2.all {
			parts = append(parts, "the after image lacks "+strings.Join(img2.missing(m), ", "))
		}
		lacks = strings.Join(parts, "; ")
	}
	return fmt.Errorf("binlog rows of %s at %s (%s) were logged without all their columns (%s): "+
		"the session that wrote them had binlog_row_image = MINIMAL or NOBLOB (a session variable, which the server's global FULL does not bind), "+
		"and etlq never writes a value the binlog does not carry (the columns left out would read NULL): "+
		"have every writer log with binlog_row_image = FULL (look for SET SESSION binlog_row_image in the application, its connection settings and init_connect), "+
		"then %s", m.t.Ref, at, op, lacks, resnapshotHint)
}

// decodeUpdate decodes one row of an update: its before image into bcols,
// its after image into cols. An after image marked fromBefore
// (checkImages) takes the columns it lacks from the before image, decoded
// a second time into those columns only.
func (d *rowsDecoder) decodeUpdate(m *tableMap, data []byte, before, after imageCols, bcols, cols []outCol, boxA, boxB []any) (int, error) {
	n, err := d.decodeImage(m, data, before, bcols, boxA)
	if err != nil {
		return 0, err
	}
	n2, err := d.decodeImage(m, data[n:], after, cols, boxB)
	if err != nil {
		return 0, err
	}
	if after.fromBefore && cols != nil {
		fill := d.fill[:0]
		for range cols {
			fill = append(fill, nil)
		}
		for i, cd := range m.cols {
			if !after.has(i) && cd.ci >= 0 {
				fill[cd.ci] = cols[cd.ci]
			}
		}
		d.fill = fill
		if _, err := d.decodeImage(m, data, before, fill, boxA); err != nil {
			return 0, err
		}
	}
	return n + n2, nil
}

// bind maps the binlog columns onto t and checks that every binlog type
// fits the schema's column type, so an event is never decoded with a
// schema it was not written with.
func (m *tableMap) bind(t *table) error {
	m.t = t
	m.colIdx = make([]int, len(m.types))
	m.fromBin = make([]int, len(t.Cols))
	for i := range m.fromBin {
		m.fromBin[i] = -1
	}
	// A versioned table's images end with the hidden period pair
	// (table.Versioned), which is no column of t.
	nb := len(m.types)
	if t.Versioned {
		if nb < 2 || !isPeriodType(m.types[nb-2], m.metas[nb-2]) || !isPeriodType(m.types[nb-1], m.metas[nb-1]) {
			return fmt.Errorf("binlog row of %s, a system-versioned table, does not end with its two TIMESTAMP(6) period columns (row_start, row_end)", t.Ref)
		}
		nb -= 2
		m.colIdx[nb], m.colIdx[nb+1] = periodStart, periodEnd
	}
	if m.names != nil {
		for i, n := range m.names[:nb] {
			m.colIdx[i] = t.colIndex(n)
			if m.colIdx[i] < 0 {
				return fmt.Errorf("binlog row of %s has column %q, which the schema at this position lacks (columns: %s)",
					t.Ref, n, strings.Join(t.columnNames(), ", "))
			}
		}
	} else {
		if nb != len(t.Cols) {
			extra := ""
			if t.Versioned {
				extra = " and the two hidden period columns of a system-versioned table"
			}
			return fmt.Errorf("binlog row of %s has %d columns, the schema at this position has %d%s (columns: %s)",
				t.Ref, len(m.types), len(t.Cols), extra, strings.Join(t.columnNames(), ", "))
		}
		for i := range m.colIdx[:nb] {
			m.colIdx[i] = i
		}
	}
	m.cols = make([]colDec, len(m.colIdx))
	for i, ci := range m.colIdx {
		if ci < 0 {
			m.cols[i] = colDec{c: &periodColumn, ci: ci, meta: m.metas[i], tp: m.types[i], size: fixedSize(m.types[i], m.metas[i])}
			continue
		}
		c := t.Cols[ci]
		m.fromBin[ci] = i
		if !binlogTypeFits(m.types[i], m.metas[i], c) {
			return fmt.Errorf("binlog column %d of %s has type %d, which does not fit column %q (%s) of the schema at this position",
				i+1, t.Ref, m.types[i], c.Name, c.sourceType())
		}
		m.cols[i] = colDec{c: c, ci: ci, meta: m.metas[i], tp: m.types[i], size: fixedSize(m.types[i], m.metas[i])}
	}
	return nil
}

func binlogTypeFits(tp byte, meta uint16, c *column) bool {
	k := c.Kind
	switch tp {
	case gm.MYSQL_TYPE_TINY:
		return k == kInt8 || k == kUint8
	case gm.MYSQL_TYPE_SHORT:
		return k == kInt16 || k == kUint16
	case gm.MYSQL_TYPE_INT24, gm.MYSQL_TYPE_LONG:
		return k == kInt32 || k == kUint32
	case gm.MYSQL_TYPE_LONGLONG:
		return k == kInt64 || k == kUint64
	case gm.MYSQL_TYPE_FLOAT:
		return k == kFloat32
	case gm.MYSQL_TYPE_DOUBLE:
		return k == kFloat64
	case gm.MYSQL_TYPE_NEWDECIMAL:
		return (k == kDecimal128 || k == kDecimal256) && int(meta>>8) == c.Precision && int(meta&0xFF) == c.Scale
	case gm.MYSQL_TYPE_BIT:
		return k == kBit
	case gm.MYSQL_TYPE_TIMESTAMP, gm.MYSQL_TYPE_TIMESTAMP2:
		return k == kTimestamp
	case gm.MYSQL_TYPE_DATETIME, gm.MYSQL_TYPE_DATETIME2:
		return k == kDatetime
	case gm.MYSQL_TYPE_DATE:
		return k == kDate
	case gm.MYSQL_TYPE_TIME, gm.MYSQL_TYPE_TIME2:
		return k == kTime
	case gm.MYSQL_TYPE_YEAR:
		return k == kYear
	case gm.MYSQL_TYPE_VARCHAR, gm.MYSQL_TYPE_VAR_STRING:
		return k == kString || k == kBinary
	case gm.MYSQL_TYPE_STRING:
		switch byte(meta >> 8) {
		case gm.MYSQL_TYPE_ENUM:
			return k == kEnum
		case gm.MYSQL_TYPE_SET:
			return k == kSet
		}
		switch k {
		case kUUID, kInet6:
			return fixedBinLen(meta) == 16
		case kInet4:
			return fixedBinLen(meta) == 4
		}
		return k == kString || k == kBinary
	case gm.MYSQL_TYPE_BLOB:
		return k == kString || k == kBinary || k == kJSON
	case gm.MYSQL_TYPE_GEOMETRY:
		return k == kGeometry
	case gm.MYSQL_TYPE_JSON:
		return k == kJSON
	}
	return false
}

// rowsDecoder decodes the row images of rows events straight into Arrow
// builders, with no per-value boxing.
type rowsDecoder struct {
	tmp  []byte
	fill []outCol // decodeUpdate's columns taken from the before image
	// rowEnd is the row_end value of the last image decoded of a
	// system-versioned table (a slice of the event's data; nil: NULL or
	// not in the image).
	rowEnd []byte
}

// decodeImage decodes one row image starting at data, of the binlog
// columns img names. dst holds one builder per schema column (nil: decode
// and drop). boxed, when non-nil, holds go-mysql's decoded values of this
// image, used for MySQL binary JSON. It returns the bytes consumed.
func (d *rowsDecoder) decodeImage(m *tableMap, data []byte, img imageCols, dst []outCol, boxed []any) (n int, err error) {
	// A malformed value indexes past the data: one recover per image (a
	// deferred recover per value cost a tenth of the decoding).
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("malformed binlog row image of %s: %v", m.t.Ref, r)
		}
	}()
	nb := (img.present + 7) / 8
	if len(data) < nb {
		return 0, fmt.Errorf("truncated row image")
	}
	nulls := data[:nb]
	pos := nb
	ni := 0
	d.rowEnd = nil
	for i := range m.cols {
		cd := &m.cols[i]
		var out outCol
		if dst != nil && cd.ci >= 0 {
			out = dst[cd.ci]
		}
		if !img.all && img.bitmap[i>>3]&(1<<(i&7)) == 0 {
			// Not in the image: only an after image fromBefore gets
			// here (checkImages), its value comes from the before image.
			if out != nil && !img.fromBefore {
				out.appendNull()
			}
			continue
		}
		isNull := nulls[ni>>3]&(1<<(ni&7)) != 0
		ni++
		if isNull {
			if out != nil {
				out.appendNull()
			}
			continue
		}
		if out == nil && cd.size > 0 {
			if pos+cd.size > len(data) {
				return 0, fmt.Errorf("column %q of %s: truncated row image", cd.c.Name, m.t.Ref)
			}
			if cd.ci == periodEnd {
				d.rowEnd = data[pos : pos+cd.size]
			}
			pos += cd.size
			continue
		}
		var bv any
		if boxed != nil {
			bv = boxed[i]
		}
		n, err := d.decodeValue(out, cd, data[pos:], bv)
		if err != nil {
			return 0, fmt.Errorf("column %q of %s: %v", cd.c.Name, m.t.Ref, err)
		}
		pos += n
	}
	// Schema columns the binlog row lacks (e.g. added after this event's
	// TABLE_MAP under FULL metadata) are NULL.
	if dst != nil && len(m.cols) < len(m.t.Cols) {
		for ci, bi := range m.fromBin {
			if bi < 0 && dst[ci] != nil {
				dst[ci].appendNull()
			}
		}
	}
	return pos, nil
}

func be(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// fracBinMicros decodes the fractional-second bytes of TIME2, DATETIME2
// and TIMESTAMP2 (big endian, (fsp+1)/2 bytes) as microseconds.
func fracBinMicros(b []byte, fsp uint16) int64 {
	switch fsp {
	case 1, 2:
		return int64(b[0]) * 10000
	case 3, 4:
		return int64(binary.BigEndian.Uint16(b)) * 100
	case 5, 6:
		return int64(be(b[:3]))
	}
	return 0
}

// decodeValue decodes one non-NULL value and appends it to out (the zero
// outCol: skip). A malformed value panics (index out of range);
// decodeImage recovers.
func (d *rowsDecoder) decodeValue(out outCol, cd *colDec, data []byte, boxed any) (n int, err error) {
	c, tp, meta := cd.c, cd.tp, cd.meta
	switch tp {
	case gm.MYSQL_TYPE_TINY:
		if out != nil {
			if c.Kind == kUint8 {
				out.(*fixedCol[uint8]).append(data[0])
			} else {
				out.(*fixedCol[int8]).append(int8(data[0]))
			}
		}
		return 1, nil
	case gm.MYSQL_TYPE_SHORT:
		if out != nil {
			v := binary.LittleEndian.Uint16(data)
			if c.Kind == kUint16 {
				out.(*fixedCol[uint16]).append(v)
			} else {
				out.(*fixedCol[int16]).append(int16(v))
			}
		}
		return 2, nil
	case gm.MYSQL_TYPE_INT24:
		if out != nil {
			v := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16
			if c.Kind == kUint32 {
				out.(*fixedCol[uint32]).append(v)
			} else {
				out.(*fixedCol[int32]).append(int32(v<<8) >> 8)
			}
		}
		return 3, nil
	case gm.MYSQL_TYPE_LONG:
		if out != nil {
			v := binary.LittleEndian.Uint32(data)
			if c.Kind == kUint32 {
				out.(*fixedCol[uint32]).append(v)
			} else {
				out.(*fixedCol[int32]).append(int32(v))
			}
		}
		return 4, nil
	case gm.MYSQL_TYPE_LONGLONG:
		if out != nil {
			v := binary.LittleEndian.Uint64(data)
			if c.Kind == kUint64 {
				out.(*fixedCol[uint64]).append(v)
			} else {
				out.(*fixedCol[int64]).append(int64(v))
			}
		}
		return 8, nil
	case gm.MYSQL_TYPE_FLOAT:
		if out != nil {
			out.(*fixedCol[float32]).append(math.Float32frombits(binary.LittleEndian.Uint32(data)))
		}
		return 4, nil
	case gm.MYSQL_TYPE_DOUBLE:
		if out != nil {
			out.(*fixedCol[float64]).append(math.Float64frombits(binary.LittleEndian.Uint64(data)))
		}
		return 8, nil
	case gm.MYSQL_TYPE_NEWDECIMAL:
		p, s := int(meta>>8), int(meta&0xFF)
		if out == nil {
			return decimalBinSize(p, s), nil
		}
		u, neg, b, n := decimalBin(data, p, s)
		if c.Kind == kDecimal128 {
			out.(*fixedCol[decimal128.Num]).append(dec128(u, neg, b))
		} else {
			out.(*fixedCol[decimal256.Num]).append(dec256(u, neg, b))
		}
		return n, nil
	case gm.MYSQL_TYPE_BIT:
		nbits := int(meta>>8)*8 + int(meta&0xFF)
		n = (nbits + 7) / 8
		if out != nil {
			out.(*fixedCol[uint64]).append(be(data[:n]))
		}
		return n, nil
	case gm.MYSQL_TYPE_TIMESTAMP:
		if out != nil {
			sec := int64(binary.LittleEndian.Uint32(data))
			v := sec * 1e6
			if sec == 0 {
				v = InvalidDatetimeBase
			}
			out.(*fixedCol[arrow.Timestamp]).append(arrow.Timestamp(v))
		}
		return 4, nil
	case gm.MYSQL_TYPE_TIMESTAMP2:
		n = 4 + int(meta+1)/2
		if out != nil {
			sec := int64(binary.BigEndian.Uint32(data))
			frac := fracBinMicros(data[4:], meta)
			v := sec*1e6 + frac
			if sec == 0 && frac == 0 {
				v = InvalidDatetimeBase
			}
			out.(*fixedCol[arrow.Timestamp]).append(arrow.Timestamp(v))
		}
		return n, nil
	case gm.MYSQL_TYPE_DATETIME:
		if out != nil {
			v := binary.LittleEndian.Uint64(data)
			dt, tm := v/1000000, v%1000000
			out.(*fixedCol[arrow.Timestamp]).append(arrow.Timestamp(EncodeDatetime(int(dt/10000), int(dt/100%100), int(dt%100),
				int(tm/10000), int(tm/100%100), int(tm%100), 0)))
		}
		return 8, nil
	case gm.MYSQL_TYPE_DATETIME2:
		n = 5 + int(meta+1)/2
		if out != nil {
			ip := int64(be(data[:5])) - 0x8000000000
			ymd := ip >> 17
			if !cd.dateOK || cd.dateBits != ymd {
				ym := ymd >> 5
				cd.dateOK, cd.dateBits, cd.dateVal = true, ymd, EncodeDatetime(int(ym/13), int(ym%13), int(ymd%(1<<5)), 0, 0, 0, 0)
			}
			hms := ip % (1 << 17)
			tod := (hms>>12)*3600e6 + (hms>>6)%(1<<6)*60e6 + hms%(1<<6)*1e6 + fracBinMicros(data[5:], meta)
			out.(*fixedCol[arrow.Timestamp]).append(arrow.Timestamp(cd.dateVal + tod))
		}
		return n, nil
	case gm.MYSQL_TYPE_DATE:
		if out != nil {
			v := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16
			out.(*fixedCol[arrow.Date32]).append(arrow.Date32(EncodeDate(int(v>>9), int(v>>5&15), int(v&31))))
		}
		return 3, nil
	case gm.MYSQL_TYPE_TIME:
		if out != nil {
			v := int32(uint32(data[0])|uint32(data[1])<<8|uint32(data[2])<<16) << 8 >> 8
			neg := v < 0
			if neg {
				v = -v
			}
			us := int64(v/10000)*3600e6 + int64(v/100%100)*60e6 + int64(v%100)*1e6
			if neg {
				us = -us
			}
			out.(*fixedCol[arrow.Duration]).append(arrow.Duration(us))
		}
		return 3, nil
	case gm.MYSQL_TYPE_TIME2:
		n = 3 + int(meta+1)/2
		if out != nil {
			out.(*fixedCol[arrow.Duration]).append(arrow.Duration(time2Micros(data, meta)))
		}
		return n, nil
	case gm.MYSQL_TYPE_YEAR:
		if out != nil {
			y := uint16(data[0])
			if y != 0 {
				y += 1900
			}
			out.(*fixedCol[uint16]).append(y)
		}
		return 1, nil
	case gm.MYSQL_TYPE_VARCHAR, gm.MYSQL_TYPE_VAR_STRING:
		l, h := int(data[0]), 1
		if meta >= 256 {
			l, h = int(binary.LittleEndian.Uint16(data)), 2
		}
		d.appendBytes(out, c, data[h:h+l])
		return h + l, nil
	case gm.MYSQL_TYPE_STRING:
		length := int(meta)
		rt := byte(gm.MYSQL_TYPE_STRING)
		if meta >= 256 {
			b0, b1 := byte(meta>>8), byte(meta&0xFF)
			if b0&0x30 != 0x30 {
				length = int(uint16(b1) | uint16((b0&0x30)^0x30)<<4)
				rt = b0 | 0x30
			} else {
				length = int(meta & 0xFF)
				rt = b0
			}
		}
		switch rt {
		case gm.MYSQL_TYPE_ENUM:
			var idx int
			if meta&0xFF == 1 {
				idx, n = int(data[0]), 1
			} else {
				idx, n = int(binary.LittleEndian.Uint16(data)), 2
			}
			if str, ok := out.(*strCol); ok {
				if idx > len(c.Members) {
					return 0, fmt.Errorf("enum index %d out of range (%d members)", idx, len(c.Members))
				}
				if idx > 0 {
					str.appendString(c.Members[idx-1])
				} else {
					str.append(nil)
				}
			}
			return n, nil
		case gm.MYSQL_TYPE_SET:
			n = int(meta & 0xFF)
			if str, ok := out.(*strCol); ok {
				var mask uint64
				for i := n - 1; i >= 0; i-- {
					mask = mask<<8 | uint64(data[i])
				}
				buf := d.tmp[:0]
				for mask != 0 {
					i := bits.TrailingZeros64(mask)
					mask &^= 1 << i
					if i >= len(c.Members) {
						return 0, fmt.Errorf("set bit %d out of range (%d members)", i, len(c.Members))
					}
					if len(buf) > 0 {
						buf = append(buf, ',')
					}
					buf = append(buf, c.Members[i]...)
				}
				d.tmp = buf
				str.append(buf)
			}
			return n, nil
		}
		l, h := int(data[0]), 1
		if length >= 256 {
			l, h = int(binary.LittleEndian.Uint16(data)), 2
		}
		v := data[h : h+l]
		switch c.Kind {
		case kUUID, kInet6, kInet4:
			if str, ok := out.(*strCol); ok {
				d.tmp = appendFixedBinText(d.tmp[:0], c.Kind, v)
				str.append(d.tmp)
			}
			return h + l, nil
		}
		if out != nil && c.Kind == kBinary && c.OctetLen > l {
			// BINARY(n) is logged without its trailing 0x00 padding.
			buf := append(d.tmp[:0], v...)
			for len(buf) < c.OctetLen {
				buf = append(buf, 0)
			}
			d.tmp = buf
			v = buf
		}
		d.appendBytes(out, c, v)
		return h + l, nil
	case gm.MYSQL_TYPE_BLOB, gm.MYSQL_TYPE_GEOMETRY:
		h := int(meta)
		var l int
		switch h {
		case 1:
			l = int(data[0])
		case 2:
			l = int(binary.LittleEndian.Uint16(data))
		case 3:
			l = int(data[0]) | int(data[1])<<8 | int(data[2])<<16
		case 4:
			l = int(binary.LittleEndian.Uint32(data))
		default:
			return 0, fmt.Errorf("invalid blob length size %d", h)
		}
		d.appendBytes(out, c, data[h:h+l])
		return h + l, nil
	case gm.MYSQL_TYPE_JSON:
		h := int(meta)
		l := int(gm.FixedLengthInt(data[:h]))
		if str, ok := out.(*strCol); ok {
			switch x := boxed.(type) {
			case string:
				str.appendString(x)
			case []byte:
				str.append(x)
			default:
				if l != 0 {
					return 0, fmt.Errorf("binary JSON value was not decoded")
				}
				str.appendString("null")
			}
		}
		return h + l, nil
	}
	return 0, fmt.Errorf("unsupported binlog column type %d", tp)
}

// appendBytes appends a string/binary value, converting latin1 text.
func (d *rowsDecoder) appendBytes(out outCol, c *column, v []byte) {
	str, ok := out.(*strCol)
	if !ok {
		return
	}
	if (c.Kind == kString || c.Kind == kJSON) && c.Charset == "latin1" && !isASCII(v) {
		d.tmp = appendLatin1(d.tmp[:0], v)
		v = d.tmp
	}
	str.append(v)
}

// time2Micros decodes MySQL's TIME2 into signed microseconds.
func time2Micros(data []byte, fsp uint16) int64 {
	const intOfs = 0x800000
	var packed int64
	switch fsp {
	case 1, 2:
		ip := int64(be(data[:3])) - intOfs
		frac := int64(data[3])
		if ip < 0 && frac != 0 {
			ip++
			frac -= 0x100
		}
		packed = ip<<24 + frac*10000
	case 3, 4:
		ip := int64(be(data[:3])) - intOfs
		frac := int64(binary.BigEndian.Uint16(data[3:5]))
		if ip < 0 && frac != 0 {
			ip++
			frac -= 0x10000
		}
		packed = ip<<24 + frac*100
	case 5, 6:
		packed = int64(be(data[:6])) - 0x800000000000
	default:
		packed = (int64(be(data[:3])) - intOfs) << 24
	}
	neg := packed < 0
	if neg {
		packed = -packed
	}
	hms := packed >> 24
	frac := packed % (1 << 24)
	h := (hms >> 12) % (1 << 10)
	m := (hms >> 6) % (1 << 6)
	s := hms % (1 << 6)
	us := h*3600e6 + m*60e6 + s*1e6 + frac
	if neg {
		us = -us
	}
	return us
}
