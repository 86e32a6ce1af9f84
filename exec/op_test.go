package exec_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/exec"
)

func TestFeed(t *testing.T) {
	ctx := context.Background()
	f := &exec.Feed{}
	if err := f.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if b, err := f.Next(ctx); b != nil || err != nil {
		t.Fatalf("an empty feed yields %v, %v (want nil)", b, err)
	}
	one, two := &exec.Batch{Table: "one"}, &exec.Batch{Table: "two"}
	for _, want := range []*exec.Batch{one, two} {
		f.Push(want)
		if b, _ := f.Next(ctx); b != want {
			t.Errorf("Next = %v, want the batch pushed", b)
		}
		if b, _ := f.Next(ctx); b != nil {
			t.Errorf("Next after the batch = %v, want nil (end of stream)", b)
		}
	}
	f.Push(one)
	f.Push(two)
	if b, _ := f.Next(ctx); b != two {
		t.Errorf("a batch pushed over one not pulled: Next = %v", b)
	}
	f.Push(one)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := f.Next(ctx); b != nil {
		t.Errorf("Close forgets the batch not pulled: Next = %v", b)
	}
}

// TestProgramOp runs batches through Feed → ProgramOp the way the engine
// does, reusing one input Batch and its selection vector: every output and
// side output is the program's over the live rows of the batch pushed
// last, and once the chain yielded nil it holds no memory (the checked
// allocator ends at zero while inputs are released between batches).
func TestProgramOp(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	rb := array.NewRecordBuilder(mem, smallSchema)
	defer rb.Release()
	p, err := exec.NewProgram(exec.ProgramConfig{Where: mustParse(t, "amount > 15 OR amount IS NULL"),
		Outputs: []exec.Expr{mustParse(t, "id"), mustParse(t, "CAST(code AS INT64) * 2")}, Names: []string{"id", "code2"},
		OnError: exec.OnErrorSkip, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	feed := &exec.Feed{}
	op := &exec.ProgramOp{Input: feed, Prog: p}
	if err := op.Init(ctx); err != nil {
		t.Fatal(err)
	}
	in := &exec.Batch{DB: "db", Table: "t"}
	sel := make([]int32, 0, 5)
	for k, c := range []struct {
		sel                        []int32 // nil: every row
		ids, code2, kept, rejected string
		errs                       string
	}{
		{nil, "3,5", "18,22", "[2 4]", "[0]", "[1 3]"},
		{[]int32{0, 2}, "3", "18", "[2]", "[0]", "[]"},
		{[]int32{1, 4}, "5", "22", "[4]", "[]", "[1]"},
		{[]int32{}, "", "", "[]", "[]", "[]"},
	} {
		in.Record = smallBatch(rb, []int64{1, 2, 3, 4, 5}, []float64{10, 20, 0, 40, 50}, []bool{true, true, false, true, true},
			[]string{"7", "x", "9", "", "11"}, nil)
		in.Sel = nil
		if c.sel != nil {
			in.Sel = append(sel[:0], c.sel...) // the same vector, rewritten
		}
		feed.Push(in)
		out, err := op.Next(ctx)
		if err != nil || out == nil {
			t.Fatalf("batch %d: %v, error %v", k, out, err)
		}
		var rows []string
		for _, e := range op.Errs() {
			rows = append(rows, fmt.Sprint(e.Row))
		}
		got := fmt.Sprintf("%s|%s|%v|%v|[%s]", strings.Join(column(out.Record, 0), ","), strings.Join(column(out.Record, 1), ","),
			op.Kept(), op.Rejected(), strings.Join(rows, " "))
		want := fmt.Sprintf("%s|%s|%s|%s|%s", c.ids, c.code2, c.kept, c.rejected, c.errs)
		if got != want {
			t.Errorf("batch %d: %s, want %s", k, got, want)
		}
		if out.Sel != nil || out.DB != "db" || out.Table != "t" || op.Source() != in {
			t.Errorf("batch %d: selection %v, table %s.%s, source %p (want no selection, db.t, %p)", k, out.Sel, out.DB, out.Table, op.Source(), in)
		}
		if end, err := op.Next(ctx); end != nil || err != nil || op.Source() != nil || op.Kept() != nil || op.Errs() != nil {
			t.Fatalf("batch %d: after it %v, error %v, side outputs left", k, end, err)
		}
		in.Release()
		if n := mem.CurrentAlloc(); n != 0 {
			t.Fatalf("batch %d: %d bytes held after the chain yielded nil", k, n)
		}
	}
	// Close releases the output of a batch whose end was not pulled.
	in.Record = smallBatch(rb, []int64{1}, []float64{20}, nil, []string{"1"}, nil)
	in.Sel = nil
	feed.Push(in)
	if out, err := op.Next(ctx); err != nil || out == nil {
		t.Fatalf("%v, error %v", out, err)
	}
	if err := op.Close(); err != nil {
		t.Fatal(err)
	}
	in.Release()
}

// TestProgramOpFail: under on_error = 'fail' Next returns the row error
// (its row an index of the input batch) and holds nothing.
func TestProgramOpFail(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	rb := array.NewRecordBuilder(mem, smallSchema)
	defer rb.Release()
	p, err := exec.NewProgram(exec.ProgramConfig{Outputs: []exec.Expr{mustParse(t, "CAST(code AS INT64)")}, Names: []string{"c"}, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	feed := &exec.Feed{}
	op := &exec.ProgramOp{Input: feed, Prog: p}
	if err := op.Init(ctx); err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	in := &exec.Batch{Record: smallBatch(rb, []int64{1, 2}, []float64{1, 2}, nil, []string{"1", "x"}, nil)}
	defer in.Release()
	feed.Push(in)
	out, err := op.Next(ctx)
	var re exec.RowError
	if out != nil || !errors.As(err, &re) || re.Row != 1 || re.Column != "c" || op.Source() != nil {
		t.Errorf("Next = %v, %v (want the row error of row 1, column c)", out, err)
	}
	if err := (&exec.ProgramOp{Prog: p}).Init(ctx); err == nil {
		t.Error("a ProgramOp without input initialized")
	}
}
