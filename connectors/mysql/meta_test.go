package mysql

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// TestMetaArraysFromRuns builds the metadata columns of runs of rows in
// bulk and compares them with the row-by-row values.
func TestMetaArraysFromRuns(t *testing.T) {
	mem := checkedMem(t)
	type meta struct {
		op  string
		ts  int64
		pos string
		ver uint64
	}
	var want []meta
	var runs []metaRun
	add := func(op string, ts int64, pos string, ver uint64) {
		want = append(want, meta{op, ts, pos, ver})
		runs = addMeta(runs, op, ts, pos, ver)
	}
	for i := 0; i < 1000; i++ {
		add("insert", 5, "binlog.000001:100", uint64(i))
	}
	add("update", 5, "binlog.000001:200", 1000)
	add("update", 5, "binlog.000001:200", 1002) // a skipped version
	add("", 6, "", 1003)
	for i := 0; i < 37; i++ {
		add("delete", 7, "binlog.000002:4", uint64(1004+i))
	}
	if len(runs) != 5 {
		t.Fatalf("%d runs, want 5", len(runs))
	}
	var cache constStrings
	defer cache.release()
	cols := metaArrays(mem, &cache, "db", "a_table", runs)
	defer func() {
		for _, a := range cols {
			a.Release()
		}
	}()
	for i, w := range want {
		got := []string{cols[0].(*array.String).Value(i), fmt.Sprint(int64(cols[1].(*array.Timestamp).Value(i))),
			cols[2].(*array.String).Value(i), cols[3].(*array.String).Value(i), cols[4].(*array.String).Value(i),
			fmt.Sprint(cols[5].(*array.Uint64).Value(i))}
		exp := []string{w.op, fmt.Sprint(w.ts), "db", "a_table", w.pos, fmt.Sprint(w.ver)}
		if fmt.Sprint(got) != fmt.Sprint(exp) {
			t.Fatalf("row %d: %v, want %v", i, got, exp)
		}
	}
	// A batch of the same length shares the constant columns.
	again := metaArrays(mem, &cache, "db", "a_table", runs)
	for j, a := range again {
		shared := a.Data().Buffers()[1] == cols[j].Data().Buffers()[1]
		if want := j == 2 || j == 3; shared != want {
			t.Errorf("column %d: shared %v, want %v", j, shared, want)
		}
		a.Release()
	}
	for j, a := range cols {
		if a.Len() != len(want) || a.NullN() != 0 || !arrow.TypeEqual(a.DataType(), metaFields[j].Type) {
			t.Fatalf("column %d: len %d nulls %d type %s", j, a.Len(), a.NullN(), a.DataType())
		}
		if v, ok := a.(interface{ ValidateFull() error }); ok {
			if err := v.ValidateFull(); err != nil {
				t.Fatalf("column %d: %v", j, err)
			}
		}
	}
}

// TestStringRunsEvenOffsets: string arrays whose values are all of one
// width share one offsets memory (evenOffsets), whatever their values and
// lengths; mixed widths and long arrays make their own. Every array reads
// its own values.
func TestStringRunsEvenOffsets(t *testing.T) {
	mem := checkedMem(t)
	mk := func(runs ...metaRun) *array.String {
		return stringRuns(mem, len(runs), func(i int) (string, int) { return runs[i].pos, runs[i].n }).(*array.String)
	}
	check := func(a *array.String, runs ...metaRun) {
		t.Helper()
		if err := a.ValidateFull(); err != nil {
			t.Fatal(err)
		}
		k := 0
		for _, r := range runs {
			for j := 0; j < r.n; j++ {
				if a.Value(k) != r.pos {
					t.Fatalf("row %d: %q, want %q", k, a.Value(k), r.pos)
				}
				k++
			}
		}
		if k != a.Len() {
			t.Fatalf("%d rows, want %d", a.Len(), k)
		}
	}
	offsets := func(a *array.String) *byte { return &a.Data().Buffers()[1].Bytes()[0] }
	r1 := []metaRun{{pos: "t_0001", n: 500}}
	r2 := []metaRun{{pos: "t_0002", n: 300}, {pos: "t_0003", n: 2000}} // longer: the shared offsets grow
	r3 := []metaRun{{pos: "t_0004", n: 10}}
	mixed := []metaRun{{pos: "binlog.000001:99", n: 3}, {pos: "binlog.000001:100", n: 4}}
	long := []metaRun{{pos: "t_0005", n: evenMaxRows + 1}}
	a1, a2, a3, am, al := mk(r1...), mk(r2...), mk(r3...), mk(mixed...), mk(long...)
	for _, a := range []*array.String{a1, a2, a3, am, al} {
		defer a.Release()
	}
	check(a1, r1...)
	check(a2, r2...)
	check(a3, r3...)
	check(am, mixed...)
	check(al, long...)
	if offsets(a2) != offsets(a3) {
		t.Error("two arrays of one width do not share their offsets")
	}
	if offsets(am) == offsets(a3) || offsets(al) == offsets(a3) {
		t.Error("a mixed-width or long array shares the offsets")
	}
	if got := a2.Data().Buffers()[1].Len(); got != (2300+1)*4 {
		t.Errorf("offsets buffer of %d bytes, want %d", got, (2300+1)*4)
	}
}
