package repl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/etlq/etlq/cmd/etlq/internal/etlfile"
	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/stdout"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/exec/engine"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

// query runs a FROM … query: planned by planner.BuildQuery, run by the
// engine with a throw-away state directory (the user's checkpoints are
// never touched), printing rows as a table as they arrive, until LIMIT
// rows were printed, Ctrl-C or an error.
func (r *repl) query(ctx context.Context, text string, q *lang.Query) error {
	src, err := r.querySource(text, q)
	if err != nil {
		return err
	}
	plan, err := planner.BuildQuery(ctx, q, streamSource(src), r.cat, r.funcs...)
	if err != nil {
		return etlfile.FormatErr(err, []byte(text))
	}
	limit := -1
	if q.Limit != nil {
		limit = *q.Limit
	}
	if limit == 0 {
		fmt.Fprintln(r.out, "(0 rows)")
		return nil
	}
	dir, err := os.MkdirTemp("", "etlq-repl-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	qctx, stop := context.WithCancel(ctx)
	defer stop()
	// Rows wait for the note that the stream is open, so that it comes
	// before them.
	opened := make(chan struct{})
	out := stdout.New(r.out, r.color)
	out.OpColumn = true // the table shows the op unless the query selects _op
	sink := &limitSink{inner: out, left: limit, reached: stop, ready: opened}
	sinks := map[string]connectors.Sink{}
	for _, d := range plan.Sinks {
		sinks[d.Name] = sink
	}
	stats := engine.NewStats()
	go func() {
		// Say so once the stream is open: from then on every commit shows.
		defer close(opened)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for len(stats.Sources()) == 0 {
			select {
			case <-qctx.Done():
				return
			case <-tick.C:
			}
		}
		fmt.Fprintf(r.errw, "-- %s (Ctrl-C stops)\n", queryNote(plan.Pipelines[0]))
	}()
	log := slog.New(warnHandler(r.errw))
	// A source logs through slog's default logger (apply sets it from
	// --log-format); during a query it is this one, warnings only: the
	// source's INFO lines (a schema change, a table joining) came between
	// the rows. One query runs at a time.
	prev := slog.Default()
	slog.SetDefault(log)
	defer slog.SetDefault(prev)
	err = engine.Run(qctx, plan, engine.Options{StateDir: dir, Log: log, Stats: stats, Sinks: sinks})
	stop()
	<-opened
	n := sink.printed()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(r.out, "(%s)\n", etlfile.Plural(int(n), "row"))
		// A query has no file to fix, no apply to run again and no
		// checkpoint to resume from (its own is deleted now): what
		// stopped it is all there is to say.
		if ps := (*engine.PipelineStop)(nil); errors.As(err, &ps) && ps.Cause != nil {
			return stoppedErr(ps.Cause, text)
		}
		return err
	}
	if ctx.Err() != nil {
		fmt.Fprintf(r.out, "(%s, stopped)\n", etlfile.Plural(int(n), "row"))
	} else {
		fmt.Fprintf(r.out, "(%s)\n", etlfile.Plural(int(n), "row"))
	}
	return nil
}

// stoppedErr is the error of a query that cause stopped. A cause at a
// place of the statement (a DDL dropped the column its WHERE reads: "…
// changed while streaming: repl:1:33: unknown column …") is shown as the
// REPL's other errors are, its position first, then the statement and a
// caret under the place.
func stoppedErr(cause error, text string) error {
	var at *lang.Error
	if errs := (lang.Errors)(nil); errors.As(cause, &errs) && len(errs) > 0 {
		at = errs[0]
	} else if !errors.As(cause, &at) {
		return fmt.Errorf("query stopped: %w", cause)
	}
	msg := strings.Replace(cause.Error(), at.Error(), at.Msg, 1)
	e := &lang.Error{Pos: at.Pos, EndPos: at.EndPos, Msg: "query stopped: " + msg}
	return etlfile.Error{Text: lang.Errors{e}.Format(lang.MaskSecrets([]byte(text)))}
}

// streamSource is d with a replication server_id of its own: a MySQL
// server drops a replica connection when another one comes with the same
// id, so a query must not borrow the id of the source's pipelines (given in
// the file, or derived from the source name), which may be running in
// `etlq apply` right now. Derived ids are below 2^31; these are above.
// Its start_at is dropped: it says where apply begins without a
// checkpoint, and a query shows the changes from now on (with start_at =
// 'earliest' it showed the whole binary log under "changes from now on").
func streamSource(d *planner.SourceDecl) *planner.SourceDecl {
	if d == nil {
		return d
	}
	// A kind whose spec has a server_id option (mysql) connects as a replica.
	spec, ok := connectors.SourceSpec(d.Kind)
	if !ok {
		return d
	}
	if _, ok := spec.Lookup("server_id"); !ok {
		return d
	}
	c := *d
	c.Options = make(map[string]any, len(d.Options)+1)
	for k, v := range d.Options {
		if !strings.EqualFold(k, "start_at") {
			c.Options[k] = v
		}
	}
	c.Options["server_id"] = int64(1<<31 + rand.Int64N(1<<31-1))
	return &c
}

// queryNote says what a running query shows.
func queryNote(p *planner.Pipeline) string {
	var tables []string
	for _, t := range p.Tables {
		tables = append(tables, t.Ref.String())
	}
	from := "changes from now on"
	switch p.Snapshot {
	case connectors.SnapshotInitial:
		from = "the rows, then the changes"
	case connectors.SnapshotOnly:
		from = "the rows"
	}
	return strings.Join(tables, ", ") + ": " + from
}

// querySource picks the source a query reads: the one it names
// (source.database.table), else the only one the session knows.
func (r *repl) querySource(text string, q *lang.Query) (*planner.SourceDecl, error) {
	srcs := r.sources()
	t := q.From[0]
	if len(t.Parts) == 3 {
		if d := r.sourceNamed(t.Parts[0].Name); d != nil {
			return d, nil
		}
		return nil, nodeError(text, t.Parts[0], "unknown source %q (sources: %s)", t.Parts[0].Name, orNone(sourceNames(r.allSources())))
	}
	if len(srcs) > 1 {
		return nil, nodeError(text, t, "several sources are known (%s): write source.database.table", sourceNames(srcs))
	}
	if len(srcs) == 0 {
		return nil, nil // BuildQuery says what to do
	}
	return srcs[0], nil
}

// nodeError is an error at an AST node of a REPL statement, formatted with
// the statement and a caret.
func nodeError(text string, n lang.Node, format string, args ...any) error {
	e := &lang.Error{Pos: n.Position(), EndPos: n.EndPosition(), Msg: fmt.Sprintf(format, args...)}
	return etlfile.Error{Text: lang.Errors{e}.Format([]byte(text))}
}

// limitSink passes batches to a sink until left rows went through, then
// calls reached; later batches are dropped (and acknowledged). left < 0
// means no limit. A batch waits until ready (when not nil) is closed.
type limitSink struct {
	inner   connectors.Sink
	reached func()
	ready   <-chan struct{}

	mu   sync.Mutex
	left int
	n    int64
}

var _ connectors.Sink = (*limitSink)(nil)

func (s *limitSink) Plan(ctx context.Context, t connectors.Target) ([]string, []connectors.Problem, error) {
	return s.inner.Plan(ctx, t)
}

func (s *limitSink) Open(ctx context.Context, t connectors.Target) (connectors.Writer, error) {
	w, err := s.inner.Open(ctx, t)
	if err != nil {
		return nil, err
	}
	return &limitWriter{s: s, w: w}, nil
}

func (s *limitSink) Close() error { return s.inner.Close() }

// printed is the number of rows passed on.
func (s *limitSink) printed() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

type limitWriter struct {
	s *limitSink
	w connectors.Writer
}

// Write passes on at most the rows still allowed: a batch with more live
// rows keeps its first ones (through its selection vector).
func (l *limitWriter) Write(ctx context.Context, b *exec.Batch, done func(error)) error {
	s := l.s
	if s.ready != nil {
		select {
		case <-s.ready:
		case <-ctx.Done():
			b.Release()
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.left == 0 {
		b.Release()
		done(nil)
		return nil
	}
	n := b.NumRows()
	if s.left > 0 && n > s.left {
		keep(b, s.left)
		n = s.left
	}
	if s.left > 0 {
		s.left -= n
	}
	s.n += int64(n)
	err := l.w.Write(ctx, b, done)
	if s.left == 0 {
		s.reached()
	}
	return err
}

// keep leaves only the first n live rows of b.
func keep(b *exec.Batch, n int) {
	if b.Sel != nil {
		b.Sel = b.Sel[:n]
		return
	}
	sel := make([]int32, n)
	for i := range sel {
		sel[i] = int32(i)
	}
	b.Sel = sel
}

func (l *limitWriter) Flush(ctx context.Context) error { return l.w.Flush(ctx) }
func (l *limitWriter) Close() error                    { return l.w.Close() }
