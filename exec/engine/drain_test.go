package engine_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/exec/engine"
)

// blockingSink's writers take no write until closed: a ClickHouse that
// is unreachable, whose writer retries its inserts and blocks the next
// Write meanwhile.
type blockingSink struct {
	*sink
	once    sync.Once
	blocked chan struct{} // closed when a Write blocks
	closed  chan struct{} // closed by the first Close
}

func (s *blockingSink) Open(ctx context.Context, t connectors.Target) (connectors.Writer, error) {
	w, err := s.sink.Open(ctx, t)
	if err != nil {
		return nil, err
	}
	return &blockingWriter{Writer: w, s: s}, nil
}

type blockingWriter struct {
	connectors.Writer
	s    *blockingSink
	shut sync.Once
}

func (w *blockingWriter) Write(ctx context.Context, b *exec.Batch, done func(error)) error {
	defer b.Release()
	select {
	case <-w.s.blocked:
	default:
		close(w.s.blocked)
	}
	<-w.s.closed // (not ctx: the writer's own retries ignore the run's)
	return context.Canceled
}

func (w *blockingWriter) Flush(ctx context.Context) error {
	select {
	case <-w.s.closed:
		return context.Canceled
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *blockingWriter) Close() error {
	w.shut.Do(func() {
		w.s.once.Do(func() { close(w.s.closed) })
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
	snk := &blockingSink{sink: e.snk, blocked: make(chan struct{}), closed: make(chan struct{})}
	o := e.opts(false)
	o.Sinks = map[string]connectors.Sink{"dw": snk}
	o.DrainTimeout = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- engine.Run(ctx, e.plan, o) }()
	<-snk.blocked
	cancel()
	select {
	case err := <-done:
		// …with an error, so that etlq's exit status is not 0 (it was:
		// the WARN alone said that writes were left).
		if err == nil || !strings.Contains(err.Error(), "stopped before the sinks acknowledged every write") {
			t.Errorf("the run ended with %v, want the writes not acknowledged named", err)
		}
	case <-time.After(2 * time.Minute): // (a hang detector, far above the drain time)
		t.Fatal("the stopped run did not end while its sink took no write")
	}
	if cp := e.checkpoint(); cp != "" && cp != `{"pos":0}` {
		t.Errorf("checkpoint %s: past a write never acknowledged", cp)
	}
}
