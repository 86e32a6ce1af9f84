package mysql

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/etlq/etlq/exec"
)

// selectList returns the chunk SELECT's column expressions. FLOAT is read
// as a DOUBLE because its text form is rounded to 6 digits.
func selectList(t *table) string {
	parts := make([]string, len(t.Cols))
	for i, c := range t.Cols {
		if c.Kind == kFloat32 {
			parts[i] = "(" + quoteIdent(c.Name) + "*1e0)"
		} else {
			parts[i] = quoteIdent(c.Name)
		}
	}
	return strings.Join(parts, ", ")
}

// chunkQuery returns the SELECT of a chunk's rows.
func chunkQuery(ch *chunk) string {
	t := ch.t
	var where string
	if ch.intKey != nil {
		var lo, hi ordBound
		if ch.rng.Lo != nil {
			o, _ := keyOrd(ch.intKey, ch.rng.Lo[0])
			lo = ordPtr(o)
		}
		if ch.rng.Hi != nil {
			o, _ := keyOrd(ch.intKey, ch.rng.Hi[0])
			hi = ordPtr(o)
		}
		where = intRangePred(ch.intKey, lo, hi)
	} else {
		where = rangePred(t, ch.rng)
	}
	if ch.excl != "" {
		where += " AND " + ch.excl
	}
	q := "SELECT " + selectList(t) + " FROM " + tableIdent(t.Ref) + " WHERE " + where
	if ch.intKey != nil {
		// In key order (free: the range is read along the primary key),
		// so that the rows read before a lost connection are a key range.
		q += " ORDER BY " + keyOrder(t)
	}
	if ch.limit > 0 {
		q += " LIMIT " + strconv.Itoa(ch.limit)
	}
	return q
}

// maxQueued is how many complete records a chunk may hold that the binlog
// reader has not taken: the worker waits for the reader beyond that, so a
// snapshot holds about snapshot_parallelism × maxQueued records in memory
// however large its chunks are. maxQueuedBytes bounds them too: a record
// of wide rows (defaultBatchBytes of row data: ~7 MiB of Arrow for a
// 300-column table) waits alone.
const (
	maxQueued      = 2
	maxQueuedBytes = 6 << 20
)

// queueFull reports whether ch's records not taken yet reach maxQueued or
// maxQueuedBytes (s.mu held).
func queueFull(ch *chunk) bool {
	return recsFull(ch.recs)
}

// recsFull reports whether records not taken yet reach maxQueued or
// maxQueuedBytes (queueFull).
func recsFull(recs []arrow.RecordBatch) bool {
	if len(recs) >= maxQueued {
		return true
	}
	var size int64
	for _, r := range recs {
		size += exec.RecordBytes(r)
	}
	return len(recs) > 0 && size >= maxQueuedBytes
}

// streamable reports whether a chunk being read has records to stream
// before it completes: all but its newest, which take keeps back unless
// holding it would pause the read. Called with s.mu held.
func streamable(ch *chunk) bool {
	return len(ch.recs) > 1 || recsFull(ch.recs)
}

// maxBehindReader bounds the read views a chunk takes, in MariaDB's exact
// positioning, while its position is behind the binlog reader (see read).
const maxBehindReader = 200

// testHookInWindow, when set (by tests only), runs right after a chunk's
// read view is taken: inside its window in the windowed modes.
var testHookInWindow func(s *snapshotter, ch *chunk)

// maxChunkWait bounds how long a chunk keeps its read view open while the
// reader does not take its records (the reader is far behind in the
// binlog, or the sink is down), so that a stalled pipeline does not hold
// an old read view (and the server's undo history) open. An integer-key
// chunk then ends at its last complete record (errChunkCut), and the rest
// of its range is read later in a new read view. A chunk of another key
// (strings, composite keys) is read to its end without waiting any more:
// its rows, at most a chunk's, wait in memory instead (unpaced). Only a
// key-less table's one chunk keeps waiting with its read view open.
var maxChunkWait = 30 * time.Second

// errChunkCut stops a chunk's read after maxChunkWait; see readChunk.
var errChunkCut = errors.New("chunk cut: its records waited too long for the binlog reader")

// push hands a complete record of ch to the reader. With wait, it blocks
// while maxQueued records (or maxQueuedBytes) are not taken yet (the chunk's read pauses; the
// server waits on the socket, which is why withConn raises net_write_timeout),
// at most maxChunkWait for an integer-key chunk.
// final says rec is the chunk's last record.
func (s *snapshotter) push(ch *chunk, rec arrow.RecordBatch, wait, final bool) error {
	if ch.intKey != nil {
		kcol := rec.Column(ch.t.Key[0])
		ch.lastOrd, ch.haveLast = arrayOrd(kcol, kcol.Len()-1)
	}
	s.mu.Lock()
	ch.recs = append(ch.recs, rec)
	ch.finalIn = ch.finalIn || final
	full, redo := queueFull(ch), ch.redo
	s.mu.Unlock()
	s.signal()
	var expired <-chan time.Time
	if ch.unpaced {
		wait = false
	}
	if wait && full && (ch.haveLast || ch.intKey == nil && len(ch.t.Key) > 0) {
		t := time.NewTimer(maxChunkWait)
		defer t.Stop()
		expired = t.C
	}
	for wait && full && !redo {
		select {
		case <-ch.drained:
		case <-expired:
			if ch.haveLast {
				return errChunkCut
			}
			s.mu.Lock()
			ch.unpaced = true
			s.unpaced++
			s.mu.Unlock()
			s.cfg.log.Info("snapshot chunk read on without waiting for the pipeline, so that its read view closes",
				"table", ch.ts.key, "waited", maxChunkWait)
			return s.ctx.Err()
		case <-s.ctx.Done():
			return s.ctx.Err()
		}
		s.mu.Lock()
		full, redo = queueFull(ch), ch.redo
		s.mu.Unlock()
	}
	if redo {
		return errRedo
	}
	return s.ctx.Err()
}

// lockTable takes LOCK TABLES … READ on ch's table on a connection of its
// own (waiting at most 10 s for the transactions writing it) and returns
// the function that releases it.
func (s *snapshotter) lockTable(ch *chunk) (func(), error) {
	lc, err := s.cfg.src.connect(s.ctx)
	if err != nil {
		return nil, err
	}
	if _, err := lc.Execute("SET SESSION lock_wait_timeout = 10"); err != nil {
		lc.Close()
		return nil, err
	}
	if _, err := lc.Execute("LOCK TABLES " + tableIdent(ch.t.Ref) + " READ"); err != nil {
		lc.Close()
		return nil, fmt.Errorf("%w: %v", errNoTableLock, err)
	}
	return func() {
		_, _ = lc.Execute("UNLOCK TABLES")
		lc.Close()
	}, nil
}

// errNoTableLock: LOCK TABLES was refused (privilege, or a writer held the
// table longer than lock_wait_timeout).
var errNoTableLock = errors.New("cannot lock the table for its snapshot window")

// read reads one chunk in a consistent snapshot, records the binlog
// position the snapshot corresponds to, and returns the rows read. A chunk
// read without error stays registered as in flight: the caller moves it to
// the pending chunks under one lock, so that the binlog reader always finds
// it in one of the two lists and cannot pass its position in between.
func (s *snapshotter) read(c *client.Conn, ch *chunk) (_ int, err error) {
	cfg := s.cfg
	bracket, watermark := s.mode == "bracket", s.mode == "watermark"
	g := ch.grp
	// A small chunk is read in its group's read view when one is open on
	// c (snapshot_group.go); otherwise that read view ends here.
	joined := s.joinGroup(c, ch)
	if !joined {
		s.endGroup(g, g != nil && g.conn == c)
		if ch.small {
			if err := s.waitSmallRoom(); err != nil {
				return 0, err
			}
		}
		// Registered before the read view exists, so the reader cannot
		// pass the chunk's position unseen (and finds its records to
		// stream).
		s.mu.Lock()
		s.inflight = append(s.inflight, ch)
		s.mu.Unlock()
	}
	defer func() {
		// A chunk that lost its connection after rows were read in key
		// order stays registered: those rows go out at its position
		// (readChunk).
		if err != nil && !(ch.haveLast && (lostConn(err) || errors.Is(err, errChunkCut))) {
			s.mu.Lock()
			s.removeInflight(ch)
			s.mu.Unlock()
		}
	}()
	// (withConn raised the connection's net_write_timeout: the read
	// pauses while the reader has not taken the chunk's records.)
	var unlock func()
	if ch.lock {
		// A key-less chunk whose table kept changing inside its window:
		// writes to the table wait while the window is open, so none
		// falls inside it.
		var err error
		if unlock, err = s.lockTable(ch); err != nil {
			return 0, err
		}
		defer func() {
			if unlock != nil {
				unlock()
			}
		}()
	}
	var seq uint64
	if watermark {
		// The low mark is committed before the read view exists: every
		// transaction before it in the binlog is committed too, and
		// visible to the read view.
		seq = s.registerWatermark(ch)
		if err := s.wm.write(s.ctx.Err, s.wm.token(seq, "low")); err != nil {
			return 0, err
		}
	}
	if bracket {
		low, _, err := masterStatus(c, cfg.flavor)
		if err != nil {
			return 0, err
		}
		ch.low = low
	}
	defer func() {
		if err == nil && g != nil && g.open && g.conn == c {
			return // the group's read view stays open for its next chunk
		}
		// (A group whose chunk failed ends with it: the read view or its
		// connection may be gone.)
		s.endGroup(g, false)
		_, _ = c.Execute("ROLLBACK")
	}()
	for attempt := 0; !joined; attempt++ {
		if _, err := c.Execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"); err != nil {
			return 0, err
		}
		if testHookInWindow != nil {
			testHookInWindow(s, ch)
		}
		if watermark {
			// The high mark is committed after the read view exists: no
			// transaction after it in the binlog is visible to the read view.
			// The reader sets the chunk's window and position when it meets
			// the two marks.
			if err := s.wm.write(s.ctx.Err, s.wm.token(seq, "high")); err != nil {
				return 0, err
			}
			bound, _, err := masterStatus(c, cfg.flavor)
			if err != nil {
				return 0, err
			}
			s.mu.Lock()
			ch.hwBound = bound
			s.mu.Unlock()
		} else if bracket {
			high, _, err := masterStatus(c, cfg.flavor)
			if err != nil {
				return 0, err
			}
			ch.pos = high
		}
		if unlock != nil {
			unlock()
			unlock = nil
		}
		if !watermark && !bracket && cfg.needBinlog {
			r, err := c.Execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
			if err != nil {
				return 0, err
			}
			for i := 0; i < r.RowNumber(); i++ {
				name, _ := r.GetString(i, 0)
				val, _ := r.GetString(i, 1)
				switch strings.ToLower(name) {
				case "binlog_snapshot_file":
					ch.pos.File = val
				case "binlog_snapshot_position":
					n, _ := strconv.ParseUint(val, 10, 32)
					ch.pos.Pos = uint32(n)
				}
			}
			if ch.pos.File == "" {
				return 0, fmt.Errorf("server reports no binlog_snapshot_file (is log_bin on?)")
			}
		}
		if !watermark && !bracket && cfg.needBinlog && s.readerPassed(ch.pos) {
			// The binlog reader already went past the read view's position:
			// MariaDB sends a transaction to replicas once it is in the
			// binlog, a moment before it is committed in the engine, and
			// the reader took it (as before this chunk) before the chunk
			// was registered, or it was before the position the reader
			// started at (SHOW MASTER STATUS counts it). Its changes are
			// neither in this read view nor after the chunk's position: a
			// new read view, once the engine has caught up with the binlog.
			if attempt >= maxBehindReader {
				return 0, fmt.Errorf("the consistent snapshot's binlog position %s stayed behind the binlog reader after %d attempts", ch.pos, attempt+1)
			}
			if _, err := c.Execute("ROLLBACK"); err != nil {
				return 0, err
			}
			ch.pos = binlogPos{}
			s.mu.Lock()
			s.behindReader++
			s.mu.Unlock()
			select {
			case <-time.After(time.Duration(1<<min(attempt, 7)) * time.Millisecond):
			case <-s.ctx.Done():
				return 0, s.ctx.Err()
			}
			continue
		}
		break
	}
	if !watermark && !joined {
		s.mu.Lock()
		ch.posKnown = true
		s.mu.Unlock()
		s.openGroup(c, ch)
	}
	ch.readTs = time.Now().UnixMicro()
	if err := s.liveSchema(c, ch); err != nil {
		return 0, err
	}
	t := ch.t
	rr := newRowReader(t, s.dataHint(t))
	expect := cfg.opts.chunkRows
	if ch.limit > 0 && ch.limit < expect {
		expect = ch.limit
	}
	if n := int(ch.ts.rowsTotal.Load()); ch.small && n < expect {
		// A small table's rows were counted: room for 8,192 rows (or
		// chunk_rows) for each of 1,000 tables of 1,000 rows was
		// allocated, cleared and collected for nothing. (A table that grew
		// since grows its builders.)
		expect = max(n, 64)
	}
	reserve := func() { rr.reserve(max(min(cfg.maxRows, expect-rr.rows), min(expect, 1024)), cfg.maxBytes) }
	reserve()
	n, size, total := 0, 0, 0
	// added counts a row of size bytes: a record goes out at maxRows rows
	// or maxBytes of row data, whichever comes first.
	added := func(rowSize int) error {
		n++
		total += rowSize
		if size += rowSize; n == cfg.maxRows || size >= cfg.maxBytes {
			n, size = 0, 0
			if err := s.push(ch, rr.record(), true, false); err != nil {
				return err
			}
			reserve()
		}
		return nil
	}
	q := chunkQuery(ch)
	if s.binaryOK(t) {
		err = s.selectBinary(c, q, rr, func(row []byte) error {
			if err := rr.binRow(row); err != nil {
				return err
			}
			return added(len(row))
		})
		if errors.Is(err, errBinaryType) {
			// No row was taken: read them as text, in the same
			// transaction, and from now on for this schema.
			s.cfg.log.Warn("snapshot reads with the text protocol", "table", ch.ts.key, "reason", err.Error())
			s.mu.Lock()
			s.textOnly[t] = true
			s.mu.Unlock()
			err = selectRaw(c, q, len(t.Cols), func(row []byte) error {
				if err := rr.row(row); err != nil {
					return err
				}
				return added(len(row))
			})
		}
	} else {
		err = selectRaw(c, q, len(t.Cols), func(row []byte) error {
			if err := rr.row(row); err != nil {
				return err
			}
			return added(len(row))
		})
	}
	if errors.Is(err, errChunkCut) || errors.Is(err, errRedo) {
		// The server is still sending the result: the connection cannot
		// be used again (nor rolled back), so it is closed, which also
		// ends the transaction.
		c.Close()
	}
	if err != nil {
		if joined && rr.rows == 0 && defChanged(err) {
			err = errGroupStale
		}
		return rr.rows, err
	}
	if n > 0 {
		_ = s.push(ch, rr.record(), false, true)
	} else if rr.rows > 0 {
		// The last record was full: it ends the chunk, unless the reader
		// took it already (its batch then does not say so).
		s.mu.Lock()
		ch.finalIn = len(ch.recs) > 0
		s.mu.Unlock()
	}
	s.noteDataHint(t, rr)
	s.noteSmallHeld(ch, total)
	if g != nil && g.open && g.conn == c {
		g.rows += rr.rows
		g.bytes += total
		if joined {
			s.mu.Lock()
			s.groups++
			s.mu.Unlock()
		}
	}
	return rr.rows, nil
}

// binaryOK reports whether t's chunks are read with the binary protocol.
func (s *snapshotter) binaryOK(t *table) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.cfg.opts.textProtocol && !s.textOnly[t]
}

// selectRaw runs a SELECT with the text protocol and calls row with each
// row packet as it arrives (valid only during the call). go-mysql would
// parse every value into a FieldValue first; the snapshot reader parses
// each value once, straight into its Arrow builder, from the packet as it
// lies in the connection's read buffer (queryResult).
func selectRaw(c *client.Conn, q string, ncols int, row func([]byte) error) error {
	_, queryAttrs := capabilities(c)
	return queryResult(c, queryPacket(q, queryAttrs), func(defs [][]byte) error {
		if len(defs) != ncols {
			return fmt.Errorf("query returned %d columns, want %d", len(defs), ncols)
		}
		return nil
	}, row)
}

// rowReader appends text- or binary-protocol row packets to Arrow
// builders.
type rowReader struct {
	t      *table
	schema *arrow.Schema
	cols   []outCol
	put    []func(v []byte) bool // text values, by column kind
	dec    []binDecoder          // binary values, by result column type
	hint   []int                 // per column: data bytes per row (strings)
	owned  bool                  // hint is this reader's own (else shared: copied before a change)
	rows   int
	tmp    []byte
	bytes  []int64 // per column: data bytes appended
}

func newRowReader(t *table, hint []int) *rowReader {
	schema := arrow.NewSchema(t.streamSchema(false).Fields()[:len(t.Cols)], nil)
	r := &rowReader{t: t, schema: schema, cols: make([]outCol, len(t.Cols)), hint: hint, bytes: make([]int64, len(t.Cols))}
	for i, f := range schema.Fields() {
		r.cols[i] = newOutCol(f.Type)
	}
	for i, c := range t.Cols {
		r.put = append(r.put, r.putter(c, r.cols[i]))
	}
	return r
}

// reserve makes room for n more rows and their string data as the hint
// expects it, but for no more rows than maxBytes holds (a record goes out
// at maxBytes of row data): 8192 rows of a 300-column table are 40 MiB of
// Arrow buffers, which the record keeps.
func (r *rowReader) reserve(n, maxBytes int) {
	n = min(n, max(maxBytes/r.rowBytes(), 1))
	for i, c := range r.cols {
		bytes := 0
		if _, ok := c.(*strCol); ok && i < len(r.hint) && r.hint[i] > 0 {
			bytes = min(n*r.hint[i], maxBytes)
		}
		c.reserve(n, bytes)
	}
}

// rowBytes estimates the Arrow bytes of one row: the fixed-width columns'
// widths, and for strings an offset and the hint's data bytes.
func (r *rowReader) rowBytes() int {
	size := 1
	for i, f := range r.schema.Fields() {
		switch t := f.Type.(type) {
		case arrow.FixedWidthDataType:
			size += max(t.BitWidth()/8, 1)
		default:
			size += 4
			if i < len(r.hint) {
				size += r.hint[i]
			}
		}
	}
	return size
}

// hintFor is the data bytes per row a string column's hint gives for an
// average of avg: an eighth more, so that a record whose strings run a
// little longer than the average does not grow (copy) its buffer — with
// the average + 1 about every other record of the snapshot benchmarks'
// table did.
func hintFor(avg int) int { return avg + avg/8 + 1 }

// learn raises column i's hint to what a record of avg data bytes per row
// needs: the first chunks of a table have no hint (their records grew
// their string buffers by doubling from nothing), and a chunk's strings
// may run longer than the last chunk's.
func (r *rowReader) learn(i, avg int) {
	want := hintFor(avg)
	if i < len(r.hint) && r.hint[i] >= want {
		return
	}
	if !r.owned {
		h := make([]int, len(r.cols))
		copy(h, r.hint)
		r.hint, r.owned = h, true
	}
	r.hint[i] = want
}

// record returns the rows appended since the last record.
func (r *rowReader) record() arrow.RecordBatch {
	rows := r.cols[0].len()
	arrs := make([]arrow.Array, len(r.cols))
	for i, c := range r.cols {
		if sc, ok := c.(*strCol); ok {
			r.bytes[i] += int64(len(sc.data))
			if rows > 0 {
				r.learn(i, len(sc.data)/rows)
			}
		}
		arrs[i] = c.newArray()
	}
	rec := array.NewRecordBatch(r.schema, arrs, int64(rows))
	for _, a := range arrs {
		a.Release()
	}
	return rec
}

// row appends one row packet.
func (r *rowReader) row(p []byte) error {
	pos := 0
	for i, put := range r.put {
		if pos >= len(p) {
			return gm.ErrMalformPacket
		}
		l := int(p[pos])
		switch {
		case l < 0xfb:
			pos++
		case l == 0xfb:
			r.cols[i].appendNull()
			pos++
			continue
		case l == 0xfc && pos+3 <= len(p):
			l = int(p[pos+1]) | int(p[pos+2])<<8
			pos += 3
		case l == 0xfd && pos+4 <= len(p):
			l = int(p[pos+1]) | int(p[pos+2])<<8 | int(p[pos+3])<<16
			pos += 4
		case l == 0xfe && pos+9 <= len(p):
			u := uint64(0)
			for k := 8; k >= 1; k-- {
				u = u<<8 | uint64(p[pos+k])
			}
			if u > uint64(len(p)) {
				return gm.ErrMalformPacket
			}
			l = int(u)
			pos += 9
		default:
			return gm.ErrMalformPacket
		}
		if pos+l > len(p) {
			return gm.ErrMalformPacket
		}
		v := p[pos : pos+l : pos+l]
		pos += l
		if !put(v) {
			return errValue(r.t.Cols[i], v)
		}
	}
	r.rows++
	return nil
}

// putter returns the function appending one non-NULL value of column c.
func (r *rowReader) putter(c *column, b outCol) func([]byte) bool {
	switch c.Kind {
	case kInt8:
		bb := b.(*fixedCol[int8])
		return func(v []byte) bool { n, ok := atoi64(v); bb.append(int8(n)); return ok }
	case kInt16:
		bb := b.(*fixedCol[int16])
		return func(v []byte) bool { n, ok := atoi64(v); bb.append(int16(n)); return ok }
	case kInt32:
		bb := b.(*fixedCol[int32])
		return func(v []byte) bool { n, ok := atoi64(v); bb.append(int32(n)); return ok }
	case kInt64:
		bb := b.(*fixedCol[int64])
		return func(v []byte) bool { n, ok := atoi64(v); bb.append(n); return ok }
	case kUint8:
		bb := b.(*fixedCol[uint8])
		return func(v []byte) bool { n, ok := atou64(v); bb.append(uint8(n)); return ok }
	case kUint16, kYear:
		bb := b.(*fixedCol[uint16])
		return func(v []byte) bool { n, ok := atou64(v); bb.append(uint16(n)); return ok }
	case kUint32:
		bb := b.(*fixedCol[uint32])
		return func(v []byte) bool { n, ok := atou64(v); bb.append(uint32(n)); return ok }
	case kUint64:
		bb := b.(*fixedCol[uint64])
		return func(v []byte) bool { n, ok := atou64(v); bb.append(n); return ok }
	case kFloat64:
		bb := b.(*fixedCol[float64])
		return func(v []byte) bool {
			f, err := strconv.ParseFloat(bytesString(v), 64)
			bb.append(f)
			return err == nil
		}
	case kFloat32:
		bb := b.(*fixedCol[float32])
		return func(v []byte) bool {
			f, err := strconv.ParseFloat(bytesString(v), 64)
			bb.append(float32(f))
			return err == nil
		}
	case kDecimal128:
		bb := b.(*fixedCol[decimal128.Num])
		scale := c.Scale
		return func(v []byte) bool {
			if u, neg, ok := decimalFast(v, scale); ok {
				bb.append(dec128(u, neg, nil))
				return true
			}
			u, neg, big, ok := decimalText(v, scale)
			bb.append(dec128(u, neg, big))
			return ok
		}
	case kString, kEnum, kSet, kJSON, kBinary, kGeometry, kUUID, kInet6, kInet4:
		bb := b.(*strCol)
		return func(v []byte) bool { bb.append(v); return true }
	case kDatetime, kTimestamp:
		bb := b.(*fixedCol[arrow.Timestamp])
		return func(v []byte) bool {
			us, ok := parseDatetime(v)
			bb.append(arrow.Timestamp(us))
			return ok
		}
	}
	return func(v []byte) bool { return appendText(b, c, v, false, &r.tmp) == nil }
}

// bytesString views b as a string for a call that does not keep it.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// atoi64 parses a decimal integer; short ones without strconv.
func atoi64(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		n, err := strconv.ParseInt(bytesString(v), 10, 64)
		return n, err == nil
	}
	neg := v[0] == '-'
	if neg {
		if v = v[1:]; len(v) == 0 {
			return 0, false
		}
	}
	var n int64
	for _, c := range v {
		c -= '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + int64(c)
	}
	if neg {
		n = -n
	}
	return n, true
}

// atou64 parses an unsigned decimal integer; short ones without strconv.
func atou64(v []byte) (uint64, bool) {
	if len(v) == 0 || len(v) > 19 {
		n, err := strconv.ParseUint(bytesString(v), 10, 64)
		return n, err == nil
	}
	var n uint64
	for _, c := range v {
		c -= '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + uint64(c)
	}
	return n, true
}

// decimalFast parses DECIMAL text ("-12.34") into an unscaled integer at
// scale when it has at most 18 digits at that scale; ok is false for any
// other text (decimalText then decides).
func decimalFast(v []byte, scale int) (u uint64, neg bool, ok bool) {
	if len(v) > 0 && v[0] == '-' {
		neg = true
		v = v[1:]
	}
	digits, frac := 0, -1
	for _, c := range v {
		if c == '.' {
			if frac >= 0 {
				return 0, false, false
			}
			frac = 0
			continue
		}
		c -= '0'
		if c > 9 {
			return 0, false, false
		}
		u = u*10 + uint64(c)
		digits++
		if frac >= 0 {
			frac++
		}
	}
	if frac < 0 {
		frac = 0
	}
	if digits == 0 || frac > scale || digits+scale-frac > 18 {
		return 0, false, false
	}
	return u * pow10u64[scale-frac], neg, true
}

// dataHint returns the data bytes per row of t's string columns seen in
// earlier chunks, to reserve builder memory once instead of growing it;
// for a table not read yet, those of the last table read with the same
// columns (layoutKey): the first chunk of each of 1,000 small tables of
// one layout grew its string buffers by doubling (docs/benchmarks.md,
// session 20).
func (s *snapshotter) dataHint(t *table) []int {
	s.mu.Lock()
	h := s.hints[t]
	s.mu.Unlock()
	if h != nil {
		return h
	}
	k := layoutKey(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.layoutHints[k]
}

// layoutKey is t's columns, names and declared types, as one string.
func layoutKey(t *table) string {
	var b strings.Builder
	for _, c := range t.Cols {
		b.WriteString(c.Name)
		b.WriteByte(0)
		b.WriteString(c.ColumnType)
		b.WriteByte(0)
		b.WriteString(c.Charset)
		b.WriteByte(0)
	}
	return b.String()
}

func (s *snapshotter) noteDataHint(t *table, r *rowReader) {
	if r.rows == 0 {
		return
	}
	h := make([]int, len(r.bytes))
	for i, b := range r.bytes {
		// A little over the average, so a chunk rarely grows its buffer.
		h[i] = hintFor(int(b / int64(r.rows)))
	}
	k := layoutKey(t)
	s.mu.Lock()
	s.hints[t] = h
	if s.layoutHints == nil {
		s.layoutHints = map[string][]int{}
	}
	s.layoutHints[k] = h
	s.mu.Unlock()
}
