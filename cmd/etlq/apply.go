package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/term"

	"github.com/etlq/etlq/cmd/etlq/internal/etlfile"
	"github.com/etlq/etlq/exec/engine"
	"github.com/etlq/etlq/planner"
)

type applyCmd struct {
	File         string `arg:"" type:"existingfile" help:"The .etl file."`
	Once         bool   `help:"Snapshot (if asked), stream up to the binlog position current at start, flush, checkpoint, exit."`
	StateDir     string `default:"./.etlq" help:"Where checkpoints, schema history and dead letters live."`
	MetricsAddr  string `help:"Serve Prometheus metrics on this address (e.g. 127.0.0.1:9464; :9464 listens on every interface)."`
	LogFormat    string `default:"text" enum:"text,json" help:"Log format (text or json)."`
	Progress     string `default:"auto" enum:"auto,always,never" help:"Progress bars and status lines on standard error: auto (when it is a terminal; logs otherwise), always or never."`
	CPUProfile   string `hidden:"" help:"Write a Go CPU profile of the run to this file."`
	AllocProfile string `hidden:"" help:"Write a Go profile of the run's allocations to this file at exit."`
	HeapProfile  string `hidden:"" help:"Write a Go heap profile to this file each time the live heap reaches a new high (the last one is at the peak)."`
	MemoryLimit  string `default:"128MiB" help:"Soft memory limit of the Go heap (e.g. 160MiB, 1GiB; 0: none). The GOMEMLIMIT variable takes precedence."`
	// Scale-out (docs/scale-out.md): read the changes from a log that
	// `etlq capture` fills instead of from the sources.
	Log     string        `placeholder:"nats://HOST:PORT[/NAMESPACE]" help:"Read the changes from the NATS JetStream log that etlq capture publishes to, as one of many workers."`
	Workers int           `default:"1" help:"With --log: workers in this process (each its own share of the partitions)."`
	Group   string        `default:"apply" help:"With --log: the group of workers sharing the partitions; another group reads the log anew."`
	Lease   time.Duration `default:"10s" help:"With --log: a partition's lease; a worker that stops renewing it (killed) loses it after this long."`

	workerStats map[string][]*engine.WorkerStats // per source, per worker (metrics)
}

func (a *applyCmd) Run(ctx context.Context) error {
	// The logs go through the progress display while it runs (logOutput).
	logOut := &logOutput{}
	log := slog.New(logHandler(logOut, a.LogFormat))
	err := a.run(ctx, log, logOut)
	if err != nil && a.LogFormat == "json" {
		// The last word in the logs' own format: a reader of JSON lines
		// would otherwise find a plain "etlq: …" line at the end.
		log.Error("failed", "error", err.Error())
		return exitError{1}
	}
	return err
}

// logHandler is the log handler of every command that logs: text
// (textHandler) or, with format "json", JSON lines.
func logHandler(w io.Writer, format string) slog.Handler {
	if format == "json" {
		return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			return jsonDurations(groups, localTimes(groups, a))
		}})
	}
	return textHandler(w)
}

// textHandler is the text log handler of every command: an error value is
// written as its Error() text. slog's text handler writes a value with
// %+v, and the errors of clickhouse-go's ch-go (go-faster/errors) print
// their call frames under %+v: a retried insert logged "read:\n
// github.com/ClickHouse/ch-go/proto.(*Reader).UVarInt\n /root/go/pkg/mod/…"
// where "read: read: connection reset by peer" was meant.
func textHandler(w io.Writer) slog.Handler {
	return slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		return plainErrors(groups, localTimes(groups, a))
	}})
}

// localTimes writes a time attribute in the local zone, the zone of the
// line's own time: a checkpoint's time is kept in UTC, and "resuming from
// checkpoint" logged updated=…Z on lines that read time=…+05:30.
func localTimes(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindTime {
		return slog.Time(a.Key, a.Value.Time().Local())
	}
	return a
}

// plainErrors writes an error attribute as its message.
func plainErrors(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindAny {
		if err, ok := a.Value.Any().(error); ok && err != nil {
			return slog.String(a.Key, err.Error())
		}
	}
	return a
}

// jsonDurations writes durations as text ("1.5s"), as the text format does,
// instead of slog's JSON integer of nanoseconds.
func jsonDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

func (a *applyCmd) run(ctx context.Context, log *slog.Logger, logOut *logOutput) error {
	if a.Log != "" && a.Once {
		return errors.New("--once reads a source up to a position; with --log the workers follow the log until stopped")
	}
	if a.Log == "" {
		if f := workerCheckpoint(a.StateDir); f != "" {
			return fmt.Errorf("state directory %s is the one of etlq apply --log workers (%s counts the log messages a worker applied, not a source position): "+
				"run them with apply --log nats://HOST:PORT[/NAMESPACE] --state-dir %s, or give a plain apply its own --state-dir "+
				"(here it would read every table again into the workers' targets)", a.StateDir, f, a.StateDir)
		}
	}
	// The state directory's lock first: a second apply on a directory
	// another process holds stops at once, before it connects to a server
	// or logs "starting" (docs/operations.md). It planned against the
	// servers first, and was refused only when the run took the lock.
	// (A directory that does not exist yet is held by nobody: the run
	// creates and locks it, so a file that fails to plan leaves none.)
	var lock *engine.StateLock
	if _, err := os.Stat(a.StateDir); err == nil {
		if lock, err = engine.LockStateDir(a.StateDir); err != nil {
			return err
		}
		defer lock.Release()
	}
	// Connectors log through the default logger (reconnects, retries, a
	// plain connection under ssl_mode = 'preferred' while the plan reads
	// the schemas): the same format and destination as etlq's own lines.
	slog.SetDefault(log)
	// The CPU profile covers the plan too: with many tables, reading and
	// binding their schemas is a share of the run worth seeing.
	stopProfile, err := startCPUProfile(a.CPUProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	var l *etlfile.Loaded
	var plan *planner.Plan
	if a.Log != "" {
		// A worker plans from the log: where its group starts reading it.
		l, plan, err = etlfile.LoadPlanWorker(ctx, a.File, a.StateDir, a.Log, a.Group)
	} else {
		l, plan, err = etlfile.LoadPlanAt(ctx, a.File, false, a.StateDir)
	}
	if err != nil {
		return err
	}
	warns, err := refuseTargets(ctx, l, plan)
	if err != nil {
		return err
	}
	var renameNotes []string
	if a.Log == "" {
		// A source renamed in the file, whose old name's checkpoint was
		// taken on its server: a first run would lose the changes made
		// since (check says the same).
		renameErrs, renameWarns, notes := sourceRenames(ctx, plan, a.StateDir, true)
		if len(renameErrs) > 0 {
			return etlfile.Error{Text: renameErrs.Format(l.Shown())}
		}
		warns = append(warns, renameWarns...)
		renameNotes = notes
	}

	if err := setMemoryLimit(a.MemoryLimit); err != nil {
		return err
	}
	stats := engine.NewStats()

	if a.MetricsAddr != "" {
		var extra []prometheus.Collector
		if a.Log != "" {
			a.workerStats = map[string][]*engine.WorkerStats{}
			for _, d := range plan.Sources {
				for range max(a.Workers, 1) {
					a.workerStats[d.Name] = append(a.workerStats[d.Name], &engine.WorkerStats{})
				}
			}
			extra = append(extra, logCollector{workers: a.workerStats})
		}
		srv, err := serveMetrics(a.MetricsAddr, stats, extra...)
		if err != nil {
			return err
		}
		defer srv.Close()
		log.Info("serving metrics", "addr", a.MetricsAddr, "path", "/metrics")
	}

	show := a.Progress == "always" || (a.Progress == "auto" && term.IsTerminal(int(os.Stderr.Fd())))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		reportProgress(runCtx, stats, show, log, logOut)
	}()

	if a.AllocProfile != "" {
		defer writeAllocProfile(a.AllocProfile, log)
	}
	if a.HeapProfile != "" {
		stop := watchHeapPeak(a.HeapProfile, log)
		defer stop()
	}
	log.Info("starting", "file", a.File, "pipelines", len(plan.Pipelines), "once", a.Once, "state_dir", a.StateDir)
	for _, w := range insecureWarnings(plan) {
		log.Warn("insecure connection: " + w)
	}
	// What check warns of the file (file:line:col: message, as check
	// prints it): an operator who runs only apply sees it too.
	for _, w := range warns {
		log.Warn(w.Error())
	}
	for _, n := range renameNotes {
		log.Info(n)
	}
	if a.Log == "" {
		// SNAPSHOT edited since the last run: check's notes, as INFO.
		for _, n := range snapshotNotes(plan, a.StateDir, a.File) {
			log.Info(n.Error())
		}
	}
	start := time.Now()
	if a.Log != "" {
		err = engine.RunWorkers(ctx, plan, engine.Options{StateDir: a.StateDir, Log: log, Stats: stats, Lock: lock},
			engine.WorkerOptions{Log: a.Log, Workers: a.Workers, Group: a.Group, Lease: a.Lease, Stats: a.workerStats})
	} else {
		err = engine.Run(ctx, plan, engine.Options{StateDir: a.StateDir, Once: a.Once, Log: log, Stats: stats, LogSnapshots: !show, Lock: lock})
	}
	cancel()
	<-done
	names, ps := stats.Pipelines()
	failed := err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil)
	// Pipelines that stopped by an error of their own let the others go
	// on (docs/live-tables.md, "One failing pipeline").
	alone := engine.OnlyPipelineStops(err)
	// Stopped before the sinks acknowledged every write (the drain time
	// ran out): no pipeline failed; each says whether its sink still held
	// rows. Before, every one was "stopped by an error", also one whose
	// sink had acknowledged all it was given.
	unacked := errors.Is(err, engine.ErrUnacknowledged)
	for _, n := range names {
		p := ps[n]
		summary, level := "pipeline done", slog.LevelInfo
		attrs := []any{"pipeline", n, "rows_in", p.RowsIn.Load(), "rows_out", p.RowsOut.Load(),
			"tombstones", p.Tombstones.Load(), "rows_filtered", p.RowsFiltered.Load(),
			"row_errors", p.RowErrors.Load(), "dead_letters", p.DeadLetters.Load()}
		switch held := p.Unacknowledged.Load(); {
		case p.Stopped.Load() || (failed && !alone && !unacked):
			// The run failed: its summaries are errors too, so that a
			// reader filtering on the level sees every pipeline it stopped.
			summary, level = "pipeline stopped by an error", slog.LevelError
		case unacked && held > 0:
			summary, level = "pipeline stopped before its sink acknowledged every write", slog.LevelWarn
			attrs = append(attrs, "rows_unacknowledged", held)
		}
		log.Log(context.Background(), level, summary, attrs...)
	}
	if err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
		return err
	}
	if ctx.Err() != nil {
		// Interrupted (SIGINT, SIGTERM): what was written is flushed and
		// checkpointed; the next run goes on from there.
		log.Info("stopped", "after", time.Since(start).Round(time.Millisecond))
		return nil
	}
	log.Info("finished", "after", time.Since(start).Round(time.Millisecond))
	return nil
}

// serveMetrics serves the run's counters in the Prometheus format.
func serveMetrics(addr string, stats *engine.Stats, extra ...prometheus.Collector) (*http.Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(stats), schemaChangeCollector{stats})
	reg.MustRegister(extra...)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, nil
}

// collector exposes engine.Stats as Prometheus metrics (docs/operations.md).
type collector struct {
	stats                                          *engine.Stats
	rowsIn, rowsOut, rowErrs, deadLetters, commits *prometheus.Desc
	tombstones, filtered                           *prometheus.Desc
	batches, writeRetries, writeFailures           *prometheus.Desc
	lag, reconnects, snapDone, snapTotal           *prometheus.Desc
	purge                                          *prometheus.Desc
}

func newCollector(s *engine.Stats) *collector {
	return &collector{
		stats:         s,
		rowsIn:        prometheus.NewDesc("etlq_rows_in_total", "Rows read from the source (deletes included), per pipeline.", []string{"pipeline"}, nil),
		rowsOut:       prometheus.NewDesc("etlq_rows_out_total", "Rows acknowledged by the sink, tombstones not counted, per pipeline.", []string{"pipeline"}, nil),
		tombstones:    prometheus.NewDesc("etlq_tombstones_total", "Tombstones (keys removed: deletes, updates that left WHERE or failed, changed keys' old keys) acknowledged by an upsert target, per pipeline.", []string{"pipeline"}, nil),
		filtered:      prometheus.NewDesc("etlq_rows_filtered_total", "Source rows WHERE left out, per pipeline.", []string{"pipeline"}, nil),
		rowErrs:       prometheus.NewDesc("etlq_row_errors_total", "Rows that failed a cast or a function, per pipeline.", []string{"pipeline"}, nil),
		deadLetters:   prometheus.NewDesc("etlq_dead_letters_total", "Rows kept in the dead-letter file, per pipeline.", []string{"pipeline"}, nil),
		batches:       prometheus.NewDesc("etlq_batches_total", "Batches acknowledged by the sink, per pipeline.", []string{"pipeline"}, nil),
		writeRetries:  prometheus.NewDesc("etlq_sink_write_retries_total", "Sink write attempts (ClickHouse INSERTs, HTTP requests) that failed and were tried again, per pipeline.", []string{"pipeline"}, nil),
		writeFailures: prometheus.NewDesc("etlq_sink_write_failures_total", "Batches the sink failed to write for good, per pipeline.", []string{"pipeline"}, nil),
		commits:       prometheus.NewDesc("etlq_checkpoints_total", "Checkpoints committed.", nil, nil),
		lag:           prometheus.NewDesc("etlq_replication_lag_seconds", "How far behind the source the stream is.", []string{"source"}, nil),
		reconnects:    prometheus.NewDesc("etlq_source_reconnects_total", "Binlog reconnect attempts after a lost connection, per source.", []string{"source"}, nil),
		snapDone:      prometheus.NewDesc("etlq_snapshot_rows_total", "Snapshot rows read, per table.", []string{"source", "table"}, nil),
		snapTotal:     prometheus.NewDesc("etlq_snapshot_rows_estimated", "Estimated snapshot rows, per table.", []string{"source", "table"}, nil),
		purge:         prometheus.NewDesc("etlq_binlog_purge_seconds", "Seconds until the server may purge the binary log of the source's checkpoint (0: purged), per source whose server purges by age.", []string{"source"}, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.rowsIn, c.rowsOut, c.tombstones, c.filtered, c.rowErrs, c.deadLetters, c.batches, c.writeRetries, c.writeFailures,
		c.commits, c.lag, c.reconnects, c.snapDone, c.snapTotal, c.purge} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	names, ps := c.stats.Pipelines()
	for _, n := range names {
		p := ps[n]
		ch <- prometheus.MustNewConstMetric(c.rowsIn, prometheus.CounterValue, float64(p.RowsIn.Load()), n)
		ch <- prometheus.MustNewConstMetric(c.rowsOut, prometheus.CounterValue, float64(p.RowsOut.Load()), n)
		ch <- prometheus.MustNewConstMetric(c.tombstones, prometheus.CounterValue, float64(p.Tombstones.Load()), n)
		ch <- prometheus.MustNewConstMetric(c.filtered, prometheus.CounterValue, float64(p.RowsFiltered.Load()), n)
		ch <- prometheus.MustNewConstMetric(c.rowErrs, prometheus.CounterValue, float64(p.RowErrors.Load()), n)
		ch <- prometheus.MustNewConstMetric(c.deadLetters, prometheus.CounterValue, float64(p.DeadLetters.Load()), n)
		ch <- prometheus.MustNewConstMetric(c.batches, prometheus.CounterValue, float64(p.Batches.Load()), n)
		ch <- prometheus.MustNewConstMetric(c.writeRetries, prometheus.CounterValue, float64(p.WriteRetries()), n)
		ch <- prometheus.MustNewConstMetric(c.writeFailures, prometheus.CounterValue, float64(p.WriteFailures.Load()), n)
	}
	ch <- prometheus.MustNewConstMetric(c.commits, prometheus.CounterValue, float64(c.stats.Commits.Load()))
	for _, s := range c.stats.Sources() {
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, s.Lag, s.Source)
		ch <- prometheus.MustNewConstMetric(c.reconnects, prometheus.CounterValue, float64(s.Reconnects), s.Source)
		if s.PurgeKnown {
			ch <- prometheus.MustNewConstMetric(c.purge, prometheus.GaugeValue, s.PurgeIn, s.Source)
		}
		for _, p := range s.Progress {
			// Rows read only grow: a counter (a gauge hides resets and
			// gets no rate()).
			ch <- prometheus.MustNewConstMetric(c.snapDone, prometheus.CounterValue, float64(p.RowsDone), s.Source, p.Ref.String())
			if p.Estimated {
				// Not for a table this run does not snapshot (SNAPSHOT
				// never, or read before): 0 would be an empty table's.
				ch <- prometheus.MustNewConstMetric(c.snapTotal, prometheus.GaugeValue, float64(p.RowsTotal), s.Source, p.Ref.String())
			}
		}
	}
}

// Validate refuses a --memory-limit that is no size while kong parses the
// command line: usage and exit 80, as for any flag value etlq cannot take
// (README.md). It was found after the file was planned against the
// servers, and exited 1.
func (a *applyCmd) Validate() error {
	if _, err := parseMemoryLimit(a.MemoryLimit); err != nil {
		return err
	}
	return nil
}

// setMemoryLimit sets the Go runtime's soft memory limit, unless GOMEMLIMIT
// is set. The default keeps a catch-up of a large binlog window under 200 MiB
// of resident memory (docs/benchmarks.md): without it the heap may grow to
// twice its live size before a collection.
func setMemoryLimit(s string) error {
	n, err := parseMemoryLimit(s)
	if err != nil {
		return err
	}
	if os.Getenv("GOMEMLIMIT") != "" || n == 0 {
		return nil
	}
	debug.SetMemoryLimit(n)
	return nil
}

// parseMemoryLimit reads a --memory-limit: bytes, 0 for none.
func parseMemoryLimit(s string) (int64, error) {
	if s == "0" || s == "" {
		return 0, nil
	}
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n < 0 {
				break
			}
			return n * u.mult, nil
		}
	}
	return 0, fmt.Errorf("--memory-limit %q: want a size such as 160MiB or 2GiB", s)
}

// writeAllocProfile writes the allocations made since the start (go tool
// pprof -sample_index=alloc_space) to file.
func writeAllocProfile(file string, log *slog.Logger) {
	f, err := os.Create(file)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		log.Error("writing the allocation profile", "file", file, "err", err)
	}
}

// workerCheckpoint returns a checkpoint file of dir (or of its worker-N
// subdirectories) that an `apply --log` worker wrote, else "": a plain
// apply on such a directory found no checkpoint of its own with several
// workers, and snapshotted every table again into the workers' targets,
// or could not read the worker's with one.
func workerCheckpoint(dir string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "source-*.json"))
	more, _ := filepath.Glob(filepath.Join(dir, "worker-*", "source-*.json"))
	for _, f := range append(files, more...) {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var st struct {
			Mark json.RawMessage `json:"mark"`
		}
		if json.Unmarshal(data, &st) == nil && engine.WorkerMark(st.Mark) {
			return f
		}
	}
	return ""
}
