package exec_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/stdlib"
)

var smallSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "code", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

func smallBatch(b *array.RecordBuilder, ids []int64, amounts []float64, amountValid []bool, codes []string, codeValid []bool) arrow.RecordBatch {
	b.Field(0).(*array.Int64Builder).AppendValues(ids, nil)
	b.Field(1).(*array.Float64Builder).AppendValues(amounts, amountValid)
	b.Field(2).(*array.StringBuilder).AppendValues(codes, codeValid)
	return b.NewRecordBatch()
}

func smallCols() map[string]exec.Expr {
	return map[string]exec.Expr{
		"id":     exec.Col(0, "id", stdlib.TInt64),
		"amount": exec.Col(1, "amount", stdlib.TFloat64),
		"code":   exec.Col(2, "code", stdlib.TString),
	}
}

func mustParse(t *testing.T, sql string) exec.Expr {
	t.Helper()
	e, err := parseMini(sql, smallCols())
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return e
}

func column(rec arrow.RecordBatch, i int) []string {
	out := make([]string, rec.NumRows())
	for k := range out {
		out[k] = rec.Column(i).ValueStr(k)
	}
	return out
}

func TestProgramOnError(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, smallSchema)
	defer rb.Release()
	rec := smallBatch(rb, []int64{1, 2, 3, 4, 5}, []float64{10, 20, 0, 40, 50}, []bool{true, true, false, true, true},
		[]string{"7", "x", "9", "", "11"}, nil)
	defer rec.Release()
	where := mustParse(t, "amount > 15 OR amount IS NULL")
	outs := []exec.Expr{mustParse(t, "id"), mustParse(t, "CAST(code AS INT64) * 2")}
	names := []string{"id", "code2"}

	// fail: the first row error is the error, naming row, column and reason
	p, err := exec.NewProgram(exec.ProgramConfig{Where: where, Outputs: outs, Names: names, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, _, err = p.Run(context.Background(), &exec.Batch{Record: rec})
	var re exec.RowError
	if !errors.As(err, &re) || re.Row != 1 || re.Column != "code2" || !strings.Contains(re.Reason, `cannot cast 'x' to INT64`) {
		t.Fatalf("err = %v", err)
	}

	// skip and dead_letter: failing rows leave out, listed in rowErrs
	for _, mode := range []exec.OnError{exec.OnErrorSkip, exec.OnErrorDeadLetter} {
		p, err := exec.NewProgram(exec.ProgramConfig{Where: where, Outputs: outs, Names: names, OnError: mode, Alloc: mem})
		if err != nil {
			t.Fatal(err)
		}
		out, kept, rejected, rowErrs, err := p.Run(context.Background(), &exec.Batch{Record: rec})
		if err != nil {
			t.Fatal(err)
		}
		if got := column(out, 0); strings.Join(got, ",") != "3,5" {
			t.Errorf("ids = %v", got)
		}
		if got := column(out, 1); strings.Join(got, ",") != "18,22" {
			t.Errorf("code2 = %v", got)
		}
		if len(kept) != 2 || kept[0] != 2 || kept[1] != 4 {
			t.Errorf("kept = %v", kept)
		}
		if len(rejected) != 1 || rejected[0] != 0 {
			t.Errorf("rejected = %v", rejected)
		}
		if len(rowErrs) != 2 || rowErrs[0].Row != 1 || rowErrs[1].Row != 3 || rowErrs[1].Column != "code2" {
			t.Errorf("rowErrs = %v", rowErrs)
		}
		out.Release()
	}
}

// TestProgramRowErrorsInRowOrder: the failing rows of a batch come in the
// order of its rows, whichever part of the program failed them: a WHERE
// of two rules evaluates the second only for the rows the first leaves
// open, and the outputs are evaluated one after the other, so the dead
// letters of one transaction were written grouped by rule or column
// (versions 3, 4, 7, 8 then 2, 6), and on_error = 'fail' named the first
// failing row of the first failing column, not the first failing row
// (pipelinetests trial).
func TestProgramRowErrorsInRowOrder(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, smallSchema)
	defer rb.Release()
	rec := smallBatch(rb, []int64{1, 2, 3, 4, 5}, []float64{10, 40, 10, 10, 10}, nil,
		[]string{"1", "2", "3", "x", "y"}, nil)
	defer rec.Release()
	for _, c := range []struct {
		name  string
		where string
		outs  []string
		want  string // row:column of each error, in order
	}{
		{"outputs", "", []string{"CAST(code AS INT64)", "assert(amount < 30, 'too big')"}, "1:c1 3:c0 4:c0"},
		{"where", "assert(code <> 'y', 'no y') AND assert(amount < 30, 'too big')", []string{"id"}, "1:WHERE 4:WHERE"},
		{"where and outputs", "assert(amount < 30, 'too big')", []string{"id", "CAST(code AS INT64)"}, "1:WHERE 3:c1 4:c1"},
	} {
		var where exec.Expr
		if c.where != "" {
			where = mustParse(t, c.where)
		}
		var outs []exec.Expr
		var names []string
		for i, o := range c.outs {
			outs = append(outs, mustParse(t, o))
			names = append(names, fmt.Sprintf("c%d", i))
		}
		for _, mode := range []exec.OnError{exec.OnErrorFail, exec.OnErrorDeadLetter} {
			p, err := exec.NewProgram(exec.ProgramConfig{Where: where, Outputs: outs, Names: names, OnError: mode, Alloc: mem})
			if err != nil {
				t.Fatal(err)
			}
			out, _, _, rowErrs, err := p.Run(context.Background(), &exec.Batch{Record: rec})
			if out != nil {
				out.Release()
			}
			if mode == exec.OnErrorFail {
				var re exec.RowError
				first, _, _ := strings.Cut(c.want, " ")
				if !errors.As(err, &re) || fmt.Sprintf("%d:%s", re.Row, re.Column) != first {
					t.Errorf("%s, on_error = 'fail': err = %v, want the row error %s", c.name, err, first)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, re := range rowErrs {
				got = append(got, fmt.Sprintf("%d:%s", re.Row, re.Column))
			}
			if strings.Join(got, " ") != c.want {
				t.Errorf("%s: row errors %v, want %s", c.name, got, c.want)
			}
		}
	}
}

func TestProgramWhereErrorAndSelection(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, smallSchema)
	defer rb.Release()
	rec := smallBatch(rb, []int64{1, 2, 3, 4}, []float64{1, 2, 3, 4}, nil, []string{"1", "b", "3", "4"}, nil)
	defer rec.Release()
	p, err := exec.NewProgram(exec.ProgramConfig{Where: mustParse(t, "CAST(code AS INT64) > 1"),
		Outputs: []exec.Expr{mustParse(t, "id")}, Names: []string{"id"}, OnError: exec.OnErrorSkip, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	// Row 0 is not live (selection), row 1 fails in WHERE.
	out, kept, rejected, rowErrs, err := p.Run(context.Background(), &exec.Batch{Record: rec, Sel: []int32{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if strings.Join(column(out, 0), ",") != "3,4" || len(kept) != 2 || len(rejected) != 0 {
		t.Errorf("out %v kept %v rejected %v", column(out, 0), kept, rejected)
	}
	if len(rowErrs) != 1 || rowErrs[0].Row != 1 || rowErrs[0].Column != "WHERE" {
		t.Errorf("rowErrs = %v", rowErrs)
	}
	// Project evaluates the outputs over the given rows only.
	tomb, err := p.Project(context.Background(), &exec.Batch{Record: rec}, []int32{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tomb.Release()
	if strings.Join(column(tomb, 0), ",") != "1,2" {
		t.Errorf("project = %v", column(tomb, 0))
	}
}

// TestProgramReusedBatches runs one Program over batches built by one
// reused builder, with NULLs moving between rows: nothing stale may show.
func TestProgramReusedBatches(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, smallSchema)
	defer rb.Release()
	p, err := exec.NewProgram(exec.ProgramConfig{
		Where:   mustParse(t, "id > 0"),
		Outputs: []exec.Expr{mustParse(t, "amount * 2"), mustParse(t, "upper(code)"), mustParse(t, "coalesce(amount, -1) + id")},
		Names:   []string{"a2", "uc", "c"}, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	batches := []struct {
		amounts []float64
		valid   []bool
		codes   []string
		cvalid  []bool
		want    [3]string
	}{
		{[]float64{1, 2, 3}, []bool{false, true, true}, []string{"a", "b", "c"}, nil, [3]string{"(null),4,6", "A,B,C", "0,4,6"}},
		{[]float64{5, 6, 7}, nil, []string{"d", "e", "f"}, []bool{true, false, true}, [3]string{"10,12,14", "D,(null),F", "6,8,10"}},
		{[]float64{8, 9, 10}, []bool{true, true, false}, []string{"g", "h", "i"}, nil, [3]string{"16,18,(null)", "G,H,I", "9,11,2"}},
	}
	for k, b := range batches {
		rec := smallBatch(rb, []int64{1, 2, 3}, b.amounts, b.valid, b.codes, b.cvalid)
		out, _, _, _, err := p.Run(context.Background(), &exec.Batch{Record: rec})
		if err != nil {
			t.Fatal(err)
		}
		for c := 0; c < 3; c++ {
			if got := strings.Join(column(out, c), ","); got != b.want[c] {
				t.Errorf("batch %d column %d = %s, want %s", k, c, got, b.want[c])
			}
		}
		out.Release()
		rec.Release()
	}
}

// TestFilterProjectOverBatches: a Program filters and projects batch
// after batch; its outputs have no selection.
func TestFilterProjectOverBatches(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, smallSchema)
	defer rb.Release()
	b1 := smallBatch(rb, []int64{1, 2, 3}, []float64{10, 20, 30}, nil, []string{"a", "b", "c"}, nil)
	b2 := smallBatch(rb, []int64{4, 5}, []float64{1, 2}, nil, []string{"d", "e"}, nil)
	b3 := smallBatch(rb, []int64{6}, []float64{60}, nil, []string{"f"}, nil)
	p, err := exec.NewProgram(exec.ProgramConfig{Where: mustParse(t, "amount > 15"),
		Outputs: []exec.Expr{mustParse(t, "id"), mustParse(t, "concat(code, '!')")}, Names: []string{"id", "c"}, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids, cs []string
	for _, rec := range []arrow.RecordBatch{b1, b2, b3} {
		out, _, _, _, err := p.Run(ctx, &exec.Batch{Record: rec})
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, column(out, 0)...)
		cs = append(cs, column(out, 1)...)
		out.Release()
	}
	if strings.Join(ids, ",") != "2,3,6" || strings.Join(cs, ",") != "b!,c!,f!" {
		t.Errorf("ids %v cs %v", ids, cs)
	}
}

func TestUDF(t *testing.T) {
	f, err := exec.NewUDF("tier", []string{"amount"}, []stdlib.Type{stdlib.Dec(12, 2)}, stdlib.TString,
		`amount > 1000 ? "gold" : "standard"`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.NewUDF("bad", []string{"a"}, []stdlib.Type{stdlib.TInt64}, stdlib.TString, `a + 1`); err == nil {
		t.Error("body returning an int accepted for STRING")
	}
	if _, err := exec.NewUDF("bad", []string{"a"}, []stdlib.Type{stdlib.TInt64}, stdlib.TInt64, `b + 1`); err == nil {
		t.Error("unknown name accepted")
	}
	div, err := exec.NewUDF("inv", []string{"x"}, []stdlib.Type{stdlib.TInt64}, stdlib.TInt64, `100 / x > 1 ? 1 : int("z")`)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, smallSchema)
	defer rb.Release()
	rec := smallBatch(rb, []int64{1, 2, 3}, []float64{5000, 10, 0}, []bool{true, true, false}, []string{"", "", ""}, nil)
	defer rec.Release()
	cols := smallCols()
	call, err := exec.CallUDF(f, []exec.Expr{cols["amount"]})
	if err != nil {
		t.Fatal(err)
	}
	hundred, _ := exec.Lit(int64(1000), stdlib.TInt64)
	big, _ := exec.Binary("*", cols["id"], hundred)
	call2, err := exec.CallUDF(div, []exec.Expr{big})
	if err != nil {
		t.Fatal(err)
	}
	p, err := exec.NewProgram(exec.ProgramConfig{Outputs: []exec.Expr{call, call2}, Names: []string{"tier", "inv"}, OnError: exec.OnErrorSkip, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	out, _, _, rowErrs, err := p.Run(context.Background(), &exec.Batch{Record: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	// 100 / 1000 = 0.1: every row takes the failing branch.
	if len(rowErrs) != 3 || !strings.Contains(rowErrs[0].Reason, `function "inv"`) {
		t.Fatalf("rowErrs = %v", rowErrs)
	}
	p2, _ := exec.NewProgram(exec.ProgramConfig{Outputs: []exec.Expr{call}, Names: []string{"tier"}, Alloc: mem})
	out2, _, _, _, err := p2.Run(context.Background(), &exec.Batch{Record: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer out2.Release()
	if got := strings.Join(column(out2, 0), ","); got != "gold,standard,(null)" {
		t.Errorf("tier = %s", got)
	}
}

// TestUDFNilResult: a BOOL or number body that gives nil is a row error
// that says so; a BOOL body's nil was false, written without a word, and
// a number body's error was expr's "invalid operation: int64(<nil>)". A
// BOOL body of another type is refused when the file is loaded.
func TestUDFNilResult(t *testing.T) {
	if _, err := exec.NewUDF("bad", []string{"a"}, []stdlib.Type{stdlib.TInt64}, stdlib.TBool, `a + 1`); err == nil || !strings.Contains(err.Error(), "declared BOOL") {
		t.Errorf("body returning an int accepted for BOOL: %v", err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, smallSchema)
	defer rb.Release()
	rec := smallBatch(rb, []int64{0, 2}, []float64{1, 2}, nil, []string{"", ""}, nil)
	defer rec.Release()
	cols := smallCols()
	for _, c := range []struct {
		ret  stdlib.Type
		body string
		want string // row 1 (id 2)
	}{
		{stdlib.TBool, `x > 0 ? true : nil`, "true"},
		{stdlib.TInt64, `x > 0 ? x : nil`, "2"},
		{stdlib.TFloat64, `x > 0 ? 1.5 : nil`, "1.5"},
	} {
		f, err := exec.NewUDF("f", []string{"x"}, []stdlib.Type{stdlib.TInt64}, c.ret, c.body)
		if err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		call, err := exec.CallUDF(f, []exec.Expr{cols["id"]})
		if err != nil {
			t.Fatal(err)
		}
		p, err := exec.NewProgram(exec.ProgramConfig{Outputs: []exec.Expr{call}, Names: []string{"v"}, OnError: exec.OnErrorSkip, Alloc: mem})
		if err != nil {
			t.Fatal(err)
		}
		out, _, _, rowErrs, err := p.Run(context.Background(), &exec.Batch{Record: rec})
		if err != nil {
			t.Fatal(err)
		}
		if len(rowErrs) != 1 || rowErrs[0].Row != 0 || !strings.Contains(rowErrs[0].Reason, `function "f": the body gave nil, which a `+c.ret.String()+` result cannot be`) {
			t.Errorf("%s: row errors %+v", c.body, rowErrs)
		}
		// (on_error skip: the failed row is left out)
		if got := column(out, 0); len(got) != 1 || got[0] != c.want {
			t.Errorf("%s: values %v", c.body, got)
		}
		out.Release()
	}
}

func TestNowIsStatementTime(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, smallSchema)
	defer rb.Release()
	rec := smallBatch(rb, []int64{1, 2}, []float64{1, 2}, nil, []string{"", ""}, nil)
	defer rec.Release()
	now, _ := exec.Call("now", nil)
	s, _ := exec.Cast(now, stdlib.TString)
	r, _ := exec.Call("rand", nil)
	p, err := exec.NewProgram(exec.ProgramConfig{Outputs: []exec.Expr{s, r}, Names: []string{"now", "r"}, Alloc: mem, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	out, _, _, _, err := p.Run(context.Background(), &exec.Batch{Record: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if got := strings.Join(column(out, 0), ","); got != "2026-01-02 03:04:05,2026-01-02 03:04:05" {
		t.Errorf("now = %s", got)
	}
	if rs := column(out, 1); rs[0] == rs[1] {
		t.Errorf("rand() gave the same value twice: %v", rs)
	}
}

// TestWhereReadsAsMySQL: a WHERE of a number keeps the non-zero rows, one
// of text the rows whose numeric prefix is not zero, as MySQL does; NULL
// drops the row.
func TestWhereReadsAsMySQL(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, smallSchema)
	defer rb.Release()
	rec := smallBatch(rb, []int64{0, 2, 3, -4, 5, 6}, []float64{0.5, 0, -1, 0, 2, 0}, []bool{true, true, true, false, true, true},
		[]string{"abc", "12abc", "0.0", " 7", "", "true"}, []bool{true, true, true, true, true, false})
	defer rec.Release()
	for where, want := range map[string]string{
		"id":                                   "[2 3 -4 5 6]",
		"amount":                               "[0 3 5]",
		"code":                                 "[2 -4]",
		"NOT code":                             "[0 3 5]",
		"id AND code":                          "[2 -4]",
		"amount OR code":                       "[0 2 3 -4 5]",
		"NOT (id - 2)":                         "[2]",
		"id + amount > 2":                      "[5 6]",
		"CASE WHEN code THEN 1 ELSE 0 END = 1": "[2 -4]",
	} {
		p, err := exec.NewProgram(exec.ProgramConfig{Where: mustParse(t, where), Outputs: []exec.Expr{mustParse(t, "id")}, Names: []string{"id"}, Alloc: mem})
		if err != nil {
			t.Errorf("WHERE %s: %v", where, err)
			continue
		}
		out, _, _, _, err := p.Run(context.Background(), &exec.Batch{Record: rec})
		if err != nil {
			t.Fatalf("WHERE %s: %v", where, err)
		}
		if got := "[" + strings.Join(column(out, 0), " ") + "]"; got != want {
			t.Errorf("WHERE %s: rows %s, want %s", where, got, want)
		}
		out.Release()
	}
}

// TestUDFArgumentThatDoesNotFit: an argument a function's parameter type
// cannot hold is a row error naming the value, as with CAST, not a NULL or
// a number the body would compute with unawares.
func TestUDFArgumentThatDoesNotFit(t *testing.T) {
	f, err := exec.NewUDF("twice", []string{"x"}, []stdlib.Type{{Kind: stdlib.Int32}}, stdlib.TInt64, `x * 2`)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, smallSchema)
	defer rb.Release()
	rec := smallBatch(rb, []int64{1, 2, 3, 4}, []float64{1, 2, 3, 4}, nil, []string{"7", "x", "3000000000", "-2"}, nil)
	defer rec.Release()
	call, err := exec.CallUDF(f, []exec.Expr{smallCols()["code"]})
	if err != nil {
		t.Fatal(err)
	}
	// A constant that does not fit fails every row the same way: it is an
	// error of the call, for the planner to show at the argument.
	lit, _ := exec.Lit("3000000000", stdlib.TString)
	var ae *exec.ArgError
	if _, err := exec.CallUDF(f, []exec.Expr{lit}); !errors.As(err, &ae) || ae.Arg != 0 ||
		ae.Msg != `argument 1 of "twice" (x INT32): value 3000000000 is out of range for INT32` {
		t.Errorf("constant argument out of range: %v", err)
	}
	p, err := exec.NewProgram(exec.ProgramConfig{Outputs: []exec.Expr{call}, Names: []string{"v"}, OnError: exec.OnErrorSkip, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	out, kept, _, rowErrs, err := p.Run(context.Background(), &exec.Batch{Record: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if got := strings.Join(column(out, 0), ","); got != "14,-4" || len(kept) != 2 {
		t.Errorf("values %s (rows %v), want 14,-4", got, kept)
	}
	if len(rowErrs) != 2 || rowErrs[0].Reason != `function "twice": argument 1 (x): cannot cast 'x' to INT32` ||
		rowErrs[1].Reason != `function "twice": argument 1 (x): value 3000000000 is out of range for INT32` {
		t.Errorf("row errors %v", rowErrs)
	}
}

// TestUDFArgumentOutsideTheBody: a UINT64 above int64 and a zero date
// have no value in a function body (int, time.Time); such a row fails
// instead of running the body with another value.
func TestUDFArgumentOutsideTheBody(t *testing.T) {
	id, err := exec.NewUDF("same", []string{"x"}, []stdlib.Type{stdlib.TUint64}, stdlib.TUint64, `x`)
	if err != nil {
		t.Fatal(err)
	}
	year, err := exec.NewUDF("y", []string{"d"}, []stdlib.Type{stdlib.TDate}, stdlib.TInt64, `d.Year()`)
	if err != nil {
		t.Fatal(err)
	}
	big, _ := exec.Lit(uint64(18446744073709551615), stdlib.TUint64)
	zero, err := exec.Lit("0000-00-00", stdlib.TDate)
	if err != nil {
		t.Fatal(err)
	}
	day, _ := exec.Lit("2024-02-29", stdlib.TDate)
	call := func(f *exec.UDF, arg exec.Expr) exec.Expr {
		e, err := exec.CallUDF(f, []exec.Expr{arg})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, smallSchema)
	defer rb.Release()
	rec := smallBatch(rb, []int64{1}, []float64{1}, nil, []string{""}, nil)
	defer rec.Release()
	for _, c := range []struct {
		e    exec.Expr
		want string // the value, or the row error
	}{
		{call(id, big), `function "same": argument 1: 18446744073709551615 is beyond the integers of a function body (int64)`},
		{call(year, zero), `function "y": argument 1: 0000-00-00 is not a calendar date`},
		{call(year, day), "2024"},
	} {
		p, err := exec.NewProgram(exec.ProgramConfig{Outputs: []exec.Expr{c.e}, Names: []string{"v"}, OnError: exec.OnErrorSkip, Alloc: mem})
		if err != nil {
			t.Fatal(err)
		}
		out, _, _, rowErrs, err := p.Run(context.Background(), &exec.Batch{Record: rec})
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(column(out, 0), ",")
		if len(rowErrs) > 0 {
			got = rowErrs[0].Reason
		}
		out.Release()
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.e, got, c.want)
		}
	}
}

// TestUDFIntegerResultOfFloat: an integer function whose body computes a
// float rounds it as CAST does (half to even, as MariaDB a DOUBLE), and a
// value beyond the type is a row error. The body's float was truncated:
// `RETURNS INT64 AS EXPR 'a * 100'` gave 501 for a DECIMAL 5.02
// (501.99999999999994 in the body; repl-and-language trial), 2 for 2.7.
func TestUDFIntegerResultOfFloat(t *testing.T) {
	if _, err := exec.NewUDF("bad", []string{"a"}, []stdlib.Type{stdlib.TInt64}, stdlib.TInt64, `"x" + string(a)`); err == nil || !strings.Contains(err.Error(), "declared INT64") {
		t.Errorf("body returning a string accepted for INT64: %v", err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, smallSchema)
	defer rb.Release()
	rec := smallBatch(rb, []int64{1, 2, 3, 4, 5}, []float64{5.02, 2.5, -2.7, 1e30, 3.5}, nil, []string{"", "", "", "", ""}, nil)
	defer rec.Release()
	cols := smallCols()
	for _, c := range []struct {
		ret  stdlib.Type
		body string
		want string
		errs int
	}{
		{stdlib.TInt64, `x * 100`, "502,250,-270,350", 1},
		{stdlib.TInt64, `x`, "5,2,-3,4", 1},
		{stdlib.Type{Kind: stdlib.Int32}, `x`, "5,2,-3,4", 1},
		{stdlib.Type{Kind: stdlib.Uint8}, `x`, "5,2,4", 2},
		{stdlib.TInt64, `id * 2`, "2,4,6,8,10", 0},
	} {
		f, err := exec.NewUDF("f", []string{"x", "id"}, []stdlib.Type{stdlib.TFloat64, stdlib.TInt64}, c.ret, c.body)
		if err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		call, err := exec.CallUDF(f, []exec.Expr{cols["amount"], cols["id"]})
		if err != nil {
			t.Fatal(err)
		}
		p, err := exec.NewProgram(exec.ProgramConfig{Outputs: []exec.Expr{call}, Names: []string{"v"}, OnError: exec.OnErrorSkip, Alloc: mem})
		if err != nil {
			t.Fatal(err)
		}
		out, _, _, rowErrs, err := p.Run(context.Background(), &exec.Batch{Record: rec})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(column(out, 0), ","); got != c.want {
			t.Errorf("%s RETURNS %s: got %s, want %s", c.body, c.ret, got, c.want)
		}
		if len(rowErrs) != c.errs {
			t.Errorf("%s RETURNS %s: row errors %+v", c.body, c.ret, rowErrs)
		}
		for _, e := range rowErrs {
			if !strings.Contains(e.Reason, "out of range for "+c.ret.String()) {
				t.Errorf("%s RETURNS %s: row error %q", c.body, c.ret, e.Reason)
			}
		}
		out.Release()
	}
}

// TestUDFDateResultOutOfRange: a DATE or TIMESTAMP body result outside
// the language's years 0..9999 is a row error, as a number beyond its
// type is: it was stored as it came (RETURNS DATE AS EXPR
// 't.Add(duration("24h"))' of 9999-12-31 wrote the DATE 10000-01-01,
// which no MySQL column and no CAST gives; pipelinetests trial). Year 0
// is a year of the language (DATE '0001-06-01' - INTERVAL '1' YEAR).
func TestUDFDateResultOutOfRange(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, smallSchema)
	defer rb.Release()
	rec := smallBatch(rb, []int64{1, 2, 3}, []float64{0, 0, 0}, nil, []string{"", "", ""}, nil)
	defer rec.Release()
	cols := smallCols()
	for _, c := range []struct {
		ret  stdlib.Type
		body string
		want string // the values of the rows that passed
		bad  string // the text of the out-of-range result
	}{
		{stdlib.TDate, `date("9999-12-30").AddDate(0, 0, int(id) - 1)`, "9999-12-30,9999-12-31", "10000-01-01"},
		{stdlib.TDate, `date("0001-01-02").AddDate(0, 0, 1 - int(id))`, "0001-01-02,0001-01-01,0000-12-31", ""},
		{stdlib.TDate, `date("0000-01-02").AddDate(0, 0, 1 - int(id))`, "0000-01-02,0000-01-01", "-0001-12-31"},
		{stdlib.TTimestamp, `date("9999-12-31T23:59:58Z").Add(duration(string(id - 1) + "s"))`, "9999-12-31T23:59:58Z,9999-12-31T23:59:59Z", "10000-01-01"},
	} {
		f, err := exec.NewUDF("f", []string{"id"}, []stdlib.Type{stdlib.TInt64}, c.ret, c.body)
		if err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		call, err := exec.CallUDF(f, []exec.Expr{cols["id"]})
		if err != nil {
			t.Fatal(err)
		}
		p, err := exec.NewProgram(exec.ProgramConfig{Outputs: []exec.Expr{call}, Names: []string{"v"}, OnError: exec.OnErrorSkip, Alloc: mem})
		if err != nil {
			t.Fatal(err)
		}
		out, _, _, rowErrs, err := p.Run(context.Background(), &exec.Batch{Record: rec})
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(column(out, 0), ",")
		out.Release()
		wantErrs := 0
		if c.bad != "" {
			wantErrs = 1
		}
		if !strings.HasPrefix(got, c.want) || len(rowErrs) != wantErrs {
			t.Errorf("%s RETURNS %s: got %s and row errors %+v, want %s and %d row error", c.body, c.ret, got, rowErrs, c.want, wantErrs)
			continue
		}
		if c.bad != "" && (rowErrs[0].Row != 2 || !strings.Contains(rowErrs[0].Reason, c.bad) || !strings.Contains(rowErrs[0].Reason, "out of range for "+c.ret.String())) {
			t.Errorf("%s RETURNS %s: row error %+v, want row 2 naming %s out of range", c.body, c.ret, rowErrs[0], c.bad)
		}
	}
}

// TestUDFStringResultIsText: a STRING result is text, converted as CAST
// converts bytes to text: a body that cuts a character in two (expr-lang
// slices strings by bytes: 'upper(s)[0:1]' of "Ünïcödé") gave a STRING
// that was not UTF-8, which the jsonl format showed as U+FFFD and
// ClickHouse would have stored as it came; a byte that begins no character
// is '?', as in CAST(x AS STRING). A BINARY result keeps its bytes
// (pipelinetests trial).
func TestUDFStringResultIsText(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, smallSchema)
	defer rb.Release()
	rec := smallBatch(rb, []int64{1, 2}, []float64{0, 0}, nil, []string{"Üb", "ab"}, nil)
	defer rec.Release()
	cols := smallCols()
	for _, c := range []struct {
		ret  stdlib.Type
		want string
	}{
		{stdlib.TString, "?,a"},
		{stdlib.TBinary, "c3,61"},
	} {
		f, err := exec.NewUDF("f", []string{"s"}, []stdlib.Type{stdlib.TString}, c.ret, `s[0:1]`)
		if err != nil {
			t.Fatal(err)
		}
		call, err := exec.CallUDF(f, []exec.Expr{cols["code"]})
		if err != nil {
			t.Fatal(err)
		}
		p, err := exec.NewProgram(exec.ProgramConfig{Outputs: []exec.Expr{call}, Names: []string{"v"}, Alloc: mem})
		if err != nil {
			t.Fatal(err)
		}
		out, _, _, _, err := p.Run(context.Background(), &exec.Batch{Record: rec})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i := 0; i < int(out.NumRows()); i++ {
			switch a := out.Column(0).(type) {
			case *array.String:
				got = append(got, a.Value(i))
			case *array.Binary:
				got = append(got, fmt.Sprintf("%x", a.Value(i)))
			default:
				t.Fatalf("column of %T", a)
			}
		}
		out.Release()
		if strings.Join(got, ",") != c.want {
			t.Errorf("s[0:1] RETURNS %s: got %q, want %s", c.ret, got, c.want)
		}
	}
}

// TestProgramProjectRows: Project over every row in order passes plain
// columns on as they are (a batch of deletes: no copy), and over any
// other list of rows — every row in another order, a subset — gives the
// rows in the list's order, for plain and computed outputs alike.
func TestProgramProjectRows(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, smallSchema)
	defer rb.Release()
	rec := smallBatch(rb, []int64{1, 2, 3, 4}, []float64{10, 20, 30, 40}, []bool{true, false, true, true},
		[]string{"a", "b", "c", "d"}, []bool{true, true, false, true})
	defer rec.Release()
	p, err := exec.NewProgram(exec.ProgramConfig{
		Outputs: []exec.Expr{mustParse(t, "id"), mustParse(t, "code"), mustParse(t, "amount"), mustParse(t, "upper(code)"), mustParse(t, "id * 2")},
		Names:   []string{"id", "code", "amount", "uc", "id2"}, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rows []int32
		want [5]string
	}{
		{[]int32{0, 1, 2, 3}, [5]string{"1,2,3,4", "a,b,(null),d", "10,(null),30,40", "A,B,(null),D", "2,4,6,8"}},
		{[]int32{3, 2, 1, 0}, [5]string{"4,3,2,1", "d,(null),b,a", "40,30,(null),10", "D,(null),B,A", "8,6,4,2"}},
		{[]int32{1, 0, 2, 3}, [5]string{"2,1,3,4", "b,a,(null),d", "(null),10,30,40", "B,A,(null),D", "4,2,6,8"}},
		{[]int32{2, 3}, [5]string{"3,4", "(null),d", "30,40", "(null),D", "6,8"}},
		{[]int32{}, [5]string{"", "", "", "", ""}},
	} {
		out, err := p.Project(context.Background(), &exec.Batch{Record: rec}, c.rows)
		if err != nil {
			t.Fatal(err)
		}
		for j, want := range c.want {
			if got := strings.Join(column(out, j), ","); got != want {
				t.Errorf("rows %v, output %d: %s, want %s", c.rows, j, got, want)
			}
		}
		if len(c.rows) == 4 && c.rows[0] == 0 && out.Column(0) != rec.Column(0) {
			t.Errorf("rows %v: the plain column id was copied, want it passed on", c.rows)
		}
		out.Release()
	}
}
