package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/etlq/etlq/cmd/etlq/internal/etlfile"
	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec/engine"
	"github.com/etlq/etlq/planner"
)

type resnapshotCmd struct {
	File     string        `arg:"" type:"existingfile" help:"The .etl file."`
	Pipeline string        `arg:"" help:"The pipeline whose target gets the rows again."`
	Table    string        `arg:"" optional:"" help:"The source table, db.table (default: every table the pipeline reads)."`
	Where    string        `help:"Read only the rows this SQL condition on the source table's columns selects, e.g. 'id BETWEEN 1 AND 1000'."`
	StateDir string        `default:"./.etlq" help:"The state directory of etlq apply for this file."`
	Wait     time.Duration `help:"Wait this long for the resnapshot to be done (0: return once it is requested); with no apply running on the state directory, fail at once. With --log: until its rows and its end are in the log."`
	Log      string        `placeholder:"nats://HOST:PORT[/NAMESPACE]" help:"Ask the etlq capture of this log instead of an apply's state directory (docs/scale-out.md)."`
}

// Run writes one request per table into the state directory, for the
// running apply (or the next one) to carry out (exec/engine/resnapshot.go).
func (c *resnapshotCmd) Run(ctx context.Context) error {
	_, plan, err := etlfile.LoadPlanAt(ctx, c.File, false, c.StateDir)
	if err != nil {
		return err
	}
	var p *planner.Pipeline
	var names []string
	for _, q := range plan.Pipelines {
		names = append(names, q.Name)
		if q.Name == c.Pipeline {
			p = q
		}
	}
	if p == nil {
		return fmt.Errorf("%s has no pipeline %q (it has: %s)", c.File, c.Pipeline, strings.Join(names, ", "))
	}
	var tables []string
	if c.Table != "" {
		tables = []string{c.Table}
	} else {
		for _, tp := range p.Tables {
			tables = append(tables, tp.Ref.String())
		}
	}
	if len(tables) == 0 {
		return fmt.Errorf("pipeline %s reads no table now", p.Name)
	}
	var reqs []*engine.ResnapshotRequest
	for _, t := range tables {
		req := &engine.ResnapshotRequest{Source: p.Source, Pipeline: p.Name, Table: t, Where: c.Where}
		if _, err := engine.CheckResnapshot(p, req); err != nil {
			return err
		}
		reqs = append(reqs, req)
	}
	if c.Where != "" {
		if err := checkOnServer(ctx, plan, p.Source, reqs); err != nil {
			return err
		}
	}
	if c.Log != "" {
		return c.requestLog(ctx, p.Source, reqs)
	}
	if d := workerStateDir(c.StateDir, p.Source); d != "" {
		return fmt.Errorf("state directory %s is an apply --log worker's: in scale-out mode the capture reads the source, "+
			"so the request goes to the log: etlq resnapshot --log nats://HOST:PORT[/NS] %s %s", d, c.File, p.Name)
	}
	// A pipeline no apply has run yet (added to the file since) gets its
	// first snapshot from its first apply: a request for it waited unseen
	// by the running apply, and the next one carried it out over that
	// snapshot (an append target got every row twice; new-user trial).
	if ran, err := engine.PipelineHasRun(c.StateDir, p.Source, p.Name); err != nil {
		return err
	} else if !ran {
		first := "its first etlq apply reads its tables (SNAPSHOT initial)"
		if p.Snapshot == connectors.SnapshotNever {
			first = "it is SNAPSHOT never: its first etlq apply follows the changes from then on, without a snapshot"
		}
		return fmt.Errorf("pipeline %s has not run yet (no checkpoint in state directory %s names it): %s; "+
			"there is nothing to read again: run etlq apply with this file", p.Name, c.StateDir, first)
	}
	running := engine.StateDirInUse(c.StateDir)
	var ids []string
	for _, req := range reqs {
		path, err := engine.WriteResnapshotRequest(c.StateDir, req)
		if err != nil {
			return err
		}
		ids = append(ids, req.ID)
		when := "no apply runs on this state directory now: the next `etlq apply` carries it out"
		if running {
			when = "the running apply takes it within a second (for a pipeline stopped by an error: when apply starts next)"
		}
		fmt.Fprintf(os.Stderr, "resnapshot of %s for pipeline %s requested (%s); %s\n", req.Table, p.Name, path, when)
	}
	if c.Wait <= 0 {
		return nil
	}
	if !running {
		// Nothing would take the request before the wait ends: waiting
		// it out only looked like a hang (the operator trial).
		return fmt.Errorf("--wait %s: no apply runs on state directory %s, so nothing carries the request out while this waits; it stays requested for the next `etlq apply` (--once ends after it)", c.Wait, c.StateDir)
	}
	return waitResnapshots(ctx, c.StateDir, ids, c.Wait)
}

// waitResnapshots waits until the requests ids are done (their files gone)
// or one failed (<id>.failed).
func waitResnapshots(ctx context.Context, stateDir string, ids []string, d time.Duration) error {
	deadline := time.Now().Add(d)
	dir := filepath.Join(stateDir, engine.ResnapshotDir)
	for {
		left := 0
		for _, id := range ids {
			if b, err := os.ReadFile(filepath.Join(dir, id+".failed")); err == nil {
				reason, _, _ := strings.Cut(string(b), "\n")
				return fmt.Errorf("resnapshot %s failed: %s", id, reason)
			}
			if _, err := os.Stat(filepath.Join(dir, id+".json")); err == nil {
				left++
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		if left == 0 {
			fmt.Fprintln(os.Stderr, "resnapshot done")
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d resnapshot(s) not done after %s (they stay requested)", left, d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// requestLog stores the requests in the log, for the capture of the
// source to read the tables again into it; the workers carry out each
// resnapshot's end as it reaches them.
func (c *resnapshotCmd) requestLog(ctx context.Context, source string, reqs []*engine.ResnapshotRequest) error {
	var ids []string
	for _, req := range reqs {
		if err := engine.RequestLogResnapshot(c.Log, req); err != nil {
			return err
		}
		ids = append(ids, req.ID)
		fmt.Fprintf(os.Stderr, "resnapshot of %s for pipeline %s requested in the log (%s); the running etlq capture takes it within a second, the next one if none runs\n", req.Table, req.Pipeline, req.ID)
	}
	if c.Wait <= 0 {
		return nil
	}
	deadline := time.Now().Add(c.Wait)
	for {
		left, err := engine.LogResnapshotsLeft(c.Log, source, ids)
		if err != nil {
			return err
		}
		if left == 0 {
			fmt.Fprintln(os.Stderr, "resnapshot in the log: the workers apply it as they read it")
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d resnapshot(s) not in the log after %s (they stay requested)", left, c.Wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// workerStateDir returns dir, or its worker-N subdirectory, when it holds
// a checkpoint of source that an `apply --log` worker wrote; else "".
func workerStateDir(dir, source string) string {
	dirs := []string{dir}
	if more, _ := filepath.Glob(filepath.Join(dir, "worker-*")); len(more) > 0 {
		dirs = append(dirs, more...)
	}
	for _, d := range dirs {
		st, err := (&engine.Store{Dir: d}).Load(source)
		if err == nil && st != nil && engine.WorkerMark(st.Mark) {
			return d
		}
	}
	return ""
}

// checkOnServer asks the source's server whether each request's WHERE is a
// valid condition on its table (a function or collation it does not have,
// a type it cannot compare): the running apply would refuse the request
// for it, in its log only, after this command said it was taken.
func checkOnServer(ctx context.Context, plan *planner.Plan, source string, reqs []*engine.ResnapshotRequest) error {
	var d *planner.SourceDecl
	for _, s := range plan.Sources {
		if s.Name == source {
			d = s
		}
	}
	if d == nil {
		return nil
	}
	src, err := connectors.NewSource(d.Kind, d.Name, d.DSN, d.Options)
	if err != nil {
		return err
	}
	defer src.Close()
	cc, ok := src.(connectors.ConditionChecker)
	if !ok {
		return nil
	}
	for _, req := range reqs {
		db, table, _ := strings.Cut(req.Table, ".")
		if err := cc.CheckCondition(ctx, connectors.TableRef{DB: db, Table: table}, req.Where); err != nil {
			return fmt.Errorf("--where %q: %w", req.Where, err)
		}
	}
	return nil
}
