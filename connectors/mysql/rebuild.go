package mysql

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// Rebuilds (docs/schema-changes.md): a DDL that changes a column's type in
// a way its targets cannot follow in place — not a lossless widening
// (MODIFY v VARCHAR(20) of an INT, INT → DECIMAL, a DECIMAL narrowing
// that rounds the rows MySQL has), on a key column or not — rebuilds the
// table's targets. At the DDL's position the stream sends a row copy's
// start (exec.RowCopyStart, the table's own name as the copy's), so every
// change of the table from there on goes to each target's hidden copy
// (connectors.RowCopier), and reads the table again (a resnapshot placed
// in the stream: resnapshot.go) into that copy, with the new type. When
// the last row of the re-read is out, a row copy's swap
// (exec.RowCopySwap) makes the engine swap the copy in once both writes
// are durable. Readers see the old table, with the old type, until then.
//
// The schema in the checkpoint carries table.Rebuild while the rebuild
// runs: a stream resumed with it set starts the rebuild again (a new,
// empty copy; the table read again at the resume position).

// How a type change that is no lossless widening is followed
// (typeChange.how).
const (
	followNone    = iota // no such change (or schema_changes ignore/fail)
	followRebuild        // the table's targets rebuilt: read again into a copy
	followReread         // the targets widen the column; the table read again in place
	followWiden          // the targets widen the column; nothing read again
)

// typeChange says how the change of ts's schema to nt follows a column's
// type change that is no lossless widening: why names the change, how
// is one of the follow* above.
type typeChange struct {
	why string
	how int
}

// rebuildWhy returns how the change of ts's schema to nt is followed
// (docs/schema-changes.md, "Rebuilds" and "Type changes that are no
// widening"): a table every pipeline of which writes an upsert target of
// that one table is rebuilt; any other table's targets take a column of
// a type that holds both (exec.Supertype), and a table an upsert target
// has rows of (a pattern or several tables into one target, a Replicated
// engine) is read again in place, where it can be: with a primary key,
// not SNAPSHOT never or only. Where it cannot, a WARN says the rows
// already there keep their old values' representation.
func (r *binlogReader) rebuildWhy(ts *tableState, nt *table) typeChange {
	if r.cfg.opts.schemaChanges == "ignore" || r.cfg.opts.schemaChanges == "fail" || ts.copyOf != "" && ts.copyOf != ts.ref.Table || nt.Stale != "" {
		return typeChange{}
	}
	why := ""
	for _, c := range nt.Cols {
		i := ts.cur.colIndex(c.Name)
		if i < 0 {
			continue
		}
		old := ts.cur.Cols[i]
		from, to := old.field().Type, c.field().Type
		if arrow.TypeEqual(from, to) || exec.Widens(from, to) || (exec.Widens(to, from) && !roundsValues(old, c)) {
			continue
		}
		why = fmt.Sprintf("column %q changed type from %s to %s", c.Name, old.ColumnType, c.ColumnType)
		break
	}
	if why == "" {
		return typeChange{}
	}
	no := r.cannotRebuild(ts, nt)
	if no == "" {
		return typeChange{why: why, how: followRebuild}
	}
	switch {
	case !r.upsertTarget(ts.ref):
		r.cfg.log.Info(ts.key+": a type change that is no lossless widening: the targets (no upsert target) take the rows of the new type from here on, a ClickHouse column a type that holds both; the rows written before keep the values they had", "table", ts.key, "change", why)
		return typeChange{why: why, how: followWiden}
	case len(nt.Key) == 0:
		no = "the table has no primary key to be read again by"
	case ts.mode == connectors.SnapshotNever || ts.mode == connectors.SnapshotOnly:
		no = "the table is read with SNAPSHOT never or only"
	default:
		r.cfg.log.Info(ts.key+": a type change that is no lossless widening, and the table cannot be rebuilt: its targets' column takes a type that holds both, and the table is read again in place", "table", ts.key, "change", why, "reason", no)
		return typeChange{why: why, how: followReread}
	}
	r.cfg.log.Warn(ts.key+": a type change that is no lossless widening, and the table can be neither rebuilt nor read again: its targets' column takes a type that holds both; the rows already in upsert targets keep their values in the old type's representation (MySQL converted them): re-snapshot the table to convert them", "table", ts.key, "change", why, "reason", no)
	return typeChange{why: why, how: followWiden}
}

// upsertTarget reports whether a pipeline reading ref writes an upsert
// target (connectors.StreamTable.Upsert, StreamPattern.Upsert).
func (r *binlogReader) upsertTarget(ref connectors.TableRef) bool {
	for _, rt := range r.cfg.req.Tables {
		if rt.Ref == ref {
			return rt.Upsert
		}
	}
	for _, p := range r.cfg.req.Patterns {
		if p.Upsert && connectors.MatchRef(connectors.TableRef{DB: p.DB, Table: p.Table}, ref) {
			return true
		}
	}
	return false
}

// queueReread queues the re-read in place of ts after a type change its
// targets follow with a column of a type that holds both: at the next
// transaction boundary (stream.startRebuilds) a version is reserved and
// the table read again as a cut-over's new table is (every pipeline
// takes its rows, which overwrite the old ones by version; at the end
// the keys whose live row is older leave upsert targets).
func queueReread(tabs *streamTables, ts *tableState) {
	ts.reread = true
	for _, q := range tabs.rebuildQ {
		if q == ts {
			return
		}
	}
	tabs.rebuildQ = append(tabs.rebuildQ, ts)
}

// cannotRebuild says why ts cannot be rebuilt with schema nt ("" when it
// can): every pipeline reading it writes an upsert target of that one
// table that keeps a copy (connectors.StreamTable.RowCopy), the table
// has a key to be read again by, and its snapshot is done.
func (r *binlogReader) cannotRebuild(ts *tableState, nt *table) string {
	switch {
	case !r.rebuildOK(ts, nt):
		return "a pipeline reading the changed column writes no upsert target of this one table that keeps a copy"
	case len(nt.Key) == 0:
		return "the table has no primary key to be read again by"
	case ts.mode == connectors.SnapshotNever || ts.mode == connectors.SnapshotOnly:
		return "the table is read with SNAPSHOT never or only"
	case ts.snap != nil && !ts.snap.Done && (ts.resnap == nil || !ts.resnap.rebuild):
		return "its snapshot is under way"
	}
	return ""
}

// startRebuild starts the rebuild of ts at position at: the copy starts
// empty there, and the table is read again at the next transaction
// boundary (stream.startRebuilds).
func (r *binlogReader) startRebuild(ts *tableState, at binlogPos, why string) {
	if !ts.skipTo.isZero() {
		// The targets hold the table rebuilt at a later position already
		// (swapresume.go): nothing to read again.
		r.cfg.log.Info(ts.key+": a type change the targets already follow: the table was rebuilt after it before the restart", "table", ts.key, "position", at.String(), "change", why)
		return
	}
	r.cfg.log.Info(ts.key+": the table is rebuilt: read again into a copy with the new type", "table", ts.key, "position", at.String(), "change", why)
	queueRebuildStart(r.em, r.tabs, ts)
}

// queueRebuildStart sends the copy's start and queues the re-read.
func queueRebuildStart(em emitter, tabs *streamTables, ts *tableState) {
	cfg := em.config()
	ts.copyOf, ts.swapped = ts.ref.Table, false
	em.queue(&exec.Batch{Record: emptyRecord(cfg.mem, ts.out.streamSchema(cfg.req.Before)), DB: ts.ref.DB, Table: ts.ref.Table,
		RowCopy: &exec.RowCopy{Of: ts.ref.Table, Step: exec.RowCopyStart}})
	for _, q := range tabs.rebuildQ {
		if q == ts {
			return
		}
	}
	tabs.rebuildQ = append(tabs.rebuildQ, ts)
}

// startRebuilds starts, at the transaction boundary pos, the re-reads of
// the tables being rebuilt (reader only).
func (st *stream) startRebuilds(pos binlogPos) {
	if len(st.rebuildQ) == 0 {
		return
	}
	keep := st.rebuildQ[:0]
	for _, ts := range st.rebuildQ {
		switch {
		case ts.gone:
			// Dropped or renamed away: its copy is never swapped in.
			st.log.Warn(ts.key+": the table left the stream before its rebuild started", "table", ts.key)
			ts.copyOf = ""
		case ts.snap != nil && !ts.snap.Done && (ts.resnap == nil || !ts.resnap.rebuild):
			keep = append(keep, ts) // an etlq resnapshot of it runs
		case !st.rebuildKeyReady(ts):
			keep = append(keep, ts) // behind a later change of its key
		case ts.reread && ts.copyOf == "":
			v := st.version
			st.version++
			ts.reread = false
			if ts.resnap == nil {
				st.resnapping = append(st.resnapping, ts)
			}
			why := ts.cur.RereadWhy
			ts.resnap = &resnapState{req: connectors.Resnapshot{Table: ts.ref}, version: v, cutover: true, typeChange: why == "", rowsWhy: why}
			if why != "" {
				st.log.Info(ts.key+": reading the table again in place: a statement changed its rows without row events", "table", ts.key, "position", pos.String(), "statement", why)
			} else {
				st.log.Info(ts.key+": reading the table again in place after its type change", "table", ts.key, "position", pos.String())
			}
			st.snap.resnapTable(ts)
			st.snap.mu.Lock()
			ts.snap.Older, ts.snap.TypeChange, ts.snap.RowsWhy = v, why == "", why
			st.snap.mu.Unlock()
			if ts.cur.Reread {
				// From here the snapshot state (Older) resumes it.
				st.changeFlags(ts, func(nt *table) { nt.Reread, nt.RereadWhy = false, "" })
			}
		default:
			ts.reread = false
			v := st.version
			st.version++
			again := ts.resnap != nil
			ts.resnap = &resnapState{req: connectors.Resnapshot{ID: "rebuild", Table: ts.ref}, version: v, rebuild: true}
			if !again {
				st.resnapping = append(st.resnapping, ts)
			}
			st.log.Info(ts.key+": rebuild: reading the table again into the copy", "table", ts.key, "position", pos.String())
			st.snap.resnapTable(ts)
		}
	}
	st.rebuildQ = keep
}

// endRebuild queues the swap of the copies in at position at, once the
// re-read's last row is out, and ends the rebuild in the schema the
// checkpoint keeps.
func (st *stream) endRebuild(ts *tableState, at binlogPos) {
	if st.rebuildRestarted(ts) {
		// A later type change of the table (two ALTERs met one after the
		// other, etlq stopped or behind) started the rebuild again while
		// this re-read ran: its copy started empty again there, without
		// the changes the stream had sent into the copy before, which
		// this re-read left out (they went out first and carry their
		// keys). Swapped in, the targets would lack those rows, and a
		// restart after the swap would take them for rebuilt. The re-read
		// queued reads the table again; its end swaps the copy in.
		st.log.Info(ts.key+": rebuild: the table's type changed again while it was read again: the copy is swapped in once the table is read again with the later type", "table", ts.key)
		return
	}
	b := &exec.Batch{Record: emptyRecord(st.mem, ts.out.streamSchema(st.req.Before)), DB: ts.ref.DB, Table: ts.ref.Table,
		RowCopy: &exec.RowCopy{Of: ts.ref.Table, Step: exec.RowCopySwap, At: at.String()}}
	st.out = append(st.out, b)
	ts.copyOf = ""
	st.changeFlags(ts, func(nt *table) { nt.Rebuild = false })
	// A checkpoint of the swap itself (the rebuild ended): the engine
	// forgets the swap once one is written (a mark at the same position
	// before it still has the rebuild under way: swapresume.go).
	b.Mark = st.mark(at)
	st.log.Info(ts.key+": the table is rebuilt: the copy read again with the new type is swapped in", "table", ts.key)
	if q := ts.rebuildReq; q != nil {
		ts.rebuildReq = nil
		st.out = append(st.out, &exec.Batch{Record: emptyRecord(st.mem, ts.out.streamSchema(st.req.Before)), DB: q.Table.DB, Table: q.Table.Table, Only: q.Pipeline,
			Resnapshot: &exec.ResnapshotEnd{ID: q.ID, Pipeline: q.Pipeline, Where: q.Where, Rebuilt: true}})
	}
}

// rebuildRestarted reports whether ts waits in rebuildQ for a rebuild
// started again (queueRebuildStart), not for a re-read in place.
func (st *stream) rebuildRestarted(ts *tableState) bool {
	if ts.reread || ts.copyOf == "" {
		return false
	}
	for _, q := range st.rebuildQ {
		if q == ts {
			return true
		}
	}
	return false
}

// changeFlags makes a copy of ts's schema, changed by f (a flag the
// checkpoint keeps: Rebuild, Reread), the table's schema from here on.
func (st *stream) changeFlags(ts *tableState, f func(nt *table)) {
	nt := ts.cur.clone()
	f(nt)
	if ts.out == ts.cur {
		ts.out = nt
	}
	ts.cur = nt
	st.schemasDirty = true
}

// resnapRebuild carries out the resnapshot request r of ts, whose
// pipeline's target has a column of a type its rows cannot be written
// into, by a rebuild (connectors.Resnapshot.Rebuild): a copy with the
// table's types of now, read again, swapped in; the request ends there.
func (st *stream) resnapRebuild(r connectors.Resnapshot, ts *tableState, pos binlogPos) {
	if no := st.bin.cannotRebuild(ts, ts.cur); no != "" {
		st.endResnapshot(r, ts, 0, "the target has a column of another type than the table's rows (changed outside etlq, or a type change it could not take), and the table cannot be rebuilt: "+no)
		return
	}
	st.log.Info(ts.key+": resnapshot: the target's column types do not match the table's: the table is rebuilt: read again into a copy with the types of now", "table", ts.key, "pipeline", r.Pipeline, "position", pos.String(), "id", r.ID)
	ts.rebuildReq = &r
	queueRebuildStart(st, &st.streamTables, ts)
}

// resumeRebuilds starts again, on resume, the rebuilds the checkpoint
// has under way.
func (st *stream) resumeRebuilds() {
	for _, ts := range st.tables {
		if ts.cur != nil && ts.cur.Reread && !ts.cur.Rebuild && ts.resnap == nil {
			if ts.cur.RereadWhy != "" {
				st.log.Info(ts.key+": reading the table again in place: a statement changed its rows without row events (queued at the checkpoint)", "table", ts.key, "statement", ts.cur.RereadWhy)
			} else {
				st.log.Info(ts.key+": reading the table again in place after its type change (queued at the checkpoint)", "table", ts.key)
			}
			queueReread(&st.streamTables, ts)
			continue
		}
		if ts.cur == nil || !ts.cur.Rebuild || !ts.skipTo.isZero() {
			continue
		}
		if no := st.bin.cannotRebuild(ts, ts.cur); no != "" || st.opts.schemaChanges == "ignore" || st.opts.schemaChanges == "fail" {
			st.log.Warn(ts.key+": the checkpoint has the table's rebuild under way, and it cannot go on: its targets decide", "table", ts.key, "reason", no)
			nt := ts.cur.clone()
			nt.Rebuild = false
			ts.cur, ts.out = nt, nt
			st.schemasDirty = true
			continue
		}
		st.log.Info(ts.key+": the table is rebuilt: read again into a copy with the new type (the rebuild under way at the checkpoint starts again)", "table", ts.key)
		queueRebuildStart(st, &st.streamTables, ts)
	}
}

// rebuildKeyReady reports whether ts's re-read can be planned on its key
// now: a stream behind (etlq stopped, or replaying) meets a rebuild's DDL
// while the server's table may already have a later key (MODIFY id
// VARCHAR(20) after the DDL), which the re-read's chunks cannot be
// planned on. The re-read then waits until the stream reaches the later
// DDL (which starts the rebuild again); the table's changes meanwhile go
// to the copy. Looked at twice a second at most.
func (st *stream) rebuildKeyReady(ts *tableState) bool {
	live, looked, err := st.liveTableThrottled(ts)
	if !looked {
		return false
	}
	if err != nil {
		return true // gone: the chunk's SELECT says so
	}
	return sameKey(ts.cur, live) == nil
}

// liveTableThrottled reads ts's table as the server has it now, at most
// twice a second (looked false: not read this time, or the server could
// not be reached); err: the table cannot be read (gone).
func (st *stream) liveTableThrottled(ts *tableState) (live *table, looked bool, err error) {
	if time.Since(ts.rebuildLooked) < 500*time.Millisecond {
		return nil, false, nil
	}
	ts.rebuildLooked = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := st.src.connect(ctx)
	if err != nil {
		return nil, false, nil
	}
	defer c.Close()
	live, err = readTable(c, ts.ref)
	return live, true, err
}

// rebuildTypesReady reports whether ts's schema in the stream has the
// column types the server's table has now (a column of either only is no
// matter): a rebuild asked by etlq resnapshot (resnapRebuild) makes its
// copy with the stream's types and reads the table with the server's, so
// a stream behind a type change of the table starts it once past the
// change — started before, the copy took the old type and could not
// follow the change when the stream met it. Looked at twice a second at
// most; a table the server no longer has is ready (its re-read says so).
func (st *stream) rebuildTypesReady(ts *tableState) bool {
	live, looked, err := st.liveTableThrottled(ts)
	if !looked {
		return false
	}
	if err != nil || ts.cur == nil {
		return true
	}
	for _, lc := range live.Cols {
		i := ts.cur.colIndex(lc.Name)
		if i >= 0 && !arrow.TypeEqual(ts.cur.Cols[i].field().Type, lc.field().Type) {
			return false
		}
	}
	return true
}
