package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/exec/engine"
)

// Verify makes its source and sink from the registry: the test registers
// in-memory ones under the kinds the plans name (mysql, clickhouse), with
// their real specs, for this test binary.

// verifySource is a source whose snapshot reads rows of shopdb.orders and
// that knows its position (connectors.PositionSource).
type verifySource struct {
	source
	rows [][]any // id, status, qty
	at   int
	// opened, when set, is called with the count of reads so far at
	// each read (1: the full pass, 2: the first re-check).
	opened func(n int)
	opens  int
}

func (s *verifySource) Open(_ context.Context, req connectors.StreamRequest) (connectors.Stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, req)
	if s.opens++; s.opened != nil {
		s.opened(s.opens)
	}
	var changes []change
	for _, r := range s.rows {
		changes = append(changes, change{op: exec.OpRead, after: r})
	}
	src := newSource(s.mem)
	// Two chunks, as a snapshot reads them.
	half := len(changes) / 2
	src.add("orders", changes[:half]...).add("orders", changes[half:]...)
	return &stream{s: src, once: true}, nil
}

func (s *verifySource) CurrentMark(context.Context) ([]byte, error) {
	return []byte(fmt.Sprintf(`{"pos":%d}`, s.at)), nil
}

func (s *verifySource) MarkReached(mark, at []byte) (bool, error) {
	var m, a struct{ Pos int }
	if err := json.Unmarshal(mark, &m); err != nil {
		return false, err
	}
	if err := json.Unmarshal(at, &a); err != nil {
		return false, err
	}
	return m.Pos >= a.Pos, nil
}

// verifySink is a sink whose one target table (key → row text) can be
// read back (connectors.VerifySink) and written by a repair. Every row of
// the table has the version maxVer but those vers names.
type verifySink struct {
	mu     sync.Mutex
	table  map[string]string
	maxVer uint64
	vers   map[string]uint64
	ignore []string
}

// version is the version of key's row (0: none).
func (s *verifySink) version(key string) uint64 {
	if v, ok := s.vers[key]; ok {
		return v
	}
	if _, ok := s.table[key]; ok {
		return s.maxVer
	}
	return 0
}

func (s *verifySink) Plan(context.Context, connectors.Target) ([]string, []connectors.Problem, error) {
	return nil, nil, nil
}

func (s *verifySink) Open(_ context.Context, t connectors.Target) (connectors.Writer, error) {
	return &verifyWriter{s: s, t: t}, nil
}

func (s *verifySink) Close() error { return nil }

func (s *verifySink) OpenVerify(_ context.Context, t connectors.Target, ignore []string) (connectors.VerifyTarget, error) {
	s.ignore = ignore
	return &verifyTarget{s: s, t: t}, nil
}

// rowsOf calls fn with the key and row text of every live row of b.
func rowsOf(t connectors.Target, b *exec.Batch, fn func(key, row string, deleted bool) error) error {
	rec := b.Record
	s := rec.Schema()
	for i := range int(rec.NumRows()) {
		var key, vals []string
		for _, k := range t.Key {
			key = append(key, rec.Column(s.FieldIndices(k)[0]).ValueStr(i))
		}
		for c, f := range s.Fields() {
			if !exec.IsSystemColumn(f.Name) {
				vals = append(vals, f.Name+"="+rec.Column(c).ValueStr(i))
			}
		}
		// A changelog batch has no deletion flag: its rows are the
		// changes, a snapshot's reads in verify.
		deleted := s.HasField(exec.SysDeleted) && rec.Column(s.FieldIndices(exec.SysDeleted)[0]).ValueStr(i) == "1"
		if err := fn(strings.Join(key, ","), strings.Join(vals, " "), deleted); err != nil {
			return err
		}
	}
	return nil
}

type verifyTarget struct {
	s *verifySink
	t connectors.Target
}

func (v *verifyTarget) BatchRows(b *exec.Batch, fn func(key, row string) error) error {
	return rowsOf(v.t, b, func(key, row string, deleted bool) error {
		if deleted {
			return nil
		}
		return fn(key, row)
	})
}

func (v *verifyTarget) LiveRows(_ context.Context, fn func(key, row string) error) error {
	v.s.mu.Lock()
	keys := make([]string, 0, len(v.s.table))
	for k := range v.s.table {
		keys = append(keys, k)
	}
	v.s.mu.Unlock()
	sort.Strings(keys)
	for _, k := range keys {
		v.s.mu.Lock()
		row := v.s.table[k]
		v.s.mu.Unlock()
		if err := fn(k, row); err != nil {
			return err
		}
	}
	return nil
}

func (v *verifyTarget) Versions(_ context.Context, keys map[string]bool) (map[string]uint64, error) {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	out := map[string]uint64{}
	for k := range keys {
		if ver := v.s.version(k); ver != 0 {
			out[k] = ver
		}
	}
	return out, nil
}

func (v *verifyTarget) Tombstone(_ context.Context, keys map[string]uint64) (int, error) {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	n := 0
	for k, ver := range keys {
		if _, ok := v.s.table[k]; ok && v.s.version(k) == ver {
			delete(v.s.table, k)
			n++
		}
	}
	return n, nil
}

func (v *verifyTarget) Close() error { return nil }

type verifyWriter struct {
	s *verifySink
	t connectors.Target
}

func (w *verifyWriter) Write(_ context.Context, b *exec.Batch, done func(error)) error {
	defer b.Release()
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	vers := b.Record.Column(b.Record.Schema().FieldIndices(exec.SysVersion)[0])
	i := 0
	err := rowsOf(w.t, b, func(key, row string, deleted bool) error {
		// A repair row takes the version of the row it replaces: a later
		// change of the key, from the stream, gets a larger one.
		if got, want := vers.ValueStr(i), fmt.Sprint(w.s.version(key)); got != want {
			return fmt.Errorf("repair of key %s written with version %s, want the replaced row's %s", key, got, want)
		}
		i++
		if deleted {
			delete(w.s.table, key)
		} else {
			w.s.table[key] = row
		}
		return nil
	})
	done(err)
	return nil
}

func (w *verifyWriter) Flush(context.Context) error { return nil }
func (w *verifyWriter) Close() error                { return nil }

var registerOnce sync.Once

// useVerifyConnectors makes the registry's mysql and clickhouse kinds
// return src and snk (for this test binary).
var current struct {
	sync.Mutex
	src connectors.Source
	snk connectors.Sink
}

func useVerifyConnectors(src connectors.Source, snk connectors.Sink) {
	current.Lock()
	current.src, current.snk = src, snk
	current.Unlock()
	registerOnce.Do(func() {
		srcSpec, _ := connectors.SourceSpec("mysql")
		connectors.RegisterSource(*srcSpec, func(string, string, map[string]any) (connectors.Source, error) {
			current.Lock()
			defer current.Unlock()
			return current.src, nil
		})
		sinkSpec, _ := connectors.SinkSpec("clickhouse")
		connectors.RegisterSink(*sinkSpec, func(string, string, map[string]any) (connectors.Sink, error) {
			current.Lock()
			defer current.Unlock()
			return current.snk, nil
		})
	})
}

func writeCheckpoint(t *testing.T, dir, mark string) {
	t.Helper()
	data := fmt.Sprintf(`{"format":1,"source":"shop","mark":%s,"pipelines":["orders"]}`, mark)
	if err := os.WriteFile(filepath.Join(dir, "source-shop.json"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyAndRepair: verify finds the keys missing from the target, the
// keys only the target has and the rows that differ, once the pipeline's
// checkpoint has passed the source position of its read; a repair writes
// the source's rows (and tombstones) with the version of the row each
// replaces, after which the target verifies clean.
func TestVerifyAndRepair(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src := &verifySource{source: source{mem: mem}, at: 5,
		rows: [][]any{{int64(1), "new", 1}, {int64(2), "paid", 2}, {int64(3), "new", 3}, {int64(4), "cancelled", 4}}}
	snk := &verifySink{maxVer: 700, vers: map[string]uint64{"2": 650}, table: map[string]string{
		"1": "id=1 status=new qty=1",
		"2": "id=2 status=new qty=2", // changed
		"5": "id=5 status=new qty=5", // only in the target
	}}
	useVerifyConnectors(src, snk)
	p := plan(t, newCatalog(t, "orders"), upsertPipeline)
	dir := t.TempDir()
	writeCheckpoint(t, dir, `{"pos":9}`)
	var progress []int64
	opts := engine.VerifyOptions{StateDir: dir, Alloc: mem, Progress: func(_ string, n int64) { progress = append(progress, n) }}
	res, err := engine.Verify(context.Background(), p, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	// 4 cancelled is not in the result (WHERE): 3 source rows.
	if r.SourceRows != 3 || r.TargetRows != 3 || r.Chunks != 2 || r.Missing != 1 || r.Extra != 1 || r.Changed != 1 || r.Differences() != 3 || r.Unconfirmed != "" {
		t.Fatalf("result: %+v", r)
	}
	var diffs []string
	for _, d := range r.Diffs {
		diffs = append(diffs, d.Key+": "+d.Source+" | "+d.Target)
	}
	equal(t, "diffs", diffs, []string{
		"2: id=2 status=paid qty=2 | id=2 status=new qty=2",
		"3: id=3 status=new qty=3 | ",
		"5:  | id=5 status=new qty=5",
	})
	if len(progress) == 0 || progress[len(progress)-1] != 4 {
		t.Errorf("progress %v: the last call counts every source row read", progress)
	}

	opts.Repair = true
	res, err = engine.Verify(context.Background(), p, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Repaired != 3 || r.Differences() != 0 {
		t.Errorf("after the repair: %+v", r)
	}
	if len(snk.table) != 3 || snk.table["2"] != "id=2 status=paid qty=2" {
		t.Errorf("target after the repair: %v", snk.table)
	}
}

// TestVerifyUnconfirmed: when the pipeline's checkpoint does not pass the
// source position in time, the differences are reported unconfirmed (they
// may be lag) and nothing is repaired.
func TestVerifyUnconfirmed(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src := &verifySource{source: source{mem: mem}, at: 5, rows: [][]any{{int64(1), "new", 1}, {int64(3), "new", 3}}}
	snk := &verifySink{table: map[string]string{"1": "id=1 status=new qty=1"}}
	useVerifyConnectors(src, snk)
	p := plan(t, newCatalog(t, "orders"), upsertPipeline)
	dir := t.TempDir()
	writeCheckpoint(t, dir, `{"pos":2}`)
	res, err := engine.Verify(context.Background(), p, engine.VerifyOptions{StateDir: dir, Alloc: mem, Repair: true, LagTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Missing != 1 || r.Repaired != 0 || !strings.Contains(r.Unconfirmed, "has not applied past the source position") {
		t.Errorf("result: %+v", r)
	}
	if len(snk.table) != 1 {
		t.Errorf("an unconfirmed difference was repaired: %v", snk.table)
	}
	// Without a state directory nothing can be confirmed either.
	res, err = engine.Verify(context.Background(), p, engine.VerifyOptions{Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; !strings.Contains(r.Unconfirmed, "no state directory") {
		t.Errorf("result: %+v", r)
	}
}

// TestVerifyCaughtUpUnconfirmed: a suspect of the full pass that the
// target holds as the source does by the re-check is no difference, and
// nothing is unconfirmed then even when the checkpoint cannot be read: the
// result is ok, with no "unconfirmed" next to it. A state directory that
// does not exist is said so.
func TestVerifyCaughtUpUnconfirmed(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	snk := &verifySink{table: map[string]string{"1": "id=1 status=new qty=1"}}
	src := &verifySource{source: source{mem: mem}, at: 5, rows: [][]any{{int64(1), "new", 1}, {int64(3), "new", 3}}}
	src.opened = func(n int) {
		if n == 2 { // the pipeline applies key 3 before the re-check
			snk.mu.Lock()
			snk.table["3"] = "id=3 status=new qty=3"
			snk.mu.Unlock()
		}
	}
	useVerifyConnectors(src, snk)
	p := plan(t, newCatalog(t, "orders"), upsertPipeline)
	res, err := engine.Verify(context.Background(), p, engine.VerifyOptions{StateDir: filepath.Join(t.TempDir(), "none"), Alloc: mem, LagTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Rechecked != 1 || r.Differences() != 0 || r.Unconfirmed != "" {
		t.Errorf("caught up: want 1 key re-checked, no difference, nothing unconfirmed: %+v", r)
	}
	// Still behind: unconfirmed, and the state directory named as missing.
	delete(snk.table, "3")
	src.opened = nil
	res, err = engine.Verify(context.Background(), p, engine.VerifyOptions{StateDir: "/nonexistent/dir", Alloc: mem, LagTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Missing != 1 || r.Unconfirmed != "state directory /nonexistent/dir does not exist: is etlq apply running with that --state-dir?" {
		t.Errorf("behind: %+v", r)
	}
}

// TestVerifySelects: verify compares upsert (and changelog) pipelines that hold a copy of
// the source; naming another one, or none that exists, is an error.
func TestVerifySelects(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	useVerifyConnectors(&verifySource{source: source{mem: mem}}, &verifySink{table: map[string]string{}})
	p := plan(t, newCatalog(t, "orders"), `CREATE PIPELINE log
  FROM binlog shop.shopdb.orders
  TRANSFORM id
  INTO clickhouse dw.analytics.log MODE append;
CREATE PIPELINE recent
  FROM binlog shop.shopdb.orders SNAPSHOT never
  TRANSFORM id
  INTO clickhouse dw.analytics.recent MODE upsert KEY (id);
`)
	for _, c := range []struct {
		names []string
		want  string
	}{
		// Each pipeline left out says why: a file of changelog pipelines
		// read with SNAPSHOT never (examples/audit.etl) was told it had
		// no changelog pipeline.
		{nil, "no upsert or changelog pipeline to verify (log: verify compares upsert and changelog pipelines only"},
		{nil, "recent: SNAPSHOT never: its target holds only the changes since it started)"},
		{[]string{"log"}, "verify compares upsert and changelog pipelines only"},
		{[]string{"recent"}, "SNAPSHOT never"},
		// The pipelines are named, as resnapshot names them (it was a
		// bare `no pipeline named "nope" in the file`; new-user trial).
		{[]string{"nope"}, `no pipeline named "nope" in the file (it has: log, recent)`},
		{[]string{"recnt"}, `no pipeline named "recnt" in the file (did you mean "recent"?)`},
	} {
		_, err := engine.Verify(context.Background(), p, engine.VerifyOptions{Pipelines: c.names, Alloc: mem})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.names, err, c.want)
		}
	}
}

// TestVerifyTargetAheadOfRecheck: a key written at the source again and
// again (a hot key under a steady writer) is read by a re-check at one
// value, and the target, read after the pipeline applied past that read,
// already holds a later one. That is the pipeline being ahead, not a
// difference: the key is checked again and found equal. (Verify reported
// it as changed, exit 1, on every run of a new user's writer.) A key that
// changes at every re-check stays unconfirmed (exit 2), never confirmed.
func TestVerifyTargetAheadOfRecheck(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src := &verifySource{source: source{mem: mem}, at: 5,
		rows: [][]any{{int64(1), "new", 1}, {int64(2), "paid", 2}}}
	snk := &verifySink{table: map[string]string{
		"1": "id=1 status=old qty=1", // behind in the full pass
		"2": "id=2 status=paid qty=2",
	}}
	// opened runs in the source's Open, under its lock, before the rows
	// are read: rows may be set there.
	src.opened = func(n int) {
		switch n {
		case 2: // the re-check reads "new"; the pipeline then applies it and a later "shipped"
			snk.mu.Lock()
			snk.table["1"] = "id=1 status=shipped qty=1"
			snk.mu.Unlock()
		case 3: // the source has "shipped" since
			src.rows[0] = []any{int64(1), "shipped", 1}
		}
	}
	useVerifyConnectors(src, snk)
	p := plan(t, newCatalog(t, "orders"), upsertPipeline)
	dir := t.TempDir()
	writeCheckpoint(t, dir, `{"pos":9}`)
	res, err := engine.Verify(context.Background(), p, engine.VerifyOptions{StateDir: dir, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Rechecked != 1 || r.Differences() != 0 || r.Unconfirmed != "" {
		t.Errorf("target ahead of the re-check's read: want 1 key re-checked and no difference: %+v", r)
	}

	// Changed at every read, the target a step ahead of each: the next
	// read finds the source at the target's row.
	hot := func(step int) {
		src.rows[0] = []any{int64(1), "new", 1}
		snk.table["1"] = "id=1 status=old qty=1"
		src.opens = 0
		src.opened = func(n int) {
			if n >= 2 {
				src.rows[0] = []any{int64(1), "new", n * step}
				snk.mu.Lock()
				snk.table["1"] = fmt.Sprintf("id=1 status=new qty=%d", n*step+1)
				snk.mu.Unlock()
			}
		}
	}
	hot(1)
	res, err = engine.Verify(context.Background(), p, engine.VerifyOptions{StateDir: dir, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Differences() != 0 || r.Unconfirmed != "" {
		t.Errorf("target ahead, the source at its row by the next read: want no difference: %+v", r)
	}

	// Changed again and again between reads, the target never at a row
	// a read saw: never confirmed.
	hot(10)
	res, err = engine.Verify(context.Background(), p, engine.VerifyOptions{StateDir: dir, Alloc: mem, Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Changed != 1 || r.Repaired != 0 || !strings.Contains(r.Unconfirmed, "changed at the source during each of 3 re-checks") {
		t.Errorf("a key changing at every re-check: want it unconfirmed and not repaired: %+v", r)
	}
}
