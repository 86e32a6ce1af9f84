package mysql

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
)

func (s *snapshotter) worker() {
	defer s.wg.Done()
	var c *client.Conn
	defer func() {
		if c != nil {
			s.dropConn(c)
			c.Close()
		}
	}()
	for ch := range s.work {
		batch := s.takeGroup(ch)
		g := batch[0].grp
		for _, ch := range batch {
			for ch != nil {
				var ok bool
				if ch, ok = s.readChunk(&c, ch); !ok {
					s.endGroup(g, false)
					return
				}
			}
		}
		s.endGroup(g, c != nil)
	}
}

// readChunk reads one chunk and queues it for emission. It returns the
// rest of the chunk's range when the read stopped at its row limit, or at a
// lost connection after rows were read (or nil), and false when the
// snapshot failed or stops.
func (s *snapshotter) readChunk(c **client.Conn, ch *chunk) (*chunk, bool) {
	rows := 0
	cut := false
	ch.drained = make(chan struct{}, 1)
	var err error
	for redos := 0; ; redos++ {
		s.mu.Lock()
		// From the second read on, a key-less chunk locks its table for
		// the moment its window is open (when the server lets etlq).
		ch.lock = redos > 0 && !s.noTableLock
		s.mu.Unlock()
		rows, cut, err = s.readAttempt(c, ch)
		if errors.Is(err, errNoTableLock) {
			s.cfg.log.Warn("key-less table cannot be locked for its snapshot window; reading it again until its window stays quiet",
				"table", ch.ts.key, "error", firstLine(err))
			s.mu.Lock()
			s.noTableLock = true
			s.mu.Unlock()
			err = errRedo
		}
		if !errors.Is(err, errRedo) {
			break
		}
		// A key-less chunk whose table changed inside its window: read
		// it again, after a pause, in a new read view.
		if redos+1 >= maxKeylessReads {
			err = fmt.Errorf("table %s (no primary key) changed inside the snapshot window of each of %d reads: "+
				"without a key the chunk cannot leave those changes out (this server has no binlog_snapshot_position); "+
				"give the table a primary key, grant etlq LOCK TABLES on it, or snapshot it while it is quiet", ch.ts.key, redos+1)
			break
		}
		s.mu.Lock()
		s.redos++
		s.mu.Unlock()
		select {
		case <-time.After(time.Duration(50<<min(redos, 6)) * time.Millisecond):
		case <-s.ctx.Done():
			return nil, false
		}
	}
	if errors.Is(err, errChunkCut) {
		// The chunk waited too long for the reader with its read view
		// open: it ends at its last complete record, as after a lost
		// connection (read closed the connection).
		(*c) = nil
		cut, err = true, nil
		s.mu.Lock()
		s.cuts++
		s.mu.Unlock()
	}
	if err != nil {
		s.mu.Lock()
		s.removeInflight(ch)
		for _, r := range ch.recs {
			r.Release()
		}
		ch.recs = nil
		dropped := s.dropped[ch.ts]
		s.mu.Unlock()
		if dropped || s.tableGone(ch.ts, err) {
			s.release(ch)
			return nil, true
		}
		if s.ctx.Err() == nil {
			s.fail(fmt.Errorf("snapshot of %s: %v", ch.ts.key, err))
		}
		return nil, false
	}
	rest := splitAtLimit(ch, rows)
	if cut {
		rest = splitAfter(ch, ch.lastOrd)
	}
	s.mu.Lock()
	if s.dropped[ch.ts] {
		s.removeInflight(ch)
		for _, r := range ch.recs {
			r.Release()
		}
		ch.recs = nil
		s.mu.Unlock()
		s.release(ch)
		return nil, true
	}
	s.biggest = max(s.biggest, rows)
	if rest != nil {
		// Counted before ch can be emitted, so the table is not done
		// before its rest is.
		s.planned[ch.ts]++
		s.splits++
	}
	s.removeInflight(ch)
	s.pending = append(s.pending, ch)
	s.mu.Unlock()
	s.signal()
	if rest != nil {
		// The group's read view ends before the wait for a place: its
		// anchor would hold the binlog reader before the positions of
		// the chunks whose emission frees one.
		if g := ch.grp; g != nil {
			s.endGroup(g, g.conn == *c)
		}
		select {
		case s.semOf(rest) <- struct{}{}:
		case <-s.ctx.Done():
			return nil, false
		}
	}
	return rest, true
}

// maxKeylessReads bounds the reads of a key-less chunk in the windowed
// modes (see keylessVerdict).
var maxKeylessReads = 10

// maxDefChangedReads bounds the read views a chunk takes while its
// table's definition keeps changing after each (a series of DDLs).
const maxDefChangedReads = 10

// errRedo: the reader found a change of a key-less chunk's table inside
// the chunk's window; the chunk is read again.
var errRedo = errors.New("key-less chunk: its table changed inside the chunk's window")

// readAttempt reads ch once (with the connection retries of withConn). It
// returns the rows read and whether the chunk ends at its last complete
// record (a lost connection after rows were read in key order); errRedo
// when a key-less chunk must be read again (its records released).
func (s *snapshotter) readAttempt(c **client.Conn, ch *chunk) (rows int, cut bool, err error) {
	err = s.withConn(c, "snapshot of "+ch.ts.key, func(c *client.Conn) error {
		if ch.haveLast {
			// The connection was lost after rows were read in key
			// order: they are the chunk's range up to the last of
			// them, as of its position (the chunk stayed registered,
			// so the reader has not passed it); the rest is a new
			// chunk, read in a new read view.
			cut = true
			return nil
		}
		// Otherwise the chunk is read again from scratch, in a new read
		// view at a new position. Rows that already went out are sent
		// again (an upsert table ends the same; an append table gets
		// them twice).
		s.mu.Lock()
		if ch.streamed > 0 {
			s.cfg.log.Warn("snapshot chunk read again after a lost connection: its rows already sent are sent again",
				"table", ch.ts.key, "batches", ch.streamed)
		}
		for _, r := range ch.recs {
			r.Release()
		}
		ch.recs, ch.finalIn = nil, false
		ch.pos, ch.low, ch.posKnown, ch.hwBound = binlogPos{}, binlogPos{}, false, binlogPos{}
		ch.verdictKnown, ch.redo, ch.verdictC = false, false, make(chan struct{}, 1)
		s.mu.Unlock()
		var err error
		rows, err = s.read(c, ch)
		for reads := 1; rows == 0 && (errors.Is(err, errGroupStale) || defChanged(err)); reads++ {
			// The table changed after the read view was taken (the
			// group's, or the chunk's own: a DDL committed before the
			// SELECT, which then fails before any row): read in a new
			// read view of its own, which has the change.
			if reads == maxDefChangedReads {
				return fmt.Errorf("the table's definition changed after each of %d read views: %w", reads, err)
			}
			ch.solo = true
			ch.pos, ch.posKnown = binlogPos{}, false
			rows, err = s.read(c, ch)
		}
		return err
	})
	if errors.Is(err, errRedo) {
		s.dropConn(*c)
		*c = nil // read closed it: the result was not read to its end
	}
	if err == nil && !cut && s.windowed() && len(ch.t.Key) == 0 {
		// A key-less chunk stands only when the reader, at its
		// position, found no change of its table in its window.
		select {
		case <-ch.verdictC:
		case <-s.ctx.Done():
			return rows, cut, s.ctx.Err()
		}
		s.mu.Lock()
		redo := ch.redo
		if redo {
			s.removeInflight(ch)
			for _, r := range ch.recs {
				r.Release()
			}
			ch.recs = nil
		}
		s.mu.Unlock()
		if redo {
			return rows, cut, errRedo
		}
	}
	return rows, cut, err
}

func (s *snapshotter) removeInflight(ch *chunk) {
	for i, c := range s.inflight {
		if c == ch {
			s.inflight = append(s.inflight[:i], s.inflight[i+1:]...)
			return
		}
	}
}
