package mysql

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"strings"
	"time"

	"github.com/etlq/etlq/exec"
)

// emitReady queues the chunks whose position the binlog reader has reached
// (pos; or every chunk when any is true), in position order, and the
// complete records of chunks still being read at such a position.
func (s *snapshotter) emitReady(pos binlogPos, any bool) bool {
	if s.mode == "watermark" {
		if err := s.watermarkMissing(pos); err != nil {
			s.fail(err)
			return false
		}
	}
	s.mu.Lock()
	var ready []*chunk
	keep := s.pending[:0]
	for _, ch := range s.pending {
		if any || ch.posKnown && ch.pos.cmp(pos) <= 0 {
			ready = append(ready, ch)
		} else {
			keep = append(keep, ch)
		}
	}
	s.pending = keep
	var streaming, drop []*chunk
	for _, ch := range s.inflight {
		if s.dropped[ch.ts] {
			drop = append(drop, ch)
			continue
		}
		verdict := s.windowed() && len(ch.t.Key) == 0 && !ch.verdictKnown
		if (streamable(ch) || verdict) && (any || ch.posKnown && ch.pos.cmp(pos) <= 0) {
			streaming = append(streaming, ch)
		}
	}
	s.mu.Unlock()
	for _, ch := range drop {
		// A table that left: what its chunk read goes nowhere.
		recs, _ := s.take(ch, false)
		for _, r := range recs {
			r.Release()
		}
	}
	if len(ready) == 0 && len(streaming) == 0 {
		return false
	}
	for i := 1; i < len(ready); i++ {
		for j := i; j > 0 && ready[j].pos.cmp(ready[j-1].pos) < 0; j-- {
			ready[j], ready[j-1] = ready[j-1], ready[j]
		}
	}
	for _, ch := range ready {
		s.emit(ch, pos, true)
	}
	emitted := len(ready) > 0
	for _, ch := range streaming {
		if s.keylessVerdict(ch, pos) {
			s.emit(ch, pos, false)
			emitted = true
		}
	}
	return emitted
}

// take removes and returns the records of ch read so far; final says they
// end the chunk (its last record is among them). With keepLast (a chunk
// still being read, streamed) the newest record stays in ch, unless
// holding it would pause the read (recsFull): it may be the chunk's last,
// and the batch of a table's last row must say that it ends the table's
// snapshot (exec.Batch.SnapshotEnd, debezium_json's "last"), which only
// the chunk's completion tells; taken before, the end came on a row-less
// batch, which no format can mark.
func (s *snapshotter) take(ch *chunk, keepLast bool) (recs []arrow.RecordBatch, final bool) {
	s.mu.Lock()
	recs = ch.recs
	ch.recs = nil
	if n := len(recs); keepLast && n > 0 && !recsFull(recs[n-1:]) {
		ch.recs = append(ch.recs, recs[n-1])
		recs = recs[:n-1]
	}
	ch.streamed += len(recs)
	if len(ch.recs) == 0 {
		final = ch.finalIn && len(recs) > 0
		ch.finalIn = false
	}
	s.mu.Unlock()
	if ch.drained != nil {
		select {
		case ch.drained <- struct{}{}:
		default:
		}
	}
	return recs, final
}

// snapshotStart says what the first row of ts's rows being emitted
// begins: nothing when ts's rows went out before, else ts's snapshot, or
// the stream's whole snapshot when no table's rows went out before.
func (s *snapshotter) snapshotStart(ts *tableState) exec.SnapshotEdge {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.begun[ts] {
		return exec.SnapshotInside
	}
	edge := exec.SnapshotEdgeAll
	if len(s.begun) > 0 {
		edge = exec.SnapshotEdgeTable
	}
	s.begun[ts] = true
	return edge
}

// left is about how many rows the snapshot has still to read: each
// active table's total (counted, or information_schema's estimate) less
// the rows it emitted; 0 when a table's total is not known yet
// (exec.Batch.SnapshotLeft).
func (s *snapshotter) left() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, ts := range s.active {
		if ts.snap == nil || ts.snap.Done || s.dropped[ts] {
			continue
		}
		if !ts.estimated.Load() {
			return 0
		}
		n += max(ts.rowsTotal.Load()-ts.rowsDone.Load(), 0)
	}
	return n
}

// snapshotEnd says what the last row of ts's chunk being emitted ends,
// when the chunk is the last of ts not emitted yet and no more are
// planned: ts's snapshot, or the stream's whole snapshot when every other
// table's is done.
func (s *snapshotter) snapshotEnd(ts *tableState) exec.SnapshotEdge {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed[ts] || s.emitted[ts] != s.planned[ts]-1 {
		return exec.SnapshotInside
	}
	s.ended[ts] = true
	return s.endEdge()
}

// endEdge is what the end of a table's snapshot ends: the stream's whole
// snapshot when every other table's is done too. Called with s.mu held.
func (s *snapshotter) endEdge() exec.SnapshotEdge {
	for _, o := range s.active {
		if !o.snap.Done && !s.ended[o] {
			return exec.SnapshotEdgeTable
		}
	}
	return exec.SnapshotEdgeAll
}

// emit turns the records of a chunk into batches with op "read" and fresh
// versions. A complete chunk's last batch carries a Mark that records the
// chunk as done; a chunk still being read (complete false) sends what it
// has so far, without a Mark.
func (s *snapshotter) emit(ch *chunk, at binlogPos, complete bool) {
	em := s.em
	ts := ch.ts
	posText := ch.pos.String()
	if ch.pos.isZero() {
		posText = ""
	}
	first := len(em.queued())
	var drop map[string]bool
	if !ch.low.isZero() && len(ch.t.Key) > 0 {
		// Windowed modes: keys changed between the chunk's low and high
		// positions come from the binlog events, not the chunk.
		drop = s.windowKeys(ts, ch.low, ch.pos, at)
	}
	var seen map[string]binlogPos
	if len(ch.t.Key) > 0 && !ch.pos.isZero() {
		// Keys changed by binlog rows that went out before the chunk: its
		// rows of them hold nothing newer (noteSeenLocked).
		s.mu.Lock()
		if s.seenSig[ts] == keyNames(ch.t) { // (notes of the chunk's key columns only)
			seen = s.seen[ts]
		}
		s.mu.Unlock()
	}
	recs, final := s.take(ch, !complete)
	for _, rec := range recs {
		b := s.finishRecord(ch, rec, posText)
		if b != nil && (len(drop) > 0 || len(seen) > 0) {
			sel := make([]int32, 0, rec.NumRows())
			s.mu.Lock()
			for i := 0; i < int(rec.NumRows()); i++ {
				k, ok := recordKey(ch.t, rec, 0, i)
				if ok && drop[k] {
					s.windowDrops++
					continue
				}
				if p, had := seen[k]; ok && had && p.cmp(ch.pos) < 0 {
					delete(seen, k) // (no other chunk holds the key)
					s.seenKeys--
					s.seenDrops++
					continue
				}
				sel = append(sel, int32(i))
			}
			s.mu.Unlock()
			if len(sel) < int(rec.NumRows()) {
				b.Sel = sel
			}
		}
		rec.Release()
		if b != nil {
			if ts.resnap != nil {
				b.Only = ts.resnap.req.Pipeline
			}
			em.queue(b)
		}
	}
	if out := em.queued()[first:]; len(out) > 0 {
		left := s.left()
		for _, b := range out {
			b.SnapshotLeft = left
		}
		out[0].SnapshotStart = s.snapshotStart(ts)
		if final {
			out[len(out)-1].SnapshotEnd = s.snapshotEnd(ts)
		}
	}
	if !complete {
		return
	}
	s.mu.Lock()
	ts.snap.addRange(ch.rng)
	s.emitted[ts]++
	done, ended := false, exec.SnapshotInside
	if s.closed[ts] && s.emitted[ts] == s.planned[ts] {
		ts.snap.Done = true
		ts.snap.Ranges = nil
		if ts.totalEstimated.Load() {
			// Planned from its estimate, not counted: the total is the
			// rows its snapshot read.
			ts.rowsTotal.Store(ts.rowsDone.Load())
		}
		ts.snapDone.Store(true)
		s.dropSeenLocked(ts)
		done = true
		s.noteTableDone(ts, at)
		if !s.ended[ts] && (ts.resnap == nil || ts.resnap.cutover) {
			// The table's last row went out in an earlier part of the
			// chunk, or it has none: the chunk's last batch (its mark,
			// when empty) ends the table's snapshot. An upsert target
			// over which a first run starts removes there the keys the
			// snapshot did not read (engine.snapshotEnded).
			s.ended[ts] = true
			ended = s.endEdge()
		}
	}
	s.mu.Unlock()
	s.release(ch)
	if done && ts.resnap != nil {
		// The resnapshot's last row is out: the engine removes the keys
		// of its range it did not find (resnapshot.go).
		defer func(r *resnapState) {
			if r.rebuild {
				em.endRebuild(ts, at)
				return
			}
			em.endResnapshot(r.req, ts, r.version, "")
			if r.rowsWhy != "" {
				s.cfg.log.Info(ts.key+": the table was read again after a statement changed its rows without row events; the keys it no longer has leave upsert targets", "table", ts.key, "statement", r.rowsWhy)
				return
			}
			if r.typeChange {
				s.cfg.log.Info(ts.key+": the table was read again after its type change; the keys it no longer has leave upsert targets", "table", ts.key)
				return
			}
			if r.cutover {
				s.cfg.log.Info("online schema change cut-over: the new table was read again; the keys it no longer has leave upsert targets", "table", ts.key)
				return
			}
			s.cfg.log.Info("resnapshot: the table was read again", "table", ts.key, "pipeline", r.req.Pipeline, "id", r.req.ID)
		}(ts.resnap)
		ts.resnap = nil
	}
	out := em.queued()
	if !s.chunkMarkDue() && !s.allDone() {
		// Many tables: this chunk's progress goes into the next Mark.
		if len(out) == first && ended != exec.SnapshotInside {
			// The table's end, on a row-less batch.
			em.queue(&exec.Batch{Record: emptyRecord(s.cfg.mem, ts.out.streamSchema(s.cfg.req.Before)),
				DB: ts.ref.DB, Table: ts.ref.Table, Snapshot: true})
			out = em.queued()
		}
		if len(out) > first && ended != exec.SnapshotInside {
			out[len(out)-1].SnapshotEnd = ended
		}
		return
	}
	s.lastChunkMark = time.Now()
	if len(out) == first {
		// An empty chunk (or one whose rows all went out while it was
		// read) still moves the snapshot on.
		em.emitMarkOnlyFor(ts, at)
		if ended != exec.SnapshotInside {
			out = em.queued()
			out[len(out)-1].Snapshot = true
			out[len(out)-1].SnapshotEnd = ended
		}
		return
	}
	if ended != exec.SnapshotInside {
		out[len(out)-1].SnapshotEnd = ended
	}
	if s.cfg.needBinlog {
		out[len(out)-1].Mark = em.mark(at)
	} else {
		out[len(out)-1].Mark = em.mark(binlogPos{})
	}
}

// finishRecord adds the before.* (NULL) and metadata columns to a chunk
// record of table columns.
func (s *snapshotter) finishRecord(ch *chunk, rec arrow.RecordBatch, posText string) *exec.Batch {
	cfg := s.cfg
	n := int(rec.NumRows())
	if n == 0 {
		return nil
	}
	t := ch.t
	ts := ch.ts
	outT := chunkOut(t, ts.out, cfg.opts.schemaChanges == "ignore")
	schema := outT.streamSchema(cfg.req.Before)
	cols := make([]arrow.Array, 0, schema.NumFields())
	for _, c := range outT.Cols {
		if i := t.colIndex(c.Name); i >= 0 && t.Cols[i].Kind == c.Kind {
			a := rec.Column(i)
			a.Retain()
			cols = append(cols, a)
		} else {
			cols = append(cols, array.MakeArrayOfNull(cfg.mem, c.arrowType(), n))
		}
	}
	if cfg.req.Before {
		for _, a := range s.nullArrays(schema.Fields()[len(outT.Cols):2*len(outT.Cols)], n) {
			a.Retain()
			cols = append(cols, a)
		}
	}
	ver := s.em.takeVersions(uint64(n))
	meta := metaArrays(cfg.mem, s.em.constants(), ts.ref.DB, ts.ref.Table, []metaRun{{op: exec.OpRead, ts: ch.readTs, pos: posText, ver: ver, n: n}})
	cols = append(cols, meta...)
	out := array.NewRecordBatch(schema, cols, int64(n))
	for _, a := range cols {
		a.Release()
	}
	ts.rowsDone.Add(int64(n))
	if ch.seq == 0 {
		ch.seq = s.chunkSeq.Add(1)
	}
	return &exec.Batch{Record: out, DB: ts.ref.DB, Table: ts.ref.Table, Snapshot: true, Chunk: ch.seq}
}

// chunkOut is the column set of a chunk's batches: out (the stream's
// columns at the chunk's position, with what the schema history knows of
// them: a DDL's DEFAULT, a rename) when the chunk read those columns; else
// the columns the chunk read — each batch carries the schema its rows were
// read with — taking out's column where the two agree. (A chunk that read
// fewer columns than out has — its read view before a DDL the reader has
// passed — must not fill them with NULL: the target gives rows without a
// column its DEFAULT, which is what MySQL gave them. Under schema_changes
// = 'ignore', out is the column set the pipeline started with and is kept.
// Columns agree when their arrow types do: a DECIMAL(10,4) the history has
// and a DECIMAL(10,2) the chunk read are of one kind but not one type, and
// the record must carry the type its array has.)
func chunkOut(t, out *table, ignore bool) *table {
	if out == nil || t == out || ignore {
		return out
	}
	same := len(t.Cols) == len(out.Cols)
	for i := 0; same && i < len(t.Cols); i++ {
		same = t.Cols[i].Name == out.Cols[i].Name && t.Cols[i].Kind == out.Cols[i].Kind && arrow.TypeEqual(t.Cols[i].arrowType(), out.Cols[i].arrowType())
	}
	if same {
		return out
	}
	m := &table{Ref: t.Ref, Key: t.Key, Charset: t.Charset, Collation: t.Collation}
	for _, c := range t.Cols {
		if i := out.colIndex(c.Name); i >= 0 && out.Cols[i].Kind == c.Kind && arrow.TypeEqual(out.Cols[i].arrowType(), c.arrowType()) {
			m.Cols = append(m.Cols, out.Cols[i])
		} else {
			m.Cols = append(m.Cols, c)
		}
	}
	return m
}

// manyTablesMarks is the number of tables from which a chunk's end gets a
// Mark at most every bigMarkEvery (chunkMarkDue); a variable for tests.
var manyTablesMarks = 64

// chunkMarkEvery is how often chunk ends get a Mark when there are many
// tables; a variable for tests.
var chunkMarkEvery = bigMarkEvery

// chunkMarkDue reports whether a complete chunk's last batch gets a Mark.
// Each Mark holds every table's snapshot progress, so with 1,000 small
// tables, one chunk each, building them was quadratic: 11% of the
// snapshot's CPU. Checkpoints are written at most once a second, so a Mark
// every 100 ms loses nothing but a longer re-read after a crash (no
// checkpoint gets ahead of the data: a Mark records only chunks emitted
// before it). The chunk after which every table is done always gets one.
func (s *snapshotter) chunkMarkDue() bool {
	return len(s.em.catalog().tables) < manyTablesMarks || time.Since(s.lastChunkMark) >= chunkMarkEvery
}

// nullKey names the all-NULL arrays of one before.* layout and length.
type nullKey struct {
	fields string // the fields' fingerprints
	n      int
}

// maxNullSets bounds the all-NULL array sets kept (nullArrays): a
// snapshot's records are mostly of one length, its chunks' last ones of
// any.
const maxNullSets = 16

// nullArrays returns all-NULL arrays of n rows for fields, shared by the
// snapshot's records of that layout and length (Arrow arrays are
// immutable); the caller does not release them. A snapshot record's
// before.* columns are all NULL: making them anew for every record
// (allocating and clearing 8192 rows of each column) took up to a tenth of
// the 1M-row snapshot's CPU.
func (s *snapshotter) nullArrays(fields []arrow.Field, n int) []arrow.Array {
	var fp strings.Builder
	for _, f := range fields {
		fp.WriteString(f.Type.Fingerprint())
		fp.WriteByte(';')
	}
	k := nullKey{fp.String(), n}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.nulls[k]; ok {
		return a
	}
	if len(s.nulls) >= maxNullSets {
		s.releaseNullsLocked()
	}
	if s.nulls == nil {
		s.nulls = map[nullKey][]arrow.Array{}
	}
	out := makeNullArrays(s.cfg.mem, fields, n)
	s.nulls[k] = out
	return out
}

// releaseNullsLocked drops the shared all-NULL arrays (s.mu held).
func (s *snapshotter) releaseNullsLocked() {
	for _, as := range s.nulls {
		for _, a := range as {
			a.Release()
		}
	}
	s.nulls = nil
}
