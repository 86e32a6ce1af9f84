package engine_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/exec/engine"
)

// rcSink is the in-memory sink with copies (connectors.RowCopier): the
// copy of target x is the writer x__etlq_copy; a swap moves it to x.
type rcSink struct {
	*sink
	swaps, drops int
	swapErr      error // what SwapCopy fails with, when set
}

func targetTable(t connectors.Target) string { return t.Name[strings.LastIndex(t.Name, ".")+1:] }

func (s *rcSink) CanCopy(connectors.Target) string { return "" }

func (s *rcSink) CopyTarget(t connectors.Target) connectors.Target {
	t.Name += "__etlq_copy"
	return t
}

func (s *rcSink) DropCopy(_ context.Context, t connectors.Target) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.writers, targetTable(t)+"__etlq_copy")
	s.drops++
	return nil
}

func (s *rcSink) CopyExists(_ context.Context, t connectors.Target) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.writers[targetTable(t)+"__etlq_copy"]
	return ok, nil
}

func (s *rcSink) SwapCopy(_ context.Context, t connectors.Target) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.swapErr != nil {
		return s.swapErr
	}
	name := targetTable(t)
	if c, ok := s.writers[name+"__etlq_copy"]; ok {
		s.writers[name] = c
		delete(s.writers, name+"__etlq_copy")
		s.swaps++
	}
	return nil
}

// Open keeps what the table holds when a writer of it is opened again.
func (s *rcSink) Open(ctx context.Context, t connectors.Target) (connectors.Writer, error) {
	s.mu.Lock()
	old := s.writers[targetTable(t)]
	s.mu.Unlock()
	w, err := s.sink.Open(ctx, t)
	if err == nil && old != nil {
		s.mu.Lock()
		s.writers[targetTable(t)].got = old.got
		s.mu.Unlock()
	}
	return w, err
}

// addCopy appends a batch of the tool's copy _orders_gho of orders.
func (s *source) addCopy(step exec.RowCopyStep, changes ...change) *source {
	s.pos++
	pos := s.pos
	first := s.version
	s.version += uint64(len(changes))
	s.script = append(s.script, item{b: func(mem memory.Allocator) *exec.Batch {
		b := sourceBatch(mem, "_orders_gho", pos, first, nil, changes...)
		b.RowCopy = &exec.RowCopy{Of: "orders", Step: step}
		return b
	}})
	return s
}

// TestRunRowCopy: an upsert pipeline of one table takes an online schema
// change's copy as rows: into the copy target from its start, swapped in
// at the cut-over (the table's own rows before it are gone with the old
// table), then the table's rows again into the target. The request asks
// for the row copy; the swap is noted in the state directory.
func TestRunRowCopy(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE up
  FROM binlog shop.shopdb.orders
  TRANSFORM id, status
  INTO clickhouse dw.analytics.up MODE upsert KEY (id);
`)
	rc := &rcSink{sink: e.snk}
	e.src.add("orders", ins(1, "a", int64(1)), ins(2, "b", int64(1))).
		addCopy(exec.RowCopyStart).
		add("orders", upd(1, "a2", int64(1), 1)).
		addCopy(exec.RowCopyRows, ins(1, "a2", int64(1)), ins(2, "b", int64(1))).
		add("orders", del(2, "b", int64(1))).
		addCopy(exec.RowCopyRows, del(2, "b", int64(1))).
		addCopy(exec.RowCopySwap).
		add("orders", ins(3, "c", int64(1)))
	o := e.opts(true)
	o.Sinks = map[string]connectors.Sink{"dw": rc}
	if err := engine.Run(context.Background(), e.plan, o); err != nil {
		t.Fatal(err)
	}
	if len(e.src.reqs) != 1 || len(e.src.reqs[0].Tables) != 1 || !e.src.reqs[0].Tables[0].RowCopy || e.src.reqs[0].Tables[0].CopySwapped {
		t.Fatalf("request: %+v", e.src.reqs)
	}
	if rc.swaps != 1 || rc.drops != 1 {
		t.Errorf("swaps %d, drops %d", rc.swaps, rc.drops)
	}
	equal(t, "target rows", rc.rows("up", "id", "status", exec.SysDeleted), []string{"1 a2 0", "2 b 0", "2 b 1", "3 c 0"})
	if _, ok := rc.writers["up__etlq_copy"]; ok {
		t.Errorf("the copy target is left")
	}
	if _, err := os.Stat(filepath.Join(e.dir, "rowcopy", "up.swap")); err != nil {
		t.Errorf("swap file: %v", err)
	}
	if got := e.checkpoint(); got != `{"pos":8}` {
		t.Errorf("checkpoint %q", got)
	}
}

// TestRunRowCopySwapFailsWithEOF: the swap fails with an error that
// wraps io.EOF (ClickHouse unreachable: "read: EOF" under the RENAME):
// the run stops with that error. Before, it was taken for the stream's
// end: the run ended as done, exit 0, with the swap not made.
func TestRunRowCopySwapFailsWithEOF(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE up
  FROM binlog shop.shopdb.orders
  TRANSFORM id, status
  INTO clickhouse dw.analytics.up MODE upsert KEY (id);
`)
	rc := &rcSink{sink: e.snk, swapErr: fmt.Errorf("failed to read packet: %w", io.EOF)}
	e.src.add("orders", ins(1, "a", int64(1))).
		addCopy(exec.RowCopyStart).
		addCopy(exec.RowCopyRows, ins(1, "a2", int64(1))).
		addCopy(exec.RowCopySwap).
		add("orders", ins(3, "c", int64(1)))
	o := e.opts(true)
	o.Sinks = map[string]connectors.Sink{"dw": rc}
	err := engine.Run(context.Background(), e.plan, o)
	if err == nil || !strings.Contains(err.Error(), "failed to read packet: EOF") {
		t.Fatalf("run: %v, want the swap's error", err)
	}
}

// TestRunRowCopyRefused: a table another pipeline writes with other
// tables, or into an append target, is not asked for a row copy.
func TestRunRowCopyRefused(t *testing.T) {
	for name, etl := range map[string]string{
		"append": `CREATE PIPELINE up FROM binlog shop.shopdb.orders TRANSFORM id, status INTO clickhouse dw.analytics.up MODE upsert KEY (id);
CREATE PIPELINE log FROM binlog shop.shopdb.orders TRANSFORM id, status INTO clickhouse dw.analytics.log MODE append;
`,
		"pattern": `CREATE PIPELINE up FROM binlog shop.shopdb.orders* TRANSFORM _table, id, status INTO clickhouse dw.analytics.up MODE upsert KEY (_table, id);
`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, newCatalog(t, "orders", "orders_2024"), etl)
			o := e.opts(true)
			o.Sinks = map[string]connectors.Sink{"dw": &rcSink{sink: e.snk}}
			if err := engine.Run(context.Background(), e.plan, o); err != nil {
				t.Fatal(err)
			}
			for _, rt := range e.src.reqs[0].Tables {
				if rt.RowCopy {
					t.Errorf("%s asked for a row copy", rt.Ref)
				}
			}
		})
	}
}

// TestRunRowCopySwapped: a state directory whose swap file says the copy
// was swapped in, with the copy target gone, asks the stream not to send
// the table's rows up to the cut-over again; with the copy target still
// there (stopped before the RENAME), it does not.
func TestRunRowCopySwapped(t *testing.T) {
	for _, copyLeft := range []bool{false, true} {
		e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE up FROM binlog shop.shopdb.orders TRANSFORM id, status INTO clickhouse dw.analytics.up MODE upsert KEY (id);
`)
		rc := &rcSink{sink: e.snk}
		if copyLeft {
			rc.writers["up__etlq_copy"] = &writer{s: e.snk, name: "up__etlq_copy"}
		}
		if err := os.MkdirAll(filepath.Join(e.dir, "rowcopy"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(e.dir, "rowcopy", "up.swap"), []byte("shopdb.orders\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		o := e.opts(true)
		o.Sinks = map[string]connectors.Sink{"dw": rc}
		if err := engine.Run(context.Background(), e.plan, o); err != nil {
			t.Fatal(err)
		}
		if rt := e.src.reqs[0].Tables[0]; !rt.RowCopy || rt.CopySwapped == copyLeft {
			t.Errorf("copy target left %v: request %+v", copyLeft, rt)
		}
	}
}

// TestRunRowCopyTwoTargets: two pipelines reading the table alone into
// two upsert targets each keep and swap their own copy.
func TestRunRowCopyTwoTargets(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE a FROM binlog shop.shopdb.orders TRANSFORM id, status INTO clickhouse dw.analytics.a MODE upsert KEY (id);
CREATE PIPELINE b FROM binlog shop.shopdb.orders TRANSFORM id INTO clickhouse dw.analytics.b MODE upsert KEY (id);
`)
	rc := &rcSink{sink: e.snk}
	e.src.add("orders", ins(1, "a", int64(1))).
		addCopy(exec.RowCopyStart).
		addCopy(exec.RowCopyRows, ins(1, "a", int64(1)), ins(5, "e", int64(1))).
		addCopy(exec.RowCopySwap).
		add("orders", ins(3, "c", int64(1)))
	o := e.opts(true)
	o.Sinks = map[string]connectors.Sink{"dw": rc}
	if err := engine.Run(context.Background(), e.plan, o); err != nil {
		t.Fatal(err)
	}
	if !e.src.reqs[0].Tables[0].RowCopy || rc.swaps != 2 {
		t.Errorf("request %+v, swaps %d", e.src.reqs[0].Tables[0], rc.swaps)
	}
	equal(t, "a", rc.rows("a", "id", "status"), []string{"1 a", "5 e", "3 c"})
	equal(t, "b", rc.rows("b", "id"), []string{"1", "5", "3"})
}

// TestRunRowCopyDrop: a copy the tool gives up (the source's drop step)
// has its copy target dropped there; the target keeps the table's rows.
func TestRunRowCopyDrop(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE up FROM binlog shop.shopdb.orders TRANSFORM id, status INTO clickhouse dw.analytics.up MODE upsert KEY (id);
`)
	rc := &rcSink{sink: e.snk}
	e.src.add("orders", ins(1, "a", int64(1))).
		addCopy(exec.RowCopyStart).
		addCopy(exec.RowCopyRows, ins(1, "a", int64(1))).
		addCopy(exec.RowCopyDrop).
		add("orders", ins(3, "c", int64(1)))
	o := e.opts(true)
	o.Sinks = map[string]connectors.Sink{"dw": rc}
	if err := engine.Run(context.Background(), e.plan, o); err != nil {
		t.Fatal(err)
	}
	if _, ok := rc.writers["up__etlq_copy"]; ok || rc.drops != 2 || rc.swaps != 0 {
		t.Errorf("copy target left %v, drops %d, swaps %d", ok, rc.drops, rc.swaps)
	}
	equal(t, "target rows", rc.rows("up", "id", "status"), []string{"1 a", "3 c"})
}

// TestRunRowCopyPartialSwap: a stop between two pipelines' swaps (a's
// swap file with its copy gone, b's swap file with its copy still there):
// no row copy is asked for, and b's swap file and copy are removed so
// that the next start decides the same; a's swap file stays.
func TestRunRowCopyPartialSwap(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE a FROM binlog shop.shopdb.orders TRANSFORM id, status INTO clickhouse dw.analytics.a MODE upsert KEY (id);
CREATE PIPELINE b FROM binlog shop.shopdb.orders TRANSFORM id INTO clickhouse dw.analytics.b MODE upsert KEY (id);
`)
	rc := &rcSink{sink: e.snk}
	rc.writers["b__etlq_copy"] = &writer{s: e.snk, name: "b__etlq_copy"}
	dir := filepath.Join(e.dir, "rowcopy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a", "b"} {
		if err := os.WriteFile(filepath.Join(dir, p+".swap"), []byte("shopdb.orders\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o := e.opts(true)
	o.Sinks = map[string]connectors.Sink{"dw": rc}
	if err := engine.Run(context.Background(), e.plan, o); err != nil {
		t.Fatal(err)
	}
	if rt := e.src.reqs[0].Tables[0]; rt.RowCopy || rt.CopySwapped {
		t.Errorf("request %+v", rt)
	}
	if _, ok := rc.writers["b__etlq_copy"]; ok {
		t.Errorf("b's copy target is left")
	}
	if _, err := os.Stat(filepath.Join(dir, "b.swap")); !os.IsNotExist(err) {
		t.Errorf("b's swap file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.swap")); err != nil {
		t.Errorf("a's swap file: %v", err)
	}
}

// addCopyAt is addCopy of a step that names the source's position at.
func (s *source) addCopyAt(step exec.RowCopyStep, table, at string) *source {
	s.pos++
	pos := s.pos
	s.script = append(s.script, item{b: func(mem memory.Allocator) *exec.Batch {
		b := sourceBatch(mem, table, pos, s.version, nil)
		b.RowCopy = &exec.RowCopy{Of: "orders", Step: step, At: at}
		return b
	}})
	return s
}

// writeSwapFiles writes the swap files of pipelines ps with text.
func writeSwapFiles(t *testing.T, dir, text string, ps ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "rowcopy"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := os.WriteFile(filepath.Join(dir, "rowcopy", p+".swap"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRunRowCopySwapForgotten: the swap file notes the swap's position,
// and goes once a checkpoint covers the swap.
func TestRunRowCopySwapForgotten(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE up FROM binlog shop.shopdb.orders TRANSFORM id, status INTO clickhouse dw.analytics.up MODE upsert KEY (id);
`)
	rc := &rcSink{sink: e.snk}
	e.src.add("orders", ins(1, "a", int64(1))).
		addCopy(exec.RowCopyStart).
		addCopy(exec.RowCopyRows, ins(1, "a", int64(1))).
		addCopyAt(exec.RowCopySwap, "_orders_gho", "b.000001:700").
		add("orders", ins(3, "c", int64(1)))
	o := e.opts(true)
	o.Sinks = map[string]connectors.Sink{"dw": rc}
	if err := engine.Run(context.Background(), e.plan, o); err != nil {
		t.Fatal(err)
	}
	if rc.swaps != 1 {
		t.Errorf("swaps %d", rc.swaps)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "rowcopy", "up.swap")); !os.IsNotExist(err) {
		t.Errorf("the swap file is left after the checkpoint passed the swap: %v", err)
	}
}

// TestRunRebuildSwapped: every pipeline's swap file of a rebuild (the
// copy of the table itself) at one position asks the stream to skip to
// it, whether the copies were renamed or not; a file of one pipeline
// only (stopped before the other noted it, no RENAME made) does not.
func TestRunRebuildSwapped(t *testing.T) {
	for _, both := range []bool{true, false} {
		e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE a FROM binlog shop.shopdb.orders TRANSFORM id, status INTO clickhouse dw.analytics.a MODE upsert KEY (id);
CREATE PIPELINE b FROM binlog shop.shopdb.orders TRANSFORM id INTO clickhouse dw.analytics.b MODE upsert KEY (id);
`)
		rc := &rcSink{sink: e.snk}
		rc.writers["b__etlq_copy"] = &writer{s: e.snk, name: "b__etlq_copy"}
		ps := []string{"a"}
		if both {
			ps = append(ps, "b")
		}
		writeSwapFiles(t, e.dir, "shopdb.orders\nb.000001:700\nrebuild\n", ps...)
		o := e.opts(true)
		o.Sinks = map[string]connectors.Sink{"dw": rc}
		if err := engine.Run(context.Background(), e.plan, o); err != nil {
			t.Fatal(err)
		}
		rt := e.src.reqs[0].Tables[0]
		if !rt.RowCopy || rt.CopySwapped || (rt.SwappedAt == "b.000001:700") != both || rt.Rebuilt != both {
			t.Errorf("files of %v: request %+v", ps, rt)
		}
		if _, ok := rc.writers["b__etlq_copy"]; !ok {
			t.Errorf("files of %v: b's copy was dropped", ps)
		}
	}
}

// TestRunRowCopyPassed: after a stop between two pipelines' swaps, the
// swapped pipeline's file names the cut-over's position to the stream;
// the stream's RowCopyPassed there removes it once a checkpoint covers
// it (a file of another swap stays).
func TestRunRowCopyPassed(t *testing.T) {
	for _, at := range []string{"b.000001:700", "b.000001:900"} {
		e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE a FROM binlog shop.shopdb.orders TRANSFORM id, status INTO clickhouse dw.analytics.a MODE upsert KEY (id);
CREATE PIPELINE b FROM binlog shop.shopdb.orders TRANSFORM id INTO clickhouse dw.analytics.b MODE upsert KEY (id);
`)
		rc := &rcSink{sink: e.snk}
		rc.writers["b__etlq_copy"] = &writer{s: e.snk, name: "b__etlq_copy"}
		writeSwapFiles(t, e.dir, "shopdb.orders\nb.000001:700\ncopy\n", "a", "b")
		e.src.add("orders", ins(1, "a", int64(1))).
			addCopyAt(exec.RowCopyPassed, "orders", at).
			add("orders", ins(3, "c", int64(1)))
		o := e.opts(true)
		o.Sinks = map[string]connectors.Sink{"dw": rc}
		if err := engine.Run(context.Background(), e.plan, o); err != nil {
			t.Fatal(err)
		}
		if rt := e.src.reqs[0].Tables[0]; rt.RowCopy || rt.SwappedAt != "b.000001:700" || rt.Rebuilt {
			t.Errorf("request %+v", rt)
		}
		_, err := os.Stat(filepath.Join(e.dir, "rowcopy", "a.swap"))
		if gone := os.IsNotExist(err); gone != (at == "b.000001:700") {
			t.Errorf("passed %s: a's swap file gone: %v", at, gone)
		}
	}
}
