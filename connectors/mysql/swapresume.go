package mysql

import (
	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// Swaps made after the checkpoint (connectors.StreamTable.SwappedAt): a
// run stopped after it swapped a table's copies in, before a checkpoint
// passed the swap, resumes before it. A rebuild's targets then already
// hold the table with its new type as of the swap's position: replayed,
// the rows before the type change would not fit them (and the copy read
// again has every row up to there). The stream sends none of the table's
// rows up to that position (tableState.swapped), starts no rebuild on
// the way, and sends the swap again there, which the engine finishes
// (the renames not made yet, the view). Past any swap the engine knows
// of, a RowCopyPassed tells it that its swap files are of no more use.

// resumeSwaps decides, for each table whose copies an earlier run swapped
// in (SwappedAt), whether this stream, starting at start (resumed: a
// checkpoint's position), is before the swap.
func (st *stream) resumeSwaps(start binlogPos, resumed bool) {
	for _, rt := range st.req.Tables {
		ts := st.byRef[rt.Ref]
		at, ok := parsePos(rt.SwappedAt)
		if ts == nil || !ok {
			continue
		}
		// A checkpoint at the swap's own position is before it while it
		// still has the rebuild under way (marks of the re-read's last
		// chunks), after it once the rebuild ended there.
		before := resumed && (start.cmp(at) < 0 || start.cmp(at) == 0 && ts.cur.Rebuild)
		if rt.Rebuilt && before && ts.mode != connectors.SnapshotOnly {
			ts.skipTo, ts.swapped = at, true
			ts.snap, ts.resnap = nil, nil
			ts.snapDone.Store(true)
			nt := ts.cur.clone()
			nt.Rebuild = true // (so that a checkpoint at the swap's position is still before it)
			ts.cur = nt
			st.schemasDirty = true
			st.log.Info(ts.key+": the table was rebuilt and swapped in after the checkpoint: its rows up to the swap are in the targets and are not sent again", "table", ts.key, "resume_at", start.String(), "swap_at", at.String())
		}
		ts.passAt = at
		st.swapWait = append(st.swapWait, ts)
	}
}

// swapsAt, at the transaction boundary pos, ends the skips and reports
// the swaps the stream passed.
func (st *stream) swapsAt(pos binlogPos) {
	if len(st.swapWait) == 0 {
		return
	}
	keep := st.swapWait[:0]
	for _, ts := range st.swapWait {
		if pos.cmp(ts.passAt) < 0 {
			keep = append(keep, ts)
			continue
		}
		if !ts.skipTo.isZero() {
			at := ts.skipTo
			ts.skipTo, ts.swapped = binlogPos{}, false
			nt := ts.cur.clone()
			nt.Rebuild = false
			ts.cur, ts.out = nt, nt
			st.schemasDirty = true
			st.out = append(st.out, &exec.Batch{Record: emptyRecord(st.mem, ts.out.streamSchema(st.req.Before)), DB: ts.ref.DB, Table: ts.ref.Table,
				RowCopy: &exec.RowCopy{Of: ts.ref.Table, Step: exec.RowCopySwap, At: at.String()}})
			st.log.Info(ts.key+": the stream reached the rebuilt table's swap: its rows follow from here", "table", ts.key, "position", pos.String())
		}
		st.out = append(st.out, &exec.Batch{Record: emptyRecord(st.mem, ts.out.streamSchema(st.req.Before)), DB: ts.ref.DB, Table: ts.ref.Table,
			RowCopy: &exec.RowCopy{Of: ts.ref.Table, Step: exec.RowCopyPassed, At: ts.passAt.String()}, Mark: st.mark(pos)})
	}
	st.swapWait = keep
}
