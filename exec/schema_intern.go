package exec

import (
	"hash/maphash"
	"runtime"
	"sync"
	"weak"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/endian"
)

// Interned schemas: the tables of a pattern with one layout (1,000 tables
// t_0000 … t_0999 of the same columns) each had their own source schema,
// sink schema and program output schema — equal ones, thousands of small
// objects (fields, their metadata) that the garbage collector walked at
// every cycle of the stream. Arrow schemas are never written once made, so
// equal ones can be one: InternSchema hands out the schema already in use
// for a layout. The table is weak: a schema no batch, plan or program
// holds any longer is collected, and its entry removed.
var interned = struct {
	mu sync.Mutex
	by map[uint64][]weak.Pointer[arrow.Schema]
}{by: map[uint64][]weak.Pointer[arrow.Schema]{}}

// InternSchema returns the schema in use that is equal to s (fields,
// their types, nullability and metadata, the schema's metadata and
// endianness), or s itself, which is then the one handed out for its
// layout. The caller must not change s's fields' metadata afterwards (no
// one changes a schema's: they are shared by every batch made with it).
func InternSchema(s *arrow.Schema) *arrow.Schema {
	if s == nil {
		return nil
	}
	key := schemaKey(s)
	interned.mu.Lock()
	defer interned.mu.Unlock()
	for _, w := range interned.by[key] {
		if c := w.Value(); c != nil && sameSchema(c, s) {
			return c
		}
	}
	interned.by[key] = append(interned.by[key], weak.Make(s))
	runtime.AddCleanup(s, forgetSchema, key)
	return s
}

// forgetSchema drops the entries of key whose schema was collected.
func forgetSchema(key uint64) {
	interned.mu.Lock()
	defer interned.mu.Unlock()
	live := interned.by[key][:0]
	for _, w := range interned.by[key] {
		if w.Value() != nil {
			live = append(live, w)
		}
	}
	if len(live) == 0 {
		delete(interned.by, key)
		return
	}
	interned.by[key] = live
}

// sameSchema is Equal and, beyond it, the schemas' own metadata.
func sameSchema(a, b *arrow.Schema) bool {
	return a.Equal(b) && a.Metadata().Equal(b.Metadata())
}

// schemaKey hashes what sameSchema compares, but for the types' parameters
// (a type by its ID): equal schemas have one key, and a key shared by
// unequal ones only costs a comparison.
func schemaKey(s *arrow.Schema) uint64 {
	var h maphash.Hash
	h.SetSeed(internSeed)
	writeMeta := func(m arrow.Metadata) {
		for i, k := range m.Keys() {
			h.WriteString(k)
			h.WriteByte(0)
			h.WriteString(m.Values()[i])
			h.WriteByte(0)
		}
		h.WriteByte(1)
	}
	if s.Endianness() != endian.NativeEndian {
		h.WriteByte(2)
	}
	writeMeta(s.Metadata())
	for i := range s.NumFields() {
		f := s.Field(i)
		h.WriteString(f.Name)
		h.WriteByte(0)
		if f.Nullable {
			h.WriteByte(3)
		}
		h.WriteByte(byte(f.Type.ID()))
		writeMeta(f.Metadata)
	}
	return h.Sum64()
}

var internSeed = maphash.MakeSeed()
