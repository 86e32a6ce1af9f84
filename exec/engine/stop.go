package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// One failing pipeline does not stop the others (docs/live-tables.md, "One
// failing pipeline"). A pipeline whose batches cannot be processed — its
// expressions no longer bind after a DDL, a row error under on_error =
// 'fail' — stops alone: its writes so far are flushed, its checkpoint (the
// last mark before the batch it could not take) is saved under its own
// name, source-<source>@<pipeline>.json, and the source's stream goes on
// for the other pipelines, which keep checkpointing in source-<source>.json.
// The next run first opens the stopped pipeline's own stream from its own
// checkpoint (with the schema history of that position) up to the source's
// checkpoint (rejoin.go): once the file is fixed it replays what it missed,
// nothing else replays, and it rejoins the source's one stream.

// PipelineStop is the error of a pipeline that stopped by itself.
type PipelineStop struct {
	Pipeline string
	Err      error
	// Cause is what stopped the pipeline (a row it could not compute or
	// write), without Err's advice on the checkpoint and on how to resume
	// it with apply: for a caller that has neither (the REPL's queries).
	Cause error
}

func (e *PipelineStop) Error() string { return e.Err.Error() }
func (e *PipelineStop) Unwrap() error { return e.Err }

// OnlyPipelineStops reports whether err is made of pipeline stops only (no
// source, sink or state error): the other pipelines of the run were not
// stopped by it.
func OnlyPipelineStops(err error) bool {
	if err == nil {
		return false
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !OnlyPipelineStops(e) {
				return false
			}
		}
		return len(j.Unwrap()) > 0
	}
	var ps *PipelineStop
	return errors.As(err, &ps)
}

// processError is what write returns when pr.process failed: an error of
// that pipeline alone (the sink was not written to).
type processError struct {
	pr  *pipeRun
	err error
	// fix is how to resume the pipeline when the cause is not in its
	// file ("": fix the file).
	fix string
}

func (e *processError) Error() string { return e.err.Error() }
func (e *processError) Unwrap() error { return e.err }

// aloneName is the state name of a pipeline that runs alone after it
// stopped: its checkpoint is source-<source>@<pipeline>.json.
func aloneName(source, pipeline string) string { return source + "@" + pipeline }

// describeMark names the position of a mark state for a message.
func (r *sourceRun) describeMark(m *exec.Mark) string {
	if m == nil {
		return "the start of the stream"
	}
	if d, ok := r.src.(connectors.MarkDescriber); ok {
		return d.DescribeMark(m.Bytes())
	}
	return string(m.Bytes())
}

// pipelineFailed handles pe, the failure of one pipeline on batch b. When
// other pipelines of the source still stream, the failing one stops alone
// and the stream goes on (nil); else the error is returned and the run of
// this source ends, its checkpoint before b.
func (r *sourceRun) pipelineFailed(ctx context.Context, pe *processError, b *exec.Batch) error {
	return r.stopAlone(ctx, pe.pr, pe.err, pe.fix, r.lastMark, false)
}

// stopAlone stops pr, which could not take a change, with its own
// checkpoint at mark (see pipelineFailed). refused: its writer refused
// the change's data (written), so the flush of its writer may report that
// again.
func (r *sourceRun) stopAlone(ctx context.Context, pr *pipeRun, cause error, fix string, mark *exec.Mark, refused bool) error {
	pr.stats.Stopped.Store(true)
	if fix == "" {
		fix = "fix the pipeline in the file (its expressions must bind to the table's columns now, or the row must pass; on_error = 'skip' or 'dead_letter' let failing rows through), then run apply again"
	}
	if len(r.runs) <= 1 || ctx.Err() != nil || r.opts.Sources[r.decl.Name] != nil {
		// (A source the caller supplies — a log worker's partitions, a
		// test's fixture — cannot be opened a second time for the
		// pipeline alone: its stream ends, as before.)
		err := fmt.Errorf("pipeline %s stopped: %w; its checkpoint stays at %s, before the change it could not take: %s, and it resumes from there", pr.p.Name, cause, r.describeMark(mark), fix)
		if r.alone != "" && ctx.Err() == nil {
			// A stopped pipeline's own stream (its catch-up, or beside
			// the source's): the source's pipelines go on, and the run
			// may last; said now, as a stop while streaming is.
			r.opts.Log.Error("pipeline stopped; the other pipelines of the source go on", "pipeline", pr.p.Name, "source", r.decl.Name,
				"checkpoint", r.describeMark(mark), "error", err.Error())
		}
		return &PipelineStop{Pipeline: pr.p.Name, Err: err, Cause: cause}
	}
	if mark == nil {
		return fmt.Errorf("pipeline %s: %w", pr.p.Name, cause)
	}
	// The stopped pipeline's own checkpoint: the last mark before b. Its
	// writes up to there are acknowledged once its writer is flushed.
	// (The writes before the refused one were acknowledged before it:
	// a writer calls back in order. A data error the flush reports is
	// that one's, or a later write's.)
	pr.out.settle()
	if err := pr.writer.Flush(ctx); err != nil && !(refused && connectors.IsDataError(err)) {
		return fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
	}
	name := aloneName(r.stateName, pr.p.Name)
	if err := r.store.Save(&sourceState{Source: name, Mark: json.RawMessage(mark.Bytes()), Pipelines: []string{pr.p.Name}}); err != nil {
		return err
	}
	// It leaves the stream's routes and runs.
	for key, prs := range r.routes {
		kept := make([]*pipeRun, 0, len(prs)) // (dispatch ranges over the old slice)
		for _, x := range prs {
			if x != pr {
				kept = append(kept, x)
			}
		}
		r.routes[key] = kept
	}
	kept := make([]*pipeRun, 0, len(r.runs))
	var others []string
	for _, x := range r.runs {
		if x != pr {
			kept = append(kept, x)
			others = append(others, x.p.Name)
		}
	}
	r.runs = kept
	pr.stopping.Store(true)
	pr.detached.Store(true)
	pr.close()
	err := fmt.Errorf("pipeline %s stopped: %w; its own checkpoint is at position %s, before the change it could not take (%s); the other pipelines of source %s go on (%s). To resume it, %s: it resumes from its own checkpoint, with nothing lost, and rejoins the source's stream once it caught up",
		pr.p.Name, cause, r.describeMark(mark), r.store.path(name), r.decl.Name, strings.Join(others, ", "), fix)
	r.opts.Log.Error("pipeline stopped; the other pipelines of the source go on", "pipeline", pr.p.Name, "source", r.decl.Name,
		"checkpoint", r.describeMark(mark), "error", err.Error())
	r.stopped = append(r.stopped, &PipelineStop{Pipeline: pr.p.Name, Err: err, Cause: cause})
	return nil
}

// writeStop is a batch whose schema a pipeline's writer could not follow
// (a type change its target cannot take): met on the pipeline's outbox,
// it stops the pipeline alone as a processError would, with its own
// checkpoint before the batch, once the dispatch loop takes it
// (takeStops); the batch stays pending in the tracker until then, so no
// checkpoint of the source passes it.
type writeStop struct {
	pr        *pipeRun
	seq       uint64
	err       error
	db, table string
	// refused: the writer refused the batch's data (written): the
	// pipeline is told to fix its file, not to rebuild its target.
	refused bool
}

// written acknowledges pr's write of batch seq (of table db.table) with
// its outcome err. A row or value the target refuses (connectors.
// DataError) is the pipeline's own error: it stops alone, its batch
// pending until the loop takes the stop (takeStops), as a schema its
// writer cannot follow. A writer calls back in the order of the writes,
// also for the batches of one insert, so the first stop of a pipeline is
// of the first batch of the failed insert: its own checkpoint is before
// that batch. Any other error (an outage the writer gave up on) fails the
// batch: the run ends, its checkpoint before it. Once the pipeline left
// the stream (detached), its writes are past its own checkpoint: whatever
// their outcome, they no longer hold the source's checkpoint.
func (r *sourceRun) written(pr *pipeRun, seq uint64, db, table string, err error) {
	switch {
	case err == nil || pr.detached.Load():
		r.tracker.done(seq, nil)
	case connectors.IsDataError(err):
		pr.stopping.Store(true)
		r.tracker.stop(&writeStop{pr: pr, seq: seq, err: err, refused: true})
	default:
		r.tracker.done(seq, fmt.Errorf("pipeline %s: %w", pr.p.Name, err))
	}
}

// takeStops stops alone the pipelines whose writer could not follow a
// schema. One that cannot stop alone (the only pipeline of the stream, a
// stream the caller supplies) fails its batch: the run ends as for any
// write error.
func (r *sourceRun) takeStops(ctx context.Context) {
	for _, ws := range r.tracker.takeStops() {
		pr, known := ws.pr, false
		if pr.detached.Load() {
			// A later batch of the insert that stopped it (refused).
			r.tracker.done(ws.seq, nil)
			continue
		}
		for _, x := range r.runs {
			known = known || x == pr
		}
		err := fmt.Errorf("pipeline %s: %w", pr.p.Name, ws.err)
		if known {
			fix := ""
			var hinted connectors.DataErrorFix
			switch {
			case !ws.refused:
				fix = pr.resnapshotFix(ws.db, ws.table)
			case errors.As(ws.err, &hinted):
				fix = hinted.Fix()
			}
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			err = r.stopAlone(fctx, pr, ws.err, fix, r.tracker.markBefore(ws.seq), ws.refused)
			cancel()
		}
		r.tracker.done(ws.seq, err)
	}
}

// follow asks pr's writer to follow the schema of out when it differs
// from the last one it took (connectors.SchemaFollower), on the outbox's
// goroutine before out is written: a change the target cannot take is
// then the pipeline's own (writeStop), not a write error of the source.
func (pr *pipeRun) follow(ctx context.Context, out *exec.Batch) error {
	sf, ok := pr.writer.(connectors.SchemaFollower)
	if !ok || out.Record == nil {
		return nil
	}
	schema := out.Record.Schema()
	if pr.followed == schema || pr.followed != nil && pr.followed.Equal(schema) {
		return nil
	}
	if err := sf.Follow(ctx, schema); err != nil {
		return err
	}
	pr.followed = schema
	return nil
}

// resnapshotFix is how to resume pr when its target cannot take a change
// of table db.table: etlq resnapshot rebuilds an upsert target of that one
// table (read again into a copy with the table's types of now, swapped
// in: resnapshot.go); another target is made again from the table.
func (pr *pipeRun) resnapshotFix(db, table string) string {
	file := pr.p.Pos.Filename
	if file == "" {
		file = "FILE"
	}
	if pr.copies[db+"."+table] {
		return fmt.Sprintf("rebuild its target: etlq resnapshot %s %s %s.%s (the table is read again into a copy with its types of now, swapped in), then run apply again", file, pr.p.Name, db, table)
	}
	if len(pr.p.Tables) > 1 || len(pr.p.Patterns) > 0 {
		// The target holds the rows of its other tables too: dropped,
		// they are all read again.
		return fmt.Sprintf("make its target again: only an upsert target of this one table can be rebuilt in place; drop %s in the sink and read every table of the pipeline again with etlq resnapshot %s %s (the target holds them all), then run apply again", pr.p.Target.Name, file, pr.p.Name)
	}
	return fmt.Sprintf("make its target again: only an upsert target of this one table can be rebuilt in place; drop %s in the sink and read the table again with etlq resnapshot %s %s %s.%s, then run apply again", pr.p.Target.Name, file, pr.p.Name, db, table)
}

// openWriters are the writers a source's run opened and did not close
// yet: its pipelines', their row copies' (rowcopy.go), those a cut-over
// opens again on a swapped target, their dead-letter targets'. Stopped
// while a sink takes no write, the run closes them all once the drain
// time is over (closeAll), so that the writes they hold fail and every
// call waiting on them returns; a writer opened after that is closed at
// once. Each writer is closed once, by whoever comes first: its owner's
// close waits for a Close the stop began (the sinks' Close is idempotent,
// but a second Close may return before the first one failed the writes).
type openWriters struct {
	mu      sync.Mutex
	list    []*openWriter
	stopped bool
}

type openWriter struct {
	w    connectors.Writer
	once sync.Once
	err  error
}

func (o *openWriter) close() error {
	o.once.Do(func() { o.err = o.w.Close() })
	return o.err
}

// add lists w (nil s: a run that keeps no list, as a replay of dead
// letters).
func (s *openWriters) add(w connectors.Writer) {
	if s == nil {
		return
	}
	o := &openWriter{w: w}
	s.mu.Lock()
	s.list = append(s.list, o)
	stopped := s.stopped
	s.mu.Unlock()
	if stopped {
		go o.close()
	}
}

// close closes w, once, and forgets it.
func (s *openWriters) close(w connectors.Writer) error {
	if s == nil {
		return w.Close()
	}
	var found *openWriter
	s.mu.Lock()
	if reflect.TypeOf(w).Comparable() { // (a writer of another type is not found)
		for i, o := range s.list {
			if o.w == w {
				found = o
				s.list = append(s.list[:i], s.list[i+1:]...)
				break
			}
		}
	}
	s.mu.Unlock()
	if found == nil {
		return w.Close()
	}
	return found.close()
}

// closeAll closes every writer listed, each on a goroutine of its own
// (one may wait its close_timeout), and every writer added later.
func (s *openWriters) closeAll() {
	s.mu.Lock()
	s.stopped = true
	list := append([]*openWriter(nil), s.list...)
	s.mu.Unlock()
	for _, o := range list {
		go o.close()
	}
}
