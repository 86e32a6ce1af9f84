// Package change holds the change semantics of the target modes as
// operators over batches (exec.Operator): what a source change batch
// becomes on its way to a sink. The engine builds one chain per table of a
// pipeline and, for each source batch, pushes it into the chain's
// exec.Feed and pulls from the chain's end until it yields nil
// (docs/architecture.md, "The walk of a batch"). For an upsert target the
// chain is exec.Feed → SplitDeletes → exec.ProgramOp → Upsert → MovedKeys
// → Sink (MovedKeys where the plan has outputs over the before image):
//
//   - SplitDeletes sets the deletes of a batch aside (its selection
//     vector leaves them out) and exposes them: a delete is never subject
//     to WHERE or the rules;
//   - exec.ProgramOp filters (WHERE) and projects (TRANSFORM) the live
//     rows, and exposes the rows WHERE rejected and the rows that failed;
//   - Upsert adds the tombstones of the new keys an upsert target needs
//     besides the live rows, MovedKeys those of the old keys, from the
//     before image;
//   - Sink assembles the sink batch: the output rows, the system columns
//     and the outputs over the before image.
//
// Other targets run exec.Feed → exec.ProgramOp → Sink. Operators of the
// engine's own may stand between (the engine writes the dead letters of the
// failed rows between the program and Upsert).
//
// Every operator works over its input's selection vector and follows the
// ownership of exec.Operator: a batch it returns, and the side outputs it
// exposes (SplitDeletes.Deletes, Upsert.Set, MovedKeys.Set…), are valid
// until its next Next or Close, and an operator that returned nil holds no
// batch memory: the source batch may be released, or its memory reused by
// its source, once the chain yielded nil. The Set of Upsert and MovedKeys
// is how the parts of one source batch (live rows, tombstones) travel to
// Sink, which makes them one sink batch.
package change

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/etlq/etlq/exec"
)

// Projector evaluates outputs over the given rows of a batch (a row error
// leaves its value NULL): exec.Program.Project.
type Projector interface {
	Project(ctx context.Context, b *exec.Batch, rows []int32) (arrow.RecordBatch, error)
}

var _ Projector = (*exec.Program)(nil)

// Part is output rows of one source batch: Rec holds the output columns,
// one row for each entry of Rows, the source row it was computed from.
// Deleted says that the rows are tombstones for their key.
type Part struct {
	Rec     arrow.RecordBatch
	Rows    []int32
	Deleted bool
}

// Set is the parts one source batch becomes, in sink order. It owns the
// records of its parts: Release releases them.
type Set struct {
	Parts []Part
}

// Add appends a part and takes ownership of its record. A part without
// rows is released at once.
func (s *Set) Add(p Part) {
	if len(p.Rows) == 0 {
		if p.Rec != nil {
			p.Rec.Release()
		}
		return
	}
	s.Parts = append(s.Parts, p)
}

// Len returns the number of rows of every part.
func (s *Set) Len() int {
	n := 0
	for _, p := range s.Parts {
		n += len(p.Rows)
	}
	return n
}

// Rows returns the source row of each sink row, in sink order.
func (s *Set) Rows() []int32 {
	if len(s.Parts) == 1 {
		return s.Parts[0].Rows
	}
	rows := make([]int32, 0, s.Len())
	for _, p := range s.Parts {
		rows = append(rows, p.Rows...)
	}
	return rows
}

// Release releases the records of the parts and empties the set (which
// keeps its room for the next parts).
func (s *Set) Release() {
	for _, p := range s.Parts {
		p.Rec.Release()
	}
	clear(s.Parts)
	s.Parts = s.Parts[:0]
}

// Ops returns the _op column of a source batch of layout l.
func Ops(b *exec.Batch, l exec.SourceLayout) *array.String {
	return b.Record.Column(l.Op).(*array.String)
}

// Parter is the side output of an operator whose batches become several
// parts (Upsert, MovedKeys): Set holds the parts of the batch its Next
// returned last, in sink order, valid until its next Next or Close.
type Parter interface {
	Set() *Set
}

// Live is the side output of the operator that ran a pipeline's program
// (exec.ProgramOp): for the batch it returned last, the source batch it
// came from, the source row of each output row, the live rows WHERE
// rejected and the rows that failed.
type Live interface {
	Source() *exec.Batch
	Kept() []int32
	Rejected() []int32
	Errs() []exec.RowError
}

var _ Live = (*exec.ProgramOp)(nil)

// SplitDeletes passes on its input's batches without their delete rows
// (a shallow copy whose selection vector leaves them out) and exposes the
// delete rows (Deletes); a batch without deletes goes on as it is, as does
// a snapshot batch (its rows are reads). For an upsert target a delete is
// never subject to WHERE or the rules: it carries no new values to check,
// and always removes its key. The copy and its selection vector are reused
// by the next call to Next.
type SplitDeletes struct {
	Input  exec.Operator
	Layout exec.SourceLayout // of the source batches

	out        exec.Batch
	live, dels []int32
}

var _ exec.Operator = (*SplitDeletes)(nil)

// Init implements exec.Operator.
func (s *SplitDeletes) Init(ctx context.Context) error { return s.Input.Init(ctx) }

// Next implements exec.Operator.
func (s *SplitDeletes) Next(ctx context.Context) (*exec.Batch, error) {
	s.out, s.dels = exec.Batch{}, s.dels[:0]
	b, err := s.Input.Next(ctx)
	if b == nil || err != nil {
		return nil, err
	}
	if b.Snapshot {
		return b, nil // snapshot rows are reads
	}
	ops := Ops(b, s.Layout)
	if s.live == nil {
		s.live = make([]int32, 0, b.NumRows())
	}
	live := s.live[:0] // never nil: an empty selection is no live row
	visit := func(i int32) {
		if ops.Value(int(i)) == exec.OpDelete {
			s.dels = append(s.dels, i)
		} else {
			live = append(live, i)
		}
	}
	if b.Sel != nil {
		for _, i := range b.Sel {
			visit(i)
		}
	} else {
		for i := range int32(b.NumRows()) {
			visit(i)
		}
	}
	s.live = live
	if len(s.dels) == 0 {
		return b, nil
	}
	s.out = *b
	s.out.Sel = live
	return &s.out, nil
}

// Deletes returns the delete rows of the batch Next returned last.
func (s *SplitDeletes) Deletes() []int32 { return s.dels }

// Close implements exec.Operator.
func (s *SplitDeletes) Close() error {
	s.out, s.dels = exec.Batch{}, s.dels[:0]
	return s.Input.Close()
}
