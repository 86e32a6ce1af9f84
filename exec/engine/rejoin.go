package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
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
// source's checkpoint not yet written), or the two not ordered (different
// servers, a snapshot in progress): it keeps its own stream this run, as
// before, and rejoins on a later run.

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
	var shared []*planner.Pipeline
	var runs []*sourceRun
	for _, p := range pipes {
		switch {
		case apart[p.Name]:
			runs = append(runs, &sourceRun{decl: src, pipes: []*planner.Pipeline{p}, sinks: sinks, store: store, opts: opts,
				stateName: aloneName(src.Name, p.Name), alone: p.Name})
		case alone[p.Name] == nil:
			shared = append(shared, p)
		}
	}
	if len(shared) > 0 {
		runs = append([]*sourceRun{{decl: src, pipes: shared, sinks: sinks, store: store, opts: opts, stateName: src.Name}}, runs...)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := r.run(ctx)
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
		return nil, nil, fmt.Errorf("source %s: %w", src.Name, err)
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
	describe := func(m []byte) string {
		if d, ok := s.(connectors.MarkDescriber); ok {
			return d.DescribeMark(m)
		}
		return string(m)
	}
	for _, n := range names {
		own, state := alone[n], aloneName(src.Name, n)
		c, err := j.CompareMarks(own.Mark, shared.Mark)
		if err != nil {
			apart[n] = true
			opts.Log.Info("a stopped pipeline keeps its own stream this run: its checkpoint and the source's cannot be ordered", "pipeline", n, "source", src.Name, "reason", err.Error())
			continue
		}
		if c > 0 {
			apart[n] = true
			opts.Log.Info("a stopped pipeline keeps its own stream this run: its checkpoint is ahead of the source's (the run stopped before the source's checkpoint passed it); it rejoins on a later run",
				"pipeline", n, "source", src.Name, "checkpoint", describe(own.Mark), "source_checkpoint", describe(shared.Mark))
			continue
		}
		if c < 0 {
			opts.Log.Info("catching up a stopped pipeline with the source before it rejoins the source's stream", "pipeline", n, "source", src.Name,
				"checkpoint", describe(own.Mark), "until", describe(shared.Mark), "updated", own.Updated)
			r := &sourceRun{decl: src, pipes: []*planner.Pipeline{byName[n]}, sinks: sinks, store: store, opts: opts,
				stateName: state, alone: n, until: shared.Mark}
			err := r.run(ctx)
			opts.Stats.dropStream(state)
			if err != nil {
				if ctx.Err() != nil || !OnlyPipelineStops(err) {
					return nil, stops, err
				}
				// It failed again: it keeps its own checkpoint, and the
				// others go on without it.
				stops = append(stops, err)
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
		// At the source's position, every write of it acknowledged: its
		// checkpoint joins the source's, then its own file goes.
		mark, err := j.JoinMarks(shared.Mark, own.Mark)
		if err != nil {
			return nil, stops, fmt.Errorf("pipeline %s: rejoin source %s: %w", n, src.Name, err)
		}
		joined := &sourceState{Source: src.Name, Mark: mark, Pipelines: union(shared.Pipelines, n)}
		if err := store.Save(joined); err != nil {
			return nil, stops, err
		}
		if err := store.remove(state); err != nil {
			return nil, stops, err
		}
		shared, alone[n] = joined, nil
		opts.Log.Info("a stopped pipeline caught up with the source and rejoined its stream", "pipeline", n, "source", src.Name, "checkpoint", describe(mark))
	}
	return apart, stops, nil
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
	d, err := os.Open(filepath.Dir(s.path(source)))
	if err != nil {
		return fmt.Errorf("sync state directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync state directory: %w", err)
	}
	return nil
}
