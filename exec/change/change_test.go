package change

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/stdlib"
)

// A source table of three text columns: id (the key, cast to BIGINT by
// the outputs), v (WHERE v <> 'skip'), num (cast to BIGINT: a row error
// off the key).
var table = []arrow.Field{
	{Name: "id", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "num", Type: arrow.BinaryTypes.String, Nullable: true},
}

// row is a source change: op, the row (for a delete, the deleted row) and
// the before image of an update.
type row struct {
	op     string
	id, v  string
	num    string // "NULL": NULL
	before string // before.id of an update
}

func source(mem memory.Allocator, rows []row) *exec.Batch {
	s := exec.SourceSchema(table, true)
	b := array.NewRecordBuilder(mem, s)
	defer b.Release()
	str := func(i int, v string, valid bool) {
		if valid {
			b.Field(i).(*array.StringBuilder).Append(v)
		} else {
			b.Field(i).AppendNull()
		}
	}
	for k, r := range rows {
		str(0, r.id, true)
		str(1, r.v, true)
		str(2, r.num, r.num != "NULL")
		upd := r.op == exec.OpUpdate
		str(3, r.before, upd)
		str(4, r.v, upd)
		str(5, r.num, upd && r.num != "NULL")
		str(6, r.op, true)
		b.Field(7).(*array.TimestampBuilder).Append(arrow.Timestamp(1000 + k))
		str(8, "db", true)
		str(9, "t", true)
		str(10, fmt.Sprintf("bin.1:%d", 100+k), true)
		b.Field(11).(*array.Uint64Builder).Append(uint64(500 + k))
	}
	return &exec.Batch{Record: b.NewRecordBatch(), DB: "db", Table: "t"}
}

// tableOps are the operators of one table of a pipeline: SELECT
// CAST(id AS BIGINT) AS k, v, CAST(num AS BIGINT) AS n WHERE v <> 'skip',
// upsert key k, and a sink schema with __before.k when withBefore. The
// chains (one for an upsert target, one for an append target) are built
// once and run every batch, as the engine does.
type tableOps struct {
	prog, before *exec.Program
	beforeKey    *exec.Program // MovedKeys.BeforeKey when set (the engine's path)
	layout       exec.SourceLayout
	schema       *arrow.Schema
	beforeIndex  []int
	mem          memory.Allocator
	chains       map[bool]*chain
	keepEmpty    bool // the next batch goes out even without rows
}

type chain struct {
	feed *exec.Feed
	sink *Sink
}

func newTableOps(t *testing.T, mem memory.Allocator, withBefore bool) *tableOps {
	t.Helper()
	must := func(e exec.Expr, err error) exec.Expr {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	outs := func(off int) []exec.Expr {
		return []exec.Expr{
			must(exec.Cast(exec.Col(off, "id", stdlib.TString), stdlib.TInt64)),
			exec.Col(off+1, "v", stdlib.TString),
			must(exec.Cast(exec.Col(off+2, "num", stdlib.TString), stdlib.TInt64)),
		}
	}
	names := []string{"k", "v", "n"}
	skip := must(exec.Lit("skip", stdlib.TString))
	where := must(exec.Binary("<>", exec.Col(1, "v", stdlib.TString), skip))
	prog, err := exec.NewProgram(exec.ProgramConfig{Where: where, Outputs: outs(0), Names: names, OnError: exec.OnErrorSkip, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	before, err := exec.NewProgram(exec.ProgramConfig{Outputs: outs(3), Names: names, OnError: exec.OnErrorSkip, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	layout, err := exec.LayoutOf(exec.SourceSchema(table, true))
	if err != nil {
		t.Fatal(err)
	}
	fields := []arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}
	fields = append(fields, exec.SysFields()...)
	var beforeIndex []int
	if withBefore {
		fields = append(fields, arrow.Field{Name: exec.SysBeforePrefix + "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true})
		beforeIndex = []int{0}
	}
	o := &tableOps{prog: prog, before: before, layout: layout, schema: arrow.NewSchema(fields, nil),
		beforeIndex: beforeIndex, mem: mem, chains: map[bool]*chain{}}
	t.Cleanup(func() {
		for _, c := range o.chains {
			if err := c.sink.Close(); err != nil {
				t.Error(err)
			}
		}
	})
	return o
}

// chain builds the operators as the engine does for an upsert target (or
// an append target when upsert is false): Feed → SplitDeletes → ProgramOp
// → Upsert → MovedKeys → Sink (Feed → ProgramOp → Sink).
func (o *tableOps) chain(t *testing.T, upsert bool) *chain {
	t.Helper()
	if c := o.chains[upsert]; c != nil {
		return c
	}
	feed := &exec.Feed{}
	c := &chain{feed: feed, sink: o.build(feed, upsert)}
	if err := c.sink.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	o.chains[upsert] = c
	return c
}

// build returns the sink of the chain over head.
func (o *tableOps) build(head exec.Operator, upsert bool) *Sink {
	in := head
	var split *SplitDeletes
	if upsert {
		split = &SplitDeletes{Input: in, Layout: o.layout}
		in = split
	}
	prog := &exec.ProgramOp{Input: in, Prog: o.prog}
	in = prog
	var parts Parter
	if upsert {
		u := &Upsert{Input: in, Live: prog, Split: split, Layout: o.layout, Outputs: o.prog, Before: o.before,
			Key: []int{0}, Names: []string{"k", "v", "n"}, Alloc: o.mem}
		m := &MovedKeys{Input: u, Live: prog, Layout: o.layout, Before: o.before, Key: []int{0}, Alloc: o.mem}
		if o.beforeKey != nil {
			m.BeforeKey = o.beforeKey
		}
		in, parts = m, m
	}
	return &Sink{Input: in, Live: prog, Parts: parts, Schema: o.schema, Outputs: 3, Layout: o.layout,
		Before: o.before, BeforeIndex: o.beforeIndex, Alloc: o.mem}
}

// run pushes b into the chain and pulls until it yields nil; the caller
// owns the sink batch (nil when no row is left) and the row errors.
func (o *tableOps) run(t *testing.T, b *exec.Batch, upsert bool) (*exec.Batch, []exec.RowError) {
	t.Helper()
	ctx := context.Background()
	c := o.chain(t, upsert)
	c.sink.KeepEmpty, o.keepEmpty = o.keepEmpty, false
	c.feed.Push(b)
	out, err := c.sink.Next(ctx)
	if err != nil || out == nil {
		t.Fatalf("sink batch %v, error %v", out, err)
	}
	res := *out
	res.Record.Retain()
	errs := append([]exec.RowError(nil), c.sink.Live.Errs()...)
	if more, err := c.sink.Next(ctx); more != nil || err != nil {
		t.Fatalf("after the sink batch: %v, error %v (want nil)", more, err)
	}
	return &res, errs
}

// dump renders a sink batch one row a line: k v n | version deleted op pos [| before.k].
func dump(b *exec.Batch) string {
	rec := b.Record
	s := rec.Schema()
	col := func(name string) arrow.Array { return rec.Column(s.FieldIndices(name)[0]) }
	var lines []string
	for i := range int(rec.NumRows()) {
		line := fmt.Sprintf("%s %s %s | %s %s %s %s", col("k").ValueStr(i), col("v").ValueStr(i), col("n").ValueStr(i),
			col(exec.SysVersion).ValueStr(i), col(exec.SysDeleted).ValueStr(i), col(exec.SysOp).ValueStr(i), col(exec.SysPos).ValueStr(i))
		if idx := s.FieldIndices(exec.SysBeforePrefix + "k"); len(idx) == 1 {
			line += " | " + rec.Column(idx[0]).ValueStr(i)
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// changes covers every upsert case (the row index is the comment).
var changes = []row{
	{op: exec.OpInsert, id: "1", v: "a", num: "1"},                 // 0 live
	{op: exec.OpUpdate, id: "2", v: "b", num: "1", before: "2"},    // 1 live, same key
	{op: exec.OpUpdate, id: "3", v: "c", num: "1", before: "4"},    // 2 live, key moved from 4
	{op: exec.OpDelete, id: "5", v: "d", num: "1"},                 // 3 delete
	{op: exec.OpUpdate, id: "6", v: "skip", num: "1", before: "6"}, // 4 left WHERE
	{op: exec.OpInsert, id: "7", v: "skip", num: "1"},              // 5 never in WHERE
	{op: exec.OpInsert, id: "x", v: "a", num: "1"},                 // 6 key fails: nothing to remove
	{op: exec.OpUpdate, id: "y", v: "a", num: "1", before: "8"},    // 7 key fails: the old key goes
	{op: exec.OpUpdate, id: "9", v: "a", num: "bad", before: "10"}, // 8 n fails: new and old key go
}

func TestUpsertOperators(t *testing.T) {
	t.Run("before image projected whole", func(t *testing.T) { testUpsertOperators(t, false) })
	t.Run("keys compared first", func(t *testing.T) { testUpsertOperators(t, true) })
}

func testUpsertOperators(t *testing.T, byKey bool) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	o := newTableOps(t, mem, false)
	if byKey {
		// The key output (k = CAST(id AS BIGINT)) over the before image.
		k, err := exec.Cast(exec.Col(3, "id", stdlib.TString), stdlib.TInt64)
		if err != nil {
			t.Fatal(err)
		}
		o.beforeKey, err = exec.NewProgram(exec.ProgramConfig{Outputs: []exec.Expr{k}, Names: []string{"k"}, OnError: exec.OnErrorSkip, Alloc: mem})
		if err != nil {
			t.Fatal(err)
		}
	}
	b := source(mem, changes)
	defer b.Release()
	sink, errs := o.run(t, b, true)
	defer sink.Release()
	if len(errs) != 3 {
		t.Errorf("row errors: %v", errs)
	}
	want := strings.Join([]string{
		"1 a 1 | 500 0 insert bin.1:100",
		"2 b 1 | 501 0 update bin.1:101",
		"3 c 1 | 502 0 update bin.1:102",
		// tombstones: left WHERE, the delete, the failed cast (new key)
		"6 skip 1 | 504 1 update bin.1:104",
		"5 d 1 | 503 1 delete bin.1:103",
		"9 a (null) | 508 1 update bin.1:108",
		// moved keys, from the before image
		"4 c 1 | 502 1 update bin.1:102",
		"10 a (null) | 508 1 update bin.1:108",
		// the old key of an update whose key failed
		"8 a 1 | 507 1 update bin.1:107",
	}, "\n")
	if got := dump(sink); got != want {
		t.Errorf("sink batch:\n%s\nwant:\n%s", got, want)
	}
}

// TestUpsertSelection: rows outside the batch's selection vector are not
// changes of this pipeline: no row, no tombstone.
func TestUpsertSelection(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	o := newTableOps(t, mem, false)
	b := source(mem, changes)
	defer b.Release()
	b.Sel = []int32{0, 2, 3, 7}
	sink, _ := o.run(t, b, true)
	defer sink.Release()
	want := strings.Join([]string{
		"1 a 1 | 500 0 insert bin.1:100",
		"3 c 1 | 502 0 update bin.1:102",
		"5 d 1 | 503 1 delete bin.1:103",
		"4 c 1 | 502 1 update bin.1:102",
		"8 a 1 | 507 1 update bin.1:107",
	}, "\n")
	if got := dump(sink); got != want {
		t.Errorf("sink batch:\n%s\nwant:\n%s", got, want)
	}
}

// TestAppendWithBefore: without the upsert operator only the rows that
// pass WHERE and the rules go on, deletes included, with their outputs over
// the before image (changelog, canal_json) in __before.k.
func TestAppendWithBefore(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	o := newTableOps(t, mem, true)
	b := source(mem, changes)
	defer b.Release()
	sink, errs := o.run(t, b, false)
	defer sink.Release()
	if len(errs) != 3 {
		t.Errorf("row errors: %v", errs)
	}
	want := strings.Join([]string{
		"1 a 1 | 500 0 insert bin.1:100 | (null)",
		"2 b 1 | 501 0 update bin.1:101 | 2",
		"3 c 1 | 502 0 update bin.1:102 | 4",
		"5 d 1 | 503 0 delete bin.1:103 | (null)",
	}, "\n")
	if got := dump(sink); got != want {
		t.Errorf("sink batch:\n%s\nwant:\n%s", got, want)
	}
}

// TestReusedBatches: the operators keep nothing of a batch between calls
// while the programs reuse their scratch vectors (cockroach #78551: reused
// vectors keeping stale nulls): a batch without NULLs after one with NULLs
// in the same rows and columns shows none, and a sink batch made earlier
// keeps its values after later batches went through the same operators
// and the source batch it came from was released.
func TestReusedBatches(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	o := newTableOps(t, mem, false)
	first := source(mem, append([]row{
		{op: exec.OpInsert, id: "20", v: "z", num: "NULL"},
		{op: exec.OpUpdate, id: "21", v: "z", num: "NULL", before: "21"},
	}, changes...))
	sink1, _ := o.run(t, first, true)
	defer sink1.Release()
	want1 := dump(sink1)
	first.Release()

	all := []row{
		{op: exec.OpInsert, id: "11", v: "p", num: "2"},
		{op: exec.OpUpdate, id: "12", v: "q", num: "3", before: "12"},
	}
	for range 3 {
		b := source(mem, all)
		sink2, _ := o.run(t, b, true)
		b.Release()
		want2 := "11 p 2 | 500 0 insert bin.1:100\n12 q 3 | 501 0 update bin.1:101"
		if !strings.HasPrefix(want1, "20 z (null) | 500 0 insert bin.1:100\n21 z (null) | 501 0 update") {
			t.Fatalf("first batch:\n%s", want1)
		}
		if got := dump(sink2); got != want2 {
			t.Errorf("second batch:\n%s\nwant:\n%s", got, want2)
		}
		sink2.Release()
	}
	if got := dump(sink1); got != want1 {
		t.Errorf("the first sink batch changed after later batches:\n%s\nwas:\n%s", got, want1)
	}
}

// TestEmptySet: a batch of which no row goes on still makes a sink batch
// of the sink's schema (a schema change without rows reaches the sink).
func TestEmptySet(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	o := newTableOps(t, mem, true)
	b := source(mem, []row{{op: exec.OpInsert, id: "7", v: "skip", num: "1"}})
	defer b.Release()
	o.keepEmpty = true
	sink, _ := o.run(t, b, true)
	defer sink.Release()
	if sink.NumRows() != 0 || !sink.Record.Schema().Equal(o.schema) {
		t.Errorf("sink batch: %d rows, schema %v", sink.NumRows(), sink.Record.Schema())
	}
}

// stream yields its batches in order, then nil; it never owns them.
type stream struct {
	batches []*exec.Batch
}

func (s *stream) Init(context.Context) error { return nil }

func (s *stream) Next(context.Context) (*exec.Batch, error) {
	if len(s.batches) == 0 {
		return nil, nil
	}
	b := s.batches[0]
	s.batches = s.batches[1:]
	return b, nil
}

func (s *stream) Close() error { return nil }

// TestOperatorsOverAStream pulls several source batches through one
// upsert chain without an end between them: each operator's batch and
// side outputs are those of the batch pulled last, a batch of which no row
// is left makes no sink batch (Sink pulls the next one), and Close in the
// middle of the stream releases what the operators hold.
func TestOperatorsOverAStream(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	o := newTableOps(t, mem, false)
	first := source(mem, changes)
	defer first.Release()
	nothing := source(mem, []row{{op: exec.OpInsert, id: "7", v: "skip", num: "1"}}) // never in WHERE: no tombstone
	defer nothing.Release()
	last := source(mem, []row{{op: exec.OpInsert, id: "11", v: "p", num: "2"}, {op: exec.OpDelete, id: "12", v: "q", num: "3"}})
	defer last.Release()
	sink := o.build(&stream{batches: []*exec.Batch{first, nothing, last}}, true)
	if err := sink.Init(ctx); err != nil {
		t.Fatal(err)
	}
	moved := sink.Parts.(*MovedKeys)
	upsert := moved.Input
	parts := func(s *Set) string {
		var ps []string
		for _, p := range s.Parts {
			ps = append(ps, fmt.Sprintf("%v%v", p.Rows, map[bool]string{true: "d"}[p.Deleted]))
		}
		return strings.Join(ps, " ")
	}

	out, err := sink.Next(ctx)
	if err != nil || out == nil {
		t.Fatalf("first: %v, error %v", out, err)
	}
	if got, want := parts(upsert.Set()), "[0 1 2] [4 3 8]d"; got != want {
		t.Errorf("Upsert's parts: %s, want %s", got, want)
	}
	if got := fmt.Sprint(upsert.OldKeys()); got != "[7]" {
		t.Errorf("Upsert's old keys: %s, want [7]", got)
	}
	if got, want := parts(moved.Set()), "[0 1 2] [4 3 8]d [2 8]d [7]d"; got != want {
		t.Errorf("MovedKeys' parts: %s, want %s", got, want)
	}
	if out.NumRows() != 9 || out.Sel != nil {
		t.Errorf("first sink batch: %d rows, selection %v", out.NumRows(), out.Sel)
	}

	out, err = sink.Next(ctx)
	if err != nil || out == nil {
		t.Fatalf("last: %v, error %v", out, err)
	}
	want := "11 p 2 | 500 0 insert bin.1:100\n12 q 3 | 501 1 delete bin.1:101"
	if got := dump(out); got != want {
		t.Errorf("the batch after one without rows:\n%s\nwant:\n%s", got, want)
	}
	if got := parts(moved.Set()); got != "[0] [1]d" {
		t.Errorf("MovedKeys' parts of the last batch: %s", got)
	}
	if err := sink.Close(); err != nil { // (before the end of the stream)
		t.Fatal(err)
	}
}

func TestSplitDeletes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := source(mem, changes)
	defer b.Release()
	l, _ := exec.LayoutOf(b.Record.Schema())
	feed := &exec.Feed{}
	split := &SplitDeletes{Input: feed, Layout: l}
	ctx := context.Background()
	if err := split.Init(ctx); err != nil {
		t.Fatal(err)
	}
	defer split.Close()
	// SplitDeletes runs b as the only batch of its stream.
	run := func() (*exec.Batch, []int32) {
		t.Helper()
		feed.Push(b)
		in, err := split.Next(ctx)
		if err != nil || in == nil {
			t.Fatalf("split: %v, error %v", in, err)
		}
		dels := append([]int32(nil), split.Deletes()...)
		if in != b {
			// (the operator's copy and its selection, reused by the next call)
			cp := *in
			cp.Sel = append([]int32{}, in.Sel...)
			in = &cp
		}
		if end, err := split.Next(ctx); end != nil || err != nil || len(split.Deletes()) != 0 {
			t.Fatalf("after the batch: %v, error %v, deletes %v", end, err, split.Deletes())
		}
		return in, dels
	}
	in, dels := run()
	if fmt.Sprint(in.Sel, dels) != "[0 1 2 4 5 6 7 8] [3]" || b.Sel != nil {
		t.Errorf("split: live %v deletes %v (the batch's own selection %v)", in.Sel, dels, b.Sel)
	}
	b.Sel = []int32{3}
	in, dels = run()
	if in.Sel == nil || len(in.Sel) != 0 || fmt.Sprint(dels) != "[3]" {
		t.Errorf("only a delete: live %v (must be empty, not nil) deletes %v", in.Sel, dels)
	}
	b.Sel = []int32{0, 1}
	if in, dels = run(); in != b || dels != nil {
		t.Error("a batch without deletes goes on as it is")
	}
	b.Sel, b.Snapshot = nil, true
	if in, dels = run(); in != b || dels != nil {
		t.Error("a snapshot batch has no deletes")
	}
}

func TestSameValue(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, typ := range []arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Uint64,
		arrow.PrimitiveTypes.Uint32, arrow.BinaryTypes.String, arrow.BinaryTypes.Binary, arrow.PrimitiveTypes.Float64} {
		bld := array.NewBuilder(mem, typ)
		vals := []string{"1", "2", "1"}
		if typ == arrow.BinaryTypes.Binary {
			vals = []string{"AQ==", "Ag==", "AQ=="} // base64
		}
		for _, s := range vals {
			if err := bld.AppendValueFromString(s); err != nil {
				t.Fatal(err)
			}
		}
		bld.AppendNull()
		bld.AppendNull()
		a := bld.NewArray()
		bld.Release()
		if !sameValue(a, 0, a, 2) || sameValue(a, 0, a, 1) || !sameValue(a, 3, a, 4) || sameValue(a, 0, a, 3) {
			t.Errorf("%s: wrong key comparison", typ)
		}
		a.Release()
	}
}

func TestIdentityRows(t *testing.T) {
	for _, c := range []struct {
		rows []int32
		n    int
		want bool
	}{
		{nil, 0, true},
		{[]int32{0, 1, 2}, 3, true},
		{[]int32{0, 1}, 3, false},
		{[]int32{0, 2, 1}, 3, false},
		{[]int32{0, 1, 2, 0}, 3, false},
		{[]int32{1, 2, 3}, 3, false},
	} {
		if got := identity(c.rows, c.n); got != c.want {
			t.Errorf("identity(%v, %d) = %v", c.rows, c.n, got)
		}
	}
}
