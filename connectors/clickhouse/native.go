package clickhouse

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// The inserts go over a native-protocol connection of etlq's own, written
// with ch-go's public proto package (ClickHouse's own columnar client, the
// layer clickhouse-go is built on), so that the Arrow buffers are written
// into ch-go columns etlq owns (fastpath.go) instead of into unexported
// fields of clickhouse-go's. clickhouse-go keeps every other statement
// (DDL, queries) and, through its public column API, the columns the fast
// path does not cover (driverCol).
//
// ch-go's own client cannot be used: it does not talk to ClickHouse 18.16
// (revision 54412), the oldest supported server. Its Query encoder sends the
// client info only from revision 54420 while servers read it from 54032
// (DBMS_MIN_REVISION_WITH_CLIENT_INFO), so 18.16 reads the query's fields
// out of place and answers UNKNOWN_SETTING. nativeConn writes the Query
// packet itself (writeQuery), as ClickHouse's own client does for every
// revision, and gates every other field on the negotiated revision: the
// smaller of ch-go's proto.Version and the server's, so that a current
// server is spoken to in a revision ch-go knows all of.
//
// Only INSERT is spoken: ClientHello, ServerHello, the Query, the empty
// block ending external data, the server's sample block (the table's
// columns and types), the data block, the empty block ending the data, and
// then Progress, ProfileInfo, TableColumns, Log and ProfileEvents packets up
// to EndOfStream or an Exception.

// revisionClientInfo is DBMS_MIN_REVISION_WITH_CLIENT_INFO: from it on a
// Query carries the client info; older servers are not supported.
const revisionClientInfo = 54032

// nativeClientName is the client name the server logs (system.query_log).
const nativeClientName = "etlq"

// nativeConn is one native-protocol connection, used for INSERTs only. It
// is not safe for concurrent use; the sink keeps the idle ones (Sink.pool).
type nativeConn struct {
	conn     net.Conn
	r        *proto.Reader
	buf      proto.Buffer
	revision int // negotiated: min(proto.Version, the server's)
	server   proto.ServerHello
	compress proto.Compression
	zw       *compress.Writer // nil without compression
	sc       *column.ServerContext
	born     time.Time
}

// dialNative connects to the first server of o.Addr that answers (in the
// order connection_open_strategy asks for) and says hello.
func dialNative(ctx context.Context, o *clickhouse.Options, next *atomic.Uint64) (*nativeConn, error) {
	if len(o.Addr) == 0 {
		return nil, errors.New("no server address")
	}
	start := 0
	switch o.ConnOpenStrategy {
	case clickhouse.ConnOpenRoundRobin:
		start = int(next.Add(1)-1) % len(o.Addr)
	case clickhouse.ConnOpenRandom:
		start = rand.IntN(len(o.Addr))
	}
	var first error
	for i := range o.Addr {
		c, err := dialOne(ctx, o, o.Addr[(start+i)%len(o.Addr)])
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

func dialOne(ctx context.Context, o *clickhouse.Options, addr string) (*nativeConn, error) {
	timeout := o.DialTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var (
		conn net.Conn
		err  error
	)
	if o.TLS != nil {
		d := tls.Dialer{NetDialer: &net.Dialer{}, Config: o.TLS}
		conn, err = d.DialContext(dctx, "tcp", addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(dctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	c := &nativeConn{conn: conn, r: proto.NewReader(conn), born: time.Now()}
	if o.Compression != nil {
		switch o.Compression.Method {
		case clickhouse.CompressionLZ4:
			c.compress, c.zw = proto.CompressionEnabled, compress.NewWriter(compress.LevelZero, compress.LZ4)
		case clickhouse.CompressionZSTD:
			c.compress, c.zw = proto.CompressionEnabled, compress.NewWriter(compress.LevelZero, compress.ZSTD)
		}
	}
	if err := c.hello(dctx, o); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// hello is the handshake: ClientHello, then ServerHello or an Exception
// (a bad password), then the addendum of newer revisions.
func (c *nativeConn) hello(ctx context.Context, o *clickhouse.Options) error {
	defer c.watch(ctx)()
	user := o.Auth.Username
	if user == "" {
		user = "default"
	}
	c.buf.Reset()
	proto.ClientHello{
		Name: nativeClientName, Major: 1, Minor: 0, ProtocolVersion: proto.Version,
		Database: o.Auth.Database, User: user, Password: o.Auth.Password,
	}.Encode(&c.buf)
	if err := c.flush(); err != nil {
		return err
	}
	code, err := c.packet()
	if err != nil {
		return err
	}
	switch code {
	case proto.ServerCodeHello:
	case proto.ServerCodeException:
		return c.exception()
	default:
		return fmt.Errorf("clickhouse: server answered hello with packet %s", code)
	}
	if err := c.readHello(); err != nil {
		return fmt.Errorf("clickhouse: server hello: %w", err)
	}
	if c.server.Revision < revisionClientInfo {
		return fmt.Errorf("clickhouse: server revision %d is older than the oldest supported (%d)", c.server.Revision, revisionClientInfo)
	}
	if proto.FeatureAddendum.In(c.revision) {
		c.buf.Reset()
		c.buf.PutString("") // quota key
		return c.flush()
	}
	return nil
}

// readHello reads ServerHello and sets the negotiated revision. The server
// writes the fields our revision asks for and it knows of, those up to the
// negotiated revision (ch-go's ServerHello.DecodeAware gates them on one
// revision given before the server's is known).
func (c *nativeConn) readHello() error {
	s := &c.server
	var err error
	if s.Name, err = c.r.Str(); err != nil {
		return err
	}
	if s.Major, err = c.r.Int(); err != nil {
		return err
	}
	if s.Minor, err = c.r.Int(); err != nil {
		return err
	}
	if s.Revision, err = c.r.Int(); err != nil {
		return err
	}
	c.revision = min(proto.Version, s.Revision)
	if proto.FeatureTimezone.In(c.revision) {
		if s.Timezone, err = c.r.Str(); err != nil {
			return err
		}
	}
	if proto.FeatureDisplayName.In(c.revision) {
		if s.DisplayName, err = c.r.Str(); err != nil {
			return err
		}
	}
	if proto.FeatureVersionPatch.In(c.revision) {
		if s.Patch, err = c.r.Int(); err != nil {
			return err
		}
	}
	return nil
}

// watch makes the connection's reads and writes fail when ctx is done or
// its deadline passes; the returned func stops that.
func (c *nativeConn) watch(ctx context.Context) func() {
	if d, ok := ctx.Deadline(); ok {
		_ = c.conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	return func() {
		stop()
		_ = c.conn.SetDeadline(time.Time{})
	}
}

func (c *nativeConn) flush() error {
	_, err := c.conn.Write(c.buf.Buf)
	c.buf.Reset()
	return err
}

// packet reads the code of the next server packet.
func (c *nativeConn) packet() (proto.ServerCode, error) {
	n, err := c.r.UVarInt()
	if err != nil {
		return 0, err
	}
	code := proto.ServerCode(n)
	if !code.IsAServerCode() {
		return 0, fmt.Errorf("clickhouse: unknown server packet %d", n)
	}
	return code, nil
}

// exception reads an Exception packet as clickhouse-go's error type, so
// that retryable and the messages treat it as before.
func (c *nativeConn) exception() error {
	var ex clickhouse.Exception
	if err := ex.Decode(c.r); err != nil {
		return fmt.Errorf("clickhouse: reading the server's exception: %w", err)
	}
	return &ex
}

// writeQuery encodes the INSERT's Query packet: the client info from
// revision 54032 on (where ch-go's proto.Query starts at 54420), no
// settings, and the fields later revisions add.
func (c *nativeConn) writeQuery(body string) {
	b := &c.buf
	proto.ClientCodeQuery.Encode(b)
	b.PutString("") // query id: the server makes one
	if c.revision >= revisionClientInfo {
		proto.ClientInfo{
			ProtocolVersion: c.revision,
			Major:           1,
			Interface:       proto.InterfaceTCP,
			Query:           proto.ClientQueryInitial,
			InitialAddress:  c.conn.LocalAddr().String(),
			ClientName:      nativeClientName,
		}.EncodeAware(b, c.revision)
	}
	b.PutString("") // end of settings, in either encoding
	if proto.FeatureInterServerSecret.In(c.revision) {
		b.PutString("")
	}
	proto.StageComplete.Encode(b)
	c.compress.Encode(b)
	b.PutString(body)
	if proto.FeatureParameters.In(c.revision) {
		b.PutString("") // end of parameters
	}
}

// chunkBytes is how much of a block is encoded before it is compressed
// (when the connection is) and written: a block is not held whole in
// memory, and the buffer stays small enough to stay in cache. ClickHouse
// reads a compressed stream as a sequence of frames of any size.
const chunkBytes = 1 << 20

// writeBlock encodes and writes a Data packet holding input (none: the
// empty block that ends a stream), compressed when the connection is, as
// ch-go's Block.EncodeRawBlock lays it out, written a chunk at a time.
func (c *nativeConn) writeBlock(input []proto.InputColumn) error {
	b := &c.buf
	proto.ClientCodeData.Encode(b)
	proto.ClientData{}.EncodeAware(b, c.revision) // no external table name
	start := len(b.Buf)                           // what is compressed starts here
	blk := proto.Block{Columns: len(input)}
	if len(input) > 0 {
		blk.Rows = input[0].Data.Rows()
		blk.Info = proto.BlockInfo{BucketNum: -1}
	}
	if proto.FeatureBlockInfo.In(c.revision) {
		blk.Info.Encode(b)
	}
	b.PutInt(blk.Columns)
	b.PutInt(blk.Rows)
	for _, col := range input {
		if r := col.Data.Rows(); r != blk.Rows {
			return fmt.Errorf("clickhouse: column %q has %d rows, the block %d", col.Name, r, blk.Rows)
		}
		col.EncodeStart(b, c.revision)
		if blk.Rows == 0 {
			continue
		}
		if s, ok := col.Data.(proto.StateEncoder); ok {
			s.EncodeState(b)
		}
		col.Data.EncodeColumn(b)
		if len(b.Buf) >= chunkBytes {
			if err := c.writeChunk(start); err != nil {
				return err
			}
			start = 0
		}
	}
	return c.writeChunk(start)
}

// writeChunk compresses the buffer from start (when the connection is
// compressed) and writes it.
func (c *nativeConn) writeChunk(start int) error {
	b := &c.buf
	if c.zw != nil && len(b.Buf) > start {
		if err := c.zw.Compress(b.Buf[start:]); err != nil {
			return err
		}
		b.Buf = append(b.Buf[:start], c.zw.Data...)
	}
	return c.flush()
}

// readBlock reads the block of a Data, Log or ProfileEvents packet into res.
func (c *nativeConn) readBlock(code proto.ServerCode, res proto.Result) error {
	if proto.FeatureTempTables.In(c.revision) {
		if _, err := c.r.Str(); err != nil {
			return err
		}
	}
	if c.compress == proto.CompressionEnabled && code.Compressible() {
		c.r.EnableCompression()
		defer c.r.DisableCompression()
	}
	var blk proto.Block
	return blk.DecodeBlock(c.r, c.revision, res)
}

// skip reads a packet that carries nothing an INSERT needs.
func (c *nativeConn) skip(code proto.ServerCode) error {
	switch code {
	case proto.ServerCodeProgress:
		var p proto.Progress
		return p.DecodeAware(c.r, c.revision)
	case proto.ServerCodeProfile:
		var p proto.Profile
		return p.DecodeAware(c.r, c.revision)
	case proto.ServerCodeTableColumns:
		var t proto.TableColumns
		return t.DecodeAware(c.r, c.revision)
	case proto.ServerCodeLog:
		var l proto.Logs
		return c.readBlock(code, l.Result())
	case proto.ServerProfileEvents:
		var e proto.ProfileEvents
		return c.readBlock(code, e.Result())
	}
	return fmt.Errorf("clickhouse: unexpected server packet %s during an insert", code)
}

// insert runs one INSERT: it sends body, reads the table's columns from the
// server's sample block, has fill make the block to send for them, sends
// it and waits for the server to have written it. After an error the
// connection must be closed: it may be in the middle of a query.
func (c *nativeConn) insert(ctx context.Context, body string, readTimeout time.Duration, fill func(proto.ColInfoInput) ([]proto.InputColumn, error)) error {
	info, err := c.begin(ctx, body, readTimeout)
	if err != nil {
		return err
	}
	input, err := fill(info)
	if err != nil {
		return err
	}
	if err := c.send(ctx, input); err != nil {
		return err
	}
	return c.end(ctx, readTimeout)
}

// begin starts an INSERT: it sends body and returns the table's columns
// from the server's sample block. Blocks for them follow (send), then end.
// The server writes the blocks of one INSERT as one part while they add up
// to less than its min_insert_block_size_rows / _bytes (1,048,576 rows,
// 256 MiB by default; it squashes them, from 18.16 to today's versions).
func (c *nativeConn) begin(ctx context.Context, body string, readTimeout time.Duration) (proto.ColInfoInput, error) {
	defer c.watch(ctx)()
	c.buf.Reset()
	c.writeQuery(body)
	if err := c.writeBlock(nil); err != nil { // no external data; writes the query too
		return nil, err
	}
	var info proto.ColInfoInput
	if err := c.await(ctx, readTimeout, proto.ServerCodeData, &info); err != nil {
		return nil, err
	}
	return info, nil
}

// send writes one Data block of the INSERT begin started.
func (c *nativeConn) send(ctx context.Context, input []proto.InputColumn) error {
	defer c.watch(ctx)()
	if err := c.writeBlock(input); err != nil {
		return err
	}
	for _, in := range input {
		if e, ok := in.Data.(encodeErrer); ok {
			if err := e.encodeErr(); err != nil {
				return err
			}
		}
	}
	return nil
}

// end ends the INSERT's data with the empty block and waits for the server
// to have written it all.
func (c *nativeConn) end(ctx context.Context, readTimeout time.Duration) error {
	defer c.watch(ctx)()
	if err := c.writeBlock(nil); err != nil { // end of data
		return err
	}
	return c.await(ctx, readTimeout, proto.ServerCodeEndOfStream, nil)
}

// await reads packets until want (a Data packet's block decoded into res),
// failing on an Exception.
func (c *nativeConn) await(ctx context.Context, readTimeout time.Duration, want proto.ServerCode, res proto.Result) error {
	for {
		if readTimeout > 0 && ctx.Err() == nil {
			d := time.Now().Add(readTimeout)
			if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
				d = cd
			}
			_ = c.conn.SetReadDeadline(d)
			if ctx.Err() != nil {
				// Canceled meanwhile: watch's deadline in the past may
				// have been overwritten.
				_ = c.conn.SetReadDeadline(time.Unix(1, 0))
			}
		}
		code, err := c.packet()
		if err != nil {
			return err
		}
		switch {
		case code == proto.ServerCodeException:
			return c.exception()
		case code == want && want == proto.ServerCodeData:
			return c.readBlock(code, res)
		case code == want:
			return nil
		}
		if err := c.skip(code); err != nil {
			return err
		}
	}
}

// encodeErrer is a block column whose encoding can fail (driverCol).
type encodeErrer interface{ encodeErr() error }

// serverContext is what clickhouse-go's columns need of the server: its
// revision, version and time zone (DateTime without one is in it).
func (c *nativeConn) serverContext() *column.ServerContext {
	if c.sc == nil {
		loc := time.UTC
		if l, err := time.LoadLocation(c.server.Timezone); err == nil && c.server.Timezone != "" {
			loc = l
		}
		c.sc = &column.ServerContext{
			Revision:     uint64(c.revision),
			VersionMajor: uint64(c.server.Major),
			VersionMinor: uint64(c.server.Minor),
			VersionPatch: uint64(c.server.Patch),
			Timezone:     loc,
		}
	}
	return c.sc
}

// alive reports whether an idle connection can be used: younger than
// lifetime (0: any age) and not closed by the server (peerOpen).
func (c *nativeConn) alive(lifetime time.Duration) bool {
	if lifetime > 0 && time.Since(c.born) > lifetime {
		return false
	}
	conn := c.conn
	if t, ok := conn.(*tls.Conn); ok {
		conn = t.NetConn()
	}
	return peerOpen(conn)
}

// close closes the connection.
func (c *nativeConn) close() { _ = c.conn.Close() }

// nativeConn returns an idle insert connection or a new one, waiting while
// max_open_conns insert connections are in use.
func (s *Sink) nativeConn(ctx context.Context) (*nativeConn, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("clickhouse sink %q is closed", s.name)
	}
	if s.busy == nil {
		s.busy = make(chan struct{}, max(1, s.chOpts.MaxOpenConns))
	}
	busy := s.busy
	s.mu.Unlock()
	select {
	case busy <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		s.mu.Lock()
		n := len(s.idle)
		if n == 0 {
			s.mu.Unlock()
			break
		}
		c := s.idle[n-1]
		s.idle = s.idle[:n-1]
		s.mu.Unlock()
		if c.alive(s.chOpts.ConnMaxLifetime) {
			return c, nil
		}
		c.close()
	}
	c, err := dialNative(ctx, s.chOpts, &s.next)
	if err != nil {
		<-busy
		// Wrapped as it is: retryable tells a server that is away by it.
		return nil, fmt.Errorf("connecting for an insert: %w", err)
	}
	return c, nil
}

// connsFull reports whether all max_open_conns insert connections are in
// use.
func (s *Sink) connsFull() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busy != nil && len(s.busy) == cap(s.busy)
}

// release returns c to the idle connections, or closes it after a failed
// insert (it may be in the middle of a query) or when the sink is closed.
func (s *Sink) release(c *nativeConn, failed bool) {
	s.mu.Lock()
	keep := !failed && !s.closed
	if keep {
		s.idle = append(s.idle, c)
	}
	<-s.busy
	s.mu.Unlock()
	if !keep {
		c.close()
	}
}
