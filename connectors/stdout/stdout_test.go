package stdout_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/connectors/stdout"
)

// lockedBuffer is a buffer safe to read while the sink writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.b.Bytes()...)
}

func TestConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) (connectors.Sink, connectors.Target, sinktest.Reader) {
		buf := &lockedBuffer{}
		s := stdout.New(buf, false)
		return s, connectors.Target{}, func(t *testing.T) []map[string]any {
			rows, err := sinktest.DecodeJSONL(buf.Bytes(), sinktest.SinkSchema(sinktest.Columns(), false))
			if err != nil {
				t.Fatal(err)
			}
			return rows
		}
	})
}

func TestRegistered(t *testing.T) {
	if _, ok := connectors.SinkSpec("stdout"); !ok {
		t.Fatal("stdout is not registered")
	}
	if _, err := connectors.NewSink("stdout", "x", "somewhere", nil); err == nil {
		t.Error("a stdout target was accepted")
	}
}

func TestTableOnTerminal(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var buf bytes.Buffer
	s := stdout.New(&buf, true)
	schema := sinktest.SinkSchema(sinktest.Columns()[:2], false)
	w, err := s.Open(context.Background(), connectors.Target{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	b := sinktest.Build(mem, schema, "d", "t", []any{1, 2, uint64(1), uint8(0), "delete", nil, "p"})
	acked := 0
	if err := w.Write(context.Background(), b, func(err error) { acked++ }); err != nil {
		t.Fatal(err)
	}
	if acked != 1 {
		t.Fatalf("done called %d times before Write returned, want 1", acked)
	}
	out := buf.String()
	if strings.Contains(out, "_op") || strings.Contains(out, "delete") {
		t.Errorf("want the output columns only, got %q", out)
	}
	// With OpColumn (the REPL's queries) the op comes first, coloured.
	buf.Reset()
	s.OpColumn = true
	if w, err = s.Open(context.Background(), connectors.Target{Schema: schema}); err != nil {
		t.Fatal(err)
	}
	b = sinktest.Build(mem, schema, "d", "t", []any{1, 2, uint64(1), uint8(0), "delete", nil, "p"})
	if err := w.Write(context.Background(), b, func(error) {}); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.HasPrefix(out, " _op ") || !strings.Contains(out, "\x1b[31mdelete") {
		t.Errorf("want a table with a red delete, got %q", out)
	}
	if _, problems, err := s.Plan(context.Background(), connectors.Target{Format: "xml"}); err == nil || len(problems) != 0 {
		t.Errorf("want an error for format xml, got %v, %v", problems, err)
	}
}
