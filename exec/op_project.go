package exec

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// projectOp computes output columns over the live rows of each batch.
type projectOp struct {
	input Operator
	prog  *Program
}

var _ Operator = (*projectOp)(nil)

// NewProject returns an operator that replaces each input batch by one
// holding exprs (named names) evaluated over its live rows; the output
// batches have no selection vector. A row error fails the stream.
// Ownership: input batches are released once projected; the caller owns
// the batches Next returns.
func NewProject(input Operator, exprs []Expr, names []string, alloc memory.Allocator) (Operator, error) {
	if input == nil {
		return nil, errNoInput
	}
	p, err := NewProgram(ProgramConfig{Outputs: exprs, Names: names, Alloc: alloc})
	if err != nil {
		return nil, err
	}
	return &projectOp{input: input, prog: p}, nil
}

func (p *projectOp) Init(ctx context.Context) error { return p.input.Init(ctx) }

func (p *projectOp) Next(ctx context.Context) (*Batch, error) {
	b, err := p.input.Next(ctx)
	if err != nil {
		return nil, err
	}
	defer b.Release()
	out, _, _, _, err := p.prog.Run(ctx, b)
	if err != nil {
		return nil, err
	}
	return &Batch{Record: out, DB: b.DB, Table: b.Table, Snapshot: b.Snapshot, Mark: b.Mark,
		SnapshotStart: b.SnapshotStart, SnapshotEnd: b.SnapshotEnd, ServerID: b.ServerID, GTID: b.GTID}, nil
}

func (p *projectOp) Close() error { return p.input.Close() }
