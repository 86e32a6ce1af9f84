package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/exec/engine"
)

// blocker makes writers that take no write until one of them is closed:
// a ClickHouse that is unreachable, whose writer retries its inserts and
// blocks the next Write meanwhile.
type blocker struct {
	once        sync.Once
	blockedOnce sync.Once
	blocked     chan struct{} // closed when a Write blocks
	closed      chan struct{} // closed by the first Close
}

func newBlocker() *blocker {
	return &blocker{blocked: make(chan struct{}), closed: make(chan struct{})}
}

// wrap makes w block.
func (k *blocker) wrap(w connectors.Writer) connectors.Writer {
	return &blockingWriter{Writer: w, k: k}
}

// blockingSink's writers all block.
type blockingSink struct {
	*sink
	*blocker
}

func (s *blockingSink) Open(ctx context.Context, t connectors.Target) (connectors.Writer, error) {
	w, err := s.sink.Open(ctx, t)
	if err != nil {
		return nil, err
	}
	return s.wrap(w), nil
}

type blockingWriter struct {
	connectors.Writer
	k    *blocker
	shut sync.Once
}

func (w *blockingWriter) Write(ctx context.Context, b *exec.Batch, done func(error)) error {
	defer b.Release()
	w.k.blockedOnce.Do(func() { close(w.k.blocked) })
	<-w.k.closed // (not ctx: the writer's own retries ignore the run's)
	return context.Canceled
}

func (w *blockingWriter) Flush(ctx context.Context) error {
	select {
	case <-w.k.closed:
		return context.Canceled
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *blockingWriter) Close() error {
	w.shut.Do(func() {
		w.k.once.Do(func() { close(w.k.closed) })
	})
	return nil
}

// TestStopWhileSinkUnreachable: apply stopped (SIGTERM) while its sink
// takes no write (ClickHouse down, inserts retried) ends once the drain
// time is over: the writers are closed, the run returns an error, and the
// checkpoint stays at the last acknowledged mark. It waited for the
// outbox to settle before the drain's timeout began, for ever: the
// process did not end on SIGTERM while ClickHouse was down.
func TestStopWhileSinkUnreachable(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), upsertPipeline)
	e.src.add("orders", ins(1, "new", 1))
	k := newBlocker()
	// …with an error, so that etlq's exit status is not 0 (it was: the
	// WARN alone said that writes were left).
	stopBlocked(t, e, &blockingSink{sink: e.snk, blocker: k}, k, "")
}

// stopBlocked runs the plan over sink snk until one of k's writers
// blocks, then stops the run (SIGTERM): the run must end once the drain
// time is over, with the writes not acknowledged named, its checkpoint
// at cp ("": none).
func stopBlocked(t *testing.T, e *env, snk connectors.Sink, k *blocker, cp string) {
	t.Helper()
	o := e.opts(false)
	o.Sinks = map[string]connectors.Sink{"dw": snk}
	o.DrainTimeout = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- engine.Run(ctx, e.plan, o) }()
	select {
	case <-k.blocked:
	case err := <-done:
		t.Fatalf("the run ended (%v) before a write blocked", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no write blocked")
	}
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "stopped before the sinks acknowledged every write") {
			t.Errorf("the run ended with %v, want the writes not acknowledged named", err)
		}
	case <-time.After(30 * time.Second): // (a hang detector, far above the drain time)
		t.Fatal("the stopped run did not end while its sink took no write")
	}
	if got := e.checkpoint(); got != cp {
		t.Errorf("checkpoint %q, want %q: past a write never acknowledged", got, cp)
	}
}

// blockingCopySink is the sink with copies whose writers block when
// block says so (n: how many writers of the target were opened before).
type blockingCopySink struct {
	*rcSink
	k     *blocker
	block func(t connectors.Target, n int) bool
	mu    sync.Mutex
	opens map[string]int
}

func newBlockingCopySink(e *env, block func(t connectors.Target, n int) bool) *blockingCopySink {
	return &blockingCopySink{rcSink: &rcSink{sink: e.snk}, k: newBlocker(), block: block, opens: map[string]int{}}
}

func (s *blockingCopySink) Open(ctx context.Context, t connectors.Target) (connectors.Writer, error) {
	w, err := s.rcSink.Open(ctx, t)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	n := s.opens[t.Name]
	s.opens[t.Name]++
	s.mu.Unlock()
	if s.block(t, n) {
		return s.k.wrap(w), nil
	}
	return w, nil
}

const rowCopyPipeline = `CREATE PIPELINE up
  FROM binlog shop.shopdb.orders
  TRANSFORM id, status
  INTO clickhouse dw.analytics.up MODE upsert KEY (id);
`

// TestStopDuringRowCopyWhileSinkUnreachable: stopped while the writer of
// an online schema change's copy target takes no write, the run ends once
// the drain time is over, as with the pipeline's own writer: the copy's
// writer is closed too, the run fails, and the checkpoint is before the
// copy's rows. It waited for the copy's writer for ever (the stop closed
// the pipelines' writers only).
func TestStopDuringRowCopyWhileSinkUnreachable(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), rowCopyPipeline)
	e.src.add("orders", ins(1, "a", int64(1))).
		addCopy(exec.RowCopyStart).
		addCopy(exec.RowCopyRows, ins(1, "a", int64(1)), ins(2, "b", int64(1)))
	snk := newBlockingCopySink(e, func(t connectors.Target, _ int) bool { return strings.HasSuffix(t.Name, "__etlq_copy") })
	stopBlocked(t, e, snk, snk.k, `{"pos":2}`) // (the copy's start)
}

// TestStopAfterSwapWhileSinkUnreachable: the writer a cut-over opens
// again on the swapped target (rowcopy.go, swapIn) is closed by a stop
// whose drain time is over, as the writer it replaced would have been.
func TestStopAfterSwapWhileSinkUnreachable(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), rowCopyPipeline)
	e.src.add("orders", ins(1, "a", int64(1))).
		addCopy(exec.RowCopyStart).
		addCopy(exec.RowCopyRows, ins(1, "a", int64(1))).
		addCopy(exec.RowCopySwap).
		add("orders", ins(2, "b", int64(1)))
	snk := newBlockingCopySink(e, func(t connectors.Target, n int) bool { return t.Name == "analytics.up" && n > 0 })
	stopBlocked(t, e, snk, snk.k, `{"pos":4}`) // (the cut-over)
	if snk.swaps != 1 {
		t.Errorf("%d swaps, want 1", snk.swaps)
	}
}

// TestStopWhileDeadLetterTargetUnreachable: a dead-letter target's writer
// that takes no write holds the batch whose rows it keeps; a stop closes
// it once the drain time is over, as the pipelines' writers.
func TestStopWhileDeadLetterTargetUnreachable(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), deadLetterTargetPipeline)
	e.src.add("orders", ins(1, "new", 1), ins(2, "new", 0))
	snk := newBlockingCopySink(e, func(t connectors.Target, _ int) bool { return t.Name == "analytics.orders_dead" })
	stopBlocked(t, e, snk, snk.k, "")
}

// refusingSink's writers hold every write until a Flush, which fails
// them, and itself, with an error that wraps context.Canceled: the HTTP
// writer's, whose endpoint is down, stopped while it retries.
type refusingSink struct {
	*sink
	held chan struct{} // closed when a write is held
	once sync.Once
}

func (s *refusingSink) Open(ctx context.Context, t connectors.Target) (connectors.Writer, error) {
	w, err := s.sink.Open(ctx, t)
	if err != nil {
		return nil, err
	}
	return &refusingWriter{Writer: w, s: s}, nil
}

type refusingWriter struct {
	connectors.Writer
	s    *refusingSink
	mu   sync.Mutex
	done []func(error)
}

func (w *refusingWriter) Write(ctx context.Context, b *exec.Batch, done func(error)) error {
	b.Release()
	w.mu.Lock()
	w.done = append(w.done, done)
	w.mu.Unlock()
	w.s.once.Do(func() { close(w.s.held) })
	return nil
}

func (w *refusingWriter) Flush(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.done) == 0 {
		return nil
	}
	err := fmt.Errorf("http POST to http://127.0.0.1:1/: connection refused (writer closed while retrying): %w", context.Canceled)
	for _, d := range w.done {
		d(err)
	}
	w.done = nil
	return err
}

// TestStopWhileFlushFails: stopped while a write is held, the flush
// failing it (before the drain time is over: no writer is closed) ends
// the run with the writes not acknowledged named, and the checkpoint
// before them. The flush's error wraps context.Canceled: the run took it
// for a clean stop, and etlq exited 0 (the notify trial: 1 run of 6 with
// an HTTP endpoint down, when the flush's time ran out before the
// watcher's WARN).
func TestStopWhileFlushFails(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), upsertPipeline)
	e.src.add("orders", ins(1, "new", 1))
	snk := &refusingSink{sink: e.snk, held: make(chan struct{})}
	o := e.opts(false)
	o.Sinks = map[string]connectors.Sink{"dw": snk}
	o.DrainTimeout = time.Hour // (the watcher never closes the writers)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- engine.Run(ctx, e.plan, o) }()
	select {
	case <-snk.held:
	case err := <-done:
		t.Fatalf("the run ended (%v) before a write was held", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no write was held")
	}
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "stopped before the sinks acknowledged every write (pipeline ") {
			t.Errorf("the run ended with %v, want the writes not acknowledged named", err)
		} else if errors.Is(err, context.Canceled) {
			t.Errorf("the run's error %v wraps context.Canceled: a clean stop for apply", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stopped run did not end")
	}
	if got := e.checkpoint(); got != "" {
		t.Errorf("checkpoint %q, want none: past a write never acknowledged", got)
	}
}
