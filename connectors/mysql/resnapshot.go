package mysql

import (
	"context"
	"errors"
	"fmt"

	gm "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// Resnapshots (etlq resnapshot): a table, or the rows of it a WHERE
// selects, read again while the stream runs. The reader takes a request at
// a transaction boundary P, reserves the version v right there (below
// every version after P, above every one before), and snapshots the table
// as one that joins (snapshot_live.go): its chunks are placed in the binlog
// after P, each "as of" its position, while the table's changes and the
// other tables keep streaming. The chunks' batches go to the pipeline that
// asked only (exec.Batch.Only). After the last, an exec.ResnapshotEnd with
// v tells the engine that every key of the range whose live row in the
// target is older than v was neither read again nor changed since P: it is
// no longer at the source, and gets a tombstone.

var _ connectors.FloorKeeper = (*stream)(nil)

// KeepsVersionFloor: Open starts the version counter at the request's
// floor or above (connectors.FloorKeeper).
func (st *stream) KeepsVersionFloor() {}

// resnapState is a resnapshot under way (tableState.resnap).
type resnapState struct {
	req     connectors.Resnapshot
	version uint64
	// cutover: not a request but the re-read of a table that replaced
	// another of its name (lifecycle.go, joins): every pipeline reading
	// the table takes its rows, and it resumes from a checkpoint like a
	// snapshot (snapState.Older keeps the version).
	cutover bool
	// rebuild: the table is read again into its targets' copies
	// (rebuild.go); its end swaps them in.
	rebuild bool
	// typeChange: a cutover-like re-read in place after a type change
	// (rebuild.go, followReread), for its messages.
	typeChange bool
	// rowsWhy: a cutover-like re-read in place after a statement that
	// changed the table's rows without row events (rows_ddl.go), named
	// for its messages.
	rowsWhy string
}

// Resnapshot checks r and queues it for the reader (connectors.Resnapshotter).
func (st *stream) Resnapshot(ctx context.Context, r connectors.Resnapshot) error {
	if !st.needBinlog {
		return errors.New("the stream reads no binlog (SNAPSHOT only): a resnapshot has no stream to be placed in")
	}
	if err := checkWhere(r.Where); err != nil {
		return err
	}
	c, err := st.src.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Execute("SELECT 1 FROM " + tableIdent(r.Table) + " WHERE " + whereOf(r.Where) + " LIMIT 0"); err != nil {
		var me *gm.MyError
		if r.Where != "" || !(errors.As(err, &me) && me.Code == 1146) {
			return fmt.Errorf("resnapshot of %s: %v", r.Table, firstLine(err))
		}
		// The table is gone from the server (ERROR 1146): the stream
		// says what became of it — not in it, or leaving it further on
		// — and ends the request with that (endResnapshot, Gone): the
		// engine then knows its rows left the stream, which a request
		// of a stopped pipeline that missed the DROP needs. Refused
		// here, that request stayed pending for good.
	}
	st.resnapMu.Lock()
	st.resnapQ = append(st.resnapQ, r)
	st.resnapMu.Unlock()
	return nil
}

// resnapQueued reports whether resnapshots wait to be started: a Once
// stream carries them out before it ends.
func (st *stream) resnapQueued() bool {
	st.resnapMu.Lock()
	defer st.resnapMu.Unlock()
	return len(st.resnapQ) > 0 || len(st.rebuildQ) > 0
}

// whereOf is the condition of a resnapshot's WHERE ("" is every row).
func whereOf(w string) string {
	if w == "" {
		return "TRUE"
	}
	return "(" + w + ")"
}

// checkWhere accepts a WHERE that is one SQL condition, nothing more (no
// second statement, no subquery).
func checkWhere(w string) error {
	if w == "" {
		return nil
	}
	stmts, _, err := parser.New().Parse("SELECT 1 FROM t WHERE "+w, "", "")
	if err != nil {
		return fmt.Errorf("--where %q is not an SQL condition: %v", w, err)
	}
	if len(stmts) != 1 {
		return fmt.Errorf("--where %q is not one SQL condition", w)
	}
	sel, ok := stmts[0].(*ast.SelectStmt)
	if !ok || sel.Where == nil || sel.Limit != nil || sel.OrderBy != nil || sel.GroupBy != nil || sel.Having != nil {
		return fmt.Errorf("--where %q is not one SQL condition", w)
	}
	v := &subqueryFinder{}
	sel.Where.Accept(v)
	if v.found {
		return fmt.Errorf("--where %q: a subquery is not allowed", w)
	}
	return nil
}

type subqueryFinder struct{ found bool }

func (v *subqueryFinder) Enter(n ast.Node) (ast.Node, bool) {
	if _, ok := n.(*ast.SubqueryExpr); ok {
		v.found = true
		return n, true
	}
	return n, false
}

func (v *subqueryFinder) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// startResnapshots starts, at the transaction boundary pos, the queued
// resnapshots whose table is not being snapshotted already (those wait for
// it to end). Called by the binlog reader.
func (st *stream) startResnapshots(pos binlogPos) {
	if len(st.resnapping) > 0 {
		// A table that left while read again ends its resnapshot unfinished.
		keep := st.resnapping[:0]
		for _, ts := range st.resnapping {
			switch {
			case ts.resnap == nil:
			case ts.gone || st.snap.isDropped(ts):
				r := ts.resnap
				ts.resnap = nil
				if r.rebuild {
					ts.copyOf = ""
					st.log.Warn(ts.key+": the table left the stream (dropped or renamed) while it was rebuilt: its copy is not swapped in", "table", ts.key)
					if q := ts.rebuildReq; q != nil {
						ts.rebuildReq = nil
						st.endResnapshot(*q, ts, 0, "the table left the stream (dropped or renamed) while it was rebuilt")
					}
					continue
				}
				st.endResnapshot(r.req, ts, r.version, "the table left the stream (dropped or renamed) while it was read again")
			default:
				keep = append(keep, ts)
			}
		}
		st.resnapping = keep
	}
	st.startRebuilds(pos)
	st.resnapMu.Lock()
	q := st.resnapQ
	st.resnapQ = nil
	st.resnapMu.Unlock()
	if len(q) == 0 {
		return
	}
	var wait []connectors.Resnapshot
	for _, r := range q {
		ts := st.byRef[r.Table]
		switch {
		case ts == nil || ts.gone || ts.mode == connectors.SnapshotOnly:
			st.endResnapshot(r, nil, 0, fmt.Sprintf("table %s is not in the stream", r.Table))
		case len(ts.cur.Key) == 0:
			st.endResnapshot(r, ts, 0, fmt.Sprintf("table %s has no primary key: its rows cannot be told apart to be read again in place", r.Table))
		case ts.snap != nil && !ts.snap.Done:
			wait = append(wait, r) // its snapshot (or another resnapshot) runs
		case ts.copyOf == ts.ref.Table || ts.rebuildReq != nil:
			// Its rebuild is queued or under way (one requested just
			// before, or after a type change): until the copy is swapped
			// in, the table's rows go into the copy (exec.RowCopy), so a
			// read again now would send the asking pipeline nothing (a
			// changelog target lost them all), and a second rebuild
			// request would take the place of the first, whose end never
			// came (its file stayed). It waits for the swap.
			wait = append(wait, r)
		case r.Rebuild && !st.rebuildTypesReady(ts):
			// The stream is behind a type change of the table (resumed
			// from a checkpoint before it): the rebuild, which reads the
			// table with its types of now, waits until the stream has
			// them. The changes before go to the old target; those it
			// cannot take are the re-read's (the engine leaves them to
			// it, exec/engine/pipe.go, awaitReread).
			wait = append(wait, r)
		case r.Rebuild:
			st.resnapRebuild(r, ts, pos)
		default:
			v := st.version
			st.version++
			ts.resnap = &resnapState{req: r, version: v}
			st.resnapping = append(st.resnapping, ts)
			st.log.Info("resnapshot: reading the table again", "table", ts.key, "pipeline", r.Pipeline, "where", r.Where, "position", pos.String(), "id", r.ID)
			st.snap.resnapTable(ts)
		}
	}
	if len(wait) > 0 {
		st.resnapMu.Lock()
		st.resnapQ = append(wait, st.resnapQ...)
		st.resnapMu.Unlock()
	}
}

// endResnapshot queues the batch that ends a resnapshot (exec.ResnapshotEnd).
func (st *stream) endResnapshot(r connectors.Resnapshot, ts *tableState, version uint64, errText string) {
	schema := st.tables[0].out.streamSchema(st.req.Before)
	if ts != nil {
		schema = ts.out.streamSchema(st.req.Before)
	}
	gone := errText != "" && (ts == nil || ts.gone || st.snap.isDropped(ts))
	if gone {
		// A version above every row of the table the stream sent: a
		// target that missed the table's leaving (a pipeline stopped
		// then) removes its rows by it (engine, resnapshotEnd).
		version = st.version
		st.version++
	}
	st.out = append(st.out, &exec.Batch{Record: emptyRecord(st.mem, schema), DB: r.Table.DB, Table: r.Table.Table, Only: r.Pipeline,
		Resnapshot: &exec.ResnapshotEnd{ID: r.ID, Pipeline: r.Pipeline, Where: r.Where, Version: version, Err: errText, Gone: gone}})
}

// resnapTable snapshots ts again, restricted by its resnapshot's WHERE:
// its counts start anew, so that it is done when its new chunks are.
func (s *snapshotter) resnapTable(ts *tableState) {
	s.mu.Lock()
	delete(s.planned, ts)
	delete(s.emitted, ts)
	delete(s.closed, ts)
	delete(s.begun, ts)
	delete(s.ended, ts)
	delete(s.keyLog, ts)
	s.dropSeenLocked(ts)
	active := false
	for _, a := range s.active {
		active = active || a == ts
	}
	s.mu.Unlock()
	s.addTable(ts)
	if active {
		// addTable appended it again.
		s.mu.Lock()
		for i := len(s.active) - 1; i >= 0; i-- {
			if s.active[i] == ts {
				s.active = append(s.active[:i], s.active[i+1:]...)
				break
			}
		}
		s.mu.Unlock()
	}
}

// resnapFilter is the condition a resnapshot's WHERE adds to the chunks of
// ts ("" when ts is not being read again, or wholly).
func resnapFilter(ts *tableState) string {
	if ts.resnap == nil || ts.resnap.req.Where == "" {
		return ""
	}
	return whereOf(ts.resnap.req.Where)
}

// andPred joins two conditions ("" is none).
func andPred(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " AND " + b
}

// CheckCondition asks the server whether where is a valid condition on
// table (connectors.ConditionChecker): the check a stream's Resnapshot
// makes, for `etlq resnapshot` before it writes a request.
func (s *Source) CheckCondition(ctx context.Context, table connectors.TableRef, where string) error {
	if err := checkWhere(where); err != nil {
		return err
	}
	c, done, err := s.questionConn(ctx)
	if err != nil {
		return err
	}
	defer done()
	if _, err := c.Execute("SELECT 1 FROM " + tableIdent(table) + " WHERE " + whereOf(where) + " LIMIT 0"); err != nil {
		return ctxErr(ctx, fmt.Errorf("the server refuses the condition on %s: %v", table, firstLine(err)))
	}
	return nil
}
