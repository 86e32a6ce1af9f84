package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/planner"
)

// A pipeline that stopped alone (stop.go) rejoins the source's single
// stream (docs/live-tables.md, "One failing pipeline"). At the start of a
// run, before the source's stream opens, each such pipeline catches up:
// its own stream runs from its own checkpoint, with the schema history of
// that position, up to the source's checkpoint exactly
// (connectors.StreamRequest.Until), and ends there. Its writes flushed and
// its own checkpoint at that position, its checkpoint is joined into the
// source's (connectors.MarkJoiner: the schema history of the tables only
// it reads), then its own file is removed, and the source's one stream
// opens for every pipeline. The others replay nothing and skip nothing;
// the source reads the binlog through one connection at a time.
//
// Crashes: during the catch-up the pipeline's own checkpoint moves as
// any (the restart resumes the catch-up from it); between the joined
// source checkpoint and the removal, the restart finds both at the same
// position and only joins again. A pipeline that fails again in its
// catch-up keeps its own checkpoint and the others go on without it. Its
// own checkpoint ahead of the source's (a stop just before a crash, the
// source's checkpoint not yet written): the source's pipelines catch up
// with it instead, then it joins. The two not ordered (different servers,
// a snapshot in progress): it keeps its own stream this run, as before,
// and rejoins on a later run.

// sourceGroups runs the pipelines of one source: the stopped ones that
// can rejoin catch up first, then the source's stream (and the stream of
// any that cannot rejoin yet) until the run ends. It returns the errors of
// its streams, each as its own (Run drops those of a stop).
func sourceGroups(ctx context.Context, cancel context.CancelCauseFunc, src *planner.SourceDecl, pipes []*planner.Pipeline,
	sinks map[string]connectors.Sink, store *Store, opts Options) []error {
	var errs []error
	alone := map[string]*sourceState{}
	for _, p := range pipes {
		st, err := store.Load(aloneName(src.Name, p.Name))
		if err != nil {
			return []error{err}
		}
		if st != nil {
			alone[p.Name] = st
		}
	}
	apart := map[string]bool{} // pipelines whose own stream runs beside the source's
	if len(alone) > 0 {
		var err error
		apart, errs, err = rejoin(ctx, src, pipes, alone, sinks, store, opts)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				cancel(err)
			}
			return append(errs, err)
		}
	}
	// SNAPSHOT only pipelines added since the checkpoint read their
	// tables: a scan of their own (ownscan.go).
	scans, err := ownScans(src, pipes, alone, store, opts)
	if err != nil {
		cancel(err)
		return append(errs, err)
	}
	var shared []*planner.Pipeline
	var runs []*sourceRun
	for _, p := range pipes {
		switch {
		case apart[p.Name]:
			runs = append(runs, &sourceRun{decl: src, pipes: []*planner.Pipeline{p}, sinks: sinks, store: store, opts: opts,
				stateName: aloneName(src.Name, p.Name), alone: p.Name})
		case scans[p.Name]:
			runs = append(runs, &sourceRun{decl: src, pipes: []*planner.Pipeline{p}, sinks: sinks, store: store, opts: opts,
				stateName: scanName(src.Name, p.Name), alone: p.Name, scan: true})
		case alone[p.Name] == nil:
			shared = append(shared, p)
		}
	}
	if len(shared) > 0 {
		runs = append([]*sourceRun{{decl: src, pipes: shared, sinks: sinks, store: store, opts: opts, stateName: src.Name}}, runs...)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var scanned []*planner.Pipeline // own scans that ended (joined below)
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := r.run(ctx)
			if r.scan && err == nil {
				mu.Lock()
				scanned = append(scanned, r.pipes[0])
				mu.Unlock()
				return
			}
			for gapResumes(ctx, r, err) {
				// The binary log the stream read was purged while it
				// could not read it: resume from the checkpoint, as a
				// restart would, which takes the new snapshot there
				// (on_binlog_gap = 'resnapshot').
				opts.Log.Warn("binlog gap while running: the server purged the binary log the stream was reading; resuming from the checkpoint, which takes a new snapshot of the SNAPSHOT initial tables (on_binlog_gap = 'resnapshot')",
					"source", src.Name, "reason", connectors.GapReason(err))
				r = &sourceRun{decl: r.decl, pipes: r.pipes, sinks: r.sinks, store: r.store, opts: r.opts,
					stateName: r.stateName, alone: r.alone, scan: r.scan, until: r.until}
				err = r.run(ctx)
			}
			if err == nil {
				return
			}
			if !OnlyPipelineStops(err) {
				// A pipeline's own error stops that pipeline alone; any
				// other stops the run.
				cancel(err)
			}
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}()
	}
	wg.Wait()
	// (After every run of the source: the source's run no longer
	// rewrites its checkpoint, which the joins add to.)
	for _, p := range scanned {
		if err := joinScan(store, src, p); err != nil {
			errs = append(errs, fmt.Errorf("pipeline %s: its own scan ended, but it did not join the checkpoint of source %s (the next run does): %w", p.Name, src.Name, err))
			continue
		}
		opts.Log.Info("the pipeline's own scan ended: it joins the source's checkpoint, and later runs read none of its tables again",
			"source", src.Name, "pipeline", p.Name)
	}
	return errs
}

// rejoin catches up the stopped pipelines of alone (name → own
// checkpoint) with the source's checkpoint and joins them into it. It
// returns those that keep their own stream this run (apart), the stops of
// those that failed again, and an error that ends the source's run.
// Rejoined pipelines have no own checkpoint any more (alone[name] is set
// to nil).
func rejoin(ctx context.Context, src *planner.SourceDecl, pipes []*planner.Pipeline, alone map[string]*sourceState,
	sinks map[string]connectors.Sink, store *Store, opts Options) (apart map[string]bool, stops []error, err error) {
	apart = map[string]bool{}
	names := make([]string, 0, len(alone))
	for n := range alone {
		names = append(names, n)
	}
	sort.Strings(names)
	keepApart := func(why string, args ...any) {
		for _, n := range names {
			if alone[n] != nil {
				apart[n] = true
			}
		}
		opts.Log.Info(why, args...)
	}
	shared, err := store.Load(src.Name)
	if err != nil {
		return nil, nil, err
	}
	if shared == nil || opts.Sources[src.Name] != nil {
		// No source checkpoint to join (or a source the caller supplies,
		// which is not opened twice): as before, each runs its own.
		keepApart("stopped pipelines keep their own stream: the source has no checkpoint of its own to rejoin", "source", src.Name)
		return apart, nil, nil
	}
	s, err := connectors.NewSource(src.Kind, src.Name, src.DSN, src.Options)
	if err != nil {
		return nil, nil, connectors.Named("source", src.Name, err)
	}
	defer s.Close()
	j, ok := s.(connectors.MarkJoiner)
	if !ok {
		keepApart("stopped pipelines keep their own stream: the source cannot join checkpoints", "source", src.Name)
		return apart, nil, nil
	}
	byName := map[string]*planner.Pipeline{}
	for _, p := range pipes {
		byName[p.Name] = p
	}
	// Tables of a stopped pipeline that etlq resnapshot reads again in
	// full: its catch-up leaves them out, and it rejoins without its
	// history of them (readAgain).
	again, againReqs, err := rejoinResnapshots(opts.StateDir, src.Name, byName, alone)
	if err != nil {
		return nil, nil, err
	}
	describe := func(m []byte) string {
		if d, ok := s.(connectors.MarkDescriber); ok {
			return d.DescribeMark(m)
		}
		return string(m)
	}
	// owe marks the requests of the tables n's catch-up left out, before
	// n joins the source's checkpoint at at: from the join on, the
	// tables' changes since n's own checkpoint are in their re-read only,
	// so a re-read that fails keeps its request pending
	// (ResnapshotRequest.Rejoined). A crash between the mark and the join
	// leaves a mark that does no harm: the next run marks again.
	owe := func(n string, own, at []byte) error {
		for _, req := range againReqs[n] {
			req.Rejoined = fmt.Sprintf("pipeline %s rejoined source %s at %s without catching the table up from its own checkpoint at %s", n, src.Name, describe(at), describe(own))
			if _, err := WriteResnapshotRequest(opts.StateDir, req); err != nil {
				return fmt.Errorf("pipeline %s: rejoin source %s: %w", n, src.Name, err)
			}
		}
		return nil
	}
	// join joins n's checkpoint, at the source's position with every
	// write of it acknowledged, into the source's, then removes its own.
	join := func(n string, own *sourceState) error {
		from := own.Mark
		if refs := again[n]; len(refs) > 0 {
			// Its history of the tables read again is stale (before the
			// change that stopped it): they join as new ones.
			var err error
			if from, err = j.ForgetTables(from, refs); err != nil {
				return fmt.Errorf("pipeline %s: rejoin source %s: %w", n, src.Name, err)
			}
		}
		mark, err := j.JoinMarks(shared.Mark, from)
		if err != nil {
			return fmt.Errorf("pipeline %s: rejoin source %s: %w", n, src.Name, err)
		}
		if err := owe(n, alone[n].Mark, mark); err != nil {
			return err
		}
		joined := &sourceState{Source: src.Name, Mark: mark, Pipelines: union(shared.Pipelines, n)}
		if err := store.Save(joined); err != nil {
			return err
		}
		if err := store.remove(aloneName(src.Name, n)); err != nil {
			return err
		}
		shared, alone[n] = joined, nil
		opts.Log.Info("a stopped pipeline caught up with the source and rejoined its stream", "pipeline", n, "source", src.Name, "checkpoint", describe(mark))
		return nil
	}
	done := map[string]bool{} // stopped again this run
	for {
		// Those behind the source's checkpoint catch up with it, those at
		// it join it.
		var ahead []string
		for _, n := range names {
			own, state := alone[n], aloneName(src.Name, n)
			if own == nil || apart[n] || done[n] {
				continue
			}
			p := byName[n]
			if refs := again[n]; len(refs) > 0 {
				if p = withoutTables(p, refs); p == nil {
					// Every table of it is read again: nothing to catch
					// up, its own checkpoint is not needed any more.
					if err := owe(n, own.Mark, shared.Mark); err != nil {
						return nil, stops, err
					}
					joined := &sourceState{Source: src.Name, Mark: shared.Mark, Pipelines: union(shared.Pipelines, n)}
					if err := store.Save(joined); err != nil {
						return nil, stops, err
					}
					if err := store.remove(state); err != nil {
						return nil, stops, err
					}
					shared, alone[n] = joined, nil
					opts.Log.Info("a stopped pipeline whose tables are all read again (etlq resnapshot) rejoined the source's stream without a catch-up: its tables are read again at the source's position", "pipeline", n, "source", src.Name,
						"tables", refList(refs), "checkpoint", describe(shared.Mark))
					continue
				}
				opts.Log.Info("a stopped pipeline catches up without the tables read again (etlq resnapshot): they are read again once it rejoined the source's stream", "pipeline", n, "source", src.Name, "tables", refList(refs))
			}
			c, err := j.CompareMarks(own.Mark, shared.Mark)
			if err != nil {
				apart[n] = true
				opts.Log.Info("a stopped pipeline keeps its own stream this run: its checkpoint and the source's cannot be ordered", "pipeline", n, "source", src.Name, "reason", err.Error())
				continue
			}
			if c > 0 {
				ahead = append(ahead, n)
				continue
			}
			if c < 0 {
				opts.Log.Info("catching up a stopped pipeline with the source before it rejoins the source's stream", "pipeline", n, "source", src.Name,
					"checkpoint", describe(own.Mark), "until", describe(shared.Mark), "updated", own.Updated)
				r := &sourceRun{decl: src, pipes: []*planner.Pipeline{p}, sinks: sinks, store: store, opts: opts,
					stateName: state, alone: n, until: shared.Mark}
				err := r.run(ctx)
				opts.Stats.dropStream(state)
				if err != nil {
					if ctx.Err() != nil || !OnlyPipelineStops(err) {
						return nil, stops, err
					}
					// It failed again: it keeps its own checkpoint, and
					// the others go on without it.
					stops, done[n] = append(stops, err), true
					continue
				}
				if own, err = store.Load(state); err != nil {
					return nil, stops, err
				}
				if own == nil {
					return nil, stops, fmt.Errorf("pipeline %s: its checkpoint %s is gone after its catch-up", n, store.path(state))
				}
				if c, err = j.CompareMarks(own.Mark, shared.Mark); err != nil || c != 0 {
					apart[n] = true
					opts.Log.Warn("a stopped pipeline did not end its catch-up at the source's checkpoint: it keeps its own stream this run", "pipeline", n, "source", src.Name,
						"checkpoint", describe(own.Mark), "source_checkpoint", describe(shared.Mark))
					continue
				}
			}
			if err := join(n, own); err != nil {
				return nil, stops, err
			}
		}
		if len(ahead) == 0 {
			return apart, stops, nil
		}
		// The source's checkpoint is behind some (the run that stopped
		// them was killed before it passed them): the source's
		// pipelines catch up with the nearest, which then joins.
		first := ahead[0]
		for _, n := range ahead[1:] {
			if c, err := j.CompareMarks(alone[n].Mark, alone[first].Mark); err == nil && c < 0 {
				first = n
			}
		}
		var own []*planner.Pipeline
		for _, p := range pipes {
			if alone[p.Name] == nil {
				own = append(own, p)
			}
		}
		if len(own) == 0 {
			// No pipeline streams from the source's checkpoint: the
			// nearest's own checkpoint becomes the source's.
			st := &sourceState{Source: src.Name, Mark: alone[first].Mark, Pipelines: []string{first}}
			if err := store.Save(st); err != nil {
				return nil, stops, err
			}
			if err := store.remove(aloneName(src.Name, first)); err != nil {
				return nil, stops, err
			}
			shared, alone[first] = st, nil
			opts.Log.Info("a stopped pipeline rejoined its source: no other pipeline streams from the source's checkpoint, its own became the source's", "pipeline", first, "source", src.Name, "checkpoint", describe(st.Mark))
			continue
		}
		opts.Log.Info("the source's checkpoint is behind a stopped pipeline's (the run that stopped it ended before the source's checkpoint passed it): the source's pipelines catch up with it before it rejoins",
			"pipeline", first, "source", src.Name, "checkpoint", describe(alone[first].Mark), "source_checkpoint", describe(shared.Mark))
		r := &sourceRun{decl: src, pipes: own, sinks: sinks, store: store, opts: opts, stateName: src.Name, until: alone[first].Mark}
		err := r.run(ctx)
		if err != nil {
			if ctx.Err() != nil || !OnlyPipelineStops(err) {
				return nil, stops, err
			}
			// A pipeline of the source stopped meanwhile: it does not run
			// again this run, and the source's checkpoint may be short of
			// the stopped pipelines' (the others then keep their own).
			stops = append(stops, err)
			for _, n := range stoppedPipelines(err) {
				if alone[n] == nil {
					alone[n], done[n] = &sourceState{}, true
				}
			}
			for _, n := range ahead {
				apart[n] = true
			}
			return apart, stops, nil
		}
		if shared, err = store.Load(src.Name); err != nil {
			return nil, stops, err
		}
		if c, err := j.CompareMarks(alone[first].Mark, shared.Mark); err != nil || c > 0 {
			for _, n := range ahead {
				apart[n] = true
			}
			opts.Log.Warn("the source's pipelines did not end their catch-up at a stopped pipeline's checkpoint: it keeps its own stream this run", "pipeline", first, "source", src.Name,
				"checkpoint", describe(alone[first].Mark), "source_checkpoint", describe(shared.Mark))
			return apart, stops, nil
		}
	}
}

// rejoinResnapshots returns, for each stopped pipeline of alone, the
// tables it reads by name that a pending request of etlq resnapshot reads
// again in full (no WHERE), and those requests. Such a table gets a fresh snapshot at the
// source's position once the pipeline rejoined the source's stream (the
// source's stream hands the request over): replaying it from the
// pipeline's own checkpoint would meet again the change that stopped it
// (a type its target cannot take) and write rows the snapshot reads
// again, so its catch-up leaves it out. Its other tables catch up as
// always, from its own checkpoint: nothing of them is skipped.
func rejoinResnapshots(stateDir, source string, byName map[string]*planner.Pipeline, alone map[string]*sourceState) (map[string][]connectors.TableRef, map[string][]*ResnapshotRequest, error) {
	if stateDir == "" {
		return nil, nil, nil
	}
	reqs, _, err := pendingResnapshots(stateDir)
	if err != nil {
		return nil, nil, err
	}
	out, used := map[string][]connectors.TableRef{}, map[string][]*ResnapshotRequest{}
	for _, req := range reqs {
		p := byName[req.Pipeline]
		if p == nil || alone[req.Pipeline] == nil || req.Where != "" || (req.Source != "" && req.Source != source) {
			continue
		}
		if _, err := CheckResnapshot(p, req); err != nil {
			continue // (failed with its reason by the source's stream)
		}
		for _, tp := range p.Tables {
			if tp.Ref.String() == req.Table {
				used[p.Name] = append(used[p.Name], req)
				if !slices.Contains(out[p.Name], tp.Ref) {
					out[p.Name] = append(out[p.Name], tp.Ref)
				}
			}
		}
	}
	return out, used, nil
}

// withoutTables is p without the tables refs, or nil when it reads no
// other. (A pattern's tables of now are in p.Tables: planned at this
// run's start. One of refs a pattern also matches is read again by the
// catch-up: the pipeline stops there again, as before; see
// docs/live-tables.md.)
func withoutTables(p *planner.Pipeline, refs []connectors.TableRef) *planner.Pipeline {
	q := *p
	q.Tables = nil
	for _, tp := range p.Tables {
		if !slices.Contains(refs, tp.Ref) {
			q.Tables = append(q.Tables, tp)
		}
	}
	if len(q.Tables) == 0 {
		return nil
	}
	return &q
}

func refList(refs []connectors.TableRef) string {
	var s []string
	for _, r := range refs {
		s = append(s, r.String())
	}
	return strings.Join(s, ", ")
}

// stoppedPipelines names the pipelines of the pipeline stops err is made
// of.
func stoppedPipelines(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, stoppedPipelines(e)...)
		}
		return out
	}
	var ps *PipelineStop
	if errors.As(err, &ps) {
		return []string{ps.Pipeline}
	}
	return nil
}

// union is names with n, sorted, once.
func union(names []string, n string) []string {
	out := append([]string{}, names...)
	for _, x := range names {
		if x == n {
			return out
		}
	}
	out = append(out, n)
	sort.Strings(out)
	return out
}

// remove deletes a checkpoint file, durably (the directory synced).
func (s *Store) remove(source string) error {
	if err := os.Remove(s.path(source)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove checkpoint: %w", err)
	}
	return syncDir(filepath.Dir(s.path(source)))
}

// gapResumes reports whether run r, which ended with err, lost its read
// position to a binary log purge (connectors.ErrPositionLost) while its
// source re-snapshots a gap (on_binlog_gap = 'resnapshot'): then it is run
// again from its checkpoint. Not when a pipeline of it stopped alone (its
// own checkpoint and error are the run's to report), nor when stopping.
func gapResumes(ctx context.Context, r *sourceRun, err error) bool {
	return err != nil && ctx.Err() == nil && errors.Is(err, connectors.ErrPositionLost) && len(r.stopped) == 0 &&
		GapResnapshots(r.decl, r.pipes)
}
