package mysql

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// lifecycle handles, at position at, a statement that empties, creates,
// drops or renames tables (lifecycle_parse.go). It reports whether the
// statement was one; the caller then ends the (DDL) transaction.
func (r *binlogReader) lifecycle(schema, q string, at binlogPos) (bool, error) {
	ch := parseLife(schema, q)
	switch ch.kind {
	case lifeTruncate:
		if ts := r.st.byRef[ch.from[0]]; ts != nil && ts.mode != connectors.SnapshotOnly {
			r.truncate(ts, at)
		}
		return true, nil
	}
	return false, nil
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
	st.log.Info("table truncated", "table", ts.key, "position", at.String())
}
