package mysql

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// A table's life in a stream (docs/live-tables.md): TRUNCATE queues a
// truncate change; DROP and RENAME … TO another name make it leave (a
// truncate change first, so that upsert targets lose its rows); CREATE,
// and RENAME … TO a name the stream wants (asked for by name, or matching
// one of its patterns), make a table join — created, it is empty and its
// rows follow in the binlog; renamed in, it has rows and is snapshotted.

// lifecycle handles, at position at, a statement that empties, creates,
// drops or renames tables (lifecycle_parse.go). It reports whether the
// statement was one; the caller then ends the (DDL) transaction.
func (r *binlogReader) lifecycle(schema, q string, at binlogPos) (bool, error) {
	st := r.st
	ch := parseLife(schema, q)
	switch ch.kind {
	case lifeTruncate:
		if ts := st.byRef[ch.from[0]]; ts != nil && ts.mode != connectors.SnapshotOnly {
			r.truncate(ts, at)
			st.log.Info("table truncated", "table", ts.key, "position", at.String())
		}
	case lifeDrop:
		for _, ref := range ch.from {
			if ts := st.byRef[ref]; ts != nil {
				r.leave(ts, at, "dropped")
			}
		}
	case lifeRename:
		// In order: RENAME TABLE t TO _t_old, _t_new TO t swaps.
		for i, from := range ch.from {
			to := ch.to[i]
			if ts := st.byRef[from]; ts != nil {
				r.leave(ts, at, "renamed to "+to.String())
			}
			if mode, ok := st.wanted(to); ok && st.byRef[to] == nil {
				if err := r.join(to, mode, true, at, "renamed from "+from.String()); err != nil {
					return true, err
				}
			}
		}
	case lifeCreate:
		to := ch.to[0]
		if mode, ok := st.wanted(to); ok && st.byRef[to] == nil {
			// Created by this statement: empty (CREATE … SELECT's rows
			// follow as row events), nothing to snapshot.
			if err := r.join(to, mode, false, at, "created"); err != nil {
				return true, err
			}
		}
	default:
		return false, nil
	}
	return true, nil
}

// wanted reports whether the stream follows a table named ref that is not
// in it, and with which snapshot mode: a table asked for by name (that
// left and comes back) or one matching a pattern. SNAPSHOT only tables do
// not come back: their scan is over.
func (st *stream) wanted(ref connectors.TableRef) (connectors.SnapshotMode, bool) {
	if mode, ok := st.requested[ref]; ok {
		return mode, mode != connectors.SnapshotOnly
	}
	found := false
	var mode connectors.SnapshotMode
	for _, p := range st.req.Patterns {
		if p.DB != ref.DB || p.Snapshot == connectors.SnapshotOnly {
			continue
		}
		if ok, _ := connectors.MatchTable(p.Table, ref.Table); !ok {
			continue
		}
		if !found || p.Snapshot == connectors.SnapshotInitial {
			mode = p.Snapshot
		}
		found = true
	}
	return mode, found
}

// join adds table ref to the stream at position at, with its schema as
// the server has it now. With snapshot (a table renamed in, or met in the
// binlog without its CREATE) its rows are read as a snapshot placed after
// at, unless its mode is never.
func (r *binlogReader) join(ref connectors.TableRef, mode connectors.SnapshotMode, snapshot bool, at binlogPos, why string) error {
	st := r.st
	c, err := st.src.connect(context.Background())
	if err != nil {
		return err
	}
	t, err := readTable(c, ref)
	c.Close()
	if err != nil {
		// Gone again already (dropped or renamed later in the binlog):
		// the statements that follow say what became of it.
		st.log.Warn("table not joined: it cannot be read", "table", ref.String(), "position", at.String(), "cause", why, "error", err.Error())
		return nil
	}
	ts := &tableState{ref: ref, mode: mode, key: ref.String(), cur: t, out: t}
	st.tablesMu.Lock()
	st.tables = append(st.tables, ts)
	st.tablesMu.Unlock()
	st.byRef[ref] = ts
	st.schemasDirty = true
	if snapshot && mode != connectors.SnapshotNever {
		st.snap.addTable(ts)
		st.log.Info("table joined the stream; snapshotting it", "table", ts.key, "position", at.String(), "cause", why)
	} else {
		ts.snapDone.Store(true)
		st.log.Info("table joined the stream", "table", ts.key, "position", at.String(), "cause", why)
	}
	return nil
}

// leave removes ts from the stream at position at: a truncate change first
// (upsert targets lose its rows), then its rows are no longer decoded.
func (r *binlogReader) leave(ts *tableState, at binlogPos, why string) {
	st := r.st
	if ts.mode != connectors.SnapshotOnly {
		r.truncate(ts, at)
	}
	st.tablesMu.Lock()
	ts.gone = true
	st.tablesMu.Unlock()
	delete(st.byRef, ts.ref)
	for id, m := range r.maps {
		if m.t.Ref == ts.ref {
			delete(r.maps, id)
		}
	}
	st.schemasDirty = true
	st.log.Info("table left the stream; its rows leave upsert targets", "table", ts.key, "position", at.String(), "cause", why)
}

// truncate queues the change "ts was emptied at at": a batch of one row
// with op truncate, every table column NULL.
func (r *binlogReader) truncate(ts *tableState, at binlogPos) {
	st := r.st
	if ts.bb != nil {
		r.flush(ts)
		ts.bb.release()
		ts.bb = nil
	}
	schema := ts.out.streamSchema(st.req.Before)
	n := len(ts.out.Cols)
	if st.req.Before {
		n *= 2
	}
	cols := make([]arrow.Array, 0, schema.NumFields())
	for i := range n {
		cols = append(cols, array.MakeArrayOfNull(st.mem, schema.Field(i).Type, 1))
	}
	cols = append(cols, metaArrays(st.mem, nil, ts.ref.DB, ts.ref.Table, []metaRun{{op: exec.OpTruncate, ts: r.trxTs, pos: at.String(), ver: st.version, n: 1}})...)
	st.version++
	rec := array.NewRecordBatch(schema, cols, 1)
	for _, a := range cols {
		a.Release()
	}
	st.out = append(st.out, &exec.Batch{Record: rec, DB: ts.ref.DB, Table: ts.ref.Table})
}
