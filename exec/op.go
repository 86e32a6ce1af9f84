package exec

import (
	"context"
	"errors"
)

// Operator is a pull-based stage of a dataflow over record batches, like
// CockroachDB's colexecop.Operator. A chain of operators is built once
// (each holds its input) and run by pulling from its last operator.
//
//   - Init is called once, before the first Next; an operator initializes
//     its input.
//   - Next returns the next batch, or nil at the end of the stream. Under a
//     Feed the end of the stream is the end of the batch pushed last: after
//     a nil, the feed may be pushed another batch and the chain pulled again.
//     Only the rows of a batch's selection vector (Batch.Sel) are live.
//   - Ownership: the batch Next returns, its Record and its selection
//     vector belong to the operator that returned it. They are valid until
//     the next call to its Next or Close, which may release the record and
//     reuse the Batch and the vector; the caller never releases them, and
//     retains the record (in a Batch of its own) to keep the rows longer.
//     An operator that returned nil holds no batch memory.
//   - Close releases what the operator holds and closes its input. It is
//     called once, also after an error; an operator dropped after it
//     returned nil holds nothing to release.
//
// An operator that produces more than its batches (the rows WHERE rejected,
// the rows that failed) exposes them through its own methods, valid as long
// as the batch they came with.
type Operator interface {
	Init(ctx context.Context) error
	Next(ctx context.Context) (*Batch, error)
	Close() error
}

var errNoInput = errors.New("operator has no input")

// Feed is the head of a chain the caller pushes batches into, like
// CockroachDB's colexecop.FeedOperator: Next returns the batch pushed last,
// once, then nil.
//
// Ownership: Feed never takes a batch. The caller keeps the batch it
// pushed alive until the chain returned nil, then releases it.
type Feed struct {
	b *Batch
}

var _ Operator = (*Feed)(nil)

// Push makes b the feed's next batch, replacing one not pulled.
func (f *Feed) Push(b *Batch) { f.b = b }

// Init implements Operator.
func (f *Feed) Init(context.Context) error { return nil }

// Next implements Operator.
func (f *Feed) Next(context.Context) (*Batch, error) {
	b := f.b
	f.b = nil
	return b, nil
}

// Close implements Operator: it forgets a batch not pulled.
func (f *Feed) Close() error {
	f.b = nil
	return nil
}

// ProgramOp runs a Program (WHERE, then the outputs: a filter and a
// projection) over the batches of its input. Each batch it returns holds
// the outputs of its input batch's live rows that passed WHERE and the
// rules, without a selection vector, with the input batch's table,
// snapshot and transaction fields. A row error under OnErrorFail is
// returned by Next as a RowError (its Row an index of the input batch).
//
// Besides, for the batch Next returned last: Source is the input batch it
// was computed from, Kept the source row of each output row, Rejected the
// live rows WHERE rejected and Errs the rows that failed (on_error skip or
// dead_letter). They are valid until the next call to Next or Close.
type ProgramOp struct {
	Input Operator
	Prog  *Program

	out            Batch
	src            *Batch
	kept, rejected []int32
	errs           []RowError
}

var _ Operator = (*ProgramOp)(nil)

// Init implements Operator.
func (p *ProgramOp) Init(ctx context.Context) error {
	if p.Input == nil || p.Prog == nil {
		return errNoInput
	}
	return p.Input.Init(ctx)
}

// Next implements Operator.
func (p *ProgramOp) Next(ctx context.Context) (*Batch, error) {
	p.reset()
	b, err := p.Input.Next(ctx)
	if b == nil || err != nil {
		return nil, err
	}
	out, kept, rejected, errs, err := p.Prog.Run(ctx, b)
	if err != nil {
		return nil, err
	}
	p.out = *b
	p.out.Record, p.out.Sel = out, nil
	p.src, p.kept, p.rejected, p.errs = b, kept, rejected, errs
	return &p.out, nil
}

// Source returns the input batch of the batch Next returned last.
func (p *ProgramOp) Source() *Batch { return p.src }

// Kept returns the source row (in Source) of each row Next returned last.
func (p *ProgramOp) Kept() []int32 { return p.kept }

// Rejected returns the live rows of Source that WHERE rejected.
func (p *ProgramOp) Rejected() []int32 { return p.rejected }

// Errs returns the rows of Source that failed.
func (p *ProgramOp) Errs() []RowError { return p.errs }

func (p *ProgramOp) reset() {
	p.out.Release()
	p.out = Batch{}
	p.src, p.kept, p.rejected, p.errs = nil, nil, nil, nil
}

// Close implements Operator.
func (p *ProgramOp) Close() error {
	p.reset()
	if p.Input == nil {
		return nil
	}
	return p.Input.Close()
}
