package engine

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// isTruncate reports whether b is a source table's truncate change: one
// row of op exec.OpTruncate.
func isTruncate(b *exec.Batch) bool {
	if b.Record == nil || b.Record.NumRows() != 1 {
		return false
	}
	idx := b.Record.Schema().FieldIndices(exec.ColOp)
	if len(idx) == 0 {
		return false
	}
	ops, ok := b.Record.Column(idx[0]).(*array.String)
	return ok && ops.IsValid(0) && ops.Value(0) == exec.OpTruncate
}

// truncate delivers a truncate change b to pipeline pr under tracker
// sequence seq. An upsert target whose writer is a connectors.Truncater
// loses that table's rows (tombstones of b's version); any other target
// gets the change as a row: _op = 'truncate', the output columns NULL
// (their type's zero where the column cannot be NULL).
func (r *sourceRun) truncate(ctx context.Context, pr *pipeRun, b *exec.Batch, seq uint64) error {
	tr := pr.tables[b.DB+"."+b.Table]
	if tr == nil {
		return nil
	}
	pr.out.settle() // (the truncate comes after the batches before it)
	t, truncater := pr.writer.(connectors.Truncater)
	truncater = truncater && pr.p.Target.Mode == connectors.ModeUpsert
	if b.Copy && !truncater {
		return nil // the original is the change (exec.Batch.Copy)
	}
	pr.stats.RowsIn.Add(1)
	rec := b.Record
	m, err := exec.LayoutOf(rec.Schema())
	if err != nil {
		return err
	}
	version := rec.Column(m.Version).(*array.Uint64).Value(0)
	ref := connectors.TableRef{DB: b.DB, Table: b.Table}
	if truncater {
		where := map[string]string{}
		for i, e := range tr.plan.Outputs {
			switch e.String() {
			case exec.ColTable:
				where[tr.plan.Output[i].Name] = b.Table
			case exec.ColDB:
				where[tr.plan.Output[i].Name] = b.DB
			}
		}
		if len(pr.tables) > 1 && !rowsApart(pr.p, tr.plan) {
			pr.log.Warn("truncate: the target keeps the rows of the truncated table: the pipeline writes several tables into it and has no _table output column to tell their rows apart (add _table to TRANSFORM and to KEY)",
				"pipeline", pr.p.Name, "table", ref.String(), "position", valueText(rec.Column(m.Pos), 0))
			return nil
		}
		// Noted before the truncate can be checkpointed: a replay leaves
		// out the table's dead letters older than it (deadletter_cleared.go).
		if err := noteCleared(r.opts.StateDir, pr, ref.String(), version, valueText(rec.Column(m.Pos), 0), clearedTruncate); err != nil {
			return err
		}
		r.tracker.add(seq)
		pr.log.Info("truncate: removing the table's rows from the target", "pipeline", pr.p.Name, "table", ref.String(), "position", valueText(rec.Column(m.Pos), 0))
		err := t.Truncate(ctx, connectors.Truncation{Table: ref, Version: version, Where: where}, func(err error) {
			if err == nil {
				pr.stats.Batches.Add(1)
			} else {
				err = fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
			}
			r.tracker.done(seq, err)
		})
		if err != nil {
			err = fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
			r.tracker.done(seq, err)
		}
		return err
	}

	if pr.schemaChanged(b) {
		// The truncate row is written in the table's layout at its
		// position, as the rows around it are: a plan of another layout
		// (the live table's, after a DROP and CREATE made while etlq was
		// stopped) would bring the sink columns no DDL has added yet.
		if tr, err = pr.replan(ctx, b); err != nil {
			return &processError{pr: pr, err: err}
		}
	}
	// The pipeline's WHERE decides, as for any row (LANGUAGE.md: "keeps
	// rows for which expr is TRUE"), over the truncate row: _op is
	// 'truncate', the table's columns NULL. A notification pipeline
	// (WHERE _op = 'update' AND changed(status) AND status = 'paid') got
	// it as a row of placeholder values; a filtered changelog that wants
	// it says so (WHERE … OR _op = 'truncate').
	if tr.plan.Where != nil && sameLayout(rec.Schema(), tr.plan.Input) {
		out, _, rejected, _, err := tr.prog.Run(ctx, b)
		if out != nil {
			out.Release()
		}
		if err == nil && len(rejected) == 1 {
			pr.stats.RowsFiltered.Add(1)
			pr.log.Info("truncate: the pipeline's WHERE leaves the truncate change out", "pipeline", pr.p.Name, "table", ref.String(), "position", valueText(rec.Column(m.Pos), 0))
			return nil
		}
	}
	// The outputs over the row: metadata columns (_op, _table …) keep
	// their values, expressions of the table's columns are NULL.
	var proj arrow.RecordBatch
	if sameLayout(rec.Schema(), tr.plan.Input) {
		if proj, err = tr.prog.Project(ctx, b, []int32{0}); err != nil {
			return err
		}
		defer proj.Release()
	}
	schema := tr.plan.Sink
	cols := make([]arrow.Array, 0, schema.NumFields())
	defer func() { releaseAll(cols) }()
	for i := range schema.NumFields() {
		f := schema.Field(i)
		var a arrow.Array
		switch {
		case f.Name == exec.SysVersion || f.Name == exec.SysOp || f.Name == exec.SysTs || f.Name == exec.SysPos:
			src := map[string]int{exec.SysVersion: m.Version, exec.SysOp: m.Op, exec.SysTs: m.Ts, exec.SysPos: m.Pos}[f.Name]
			a = rec.Column(src)
			a.Retain()
		case f.Name == exec.SysDeleted:
			a = uint8Array(pr.alloc, []uint8{0})
		case proj != nil && i < len(tr.plan.Output) && (f.Nullable || proj.Column(i).IsValid(0)) && arrow.TypeEqual(proj.Column(i).DataType(), f.Type):
			a = proj.Column(i)
			a.Retain()
		default:
			// NULL, or the type's zero where the column cannot be NULL
			// (a key column of a changelog table).
			bld := array.NewBuilder(pr.alloc, f.Type)
			if f.Nullable {
				bld.AppendNull()
			} else {
				bld.AppendEmptyValue()
			}
			a = bld.NewArray()
			bld.Release()
		}
		cols = append(cols, a)
	}
	out := &exec.Batch{Record: array.NewRecordBatch(schema, cols, 1), DB: b.DB, Table: b.Table, ServerID: b.ServerID, GTID: b.GTID, Thread: b.Thread, Own: tr.plan.Own}
	r.tracker.add(seq)
	if err := pr.writer.Write(ctx, out, func(err error) {
		if err == nil {
			pr.stats.RowsOut.Add(1)
			pr.stats.Batches.Add(1)
		} else {
			err = fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
		}
		r.tracker.done(seq, err)
	}); err != nil {
		err = fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
		r.tracker.done(seq, err)
		return err
	}
	return nil
}
