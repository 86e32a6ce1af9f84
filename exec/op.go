package exec

import (
	"context"
	"errors"
	"io"
)

// Operator is a pull-based stage of a dataflow over record batches.
//
// Init is called once before Next. Next returns the next batch, which the
// caller owns and must Release; it returns io.EOF at the end of the stream
// (and a nil batch). A batch may carry a selection vector (Batch.Sel): only
// the selected rows are live. Close releases the operator's resources and
// closes its input; it is called once, also after an error.
type Operator interface {
	Init(ctx context.Context) error
	Next(ctx context.Context) (*Batch, error)
	Close() error
}

// EOF is returned by Next at the end of the stream.
var EOF = io.EOF

// SliceSource is an Operator that yields the given batches in order. It
// takes ownership of them: batches never returned are released by Close.
type SliceSource struct {
	batches []*Batch
	i       int
}

// NewSliceSource returns an operator yielding batches.
func NewSliceSource(batches ...*Batch) *SliceSource { return &SliceSource{batches: batches} }

var _ Operator = (*SliceSource)(nil)

// Init implements Operator.
func (s *SliceSource) Init(context.Context) error { return nil }

// Next implements Operator.
func (s *SliceSource) Next(ctx context.Context) (*Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.i >= len(s.batches) {
		return nil, io.EOF
	}
	b := s.batches[s.i]
	s.batches[s.i] = nil
	s.i++
	return b, nil
}

// Close implements Operator.
func (s *SliceSource) Close() error {
	for _, b := range s.batches[s.i:] {
		b.Release()
	}
	s.batches = nil
	return nil
}

var errNoInput = errors.New("operator has no input")
