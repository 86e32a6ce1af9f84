package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/natslog"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/planner"
)

// WorkerStats are one log worker's counters (partitions owned, messages
// handed over and acknowledged, lag), read by the metrics endpoint; cmd
// names them through the engine, which owns the log's wiring.
type WorkerStats = natslog.WorkerStats

// The scale-out mode (docs/scale-out.md): `etlq capture` publishes each
// source's stream to a NATS JetStream log (Capture), and `etlq apply
// --log` workers run the pipelines over their share of it (RunWorkers).

// CaptureOptions configure Capture.
type CaptureOptions struct {
	Log        string // the log's URL: nats://HOST:PORT[/NAMESPACE]
	Once       bool   // publish up to the position current at start, then return
	Partitions int    // key partitions of a new stream
	MaxBytes   int64  // a new stream's size limit (0: none)
	MaxAge     time.Duration
	Logger     *slog.Logger
	// Stats, when set, gets each source's stream (lag, reconnects,
	// snapshot progress), binary log purge clock and what was published
	// (Stats.Captures), for the metrics endpoint.
	Stats *Stats
	// LogSnapshots: the sources log each snapshot's start and end
	// (connectors.StreamRequest.LogSnapshots), as Options.LogSnapshots;
	// etlq capture, which draws no progress display, always sets it.
	LogSnapshots bool
}

// Capture publishes every source of the plan that a pipeline reads to the
// log, one stream per source, until ctx is done, an error occurs, or (with
// Once) every source has reached its position at start.
func Capture(ctx context.Context, plan *planner.Plan, o CaptureOptions) error {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	// A server that does not answer yet (starting, restarting, too busy
	// to answer a request within the client's timeout) is waited for,
	// and every request of the capture's start with it, until ctx ends.
	lg, err := natslog.Dial(ctx, o.Log, log)
	if err != nil {
		return err
	}
	defer lg.Close()
	reqs := StreamRequests(plan, o.Once)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	errs := make(chan error, len(reqs))
	finished := make(chan struct{})
	defer close(finished)
	var lost atomic.Pointer[error] // a capture lock lost to another capture
	var scanErrs errList           // the own scans' (logscan.go)
	for _, d := range plan.Sources {
		req, ok := reqs[d.Name]
		if !ok {
			continue
		}
		// One capture per source and log: a second one (the same file
		// started twice) is refused here, before it connects to the
		// source with the first one's server_id.
		lock, err := lg.LockCapture(ctx, d.Name, log)
		if err != nil {
			return err
		}
		defer lock.Release()
		go func() {
			select {
			case err := <-lock.Lost:
				err = fmt.Errorf("capture %s: %w", d.Name, err)
				lost.CompareAndSwap(nil, &err)
				cancel(err)
			case <-finished:
			}
		}()
		src, err := connectors.NewSource(d.Kind, d.Name, d.DSN, d.Options)
		if err != nil {
			return connectors.Named("source", d.Name, err)
		}
		defer src.Close()
		host, _ := os.Hostname()
		req.Instance = host + ":capture:" + logName(o.Log)
		req.LogSnapshots = o.LogSnapshots
		stats := o.Stats
		if stats == nil {
			stats = NewStats()
		}
		cs := stats.capture(d.Name)
		if ex, ok := src.(expirer); ok {
			stats.setPurgeClock(d.Name, &purgeClock{ex: ex, mark: func() ([]byte, error) { return lg.LastResume(d.Name) }})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			log.Info("capturing", "source", d.Name, "log", o.Log)
			rp := &logResnapshots{lg: lg, plan: plan, source: d.Name, log: log, taken: map[string]bool{}}
			// The own scans of SNAPSHOT only pipelines new to the log
			// (logscan.go) run beside the stream; a scan that fails stops
			// the capture (the next one resumes it).
			sr := &scanRunner{lg: lg, plan: plan, decl: d, once: o.Once, log: log, cs: cs, instance: req.Instance, snapLog: o.LogSnapshots,
				fail: func(err error) {
					scanErrs.add(fmt.Errorf("capture %s: %w", d.Name, err))
					cancel(err)
				}}
			pollCtx, stopPoll := context.WithCancel(ctx)
			var polled chan struct{} // (resuming runs in this goroutine, within lg.Capture)
			resuming := func(resume []byte) error {
				if err := logNewPipelines(lg, plan, d.Name, src, resume, log); err != nil {
					return err
				}
				if err := sr.start(ctx); err != nil {
					return err
				}
				if !o.Once {
					// Scans a group of workers asks while the capture runs.
					polled = make(chan struct{})
					go func() { defer close(polled); sr.poll(pollCtx, ctx) }()
				}
				return nil
			}
			err := lg.Capture(ctx, d.Name, src, req, natslog.CaptureOptions{Partitions: o.Partitions, Log: log,
				Retention: natslog.Retention{MaxBytes: o.MaxBytes, MaxAge: o.MaxAge}, Published: &cs.Messages, Rows: &cs.Rows, Waiting: &cs.Waiting,
				Opened: func(st connectors.Stream) { stats.setStream(d.Name, st); lock.SetLag(st.Lag) }, Resnapshots: rp.run, ResnapshotEnded: rp.ended, Resuming: resuming})
			if err != nil {
				cancel(err) // (the scans stop with it)
			}
			// (With --once the scans run to their end; none is started
			// once the stream ended.)
			stopPoll()
			if polled != nil {
				<-polled
			}
			sr.wg.Wait()
			log.Info("capture stopped", "source", d.Name, "messages", cs.Messages.Load())
			if err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) && !scanErrs.has(err) {
				cancel(err)
				errs <- fmt.Errorf("capture %s: %w", d.Name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	if e := lost.Load(); e != nil {
		all = append(all, *e)
	}
	for e := range errs {
		if l := lost.Load(); l == nil || !errors.Is(e, *l) {
			all = append(all, e)
		}
	}
	all = append(all, scanErrs.errs...)
	return errors.Join(all...)
}

// logNewPipelines is the capture's newPipelineResnapshots (resnapshot.go):
// the log records the pipelines the capture published for; a pipeline of
// the file that is not among them (added since) with SNAPSHOT initial
// gets a resnapshot request in the log for each of its tables whose
// snapshot the position resumed from has started or ended — the stream
// would not read them again, and the workers would write only the changes
// from now on into its target. Then the file's pipelines are recorded.
// A stream that recorded none (captured by an etlq before this) only
// records them.
func logNewPipelines(lg *natslog.Log, plan *planner.Plan, source string, src connectors.Source, resume []byte, log *slog.Logger) error {
	var names []string
	var pipes []*planner.Pipeline
	for _, p := range plan.Pipelines {
		if p.Source == source {
			names = append(names, p.Name)
			pipes = append(pipes, p)
		}
	}
	sort.Strings(names)
	old, found, err := lg.CapturedPipelines(source)
	if err != nil {
		return err
	}
	sm, ok := src.(connectors.SnapshotMarker)
	if resume != nil && found && ok {
		known := map[string]bool{}
		for _, n := range old {
			known[n] = true
		}
		raw, _, err := lg.ResnapshotRequests(source)
		if err != nil {
			return err
		}
		var pending []*ResnapshotRequest
		for _, b := range raw {
			var q ResnapshotRequest
			if json.Unmarshal(b, &q) == nil {
				pending = append(pending, &q)
			}
		}
		reqs, err := readAgainRequests(source, pipes, func(p *planner.Pipeline) bool { return !known[p.Name] }, sm, resume, pending)
		if err != nil {
			return err
		}
		for _, req := range reqs {
			req.name()
			b, err := json.MarshalIndent(req, "", "  ")
			if err != nil {
				return err
			}
			if err := lg.RequestResnapshot(source, req.ID, b); err != nil {
				return err
			}
			log.Info("a pipeline new to the log reads a table whose snapshot the log holds already: resnapshot requested for it",
				"source", source, "pipeline", req.Pipeline, "table", req.Table, "id", req.ID)
		}
		// A SNAPSHOT only pipeline new to the log: a resnapshot is placed
		// in the log's changes, which such a pipeline does not follow.
		// The capture reads its tables with a scan of its own instead,
		// recorded here before the pipelines are (logscan.go).
		if err := newLogScans(lg, source, pipes, known, sm, resume, log); err != nil {
			return err
		}
	}
	return lg.SetCapturedPipelines(source, names)
}

// warnUncaptured warns of each pipeline of the workers' file that the
// source's capture does not publish for (the names it recorded,
// logNewPipelines): its tables may not be in the log at all, and its
// target would get nothing, silently, until the capture runs with this
// file (which then reads for it the tables the log already holds).
func warnUncaptured(lg *natslog.Log, plan *planner.Plan, log *slog.Logger) error {
	for _, d := range plan.Sources {
		captured, found, err := lg.CapturedPipelines(d.Name)
		if err != nil {
			return err
		}
		if !found {
			continue // a capture that recorded none, or none yet
		}
		known := map[string]bool{}
		for _, n := range captured {
			known[n] = true
		}
		for _, p := range plan.Pipelines {
			if p.Source == d.Name && !known[p.Name] {
				log.Warn("the capture of the log does not publish for this pipeline (its file lacks it): its target gets nothing until etlq capture runs with this file",
					"source", d.Name, "pipeline", p.Name, "captured", strings.Join(captured, ", "))
			}
		}
	}
	return nil
}

// groupNewPipelines asks a resnapshot of the tables of each SNAPSHOT
// initial pipeline of the workers' file that the capture publishes for
// but that the group's workers did not have when they last started: the
// workers that ran before it (the capture started with the new file while
// they ran on with the old one) acknowledged its rows — the capture's own
// resnapshot of the table for it included — without writing them, and the
// group reads on past them. Then the file's pipelines are recorded for the
// group. A group that recorded none (new, or its workers ran an etlq
// before this) only records them.
//
// So is each table of an upsert SNAPSHOT initial pipeline whose
// definition (WHERE, TRANSFORM, MODE, KEY: planner.Pipeline.Definition)
// differs from the one the group's workers last started with, as a plain
// apply does with its state directory (newPipelineResnapshots): the
// target holds the rows of the old definition. Other modes keep every
// change, and a SNAPSHOT never pipeline takes no snapshot: the edit is
// logged, and the pipeline returned as one whose writers may add the
// output columns new to it (empty for the rows already there). The
// returned pipelines are read again
// in full since their last edit: their writers add the output columns an
// edited TRANSFORM brought (connectors.ReadAgainer); the mark stays with
// the group's definition, so that workers started later with the same
// file add them too.
func groupNewPipelines(lg *natslog.Log, plan *planner.Plan, group string, log *slog.Logger) (map[string]bool, error) {
	readAgain := map[string]bool{}
	for _, d := range plan.Sources {
		var names []string
		var pipes []*planner.Pipeline
		for _, p := range plan.Pipelines {
			if p.Source == d.Name {
				names = append(names, p.Name)
				pipes = append(pipes, p)
			}
		}
		sort.Strings(names)
		captured, found, err := lg.CapturedPipelines(d.Name)
		if err != nil {
			return nil, err
		}
		had, gfound, err := lg.GroupPipelines(d.Name, group)
		if err != nil {
			return nil, err
		}
		if found && gfound {
			inLog, inGroup := map[string]bool{}, map[string]bool{}
			for _, n := range captured {
				inLog[n] = true
			}
			for _, n := range had {
				inGroup[n] = true
			}
			raw, _, err := lg.ResnapshotRequests(d.Name)
			if err != nil {
				return nil, err
			}
			waiting := map[string]bool{}
			for _, b := range raw {
				var q ResnapshotRequest
				if json.Unmarshal(b, &q) == nil {
					waiting[q.Pipeline+"\x00"+q.Table] = true
				}
			}
			if err := groupNewScans(lg, d, group, pipes, inLog, inGroup, log); err != nil {
				return nil, err
			}
			for _, p := range pipes {
				if p.Snapshot != connectors.SnapshotInitial || !inLog[p.Name] || inGroup[p.Name] {
					continue
				}
				for _, t := range p.Tables {
					if waiting[p.Name+"\x00"+t.Ref.String()] {
						continue // the capture's own request, not yet in the log
					}
					req := &ResnapshotRequest{Source: d.Name, Pipeline: p.Name, Table: t.Ref.String(), Requested: time.Now().UTC()}
					req.name()
					b, err := json.MarshalIndent(req, "", "  ")
					if err != nil {
						return nil, err
					}
					if err := lg.RequestResnapshot(d.Name, req.ID, b); err != nil {
						return nil, err
					}
					log.Info("a pipeline new to the group, that the capture publishes for: the group's workers that ran without it acknowledged its rows without writing them; resnapshot requested for it",
						"source", d.Name, "group", group, "pipeline", p.Name, "table", req.Table, "id", req.ID)
				}
			}
		}
		if err := groupEditedPipelines(lg, d.Name, group, pipes, found && gfound, captured, readAgain, log); err != nil {
			return nil, err
		}
		if err := lg.SetGroupPipelines(d.Name, group, names); err != nil {
			return nil, err
		}
	}
	return readAgain, nil
}

// groupDef is what the group keeps of a pipeline's definition: its text,
// and whether the group's workers read its tables again since it was last
// edited.
type groupDef struct {
	Definition string `json:"definition"`
	ReadAgain  bool   `json:"read_again,omitempty"`
}

// groupEditedPipelines is groupNewPipelines' part for pipelines edited
// since the group's workers last started (compare is false for a group or
// a log that recorded no pipelines yet: only recorded). It adds to
// readAgain the pipelines read again since their last edit.
func groupEditedPipelines(lg *natslog.Log, source, group string, pipes []*planner.Pipeline, compare bool, captured []string, readAgain map[string]bool, log *slog.Logger) error {
	raw, found, err := lg.GroupDefinitions(source, group)
	if err != nil {
		return err
	}
	old := map[string]groupDef{}
	if found {
		if err := json.Unmarshal(raw, &old); err != nil {
			return fmt.Errorf("log: the definitions of group %s's pipelines are damaged: %v", group, err)
		}
	}
	inLog := map[string]bool{}
	for _, n := range captured {
		inLog[n] = true
	}
	var waiting map[string]bool
	defs := map[string]groupDef{}
	for _, p := range pipes {
		prev, had := old[p.Name]
		def := groupDef{Definition: p.Definition}
		switch {
		case !had || !compare:
		case prev.Definition == p.Definition:
			def.ReadAgain = prev.ReadAgain
		case p.Target.Mode != connectors.ModeUpsert || p.Snapshot != connectors.SnapshotInitial:
			// Not read again (a changelog or append target keeps the
			// history as written, a SNAPSHOT never one takes no
			// snapshot): an output column new to the definition is
			// added, empty for the rows already there, rather than
			// refused as dropped outside etlq — by every worker of the
			// group, its state directory new to the edit or not.
			log.Warn("the pipeline changed in the file since the group's workers last started: its target keeps the rows the old definition wrote (an output column new to it is empty there); etlq resnapshot --log reads its tables again",
				"source", source, "group", group, "pipeline", p.Name, "mode", p.Target.Mode.String())
			def.ReadAgain = true
		case inLog[p.Name]:
			if waiting == nil {
				reqs, _, err := lg.ResnapshotRequests(source)
				if err != nil {
					return err
				}
				waiting = map[string]bool{}
				for _, b := range reqs {
					var q ResnapshotRequest
					if json.Unmarshal(b, &q) == nil {
						waiting[q.Pipeline+"\x00"+q.Table] = true
					}
				}
			}
			for _, t := range p.Tables {
				if waiting[p.Name+"\x00"+t.Ref.String()] {
					continue
				}
				req := &ResnapshotRequest{Source: source, Pipeline: p.Name, Table: t.Ref.String(), Requested: time.Now().UTC()}
				req.name()
				b, err := json.MarshalIndent(req, "", "  ")
				if err != nil {
					return err
				}
				if err := lg.RequestResnapshot(source, req.ID, b); err != nil {
					return err
				}
				log.Info("the pipeline changed in the file since the group's workers last started (WHERE, TRANSFORM, MODE or KEY): its table is read again through the log, so that its target holds the rows of the new definition",
					"source", source, "group", group, "pipeline", p.Name, "table", req.Table, "id", req.ID)
			}
			def.ReadAgain = true
		}
		if def.ReadAgain {
			readAgain[p.Name] = true
		}
		defs[p.Name] = def
	}
	for n, d := range old {
		if _, ok := defs[n]; !ok {
			defs[n] = d // a pipeline of another file of the group
		}
	}
	b, err := json.Marshal(defs)
	if err != nil {
		return err
	}
	return lg.SetGroupDefinitions(source, group, b)
}

// pipelineDigests are, per source, the digests of the file's pipelines
// reading it (natslog.PipelineDigest): what each worker's heartbeat says
// of its file.
func pipelineDigests(plan *planner.Plan) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, p := range plan.Pipelines {
		var from []string
		for _, t := range p.Patterns {
			from = append(from, t.String())
		}
		if len(from) == 0 {
			for _, t := range p.Tables {
				from = append(from, t.Ref.String())
			}
		}
		sort.Strings(from)
		io := "FROM " + strings.Join(from, ", ") + "\nINTO " + p.Sink + " " + p.Target.Name
		if out[p.Source] == nil {
			out[p.Source] = map[string]string{}
		}
		out[p.Source][p.Name] = natslog.PipelineDigest(p.Definition, io)
	}
	return out
}

// refuseOtherFile refuses to start workers whose file makes of a source's
// pipelines something else than the group's live workers do — a pipeline
// edited (WHERE, TRANSFORM, MODE, KEY, FROM, INTO), added or removed —
// while any of them runs: such a worker would take its own file for an
// edit of the group's (resnapshots requested, the group's definitions
// overwritten) and write its partitions with it, the group's targets
// ending with the rows of two files; one stale worker (an old file on one
// machine) rewrote the group silently. An edit is rolled out by stopping
// every worker of the group and starting them with the new file
// (docs/scale-out.md). A heartbeat left by a worker killed -9 is waited
// for until it expires (at most a lease; at once for a process of this
// host that is gone); workers of an etlq that did not say what they run
// are not compared.
func refuseOtherFile(ctx context.Context, lg *natslog.Log, plan *planner.Plan, group string, lease time.Duration, digests map[string]map[string]string, log *slog.Logger) error {
	if lease <= 0 {
		lease = natslog.DefaultLease
	}
	for _, d := range plan.Sources {
		mine, ok := digests[d.Name]
		if !ok {
			continue
		}
		peers, err := lg.GroupWorkers(d.Name, group)
		if err != nil {
			return fmt.Errorf("log: the workers of group %s: %w", group, err)
		}
		for _, p := range peers {
			if p.Pipelines == nil {
				continue
			}
			diff := natslog.DiffPipelines(mine, p.Pipelines)
			if len(diff) == 0 {
				continue
			}
			live, err := lg.Renewed(ctx, d.Name, p, lease, func() {
				log.Info("log: a worker of the group runs another file; waiting to see whether it is live (a killed worker's heartbeat expires within a lease)",
					"source", d.Name, "group", group, "other", p.ID, "lease", lease.String())
			})
			if err != nil {
				return fmt.Errorf("log: the workers of group %s: %w", group, err)
			}
			if !live {
				continue
			}
			where := p.ID
			if p.Host != "" {
				where = fmt.Sprintf("%s (pid %d on %s)", p.ID, p.PID, p.Host)
			}
			return fmt.Errorf("log: group %s's live workers run another definition of source %s's pipelines than this file: %s (worker %s); start every worker of a group with the same file, or stop them all to roll out an edit (docs/scale-out.md, \"A pipeline edited in the file later\")",
				group, d.Name, strings.Join(diff, "; "), where)
		}
	}
	return nil
}

// logName is the log URL without credentials, scheme or parameters, for
// ids: host:port[/namespace].
func logName(raw string) string {
	raw, _, _ = strings.Cut(raw, "?")
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		return raw[i+1:]
	}
	return strings.TrimPrefix(strings.TrimPrefix(raw, "nats://"), "tls://")
}

// WorkerOptions configure RunWorkers.
type WorkerOptions struct {
	Log     string        // the log's URL
	Workers int           // workers in this process
	Group   string        // the group of workers sharing the partitions
	Lease   time.Duration // a partition's lease
	// Stats, when set, holds per source one WorkerStats per
	// worker: the partitions it holds, its progress and lag (the
	// etlq_log_* metrics, docs/scale-out.md).
	Stats map[string][]*WorkerStats
}

// RunWorkers runs apply's --log mode: w.Workers workers in this process,
// each a normal Run whose sources read this worker's share of the log.
// They share opts.Stats: the process's metrics are the sum of its
// workers'. With several workers each keeps its state in
// opts.StateDir/worker-N.
func RunWorkers(ctx context.Context, plan *planner.Plan, opts Options, w WorkerOptions) error {
	// opts.Lock, opts.StateDir's lock taken before planning, is the one
	// worker's (Run holds it), or with several, each locking its own
	// worker-N, kept until they end.
	defer opts.Lock.Release()
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	// As the capture's (Capture): the server and every request of the
	// workers' start are waited for until ctx ends. Before, one request
	// that took more than the client's 5 s (a loaded machine) stopped the
	// worker with `etlq: context deadline exceeded`.
	lg, err := natslog.Dial(ctx, w.Log, opts.Log)
	if err != nil {
		return err
	}
	defer lg.Close()
	if err := warnUncaptured(lg, plan, opts.Log); err != nil {
		return err
	}
	group := w.Group
	if group == "" {
		group = "apply"
	}
	digests := pipelineDigests(plan)
	if err := refuseOtherFile(ctx, lg, plan, group, w.Lease, digests, opts.Log); err != nil {
		return err
	}
	readAgain, err := groupNewPipelines(lg, plan, w.Group, opts.Log)
	if err != nil {
		return err
	}
	opts.readAgain = readAgain
	opts.worker = true
	n := max(w.Workers, 1)
	var wg sync.WaitGroup
	errs := make([]error, n)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	for i := range n {
		o := opts
		if n > 1 {
			o.StateDir = filepath.Join(opts.StateDir, fmt.Sprintf("worker-%d", i))
			if err := os.MkdirAll(o.StateDir, 0o755); err != nil {
				return err
			}
		}
		o.Sources = map[string]connectors.Source{}
		for _, d := range plan.Sources {
			inner, err := connectors.NewSource(d.Kind, d.Name, d.DSN, d.Options)
			if err != nil {
				return connectors.Named("source", d.Name, err)
			}
			wo := natslog.WorkerOptions{Group: w.Group, Lease: w.Lease, Log: opts.Log.With("worker", i), Pipelines: digests[d.Name]}
			if wo.Pipelines == nil {
				wo.Pipelines = map[string]string{}
			}
			if ws := w.Stats[d.Name]; i < len(ws) {
				wo.Stats = ws[i]
			}
			o.Sources[d.Name] = lg.Source(d.Name, inner, wo)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = Run(ctx, plan, o)
			if errs[i] != nil && ctx.Err() == nil {
				cancel(errs[i])
			}
		}()
	}
	wg.Wait()
	return joinDistinct(errs)
}

// joinDistinct joins errs, each text once: the workers of a process that
// meet the same end (the stream deleted under them), or that stop on the
// first one's error (the context's cause), said it once per worker — the
// same line twice after `etlq: `, as if two things had gone wrong.
func joinDistinct(errs []error) error {
	var out []error
	seen := map[string]bool{}
	for _, e := range errs {
		if e == nil || seen[e.Error()] {
			continue
		}
		seen[e.Error()] = true
		out = append(out, e)
	}
	return errors.Join(out...)
}

// LogMarks returns, for planning, the position each source's capture
// resumes from in the log at url (natslog.Log.LastResume): a table read
// by name that the server no longer has (dropped, renamed away) is planned
// with the schema it holds, as apply plans it from its checkpoints; the
// capture and the workers keep no source position of their own. A server
// that does not answer is waited for until ctx ends (natslog.Dial); a log
// that cannot be read gives none (planning then names the table
// missing), and says why to log.
func LogMarks(ctx context.Context, url string, log *slog.Logger) func(source string) [][]byte {
	return func(source string) [][]byte {
		lg, err := natslog.Dial(ctx, url, log)
		if err != nil {
			log.Warn("log: the capture's position cannot be read from the log; a table read by name that left the source cannot be planned", "source", source, "error", err.Error())
			return nil
		}
		defer lg.Close()
		m, err := lg.LastResume(source)
		if err != nil {
			log.Warn("log: the capture's position cannot be read from the log; a table read by name that left the source cannot be planned", "source", source, "error", err.Error())
			return nil
		}
		if m == nil {
			return nil
		}
		return [][]byte{m}
	}
}

// LogStartMarks returns, for planning a worker's pipelines, the position
// where each source's group of workers starts in the log at url
// (natslog.Log.StartResume): its tables' schemas are those the workers'
// first messages were captured with, up to the next DDL in the log. A
// worker planned from the table of now while the log was behind a DDL
// planned the table again at its first message, and again at the DDL,
// which found the column it adds in a target made with it (a fill). A
// server that does not answer is waited for until ctx ends
// (natslog.Dial): before, a request that took more than the client's 5 s
// planned from the table of now without a word. A log that cannot be
// read gives none (the table of now), and says why to log.
func LogStartMarks(ctx context.Context, url, group string, log *slog.Logger) func(source string) []byte {
	return func(source string) []byte {
		lg, err := natslog.Dial(ctx, url, log)
		if err == nil {
			defer lg.Close()
			var m []byte
			if m, err = lg.StartResume(source, group); err == nil {
				return m
			}
		}
		log.Warn("log: where the group starts in the log cannot be read; its pipelines are planned from the tables of now", "source", source, "group", group, "error", err.Error())
		return nil
	}
}

// LogStatus returns, for each source of the plan, the table `etlq status
// --log` prints: each partition's owner, lag and the stream's retention
// headroom.
func LogStatus(plan *planner.Plan, url, group string) (string, error) {
	lg, err := natslog.Open(url)
	if err != nil {
		return "", err
	}
	defer lg.Close()
	var b strings.Builder
	for _, d := range plan.Sources {
		st, err := lg.Status(d.Name, group)
		if err != nil {
			return "", err
		}
		if !st.CaptureRunning() {
			// Where the log ends, in the source's words: what a capture
			// started now resumes from.
			if m, err := lg.LastResume(d.Name); err == nil && m != nil {
				if src, err := connectors.NewSource(d.Kind, d.Name, d.DSN, d.Options); err == nil {
					if md, ok := src.(connectors.MarkDescriber); ok {
						st.End = md.DescribeMark(m)
					}
					src.Close()
				}
			}
		}
		b.WriteString(st.String())
	}
	return b.String(), nil
}

// DropLog deletes the streams and lease buckets of plan's sources in the
// log's namespace, refusing while workers of group are live.
func DropLog(plan *planner.Plan, url, group string) (string, error) {
	lg, err := natslog.Open(url)
	if err != nil {
		return "", err
	}
	defer lg.Close()
	var b strings.Builder
	for _, d := range plan.Sources {
		st, err := lg.Status(d.Name, group)
		if natslog.NoStream(err) {
			fmt.Fprintf(&b, "source %s: no stream\n", d.Name)
			continue
		}
		if natslog.NotLoaded(err) {
			// Its workers stopped on it (they cannot read a stream the
			// server does not have): the buckets go, a capture makes a
			// new stream.
			if err := lg.DeleteSource(d.Name); err != nil {
				return b.String(), connectors.Named("source", d.Name, err)
			}
			fmt.Fprintf(&b, "source %s: no stream on the server; the log's buckets (leases, floors, resnapshot requests, schemas) deleted\n", d.Name)
			continue
		}
		if err != nil {
			return b.String(), err
		}
		if len(st.Workers) > 0 {
			return b.String(), fmt.Errorf("source %s: %d live worker(s) of group %s read stream %s: stop them first", d.Name, len(st.Workers), group, st.Stream)
		}
		if err := lg.DeleteSource(d.Name); err != nil {
			return b.String(), connectors.Named("source", d.Name, err)
		}
		fmt.Fprintf(&b, "source %s: stream %s (%d messages, %d bytes) and its leases deleted\n", d.Name, st.Stream, st.Messages, st.Bytes)
	}
	return b.String(), nil
}

// logResnapshots hands the requests of `etlq resnapshot --log` (kept in
// the log, natslog.Log.RequestResnapshot) to a capture's stream: its rows
// and its end go through the log to the workers, whose runs carry the end
// out as a plain apply does (resnapshotEnd), each in its partitions.
type logResnapshots struct {
	lg     *natslog.Log
	plan   *planner.Plan
	source string
	log    *slog.Logger
	taken  map[string]bool
}

func (p *logResnapshots) run(ctx context.Context, rs connectors.Resnapshotter) {
	for {
		p.poll(ctx, rs)
		select {
		case <-ctx.Done():
			return
		case <-time.After(ResnapshotPoll):
		}
	}
}

func (p *logResnapshots) poll(ctx context.Context, rs connectors.Resnapshotter) {
	pending, _, err := p.lg.ResnapshotRequests(p.source)
	if err != nil {
		p.log.Warn("resnapshot requests cannot be read from the log", "source", p.source, "error", err)
		return
	}
	ids := make([]string, 0, len(pending))
	for id := range pending {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if p.taken[id] {
			continue
		}
		p.taken[id] = true
		var req ResnapshotRequest
		if err := json.Unmarshal(pending[id], &req); err != nil {
			p.fail(id, fmt.Sprintf("resnapshot request %s: %v", id, err))
			continue
		}
		req.ID = id
		var pl *planner.Pipeline
		for _, q := range p.plan.Pipelines {
			if q.Name == req.Pipeline && q.Source == p.source {
				pl = q
			}
		}
		if pl == nil {
			p.fail(id, fmt.Sprintf("source %s has no pipeline %s in the capture's file", p.source, req.Pipeline))
			continue
		}
		if _, err := CheckResnapshot(pl, &req); err != nil {
			p.fail(id, err.Error())
			continue
		}
		db, table, _ := strings.Cut(req.Table, ".")
		if err := rs.Resnapshot(ctx, connectors.Resnapshot{ID: id, Pipeline: req.Pipeline,
			Table: connectors.TableRef{DB: db, Table: table}, Where: req.Where}); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.fail(id, err.Error())
			continue
		}
		p.log.Info("resnapshot requested", "source", p.source, "pipeline", req.Pipeline, "table", req.Table, "where", req.Where, "id", id)
	}
}

func (p *logResnapshots) fail(id, reason string) {
	p.log.Error("resnapshot not carried out", "id", id, "reason", reason)
	if err := p.lg.ResnapshotDone(p.source, id, reason); err != nil {
		p.log.Warn("resnapshot request not updated in the log", "id", id, "error", err)
	}
}

// ended: the resnapshot's end is in the log (the workers carry it out).
func (p *logResnapshots) ended(e *exec.ResnapshotEnd) {
	if e.ID == "" {
		return // a cut-over's re-read, no request (engine.cutoverEnd)
	}
	if e.Err != "" {
		p.fail(e.ID, e.Err)
		return
	}
	p.log.Info("resnapshot in the log", "source", p.source, "id", e.ID)
	if err := p.lg.ResnapshotDone(p.source, e.ID, ""); err != nil {
		p.log.Warn("resnapshot request not removed from the log", "id", e.ID, "error", err)
	}
}

// RequestLogResnapshot stores req in the log at url for the capture of
// its source to carry out (etlq resnapshot --log); req.ID is set.
func RequestLogResnapshot(url string, req *ResnapshotRequest) error {
	req.name()
	b, err := json.MarshalIndent(req, "", "  ")
	if err != nil {
		return err
	}
	lg, err := natslog.Open(url)
	if err != nil {
		return err
	}
	defer lg.Close()
	return lg.RequestResnapshot(req.Source, req.ID, b)
}

// LogResnapshotsLeft says how many of the requests ids of source are not
// yet in the log at url, or why one failed.
func LogResnapshotsLeft(url, source string, ids []string) (int, error) {
	lg, err := natslog.Open(url)
	if err != nil {
		return 0, err
	}
	defer lg.Close()
	pending, failed, err := lg.ResnapshotRequests(source)
	if err != nil {
		return 0, err
	}
	left := 0
	for _, id := range ids {
		if reason, ok := failed[id]; ok {
			return 0, fmt.Errorf("resnapshot %s failed: %s", id, reason)
		}
		if _, ok := pending[id]; ok {
			left++
		}
	}
	return left, nil
}
