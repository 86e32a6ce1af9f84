package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/exec/change"
	"github.com/etlq/etlq/planner"
)

// pipeRun is one pipeline at run time: its compiled programs per source
// table and its sink writer.
type pipeRun struct {
	p      *planner.Pipeline
	writer connectors.Writer
	tables map[string]*tableRun
	stats  *PipelineStats
	alloc  memory.Allocator
	dead   *deadLetters
	log    *slog.Logger
}

type tableRun struct {
	plan   *planner.TablePlan
	prog   *exec.Program // WHERE and the outputs
	before *exec.Program // outputs over the before image; nil when unused
	meta   exec.SourceLayout
	upsert *change.Upsert // the tombstones of an upsert target
	sink   *change.Sink   // the sink batch
}

func newPipeRun(ctx context.Context, p *planner.Pipeline, sink connectors.Sink, opts Options) (*pipeRun, error) {
	if sink == nil {
		return nil, fmt.Errorf("pipeline %s: sink %q is not declared", p.Name, p.Sink)
	}
	pr := &pipeRun{p: p, tables: map[string]*tableRun{}, stats: opts.Stats.pipeline(p.Name, p.Source), alloc: opts.Alloc, log: opts.Log}
	names := make([]string, len(p.Output))
	for i, c := range p.Output {
		names[i] = c.Name
	}
	for _, t := range p.Tables {
		tr, err := newTableRun(p, t, opts.Alloc)
		if err != nil {
			return nil, err
		}
		pr.tables[t.Ref.String()] = tr
	}
	if p.OnError == exec.OnErrorDeadLetter {
		d, err := newDeadLetters(ctx, p, opts.sinks, opts)
		if err != nil {
			return nil, err
		}
		pr.dead = d
	}
	w, err := sink.Open(ctx, p.Target)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", p.Name, err)
	}
	pr.writer = w
	if r, ok := w.(connectors.Retrier); ok {
		pr.stats.retrier.Store(r)
	}
	return pr, nil
}

func newTableRun(p *planner.Pipeline, t *planner.TablePlan, alloc memory.Allocator) (*tableRun, error) {
	names := make([]string, len(t.Output))
	for i, c := range t.Output {
		names[i] = c.Name
	}
	tr := &tableRun{plan: t}
	var err error
	tr.prog, err = exec.NewProgram(exec.ProgramConfig{Where: t.Where, Outputs: t.Outputs, Names: names, OnError: p.OnError, Alloc: alloc})
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", p.Name, err)
	}
	if t.BeforeOutputs != nil {
		tr.before, err = exec.NewProgram(exec.ProgramConfig{Outputs: t.BeforeOutputs, Names: names, OnError: exec.OnErrorSkip, Alloc: alloc})
		if err != nil {
			return nil, fmt.Errorf("pipeline %s: %w", p.Name, err)
		}
	}
	tr.meta, err = exec.LayoutOf(t.Input)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", p.Name, err)
	}
	var before change.Projector
	if tr.before != nil {
		before = tr.before // (not a nil *exec.Program in the interface)
	}
	tr.upsert = &change.Upsert{Outputs: tr.prog, Before: before, Key: t.KeyIndex, Names: names, Alloc: alloc}
	tr.sink = &change.Sink{Schema: t.Sink, Outputs: len(t.Output), Layout: tr.meta, Before: before, BeforeIndex: t.BeforeIndex, Alloc: alloc}
	return tr, nil
}

// sameLayout reports whether two batch schemas have the same columns (names
// and types; field metadata aside).
func sameLayout(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i := range a.NumFields() {
		fa, fb := a.Field(i), b.Field(i)
		if fa.Name != fb.Name || !arrow.TypeEqual(fa.Type, fb.Type) {
			return false
		}
		// A column a DDL added or renamed reaches the sink with what the
		// DDL says of it (exec.MetaDefault, MetaRenamedFrom) in a plan
		// made again. (Those alone, kept in the source's history, do not
		// make a new plan: a restart would plan every table twice.)
		for _, k := range []string{exec.MetaAddedByDDL, exec.MetaRoundedFrom} {
			// (MetaRoundedFrom: a narrowing that rounded the source's
			// rows must reach the sink, whose table may not follow.)
			va, _ := fa.Metadata.GetValue(k)
			vb, _ := fb.Metadata.GetValue(k)
			if va != vb {
				return false
			}
		}
	}
	return true
}

// schemaChanged reports whether b's table has another layout than the one
// the pipeline planned it with: a DDL the source announces with a batch
// without rows.
func (pr *pipeRun) schemaChanged(b *exec.Batch) bool {
	tr := pr.tables[b.DB+"."+b.Table]
	return tr != nil && !sameLayout(b.Record.Schema(), tr.plan.Input)
}

// tableSchemaOf recovers a table's schema from the layout of its batches
// (schemaOfInput).
func tableSchemaOf(b *exec.Batch) *connectors.TableSchema {
	return schemaOfInput(connectors.TableRef{DB: b.DB, Table: b.Table}, b.Record.Schema())
}

// wants reports whether the pipeline takes batch b by its own SNAPSHOT mode,
// whatever other pipelines read the same table with: never takes no
// snapshot rows, only takes nothing but snapshot rows.
func (pr *pipeRun) wants(b *exec.Batch) bool {
	switch pr.p.Snapshot {
	case connectors.SnapshotNever:
		return !b.Snapshot
	case connectors.SnapshotOnly:
		return b.Snapshot
	}
	return true
}

func (pr *pipeRun) close() {
	if pr.writer != nil {
		pr.writer.Close()
	}
	if pr.dead != nil {
		pr.dead.close()
	}
}

// process turns one source batch into one sink batch (nil when no row is
// left). It does not take ownership of b.
func (pr *pipeRun) process(ctx context.Context, b *exec.Batch) (*exec.Batch, error) {
	tr := pr.tables[b.DB+"."+b.Table]
	if tr == nil {
		return nil, nil
	}
	replanned := false
	if !sameLayout(b.Record.Schema(), tr.plan.Input) {
		replanned = true
		// The source table changed (schema_changes = 'evolve'): plan this
		// table again for its new columns.
		sig := outputSig(pr.p)
		tp, err := pr.p.Rebind(ctx, tableSchemaOf(b))
		if err != nil {
			return nil, fmt.Errorf("%s.%s changed while streaming: %w", b.DB, b.Table, err)
		}
		if tr, err = newTableRun(pr.p, tp, pr.alloc); err != nil {
			return nil, err
		}
		pr.tables[b.DB+"."+b.Table] = tr
		if outputSig(pr.p) != sig {
			// Shards matched by name: the others follow the new union.
			if err := pr.realign(ctx, b.DB+"."+b.Table); err != nil {
				return nil, err
			}
		}
		pr.stats.SchemaChanges.Add(1)
		pr.log.Info("schema change: pipeline planned again", "pipeline", pr.p.Name, "table", b.DB+"."+b.Table, "columns", len(tp.Output))
	}
	pr.stats.RowsIn.Add(int64(b.NumRows()))
	ops := change.Ops(b, tr.meta)

	upsert := pr.p.Target.Mode == connectors.ModeUpsert
	in, deletes := b, []int32(nil)
	if upsert {
		in, deletes = change.SplitDeletes(b, ops)
	}
	// WHERE and TRANSFORM over the live rows.
	out, kept, rejected, rowErrs, err := tr.prog.Run(ctx, in)
	if err != nil {
		var re exec.RowError
		if errors.As(err, &re) {
			// The row that stops the pipeline is a row error too: the
			// summary and the metrics must not say 0 next to it.
			pr.stats.RowErrors.Add(1)
			return nil, fmt.Errorf("%s: column %q: %s (on_error = 'fail'; 'skip' or 'dead_letter' let the other rows through)", describeRow(b, tr.meta, re.Row), re.Column, re.Reason)
		}
		return nil, err
	}
	set := &change.Set{}
	defer set.Release()
	out.Retain() // (the set releases its part; the upsert reads out after)
	defer out.Release()
	set.Add(change.Part{Rec: out, Rows: kept})
	if len(rowErrs) > 0 {
		pr.stats.RowErrors.Add(int64(len(rowErrs)))
		if pr.dead != nil {
			if err := pr.dead.write(ctx, b, rowErrs); err != nil {
				return nil, err
			}
			pr.stats.DeadLetters.Add(int64(len(rowErrs)))
		}
	}
	if upsert {
		err := tr.upsert.Apply(ctx, change.Input{Batch: b, Ops: ops, Out: out, Kept: kept, Rejected: rejected, Deletes: deletes, Errs: rowErrs}, set)
		if err != nil {
			return nil, err
		}
	}
	if set.Len() == 0 && !replanned {
		// (A batch without rows under a new schema still goes out: the
		// sink follows the source's DDL before any checkpoint passes it.)
		return nil, nil
	}
	return tr.sink.Apply(ctx, b, set)
}

// describeRow names a source row for an error message: its table, source
// position, operation and primary key values.
func describeRow(b *exec.Batch, m exec.SourceLayout, row int) string {
	rec := b.Record
	var key []string
	s := rec.Schema()
	for i := 0; i < s.NumFields(); i++ {
		f := s.Field(i)
		if _, ok := f.Metadata.GetValue(exec.MetaPrimaryKey); ok && !strings.HasPrefix(f.Name, exec.BeforePrefix) {
			v := "NULL"
			if !rec.Column(i).IsNull(row) {
				v = valueText(rec.Column(i), row)
			}
			key = append(key, f.Name+" = "+v)
		}
	}
	desc := fmt.Sprintf("row of %s.%s at %s (%s", b.DB, b.Table, valueText(rec.Column(m.Pos), row), valueText(rec.Column(m.Op), row))
	if len(key) > 0 {
		desc += ", " + strings.Join(key, ", ")
	}
	return desc + ")"
}
