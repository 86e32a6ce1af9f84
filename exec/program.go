package exec

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/stdlib"
)

// RowError says why one row failed: the one type every data error of a
// row is told with (a rule or a cast of a Program, a value a sink cannot
// take), so that each names the same things. The layer that finds the
// error sets Row, Column and Reason; the layers that know the rest (the
// engine, a sink) fill Table, Key, Pos and Value before it reaches a user
// or a dead letter.
type RowError struct {
	Row    int    // index of the row in the input record
	Column string // output column name, or "WHERE"
	Reason string

	Pipeline string // the pipeline, "" when not known here
	Table    string // the source table, db.t
	Op       string // the row's operation (insert, update, delete, snapshot)
	Pos      string // the row's source position (binlog file:pos, GTID, snapshot)
	// Key names the row by its key values ("id = 42"), or, for a table
	// without a key, by all its values, shortened (RowKeyLimit).
	Key string
	// Value is the failing value as text, quoted and shortened
	// (QuoteValue); "" when the failure is not one value's (WHERE).
	Value string
}

// Error names the row by where it comes from when that is known:
//
//	pipeline p: row of db.t at mysql-bin.000003:1234 (insert, id = 42): column "d" = '0000-00-00': reason
//
// and by its index in the batch otherwise.
func (e RowError) Error() string {
	var b strings.Builder
	if e.Pipeline != "" {
		b.WriteString("pipeline " + e.Pipeline + ": ")
	}
	if e.Table == "" && e.Key == "" && e.Pos == "" {
		fmt.Fprintf(&b, "row %d", e.Row)
	} else {
		b.WriteString("row")
		if e.Table != "" {
			b.WriteString(" of " + e.Table)
		}
		if e.Pos != "" {
			b.WriteString(" at " + e.Pos)
		}
		var in []string
		switch e.Op {
		case "":
		case OpRead:
			in = append(in, "snapshot") // a row the snapshot read
		default:
			in = append(in, e.Op)
		}
		if e.Key != "" {
			in = append(in, e.Key)
		}
		if len(in) > 0 {
			b.WriteString(" (" + strings.Join(in, ", ") + ")")
		}
	}
	if e.Column != "" {
		// (A whole row refused, by an http endpoint, names no column.)
		fmt.Fprintf(&b, ": column %q", e.Column)
	}
	if e.Value != "" {
		b.WriteString(" = " + e.Value)
	}
	b.WriteString(": " + e.Reason)
	return b.String()
}

// ValueLimit is how many characters of a value a RowError quotes;
// RowKeyLimit how many of the values of a row without a key.
const (
	ValueLimit  = 64
	RowKeyLimit = 200
)

// QuoteValue is s as a RowError shows a value: in single quotes (a quote
// inside doubled, as SQL writes it), cut after ValueLimit characters with
// "…" and the full length.
func QuoteValue(s string) string {
	return "'" + strings.ReplaceAll(Shorten(s, ValueLimit), "'", "''") + "'"
}

// Shorten cuts s after limit characters (runes), saying how long it was.
func Shorten(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	n := 0
	for i := range s {
		if n == limit {
			return s[:i] + fmt.Sprintf("… (%d bytes)", len(s))
		}
		n++
	}
	return s
}

// OnError is what a Program does with a row that fails.
type OnError int

// OnError policies, as the on_error option spells them: fail, skip,
// dead_letter.
const (
	OnErrorFail OnError = iota
	OnErrorSkip
	OnErrorDeadLetter
)

// ProgramConfig configures a Program.
type ProgramConfig struct {
	Where   Expr     // nil: keep every row
	Outputs []Expr   // projected columns
	Names   []string // their names
	OnError OnError
	Alloc   memory.Allocator // nil: memory.DefaultAllocator
	// Now, when set, is used for now() instead of the wall clock (tests).
	Now func() time.Time
}

// Program is a compiled WHERE + TRANSFORM. It is safe for concurrent use:
// every Run has its own evaluation state. It keeps one such state, with
// its scratch vectors, selection buffers and string bytes, from one run to
// the next, so a Program run by one goroutine at a time (one per pipeline
// table, as the engine does) allocates little beyond its output arrays
// batch after batch; concurrent runs beyond the first get a fresh state.
//
// How a run goes: WHERE refines the batch's selection (an AND hands the
// rows its left side keeps to its right side; comparisons with a constant
// write the selection from typed loops), then each output is evaluated
// over the kept rows only. Output arrays are written directly into Arrow
// buffers; a plain column whose every row is kept is the input array
// itself (retained, not copied), and upper/lower of a column write their
// bytes straight into the output.
type Program struct {
	cfg   ProgramConfig
	where node
	outs  []node
	alloc memory.Allocator
	// spare is an evaluation state kept between runs with its scratch
	// space (a sync.Pool would drop it at every garbage collection).
	mu    sync.Mutex
	spare *evalCtx
}

// NewProgram checks the configuration and returns a program.
func NewProgram(cfg ProgramConfig) (*Program, error) {
	if len(cfg.Outputs) != len(cfg.Names) {
		return nil, fmt.Errorf("%d outputs but %d names", len(cfg.Outputs), len(cfg.Names))
	}
	p := &Program{cfg: cfg, alloc: cfg.Alloc}
	if p.alloc == nil {
		p.alloc = memory.DefaultAllocator
	}
	if cfg.Where != nil {
		w, err := asNode(cfg.Where)
		if err != nil {
			return nil, err
		}
		if w, err = boolOperand("WHERE", w); err != nil {
			return nil, fmt.Errorf("WHERE must be a boolean, got %s", cfg.Where.Type())
		}
		p.where = w
	}
	outs, err := asNodes(cfg.Outputs)
	if err != nil {
		return nil, err
	}
	p.outs = outs
	return p, nil
}

// Schema returns the output schema for an input schema: a column passed
// through keeps its field metadata.
func (p *Program) Schema(in *arrow.Schema) *arrow.Schema {
	fields := make([]arrow.Field, len(p.outs))
	for i, o := range p.outs {
		f := arrowFieldFor(p.cfg.Names[i], o.Type())
		if c, ok := o.(*colExpr); ok && in != nil && c.index < in.NumFields() {
			src := in.Field(c.index)
			if src.Type.ID() == f.Type.ID() {
				f.Type = src.Type
			}
			f.Metadata = src.Metadata
		}
		fields[i] = f
	}
	return InternSchema(arrow.NewSchema(fields, nil)) // (one per layout)
}

func (p *Program) newCtx(rec arrow.RecordBatch) *evalCtx {
	p.mu.Lock()
	c := p.spare
	p.spare = nil
	p.mu.Unlock()
	if c == nil {
		c = newEvalCtx(rec)
	} else {
		c.reset(rec)
	}
	if p.cfg.Now != nil {
		c.Now = p.cfg.Now().UTC()
	} else {
		c.Now = time.Now().UTC()
	}
	return c
}

// Run evaluates WHERE over b's live rows, then the outputs over the rows
// that passed. It does not take ownership of b. out has one row per kept
// row (the caller releases it). rejected lists input row indices for which
// WHERE was FALSE or NULL. With OnErrorFail the first row error is
// returned as an error naming the row, column and reason; with Skip and
// DeadLetter failing rows are removed from out and listed in rowErrs
// (a failing row is in neither kept nor rejected).
func (p *Program) Run(ctx context.Context, b *Batch) (out arrow.RecordBatch, kept, rejected []int32, rowErrs []RowError, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, nil, err
	}
	if b == nil || b.Record == nil {
		return nil, nil, nil, nil, errors.New("run: no record")
	}
	c := p.newCtx(b.Record)
	defer p.done(c)
	n := c.n
	sel := b.Sel
	var failed map[int]bool
	collect := func(column string) {
		for _, e := range c.Errs {
			if failed[e.Row] {
				continue
			}
			if failed == nil {
				failed = map[int]bool{}
			}
			failed[e.Row] = true
			rowErrs = append(rowErrs, RowError{Row: e.Row, Column: column, Reason: e.Reason})
		}
		c.Errs = c.Errs[:0]
	}
	if p.where == nil {
		if sel == nil {
			kept = make([]int32, n)
			for i := range kept {
				kept[i] = int32(i)
			}
		} else {
			kept = clone32(sel) // never nil: nil would mean every row
		}
	} else {
		yes, _ := c.selectTrue(p.where, sel)
		collect("WHERE")
		// rejected: the rows of sel neither kept nor failed. Both lists
		// are built in scratch space and copied out at their exact size
		// (a copy does not zero memory, a make would).
		rej := c.selBuf(selLen(sel, n) - len(yes))
		j := 0
		if len(failed) == 0 {
			rej = complement(sel, n, yes, rej)
		} else {
			each(sel, n, func(i int) {
				switch {
				case j < len(yes) && int(yes[j]) == i:
					j++
				case !failed[i]:
					rej = append(rej, int32(i))
				}
			})
			k := c.selBuf(len(yes))
			for _, i := range yes {
				if !failed[int(i)] {
					k = append(k, i)
				}
			}
			yes = k
		}
		kept, rejected = clone32(yes), clone32(rej)
	}
	vecs := make([]*stdlib.Vector, len(p.outs))
	for j, o := range p.outs {
		if _, ok := o.(*colExpr); ok {
			continue // read at build time, often without a copy
		}
		if _, ok := appendable(o); ok {
			continue // written at build time straight into the array
		}
		vecs[j] = o.eval(c, kept)
		collect(p.cfg.Names[j])
	}
	if len(rowErrs) > 0 {
		// In the order of the batch's rows: the second rule of a WHERE
		// (AND evaluates it for the rows the first leaves open) and each
		// output found theirs one after the other. Under fail, the first
		// failing row is the error.
		sort.SliceStable(rowErrs, func(i, j int) bool { return rowErrs[i].Row < rowErrs[j].Row })
		if p.cfg.OnError == OnErrorFail {
			return nil, nil, nil, nil, rowErrs[0]
		}
		k := kept[:0:0]
		for _, i := range kept {
			if !failed[int(i)] {
				k = append(k, i)
			}
		}
		kept = k
	}
	rows := kept
	if len(kept) == n {
		rows = nil // every row, in order
	}
	out, err = p.build(c, vecs, rows, len(kept))
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return out, kept, rejected, rowErrs, nil
}

// complement appends to out the rows of sel (0..n-1 when nil) that are
// not in yes, a subsequence of sel; out has room for all of them.
func complement(sel []int32, n int, yes, out []int32) []int32 {
	out = out[:selLen(sel, n)-len(yes)]
	k := 0
	if sel == nil {
		// The gaps between kept rows, as runs of consecutive rows.
		prev := int32(0)
		for _, y := range yes {
			for i := prev; i < y; i++ {
				out[k] = i
				k++
			}
			prev = y + 1
		}
		for i := prev; i < int32(n); i++ {
			out[k] = i
			k++
		}
		return out
	}
	j := 0
	for _, i := range sel {
		if j < len(yes) && yes[j] == i {
			j++
			continue
		}
		out[k] = i
		k++
	}
	return out
}

// clone32 copies s into a new slice of its length. Unlike make, append
// does not zero the memory it is about to overwrite.
func clone32(s []int32) []int32 {
	if len(s) == 0 {
		return []int32{}
	}
	return append([]int32(nil), s...)
}

// Project evaluates the outputs over the given rows only (used for the
// tombstones of rejected rows). A row error leaves that value NULL.
func (p *Program) Project(ctx context.Context, b *Batch, rows []int32) (arrow.RecordBatch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := p.newCtx(b.Record)
	defer p.done(c)
	if rows == nil {
		rows = []int32{}
	}
	m := len(rows)
	vecs := make([]*stdlib.Vector, len(p.outs))
	for j, o := range p.outs {
		if _, ok := o.(*colExpr); ok {
			continue // read at build time: a whole column is passed on as it is
		}
		if _, ok := appendable(o); ok {
			continue // written at build time straight into the array
		}
		vecs[j] = o.eval(c, rows)
		c.Errs = c.Errs[:0]
	}
	if m == c.n && allRows(rows) {
		rows = nil // every row, in order (a batch of deletes): columns pass on without a copy
	}
	return p.build(c, vecs, rows, m)
}

// allRows reports whether rows is 0, 1, …, len(rows)-1.
func allRows(rows []int32) bool {
	for i, r := range rows {
		if r != int32(i) {
			return false
		}
	}
	return true
}

// build makes the output record from the evaluated outputs (a nil vector
// is a plain column, read here) over the given rows (nil: every row).
func (p *Program) build(c *evalCtx, vecs []*stdlib.Vector, rows []int32, m int) (arrow.RecordBatch, error) {
	in := c.rec.Schema()
	if c.schemaIn != in {
		c.schemaIn, c.schemaOut = in, p.Schema(in)
	}
	schema := c.schemaOut
	cols := make([]arrow.Array, len(vecs))
	defer func() {
		for _, a := range cols {
			if a != nil {
				a.Release()
			}
		}
	}()
	for j, v := range vecs {
		dt := schema.Field(j).Type
		if v == nil {
			if a, ok := directColumn(p.alloc, c.rec, p.outs[j], rows, m, dt); ok {
				cols[j] = a
				continue
			}
			if a, ok := c.appendColumn(p.alloc, p.outs[j], rows, m, dt); ok {
				cols[j] = a
				continue
			}
			v = p.outs[j].eval(c, rows)
		}
		a, err := toArray(p.alloc, v, rows, m, dt)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", p.cfg.Names[j], err)
		}
		cols[j] = a
	}
	return array.NewRecordBatch(schema, cols, int64(m)), nil
}

// done returns c's scratch space for the next run.
func (p *Program) done(c *evalCtx) {
	c.recycle()
	c.rec = nil
	clear(c.cols)
	c.Errs = c.Errs[:0]
	p.mu.Lock()
	p.spare = c
	p.mu.Unlock()
}
