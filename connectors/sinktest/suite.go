// Package sinktest is the conformance suite every sink passes, and helpers
// to build sink batches in tests.
//
// A sink's test calls Run with a constructor:
//
//	func TestConformance(t *testing.T) {
//		sinktest.Run(t, func(t *testing.T) (connectors.Sink, connectors.Target, sinktest.Reader) {
//			s := … // a fresh sink; a target name unique to t.Name()
//			return s, connectors.Target{Name: …, Format: …}, func(t *testing.T) []map[string]any { … }
//		})
//	}
//
// Run fills in Target.Schema (user columns of every kind, then the system
// columns), Mode (append), Key ("id") and Pipeline when empty; the
// constructor sets the rest (Name, Format, Options).
package sinktest

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// Reader returns the rows the sink holds for its target, each a map from
// user column name to value. Values may be nil (NULL), any Go integer or
// float, json.Number, string, []byte, bool, time.Time, time.Duration
// (microseconds are compared) or a fmt.Stringer such as a decimal. Binary
// values must be decoded ([]byte or the raw string). Keys that are not suite
// columns (such as "_op") are ignored, and so is row order: rows are matched
// by "id". DecodeJSONL turns jsonl output into such rows.
type Reader func(t *testing.T) []map[string]any

// NewSinkFunc makes a fresh sink, the target to open in it, and a reader of
// what it holds. It is called once per subtest, with the subtest's t.
type NewSinkFunc func(t *testing.T) (connectors.Sink, connectors.Target, Reader)

// Options tune Run for sinks that cannot hold every column kind.
type Options struct {
	// SkipColumns leaves these suite columns out of the schema.
	SkipColumns []string
}

// Columns returns the user columns the suite writes: AllTypes without
// i16, u8, u16, u32, dec256 and js (their handling is the same as a sibling
// kind's, and some targets lack Decimal256).
func Columns() []arrow.Field {
	var out []arrow.Field
	for _, f := range AllTypes() {
		switch f.Name {
		case "i16", "u8", "u16", "u32", "dec256", "js":
			continue
		}
		out = append(out, f)
	}
	return out
}

// Run runs the conformance suite against the sinks newSink makes.
func Run(t *testing.T, newSink NewSinkFunc) { RunWith(t, Options{}, newSink) }

// RunWith is Run with options.
func RunWith(t *testing.T, opts Options, newSink NewSinkFunc) {
	skip := map[string]bool{}
	for _, c := range opts.SkipColumns {
		skip[c] = true
	}
	var user []arrow.Field
	for _, f := range Columns() {
		if !skip[f.Name] {
			user = append(user, f)
		}
	}
	s := &suite{user: user, schema: SinkSchema(user, false), newSink: newSink}
	t.Run("AckedOnceAndFlushWaits", s.ackedOnce)
	t.Run("Selection", s.selection)
	t.Run("Nulls", s.nulls)
	t.Run("ManySmallBatches", s.manySmall)
	t.Run("CloseIdempotent", s.closeIdempotent)
	t.Run("WriteAfterClose", s.writeAfterClose)
	t.Run("EmptyFlush", s.emptyFlush)
}

type suite struct {
	user    []arrow.Field
	schema  *arrow.Schema
	newSink NewSinkFunc
}

// env is one subtest's sink, writer and allocator.
type env struct {
	t      *testing.T
	mem    *memory.CheckedAllocator
	sink   connectors.Sink
	target connectors.Target
	read   Reader
	w      connectors.Writer
	rb     *array.RecordBuilder // reused across batches on purpose
	s      *suite
	acks   []atomic.Int32
	errs   sync.Map // batch index -> error
	next   int
	mu     sync.Mutex
}

func (s *suite) open(t *testing.T, maxBatches int) *env {
	t.Helper()
	sink, target, read := s.newSink(t)
	target.Schema = s.schema
	if target.Pipeline == "" {
		target.Pipeline = "conformance"
	}
	target.Mode = connectors.ModeAppend
	if target.Key == nil {
		target.Key = []string{"id"}
	}
	e := &env{t: t, mem: memory.NewCheckedAllocator(memory.NewGoAllocator()), sink: sink, target: target, read: read, s: s,
		acks: make([]atomic.Int32, maxBatches)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := sink.Plan(ctx, target); err != nil {
		t.Fatalf("plan: %v", err)
	}
	w, err := sink.Open(ctx, target)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	e.w = w
	e.rb = array.NewRecordBuilder(e.mem, s.schema)
	t.Cleanup(func() {
		e.rb.Release()
		_ = e.w.Close()
		_ = e.sink.Close()
		e.mem.AssertSize(t, 0)
	})
	return e
}

// Row returns the suite's user values of row id; with allNull every
// nullable column is NULL. Besides, column k is NULL when (id+k)%7 == 0.
func (s *suite) row(id int, allNull bool) []any {
	vals := map[string]any{
		"id":  id,
		"i8":  int8(id%100 - 50),
		"i32": id * 1000,
		"i64": int64(-id) * 1_000_000_000_000,
		"u64": uint64(math.MaxUint64) - uint64(id),
		"f32": float32(id) + 0.5,
		"f64": float64(id) / 4,
		"dec": fmt.Sprintf("%d.%02d", id, id%100),
		"str": fmt.Sprintf("s-%d, \"q\"\n", id),
		"bin": []byte{byte(id), 0, 255},
		"day": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, id),
		"ts":  time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC).Add(time.Duration(id) * time.Second),
		"tm":  time.Duration(id)*time.Minute + 7*time.Microsecond,
		"ok":  id%2 == 0,
	}
	out := make([]any, len(s.user))
	for k, f := range s.user {
		if f.Name != "id" && (allNull || (id+k)%7 == 0) {
			continue
		}
		out[k] = vals[f.Name]
	}
	return out
}

// batch builds a batch of the given ids with the reused record builder.
func (e *env) batch(ids []int, allNull bool) *exec.Batch {
	for _, id := range ids {
		vals := append(e.s.row(id, allNull), uint64(id), uint8(0), exec.OpInsert,
			time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC).Add(time.Duration(id)*time.Millisecond),
			fmt.Sprintf("binlog.000001:%d", 100+id))
		for c, v := range vals {
			appendValue(e.rb.Field(c), v)
		}
	}
	return &exec.Batch{Record: e.rb.NewRecordBatch(), DB: "conformance", Table: "rows"}
}

// write writes b and counts its acknowledgements.
func (e *env) write(b *exec.Batch) {
	e.t.Helper()
	e.mu.Lock()
	n := e.next
	e.next++
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := e.w.Write(ctx, b, func(err error) {
		e.acks[n].Add(1)
		if err != nil {
			e.errs.Store(n, err)
		}
	})
	if err != nil {
		e.t.Fatalf("write %d: %v", n, err)
	}
}

func (e *env) flush() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.w.Flush(ctx); err != nil {
		e.t.Fatalf("flush: %v", err)
	}
}

// checkAcks checks that every write so far was acknowledged exactly once,
// without error.
func (e *env) checkAcks() {
	e.t.Helper()
	for i := 0; i < e.next; i++ {
		if n := e.acks[i].Load(); n != 1 {
			e.t.Errorf("batch %d acknowledged %d times, want exactly once", i, n)
		}
		if err, ok := e.errs.Load(i); ok {
			e.t.Errorf("batch %d acknowledged with error: %v", i, err)
		}
	}
}

// closeAndRead closes the writer and returns the rows the sink holds.
func (e *env) closeAndRead() []map[string]any {
	e.t.Helper()
	if err := e.w.Close(); err != nil {
		e.t.Fatalf("close: %v", err)
	}
	return e.read(e.t)
}

// expect compares the rows read back with the suite rows of ids.
func (e *env) expect(got []map[string]any, ids []int, allNull bool) {
	e.t.Helper()
	byID := map[string]map[string]any{}
	for _, r := range got {
		id := normalize(e.s.user[0], r["id"])
		if _, dup := byID[id]; dup {
			e.t.Errorf("row id %s read back twice", id)
		}
		byID[id] = r
	}
	if len(got) != len(ids) {
		e.t.Errorf("read back %d rows, want %d", len(got), len(ids))
	}
	sort.Ints(ids)
	bad := 0
	for _, id := range ids {
		r, ok := byID[fmt.Sprint(id)]
		if !ok {
			e.t.Errorf("row id %d missing", id)
			bad++
			continue
		}
		want := e.s.row(id, allNull)
		for k, f := range e.s.user {
			v, present := r[f.Name]
			if !present {
				e.t.Errorf("row %d: column %q missing", id, f.Name)
				bad++
				continue
			}
			g, w := normalize(f, v), normalize(f, want[k])
			if g != w {
				e.t.Errorf("row %d column %q: got %s (%T %v), want %s", id, f.Name, g, v, v, w)
				bad++
			}
		}
		if bad > 20 {
			e.t.Fatal("too many differences")
		}
	}
}

func ids(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func (s *suite) ackedOnce(t *testing.T) {
	e := s.open(t, 20)
	var all []int
	for b := 0; b < 20; b++ {
		id := ids(b*5+1, b*5+6)
		all = append(all, id...)
		e.write(e.batch(id, false))
	}
	e.flush()
	e.checkAcks() // Flush returned: every done has been called
	rows := e.closeAndRead()
	e.expect(rows, all, false)
	time.Sleep(20 * time.Millisecond)
	e.checkAcks() // and never again after Close
}

func (s *suite) selection(t *testing.T) {
	e := s.open(t, 2)
	b := e.batch(ids(1, 11), false)
	b.Sel = []int32{1, 3, 4, 8}
	e.write(b)
	b = e.batch(ids(11, 14), false)
	b.Sel = []int32{} // no live row
	e.write(b)
	e.flush()
	e.checkAcks()
	e.expect(e.closeAndRead(), []int{2, 4, 5, 9}, false)
}

func (s *suite) nulls(t *testing.T) {
	e := s.open(t, 2)
	e.write(e.batch(ids(1, 4), true))
	e.write(e.batch(ids(4, 18), false)) // each column NULL in some row, and not in others
	e.flush()
	e.checkAcks()
	rows := e.closeAndRead()
	var some, none []map[string]any
	for _, r := range rows {
		if id := normalize(s.user[0], r["id"]); id == "1" || id == "2" || id == "3" {
			some = append(some, r)
		} else {
			none = append(none, r)
		}
	}
	e.expect(some, ids(1, 4), true)
	e.expect(none, ids(4, 18), false)
}

func (s *suite) manySmall(t *testing.T) {
	const n = 300
	e := s.open(t, n)
	for i := 1; i <= n; i++ {
		e.write(e.batch([]int{i}, false))
	}
	e.flush()
	e.checkAcks()
	e.expect(e.closeAndRead(), ids(1, n+1), false)
}

func (s *suite) closeIdempotent(t *testing.T) {
	e := s.open(t, 1)
	e.write(e.batch(ids(1, 3), false))
	if err := e.w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	e.checkAcks() // Close flushes
	if err := e.w.Close(); err != nil {
		t.Errorf("second writer close: %v", err)
	}
	if err := e.sink.Close(); err != nil {
		t.Errorf("sink close: %v", err)
	}
	if err := e.sink.Close(); err != nil {
		t.Errorf("second sink close: %v", err)
	}
}

func (s *suite) writeAfterClose(t *testing.T) {
	e := s.open(t, 1)
	if err := e.w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	var calls atomic.Int32
	err := e.w.Write(context.Background(), e.batch(ids(1, 3), false), func(error) { calls.Add(1) })
	if err == nil {
		t.Error("write after close succeeded")
	}
	if calls.Load() > 1 {
		t.Errorf("done called %d times", calls.Load())
	}
	// The cleanup's allocator check proves the batch was released.
}

func (s *suite) emptyFlush(t *testing.T) {
	e := s.open(t, 0)
	e.flush()
	e.flush()
	if rows := e.closeAndRead(); len(rows) != 0 {
		t.Errorf("read back %d rows from an empty target", len(rows))
	}
}
