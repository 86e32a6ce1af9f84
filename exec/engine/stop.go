package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

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
		return d.DescribeMark(m.State)
	}
	return string(m.State)
}

// pipelineFailed handles pe, the failure of one pipeline on batch b. When
// other pipelines of the source still stream, the failing one stops alone
// and the stream goes on (nil); else the error is returned and the run of
// this source ends, its checkpoint before b.
func (r *sourceRun) pipelineFailed(ctx context.Context, pe *processError, b *exec.Batch) error {
	pr := pe.pr
	pr.stats.Stopped.Store(true)
	fix := "fix the pipeline in the file (its expressions must bind to the table's columns now, or the row must pass; on_error = 'skip' or 'dead_letter' let failing rows through), then run apply again"
	if len(r.runs) <= 1 || ctx.Err() != nil || r.opts.Sources[r.decl.Name] != nil {
		// (A source the caller supplies — a log worker's partitions, a
		// test's fixture — cannot be opened a second time for the
		// pipeline alone: its stream ends, as before.)
		err := fmt.Errorf("pipeline %s stopped: %w; its checkpoint stays at %s, before the change it could not take: %s, and it resumes from there", pr.p.Name, pe.err, r.describeMark(r.lastMark), fix)
		return &PipelineStop{Pipeline: pr.p.Name, Err: err}
	}
	if r.lastMark == nil {
		return fmt.Errorf("pipeline %s: %w", pr.p.Name, pe.err)
	}
	// The stopped pipeline's own checkpoint: the last mark before b. Its
	// writes up to there are acknowledged once its writer is flushed.
	pr.out.settle()
	if err := pr.writer.Flush(ctx); err != nil {
		return fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
	}
	name := aloneName(r.stateName, pr.p.Name)
	if err := r.store.Save(&sourceState{Source: name, Mark: json.RawMessage(r.lastMark.State), Pipelines: []string{pr.p.Name}}); err != nil {
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
	pr.close()
	err := fmt.Errorf("pipeline %s stopped: %w; its own checkpoint is at position %s, before the change it could not take (%s); the other pipelines of source %s go on (%s). To resume it, %s: it resumes from its own checkpoint, with nothing lost, and rejoins the source's stream once it caught up",
		pr.p.Name, pe.err, r.describeMark(r.lastMark), r.store.path(name), r.decl.Name, strings.Join(others, ", "), fix)
	r.opts.Log.Error("pipeline stopped; the other pipelines of the source go on", "pipeline", pr.p.Name, "source", r.decl.Name,
		"checkpoint", r.describeMark(r.lastMark), "error", err.Error())
	r.stopped = append(r.stopped, &PipelineStop{Pipeline: pr.p.Name, Err: err})
	return nil
}
