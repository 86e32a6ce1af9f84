package mysql

import (
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/etlq/etlq/exec"
)

// barrier reports whether the binlog reader, between transactions at pos,
// must wait before reading on: a chunk is being read whose position is not
// known yet or is at or before pos. Its rows must go out before any event
// after its position.
//
// begins says the event at pos begins a transaction. When the reader may go
// on, that is recorded as passed (notePassed) under the same lock: a chunk
// registered after this check whose read view does not see that
// transaction yet (MariaDB sends it to replicas a moment before the engine
// commits it) must find it passed and take its read view again. Noted only
// later, in begin, a chunk could slip in between, take a read view at pos
// without the transaction, and come after its changes (a key-less table's
// changes were even dropped as covered by the chunk).
func (s *snapshotter) barrier(pos binlogPos, begins bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.inflight {
		if !ch.posKnown {
			// In watermark mode the reader itself finds the position
			// (the high watermark), ahead of it.
			if s.mode != "watermark" {
				return true
			}
		} else if ch.pos.cmp(pos) <= 0 {
			return true
		}
	}
	if begins && pos.cmp(s.passed) > 0 {
		s.passed = pos
	}
	return false
}

// notePassed records that the binlog reader begins a transaction at pos.
func (s *snapshotter) notePassed(pos binlogPos) {
	s.mu.Lock()
	if pos.cmp(s.passed) > 0 {
		s.passed = pos
	}
	s.mu.Unlock()
}

// readerPassed reports whether a read view at pos is behind the binlog
// reader: the reader has begun a transaction at or after pos (a chunk at
// pos would come after changes the reader has already handled as before
// it), or pos is before the position the reader started at (the
// transactions in between are neither in the read view nor read: MariaDB
// writes a transaction to the binlog, where SHOW MASTER STATUS counts it,
// a moment before the engine commits it).
func (s *snapshotter) readerPassed(pos binlogPos) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.behindLocked(pos)
}

// behindLocked is readerPassed with s.mu held.
func (s *snapshotter) behindLocked(pos binlogPos) bool {
	return !s.passed.isZero() && s.passed.cmp(pos) >= 0 || !s.from.isZero() && pos.cmp(s.from) < 0
}

// loggedKey is a key changed by a binlog event at pos.
type loggedKey struct {
	pos binlogPos
	key string
}

// recordKey returns the text of row i's key columns (from column offset
// off), the same for snapshot and binlog rows since both give equal values.
func recordKey(t *table, rec arrow.RecordBatch, off, i int) (string, bool) {
	var b strings.Builder
	for _, k := range t.Key {
		a := rec.Column(off + k)
		if a.IsNull(i) {
			return "", false
		}
		b.WriteString(a.ValueStr(i))
		b.WriteByte(0)
	}
	return b.String(), true
}

// noteKeys notes the keys a batch of binlog rows changed while ts is being
// snapshotted: in every mode for the chunks to come (seen), and in the
// windowed modes in the key log of the chunks' windows. Each row's
// position and keys are read once for both.
func (s *snapshotter) noteKeys(ts *tableState, rec arrow.RecordBatch) {
	if ts.snap == nil || ts.snap.Done || rec.NumRows() == 0 {
		return
	}
	posCol := rec.Column(rec.Schema().FieldIndices(exec.ColPos)[0]).(*array.String)
	s.mu.Lock()
	defer s.mu.Unlock()
	windowed := s.windowed()
	if len(ts.cur.Key) == 0 {
		if windowed {
			// A key-less table: that it changed, and where, is what
			// counts (keylessVerdict).
			p, _ := parsePos(posCol.Value(0))
			s.keyLog[ts] = append(s.keyLog[ts], loggedKey{p, ""})
		}
		return
	}
	seen := s.seenLocked(ts)
	offs := []int{0}
	if s.cfg.req.Before {
		offs = append(offs, len(ts.cur.Cols))
	}
	var (
		p    binlogPos
		last string
	)
	for i := 0; i < int(rec.NumRows()); i++ {
		if v := posCol.Value(i); i == 0 || v != last { // (the rows of one event share it)
			p, _ = parsePos(v)
			last = v
		}
		for _, off := range offs {
			k, ok := recordKey(ts.cur, rec, off, i)
			if !ok {
				continue
			}
			s.noteSeenLocked(seen, k, p)
			if windowed {
				s.keyLog[ts] = append(s.keyLog[ts], loggedKey{p, k})
			}
		}
	}
}

// keylessCovered reports whether rec, binlog rows of ts, are changes its
// snapshot chunk already holds, and are dropped: ts has no key (so its
// snapshot is one chunk, and a chunk row cannot override an earlier change
// of the same row, as it does by key) and its chunk is not emitted yet.
// The reader cannot pass the chunk's position while it is unsent, so the
// rows are before it; in the windowed modes the chunk is read again until
// no change of ts falls inside its window (keylessVerdict), so they are
// before its window, hence in its read view.
func (s *snapshotter) keylessCovered(ts *tableState, rec arrow.RecordBatch) bool {
	if ts.snap == nil || len(ts.cur.Key) > 0 || rec.NumRows() == 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !ts.snap.Done
}

// keylessVerdict decides, when the reader stands at a key-less windowed
// chunk's position, whether the chunk stands (no change of its table in
// its window) or must be read again (redo). It reports whether the chunk
// may be emitted.
func (s *snapshotter) keylessVerdict(ch *chunk, at binlogPos) bool {
	if !s.windowed() || len(ch.t.Key) > 0 {
		return true
	}
	s.mu.Lock()
	known, redo := ch.verdictKnown, ch.redo
	s.mu.Unlock()
	if !known {
		touched := len(s.windowKeys(ch.ts, ch.low, ch.pos, at)) > 0
		s.mu.Lock()
		ch.verdictKnown, ch.redo = true, touched
		redo = touched
		s.mu.Unlock()
		select {
		case ch.verdictC <- struct{}{}:
		default:
		}
		if redo {
			select { // wake a worker waiting for the reader in push
			case ch.drained <- struct{}{}:
			default:
			}
		}
	}
	return !redo
}

// windowed reports whether chunks have a window [low, pos) whose changed
// keys come from the binlog rather than the chunk (bracket and watermark
// modes).
func (s *snapshotter) windowed() bool {
	return s.mode == "bracket" || s.mode == "watermark"
}

// windowKeys returns the keys of ts changed in [lo, hi), and prunes the
// log below the lowest position a chunk can still need.
func (s *snapshotter) windowKeys(ts *tableState, lo, hi, reader binlogPos) map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for _, e := range s.keyLog[ts] {
		if e.pos.cmp(lo) >= 0 && e.pos.cmp(hi) < 0 {
			out[e.key] = true
		}
	}
	floor := reader
	for _, c := range append(append([]*chunk(nil), s.inflight...), s.pending...) {
		if c.ts == ts && !c.low.isZero() && c.low.cmp(floor) < 0 {
			floor = c.low
		}
	}
	log := s.keyLog[ts][:0]
	for _, e := range s.keyLog[ts] {
		if e.pos.cmp(floor) >= 0 {
			log = append(log, e)
		}
	}
	s.keyLog[ts] = log
	return out
}

// maxSeenKeys bounds the keys noted for chunks to come (seen): about 100
// bytes each, so that a writer busy during a long snapshot does not take
// the memory etlq is bounded by.
var maxSeenKeys = 200_000

// seenLocked returns the keys noted for ts's chunks to come, of the
// table's key columns now: notes of other key columns (the key changed
// while the table is read) would match other rows, and go (s.mu held).
func (s *snapshotter) seenLocked(ts *tableState) map[string]binlogPos {
	if sig := keyNames(ts.cur); s.seenSig[ts] != sig {
		s.dropSeenLocked(ts)
		s.seenSig[ts] = sig
	}
	m := s.seen[ts]
	if m == nil {
		m = map[string]binlogPos{}
		s.seen[ts] = m
	}
	return m
}

// noteSeenLocked notes key k (of a row's after or before image) as changed
// at p. A chunk emitted at a later position holds the row as the changes
// left it, which went out before it: an upsert target ends the same either
// way, but an append or changelog target got each such row twice, once as
// its change and again as a read row (s.mu held).
func (s *snapshotter) noteSeenLocked(m map[string]binlogPos, k string, p binlogPos) {
	if _, had := m[k]; !had {
		if s.seenKeys >= maxSeenKeys {
			if !s.seenFull {
				s.seenFull = true
				s.cfg.log.Warn("snapshot: too many keys changed while their tables are read; a row changed before its chunk is read may now reach append and changelog targets twice (once as its change, once as a read row)",
					"keys", s.seenKeys)
			}
			return
		}
		s.seenKeys++
	}
	m[k] = p
}

// dropSeenLocked forgets the keys noted for ts's chunks (its snapshot
// ended or starts again; s.mu held).
func (s *snapshotter) dropSeenLocked(ts *tableState) {
	s.seenKeys -= len(s.seen[ts])
	delete(s.seen, ts)
	delete(s.seenSig, ts)
}
