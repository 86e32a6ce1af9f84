package clickhouse

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
)

func kvSchema() *arrow.Schema {
	return sinktest.SinkSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true},
	}, false)
}

// TestRetryWhileUnreachable cuts the connection to ClickHouse under a
// writer: the write is held (done not called) and retried with back-off
// until the server is reachable again, then acknowledged; nothing is lost.
func TestRetryWhileUnreachable(t *testing.T) {
	logs := captureLogs(t)
	base := newEnv(t, nil)
	s, p := base.proxied(map[string]any{"dial_timeout": "500ms", "max_backoff": "200ms"})
	sch := kvSchema()
	tg := base.target("kv", connectors.ModeUpsert, []string{"id"}, sch, nil)
	w, err := s.Open(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var a acks
	write(t, w, base.build(sch, sysRow(1, false, "read", 1, "a")), a.done(0))
	flush(t, w)

	p.cut()
	write(t, w, base.build(sch, sysRow(2, false, "insert", 2, "b"), sysRow(3, false, "insert", 3, "c")), a.done(1))
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	err = w.Flush(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("flush while ClickHouse is away: %v, want a deadline", err)
	}
	if order, _ := a.snapshot(); len(order) != 1 {
		t.Fatalf("done called while ClickHouse is away: %v", order)
	}

	p.restore()
	flush(t, w)
	order, errs := a.snapshot()
	if len(order) != 2 || len(errs) != 0 {
		t.Fatalf("acks %v errs %v", order, errs)
	}
	if got := base.text("SELECT id, v FROM " + quote(base.db) + ".kv_current ORDER BY id"); got != "1\ta\n2\tb\n3\tc\n" {
		t.Errorf("got %q", got)
	}
	wantBack(t, logs, base.db+".kv")
}

// wantBack: after "clickhouse: insert failed, retrying", the log says the
// insert was written in the end — the WARNs were the last word before, and
// an operator who restarted ClickHouse under a running apply could not tell
// from the log that the target was back (found by the operator trial).
func wantBack(t *testing.T, logs *lockedBuffer, table string) {
	t.Helper()
	out := logs.String()
	failed := regexp.MustCompile(`msg="clickhouse: insert failed, retrying" table=` + regexp.QuoteMeta(table) + ` `)
	back := regexp.MustCompile(`msg="clickhouse: insert written after retrying" table=` + regexp.QuoteMeta(table) + ` .*attempts=(\d+)`)
	if !failed.MatchString(out) {
		t.Fatalf("no retry of %s logged:\n%s", table, out)
	}
	m := back.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the log does not say the insert into %s was written after the retries:\n%s", table, out)
	}
	if n, _ := strconv.Atoi(m[1]); n < 2 {
		t.Errorf("attempts=%s, want at least 2:\n%s", m[1], out)
	}
}

// lockedBuffer is a log's output, written by many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// captureLogs sends the default logger's lines to a buffer for the test.
func captureLogs(t *testing.T) *lockedBuffer {
	b := &lockedBuffer{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(b, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return b
}

// TestCoalesceAndFlushInterval: small writes become one insert, sent when
// flush_interval passes without a Flush.
func TestCoalesceAndFlushInterval(t *testing.T) {
	e := newEnv(t, nil)
	sch := kvSchema()
	w := e.open(e.target("kv", connectors.ModeAppend, nil, sch, map[string]any{"flush_interval": "300ms"}))
	var a acks
	start := time.Now()
	for i := 0; i < 20; i++ {
		write(t, w, e.build(sch, sysRow(uint64(i+1), false, "insert", i, "x")), a.done(i))
	}
	for {
		if order, _ := a.snapshot(); len(order) == 20 {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatal("flush_interval did not send the rows")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := w.(*writer).inserts.Load(); n != 1 {
		t.Errorf("%d inserts, want 1", n)
	}
	if got := e.text("SELECT count() FROM " + quote(e.db) + ".kv"); got != "20\n" {
		t.Errorf("got %q", got)
	}
}

// TestCloseFlushes: Close inserts what is pending; a second Close is a
// no-op and later writes are refused.
func TestCloseFlushes(t *testing.T) {
	e := newEnv(t, nil)
	sch := kvSchema()
	w := e.open(e.target("kv", connectors.ModeAppend, nil, sch, map[string]any{"flush_interval": "1h"}))
	var a acks
	write(t, w, e.build(sch, sysRow(1, false, "insert", 1, "x")), a.done(0))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if order, errs := a.snapshot(); len(order) != 1 || len(errs) != 0 {
		t.Errorf("acks %v errs %v", order, errs)
	}
	if got := e.text("SELECT count() FROM " + quote(e.db) + ".kv"); got != "1\n" {
		t.Errorf("got %q", got)
	}
	err := w.Write(context.Background(), e.build(sch, sysRow(2, false, "insert", 2, "y")), a.done(1))
	if err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("write after close: %v", err)
	}
}

// TestCloseGivesUpWhileUnreachable: with ClickHouse away, Close returns
// after close_timeout and fails what was not written.
func TestCloseGivesUpWhileUnreachable(t *testing.T) {
	base := newEnv(t, nil)
	s, p := base.proxied(map[string]any{"dial_timeout": "300ms", "max_backoff": "100ms", "close_timeout": "700ms"})
	sch := kvSchema()
	w, err := s.Open(context.Background(), base.target("kv", connectors.ModeAppend, nil, sch, nil))
	if err != nil {
		t.Fatal(err)
	}
	p.cut()
	var a acks
	write(t, w, base.build(sch, sysRow(1, false, "insert", 1, "x")), a.done(0))
	start := time.Now()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Close took %v", d)
	}
	if order, errs := a.snapshot(); len(order) != 1 || !errors.Is(errs[0], errClosed) {
		t.Errorf("acks %v errs %v", order, errs)
	}
}

func TestConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) (connectors.Sink, connectors.Target, sinktest.Reader) {
		e := newEnv(t, nil)
		tg := connectors.Target{Pipeline: "p", Name: e.db + ".conf"}
		return e.sink, tg, func(t *testing.T) []map[string]any { return e.readAll(t, "conf") }
	})
}
