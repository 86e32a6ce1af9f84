package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
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
	// replans, set by the source run, gathers the tables this pipeline
	// plans again while a batch is dispatched, to be logged once for
	// every pipeline that follows the same DDL (replanlog.go).
	replans *replanLog
	// copy writes the row copy of an online schema change (rowcopy.go)
	// into the hidden copy target, until the cut-over; nil otherwise.
	copy *pipeRun
	// followed is the last batch schema the writer followed (follow;
	// the outbox's goroutine only).
	followed *arrow.Schema
	// stopping: the pipeline stops alone; its writer takes no batch more
	// (stop.go).
	stopping atomic.Bool
	// detached: it stopped alone and left the stream, its own checkpoint
	// saved after its writer acknowledged every write before it; what its
	// writer still acknowledges is past that checkpoint (stop.go).
	detached atomic.Bool
	// copies are the tables ("db.table") whose row copies and rebuilds
	// the pipeline takes into a hidden copy of its target (rowcopy.go).
	copies map[string]bool
	// rereads are the tables ("db.table") that a request of etlq
	// resnapshot reads again in full for this pipeline, one it rejoined
	// the source's stream without catching up (rejoin.go), handed to the
	// stream, whose re-read has not begun (awaitReread).
	rereadMu sync.Mutex
	rereads  map[string]uint8
	// sharedDead: dead is another run's (newPipeRunDead).
	sharedDead bool
	// writers lists the writers of the source's run (stop.go): pr's
	// writer is added when opened, closed through it.
	writers *openWriters
	// sinkRowErr is the last write error that named a row (a value the
	// sink cannot take): every batch of a failed insert is acknowledged
	// with it, and it is one row error.
	sinkRowMu  sync.Mutex
	sinkRowErr error
	// refusedRows, refusedTombs: the rows (tombstones) of the batches
	// written that the sink's target refused (sinkRefused), not yet taken
	// off the count of the batch they came in: a refused row is a row
	// error (skipped or dead-lettered), not a row out.
	refusedRows, refusedTombs atomic.Int64
	// origins, for a writer that refuses rows after the write
	// (connectors.RowRefuser) under on_error = 'dead_letter', holds the
	// source batch of each sink batch it holds, by the sink batch's
	// record (which the refused rows' batches share), until the write is
	// done: a refused row's letter keeps its source row (sinkRefused).
	originMu sync.Mutex
	origins  map[arrow.RecordBatch]arrow.RecordBatch
	out      outbox // the sink batches on their way to writer (outbox.go)
	// chains are the operator chains of pr's tables by their plans'
	// schemas (source and sink): the tables whose plans are alike share
	// one (tableRunFor).
	chains map[[2]*arrow.Schema][]*chain
}

// tableRun is one table's run in a pipeline: its plan, and the chain its
// batches run through, which the tables of a pattern with alike plans
// share (tableRunFor).
type tableRun struct {
	plan *planner.TablePlan
	*chain
	// settled: a batch of the table went to the sink in this plan of it
	// (the sink has followed its layout).
	settled bool
	// startPlan: the plan is the run's, made from the server's table as it
	// is now, and no batch of the stream has come yet. The first batch
	// that differs from it is older than it — the stream replays the
	// changes before a DDL made while etlq was stopped — not a DDL.
	startPlan bool
}

// chain is the compiled programs and the operators a table's batches run
// through. One serves every table of a pipeline whose plan is alike
// (plansAlike: all but the table's name): a pattern's 1,000 tables of one
// layout had 1,000 chains, each with its programs, schemas and scratch,
// built on the table's first batch and walked by the garbage collector at
// every cycle (docs/benchmarks.md). Its operators keep nothing of a batch
// once process pulled it through (the second Next), and one goroutine runs
// every chain of a pipeline (the source's), so tables take turns.
type chain struct {
	// plan is the plan the chain was built from (start reads its outputs,
	// key and sink schema: those of every table sharing it).
	plan   *planner.TablePlan
	prog   *exec.Program // WHERE and the outputs
	before *exec.Program // outputs over the before image; nil when unused
	// beforeKey evaluates only the KEY outputs over the before image
	// (column j: output moving[j]): what MovedKeys compares, without
	// projecting every output of every update.
	beforeKey *exec.Program
	// moving are the key outputs beforeKey projects (those an update can
	// change); empty but not nil: none can change.
	moving []int
	meta   exec.SourceLayout
	// The chain of operators a source batch of the table runs through
	// (change's package comment), built by start: process pushes each
	// batch into feed and pulls from sink. Its operators keep state from
	// one Next to the next: one goroutine runs a chain (the source's).
	feed *exec.Feed
	sink *change.Sink
}

func newPipeRun(ctx context.Context, p *planner.Pipeline, sink connectors.Sink, opts Options) (*pipeRun, error) {
	return newPipeRunDead(ctx, p, sink, opts, nil)
}

// newPipeRunDead is newPipeRun with the dead letters of another run of the
// same pipeline (a row copy's, rowcopy.go), which it does not close.
func newPipeRunDead(ctx context.Context, p *planner.Pipeline, sink connectors.Sink, opts Options, shared *deadLetters) (*pipeRun, error) {
	if sink == nil {
		return nil, fmt.Errorf("pipeline %s: sink %q is not declared", p.Name, p.Sink)
	}
	pr := &pipeRun{p: p, tables: map[string]*tableRun{}, stats: opts.Stats.pipeline(p.Name, p.Source), alloc: opts.Alloc, log: opts.Log, writers: opts.writers}
	names := make([]string, len(p.Output))
	for i, c := range p.Output {
		names[i] = c.Name
	}
	for _, t := range p.Tables {
		tr, err := pr.tableRunFor(t)
		if err != nil {
			return nil, err
		}
		tr.startPlan = true
		pr.tables[t.Ref.String()] = tr
	}
	if shared != nil {
		pr.dead, pr.sharedDead = shared, true
	} else if p.OnError == exec.OnErrorDeadLetter {
		d, err := newDeadLetters(ctx, p, opts.sinks, opts)
		if err != nil {
			return nil, err
		}
		pr.dead = d
	}
	w, err := sink.Open(ctx, p.Target)
	if err != nil {
		if pr.dead != nil && !pr.sharedDead {
			pr.dead.close()
		}
		return nil, fmt.Errorf("pipeline %s: %w", p.Name, err)
	}
	pr.writer = w
	opts.writers.add(w)
	if rr, ok := w.(connectors.RowRefuser); ok && p.OnError != exec.OnErrorFail {
		rr.OnRefused(pr.sinkRefused)
		if pr.dead != nil {
			pr.origins = map[arrow.RecordBatch]arrow.RecordBatch{}
		}
	}
	if r, ok := w.(connectors.Retrier); ok {
		pr.stats.retrier.Store(r)
	}
	return pr, nil
}

// tableRunFor makes the run of a table of pr planned as t: on the chain
// of another table whose plan is alike, else on one of its own.
func (pr *pipeRun) tableRunFor(t *planner.TablePlan) (*tableRun, error) {
	key := [2]*arrow.Schema{t.Input, t.Sink}
	for _, c := range pr.chains[key] {
		if plansAlike(c.plan, t) {
			return &tableRun{plan: t, chain: c}, nil
		}
	}
	tr, err := newTableRun(pr.p, t, pr.alloc)
	if err != nil {
		return nil, err
	}
	if pr.chains == nil {
		pr.chains = map[[2]*arrow.Schema][]*chain{}
	}
	pr.chains[key] = append(pr.chains[key], tr.chain)
	return tr, nil
}

// plansAlike reports whether two table plans differ in the table's name
// alone: the same source and sink schemas (interned: exec.InternSchema),
// the same WHERE, outputs, before outputs and key, expression for
// expression, so that one chain computes either table's batches. Any
// difference (a column more, another type, a default, an expression that
// holds a function) keeps the tables' chains apart.
func plansAlike(a, b *planner.TablePlan) bool {
	if a == b {
		return true
	}
	x, y := *a, *b
	x.Ref, y.Ref = connectors.TableRef{}, connectors.TableRef{}
	return reflect.DeepEqual(&x, &y)
}

func newTableRun(p *planner.Pipeline, t *planner.TablePlan, alloc memory.Allocator) (*tableRun, error) {
	names := make([]string, len(t.Output))
	for i, c := range t.Output {
		names[i] = c.Name
	}
	tr := &tableRun{plan: t, chain: &chain{plan: t}}
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
			// Key outputs that read one column in both images (_table,
			// _db: the row event's, not the row's) cannot move: only the
			// others are compared (KEY (_table, id) over a pattern).
			var keys []exec.Expr
			var keyNames []string
			tr.moving = []int{}
			for _, c := range t.KeyIndex {
				a, ok1 := exec.ColumnIndex(t.Outputs[c])
				b, ok2 := exec.ColumnIndex(t.BeforeOutputs[c])
				if ok1 && ok2 && a == b {
					continue
				}
				keys, keyNames = append(keys, t.BeforeOutputs[c]), append(keyNames, names[c])
				tr.moving = append(tr.moving, c)
			}
			if len(keys) > 0 {
				tr.beforeKey, err = exec.NewProgram(exec.ProgramConfig{Outputs: keys, Names: keyNames, OnError: exec.OnErrorSkip, Alloc: alloc})
				if err != nil {
					return nil, fmt.Errorf("pipeline %s: %w", p.Name, err)
				}
			}
		}
	}
	tr.meta, err = exec.LayoutOf(t.Input)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", p.Name, err)
	}
	return tr, nil
}

// start builds the table's chain of operators for pipeline pr, once:
// Feed → (SplitDeletes) → ProgramOp → rowErrors → (Upsert → MovedKeys) →
// Sink, the operators in parentheses for an upsert target only.
func (tr *chain) start(ctx context.Context, pr *pipeRun) error {
	if tr.sink != nil {
		return nil
	}
	var before change.Projector
	if tr.before != nil {
		before = tr.before // (not a nil *exec.Program in the interface)
	}
	t := tr.plan
	feed := &exec.Feed{}
	var in exec.Operator = feed
	var split *change.SplitDeletes
	upsert := pr.p.Target.Mode == connectors.ModeUpsert
	if upsert {
		split = &change.SplitDeletes{Input: in, Layout: tr.meta}
		in = split
	}
	prog := &exec.ProgramOp{Input: in, Prog: tr.prog}
	in = &rowErrors{input: prog, pr: pr}
	var parts change.Parter
	if upsert {
		names := make([]string, len(t.Output))
		for i, c := range t.Output {
			names[i] = c.Name
		}
		u := &change.Upsert{Input: in, Live: prog, Split: split, Layout: tr.meta, Outputs: tr.prog, Before: before,
			Key: t.KeyIndex, Names: names, Alloc: pr.alloc}
		in, parts = u, u
		if before != nil {
			m := &change.MovedKeys{Input: u, Live: prog, Layout: tr.meta, Before: before, Key: t.KeyIndex, Alloc: pr.alloc}
			if tr.beforeKey != nil {
				m.BeforeKey, m.Moving = tr.beforeKey, tr.moving
			} else if tr.moving != nil {
				m.NoMove = true // every key output reads a column both images share
			}
			in, parts = m, m
		}
	}
	sink := &change.Sink{Input: in, Live: prog, Parts: parts, Schema: t.Sink, Outputs: len(t.Output), Layout: tr.meta,
		Before: before, BeforeIndex: t.BeforeIndex, Alloc: pr.alloc}
	if err := sink.Init(ctx); err != nil {
		return err
	}
	tr.feed, tr.sink = feed, sink
	return nil
}

// stop closes the chain; start builds it again.
func (tr *chain) stop() {
	if tr.sink != nil {
		tr.sink.Close()
		tr.feed, tr.sink = nil, nil
	}
}

// rowErrors passes on the batches of a ProgramOp after it counted their
// failed rows (ProgramOp.Errs) and wrote their dead letters, and counted
// the rows WHERE rejected (ProgramOp.Rejected): the dead letters are
// written before the batch goes on to the sink.
type rowErrors struct {
	input *exec.ProgramOp
	pr    *pipeRun
}

var _ exec.Operator = (*rowErrors)(nil)

func (r *rowErrors) Init(ctx context.Context) error { return r.input.Init(ctx) }

func (r *rowErrors) Next(ctx context.Context) (*exec.Batch, error) {
	b, err := r.input.Next(ctx)
	if b == nil || err != nil {
		return nil, err
	}
	r.pr.stats.RowsFiltered.Add(int64(len(r.input.Rejected())))
	if errs := r.input.Errs(); len(errs) > 0 {
		r.pr.stats.RowErrors.Add(int64(len(errs)))
		if r.pr.dead != nil {
			if err := r.pr.dead.write(ctx, r.input.Source(), errs); err != nil {
				return nil, err
			}
			r.pr.stats.DeadLetters.Add(int64(len(errs)))
		}
	}
	return b, nil
}

func (r *rowErrors) Close() error { return r.input.Close() }

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
		// (MetaRoundedFrom: a narrowing that rounded the source's rows
		// must reach the sink, whose table may not follow.)
		if !sameMeta(fa, fb, exec.MetaAddedByDDL, exec.MetaRoundedFrom) {
			return false
		}
	}
	return true
}

// sameMeta reports whether two fields have the same values of the
// metadata keys (an absent key is "").
func sameMeta(fa, fb arrow.Field, keys ...string) bool {
	for _, k := range keys {
		va, _ := fa.Metadata.GetValue(k)
		vb, _ := fb.Metadata.GetValue(k)
		if va != vb {
			return false
		}
	}
	return true
}

// sameDeclaredTypes reports whether the columns two layouts have alike
// (sameLayout) are declared alike at the source (exec.MetaSourceType,
// exec.MetaLogicalType). A DDL that changes a column's declared type but
// not its Arrow type (VARCHAR(16) → VARCHAR(32), DATETIME → DATETIME(6),
// DATETIME → TIMESTAMP, BIT(8) → BIT(16)) plans the table again all the
// same: the plan's output fields (the sink's) carry the source type, from
// which the csv format takes a DATETIME/TIME's fractional digits,
// debezium_json a DATETIME's epoch unit, canal_json its mysqlType and
// ClickHouse its range check. Kept, the old one printed DATETIME(6) values
// without their microseconds.
func sameDeclaredTypes(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i := range a.NumFields() {
		if !sameMeta(a.Field(i), b.Field(i), exec.MetaSourceType, exec.MetaLogicalType) {
			return false
		}
	}
	return true
}

// unsettled reports whether no batch of b's table went to the sink yet
// in this plan of it: its first batch goes, rows or not (process).
func (pr *pipeRun) unsettled(b *exec.Batch) bool {
	tr := pr.tables[b.DB+"."+b.Table]
	return tr != nil && !tr.settled
}

// schemaChanged reports whether b's table has another layout than the one
// the pipeline planned it with: a DDL the source announces with a batch
// without rows.
func (pr *pipeRun) schemaChanged(b *exec.Batch) bool {
	tr := pr.tables[b.DB+"."+b.Table]
	return tr != nil && (!sameLayout(b.Record.Schema(), tr.plan.Input) || !sameDeclaredTypes(b.Record.Schema(), tr.plan.Input) ||
		pr.p.Target.Mode == connectors.ModeUpsert && hasPrimaryKey(tr.plan.Input) && !hasPrimaryKey(b.Record.Schema()))
}

// hasPrimaryKey reports whether a table's layout marks primary key columns:
// one that loses them (ALTER TABLE … DROP PRIMARY KEY alone) is planned
// again, which an upsert key taken from that primary key refuses
// (planner: rebindTable).
func hasPrimaryKey(s *arrow.Schema) bool {
	// (Field by field: Fields copies them all, for every batch of an
	// upsert target — 5 MB a run of the 1,000-table stream.)
	for i := range s.NumFields() {
		if s.Field(i).Metadata.FindKey(exec.MetaPrimaryKey) >= 0 {
			return true
		}
	}
	return false
}

// keyTypes returns the types of the pipeline's key columns in its output.
func (pr *pipeRun) keyTypes() map[string]arrow.DataType {
	out := map[string]arrow.DataType{}
	for _, k := range pr.p.Target.Key {
		for _, c := range pr.p.Output {
			if strings.EqualFold(c.Name, k) {
				out[k] = c.Type
			}
		}
	}
	return out
}

// sharedKeyRetyped refuses, for a ClickHouse target several tables share
// (a pattern, a list), a key column whose type a table's DDL changed in
// a way that is no lossless widening (the union took a type that holds
// both, docs/schema-changes.md): the table's sorting key cannot change
// type, and no single table can be rebuilt for it. The pipeline stops
// alone, before the change. (A target of one table is rebuilt by the
// source, or refused by the sink.)
func (pr *pipeRun) sharedKeyRetyped(before map[string]arrow.DataType) error {
	if pr.p.SinkKind != "clickhouse" || len(pr.p.Tables) < 2 && len(pr.p.Patterns) == 0 {
		return nil
	}
	after := pr.keyTypes()
	for _, k := range pr.p.Target.Key {
		from, to := before[k], after[k]
		if from == nil || to == nil || arrow.TypeEqual(from, to) || exec.Widens(from, to) {
			continue
		}
		return fmt.Errorf("key column %q of the target %s, which several tables share, changed type from %s to %s: no lossless widening, and a ClickHouse table's sorting key cannot change type. "+
			"To follow it, stop etlq, drop the table %s and its _current view in ClickHouse, and read the tables again with an empty state directory (a pipeline in a file of its own reads only its tables again); or CAST the key in TRANSFORM to one type for every table",
			k, pr.p.Target.Name, from, to, pr.p.Target.Name)
	}
	return nil
}

// tableSchemaOf recovers a table's schema from the layout of its batches
// (schemaOfInput).
func tableSchemaOf(b *exec.Batch) *connectors.TableSchema {
	return schemaOfInput(connectors.TableRef{DB: b.DB, Table: b.Table}, b.Record.Schema())
}

// wants reports whether the pipeline takes batch b by its own SNAPSHOT mode,
// whatever other pipelines read the same table with: never takes no
// snapshot rows, nor the truncate that begins a binlog gap's new snapshot
// (it would empty an upsert target that no snapshot fills again), only
// takes nothing but snapshot rows.
func (pr *pipeRun) wants(b *exec.Batch) bool {
	switch pr.p.Snapshot {
	case connectors.SnapshotNever:
		return !b.Snapshot && !b.Gap
	case connectors.SnapshotOnly:
		return b.Snapshot
	}
	return true
}

func (pr *pipeRun) close() {
	pr.closeCopy()
	for _, tr := range pr.tables {
		tr.stop()
	}
	pr.out.close()
	if pr.writer != nil {
		pr.writers.close(pr.writer)
	}
	if pr.dead != nil && !pr.sharedDead {
		pr.dead.close()
	}
	pr.originMu.Lock()
	for k, o := range pr.origins {
		o.Release() // (of writes never done)
		delete(pr.origins, k)
	}
	pr.originMu.Unlock()
}

// replan plans b's table again for the layout b has (schemaChanged): the
// source table changed (schema_changes = 'evolve').
func (pr *pipeRun) replan(ctx context.Context, b *exec.Batch) (*tableRun, error) {
	tr := pr.tables[b.DB+"."+b.Table]
	sig := outputSig(pr.p)
	keys := pr.keyTypes()
	change, before := layoutChange(tr.plan.Input, b.Record.Schema(), tr.startPlan)
	tp, err := pr.p.Rebind(ctx, tableSchemaOf(b))
	if err == nil {
		err = pr.sharedKeyRetyped(keys)
	}
	if err != nil {
		return nil, fmt.Errorf("%s.%s changed while streaming: %w", b.DB, b.Table, err)
	}
	tr.stop()
	if tr, err = pr.tableRunFor(tp); err != nil {
		return nil, err
	}
	pr.tables[b.DB+"."+b.Table] = tr
	if outputSig(pr.p) != sig {
		// Shards matched by name: the others follow the new union.
		if err := pr.realign(ctx, b.DB+"."+b.Table); err != nil {
			return nil, err
		}
	}
	if !before {
		pr.stats.SchemaChanges.Add(1)
	}
	pr.replanned(b.DB+"."+b.Table, change, before)
	return tr, nil
}

// process turns one source batch into one sink batch (nil when no row is
// left). It does not take ownership of b.
func (pr *pipeRun) process(ctx context.Context, b *exec.Batch) (*exec.Batch, error) {
	tr := pr.tables[b.DB+"."+b.Table]
	if tr == nil {
		return nil, nil
	}
	replanned := false
	if pr.schemaChanged(b) {
		replanned = true
		var err error
		if tr, err = pr.replan(ctx, b); err != nil {
			return nil, err
		}
	}
	pr.stats.RowsIn.Add(int64(b.NumRows()))
	if err := tr.start(ctx, pr); err != nil {
		return nil, err
	}
	if replanned || !tr.settled {
		// (A batch without rows under a new schema still goes out: the
		// sink follows the source's DDL before any checkpoint passes it.
		// So does the table's first batch of the run, rows or not: a DDL
		// made while etlq was stopped is in the plan, made from the live
		// schema, and plans nothing anew when the stream meets it, but the
		// target may not have it yet.)
		tr.sink.KeepEmpty = true
	}
	tr.settled = true
	tr.startPlan = false
	// The chain yields at most one sink batch per source batch, then nil.
	tr.feed.Push(b)
	out, err := tr.sink.Next(ctx)
	if err == nil && out != nil {
		res := *out
		res.Own = tr.plan.Own // (a chain may serve several tables: plansAlike)
		res.Record.Retain()   // (the chain releases its own at the next pull)
		if out, err = tr.sink.Next(ctx); err == nil && out != nil {
			err = errors.New("internal error: a table's operators made two sink batches of one source batch")
		}
		if err == nil {
			return &res, nil
		}
		res.Release()
	}
	if err != nil {
		tr.stop() // (what the chain holds is released)
		var re exec.RowError
		if errors.As(err, &re) {
			// The row that stops the pipeline is a row error too: the
			// summary and the metrics must not say 0 next to it.
			pr.stats.RowErrors.Add(1)
			describeRow(&re, b, tr.meta)
			return nil, fmt.Errorf("%w (on_error = 'fail'; 'skip' or 'dead_letter' let the other rows through)", re)
		}
		return nil, err
	}
	return nil, nil
}

// sinkRowErrors asks the writer, under on_error = 'skip' or 'dead_letter',
// which rows of the sink batch out it cannot take (connectors.RowChecker):
// those are counted, dead-lettered (before the batch is written, as the
// rows a rule fails) and left out of out's selection. Under 'fail' the
// write fails with the first of them, naming it.
func (pr *pipeRun) sinkRowErrors(ctx context.Context, out, src *exec.Batch) error {
	chk, ok := pr.writer.(connectors.RowChecker)
	if !ok || pr.p.OnError == exec.OnErrorFail || out.Record == nil {
		return nil
	}
	errs := chk.CheckRows(out)
	if len(errs) == 0 {
		return nil
	}
	pr.stats.RowErrors.Add(int64(len(errs)))
	if pr.dead != nil {
		// Each letter keeps its source row (src's), as a rule's does.
		if err := pr.dead.writeFrom(ctx, out, errs, src.Record); err != nil {
			return err
		}
		pr.stats.DeadLetters.Add(int64(len(errs)))
	}
	failed := make(map[int]bool, len(errs))
	for _, e := range errs {
		failed[e.Row] = true
	}
	sel := make([]int32, 0, out.NumRows())
	for j := 0; j < out.NumRows(); j++ {
		i := j
		if out.Sel != nil {
			i = int(out.Sel[j])
		}
		if !failed[i] {
			sel = append(sel, int32(i))
		}
	}
	out.Sel = sel
	return nil
}

// sinkRefused takes the rows of a sink batch b that the writer's target
// refused after the write (connectors.RowRefuser: an HTTP endpoint's 400,
// 413 or 422), under on_error = 'skip' or 'dead_letter': they are row
// errors, dead-lettered with the target's reason or skipped, each refusal
// logged at WARN with how many rows and why. The writer calls it from its
// own goroutine, before the batch's done: a dead letter is durable before
// the batch can be checkpointed.
func (pr *pipeRun) sinkRefused(ctx context.Context, b *exec.Batch, errs []exec.RowError) error {
	if len(errs) == 0 {
		return nil
	}
	for i := range errs {
		describeSinkRow(&errs[i], b, pr.p.Target.Key)
	}
	pr.stats.RowErrors.Add(int64(len(errs)))
	deleted := tombstoneAt(b)
	for _, e := range errs {
		if deleted(e.Row) {
			pr.refusedTombs.Add(1)
		} else {
			pr.refusedRows.Add(1)
		}
	}
	if pr.dead != nil {
		pr.originMu.Lock()
		origin := pr.origins[b.Record]
		pr.originMu.Unlock()
		if err := pr.dead.writeFrom(ctx, b, errs, origin); err != nil {
			return err
		}
		pr.stats.DeadLetters.Add(int64(len(errs)))
		pr.log.Warn("rows the sink refused are dead-lettered (on_error = 'dead_letter')", "pipeline", pr.p.Name,
			"rows", len(errs), "to", pr.dead.where, "reason", errs[0].Reason)
		return nil
	}
	pr.log.Warn("rows the sink refused are skipped (on_error = 'skip')", "pipeline", pr.p.Name,
		"rows", len(errs), "reason", errs[0].Reason, "first", errs[0].Error())
	return nil
}

// keepOrigin keeps src's record as the source batch of sink batch out
// until forgetOrigin(out's record), when pr's writer may refuse rows of
// out after the write (origins); it returns out's record, the key.
func (pr *pipeRun) keepOrigin(out, src *exec.Batch) arrow.RecordBatch {
	if pr.origins == nil || out.Record == nil || src.Record == nil {
		return nil
	}
	pr.originMu.Lock()
	defer pr.originMu.Unlock()
	if _, ok := pr.origins[out.Record]; !ok {
		src.Record.Retain()
		pr.origins[out.Record] = src.Record
	}
	return out.Record
}

// forgetOrigin releases what keepOrigin kept for key (nil: nothing).
func (pr *pipeRun) forgetOrigin(key arrow.RecordBatch) {
	if key == nil {
		return
	}
	pr.originMu.Lock()
	defer pr.originMu.Unlock()
	if o, ok := pr.origins[key]; ok {
		o.Release()
		delete(pr.origins, key)
	}
}

// describeSinkRow fills in what e says of its row of b, a sink batch:
// the source table, the source position and operation (its system
// columns) and the key values (key: the target's key columns; every
// column's value, shortened, when it has none).
func describeSinkRow(e *exec.RowError, b *exec.Batch, key []string) {
	rec, row := b.Record, e.Row
	s := rec.Schema()
	text := func(i int) string {
		if rec.Column(i).IsNull(row) {
			return "NULL"
		}
		return valueText(rec.Column(i), row)
	}
	col := func(name string) string {
		if i := s.FieldIndices(name); len(i) == 1 {
			return text(i[0])
		}
		return ""
	}
	e.Table, e.Pos, e.Op = b.DB+"."+b.Table, col(exec.SysPos), col(exec.SysOp)
	var keys, all []string
	for _, k := range key {
		if i := s.FieldIndices(k); len(i) == 1 {
			keys = append(keys, k+" = "+text(i[0]))
		}
	}
	if len(keys) > 0 && len(keys) == len(key) {
		e.Key = strings.Join(keys, ", ")
		return
	}
	for i := 0; i < s.NumFields(); i++ {
		if !exec.IsSystemColumn(s.Field(i).Name) {
			all = append(all, s.Field(i).Name+" = "+text(i))
		}
	}
	e.Key = exec.Shorten(strings.Join(all, ", "), exec.RowKeyLimit)
}

// countSinkRowError counts err, a write's error, as a row error once when
// it names a row (exec.RowError).
func (pr *pipeRun) countSinkRowError(err error) {
	var re exec.RowError
	if !errors.As(err, &re) {
		return
	}
	pr.sinkRowMu.Lock()
	defer pr.sinkRowMu.Unlock()
	if pr.sinkRowErr != err {
		pr.sinkRowErr = err
		pr.stats.RowErrors.Add(1)
	}
}

// describeRow fills in what e says of its source row of b: the table,
// the source position, the operation, the key values (every column's,
// shortened, for a table without a key) and the failing value when the
// failing column is a source column (its output of the same name).
func describeRow(e *exec.RowError, b *exec.Batch, m exec.SourceLayout) {
	rec, row := b.Record, e.Row
	text := func(i int) string {
		if rec.Column(i).IsNull(row) {
			return "NULL"
		}
		return valueText(rec.Column(i), row)
	}
	e.Table = b.DB + "." + b.Table
	e.Pos, e.Op = text(m.Pos), text(m.Op)
	var key, all []string
	s := rec.Schema()
	for i := 0; i < m.Columns; i++ {
		f := s.Field(i)
		v := text(i)
		if _, ok := f.Metadata.GetValue(exec.MetaPrimaryKey); ok {
			key = append(key, f.Name+" = "+v)
		}
		all = append(all, f.Name+" = "+v)
		if f.Name == e.Column && e.Column != "WHERE" && v != "NULL" {
			e.Value = exec.QuoteValue(v)
		}
	}
	if len(key) == 0 {
		e.Key = exec.Shorten(strings.Join(all, ", "), exec.RowKeyLimit)
		return
	}
	e.Key = strings.Join(key, ", ")
}

// awaitReread notes (on) or forgets that table ("db.table") is read again
// in full for pr by a request handed to the stream and not begun yet, of
// a table pr rejoined the source's stream without catching up
// (ResnapshotRequest.Rejoined). A change of the table before the re-read
// begins is in the re-read (it precedes the re-read's read view, and a
// rebuild replaces the target's rows), so one whose schema pr's writer
// cannot follow — the type change that stopped the pipeline, met again by
// a source's stream that streams the table for another pipeline, or
// replayed from a checkpoint before it — is left to the re-read instead
// of stopping pr again (docs/live-tables.md, "One failing pipeline").
// Such a request, not carried out, stays pending (keepRejoined), so the
// change is not lost: another request would fail into .failed.
func (pr *pipeRun) awaitReread(table string, on bool) {
	pr.rereadMu.Lock()
	defer pr.rereadMu.Unlock()
	if !on {
		delete(pr.rereads, table)
		return
	}
	if pr.rereads == nil {
		pr.rereads = map[string]uint8{}
	}
	if pr.rereads[table] == 0 {
		pr.rereads[table] = 1
	}
}

// awaitsReread reports whether table's re-read for pr was asked and has
// not begun (awaitReread).
func (pr *pipeRun) awaitsReread(table string) bool {
	pr.rereadMu.Lock()
	defer pr.rereadMu.Unlock()
	return pr.rereads[table] != 0
}

// leftToReread notes that a change of table was left to its re-read; it
// reports whether it is the first (to be logged).
func (pr *pipeRun) leftToReread(table string) bool {
	pr.rereadMu.Lock()
	defer pr.rereadMu.Unlock()
	first := pr.rereads[table] == 1
	if first {
		pr.rereads[table] = 2
	}
	return first
}

// tombstones returns how many rows of sink batch out are tombstones
// (exec.SysDeleted = 1: an upsert target's removed keys).
func tombstones(out *exec.Batch) int {
	if out.Record == nil {
		return 0
	}
	deleted := tombstoneAt(out)
	n := 0
	if out.Sel != nil {
		for _, i := range out.Sel {
			if deleted(int(i)) {
				n++
			}
		}
		return n
	}
	for i := 0; i < int(out.Record.NumRows()); i++ {
		if deleted(i) {
			n++
		}
	}
	return n
}

// tombstoneAt returns whether row i of sink batch out's record is a
// tombstone.
func tombstoneAt(out *exec.Batch) func(i int) bool {
	none := func(int) bool { return false }
	if out.Record == nil {
		return none
	}
	idx := out.Record.Schema().FieldIndices(exec.SysDeleted)
	if len(idx) == 0 {
		return none
	}
	del, ok := out.Record.Column(idx[0]).(*array.Uint8)
	if !ok {
		return none
	}
	return func(i int) bool { return i < del.Len() && del.IsValid(i) && del.Value(i) == 1 }
}
