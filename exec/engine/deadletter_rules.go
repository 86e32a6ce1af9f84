package engine

import (
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/etlq/etlq/exec"
)

// How rejected rows meet an upsert target (docs/language.md, "Rules and
// upserts"): the target equals the source rows that pass WHERE and the
// rules, so
//
//   - a delete is never subject to WHERE or the rules (it carries no new
//     values to check): it always removes its key;
//   - an insert, update or snapshot read that fails a rule or a cast is
//     dead-lettered (or skipped) and removes its key from the target: the
//     old row is a state the source no longer has. An update removes its
//     old key too when the key changed.

// withoutDeletes returns b without its delete rows (a shallow copy whose
// selection leaves them out) and the delete rows; b itself when it has none.
func withoutDeletes(b *exec.Batch, ops *array.String) (*exec.Batch, []int32) {
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

// failedTombstones lists the rows of rowErrs that must remove their key
// from an upsert target: gone are projected like kept rows (their key is
// the new one; for an update whose key changed, movedKeys adds the old
// one); oldKeyOnly are updates whose key column itself failed, removed by
// their before image's key. An insert whose key failed has no key to
// remove.
func (tr *tableRun) failedTombstones(rowErrs []exec.RowError, ops *array.String) (gone, oldKeyOnly []int32) {
	for _, e := range rowErrs {
		if !tr.isKeyColumn(e.Column) {
			gone = append(gone, int32(e.Row))
			continue
		}
		if ops.Value(e.Row) == exec.OpUpdate && tr.before != nil {
			oldKeyOnly = append(oldKeyOnly, int32(e.Row))
		}
	}
	return gone, oldKeyOnly
}

// isKeyColumn reports whether an output column (as a RowError names it)
// is part of the upsert key.
func (tr *tableRun) isKeyColumn(name string) bool {
	for _, k := range tr.plan.KeyIndex {
		if strings.EqualFold(tr.plan.Output[k].Name, name) {
			return true
		}
	}
	return false
}
