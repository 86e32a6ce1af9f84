package clickhouse

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/exec"
)

// TestDataErrorNamesTheRow: a value ClickHouse cannot take (a zero date, a
// NULL in a column that is not Nullable, a decimal too wide) fails the
// insert with the source table, the row's position, operation and key (all
// its values for a target without a key), the column, the value and the
// reason, through both insert paths; the error is an exec.RowError.
func TestDataErrorNamesTheRow(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fields := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true}}
	s := sinktest.SinkSchema(fields, false)
	zero := time.Unix(int64(zeroDateDays-1)*86400, 0).UTC()
	long := strings.Repeat("x", 300)
	b := sinktest.Build(mem, s, "shop", "orders",
		sysRow(1, false, "insert", int64(41), time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC), "ok"),
		sysRow(2, false, "update", int64(42), zero, long))
	defer b.Release()
	for _, tc := range []struct {
		name string
		key  bool // id is the target's key
		want string
	}{
		{"key", true, `row of shop.orders at binlog.000001:2 (update, id = 42): column "d" = '0000-00-00': date 0000-00-00 or another invalid date is outside the range of ClickHouse Date`},
		{"keyless", false, `row of shop.orders at binlog.000001:2 (update, id = 42, d = `},
	} {
		g := &group{}
		var dcol *colSpec
		for i, f := range fields {
			m, err := mapType(f, v1816)
			if err != nil {
				t.Fatal(err)
			}
			c := &colSpec{name: f.Name, src: f.Name, field: f, m: m, key: tc.key && f.Name == "id"}
			g.cols, g.idx = append(g.cols, c), append(g.idx, i)
			if f.Name == "d" {
				dcol = c
			}
		}
		describeBoth(t, g, b, b.Record.Column(1), dcol, func(fast bool, err error) {
			var re exec.RowError
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &re) || re.Value != "'0000-00-00'" || re.Key == "" {
				t.Errorf("%s (fast %v): got %v, want %q", tc.name, fast, err, tc.want)
			}
			if retryable(err) {
				t.Errorf("%s: a row's data error is retried", tc.name)
			}
			if !tc.key && (!strings.Contains(re.Key, "note = xxx") || !strings.Contains(re.Key, "bytes)") || len(re.Key) > 300) {
				t.Errorf("keyless: key %q: want every column, the long one shortened", re.Key)
			}
		})
	}
}

// describeBoth appends column c's arr through the fast path and the
// clickhouse-go path, and gives check the error describe makes of each.
func describeBoth(t *testing.T, g *group, b *exec.Batch, arr arrow.Array, c *colSpec, check func(fast bool, err error)) {
	t.Helper()
	for _, fast := range []bool{true, false} {
		var t0 chTarget
		var dst appender
		if fast {
			t0, _ = newCols(t, c)
		} else {
			_, slow := newCols(t, c)
			dst = columnAppender{slow}
		}
		check(fast, describe(g, b, arr, appendColumn(c, t0, dst, arr, liveRows(b))))
	}
}

// TestCheckRows: the writer names, before an insert, every live row it
// would fail on (a zero date, a NULL in the non-Nullable key), and none
// of the others; a row already left out of the selection is not checked.
func TestCheckRows(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fields := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, {Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true}}
	s := sinktest.SinkSchema(fields, false)
	zero := time.Unix(int64(zeroDateDays-1)*86400, 0).UTC()
	ok := time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)
	b := sinktest.Build(mem, s, "shop", "orders",
		sysRow(1, false, "insert", int64(1), ok),
		sysRow(2, false, "insert", int64(2), zero),
		sysRow(3, false, "insert", nil, ok),
		sysRow(4, false, "insert", int64(4), zero),
		sysRow(5, false, "insert", int64(5), ok))
	defer b.Release()
	l := &tableLayout{}
	for _, f := range fields {
		m, err := mapType(f, v1816)
		if err != nil {
			t.Fatal(err)
		}
		l.cols = append(l.cols, colSpec{name: f.Name, src: f.Name, field: f, m: m, key: f.Name == "id"})
	}
	w := &writer{layout: l, schema: s}
	var got []string
	for _, e := range w.CheckRows(b) {
		got = append(got, fmt.Sprintf("%d %s %s", e.Row, e.Column, e.Key))
	}
	// (Row: the index in the batch; the columns in the table's order.)
	want := []string{"2 id id = NULL", "1 d id = 2", "3 d id = 4"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", got, want)
	}
	b.Sel = []int32{0, 1, 4}
	if errs := w.CheckRows(b); len(errs) != 1 || errs[0].Row != 1 {
		t.Errorf("with a selection: %+v", errs)
	}
}

// manyBadRows builds a batch of n rows of which every tenth (from row 3)
// has a zero date and every 20th (from row 7) a NULL in the non-Nullable
// key, and from row 13 every 40th both (named once, for the key); it
// returns the writer and the rows it must name.
func manyBadRows(tb testing.TB, mem memory.Allocator, n int) (*writer, *exec.Batch, map[int]string) {
	fields := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, {Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true}}
	s := sinktest.SinkSchema(fields, false)
	zero := time.Unix(int64(zeroDateDays-1)*86400, 0).UTC()
	ok := time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)
	want := map[int]string{}
	rs := make([][]any, n)
	for i := range rs {
		var id any = int64(i)
		d := ok
		switch {
		case i%40 == 13:
			id, d = nil, zero
			want[i] = "id"
		case i%20 == 7:
			id = nil
			want[i] = "id"
		case i%10 == 3:
			d = zero
			want[i] = "d"
		}
		rs[i] = sysRow(uint64(i+1), false, "insert", id, d)
	}
	b := sinktest.Build(mem, s, "shop", "orders", rs...)
	l := &tableLayout{}
	for _, f := range fields {
		m, err := mapType(f, v1816)
		if err != nil {
			tb.Fatal(err)
		}
		l.cols = append(l.cols, colSpec{name: f.Name, src: f.Name, field: f, m: m, key: f.Name == "id"})
	}
	return &writer{layout: l, schema: s}, b, want
}

// TestCheckRowsManyBad: with 17,500 bad rows of 100,000 (10,000 zero
// dates, 7,500 NULL keys, 2,500 of them with both), CheckRows names every
// bad row once, for its first failing column, with its key and position,
// and no other row; with a selection, only the selected ones.
func TestCheckRowsManyBad(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	w, b, want := manyBadRows(t, mem, 100000)
	defer b.Release()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	errs := w.CheckRows(b)
	runtime.ReadMemStats(&m1)
	// Linear in the rows: a check that went over the rows again for each
	// bad one (as it once did, a selection copied per bad row) allocates
	// gigabytes here; one pass, the rows' converted values and the errors.
	if a := m1.TotalAlloc - m0.TotalAlloc; a > 64<<20 {
		t.Errorf("CheckRows allocated %d MiB for 100,000 rows", a>>20)
	}
	if len(errs) != len(want) {
		t.Errorf("%d rows named, want %d", len(errs), len(want))
	}
	seen := map[int]bool{}
	for _, e := range errs {
		if seen[e.Row] {
			t.Errorf("row %d named twice", e.Row)
		}
		seen[e.Row] = true
		if want[e.Row] != e.Column {
			t.Errorf("row %d: column %q, want %q", e.Row, e.Column, want[e.Row])
		}
		if e.Pos != fmt.Sprintf("binlog.000001:%d", e.Row+1) || e.Table != "shop.orders" {
			t.Errorf("row %d: at %s of %s", e.Row, e.Pos, e.Table)
		}
		if e.Column == "d" && (e.Key != fmt.Sprintf("id = %d", e.Row) || e.Value != "'0000-00-00'") {
			t.Errorf("row %d: key %q value %q", e.Row, e.Key, e.Value)
		}
	}
	b.Sel = nil
	for i := 0; i < 100000; i += 2 {
		b.Sel = append(b.Sel, int32(i))
	}
	n := 0
	for i := range want {
		if i%2 == 0 {
			n++
		}
	}
	if errs := w.CheckRows(b); len(errs) != n {
		t.Errorf("with a selection: %d rows named, want %d", len(errs), n)
	}
}

// BenchmarkCheckRowsManyBad: CheckRows of 100,000 rows, 17,500 bad.
func BenchmarkCheckRowsManyBad(b *testing.B) {
	mem := memory.NewGoAllocator()
	w, batch, want := manyBadRows(b, mem, 100000)
	defer batch.Release()
	b.ResetTimer()
	for range b.N {
		if errs := w.CheckRows(batch); len(errs) != len(want) {
			b.Fatalf("%d rows named, want %d", len(errs), len(want))
		}
	}
}

// TestDataErrorValueOfInvalidDate: a DATE MySQL kept as '2026-00-15' (a
// lenient sql_mode) that ClickHouse cannot take is named with that value
// in the error and the dead letter, as MySQL writes it and as the row's
// other values are written — it read '0000-00-00', a value the row never
// held. The source encodes it as math.MinInt32 + (Y·13 + M)·32 + D days
// (docs/types.md).
func TestDataErrorValueOfInvalidDate(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fields := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true}}
	s := sinktest.SinkSchema(fields, false)
	for _, tc := range []struct {
		y, m, d int
		want    string
	}{{2026, 0, 15, "'2026-00-15'"}, {2024, 2, 0, "'2024-02-00'"}, {0, 0, 0, "'0000-00-00'"}} {
		days := int64(math.MinInt32) + int64((tc.y*13+tc.m)*32+tc.d)
		b := sinktest.Build(mem, s, "shop", "orders", sysRow(7, false, "insert", int64(7), time.Unix(days*86400, 0).UTC()))
		m, err := mapType(fields[1], v1816)
		if err != nil {
			t.Fatal(err)
		}
		idc := &colSpec{name: "id", src: "id", field: fields[0], key: true}
		idc.m, _ = mapType(fields[0], v1816)
		dcol := &colSpec{name: "d", src: "d", field: fields[1], m: m}
		g := &group{cols: []*colSpec{idc, dcol}, idx: []int{0, 1}}
		describeBoth(t, g, b, b.Record.Column(1), dcol, func(fast bool, err error) {
			var re exec.RowError
			if !errors.As(err, &re) || re.Value != tc.want || !strings.Contains(err.Error(), `column "d" = `+tc.want) {
				t.Errorf("%s (fast %v): got value %q in %v, want %s", tc.want, fast, re.Value, err, tc.want)
			}
		})
		b.Release()
	}
}
