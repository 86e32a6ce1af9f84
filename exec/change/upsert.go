package change

import (
	"context"
	"slices"
	"strings"
	"sync"

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
//     (from the before image: MovedKeys) and an insert has no key to remove;
//   - an update whose key changed removes its old key, computed from the
//     before image (MovedKeys).
//
// Next returns its input's batch (the outputs of the live rows) as it is;
// Set holds the parts that batch's sink rows are made of: the live rows,
// then the tombstones of the new keys. OldKeys lists the updates whose key
// column failed, for MovedKeys.
type Upsert struct {
	Input   exec.Operator     // the outputs of the live rows: an exec.ProgramOp, or an operator passing on its batches
	Live    Live              // the program's side outputs (exec.ProgramOp)
	Split   *SplitDeletes     // the deletes set aside
	Layout  exec.SourceLayout // of the source batches
	Outputs Projector         // the outputs: tombstones of the new key
	Before  Projector         // the outputs over the before image; nil: none
	Key     []int             // the output columns of the key
	Names   []string          // the output column names (a RowError's Column)
	Alloc   memory.Allocator

	set           Set
	gone, oldKeys []int32
}

var (
	_ exec.Operator = (*Upsert)(nil)
	_ Parter        = (*Upsert)(nil)
)

// Init implements exec.Operator.
func (u *Upsert) Init(ctx context.Context) error { return u.Input.Init(ctx) }

// Next implements exec.Operator.
func (u *Upsert) Next(ctx context.Context) (*exec.Batch, error) {
	u.reset()
	b, err := u.Input.Next(ctx)
	if b == nil || err != nil {
		return nil, err
	}
	b.Record.Retain() // (the set releases its part)
	u.set.Add(Part{Rec: b.Record, Rows: u.Live.Kept()})
	src := u.Live.Source()
	ops := Ops(src, u.Layout)
	gone := u.gone[:0]
	for _, i := range u.Live.Rejected() {
		if op := ops.Value(int(i)); op == exec.OpUpdate || op == exec.OpDelete {
			gone = append(gone, i)
		}
	}
	gone = append(gone, u.Split.Deletes()...)
	gone, u.oldKeys = u.failed(u.Live.Errs(), ops, gone, u.oldKeys[:0])
	u.gone = gone
	if len(gone) > 0 {
		rec, err := u.Outputs.Project(ctx, src, gone)
		if err != nil {
			u.reset()
			return nil, err
		}
		u.set.Add(Part{Rec: rec, Rows: gone, Deleted: true})
	}
	return b, nil
}

// Set returns the parts of the batch Next returned last: its live rows,
// then the tombstones of new keys.
func (u *Upsert) Set() *Set { return &u.set }

// OldKeys returns the updates of the batch Next returned last whose key
// column failed: their old key goes, their new one is not known.
func (u *Upsert) OldKeys() []int32 { return u.oldKeys }

func (u *Upsert) reset() {
	u.set.Release()
	u.gone, u.oldKeys = u.gone[:0], u.oldKeys[:0]
}

// Close implements exec.Operator.
func (u *Upsert) Close() error {
	u.reset()
	return u.Input.Close()
}

// failed appends the rows of errs that must remove their key: to gone
// those projected like kept rows (their key is the new one; for an update
// whose key changed, MovedKeys adds the old one), to oldKeyOnly updates
// whose key column itself failed, removed by their before image's key. An
// insert whose key failed has no key to remove.
func (u *Upsert) failed(errs []exec.RowError, ops *array.String, gone, oldKeyOnly []int32) ([]int32, []int32) {
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

// MovedKeys adds to the parts of its input (Upsert) the tombstones of old
// keys, projected over the before image: of the updates (among the live
// rows and the tombstones of new keys) whose output key differs from the
// key of their before image, then of the updates whose key column failed
// (Upsert.OldKeys). Next returns its input's batch as it is; Set holds the
// input's parts, then those tombstones.
type MovedKeys struct {
	Input  *Upsert
	Live   Live              // the program's side outputs (exec.ProgramOp)
	Layout exec.SourceLayout // of the source batches
	Before Projector         // the outputs over the before image
	Key    []int             // the output columns of the key
	// BeforeKey, when set, projects only the key outputs over the before
	// image (its column j is output Key[j]): the updates' keys are compared
	// through it, and Before projects only the updates whose key moved —
	// most keep theirs, and their other outputs over the before image are
	// not needed. Nil: Before projects every update.
	BeforeKey Projector
	// Moving, with BeforeKey, are the outputs of Key that BeforeKey
	// projects (its column j is output Moving[j]); nil: all of Key. An
	// output that reads the same column in both images (a metadata column
	// such as _table) cannot differ between them and is left out; with
	// none left, NoMove is set: no update moves its key.
	Moving []int
	NoMove bool
	Alloc  memory.Allocator

	set Set
}

// at is a row of a part.
type at struct{ part, row int32 }

// movedScratch is what moved lists the updates of a batch in. It is
// pooled, not kept per operator: a chain is built per table, and with
// 1,000 tables under a pattern each chain's own lists, grown to its
// batches' rows, stayed in memory table after table (~9 MB of the
// 1,000-table stream's live heap, more with longer transactions).
type movedScratch struct {
	upd []int32
	pos []at
}

var movedScratches = sync.Pool{New: func() any { return new(movedScratch) }}

var (
	_ exec.Operator = (*MovedKeys)(nil)
	_ Parter        = (*MovedKeys)(nil)
)

// Init implements exec.Operator.
func (m *MovedKeys) Init(ctx context.Context) error { return m.Input.Init(ctx) }

// Next implements exec.Operator.
func (m *MovedKeys) Next(ctx context.Context) (*exec.Batch, error) {
	m.set.Release()
	b, err := m.Input.Next(ctx)
	if b == nil || err != nil {
		return nil, err
	}
	src := m.Live.Source()
	parts := m.Input.Set().Parts
	for _, p := range parts {
		p.Rec.Retain()
		m.set.Parts = append(m.set.Parts, p)
	}
	moved, err := m.moved(ctx, src, Ops(src, m.Layout), parts)
	if err != nil {
		m.set.Release()
		return nil, err
	}
	m.set.Add(moved)
	if old := m.Input.OldKeys(); len(old) > 0 {
		rec, err := m.Before.Project(ctx, src, old)
		if err != nil {
			m.set.Release()
			return nil, err
		}
		m.set.Add(Part{Rec: rec, Rows: old, Deleted: true})
	}
	return b, nil
}

// Set returns the parts of the batch Next returned last.
func (m *MovedKeys) Set() *Set { return &m.set }

// Close implements exec.Operator.
func (m *MovedKeys) Close() error {
	m.set.Release()
	return m.Input.Close()
}

// moved looks at the update rows of parts (the outputs of those rows) and
// returns, as tombstones, those whose key moved, projected over the before
// image. The part has no rows when no key moved.
func (m *MovedKeys) moved(ctx context.Context, b *exec.Batch, ops *array.String, parts []Part) (Part, error) {
	if m.NoMove {
		return Part{}, nil
	}
	sc := movedScratches.Get().(*movedScratch)
	upd, pos := sc.upd[:0], sc.pos[:0]
	defer func() {
		sc.upd, sc.pos = upd[:0], pos[:0]
		movedScratches.Put(sc)
	}()
	rows := 0
	for _, p := range parts {
		rows += len(p.Rows)
	}
	for k, p := range parts {
		for j, i := range p.Rows {
			if ops.Value(int(i)) == exec.OpUpdate {
				if len(upd) == cap(upd) {
					// Room for every row left at once, not by doubling.
					upd = slices.Grow(upd, rows-len(upd))
					pos = slices.Grow(pos, rows-len(pos))
				}
				upd = append(upd, i)
				pos = append(pos, at{int32(k), int32(j)})
			}
		}
	}
	if len(upd) == 0 {
		return Part{}, nil
	}
	if m.BeforeKey != nil {
		return m.movedByKey(ctx, b, parts, upd, pos)
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

// movedByKey is moved with BeforeKey: the keys of the updates over the
// before image first, then every output over it of only the updates whose
// key moved.
func (m *MovedKeys) movedByKey(ctx context.Context, b *exec.Batch, parts []Part, upd []int32, pos []at) (Part, error) {
	krec, err := m.BeforeKey.Project(ctx, b, upd)
	if err != nil {
		return Part{}, err
	}
	defer krec.Release()
	keys := m.Key
	if m.Moving != nil {
		keys = m.Moving
	}
	var moved []int32
	for k, i := range upd {
		src := parts[pos[k].part].Rec
		for j, c := range keys {
			if !sameValue(src.Column(c), int(pos[k].row), krec.Column(j), k) {
				moved = append(moved, i)
				break
			}
		}
	}
	if len(moved) == 0 {
		return Part{}, nil
	}
	brec, err := m.Before.Project(ctx, b, moved)
	if err != nil {
		return Part{}, err
	}
	return Part{Rec: brec, Rows: moved, Deleted: true}, nil
}
