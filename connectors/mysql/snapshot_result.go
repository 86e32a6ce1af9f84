package mysql

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"
)

// A snapshot chunk's result set is read by etlq, not by go-mysql: go-mysql
// reads every packet through its buffered reader into a pooled buffer,
// with two copies (header, payload) through a 16 KiB staging buffer, and
// readRows copied it once more into a buffer of its own (19% of etlq's CPU
// in the 1,000 tables' snapshot). Here go-mysql writes the command, and
// the result (column count, column definitions, rows, the final EOF/OK or
// an ERR) is read from the connection through a pooled bufio.Reader of
// etlq's: a row packet is handed to the decoder as a view into that
// reader's buffer (bufio.Reader.Peek), so the socket read is its only
// copy. A packet larger than the buffer (a row of long BLOBs, or one of
// more than 16 MiB in several packets) is joined into a buffer of its own.
//
// This relies on what the protocol guarantees between commands: the server
// sends nothing the client did not ask for, so go-mysql's own buffered
// reader is empty when the command is written (go-mysql reads every
// response of its own commands to its end), and etlq's is empty once the
// result's last packet is read (checked: a connection with bytes left
// over, or with a response this reader cannot read, is closed). The
// packets are read from the connection under go-mysql's packet layer
// (c.Conn.Conn): the TLS connection when the source uses TLS. etlq does not enable the compressed protocol; a
// connection that has it is refused here rather than misread. go-mysql's
// sequence id is left where the result ended.

// resultBufSize is the pooled reader's buffer: a packet up to this size is
// read in place, a larger one into resultReader.big.
const resultBufSize = 64 << 10

// resultReader reads one result set's packets (see above).
type resultReader struct {
	br   *bufio.Reader
	seq  uint8
	skip int    // bytes of the packet returned last, still in br
	big  []byte // a packet larger than br's buffer, joined
	hdr  [4]byte
}

// resultReaders is the pool of readers: a channel, not a sync.Pool, which
// drops its buffers at every GC (and the 1,000 tables' snapshot, a query
// per small chunk, would allocate and clear them again).
var resultReaders = make(chan *resultReader, 64)

// getResultReader returns a pooled reader, or a new one.
func getResultReader() *resultReader {
	select {
	case r := <-resultReaders:
		return r
	default:
		return &resultReader{br: bufio.NewReaderSize(nil, resultBufSize)}
	}
}

// putResultReader gives r back to the pool (or to the garbage collector).
func putResultReader(r *resultReader) {
	r.br.Reset(nil)
	if cap(r.big) > maxPooledPacket {
		r.big = nil
	}
	select {
	case resultReaders <- r:
	default:
	}
}

// next returns the next packet's payload (joined if split at 16 MiB),
// valid until the next call.
func (r *resultReader) next() ([]byte, error) {
	if r.skip > 0 {
		_, _ = r.br.Discard(r.skip) // buffered: cannot fail
		r.skip = 0
	}
	h, err := r.br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%w: reading a packet header: %w", gm.ErrBadConn, err)
	}
	n := int(uint32(h[0]) | uint32(h[1])<<8 | uint32(h[2])<<16)
	if h[3] != r.seq {
		return nil, fmt.Errorf("%w: invalid sequence %d != %d", gm.ErrBadConn, h[3], r.seq)
	}
	r.seq++
	_, _ = r.br.Discard(4)
	if n < gm.MaxPayloadLen && n <= r.br.Size() {
		p, err := r.br.Peek(n)
		if err != nil {
			return nil, fmt.Errorf("%w: reading a packet of %d bytes: %w", gm.ErrBadConn, n, err)
		}
		r.skip = n
		return p, nil
	}
	r.big = r.big[:0]
	for {
		l := len(r.big)
		r.big = slices.Grow(r.big, n)[:l+n]
		if _, err := io.ReadFull(r.br, r.big[l:]); err != nil {
			return nil, fmt.Errorf("%w: reading a packet of %d bytes: %w", gm.ErrBadConn, n, err)
		}
		if n < gm.MaxPayloadLen {
			return r.big, nil
		}
		if _, err := io.ReadFull(r.br, r.hdr[:]); err != nil {
			return nil, fmt.Errorf("%w: reading a packet header: %w", gm.ErrBadConn, err)
		}
		n = int(uint32(r.hdr[0]) | uint32(r.hdr[1])<<8 | uint32(r.hdr[2])<<16)
		if r.hdr[3] != r.seq {
			return nil, fmt.Errorf("%w: invalid sequence %d != %d", gm.ErrBadConn, r.hdr[3], r.seq)
		}
		r.seq++
	}
}

// capabilities reports whether c negotiated CLIENT_DEPRECATE_EOF and
// CLIENT_QUERY_ATTRIBUTES (go-mysql exports them only as names).
func capabilities(c *client.Conn) (deprecateEOF, queryAttrs bool) {
	for name := range strings.SplitSeq(c.CapabilityString(), "|") {
		switch name {
		case "CLIENT_DEPRECATE_EOF":
			deprecateEOF = true
		case "CLIENT_QUERY_ATTRIBUTES":
			queryAttrs = true
		}
	}
	return deprecateEOF, queryAttrs
}

// queryPacket returns the COM_QUERY packet of q (with the 4 bytes of
// header go-mysql's WritePacket fills in).
func queryPacket(q string, queryAttrs bool) []byte {
	p := make([]byte, 4, 4+1+2+len(q))
	p = append(p, gm.COM_QUERY)
	if queryAttrs {
		p = append(p, 0, 1) // no attributes, one parameter set
	}
	return append(p, q...)
}

// executePacket returns the COM_STMT_EXECUTE packet of a statement without
// parameters.
func executePacket(id uint32) []byte {
	p := make([]byte, 4, 4+10)
	p = append(p, gm.COM_STMT_EXECUTE)
	p = binary.LittleEndian.AppendUint32(p, id)
	p = append(p, gm.CURSOR_TYPE_NO_CURSOR)
	return binary.LittleEndian.AppendUint32(p, 1) // iteration count
}

// errNoResultSet: the command returned an OK, not rows.
var errNoResultSet = errors.New("query returned no result set")

// queryResult writes cmd (queryPacket, executePacket) on c and reads its
// result set: columns is called with the column definitions (copies),
// then row with each row packet (valid only during the call). After an
// error of columns or row, the rest of the result is read and dropped, so
// that the connection stays usable, and that error is returned. An ERR
// packet, at once or after rows, is returned as go-mysql returns it (a
// *mysql.MyError: a killed query, a lock wait timeout).
func queryResult(c *client.Conn, cmd []byte, columns func(defs [][]byte) error, row func([]byte) error) error {
	if c.Conn.Compression != gm.MYSQL_COMPRESS_NONE {
		return fmt.Errorf("the snapshot reader does not read the compressed protocol")
	}
	c.ResetSequence()
	if err := c.WritePacket(cmd); err != nil {
		return err
	}
	return readResponse(c, c.Conn.Sequence, func(r *resultReader, deprecateEOF bool) error {
		return r.result(c, deprecateEOF, columns, row)
	})
}

// readResponse reads what the command (or commands) just written on c
// answer with read, through a pooled reader whose first packet has
// sequence seq. After it, a connection whose response was not read to its
// end (a malformed one), or with bytes left over, is closed.
func readResponse(c *client.Conn, seq uint8, read func(r *resultReader, deprecateEOF bool) error) error {
	deprecateEOF, _ := capabilities(c)
	r := getResultReader()
	r.br.Reset(c.Conn.Conn)
	r.seq, r.skip = seq, 0
	err := read(r, deprecateEOF)
	c.Conn.Sequence = r.seq
	if !lostConn(err) {
		if n := r.br.Buffered() - r.skip; errors.Is(err, gm.ErrMalformPacket) || n > 0 {
			// A response this reader does not know, not read to its end,
			// or more after it: go-mysql could not read on from here.
			// (Not an error of a lost connection, which would read the
			// chunk again on a new one: the rows may have been taken.)
			c.Close()
			if err == nil {
				err = fmt.Errorf("the server sent %d bytes after the result set", n)
			}
		}
	}
	putResultReader(r)
	return err
}

// result reads the response to the command written (queryResult).
func (r *resultReader) result(c *client.Conn, deprecateEOF bool, columns func(defs [][]byte) error, row func([]byte) error) error {
	p, err := r.next()
	if err != nil {
		return err
	}
	if len(p) == 0 {
		return gm.ErrMalformPacket
	}
	switch p[0] {
	case gm.ERR_HEADER:
		return c.HandleErrorPacket(bytes.Clone(p))
	case gm.OK_HEADER:
		return errNoResultSet
	case gm.LocalInFile_HEADER:
		return gm.ErrMalformPacket
	}
	ncols, _, n := gm.LengthEncodedInt(p)
	if n != len(p) {
		return gm.ErrMalformPacket
	}
	defs := make([][]byte, ncols)
	for i := range defs {
		if p, err = r.next(); err != nil {
			return err
		}
		defs[i] = bytes.Clone(p)
	}
	if !deprecateEOF {
		if p, err = r.next(); err != nil {
			return err
		}
		if len(p) == 0 || p[0] != gm.EOF_HEADER {
			return gm.ErrMalformPacket
		}
	}
	failed := columns(defs)
	for {
		if p, err = r.next(); err != nil {
			return err
		}
		if len(p) == 0 {
			return gm.ErrMalformPacket
		}
		switch {
		case p[0] == gm.EOF_HEADER && len(p) < gm.MaxPayloadLen:
			// The EOF (or, with CLIENT_DEPRECATE_EOF, the OK) ending the
			// rows. A row cannot begin with 0xfe unless it is 16 MiB or
			// more (a text value's length of 8 bytes; a binary row begins
			// with 0x00).
			if more, err := moreResults(p, deprecateEOF); err != nil {
				return err
			} else if more {
				return fmt.Errorf("%w: the query returned more than one result set", gm.ErrMalformPacket)
			}
			return failed
		case p[0] == gm.ERR_HEADER:
			return c.HandleErrorPacket(bytes.Clone(p))
		}
		if failed == nil {
			failed = row(p)
		}
	}
}

// moreResults reports whether the EOF (or OK) packet p ending a result says
// that another result follows.
func moreResults(p []byte, deprecateEOF bool) (bool, error) {
	pos := 1
	if deprecateEOF {
		for range 2 { // affected rows, last insert id
			if pos >= len(p) {
				return false, gm.ErrMalformPacket
			}
			switch p[pos] {
			case 0xfc:
				pos += 3
			case 0xfd:
				pos += 4
			case 0xfe:
				pos += 9
			default:
				pos++
			}
		}
	} else {
		pos += 2 // warnings
	}
	if pos+2 > len(p) {
		// A bare 0xfe EOF of an old protocol: no status.
		return false, nil
	}
	return binary.LittleEndian.Uint16(p[pos:])&gm.SERVER_MORE_RESULTS_EXISTS != 0, nil
}
