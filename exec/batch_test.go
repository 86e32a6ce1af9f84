package exec

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestSourceLayout(t *testing.T) {
	cols := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "_op", Type: arrow.BinaryTypes.String}, // a table column named like a metadata one
	}
	for _, before := range []bool{true, false} {
		s := SourceSchema(cols, before)
		l, err := LayoutOf(s)
		if err != nil {
			t.Fatal(err)
		}
		if l.Columns != 2 || l.Before != before {
			t.Fatalf("before=%v: layout %+v", before, l)
		}
		for idx, name := range map[int]string{l.Op: ColOp, l.Ts: ColTs, l.DB: ColDB, l.Table: ColTable, l.Pos: ColPos, l.Version: ColVersion} {
			if s.Field(idx).Name != name {
				t.Errorf("before=%v: field %d is %s, want %s", before, idx, s.Field(idx).Name, name)
			}
		}
		if l.Op != s.NumFields()-6 {
			t.Errorf("before=%v: _op at %d, want the table's column to be skipped", before, l.Op)
		}
		if before && !s.Field(3).Nullable {
			t.Error("a before-image column must be nullable")
		}
	}
	if _, err := LayoutOf(arrow.NewSchema(cols, nil)); err == nil {
		t.Error("a schema without metadata columns has no source layout")
	}
}

func TestIsSystemColumn(t *testing.T) {
	for _, f := range SysFields() {
		if !IsSystemColumn(f.Name) {
			t.Errorf("%s is a system column", f.Name)
		}
	}
	for name, want := range map[string]bool{SysBeforePrefix + "amount": true, "amount": false, ColVersion: false, TargetIsDeleted: false} {
		if IsSystemColumn(name) != want {
			t.Errorf("IsSystemColumn(%q) = %v", name, !want)
		}
	}
}

// TestRecordBytesSharedBufferOnce: arrays that share a buffer one after
// the other (a source's all-NULL before.* columns) count it once.
func TestRecordBytesSharedBufferOnce(t *testing.T) {
	mem := memory.NewGoAllocator()
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(800)
	defer buf.Release()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "b", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "c", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	var cols []arrow.Array
	for i, f := range schema.Fields() {
		bufs := []*memory.Buffer{buf, buf}
		if i == 2 {
			bufs = append(bufs, buf)
		}
		d := array.NewData(f.Type, 100, bufs, nil, 100, 0)
		cols = append(cols, array.MakeFromData(d))
		d.Release()
	}
	rec := array.NewRecordBatch(schema, cols, 100)
	defer rec.Release()
	for _, c := range cols {
		c.Release()
	}
	if got := RecordBytes(rec); got != 800 {
		t.Errorf("shared buffer: %d bytes, want 800", got)
	}
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.AppendValues([]int64{1, 2, 3}, nil)
	a := b.NewArray()
	defer a.Release()
	own := array.NewRecordBatch(arrow.NewSchema(schema.Fields()[:1], nil), []arrow.Array{a}, 3)
	defer own.Release()
	var want int64
	for _, buf := range a.Data().Buffers() {
		if buf != nil {
			want += int64(buf.Len())
		}
	}
	if got := RecordBytes(own); got != want || want == 0 {
		t.Errorf("own buffers: %d bytes, want %d", got, want)
	}
	if RecordBytes(nil) != 0 {
		t.Error("nil record")
	}
}
