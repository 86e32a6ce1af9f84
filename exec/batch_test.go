package exec

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
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
