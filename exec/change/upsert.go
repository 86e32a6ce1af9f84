package change

import (
	"context"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/exec"
)

// Upsert adds to the live rows of a batch what an upsert target needs
// besides them, so that the target equals SELECT <outputs> FROM <table>
// WHERE <where> at the source (docs/language.md, "Rules and upserts"):
//
//   - a delete removes its key (SplitDeletes kept it from the program);
//   - an update or delete whose row does not pass WHERE removes its key
//     (the row left the result, or was never in it: a tombstone for a key
//     that is not there is harmless);
//   - an insert, update or read that failed a rule or a cast removes its
//     key: the target must not keep a state the source no longer has. When
//     the failed column is part of the key, an update removes its old key
//     (from the before image) and an insert has no key to remove;
//   - an update whose key changed removes its old key, computed from the
//     before image (MovedKeys).
type Upsert struct {
	Outputs Projector // the outputs: tombstones of the new key
	Before  Projector // the outputs over the before image; nil: none
	Key     []int     // the output columns of the key
	Names   []string  // the output column names (a RowError's Column)
	Alloc   memory.Allocator
}

// Input is what a pipeline's program made of a source batch: the live
// rows (Out, Kept), the rows WHERE rejected, the rows that failed (Errs),
// and the deletes SplitDeletes set aside.
type Input struct {
	Batch    *exec.Batch
	Ops      *array.String
	Out      arrow.RecordBatch
	Kept     []int32
	Rejected []int32
	Deletes  []int32
	Errs     []exec.RowError
}

// Apply appends to set the tombstones of in. The set must hold the live
// rows (in.Out, in.Kept) as its first part, or nothing when no row passed.
func (u *Upsert) Apply(ctx context.Context, in Input, set *Set) error {
	var gone []int32
	for _, i := range in.Rejected {
		if op := in.Ops.Value(int(i)); op == exec.OpUpdate || op == exec.OpDelete {
			gone = append(gone, i)
		}
	}
	gone = append(gone, in.Deletes...)
	failedGone, oldKeyOnly := u.failed(in.Errs, in.Ops)
	gone = append(gone, failedGone...)
	var goneRec arrow.RecordBatch
	if len(gone) > 0 {
		rec, err := u.Outputs.Project(ctx, in.Batch, gone)
		if err != nil {
			return err
		}
		goneRec = rec
		set.Add(Part{Rec: rec, Rows: gone, Deleted: true})
	}
	if u.Before == nil {
		return nil
	}
	mk := MovedKeys{Before: u.Before, Key: u.Key, Alloc: u.Alloc}
	moved, err := mk.Apply(ctx, in.Batch, in.Ops, []Part{{Rec: in.Out, Rows: in.Kept}, {Rec: goneRec, Rows: gone}})
	if err != nil {
		return err
	}
	set.Add(moved)
	if len(oldKeyOnly) > 0 {
		rec, err := u.Before.Project(ctx, in.Batch, oldKeyOnly)
		if err != nil {
			return err
		}
		set.Add(Part{Rec: rec, Rows: oldKeyOnly, Deleted: true})
	}
	return nil
}

// failed lists the rows of errs that must remove their key: gone are
// projected like kept rows (their key is the new one; for an update whose
// key changed, MovedKeys adds the old one); oldKeyOnly are updates whose
// key column itself failed, removed by their before image's key. An
// insert whose key failed has no key to remove.
func (u *Upsert) failed(errs []exec.RowError, ops *array.String) (gone, oldKeyOnly []int32) {
	for _, e := range errs {
		if !u.isKey(e.Column) {
			gone = append(gone, int32(e.Row))
			continue
		}
		if ops.Value(e.Row) == exec.OpUpdate && u.Before != nil {
			oldKeyOnly = append(oldKeyOnly, int32(e.Row))
		}
	}
	return gone, oldKeyOnly
}

// isKey reports whether an output column (as a RowError names it) is part
// of the key.
func (u *Upsert) isKey(name string) bool {
	for _, k := range u.Key {
		if strings.EqualFold(u.Names[k], name) {
			return true
		}
	}
	return false
}

// MovedKeys finds the updates whose output key differs from the key of
// their before image: the old key must be removed.
type MovedKeys struct {
	Before Projector // the outputs over the before image
	Key    []int     // the output columns of the key
	Alloc  memory.Allocator
}

// Apply looks at the update rows of parts (the outputs of those rows) and
// returns, as tombstones, those whose key moved, projected over the before
// image. The part has no rows when no key moved.
func (m *MovedKeys) Apply(ctx context.Context, b *exec.Batch, ops *array.String, parts []Part) (Part, error) {
	var upd []int32
	type at struct{ part, row int32 }
	var pos []at
	for k, p := range parts {
		for j, i := range p.Rows {
			if ops.Value(int(i)) == exec.OpUpdate {
				upd = append(upd, i)
				pos = append(pos, at{int32(k), int32(j)})
			}
		}
	}
	if len(upd) == 0 {
		return Part{}, nil
	}
	brec, err := m.Before.Project(ctx, b, upd)
	if err != nil {
		return Part{}, err
	}
	var moved []int32
	var keep []int
	for k, i := range upd {
		src := parts[pos[k].part].Rec
		for _, c := range m.Key {
			if !sameValue(src.Column(c), int(pos[k].row), brec.Column(c), k) {
				moved = append(moved, i)
				keep = append(keep, k)
				break
			}
		}
	}
	switch len(moved) {
	case 0:
		brec.Release()
		return Part{}, nil
	case len(upd):
		return Part{Rec: brec, Rows: moved, Deleted: true}, nil
	}
	defer brec.Release()
	sub, err := Take(m.Alloc, brec, keep)
	if err != nil {
		return Part{}, err
	}
	return Part{Rec: sub, Rows: moved, Deleted: true}, nil
}
