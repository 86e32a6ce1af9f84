package clickhouse

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/exec"
)

// TestSpillRoundTrip: a group written to a spill file has its batches
// released at once; the file is gone from the directory while still
// readable; read back, the group holds the insert columns and what a data
// error names (not the before.* columns), the same selection, and its bad
// rows are named as from the batches it was written from — row, column,
// position, operation and key. Closing the file leaves none open.
func TestSpillRoundTrip(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fields := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, {Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true}}
	s := sinktest.SinkSchema(fields, true)
	zero := time.Unix(int64(zeroDateDays-1)*86400, 0).UTC()
	ok := time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)
	row := func(v uint64, id, d, note any) []any {
		r := sysRow(v, false, "update", id, d, note)
		// (the before.* columns, after the user's)
		return append(r[:3:3], append([]any{int64(0), nil, "before"}, r[3:]...)...)
	}
	b1 := sinktest.Build(mem, s, "shop", "orders",
		row(1, int64(1), ok, "a"), row(2, int64(2), zero, "b"), row(3, nil, ok, "c"), row(4, int64(4), zero, "d"))
	b1.Sel = []int32{1, 2, 3}
	b2 := sinktest.Build(mem, s, "shop", "orders", row(5, int64(5), zero, "e"))
	l := &tableLayout{}
	for _, f := range fields {
		m, err := mapType(f, v1816)
		if err != nil {
			t.Fatal(err)
		}
		l.cols = append(l.cols, colSpec{name: f.Name, src: f.Name, field: f, m: m, key: f.Name == "id"})
	}
	g, err := groupFor(l, "db.t", s)
	if err != nil {
		t.Fatal(err)
	}
	g.items = []item{{b: b1}, {b: &exec.Batch{}}, {b: b2}} // (a position-only batch among them)
	g.rows = 4
	named := func(g *group) string {
		var out []string
		for _, it := range g.items {
			if it.b.Record == nil {
				continue
			}
			for _, e := range checkRows(g, it.b) {
				out = append(out, fmt.Sprintf("%d %s %s %s %s %s", e.Row, e.Column, e.Pos, e.Op, e.Key, e.Value))
			}
		}
		return fmt.Sprint(out)
	}
	want := named(g)
	if want == "[]" {
		t.Fatal("no bad rows to compare")
	}

	f, err := newSpillFile()
	if err != nil {
		t.Fatal(err)
	}
	if err := spillGroup(f, g); err != nil {
		t.Fatal(err)
	}
	if b1.Record != nil || b2.Record != nil {
		t.Fatal("the batches were not released once spilled")
	}
	if mem.CurrentAlloc() != 0 {
		t.Fatalf("%d bytes of the batches still allocated", mem.CurrentAlloc())
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Errorf("spill file in %s: %v (want it unlinked)", dir, names)
	}
	if n := spillFiles.Load(); n != 1 {
		t.Errorf("%d spill files open, want 1", n)
	}
	rg, free, err := g.restore()
	if err != nil {
		t.Fatal(err)
	}
	if n := rg.schema.NumFields(); n != 5 {
		t.Errorf("read back %d columns (%v), want id, d, note, _pos, _op", n, rg.schema)
	}
	if len(rg.items) != 2 || rg.items[0].b.NumRows() != 3 || rg.items[1].b.NumRows() != 1 || rg.items[0].b.DB != "shop" {
		t.Fatalf("read back %d items", len(rg.items))
	}
	if got := named(rg); got != want {
		t.Errorf("bad rows read back:\n%s\nwant\n%s", got, want)
	}
	free()
	f.close()
	if n := spillFiles.Load(); n != 0 {
		t.Errorf("%d spill files open after close", n)
	}
}

// TestRetainBudget: a sent group keeps its batches in memory while the
// open INSERT and the one being ended keep at most insert_memory
// together; the one past it is spilled (its batches released) into the
// INSERT's spill file, made then; with nothing being ended the open one
// keeps in memory again up to the bound.
func TestRetainBudget(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	fields := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}
	s := sinktest.SinkSchema(fields, false)
	m, err := mapType(fields[0], v1816)
	if err != nil {
		t.Fatal(err)
	}
	l := &tableLayout{cols: []colSpec{{name: "id", src: "id", field: fields[0], m: m, key: true}}}
	grp := func(bytes int64) *group {
		g, err := groupFor(l, "db.t", s)
		if err != nil {
			t.Fatal(err)
		}
		g.items = []item{{b: sinktest.Build(memory.DefaultAllocator, s, "shop", "orders", sysRow(1, false, "insert", int64(1)))}}
		g.rows, g.bytes = 1, bytes
		return g
	}
	w := &writer{opts: targetOptions{insertMemory: 100}}
	w.endingKept.Store(60) // an INSERT being ended keeps 60 bytes
	li := &longInsert{}
	g1, g2, g3 := grp(40), grp(1), grp(50)
	w.retain(li, g1) // 60 + 40: kept
	if g1.spill != nil || g1.items[0].b.Record == nil || li.spill != nil || li.kept != 40 {
		t.Fatalf("within the bound: spilled %v, kept %d", g1.spill != nil, li.kept)
	}
	w.retain(li, g2) // 60 + 40 + 1: spilled
	if g2.spill == nil || g2.items[0].b.Record != nil || li.spill == nil || li.kept != 40 || w.spilledGroups.Load() != 1 {
		t.Fatalf("past the bound: spilled %v, kept %d", g2.spill != nil, li.kept)
	}
	w.endingKept.Store(0) // the other INSERT ended
	w.retain(li, g3)      // 40 + 50: kept
	if g3.spill != nil || li.kept != 90 {
		t.Fatalf("after the other ended: spilled %v, kept %d", g3.spill != nil, li.kept)
	}
	li.spill.close()
	for _, g := range []*group{g1, g2, g3} {
		for _, it := range g.items {
			it.b.Release()
		}
	}
}

// BenchmarkSpillGroup: what spilling costs — one group of 2,000
// 300-column rows (100 Int64, 100 strings of 24 bytes, 100 Float64: ~7 MB
// of Arrow) written to a spill file (the page cache; read back once to
// check it). The process's CPU per MB of Arrow is what to look at on a
// loaded machine (the wall time waits for the cores).
func BenchmarkSpillGroup(b *testing.B) {
	b.Setenv("TMPDIR", b.TempDir())
	var fields []arrow.Field
	for i := 0; i < 300; i++ {
		t := arrow.DataType(arrow.PrimitiveTypes.Int64)
		switch i / 100 {
		case 1:
			t = arrow.BinaryTypes.String
		case 2:
			t = arrow.PrimitiveTypes.Float64
		}
		fields = append(fields, arrow.Field{Name: fmt.Sprintf("c%d", i), Type: t, Nullable: true})
	}
	s := sinktest.SinkSchema(fields, false)
	l := &tableLayout{}
	for _, f := range fields {
		m, err := mapType(f, v1816)
		if err != nil {
			b.Fatal(err)
		}
		l.cols = append(l.cols, colSpec{name: f.Name, src: f.Name, field: f, m: m})
	}
	const rows = 2000
	rs := make([][]any, rows)
	for r := range rs {
		var u []any
		for i := 0; i < 300; i++ {
			switch i / 100 {
			case 0:
				u = append(u, int64(r*i))
			case 1:
				u = append(u, fmt.Sprintf("%024d", r+i))
			default:
				u = append(u, float64(r)/float64(i+1))
			}
		}
		rs[r] = sysRow(uint64(r+1), false, "insert", u...)
	}
	rec := sinktest.Build(memory.DefaultAllocator, s, "src", "t", rs...)
	defer rec.Release()
	size := exec.RecordBytes(rec.Record)
	b.SetBytes(size)
	b.ResetTimer()
	c0 := cpuTime(b)
	defer func() {
		b.ReportMetric(float64((cpuTime(b)-c0).Milliseconds())/(float64(size)*float64(b.N)/1e6), "cpu_ms/MB")
	}()
	for n := 0; n < b.N; n++ {
		f, err := newSpillFile()
		if err != nil {
			b.Fatal(err)
		}
		g, err := groupFor(l, "db.t", s)
		if err != nil {
			b.Fatal(err)
		}
		rec.Record.Retain()
		g.items = []item{{b: &exec.Batch{Record: rec.Record, DB: "src", Table: "t"}}}
		g.rows, g.bytes = rows, size
		if err := spillGroup(f, g); err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			rg, free, err := g.restore()
			if err != nil || rg.items[0].b.NumRows() != rows {
				b.Fatal(err)
			}
			free()
		}
		f.close()
	}
}
