package exec_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/exec"
)

// TestOutputEveryType checks the output arrays written straight into
// Arrow buffers: for every column type, the column itself (passed through
// or copied row by row) and the column computed (a CASE, which goes
// through a vector) must show the input's values, for every row, for the
// rows a WHERE keeps, and under an input selection.
func TestOutputEveryType(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec, cols := testRecord(mem)
	defer rec.Release()
	schema := rec.Schema()
	var outs []exec.Expr
	var names []string
	for _, f := range schema.Fields() {
		e, err := parseMini(fmt.Sprintf("if(TRUE, `%s`, `%s`)", f.Name, f.Name), cols)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		outs = append(outs, cols[f.Name], e)
		names = append(names, f.Name, f.Name+"_case")
	}
	ctx := context.Background()
	for _, tc := range []struct {
		where string
		sel   []int32
		want  []int
	}{
		{"", nil, []int{0, 1, 2, 3}},
		{"b IS NOT NULL", nil, []int{0, 1, 2}},
		{"b IS NOT NULL", []int32{0, 2, 3}, []int{0, 2}},
		{"", []int32{1, 3}, []int{1, 3}},
		{"i32 > 100", nil, nil},
	} {
		cfg := exec.ProgramConfig{Outputs: outs, Names: names, Alloc: mem}
		if tc.where != "" {
			cfg.Where = mustWhere(t, tc.where, cols)
		}
		p, err := exec.NewProgram(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for round := 0; round < 2; round++ { // the second run reuses the scratch space
			out, _, _, _, err := p.Run(ctx, &exec.Batch{Record: rec, Sel: tc.sel})
			if err != nil {
				t.Fatal(err)
			}
			if int(out.NumRows()) != len(tc.want) {
				t.Fatalf("%q sel=%v: %d rows, want %d", tc.where, tc.sel, out.NumRows(), len(tc.want))
			}
			for j := range outs {
				in := rec.Column(j / 2)
				got := out.Column(j)
				if j%2 == 0 && !arrow.TypeEqual(got.DataType(), in.DataType()) {
					t.Errorf("%s: type %s, want %s", names[j], got.DataType(), in.DataType())
				}
				for k, row := range tc.want {
					if g, w := got.ValueStr(k), in.ValueStr(row); g != w || got.IsNull(k) != in.IsNull(row) {
						t.Errorf("%q sel=%v %s row %d: %q, want %q", tc.where, tc.sel, names[j], row, g, w)
					}
				}
				if got.NullN() != countNulls(in, tc.want) {
					t.Errorf("%s: %d NULLs, want %d", names[j], got.NullN(), countNulls(in, tc.want))
				}
			}
			if tc.where == "" && tc.sel == nil {
				// Every row of a plain column: the input array itself.
				for j := 0; j < len(outs); j += 2 {
					if a, b := out.Column(j).Data().Buffers()[1], rec.Column(j / 2).Data().Buffers()[1]; a != b {
						t.Errorf("%s was copied, want the input's buffer", names[j])
					}
				}
			}
			out.Release()
		}
	}
}

func mustWhere(t *testing.T, sql string, cols map[string]exec.Expr) exec.Expr {
	t.Helper()
	e, err := parseMini(sql, cols)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return e
}

func countNulls(a arrow.Array, rows []int) int {
	n := 0
	for _, r := range rows {
		if a.IsNull(r) {
			n++
		}
	}
	return n
}

// TestOutputSlicedStrings copies string columns row by row out of arrays
// that start at an offset, with NULLs, and constants of several types.
func TestOutputSlicedStrings(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec, cols := selectRecord(mem, 60)
	defer rec.Release()
	outs := []exec.Expr{cols["s"], cols["s2"], mustWhere(t, "upper(s)", cols), mustWhere(t, "'k'", cols),
		mustWhere(t, "1.5", cols), mustWhere(t, "CAST(NULL AS INT64)", cols), mustWhere(t, "2 > 1", cols)}
	p, err := exec.NewProgram(exec.ProgramConfig{Where: mustWhere(t, "i > 2", cols), Outputs: outs,
		Names: []string{"s", "s2", "us", "k", "dec", "null", "t"}, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	out, kept, _, _, err := p.Run(context.Background(), &exec.Batch{Record: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if len(kept) == 0 || len(kept) == 60 {
		t.Fatalf("kept %d rows: the test wants a strict subset", len(kept))
	}
	s, s2 := rec.Column(4).(*array.String), rec.Column(5).(*array.String)
	for k, row := range kept {
		i := int(row)
		checks := []struct {
			col  int
			want string
		}{
			{0, s.ValueStr(i)}, {1, s2.ValueStr(i)}, {3, "k"}, {4, "1.5"}, {5, array.NullValueStr}, {6, "true"},
		}
		if s.IsNull(i) {
			checks = append(checks, struct {
				col  int
				want string
			}{2, array.NullValueStr})
		}
		for _, c := range checks {
			if got := out.Column(c.col).ValueStr(k); got != c.want {
				t.Errorf("row %d column %d: %q, want %q", i, c.col, got, c.want)
			}
		}
	}
}

// TestOutputAppendCase checks upper/lower of a column written straight
// into the output array (stdlib.Bound.Append) against the same functions
// run as kernels over a computed argument, over a sliced record with
// NULLs and non-ASCII text, for every row, a WHERE and an input selection,
// twice (the scratch buffer is reused).
func TestOutputAppendCase(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec, cols := selectRecord(mem, 120)
	defer rec.Release()
	outs := []exec.Expr{mustWhere(t, "upper(s)", cols), mustWhere(t, "upper(concat(s, ''))", cols),
		mustWhere(t, "lower(s2)", cols), mustWhere(t, "lower(concat(s2, ''))", cols)}
	var odd []int32
	for i := int32(1); i < 120; i += 2 {
		odd = append(odd, i)
	}
	for _, tc := range []struct {
		where string
		sel   []int32
	}{{"", nil}, {"i > 2", nil}, {"", odd}, {"i > 2", odd}} {
		cfg := exec.ProgramConfig{Outputs: outs, Names: []string{"a", "b", "c", "d"}, Alloc: mem}
		if tc.where != "" {
			cfg.Where = mustWhere(t, tc.where, cols)
		}
		p, err := exec.NewProgram(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for round := 0; round < 2; round++ {
			out, kept, _, _, err := p.Run(context.Background(), &exec.Batch{Record: rec, Sel: tc.sel})
			if err != nil {
				t.Fatal(err)
			}
			s, s2 := rec.Column(4).(*array.String), rec.Column(5).(*array.String)
			for k, row := range kept {
				i := int(row)
				want := []string{array.NullValueStr, array.NullValueStr, strings.ToLower(s2.Value(i)), strings.ToLower(s2.Value(i))}
				if s.IsValid(i) {
					want[0], want[1] = strings.ToUpper(s.Value(i)), strings.ToUpper(s.Value(i))
				}
				for j := range outs {
					if got := out.Column(j).ValueStr(k); got != want[j] {
						t.Errorf("%q sel=%v row %d column %d: %q, want %q", tc.where, tc.sel != nil, i, j, got, want[j])
					}
				}
			}
			if out.Column(0).NullN() != out.Column(1).NullN() {
				t.Errorf("%d NULLs, want %d", out.Column(0).NullN(), out.Column(1).NullN())
			}
			out.Release()
		}
	}
}

// TestProgramConcurrentRuns runs one Program from several goroutines (run
// it with -race): each run has its own scratch space and string bytes, so
// every run gives the same output.
func TestProgramConcurrentRuns(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec, cols := selectRecord(mem, 300)
	defer rec.Release()
	p, err := exec.NewProgram(exec.ProgramConfig{Where: mustWhere(t, "f * 100 > 30 AND s <> 'a'", cols),
		Outputs: []exec.Expr{cols["id"], mustWhere(t, "upper(s)", cols), mustWhere(t, "lower(concat(s, s2))", cols)},
		Names:   []string{"id", "u", "l"}, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	text := func() (string, error) {
		out, _, _, _, err := p.Run(context.Background(), &exec.Batch{Record: rec})
		if err != nil {
			return "", err
		}
		defer out.Release()
		var b strings.Builder
		for j := 0; j < int(out.NumCols()); j++ {
			fmt.Fprintln(&b, out.Column(j))
		}
		return b.String(), nil
	}
	want, err := text()
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for k := 0; k < 20; k++ {
				got, err := text()
				if err == nil && got != want {
					err = fmt.Errorf("run gave\n%s\nwant\n%s", got, want)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
