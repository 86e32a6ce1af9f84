package exec

import (
	"context"
	"fmt"
)

// filterOp keeps the rows for which a predicate is TRUE by narrowing the
// batch's selection vector; it never copies column data.
type filterOp struct {
	input Operator
	pred  node
	c     *evalCtx
}

var _ Operator = (*filterOp)(nil)

// NewFilter returns an operator passing on input's batches with the rows
// where pred is not TRUE deselected. Batches left with no live row are
// released and skipped. A row error in pred fails the stream (use a
// Program for on_error policies). Ownership: each batch from input is
// either released or handed on to the caller of Next.
func NewFilter(input Operator, pred Expr) (Operator, error) {
	if input == nil {
		return nil, errNoInput
	}
	n, err := asNode(pred)
	if err != nil {
		return nil, err
	}
	if n, err = boolOperand("WHERE", n); err != nil {
		return nil, fmt.Errorf("filter predicate must be a boolean, got %s", pred.Type())
	}
	return &filterOp{input: input, pred: n}, nil
}

func (f *filterOp) Init(ctx context.Context) error { return f.input.Init(ctx) }

func (f *filterOp) Next(ctx context.Context) (*Batch, error) {
	for {
		b, err := f.input.Next(ctx)
		if err != nil {
			return nil, err
		}
		if f.c == nil {
			f.c = newEvalCtx(b.Record)
		} else {
			f.c.reset(b.Record)
		}
		yes, _ := f.c.selectTrue(f.pred, b.Sel)
		if len(f.c.Errs) > 0 {
			e := f.c.Errs[0]
			f.c.rec = nil
			f.c.recycle()
			b.Release()
			return nil, RowError{Row: e.Row, Column: "WHERE", Reason: e.Reason}
		}
		// The batch keeps its selection: a copy out of the scratch space.
		sel := clone32(yes)
		f.c.rec = nil
		f.c.recycle()
		if len(sel) == 0 {
			b.Release()
			continue
		}
		b.Sel = sel
		return b, nil
	}
}

func (f *filterOp) Close() error { return f.input.Close() }
