package mysql

import (
	"github.com/etlq/etlq/connectors"
)

// XA transactions (docs/schema-changes.md, "Writes logged as statements,
// XA rollbacks"):
// MariaDB logs an XA transaction's rows at its XA PREPARE (XA START …
// XA END, then the XA_PREPARE event), and its XA COMMIT or XA ROLLBACK
// later, as a group of its own with no row. The stream delivers the rows
// at the prepare, as those of any transaction at its end; committed
// later, they are the source's. Rolled back, they never were: the targets
// held rows the source never had (a phantom insert, an update undone, a
// row deleted there and not in the source), silently. The tables the
// prepared transaction wrote are now kept by its xid, and an XA ROLLBACK
// reads them again in place, or WARNs of what their targets keep
// (rows_ddl.go, rereadChanged). The checkpoint keeps the prepared ones
// (markState.XA): a run killed between a prepare and its rollback reads
// the tables again at the rollback when it resumes. XA COMMIT … ONE PHASE
// is logged as an ordinary transaction.

// xaPrepared notes the streamed tables the open transaction wrote, as
// those of prepared XA transaction xid.
func (r *binlogReader) xaPrepared(xid string) {
	if len(r.touched) == 0 {
		return
	}
	refs := make([]connectors.TableRef, 0, len(r.touched))
	for _, ts := range r.touched {
		refs = append(refs, ts.ref)
	}
	if r.xa == nil {
		r.xa = map[string][]connectors.TableRef{}
	}
	r.xa[xid] = refs
}

// xaRolledBack handles the XA ROLLBACK of xid at position at (statement
// q): the rows its prepare delivered are undone in the source, so its
// tables are read again in place. An xid not known here (prepared before
// the position the stream started from, when the checkpoint did not keep
// it yet) names no tables: a WARN says so.
func (r *binlogReader) xaRolledBack(xid string, at binlogPos, q string) {
	refs, known := r.xa[xid]
	delete(r.xa, xid)
	if !known {
		r.cfg.log.Warn("an XA transaction prepared before this run's start position was rolled back: if it wrote streamed tables, their targets hold its rows, which the source never committed; run etlq verify (--repair) on the tables it wrote",
			"position", at.String(), "statement", clip(q, 200))
		return
	}
	var changes []rowsChange
	for _, ref := range refs {
		if ts := r.tabs.byRef[ref]; ts != nil && !ts.gone {
			changes = append(changes, rowsChange{ref: ref, why: "XA ROLLBACK of a prepared transaction whose rows were delivered at its XA PREPARE: " + clip(q, 200)})
		}
	}
	r.rereadChanged(changes, at)
}
