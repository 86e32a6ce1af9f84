package mysql

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/google/uuid"
)

// binlogDump is the replication connection of a binlogReader: it registers
// as a replica, asks for the dump from a position and reads the events.
//
// go-mysql's BinlogSyncer does the same, but copies every packet into a
// fresh slice (packet.Conn.ReadPacket): 47% of the bytes a catch-up
// allocated (docs/benchmarks.md). Here the packets of rows events are read
// into pooled buffers, parsed in place, and the buffer goes back to the
// pool once the reader has decoded the rows into Arrow builders
// (binlogItem.release). Every other event (table maps, queries, rotates,
// GTIDs, the format description: what the parser or the reader keeps) is
// parsed from a copy of its own, as before.
type binlogDump struct {
	sc     replication.BinlogSyncerConfig
	conn   *client.Conn
	pr     packetReader
	id     uint32 // the server's connection id of conn
	parser *replication.BinlogParser
	done   chan struct{} // closed when the read loop has returned
	free   chan *binlogPacket
}

// binlogItem is an event and the pooled buffer it was parsed from (nil:
// the event owns its memory).
type binlogItem struct {
	ev  *replication.BinlogEvent
	buf *binlogPacket
}

// binlogPacket is a pooled packet buffer; free is its dump's pool.
type binlogPacket struct {
	b    []byte
	free chan *binlogPacket
}

// release gives the item's buffer back: the event must not be used after.
func (it binlogItem) release() {
	if it.buf != nil && cap(it.buf.b) <= maxPooledPacket {
		it.buf.b = it.buf.b[:0]
		select {
		case it.buf.free <- it.buf:
		default: // the pool is full: left to the garbage collector
		}
	}
}

// maxPooledPacket: larger buffers (events of large rows) are left to the
// garbage collector rather than kept in the pool.
const maxPooledPacket = 1 << 20

// packetPoolSize is how many buffers a dump's pool keeps: as many as the
// reader's queue holds events, and a few. The pool is a channel, not a
// sync.Pool, which drops its buffers at every GC (they were allocated and
// grown again: 5% of a catch-up's bytes). It goes with the dump.
const packetPoolSize = 1024 + 64

// packet returns a buffer from the dump's pool, or a new one.
func (d *binlogDump) packet() *binlogPacket {
	select {
	case p := <-d.free:
		return p
	default:
		return &binlogPacket{free: d.free}
	}
}

// packetReader reads the dump's packets from the connection straight into
// the caller's buffer (go-mysql's packet.Conn reads them into its own
// buffer first, then copies). It starts after COM_BINLOG_DUMP is written,
// when nothing is buffered in go-mysql's reader: the server sends nothing
// between the OK of COM_REGISTER_SLAVE and the dump.
type packetReader struct {
	conn    net.Conn
	br      *bufio.Reader
	seq     uint8
	timeout time.Duration
	hdr     [4]byte
}

// readTo appends the next packet's payload (joined if split at 16 MiB) to
// dst.
func (p *packetReader) readTo(dst []byte) ([]byte, error) {
	for {
		if p.timeout > 0 {
			// cheap: coarseDeadlineConn moves the timer about once a second
			_ = p.conn.SetReadDeadline(time.Now().Add(p.timeout))
		}
		if _, err := io.ReadFull(p.br, p.hdr[:]); err != nil {
			return dst, fmt.Errorf("%w: reading a packet header: %v", gm.ErrBadConn, err)
		}
		n := int(uint32(p.hdr[0]) | uint32(p.hdr[1])<<8 | uint32(p.hdr[2])<<16)
		if p.hdr[3] != p.seq {
			return dst, fmt.Errorf("invalid sequence %d != %d", p.hdr[3], p.seq)
		}
		p.seq++
		l := len(dst)
		dst = slices.Grow(dst, n)[:l+n]
		if _, err := io.ReadFull(p.br, dst[l:]); err != nil {
			return dst[:l], fmt.Errorf("%w: reading a packet of %d bytes: %v", gm.ErrBadConn, n, err)
		}
		if n < gm.MaxPayloadLen {
			return dst, nil
		}
	}
}

// pooledEvent reports whether events of type t may be parsed from a pooled
// buffer: rows events, which the reader decodes and drops (rows of JSON
// tables and of the watermark table are also decoded by go-mysql into
// values that alias the buffer: they are used while the event is handled,
// and watermarks.tokens copies the tokens it keeps).
func pooledEvent(t replication.EventType) bool {
	switch t {
	case replication.WRITE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv0, replication.DELETE_ROWS_EVENTv0,
		replication.WRITE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv1,
		replication.WRITE_ROWS_EVENTv2, replication.UPDATE_ROWS_EVENTv2, replication.DELETE_ROWS_EVENTv2,
		replication.PARTIAL_UPDATE_ROWS_EVENT,
		replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1,
		replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		return true
	}
	return false
}

// startDump connects, registers as replica serverID and starts the dump at
// pos, as go-mysql's BinlogSyncer.StartSync does (checksums off, MariaDB
// GTID capability, heartbeat period, replica UUID).
func startDump(ctx context.Context, sc replication.BinlogSyncerConfig, pos gm.Position) (*binlogDump, error) {
	addr := net.JoinHostPort(sc.Host, strconv.Itoa(int(sc.Port)))
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.ConnectWithDialer(cctx, "", addr, sc.User, sc.Password, "", sc.Dialer, func(c *client.Conn) error {
		c.SetTLSConfig(sc.TLSConfig)
		c.SetAttributes(map[string]string{"_client_role": "binary_log_listener"})
		c.ReadTimeout = sc.ReadTimeout
		return nil
	})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*binlogDump, error) {
		c.Close()
		return nil, err
	}
	if sc.Charset != "" {
		if err := c.SetCharset(sc.Charset); err != nil {
			return fail(err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(sc.ReadTimeout))
	r, err := c.Execute("SHOW GLOBAL VARIABLES LIKE 'BINLOG_CHECKSUM'")
	if err != nil {
		return fail(err)
	}
	if s, _ := r.GetString(0, 1); s != "" {
		// Checksum-aware client: the server strips nothing, the parser
		// learns the algorithm from the format description.
		if _, err := c.Execute(`SET @master_binlog_checksum='NONE', @source_binlog_checksum='NONE'`); err != nil {
			return fail(err)
		}
	}
	if sc.Flavor == gm.MariaDBFlavor {
		if _, err := c.Execute("SET @mariadb_slave_capability=4"); err != nil {
			return fail(fmt.Errorf("failed to set @mariadb_slave_capability=4: %v", err))
		}
	}
	if sc.HeartbeatPeriod > 0 {
		if _, err := c.Execute(fmt.Sprintf("SET @master_heartbeat_period = %d, @source_heartbeat_period = %d",
			sc.HeartbeatPeriod, sc.HeartbeatPeriod)); err != nil {
			return fail(err)
		}
	}
	id, err := uuid.NewUUID()
	if err != nil {
		return fail(err)
	}
	if _, err := c.Execute(fmt.Sprintf("SET @slave_uuid = '%s', @replica_uuid = '%s'", id, id)); err != nil {
		return fail(err)
	}
	c.ResetSequence()
	if err := c.WritePacket(registerReplicaPacket(sc)); err != nil {
		return fail(err)
	}
	if _, err := c.ReadOKPacket(); err != nil {
		return fail(err)
	}
	c.ResetSequence()
	data := make([]byte, 4+1+4+2+4+len(pos.Name))
	data[4] = gm.COM_BINLOG_DUMP
	binary.LittleEndian.PutUint32(data[5:], pos.Pos)
	binary.LittleEndian.PutUint16(data[9:], sc.DumpCommandFlag)
	binary.LittleEndian.PutUint32(data[11:], sc.ServerID)
	copy(data[15:], pos.Name)
	if err := c.WritePacket(data); err != nil {
		return fail(err)
	}
	pr := packetReader{conn: c.Conn.Conn, br: bufio.NewReaderSize(c.Conn.Conn, 64<<10), seq: c.Sequence, timeout: sc.ReadTimeout}
	p := replication.NewBinlogParser()
	p.SetFlavor(sc.Flavor)
	p.SetParseTime(sc.ParseTime)
	p.SetTimestampStringLocation(sc.TimestampStringLocation)
	p.SetUseDecimal(sc.UseDecimal)
	p.SetRenderJSONAsMySQLText(sc.RenderJSONAsMySQLText)
	p.SetRowsEventDecodeFunc(sc.RowsEventDecodeFunc)
	return &binlogDump{sc: sc, conn: c, pr: pr, id: c.GetConnectionID(), parser: p, done: make(chan struct{}), free: make(chan *binlogPacket, packetPoolSize)}, nil
}

// registerReplicaPacket is COM_REGISTER_SLAVE for sc (as go-mysql writes it).
func registerReplicaPacket(sc replication.BinlogSyncerConfig) []byte {
	host, _ := os.Hostname()
	if len(host) > 255 {
		host = host[:255]
	}
	user := sc.User
	if len(user) > 255 {
		user = user[:255]
	}
	data := make([]byte, 4+1+4+1+len(host)+1+len(user)+1+2+4+4)
	pos := 4
	data[pos] = gm.COM_REGISTER_SLAVE
	pos++
	binary.LittleEndian.PutUint32(data[pos:], sc.ServerID)
	pos += 4
	data[pos] = uint8(len(host))
	pos++
	pos += copy(data[pos:], host)
	data[pos] = uint8(len(user))
	pos++
	pos += copy(data[pos:], user)
	data[pos] = 0 // password
	pos++
	binary.LittleEndian.PutUint16(data[pos:], sc.Port)
	// replication rank and master id: 0
	return data
}

// run reads and parses events and passes each to handle until an error (or
// the connection is closed); it returns that error.
func (d *binlogDump) run(handle func(binlogItem) error) error {
	defer close(d.done)
	for {
		buf := d.packet()
		var err error
		buf.b, err = d.pr.readTo(buf.b[:0])
		if err != nil {
			binlogItem{buf: buf}.release()
			return err
		}
		data := buf.b
		if len(data) == 0 {
			binlogItem{buf: buf}.release()
			return fmt.Errorf("empty binlog packet")
		}
		switch data[0] {
		case gm.OK_HEADER:
		case gm.ERR_HEADER:
			err := d.conn.HandleErrorPacket(bytes.Clone(data))
			binlogItem{buf: buf}.release()
			return err
		case gm.EOF_HEADER:
			// only with BINLOG_DUMP_NON_BLOCK, which etlq does not ask for
			binlogItem{buf: buf}.release()
			continue
		default:
			binlogItem{buf: buf}.release()
			return fmt.Errorf("invalid binlog stream packet header 0x%02x", data[0])
		}
		data = data[1:]
		it := binlogItem{buf: buf}
		if len(data) <= replication.EventHeaderSize || !pooledEvent(replication.EventType(data[4])) {
			data = bytes.Clone(data)
			it.release()
			it.buf = nil
		}
		ev, err := d.parser.Parse(data)
		if err != nil {
			it.release()
			return err
		}
		it.ev = ev
		if err := handle(it); err != nil {
			it.release()
			return err
		}
	}
}

// close closes the connection, waits for run to return (if it runs) and,
// as go-mysql's syncer does, kills the server's dump thread from another
// connection so that it does not linger until its next write fails.
func (d *binlogDump) close(running bool) {
	_ = d.conn.Close()
	if running {
		<-d.done
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addr := net.JoinHostPort(d.sc.Host, strconv.Itoa(int(d.sc.Port)))
	c, err := client.ConnectWithDialer(ctx, "", addr, d.sc.User, d.sc.Password, "", d.sc.Dialer, func(c *client.Conn) error {
		c.SetTLSConfig(d.sc.TLSConfig)
		c.ReadTimeout = 2 * time.Second
		return nil
	})
	if err != nil {
		return
	}
	_, _ = c.Execute(fmt.Sprintf("KILL %d", d.id))
	_ = c.Close()
}
