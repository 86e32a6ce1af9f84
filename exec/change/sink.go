package change

import (
	"bytes"
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/exec"
)

// Sink assembles the sink batch of each batch of its input (exec/batch.go,
// "Sink batch system columns"): the output columns of its parts, then the
// system columns taken from the source rows (exec.SysFields), then the
// outputs over the before image where the schema has __before.* columns.
// The parts are Parts.Set() (an upsert target: live rows and tombstones),
// or with Parts nil the input batch's rows alone (Live.Kept). A batch of
// which no row is left makes no sink batch (Next pulls the next one)
// unless KeepEmpty is set.
type Sink struct {
	Input       exec.Operator
	Live        Live              // the program's side outputs (exec.ProgramOp)
	Parts       Parter            // the parts of the input batch; nil: the input batch
	Schema      *arrow.Schema     // the sink schema
	Outputs     int               // the number of output columns
	Layout      exec.SourceLayout // of the source batches
	Before      Projector         // the outputs over the before image; nil: none
	BeforeIndex []int             // the outputs the __before.* columns hold, in order
	Alloc       memory.Allocator
	// KeepEmpty makes the next batch go out even without rows (a schema
	// change reaches the sink before any checkpoint passes it); Next
	// clears it once it did.
	KeepEmpty bool

	out exec.Batch
	one Set // the input batch as the only part (Parts nil)
}

var _ exec.Operator = (*Sink)(nil)

// Init implements exec.Operator.
func (s *Sink) Init(ctx context.Context) error { return s.Input.Init(ctx) }

// Next implements exec.Operator.
func (s *Sink) Next(ctx context.Context) (*exec.Batch, error) {
	s.out.Release()
	s.out = exec.Batch{}
	for {
		b, err := s.Input.Next(ctx)
		if b == nil || err != nil {
			return nil, err
		}
		set := &s.one
		if s.Parts != nil {
			set = s.Parts.Set()
		} else if kept := s.Live.Kept(); len(kept) > 0 {
			s.one.Parts = append(s.one.Parts, Part{Rec: b.Record, Rows: kept})
		}
		if set.Len() == 0 && !s.KeepEmpty {
			continue
		}
		s.KeepEmpty = false
		out, err := s.apply(ctx, s.Live.Source(), set)
		clear(s.one.Parts) // (borrowed: the input owns the record)
		s.one.Parts = s.one.Parts[:0]
		return out, err
	}
}

// Close implements exec.Operator.
func (s *Sink) Close() error {
	s.out.Release()
	s.out = exec.Batch{}
	return s.Input.Close()
}

// apply makes the sink batch of set, made from source batch b.
func (s *Sink) apply(ctx context.Context, b *exec.Batch, set *Set) (*exec.Batch, error) {
	rows := set.Rows()
	cols := make([]arrow.Array, 0, s.Schema.NumFields())
	fail := func(err error) (*exec.Batch, error) {
		releaseAll(cols)
		return nil, err
	}
	for c := range s.Outputs {
		a, err := s.output(set, c)
		if err != nil {
			return fail(err)
		}
		cols = append(cols, a)
	}
	deleted := make([]uint8, 0, len(rows))
	for _, p := range set.Parts {
		d := uint8(0)
		if p.Deleted {
			d = 1
		}
		for range p.Rows {
			deleted = append(deleted, d)
		}
	}
	rec, l := b.Record, s.Layout
	ops := rec.Column(l.Op).(*array.String)
	if identity(rows, int(rec.NumRows())) {
		// Every row, in order (a snapshot batch, a WHERE-less pipeline):
		// the metadata columns are the batch's own.
		for _, a := range []arrow.Array{rec.Column(l.Version), nil, ops, rec.Column(l.Ts), rec.Column(l.Pos)} {
			if a == nil {
				a = Uint8Array(s.Alloc, deleted)
			} else {
				a.Retain()
			}
			cols = append(cols, a)
		}
	} else {
		cols = append(cols,
			gatherUint64(s.Alloc, rec.Column(l.Version).(*array.Uint64), rows),
			Uint8Array(s.Alloc, deleted),
			gatherString(s.Alloc, ops, rows),
			gatherTimestamp(s.Alloc, rec.Column(l.Ts).(*array.Timestamp), rows),
			gatherString(s.Alloc, rec.Column(l.Pos).(*array.String), rows),
		)
	}
	if n := s.Schema.NumFields() - len(cols); n > 0 {
		// __before.* columns: the outputs over the before image.
		if s.Before == nil || n != len(s.BeforeIndex) {
			return fail(fmt.Errorf("internal error: sink schema wants %d before columns", n))
		}
		brec, err := s.Before.Project(ctx, b, rows)
		if err != nil {
			return fail(err)
		}
		for _, c := range s.BeforeIndex {
			a := brec.Column(c)
			a.Retain()
			cols = append(cols, a)
		}
		brec.Release()
	}
	out := array.NewRecordBatch(s.Schema, cols, int64(len(rows)))
	releaseAll(cols)
	s.out = exec.Batch{Record: out, DB: b.DB, Table: b.Table, Snapshot: b.Snapshot,
		SnapshotStart: b.SnapshotStart, SnapshotEnd: b.SnapshotEnd, SnapshotLeft: b.SnapshotLeft, ServerID: b.ServerID, GTID: b.GTID, Thread: b.Thread,
		EventRows: eventRows(b, rows, l)}
	return &s.out, nil
}

// output returns output column c of every part, concatenated.
func (s *Sink) output(set *Set, c int) (arrow.Array, error) {
	switch len(set.Parts) {
	case 0:
		return array.MakeArrayOfNull(s.Alloc, s.Schema.Field(c).Type, 0), nil
	case 1:
		a := set.Parts[0].Rec.Column(c)
		a.Retain()
		return a, nil
	}
	arrs := make([]arrow.Array, len(set.Parts))
	for k, p := range set.Parts {
		arrs[k] = p.Rec.Column(c)
	}
	return array.Concatenate(arrs, s.Alloc)
}

func releaseAll(arrs []arrow.Array) {
	for _, a := range arrs {
		a.Release()
	}
}

// fixedBuilder is the part of an Arrow builder of fixed-width values
// that gatherFixed uses.
type fixedBuilder[T any] interface {
	Reserve(int)
	AppendNull()
	UnsafeAppend(T)
	NewArray() arrow.Array
	Release()
}

// gatherFixed returns the values of a (vals: its value buffer) at rows, in
// bld, which it releases.
func gatherFixed[T any](bld fixedBuilder[T], a arrow.Array, vals []T, rows []int32) arrow.Array {
	defer bld.Release()
	bld.Reserve(len(rows))
	for _, i := range rows {
		if a.IsNull(int(i)) {
			bld.AppendNull()
		} else {
			bld.UnsafeAppend(vals[i])
		}
	}
	return bld.NewArray()
}

func gatherUint64(mem memory.Allocator, a *array.Uint64, rows []int32) arrow.Array {
	return gatherFixed[uint64](array.NewUint64Builder(mem), a, a.Uint64Values(), rows)
}

func gatherTimestamp(mem memory.Allocator, a *array.Timestamp, rows []int32) arrow.Array {
	return gatherFixed[arrow.Timestamp](array.NewTimestampBuilder(mem, a.DataType().(*arrow.TimestampType)), a, a.TimestampValues(), rows)
}

func gatherString(mem memory.Allocator, a *array.String, rows []int32) arrow.Array {
	bld := array.NewStringBuilder(mem)
	defer bld.Release()
	bld.Reserve(len(rows))
	for _, i := range rows {
		if a.IsNull(int(i)) {
			bld.AppendNull()
		} else {
			bld.Append(a.Value(int(i)))
		}
	}
	return bld.NewArray()
}

// Uint8Array returns an array of vals.
func Uint8Array(mem memory.Allocator, vals []uint8) arrow.Array {
	bld := array.NewUint8Builder(mem)
	defer bld.Release()
	bld.AppendValues(vals, nil)
	return bld.NewArray()
}

// Take returns a record of the given rows of rec.
func Take(mem memory.Allocator, rec arrow.RecordBatch, rows []int) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, rec.NumCols())
	for c := range cols {
		parts := make([]arrow.Array, len(rows))
		for k, r := range rows {
			parts[k] = array.NewSlice(rec.Column(c), int64(r), int64(r+1))
		}
		cat, err := array.Concatenate(parts, mem)
		releaseAll(parts)
		if err != nil {
			releaseAll(cols[:c])
			return nil, err
		}
		cols[c] = cat
	}
	out := array.NewRecordBatch(rec.Schema(), cols, int64(len(rows)))
	releaseAll(cols)
	return out, nil
}

// sameValue compares a[i] and b[j] of the same type; NULL equals NULL (a
// key comparison, not SQL equality).
func sameValue(a arrow.Array, i int, b arrow.Array, j int) bool {
	an, bn := a.IsNull(i), b.IsNull(j)
	if an || bn {
		return an == bn
	}
	switch x := a.(type) {
	case *array.Int64:
		return x.Value(i) == b.(*array.Int64).Value(j)
	case *array.Int32:
		return x.Value(i) == b.(*array.Int32).Value(j)
	case *array.Uint64:
		return x.Value(i) == b.(*array.Uint64).Value(j)
	case *array.Uint32:
		return x.Value(i) == b.(*array.Uint32).Value(j)
	case *array.String:
		return x.Value(i) == b.(*array.String).Value(j)
	case *array.Binary:
		return bytes.Equal(x.Value(i), b.(*array.Binary).Value(j))
	}
	return a.ValueStr(i) == b.ValueStr(j)
}

// identity reports whether rows is 0, 1, …, n-1.
func identity(rows []int32, n int) bool {
	if len(rows) != n {
		return false
	}
	for i, r := range rows {
		if int(r) != i {
			return false
		}
	}
	return true
}

// eventRows returns the places among the rows of their binlog events
// (exec.Batch.EventRows) of rows of source batch b: b's own when rows are
// all of b's, in order (or when counting them gives theirs), else theirs
// gathered — counted over b's rows before the WHERE left some out, which
// counting the sink batch's rows alone would not give (Debezium's
// source.row of the third row of an event was 0 when the WHERE dropped
// the two before it).
func eventRows(b *exec.Batch, rows []int32, l exec.SourceLayout) []int32 {
	rec := b.Record
	if b.Snapshot || rec == nil || identity(rows, int(rec.NumRows())) {
		return b.EventRows
	}
	src := b.EventRows
	if src == nil {
		pos := rec.Column(l.Pos).(*array.String)
		src = exec.CountEventRows(make([]int32, 0, rec.NumRows()), int(rec.NumRows()), pos.Value)
	}
	out := make([]int32, len(rows))
	for j, r := range rows {
		out[j] = src[r]
	}
	return out
}
