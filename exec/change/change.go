// Package change holds the change semantics of the target modes as
// operators over batches: what a source change batch becomes on its way to
// a sink. A pipeline's exec.Program filters (WHERE) and projects (TRANSFORM)
// the live rows; the operators here then
//
//   - split the deletes off a batch for an upsert target (SplitDeletes),
//   - add the tombstones an upsert target needs and the old keys of updates
//     that changed their key (Upsert),
//   - and assemble the sink batch: the output rows, the system columns and
//     the outputs over the before image (Sink).
//
// Each operator works over a batch's selection vector (exec.Batch.Sel)
// and keeps no batch memory between calls: the source batch may be
// released, or its memory reused by its source, once an operator returned.
//
// They are values with an Apply method over one batch, not pull-based
// Init/Next/Close operators: the engine pushes each source batch to every
// pipeline that reads its table, and needs beside a pipeline's output the
// rows WHERE rejected, the rows that failed (their dead letters are written
// and acknowledged before the batch goes on) and the deletes — which a pull
// chain would carry through side channels. The engine composes them in
// pipeRun.process (docs/architecture.md, "The walk of a batch").
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

// Release releases the records of the parts.
func (s *Set) Release() {
	for _, p := range s.Parts {
		p.Rec.Release()
	}
	s.Parts = nil
}

// Ops returns the _op column of a source batch of layout l.
func Ops(b *exec.Batch, l exec.SourceLayout) *array.String {
	return b.Record.Column(l.Op).(*array.String)
}

// SplitDeletes returns b without its delete rows (a shallow copy whose
// selection leaves them out) and the delete rows; b itself when it has
// none. For an upsert target a delete is never subject to WHERE or the
// rules: it carries no new values to check, and always removes its key.
func SplitDeletes(b *exec.Batch, ops *array.String) (*exec.Batch, []int32) {
	if b.Snapshot {
		return b, nil // snapshot rows are reads
	}
	var live, dels []int32
	visit := func(i int32) {
		if ops.Value(int(i)) == exec.OpDelete {
			dels = append(dels, i)
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
	if len(dels) == 0 {
		return b, nil
	}
	cp := *b
	cp.Sel = live
	if cp.Sel == nil {
		cp.Sel = []int32{} // no live row, not every row
	}
	return &cp, dels
}
