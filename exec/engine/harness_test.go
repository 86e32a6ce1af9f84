package engine_test

// An in-memory source and sink for the engine's own tests: the runtime runs
// for real (routing, programs, change operators, acknowledgements,
// checkpoints, dead letters), without a server.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	_ "github.com/etlq/etlq/connectors/clickhouse" // the sink kinds the plans name
	"github.com/etlq/etlq/connectors/mysql"
	"github.com/etlq/etlq/connectors/sinktest"
	_ "github.com/etlq/etlq/connectors/stdout"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/exec/engine"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

const header = `CREATE SOURCE shop FROM mysql 'mysql://etl:secret@127.0.0.1:1/';
CREATE SINK dw INTO clickhouse 'clickhouse://127.0.0.1:1';
`

// tables is the catalog of the tests: shopdb.orders (id key, status, qty)
// and shopdb.orders_2024 (the same columns).
type catalog map[string]*connectors.TableSchema

func field(t testing.TB, name, typ string, nullable bool, pk int) arrow.Field {
	f, err := mysql.FieldOf(name, typ, "", nullable, pk)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func ordersSchema(t testing.TB, ref connectors.TableRef) *connectors.TableSchema {
	return &connectors.TableSchema{Ref: ref, PrimaryKey: []string{"id"}, Fields: []arrow.Field{
		field(t, "id", "bigint(20)", false, 1),
		field(t, "status", "varchar(20)", true, 0),
		field(t, "qty", "int(11)", true, 0),
	}}
}

func newCatalog(t testing.TB, names ...string) catalog {
	c := catalog{}
	for _, n := range names {
		ref := connectors.TableRef{DB: "shopdb", Table: n}
		c[ref.String()] = ordersSchema(t, ref)
	}
	return c
}

func (c catalog) Tables(_ context.Context, _ *planner.SourceDecl, db, pattern string) ([]connectors.TableRef, error) {
	var out []connectors.TableRef
	for _, ts := range c {
		if ok, _ := connectors.MatchTable(pattern, ts.Ref.Table); ok && ts.Ref.DB == db {
			out = append(out, ts.Ref)
		}
	}
	return out, nil
}

func (c catalog) Describe(_ context.Context, _ *planner.SourceDecl, ref connectors.TableRef) (*connectors.TableSchema, error) {
	if ts := c[ref.String()]; ts != nil {
		return ts, nil
	}
	return nil, fmt.Errorf("no table %s", ref)
}

func plan(t testing.TB, cat catalog, src string) *planner.Plan {
	t.Helper()
	f, err := lang.ParseFile("test.etl", []byte(header+src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	p, err := planner.Build(context.Background(), f, planner.Options{Catalog: cat})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return p
}

// change is one source row change; a nil before on an update is its
// after image (the key did not change).
type change struct {
	op            string
	after, before []any
}

func ins(id int64, status string, qty any) change {
	return change{op: exec.OpInsert, after: []any{id, status, qty}}
}

func upd(id int64, status string, qty any, oldID int64) change {
	return change{op: exec.OpUpdate, after: []any{id, status, qty}, before: []any{oldID, status, qty}}
}

func del(id int64, status string, qty any) change {
	return change{op: exec.OpDelete, after: []any{id, status, qty}}
}

func read(id int64, status string, qty any) change {
	return change{op: exec.OpRead, after: []any{id, status, qty}}
}

// script is what a test source delivers: batches, or an error.
type item struct {
	b   func(mem memory.Allocator) *exec.Batch
	err error
}

// source is an in-memory connectors.Source. Its stream hands out the
// script in order, then io.EOF (Once) or nothing until the run stops.
type source struct {
	mu     sync.Mutex
	script []item
	reqs   []connectors.StreamRequest
	mem    memory.Allocator
	start  *exec.Mark // StartMark, when set
	raised *exec.Mark // RaisedMark, when set
	closed bool
	// version numbers the rows; pos the batches.
	version uint64
	pos     int
}

func newSource(mem memory.Allocator) *source { return &source{mem: mem, version: 100} }

// add appends a batch of changes of shopdb.<table> to the script; a
// snapshot batch when every change is a read.
func (s *source) add(table string, changes ...change) *source {
	s.pos++
	pos := s.pos
	first := s.version
	s.version += uint64(len(changes))
	s.script = append(s.script, item{b: func(mem memory.Allocator) *exec.Batch {
		return sourceBatch(mem, table, pos, first, nil, changes...)
	}})
	return s
}

// addWith appends a batch of a table with other columns (a DDL changed it).
func (s *source) addWith(table string, cols []arrow.Field, changes ...change) *source {
	s.pos++
	pos := s.pos
	first := s.version
	s.version += uint64(len(changes))
	s.script = append(s.script, item{b: func(mem memory.Allocator) *exec.Batch {
		return sourceBatch(mem, table, pos, first, cols, changes...)
	}})
	return s
}

// fail appends an error of the stream.
func (s *source) fail(err error) *source {
	s.script = append(s.script, item{err: err})
	return s
}

func sourceBatch(mem memory.Allocator, table string, pos int, version uint64, cols []arrow.Field, changes ...change) *exec.Batch {
	if cols == nil {
		cols = ordersSchema(nil, connectors.TableRef{}).Fields
	}
	schema := exec.SourceSchema(cols, true)
	var rows [][]any
	snapshot := true
	for k, c := range changes {
		before := make([]any, len(cols))
		if c.op == exec.OpUpdate {
			before = c.before
			if before == nil {
				before = c.after
			}
		}
		snapshot = snapshot && c.op == exec.OpRead
		row := append(append(append([]any(nil), c.after...), before...),
			c.op, time.Date(2024, 1, 1, 0, 0, pos, 0, time.UTC), "shopdb", table,
			fmt.Sprintf("bin.000001:%d", 1000*pos+k), version+uint64(k))
		rows = append(rows, row)
	}
	b := sinktest.Build(mem, schema, "shopdb", table, rows...)
	b.Snapshot = snapshot && len(changes) > 0
	state, _ := json.Marshal(map[string]int{"pos": pos})
	b.Mark = &exec.Mark{Source: "shop", State: state}
	return b
}

func (s *source) Tables(context.Context, string, string) ([]connectors.TableRef, error) {
	return nil, nil
}

func (s *source) Describe(context.Context, connectors.TableRef) (*connectors.TableSchema, error) {
	return nil, errors.New("not used")
}

func (s *source) Open(_ context.Context, req connectors.StreamRequest) (connectors.Stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, req)
	st := &stream{s: s, once: req.Once}
	if s.start != nil {
		return &startStream{st, s.start}, nil
	}
	if s.raised != nil {
		return &raisedStream{st, s.raised}, nil
	}
	return st, nil
}

func (s *source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// request is the last stream request.
func (s *source) request(t testing.TB) connectors.StreamRequest {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		t.Fatal("the stream was never opened")
	}
	return s.reqs[len(s.reqs)-1]
}

type stream struct {
	s    *source
	once bool
	next int
}

func (st *stream) Next(ctx context.Context) (*exec.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st.s.mu.Lock()
	more := st.next < len(st.s.script)
	var it item
	if more {
		it = st.s.script[st.next]
		st.next++
	}
	st.s.mu.Unlock()
	if more {
		if it.err != nil {
			return nil, it.err
		}
		return it.b(st.s.mem), nil
	}
	if st.once {
		return nil, io.EOF
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// Progress may be called while Next runs (engine.Stats).
func (st *stream) Progress() []connectors.Progress {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	return []connectors.Progress{{Ref: connectors.TableRef{DB: "shopdb", Table: "orders"}, RowsDone: int64(st.next), RowsTotal: 10}}
}
func (st *stream) Lag() float64 { return 0.5 }
func (st *stream) Close() error { return nil }

// startStream is a stream that knows where it starts (connectors.Starter).
type startStream struct {
	*stream
	mark *exec.Mark
}

func (s *startStream) StartMark() *exec.Mark { return s.mark }

// raisedStream is a stream that started its counter above the
// checkpoint's (connectors.CounterRaiser).
type raisedStream struct {
	*stream
	mark *exec.Mark
}

func (s *raisedStream) RaisedMark() *exec.Mark { return s.mark }

// sink is an in-memory connectors.Sink: its writers keep what they are
// given, per pipeline, and acknowledge each write (or fail it) as told.
type sink struct {
	mu      sync.Mutex
	writers map[string]*writer // target table → writer
	// failWrite, when set, is the error of the writes it returns true for
	// (after the given number of writes of that target).
	failAfter map[string]int
	failErr   error
	// refuse is the error Write itself returns (the write was not taken).
	refuse    error
	maxVer    uint64
	retries   int64
	holdAcks  bool // acknowledge at Flush only
	truncater bool
	// negativeQty: its writers cannot take a negative qty (checkWriter).
	negativeQty bool
	discard     bool // count rows only (benchmarks)
	count       int64
	opened      []connectors.Target
	closed      bool
}

func newSink() *sink { return &sink{writers: map[string]*writer{}, failAfter: map[string]int{}} }

func (s *sink) Plan(context.Context, connectors.Target) ([]string, []connectors.Problem, error) {
	return nil, nil, nil
}

func (s *sink) Open(_ context.Context, t connectors.Target) (connectors.Writer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened = append(s.opened, t)
	name := t.Name[strings.LastIndex(t.Name, ".")+1:] // the target table
	w := &writer{s: s, t: t, name: name}
	s.writers[name] = w
	if s.truncater {
		return &truncWriter{w}, nil
	}
	if s.negativeQty {
		return &checkWriter{w}, nil
	}
	return w, nil
}

// checkWriter is a writer that cannot take a negative qty
// (connectors.RowChecker), as ClickHouse cannot take a zero date.
type checkWriter struct{ *writer }

func (w *checkWriter) CheckRows(b *exec.Batch) []exec.RowError {
	var out []exec.RowError
	rec := b.Record
	qty := rec.Column(rec.Schema().FieldIndices("qty")[0])
	id := rec.Column(rec.Schema().FieldIndices("id")[0])
	for j := range b.NumRows() {
		i := j
		if b.Sel != nil {
			i = int(b.Sel[j])
		}
		if !qty.IsNull(i) && strings.HasPrefix(qty.ValueStr(i), "-") {
			out = append(out, exec.RowError{Row: i, Column: "qty", Reason: "negative", Table: b.DB + "." + b.Table,
				Op: "insert", Pos: "p", Key: "id = " + id.ValueStr(i), Value: exec.QuoteValue(qty.ValueStr(i))})
		}
	}
	return out
}

func (s *sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// rows returns what the writer of name wrote, one line a row: the given
// columns as text, "-" for a column the batch lacks.
func (s *sink) rows(name string, cols ...string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.writers[name]
	if w == nil {
		return nil
	}
	var out []string
	for _, r := range w.got {
		var vals []string
		for _, c := range cols {
			v, ok := r[c]
			if !ok {
				v = "-"
			}
			vals = append(vals, v)
		}
		out = append(out, strings.Join(vals, " "))
	}
	return out
}

type writer struct {
	s       *sink
	t       connectors.Target
	name    string
	got     []map[string]string
	schemas []*arrow.Schema
	writes  int
	idles   int
	pending []func(error)
	truncs  []connectors.Truncation
	closed  bool
}

func (w *writer) Write(_ context.Context, b *exec.Batch, done func(error)) error {
	defer b.Release()
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.s.refuse != nil {
		return w.s.refuse
	}
	w.writes++
	if n, ok := w.s.failAfter[w.name]; ok && w.writes > n {
		done(w.s.failErr)
		return nil
	}
	rec := b.Record
	if w.s.discard {
		w.s.count += rec.NumRows()
		done(nil)
		return nil
	}
	w.schemas = append(w.schemas, rec.Schema())
	for j := range b.NumRows() {
		i := j
		if b.Sel != nil {
			i = int(b.Sel[j])
		}
		r := map[string]string{}
		for c, f := range rec.Schema().Fields() {
			r[f.Name] = rec.Column(c).ValueStr(i)
		}
		w.got = append(w.got, r)
	}
	if w.s.holdAcks {
		w.pending = append(w.pending, done)
		return nil
	}
	done(nil)
	return nil
}

func (w *writer) Flush(context.Context) error {
	w.s.mu.Lock()
	p := w.pending
	w.pending = nil
	w.s.mu.Unlock()
	for _, done := range p {
		done(nil)
	}
	return nil
}

func (w *writer) Close() error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	w.closed = true
	return nil
}

func (w *writer) Idle() {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	w.idles++
}

func (w *writer) MaxVersion(context.Context) (uint64, error) { return w.s.maxVer, nil }
func (w *writer) Retries() int64                             { return w.s.retries }

// truncWriter is a writer that can empty a table (connectors.Truncater).
type truncWriter struct{ *writer }

func (w *truncWriter) Truncate(_ context.Context, t connectors.Truncation, done func(error)) error {
	w.s.mu.Lock()
	w.truncs = append(w.truncs, t)
	w.s.mu.Unlock()
	done(nil)
	return nil
}

// env is one test's run: a plan over the catalog, a source, a sink, a
// state directory, and an allocator that must end empty.
type env struct {
	t    *testing.T
	mem  *memory.CheckedAllocator
	src  *source
	snk  *sink
	dir  string
	plan *planner.Plan
	st   *engine.Stats
}

func newEnv(t *testing.T, cat catalog, etl string) *env {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return &env{t: t, mem: mem, src: newSource(mem), snk: newSink(), dir: t.TempDir(), plan: plan(t, cat, etl), st: engine.NewStats()}
}

func (e *env) opts(once bool) engine.Options {
	return engine.Options{StateDir: e.dir, Once: once, Alloc: e.mem, Stats: e.st, CommitInterval: time.Millisecond,
		Sources: map[string]connectors.Source{"shop": e.src}, Sinks: map[string]connectors.Sink{"dw": e.snk}}
}

// run runs the plan over the script (Once) and returns its error.
func (e *env) run() error {
	return engine.Run(context.Background(), e.plan, e.opts(true))
}

// checkpoint returns the mark state the state directory holds ("" none).
func (e *env) checkpoint() string {
	data, err := os.ReadFile(filepath.Join(e.dir, "source-shop.json"))
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		e.t.Fatal(err)
	}
	var st struct {
		Mark json.RawMessage `json:"mark"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		e.t.Fatal(err)
	}
	return compact(st.Mark)
}

func compact(data []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		return string(data)
	}
	return b.String()
}

func (e *env) pipeline(name string) *engine.PipelineStats {
	_, m := e.st.Pipelines()
	if m[name] == nil {
		e.t.Fatalf("no stats of pipeline %s", name)
	}
	return m[name]
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
