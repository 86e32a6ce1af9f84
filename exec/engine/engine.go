// Package engine runs a plan: one change stream per source, routed to the
// pipelines that read its tables, transformed by exec programs, written to
// sinks, with checkpoints committed only after the sinks acknowledged.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/planner"
)

// Options configure a run.
type Options struct {
	StateDir string
	// Once stops after the snapshot and the binlog position current at start.
	Once bool
	// CommitInterval bounds how often a checkpoint file is rewritten.
	CommitInterval time.Duration
	Log            *slog.Logger
	Stats          *Stats
	Alloc          memory.Allocator
	// Sinks, when set, supplies the sink of a plan's sink name instead of
	// connectors.NewSink (the REPL wraps stdout to stop after LIMIT rows).
	// Run closes them like its own.
	Sinks map[string]connectors.Sink
	// Sources, when set, supplies the source of a plan's source name
	// instead of connectors.NewSource (`etlq test` feeds a fixture's
	// changes through it). Run closes them like its own.
	Sources map[string]connectors.Source
	// DrainTimeout bounds how long a run that ends (stopped, or --once at
	// its end) waits for its sinks to acknowledge what they hold (default
	// 2 minutes, or the test-only ETLQ_TEST_DRAIN_TIMEOUT); then it closes
	// every writer it opened, which fail what is not acknowledged: the
	// checkpoint stays before it.
	DrainTimeout time.Duration
	// LogSnapshots: the sources log each snapshot's start and end
	// (connectors.StreamRequest.LogSnapshots), for a run that shows no
	// progress display.
	LogSnapshots bool
	// Lock, when set, is StateDir's lock, taken by the caller before it
	// planned (LockStateDir): Run holds it instead of taking it, and
	// releases it at its end.
	Lock *StateLock

	sinks map[string]connectors.Sink // every sink of the run (dead-letter targets)
	// plan is the plan Run runs (the whole file's sinks: a target kept
	// by an older etlq names a sink, keptTarget.same).
	plan *planner.Plan
	// writers lists the writers a source's run opens, for its stop
	// (openWriters); nil outside a source's run.
	writers *openWriters
	// readAgain names the pipelines a log worker's group reads again in
	// full since their definition was edited (groupNewPipelines).
	readAgain map[string]bool
	// planned names the pipelines of the plan Run runs (nil for log
	// workers): a resnapshot request for a pipeline that is not one of
	// them fails (resnapshotPoller.poll) rather than waiting unseen.
	planned map[string]bool
	// worker: the run is a log worker's (RunWorkers).
	worker bool
}

// Run executes every pipeline of the plan until ctx is done, a fatal error
// occurs, or (with Once) every stream is complete. On return every write is
// flushed and the last acknowledged mark committed. It holds the state
// directory's lock for the whole run (lock.go): a second Run on the same
// directory, in this process or another, fails at once.
func Run(ctx context.Context, plan *planner.Plan, opts Options) (err error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Stats == nil {
		opts.Stats = NewStats()
	}
	if opts.Alloc == nil {
		opts.Alloc = memory.DefaultAllocator
	}
	if opts.CommitInterval == 0 {
		opts.CommitInterval = time.Second
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = 2 * time.Minute
		if d, err := time.ParseDuration(os.Getenv("ETLQ_TEST_DRAIN_TIMEOUT")); err == nil && d > 0 {
			// (Test-only, as ETLQ_TEST_FAULT: the end-to-end tests of a
			// stop while the sink is unreachable. Unset in any real run.)
			opts.DrainTimeout = d
		}
	}
	if opts.StateDir == "" {
		return errors.New("no state directory given")
	}
	opts.plan = plan
	lock, err := opts.Lock.take(opts.StateDir)
	if err != nil {
		return err
	}
	defer lock.release()
	store := &Store{Dir: opts.StateDir}
	opts.planned = map[string]bool{}
	for _, p := range plan.Pipelines {
		opts.planned[p.Name] = true
	}

	sinks := map[string]connectors.Sink{}
	defer func() {
		for _, s := range sinks {
			s.Close()
		}
	}()
	for _, d := range plan.Sinks {
		if s := opts.Sinks[d.Name]; s != nil {
			sinks[d.Name] = s
			continue
		}
		s, err := connectors.NewSink(d.Kind, d.Name, d.DSN, d.Options)
		if err != nil {
			return connectors.Named("sink", d.Name, err)
		}
		sinks[d.Name] = s
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, src := range plan.Sources {
		var pipes []*planner.Pipeline
		for _, p := range plan.Pipelines {
			if p.Source == src.Name {
				pipes = append(pipes, p)
			}
		}
		if len(pipes) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("internal error in source %s: %v\n%s", src.Name, r, debug.Stack()))
					mu.Unlock()
				}
			}()
			// Said once per run, whichever streams the source's
			// pipelines run in (a gap's resume runs one again).
			logGonePipelines(plan, src, store, opts)
			// Pipelines that stopped alone rejoin the source's stream
			// first (rejoin.go).
			e := sourceGroups(ctx, cancel, src, pipes, sinks, store, opts)
			mu.Lock()
			errs = append(errs, e...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	var all []error
	for _, e := range errs {
		if !errors.Is(e, context.Canceled) {
			all = append(all, e)
		}
	}
	return errors.Join(all...)
}

// sourceRun drives one source's stream.
type sourceRun struct {
	decl  *planner.SourceDecl
	pipes []*planner.Pipeline
	sinks map[string]connectors.Sink
	store *Store
	opts  Options

	tracker *tracker
	routes  map[string][]*pipeRun // "db.table" → pipelines
	replans *replanLog            // the pipelines a batch planned again, logged once after it
	runs    []*pipeRun
	acker   connectors.Acker // the stream, when it wants to know what is durable
	// snapFloor, when the run started without a checkpoint over targets
	// that hold rows, is the version floor (versionFloor) that the stream
	// keeps (connectors.FloorKeeper): every row the run writes is at or
	// above it, every row before it below (snapshotEnded).
	snapFloor uint64

	// stateName names the checkpoint (source-<stateName>.json): the
	// source's name, or aloneName for the stream of a pipeline that runs
	// alone (stop.go), whose name alone holds.
	stateName string
	alone     string
	// scan: the stream is the own scan of a SNAPSHOT only pipeline new
	// to the source's checkpoint (ownscan.go), alone its name.
	scan bool
	// until, when set, ends the stream at that mark state: the catch-up
	// of a stopped pipeline with the source's checkpoint (rejoin.go).
	until []byte
	src   connectors.Source
	// lastMark is the mark of the last batch dispatched (at first the
	// checkpoint's or the stream's start): where a pipeline that fails on
	// the next batch resumes.
	lastMark *exec.Mark
	// stopped are the errors of the pipelines that stopped alone while the
	// others went on: the run reports them when it ends.
	stopped []error
	// swapsDone are the swap files to remove once a checkpoint covers
	// their batch (rowcopy.go); the commit loop reads them.
	swapsMu   sync.Mutex
	swapsDone []swapDone
}

func (r *sourceRun) run(ctx context.Context) (err error) {
	src := r.opts.Sources[r.decl.Name]
	if src == nil {
		if src, err = connectors.NewSource(r.decl.Kind, r.decl.Name, r.decl.DSN, r.decl.Options); err != nil {
			return connectors.Named("source", r.decl.Name, err)
		}
	}
	defer src.Close()
	r.src = src
	if r.stateName == "" {
		r.stateName = r.decl.Name
	}

	st, err := r.store.Load(r.stateName)
	if err != nil {
		return err
	}
	if ex, ok := src.(expirer); ok {
		if st != nil {
			// The binlog-loss guard (guard.go): say so early when the
			// checkpoint's binary log is about to be purged.
			if e, err := ex.BinlogExpiry(ctx, st.Mark); err == nil && r.alone == "" {
				if w := expiryWarning(r.decl.Name, e, time.Now(), GapResnapshots(r.decl, r.pipes)); w != "" {
					r.opts.Log.Warn(w)
				}
			}
		}
		if r.alone == "" {
			r.opts.Stats.setPurgeClock(r.decl.Name, &purgeClock{ex: ex, mark: storeMark(r.store, r.decl.Name),
				warn: purgedWhileRunning(r.opts.Log, r.decl, r.pipes)})
		}
	}
	req, names := streamRequest(r.pipes, r.opts.Once)
	req.Instance = instance(r.opts.StateDir)
	req.Alone = r.alone
	req.Until = r.until
	req.LogSnapshots = r.opts.LogSnapshots
	if st != nil {
		req.Resume = st.Mark
		r.lastMark = &exec.Mark{Source: r.decl.Name, State: st.Mark}
		if r.scan {
			r.opts.Log.Info("resuming the own scan of a SNAPSHOT only pipeline from its own checkpoint", "source", r.decl.Name, "pipeline", r.alone,
				"updated", st.Updated)
		} else if r.alone != "" {
			r.opts.Log.Info("resuming a stopped pipeline from its own checkpoint", "source", r.decl.Name, "pipeline", r.alone,
				"checkpoint", r.describeMark(r.lastMark), "updated", st.Updated)
		} else {
			r.opts.Log.Info("resuming from checkpoint", "source", r.decl.Name, "updated", st.Updated)
		}
	}
	r.routes = map[string][]*pipeRun{}
	r.opts.sinks = r.sinks
	r.opts.writers = &openWriters{}
	r.replans = &replanLog{log: r.opts.Log}
	for _, p := range r.pipes {
		pr, err := newPipeRun(ctx, p, r.sinks[p.Sink], r.opts)
		if err != nil {
			r.closeRuns()
			return err
		}
		pr.replans = r.replans
		r.runs = append(r.runs, pr)
		for _, t := range p.Tables {
			key := t.Ref.String()
			r.routes[key] = append(r.routes[key], pr)
		}
	}
	defer r.closeRuns()

	if err := r.newPipelineResnapshots(ctx, st); err != nil {
		return err
	}
	for _, pr := range r.runs {
		if r.opts.readAgain[pr.p.Name] {
			readingAgain(pr)
		}
	}
	if err := r.rowCopyTables(ctx, &req); err != nil {
		return err
	}
	if req.VersionFloor, err = r.versionFloor(ctx); err != nil {
		return err
	}
	stream, err := src.Open(ctx, req)
	if err != nil {
		return connectors.Named("source", r.decl.Name, err)
	}
	if f, ok := stream.(connectors.SnapshotFloorer); ok {
		r.snapFloor = f.SnapshotFloor()
	} else if _, ok := stream.(connectors.FloorKeeper); ok && st == nil {
		r.snapFloor = req.VersionFloor
	}
	defer stream.Close()
	r.opts.Stats.setStream(r.stateName, stream)
	r.acker, _ = stream.(connectors.Acker)
	// A checkpoint kept before a row is written: where a stream with no
	// checkpoint yet starts (connectors.Starter); or, for a stream that
	// starts its versions above its checkpoint's counter (above the
	// targets' versions), that checkpoint with the raised counter, at its
	// own position and with its own pipelines, not yet this run's — so
	// that etlq verify reads the counter at once rather than after the
	// next change at the source (connectors.CounterRaiser).
	var early *exec.Mark
	pipes := names
	if s, ok := stream.(connectors.Starter); ok && st == nil {
		early = s.StartMark()
	}
	if s, ok := stream.(connectors.CounterRaiser); ok && st != nil {
		early, pipes = s.RaisedMark(), st.Pipelines
	}
	if early != nil {
		if err := r.store.Save(&sourceState{Source: r.stateName, Mark: json.RawMessage(early.Bytes()), Pipelines: pipes}); err != nil {
			return err
		}
		r.lastMark = early
	}

	r.tracker = newTracker()
	r.tracker.last = r.lastMark
	r.opts.Stats.setTracker(r.stateName, r.tracker)
	commitErr := make(chan error, 1)
	commitCtx, stopCommit := context.WithCancel(context.Background())
	// A write that fails stops the loop through the commit loop, also
	// while the source is idle and no batch comes to notice it.
	loopCtx, stopLoop := context.WithCancelCause(ctx)
	defer stopLoop(nil)
	var commitWG sync.WaitGroup
	commitWG.Add(1)
	go func() {
		defer commitWG.Done()
		err := r.commitLoop(commitCtx, names)
		if err != nil {
			stopLoop(err)
		}
		commitErr <- err
	}()

	var resnapWG sync.WaitGroup
	if rs, ok := stream.(connectors.Resnapshotter); ok && r.until == nil {
		// Requests of etlq resnapshot (resnapshot.go): those there now
		// before the first batch, later ones as they come. (Not in a
		// stopped pipeline's catch-up, which must end at the source's
		// checkpoint: the source's stream takes them after it.)
		p := &resnapshotPoller{r: r, rs: rs, taken: map[string]bool{}, retried: map[string]bool{}}
		p.poll(loopCtx)
		resnapWG.Add(1)
		go func() {
			defer resnapWG.Done()
			p.run(loopCtx)
		}()
	}
	// Stopped (SIGTERM), a writer that takes no write (its server
	// unreachable, its inserts retried) would hold the drain below for
	// ever: once the drain time is over, the writers are closed, which
	// fails what they hold. (A run that ends by itself, --once, waits for
	// its writes as long as they take: a table copied for a wider key may
	// take longer.)
	// The drain below ends when every writer acknowledged what it holds,
	// or when the watcher closes them: under drainMu, one of the two
	// comes first, and the run's status says which (the watcher's WARN
	// logged after the status was taken for a clean stop: exit 0).
	drained := make(chan struct{})
	drainCtx, endDrain := context.WithCancel(context.Background())
	defer endDrain()
	var drainMu sync.Mutex
	drainOver, closedUnwritten := false, false
	stopWatch := context.AfterFunc(ctx, func() {
		// Said at once: the drain may take its whole time, and nothing
		// else is logged meanwhile (after SIGTERM the log was silent for
		// 2 minutes, then the WARN below).
		batches, rows := r.held()
		r.opts.Log.Info("stopping: waiting for the sinks to acknowledge what they hold, then checkpointing; past the deadline they are closed and what they did not acknowledge is read again on the next run",
			"source", r.decl.Name, "batches", batches, "rows", rows, "deadline", r.opts.DrainTimeout.String())
		select {
		case <-drained:
			return
		case <-time.After(r.opts.DrainTimeout):
		}
		drainMu.Lock()
		if drainOver {
			drainMu.Unlock()
			return
		}
		closedUnwritten = true
		drainMu.Unlock()
		r.tracker.closeWriters() // (their failures are this stop's, not errors of their own)
		endDrain()
		batches, rows = r.held()
		r.opts.Log.Warn("stopping: the sinks did not acknowledge what they hold in time: closing them; what they did not write is read again on the next run",
			"source", r.decl.Name, "after", r.opts.DrainTimeout.String(), "batches", batches, "rows", rows)
		// Every writer the run opened: the pipelines', the row copies',
		// those a cut-over opened again, the dead-letter targets'.
		r.opts.writers.closeAll()
	})
	defer stopWatch()
	runErr := r.loop(loopCtx, stream)
	stopLoop(nil)
	resnapWG.Wait()
	for _, pr := range r.runs {
		pr.out.settle() // (a writer's schema it cannot follow: a stop)
	}
	r.takeStops(ctx)
	if runErr == io.EOF {
		// The stream is complete (Once): not an error, and it must not
		// hide a write that fails in the flush or the commit below.
		// (io.EOF itself: a sink's error that wraps one, a connection
		// closed under a ClickHouse statement, is a failure, which
		// errors.Is took for the end of the stream: exit 0.)
		runErr = nil
	}

	// Stopped (SIGTERM): the loop's context.Canceled, also a sink's error
	// that wraps it, is no status of its own; the drain's is.
	stopped := ctx.Err() != nil && errors.Is(runErr, context.Canceled)
	if stopped {
		runErr = nil
	}

	// Drain: flush every writer so that every write is acknowledged, then
	// commit the last contiguous mark. Stopped, the watcher above ends
	// it; a run that ends by itself has the drain time of its own.
	flushCtx := drainCtx
	if ctx.Err() == nil {
		var cancelFlush context.CancelFunc
		flushCtx, cancelFlush = context.WithTimeout(drainCtx, r.opts.DrainTimeout)
		defer cancelFlush()
	}
	var flushErr error
	for _, pr := range r.runs {
		if pr.copy != nil {
			pr.copy.out.settle()
			if err := pr.copy.writer.Flush(flushCtx); err != nil && flushErr == nil {
				flushErr = fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
			}
		}
		pr.out.settle()
		if err := pr.writer.Flush(flushCtx); err != nil && flushErr == nil && !connectors.IsDataError(err) {
			// (A row the target refused was its write's: a stop,
			// taken below.)
			flushErr = fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
		}
	}
	drainMu.Lock()
	drainOver = true
	close(drained)
	closed := closedUnwritten
	drainMu.Unlock()
	var drainErr error // the flush's, when it is the run's
	if runErr == nil {
		runErr, drainErr = flushErr, flushErr
	}
	r.takeStops(ctx) // (those of the writes the flush made)
	stopCommit()
	commitWG.Wait()
	if err := <-commitErr; err != nil && runErr == nil {
		runErr = err
	}
	if err := r.commit(names); err != nil && runErr == nil {
		runErr = err
	}
	if ctx.Err() != nil && (closed || flushErr != nil) && (runErr == nil || runErr == drainErr || errors.Is(runErr, context.Canceled)) {
		// Stopped with writes the sinks never acknowledged: nothing is
		// lost (the checkpoint is before them), but the run did not end
		// as a clean stop does, and its exit status says so (it was 0,
		// with only the WARN to tell). A flush that failed, or that the
		// watcher ended by closing the writers, says so as well: its
		// error may wrap context.Canceled, which is taken for a clean
		// stop.
		why := fmt.Sprintf("closed after %s", r.opts.DrainTimeout)
		if !closed {
			why = flushErr.Error()
		}
		runErr = fmt.Errorf("source %s: %w (%s); the checkpoint is before what was not written, which the next run reads again", r.decl.Name, ErrUnacknowledged, why)
	}
	if runErr == nil && stopped {
		runErr = context.Canceled
	}
	if len(r.stopped) > 0 && (runErr == nil || errors.Is(runErr, context.Canceled)) {
		// The pipelines that stopped alone fail the run when it ends.
		runErr = errors.Join(r.stopped...)
	} else if runErr != nil && len(r.stopped) > 0 {
		runErr = errors.Join(append(r.stopped, runErr)...)
	}
	return runErr
}

// ErrUnacknowledged is the error (errors.Is) of a run stopped before its
// sinks acknowledged every write: their writers were closed when the
// drain time ran out, or a flush failed. Nothing is lost: the checkpoint
// is before what was not written.
var ErrUnacknowledged = errors.New("stopped before the sinks acknowledged every write")

// held returns what the source's sinks hold: the batches read and not
// yet acknowledged by every sink, and the rows its pipelines handed to
// their sinks that were not acknowledged.
func (r *sourceRun) held() (batches int, rows int64) {
	names, ps := r.opts.Stats.Pipelines()
	for _, n := range names {
		if p := ps[n]; p.Source == r.decl.Name {
			rows += p.Unacknowledged.Load()
		}
	}
	return r.tracker.backlog(), rows
}

// streamRequest is what one source is asked for on behalf of its
// pipelines, and the pipelines' names (sorted).
func streamRequest(pipes []*planner.Pipeline, once bool) (connectors.StreamRequest, []string) {
	// Before images always flow (docs/architecture.md, "A change batch").
	req := connectors.StreamRequest{Once: once, Before: true, Options: map[string]any{}}
	tables := map[connectors.TableRef]connectors.SnapshotMode{}
	patterns := map[connectors.TableRef]connectors.SnapshotMode{}
	upsertT, upsertP := map[connectors.TableRef]bool{}, map[connectors.TableRef]bool{}
	neverT := map[connectors.TableRef]bool{}
	beforeT, beforeP := map[connectors.TableRef]connectors.BeforeCols{}, map[connectors.TableRef]connectors.BeforeCols{}
	union := func(m map[connectors.TableRef]connectors.BeforeCols, ref connectors.TableRef, b connectors.BeforeCols) {
		if old, seen := m[ref]; seen {
			b = old.Union(b)
		}
		m[ref] = b
	}
	var names []string
	for _, p := range pipes {
		names = append(names, p.Name)
		before := beforeReads(p)
		for k, v := range p.Options {
			req.Options[k] = v
		}
		if n, ok := p.Options["batch_rows"].(int64); ok && int(n) > req.BatchRows {
			req.BatchRows = int(n)
		}
		for _, pat := range p.Patterns {
			if p.Snapshot == connectors.SnapshotOnly {
				continue // its scan is over before a table can join
			}
			mode, seen := patterns[pat]
			if !seen {
				mode = p.Snapshot
			}
			patterns[pat] = mergeSnapshot(mode, p.Snapshot)
			upsertP[pat] = upsertP[pat] || p.Target.Mode == connectors.ModeUpsert
			union(beforeP, pat, before)
		}
		for _, t := range p.Tables {
			mode, seen := tables[t.Ref]
			if !seen {
				mode = p.Snapshot
			}
			tables[t.Ref] = mergeSnapshot(mode, p.Snapshot)
			upsertT[t.Ref] = upsertT[t.Ref] || p.Target.Mode == connectors.ModeUpsert
			neverT[t.Ref] = neverT[t.Ref] || p.Snapshot == connectors.SnapshotNever
			union(beforeT, t.Ref, before)
		}
	}
	for ref, mode := range tables {
		req.Tables = append(req.Tables, connectors.StreamTable{Ref: ref, Snapshot: mode, Upsert: upsertT[ref], Never: neverT[ref], Before: beforeT[ref]})
	}
	sort.Slice(req.Tables, func(i, j int) bool { return req.Tables[i].Ref.String() < req.Tables[j].Ref.String() })
	for ref, mode := range patterns {
		req.Patterns = append(req.Patterns, connectors.StreamPattern{DB: ref.DB, Table: ref.Table, Snapshot: mode, Upsert: upsertP[ref], Before: beforeP[ref]})
	}
	sort.Slice(req.Patterns, func(i, j int) bool {
		return req.Patterns[i].DB+"."+req.Patterns[i].Table < req.Patterns[j].DB+"."+req.Patterns[j].Table
	})
	sort.Strings(names)
	return req, names
}

// beforeReads returns the before values of its tables' updates pipeline
// p reads (planner.TablePlan.BeforeReads, by name: what a TRANSFORM, a
// WHERE and a KEY name does not change with a table's schema, and a
// source adds each table's primary key itself). Every one for a pipeline
// whose sink shows old values, for one with dead letters (a failed row's
// letter holds its whole before image) and for one no table of which is
// planned yet (a pattern that matches none so far).
func beforeReads(p *planner.Pipeline) connectors.BeforeCols {
	if p.OnError == exec.OnErrorDeadLetter || p.DeadLetter != nil || len(p.Tables) == 0 {
		return connectors.BeforeCols{}
	}
	out := connectors.BeforeCols{Some: true}
	for _, t := range p.Tables {
		if len(t.BeforeIndex) > 0 {
			// Its sink shows old values (a changelog, canal_json,
			// debezium_json): with `*`, of columns a DDL may add while
			// the stream runs, which no name asked now would cover.
			return connectors.BeforeCols{}
		}
		out = out.Union(connectors.BeforeCols{Some: true, Cols: t.BeforeReads()})
	}
	return out
}

// StreamRequests returns, for each source of the plan that a pipeline
// reads, the stream request Run would open it with: what `etlq capture`
// publishes to a log (docs/scale-out.md). It asks for every before value:
// the log's changes are whole, whatever pipelines its workers run.
func StreamRequests(plan *planner.Plan, once bool) map[string]connectors.StreamRequest {
	out := map[string]connectors.StreamRequest{}
	for _, src := range plan.Sources {
		var pipes []*planner.Pipeline
		for _, p := range plan.Pipelines {
			if p.Source == src.Name {
				pipes = append(pipes, p)
			}
		}
		if len(pipes) > 0 {
			req, _ := streamRequest(pipes, once)
			for i := range req.Tables {
				req.Tables[i].Before = connectors.BeforeCols{}
			}
			for i := range req.Patterns {
				req.Patterns[i].Before = connectors.BeforeCols{}
			}
			out[src.Name] = req
		}
	}
	return out
}

// versionFloor is one more than the largest _version the pipelines'
// targets hold (0: none known). The checkpoint's counter alone cannot be
// trusted to be above it: a state directory restored from an older copy, or
// one that two processes shared, holds a counter below versions already
// written, and a change given a smaller version than an older one of the
// same key would never show in an upsert table.
func (r *sourceRun) versionFloor(ctx context.Context) (uint64, error) {
	var floor uint64
	for _, pr := range r.runs {
		vr, ok := pr.writer.(connectors.VersionReader)
		if !ok {
			continue
		}
		v, err := vr.MaxVersion(ctx)
		if err != nil {
			return 0, fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
		}
		if v > math.MaxUint64-versionHeadroom {
			// The counter would wrap around to small versions within
			// the run, which an upsert table would never show.
			return 0, fmt.Errorf("pipeline %s: its target %s holds _version %d, too close to the largest 64-bit version for the stream's versions to stay above it (they would wrap around, and an upsert table would keep the older rows): delete the rows with a _version above %d from it, or make it again", pr.p.Name, pr.p.Target.Name, v, uint64(math.MaxUint64-versionHeadroom))
		}
		if v > 0 && v+1 > floor {
			floor = v + 1
		}
	}
	return floor, nil
}

// versionHeadroom is how many versions a target's largest _version must
// leave below the largest uint64 (versionFloor): a run's counter starts
// above it and grows by one per row.
const versionHeadroom = 1 << 40

// instance names this process for a stream (connectors.StreamRequest.
// Instance): the host and the absolute state directory, which the state
// directory's lock makes unique among the processes running at once.
func instance(stateDir string) string {
	host, _ := os.Hostname()
	if abs, err := filepath.Abs(stateDir); err == nil {
		stateDir = abs
	}
	return host + ":" + stateDir
}

func (r *sourceRun) closeRuns() {
	for _, pr := range r.runs {
		pr.close()
	}
	r.runs = nil
}

// loop reads the stream and dispatches every batch. It returns io.EOF when
// the stream is complete. Reading (decoding) runs in its own goroutine, a
// few batches ahead of the transform and the sink writes. When the reader
// has no batch ready (the source is caught up), the writers are told so
// (connectors.Idler): rows need not wait out a flush interval then.
func (r *sourceRun) loop(ctx context.Context, stream connectors.Stream) error {
	type item struct {
		b   *exec.Batch
		err error
	}
	rctx, cancel := context.WithCancel(ctx)
	ch := make(chan item, 4)
	go func() {
		defer close(ch)
		for {
			b, err := stream.Next(rctx)
			select {
			case ch <- item{b, err}:
			case <-rctx.Done():
				b.Release()
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		// Stop the reader and wait for it: the stream is closed after this.
		cancel()
		for it := range ch {
			it.b.Release()
		}
	}()
	recv := newReceiver(ch, idleLinger, r.idle)
	recv.wake, recv.onWake = r.tracker.stopc, func() { r.takeStops(ctx) }
	for {
		it, ok := recv.next()
		if !ok {
			break
		}
		if ctx.Err() != nil {
			// Stopping: batches read ahead are not dispatched (nor
			// checkpointed); the next run reads them again.
			it.b.Release()
			return context.Cause(ctx)
		}
		r.takeStops(ctx)
		if _, err := r.tracker.take0(); err != nil {
			it.b.Release()
			return err
		}
		if err := it.err; err != nil {
			if err == io.EOF { // (the stream's end, not an error wrapping one)
				return io.EOF
			}
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return connectors.Named("source", r.decl.Name, err)
		}
		if err := r.dispatch(ctx, it.b); err != nil {
			return err
		}
	}
	return context.Cause(ctx)
}

// idle tells the writers that can use it that the stream has nothing more
// to read right now.
func (r *sourceRun) idle() {
	for _, pr := range r.runs {
		if w, ok := pr.writer.(connectors.Idler); ok {
			pr.out.idle(w.Idle)
		}
	}
}

func (r *sourceRun) dispatch(ctx context.Context, b *exec.Batch) (err error) {
	defer b.Release()
	if r.replans != nil {
		defer r.replans.flush() // one line per DDL, every pipeline named
	}
	seq := r.tracker.begin(b.Mark)
	defer func() {
		if b.Mark != nil {
			r.lastMark = b.Mark
		}
		if err != nil {
			// A pipeline could not process or write the batch (a row error
			// under on_error = 'fail', a stop in the middle): neither its
			// mark nor any later one may be committed, or the next run
			// would start after rows that never reached the sink.
			r.tracker.fail(seq)
		}
		r.tracker.seal(seq)
	}()
	if b.Record == nil {
		return nil
	}
	if b.Resnapshot != nil {
		return r.resnapshotEnd(ctx, b, seq)
	}
	if b.RowCopy != nil {
		return r.rowCopy(ctx, b, seq)
	}
	if _, known := r.routes[b.DB+"."+b.Table]; !known {
		if err := r.joinTable(ctx, b); err != nil {
			return err
		}
	}
	for _, pr := range r.routes[b.DB+"."+b.Table] {
		if pr.stopping.Load() {
			continue // it stops alone before this batch (stop.go)
		}
		if b.Only != "" {
			// A resnapshot's rows: the pipeline that asked takes them,
			// whatever its SNAPSHOT mode.
			if pr.p.Name != b.Only {
				continue
			}
			pr.awaitReread(b.DB+"."+b.Table, false) // (it began)
		} else if !pr.wants(b) {
			continue
		}
		if err := r.deliver(ctx, pr, b, seq); err != nil {
			return err
		}
		if isTruncate(b) || pr.stopping.Load() {
			continue
		}
		if b.Snapshot && b.SnapshotEnd != exec.SnapshotInside && b.Only == "" && r.snapFloor > 0 {
			if err := r.snapshotEnded(ctx, pr, b, seq); err != nil {
				return err
			}
		}
	}
	return nil
}

// deliver writes b (a change or a truncate) for pr; a failure of pr
// alone stops it alone (pipelineFailed).
func (r *sourceRun) deliver(ctx context.Context, pr *pipeRun, b *exec.Batch, seq uint64) error {
	write := r.write
	if isTruncate(b) {
		write = r.truncate
	}
	if err := write(ctx, pr, b, seq); err != nil {
		var pe *processError
		if errors.As(err, &pe) {
			return r.pipelineFailed(ctx, pe, b)
		}
		return err
	}
	return nil
}

// write processes b for pr and writes what comes out.
func (r *sourceRun) write(ctx context.Context, pr *pipeRun, b *exec.Batch, seq uint64) error {
	in := b
	if b.Snapshot && b.Sel != nil && pr.p.Snapshot == connectors.SnapshotOnly {
		// The rows a snapshot leaves out of a chunk are those whose keys
		// the binlog changed inside the chunk's window (MySQL's
		// watermarks, brackets) or before it (a change that went out
		// first): the changes carry their state. A SNAPSHOT only
		// pipeline takes no change, so it takes the chunk's rows as its
		// read view has them — also when none is left (under a writer
		// that had changed every key of a chunk before its read, the
		// chunk was taken for a position-only batch and lost:
		// TestSnapshotOnlyUnderWindowedPlacement had 9,400 of 20,000).
		whole := *b
		whole.Sel = nil
		in = &whole
	}
	if in.NumRows() == 0 && !pr.schemaChanged(b) && !pr.unsettled(b) {
		return nil // a position-only batch
	}
	out, err := pr.process(ctx, in)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
		}
		return &processError{pr: pr, err: err}
	}
	if out == nil {
		return nil
	}
	if err := pr.sinkRowErrors(ctx, out, in); err != nil {
		out.Release()
		return &processError{pr: pr, err: err}
	}
	origin := pr.keepOrigin(out, in)
	r.tracker.add(seq)
	n := out.NumRows()
	tomb := tombstones(out)
	// Held by the sink until acknowledged (a stop tells them); a write
	// that fails keeps them counted: never acknowledged.
	pr.stats.Unacknowledged.Add(int64(n))
	settled := func() { pr.stats.Unacknowledged.Add(-int64(n)) }
	// The writer gets the batch from the pipeline's outbox: a Write that
	// blocks (a ClickHouse ALTER, an unreachable server) holds this
	// pipeline only (outbox.go).
	db, table := b.DB, b.Table
	// (Decided in the order of the stream: the re-read's start may be
	// dispatched before the outbox writes this batch.)
	toReread := b.Only == "" && pr.awaitsReread(db+"."+table)
	pr.out.send(out, func(ctx context.Context, out *exec.Batch) {
		if pr.stopping.Load() {
			// Its pipeline stops alone before an earlier batch (stop.go).
			pr.forgetOrigin(origin)
			out.Release()
			settled()
			r.tracker.done(seq, nil)
			return
		}
		if err := pr.follow(ctx, out); err != nil && toReread {
			// A change before the re-read asked for the table begins:
			// the re-read has it (awaitReread), the old target cannot
			// take it.
			pr.forgetOrigin(origin)
			out.Release()
			if pr.leftToReread(db + "." + table) {
				pr.log.Info("resnapshot: a change of the table before its re-read begins, whose schema the target cannot take, is left to the re-read (it has the change)",
					"pipeline", pr.p.Name, "table", db+"."+table, "reason", err.Error())
			}
			settled()
			r.tracker.done(seq, nil)
			return
		} else if err != nil {
			// The target cannot take the batch's schema: the pipeline
			// stops alone, its batch pending until the loop takes it.
			pr.forgetOrigin(origin)
			out.Release()
			pr.stopping.Store(true)
			r.tracker.stop(&writeStop{pr: pr, seq: seq, err: err, db: db, table: table})
			return
		}
		if err := pr.writer.Write(ctx, out, func(err error) {
			pr.forgetOrigin(origin)
			if err == nil {
				settled()
				// (The rows its target refused, skipped or dead-lettered
				// before this done, are row errors: not out.)
				rows, tombs := pr.refusedRows.Swap(0), pr.refusedTombs.Swap(0)
				pr.stats.RowsOut.Add(int64(n-tomb) - rows)
				pr.stats.Tombstones.Add(int64(tomb) - tombs)
				pr.stats.Batches.Add(1)
			} else {
				pr.stats.WriteFailures.Add(1)
				pr.countSinkRowError(err)
			}
			r.written(pr, seq, db, table, err)
		}); err != nil {
			// The batch was not written: its mark, and every later one,
			// must never be committed (the commit loop stops the run).
			pr.forgetOrigin(origin)
			pr.stats.WriteFailures.Add(1)
			r.written(pr, seq, db, table, err)
		}
	})
	return nil
}

// mergeSnapshot is the snapshot mode the source is asked for, for a table
// that two pipelines read with modes a and b: a scan when either wants one
// (initial, only), the binlog when either follows it (initial, never). The
// stream then carries what every pipeline needs, and each pipeline keeps
// only its own part (pipeRun.wants): never+only is initial at the source,
// whose snapshot rows go to the only pipeline and binlog changes to the
// never pipeline.
func mergeSnapshot(a, b connectors.SnapshotMode) connectors.SnapshotMode {
	scan := a != connectors.SnapshotNever || b != connectors.SnapshotNever
	follow := a != connectors.SnapshotOnly || b != connectors.SnapshotOnly
	switch {
	case scan && follow:
		return connectors.SnapshotInitial
	case scan:
		return connectors.SnapshotOnly
	default:
		return connectors.SnapshotNever
	}
}

// commitLoop commits acknowledged marks as they become ready, at most once
// per CommitInterval.
func (r *sourceRun) commitLoop(ctx context.Context, names []string) error {
	tick := time.NewTicker(r.opts.CommitInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := r.commit(names); err != nil {
				return err
			}
		}
	}
}

func (r *sourceRun) commit(names []string) error {
	if faultSet("no-commit") {
		_, err := r.tracker.take0()
		return err
	}
	// Marks before a failed write are still good: save them, then report.
	m, seq, werr := r.tracker.takeSeq()
	if m != nil {
		if err := r.store.Save(&sourceState{Source: r.stateName, Mark: json.RawMessage(m.Bytes()), Pipelines: names}); err != nil {
			return err
		}
		r.opts.Stats.Commits.Add(1)
		if r.acker != nil {
			r.acker.Acked(m)
		}
		r.swapsCommitted(seq) // rowcopy.go
	}
	return werr
}

// take0 reports a write error without consuming the ready mark.
func (t *tracker) take0() (*exec.Mark, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ready, t.err
}
