package mysql

import (
	"bytes"
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

// binColumns returns the callback of a binary result's column
// definitions: r gets its decoders for them.
func binColumns(r *rowReader) func(defs [][]byte) error {
	return func(defs [][]byte) error {
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
	}
}

// selectBinary runs q as a prepared statement and calls row with each
// binary row packet (valid only during the call), after r has its
// decoders for the result's columns. An errBinaryType error is returned
// before any row was passed on. Two round trips and a write (go-mysql's
// Prepare, the execute, the close): the path of servers without direct
// execution (s.selectBinary).
func selectBinary(c *client.Conn, q string, r *rowReader, row func([]byte) error) error {
	st, err := c.Prepare(q)
	if err != nil {
		return prepareErr(err)
	}
	defer st.Close()
	if st.ParamNum() != 0 {
		return fmt.Errorf("snapshot statement has %d parameters", st.ParamNum())
	}
	return queryResult(c, executePacket(st.ID), binColumns(r), row)
}

// prepareErr is what a failed prepare returns: a server (or proxy) that
// refuses prepared statements has the rows read as text (errBinaryType).
func prepareErr(err error) error {
	var me *gm.MyError
	if errors.As(err, &me) && !lostConn(err) {
		return fmt.Errorf("%w: prepare: %v", errBinaryType, err)
	}
	return err
}

// MariaDB (10.2 on) executes "the statement prepared last" when a
// COM_STMT_EXECUTE names statement id 0xffffffff, so the prepare and the
// execute can be written at once and their responses read after (its
// documentation of COM_STMT_EXECUTE: "This permits to avoid much of the
// network latency"). A small table's chunk was two round trips and a
// write of a reader's connection: go-mysql's Prepare (a round trip), the
// execute (a round trip, the rows), and go-mysql's Stmt.Close (a write of
// its own, which MariaDB wakes up for); with 1,000 tables of 1,000 rows on
// a loaded host, the four readers spent about as much of the snapshot's
// wall waiting for the prepares' answers as for the rows
// (docs/benchmarks.md, session 21). Here one write carries the close of
// the statement the connection's last chunk prepared, the prepare of this
// one and its execute: one round trip a chunk. A server that answers the
// execute with ER_UNKNOWN_STMT_HANDLER (MySQL taken for MariaDB, an older
// server, a proxy) has the snapshot read the old way from then on.

// directStmt is the statement id that means "the last prepared".
const directStmt = 0xffffffff

// errNoDirect: the server did not execute statement directStmt.
var errNoDirect = errors.New("the server does not execute the last prepared statement (id 0xffffffff)")

// selectBinary reads q's rows as the package function does, on MariaDB in
// one round trip (selectDirect); the statement prepared stays open until
// the connection's next chunk closes it.
func (s *snapshotter) selectBinary(c *client.Conn, q string, r *rowReader, row func([]byte) error) error {
	s.mu.Lock()
	direct := s.cfg.flavor == "mariadb" && !s.noDirect
	open := s.stmtOpen[c]
	delete(s.stmtOpen, c)
	s.mu.Unlock()
	if direct {
		id, err := selectDirect(c, open, q, binColumns(r), row)
		if !errors.Is(err, errNoDirect) {
			if id != 0 {
				s.mu.Lock()
				s.stmtOpen[c] = id
				s.mu.Unlock()
			}
			return err
		}
		s.cfg.log.Info("snapshot: the server does not execute a statement in the write that prepares it; chunks are read in three round trips", "reason", err.Error())
		s.mu.Lock()
		s.noDirect = true
		s.mu.Unlock()
		open = id
	}
	if open != 0 {
		if err := closeStmt(c, open); err != nil {
			return err
		}
	}
	return selectBinary(c, q, r, row)
}

// dropConn forgets the statement left open on c (closed, or about to be).
func (s *snapshotter) dropConn(c *client.Conn) {
	s.mu.Lock()
	delete(s.stmtOpen, c)
	s.mu.Unlock()
}

// closeStmt writes the COM_STMT_CLOSE of statement id (no response).
func closeStmt(c *client.Conn, id uint32) error {
	c.ResetSequence()
	p := make([]byte, 4, 4+5)
	p = append(p, gm.COM_STMT_CLOSE)
	return c.WritePacket(binary.LittleEndian.AppendUint32(p, id))
}

// appendPacket appends a command packet (sequence 0) of payload parts.
func appendPacket(b []byte, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b = append(b, byte(n), byte(n>>8), byte(n>>16), 0)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// directPackets returns the one write of selectDirect: the close of
// statement open (when not 0), the prepare of q and the execute of
// directStmt.
func directPackets(open uint32, q string) []byte {
	b := make([]byte, 0, 9+5+len(q)+14)
	if open != 0 {
		b = appendPacket(b, []byte{gm.COM_STMT_CLOSE}, binary.LittleEndian.AppendUint32(nil, open))
	}
	b = appendPacket(b, []byte{gm.COM_STMT_PREPARE}, []byte(q))
	return appendPacket(b, executePacket(directStmt)[4:]) // (without the header WritePacket fills in)
}

// selectDirect writes, at once, the close of statement open (the
// connection's last chunk's; 0: none), the prepare of q and the execute of
// the statement prepared last, then reads the prepare's response (its
// column definitions are not needed: the execute's come with the rows)
// and the execute's result set as queryResult does. It returns the id of
// the statement prepared (0 if the prepare failed), which the caller
// closes. A prepare the server refuses gives prepareErr's error (the
// execute's error, that the statement is unknown, is read and dropped);
// errNoDirect when the prepare succeeded and the server did not know
// statement directStmt (nothing was read).
func selectDirect(c *client.Conn, open uint32, q string, columns func(defs [][]byte) error, row func([]byte) error) (id uint32, err error) {
	if c.Conn.Compression != gm.MYSQL_COMPRESS_NONE {
		return 0, fmt.Errorf("the snapshot reader does not read the compressed protocol")
	}
	if len(q)+1 >= gm.MaxPayloadLen {
		return 0, fmt.Errorf("%w: a statement of %d bytes", errNoDirect, len(q))
	}
	if _, err := c.Conn.Conn.Write(directPackets(open, q)); err != nil {
		return 0, fmt.Errorf("%w: write failed: %w", gm.ErrBadConn, err)
	}
	err = readResponse(c, 1, func(r *resultReader, deprecateEOF bool) error {
		var perr error
		id, perr = r.prepared(c, deprecateEOF)
		if perr != nil && lostConn(perr) || errors.Is(perr, gm.ErrMalformPacket) {
			return perr
		}
		r.seq = 1 // the execute's response
		xerr := r.result(c, deprecateEOF, func(defs [][]byte) error {
			if perr != nil {
				return perr // (a result of some other statement: read and dropped)
			}
			return columns(defs)
		}, row)
		switch {
		case perr != nil:
			if lostConn(xerr) || errors.Is(xerr, gm.ErrMalformPacket) {
				return xerr
			}
			return prepareErr(perr)
		case xerr != nil && unknownStmt(xerr):
			return fmt.Errorf("%w: %v", errNoDirect, xerr)
		}
		return xerr
	})
	return id, err
}

// unknownStmt reports whether err is the server's ER_UNKNOWN_STMT_HANDLER.
func unknownStmt(err error) bool {
	var me *gm.MyError
	return errors.As(err, &me) && me.Code == gm.ER_UNKNOWN_STMT_HANDLER
}

// prepared reads a COM_STMT_PREPARE response and returns the statement's
// id; an ERR packet is returned as the server's error. A statement with
// parameters is an error (after its response is read).
func (r *resultReader) prepared(c *client.Conn, deprecateEOF bool) (uint32, error) {
	p, err := r.next()
	if err != nil {
		return 0, err
	}
	switch {
	case len(p) > 0 && p[0] == gm.ERR_HEADER:
		return 0, c.HandleErrorPacket(bytes.Clone(p))
	case len(p) < 9 || p[0] != gm.OK_HEADER:
		return 0, gm.ErrMalformPacket
	}
	id := binary.LittleEndian.Uint32(p[1:])
	ncols := int(binary.LittleEndian.Uint16(p[5:]))
	nparams := int(binary.LittleEndian.Uint16(p[7:]))
	for _, n := range []int{nparams, ncols} {
		if n == 0 {
			continue
		}
		if !deprecateEOF {
			n++ // the EOF after the definitions
		}
		for range n {
			if _, err := r.next(); err != nil {
				return id, err
			}
		}
	}
	if nparams != 0 {
		return id, fmt.Errorf("snapshot statement has %d parameters", nparams)
	}
	return id, nil
}
