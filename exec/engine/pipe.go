package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
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
	prog   *exec.Program
	before *exec.Program // outputs over the before image; nil when unused
	// beforeKey evaluates only the KEY outputs over the before image
	// (column j: output KeyIndex[j]): what movedKeys compares, without
	// projecting every output of every update.
	beforeKey *exec.Program
	meta      metaIndex
}

// metaIndex locates the metadata columns of a source batch.
type metaIndex struct{ op, ts, pos, version int }

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
		if len(t.KeyIndex) > 0 {
			keys := make([]exec.Expr, len(t.KeyIndex))
			keyNames := make([]string, len(t.KeyIndex))
			for j, c := range t.KeyIndex {
				keys[j], keyNames[j] = t.BeforeOutputs[c], names[c]
			}
			tr.beforeKey, err = exec.NewProgram(exec.ProgramConfig{Outputs: keys, Names: keyNames, OnError: exec.OnErrorSkip, Alloc: alloc})
			if err != nil {
				return nil, fmt.Errorf("pipeline %s: %w", p.Name, err)
			}
		}
	}
	tr.meta, err = findMeta(t.Input)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", p.Name, err)
	}
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

func findMeta(s *arrow.Schema) (metaIndex, error) {
	get := func(name string) (int, error) {
		idx := s.FieldIndices(name)
		if len(idx) == 0 {
			return 0, fmt.Errorf("source batch has no %s column", name)
		}
		return idx[0], nil
	}
	var m metaIndex
	var err error
	if m.op, err = get(exec.ColOp); err != nil {
		return m, err
	}
	if m.ts, err = get(exec.ColTs); err != nil {
		return m, err
	}
	if m.pos, err = get(exec.ColPos); err != nil {
		return m, err
	}
	m.version, err = get(exec.ColVersion)
	return m, err
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
	ops := b.Record.Column(tr.meta.op).(*array.String)

	upsert := pr.p.Target.Mode == connectors.ModeUpsert
	in, deletes := b, []int32(nil)
	if upsert {
		// A delete is never subject to WHERE or the rules: it becomes a
		// tombstone for its key (deadletter_rules.go).
		in, deletes = withoutDeletes(b, ops)
	}
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
	defer out.Release()
	if len(rowErrs) > 0 {
		pr.stats.RowErrors.Add(int64(len(rowErrs)))
		if pr.dead != nil {
			if err := pr.dead.write(ctx, b, rowErrs); err != nil {
				return nil, err
			}
			pr.stats.DeadLetters.Add(int64(len(rowErrs)))
		}
	}

	parts := []arrow.RecordBatch{out}
	rows := append([]int32(nil), kept...)
	deleted := make([]uint8, len(kept))

	if upsert {
		// An update or delete whose row no longer passes WHERE removes the key.
		var gone []int32
		for _, i := range rejected {
			if op := ops.Value(int(i)); op == exec.OpUpdate || op == exec.OpDelete {
				gone = append(gone, i)
			}
		}
		gone = append(gone, deletes...)
		// So does a change that failed a rule or a cast: the target must not
		// keep a state the source no longer has.
		failedGone, oldKeyOnly := tr.failedTombstones(rowErrs, ops)
		gone = append(gone, failedGone...)
		if len(gone) > 0 {
			rec, err := tr.prog.Project(ctx, b, gone)
			if err != nil {
				return nil, err
			}
			defer rec.Release()
			parts = append(parts, rec)
			rows = append(rows, gone...)
			for range gone {
				deleted = append(deleted, 1)
			}
		}
		// An update that changes the key removes the old key.
		if tr.before != nil {
			moved, rec, err := pr.movedKeys(ctx, tr, b, ops, out, kept, gone, parts)
			if err != nil {
				return nil, err
			}
			if rec != nil {
				defer rec.Release()
				parts = append(parts, rec)
				rows = append(rows, moved...)
				for range moved {
					deleted = append(deleted, 1)
				}
			}
		}
		if len(oldKeyOnly) > 0 {
			rec, err := tr.before.Project(ctx, b, oldKeyOnly)
			if err != nil {
				return nil, err
			}
			defer rec.Release()
			parts = append(parts, rec)
			rows = append(rows, oldKeyOnly...)
			for range oldKeyOnly {
				deleted = append(deleted, 1)
			}
		}
	}
	if len(rows) == 0 && !replanned {
		// (A batch without rows under a new schema still goes out: the
		// sink follows the source's DDL before any checkpoint passes it.)
		return nil, nil
	}

	sinkSchema := tr.plan.Sink
	nout := len(tr.plan.Output)
	cols := make([]arrow.Array, 0, sinkSchema.NumFields())
	for c := range nout {
		arrs := make([]arrow.Array, len(parts))
		for k, p := range parts {
			arrs[k] = p.Column(c)
		}
		if len(arrs) == 1 {
			arrs[0].Retain()
			cols = append(cols, arrs[0])
			continue
		}
		cat, err := array.Concatenate(arrs, pr.alloc)
		if err != nil {
			releaseAll(cols)
			return nil, err
		}
		cols = append(cols, cat)
	}
	rec := b.Record
	if identity(rows, int(rec.NumRows())) {
		// Every row, in order (a snapshot batch, a WHERE-less pipeline):
		// the metadata columns are the batch's own.
		for _, a := range []arrow.Array{rec.Column(tr.meta.version), nil, ops, rec.Column(tr.meta.ts), rec.Column(tr.meta.pos)} {
			if a == nil {
				a = uint8Array(pr.alloc, deleted)
			} else {
				a.Retain()
			}
			cols = append(cols, a)
		}
	} else {
		cols = append(cols,
			gatherUint64(pr.alloc, rec.Column(tr.meta.version).(*array.Uint64), rows),
			uint8Array(pr.alloc, deleted),
			gatherString(pr.alloc, ops, rows),
			gatherTimestamp(pr.alloc, rec.Column(tr.meta.ts).(*array.Timestamp), rows),
			gatherString(pr.alloc, rec.Column(tr.meta.pos).(*array.String), rows),
		)
	}
	if n := sinkSchema.NumFields() - len(cols); n > 0 {
		// __before.* columns: the outputs over the before image.
		if tr.before == nil || n != len(tr.plan.BeforeIndex) {
			releaseAll(cols)
			return nil, fmt.Errorf("internal error: sink schema wants %d before columns", n)
		}
		brec, err := tr.before.Project(ctx, b, rows)
		if err != nil {
			releaseAll(cols)
			return nil, err
		}
		for _, c := range tr.plan.BeforeIndex {
			a := brec.Column(c)
			a.Retain()
			cols = append(cols, a)
		}
		brec.Release()
	}
	sinkRec := array.NewRecordBatch(sinkSchema, cols, int64(len(rows)))
	releaseAll(cols)
	return &exec.Batch{Record: sinkRec, DB: b.DB, Table: b.Table, Snapshot: b.Snapshot,
		SnapshotStart: b.SnapshotStart, SnapshotEnd: b.SnapshotEnd, ServerID: b.ServerID, GTID: b.GTID}, nil
}

// movedKeys finds updates whose output key differs from the key of their
// before image, and returns those rows projected over the before image.
func (pr *pipeRun) movedKeys(ctx context.Context, tr *tableRun, b *exec.Batch, ops *array.String, out arrow.RecordBatch, kept, gone []int32, parts []arrow.RecordBatch) ([]int32, arrow.RecordBatch, error) {
	var upd []int32
	var pos []int // position of each update row in out (kept) or -1
	for j, i := range kept {
		if ops.Value(int(i)) == exec.OpUpdate {
			upd = append(upd, i)
			pos = append(pos, j)
		}
	}
	// Rows in gone already removed their new key; their old key may differ
	// too.
	var goneRec arrow.RecordBatch
	if len(parts) > 1 {
		goneRec = parts[1]
	}
	for j, i := range gone {
		if ops.Value(int(i)) == exec.OpUpdate {
			upd = append(upd, i)
			pos = append(pos, -1-j)
		}
	}
	if len(upd) == 0 || tr.beforeKey == nil {
		return nil, nil, nil
	}
	// The keys first: most updates keep theirs, and their other outputs
	// over the before image are not needed.
	krec, err := tr.beforeKey.Project(ctx, b, upd)
	if err != nil {
		return nil, nil, err
	}
	defer krec.Release()
	var moved []int32
	for k, i := range upd {
		src, row := out, pos[k]
		if row < 0 {
			src, row = goneRec, -1-row
		}
		for j, c := range tr.plan.KeyIndex {
			if !sameValue(src.Column(c), row, krec.Column(j), k) {
				moved = append(moved, i)
				break
			}
		}
	}
	if len(moved) == 0 {
		return nil, nil, nil
	}
	brec, err := tr.before.Project(ctx, b, moved)
	if err != nil {
		return nil, nil, err
	}
	return moved, brec, nil
}

// describeRow names a source row for an error message: its table, source
// position, operation and primary key values.
func describeRow(b *exec.Batch, m metaIndex, row int) string {
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
	desc := fmt.Sprintf("row of %s.%s at %s (%s", b.DB, b.Table, valueText(rec.Column(m.pos), row), valueText(rec.Column(m.op), row))
	if len(key) > 0 {
		desc += ", " + strings.Join(key, ", ")
	}
	return desc + ")"
}
