package natslog

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/exec"
)

// TestLiftVersionsLiftsAddedAt: the version a column's ADD names is lifted
// with the rows' (a worker's fill of the rows older than the ADD compares
// it with the lifted _version), also on the DDL's batch without rows; a
// schema without it is left as it is.
func TestLiftVersionsLiftsAddedAt(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	added := arrow.Field{Name: "c", Type: arrow.PrimitiveTypes.Int32, Nullable: true,
		Metadata: arrow.NewMetadata([]string{exec.MetaAddedByDDL, exec.MetaAddedAt}, []string{"true", "100"})}
	plain := arrow.Field{Name: "id", Type: arrow.PrimitiveTypes.Int32}
	schema := exec.SourceSchema([]arrow.Field{plain, added}, false)
	var cols []arrow.Array
	for _, f := range schema.Fields() {
		b := array.NewBuilder(mem, f.Type)
		cols = append(cols, b.NewArray())
		b.Release()
	}
	rec := array.NewRecordBatch(schema, cols, 0)
	for _, c := range cols {
		c.Release()
	}
	b := &exec.Batch{Record: rec}
	liftVersions(b, 5, mem)
	f := b.Record.Schema().Field(1)
	if v, _ := f.Metadata.GetValue(exec.MetaAddedAt); v != "105" {
		t.Errorf("added_at after a lift of 5: %q, want 105", v)
	}
	if v, _ := f.Metadata.GetValue(exec.MetaAddedByDDL); v != "true" {
		t.Errorf("added_by_ddl lost: %q", v)
	}
	b.Release()
	s := exec.SourceSchema([]arrow.Field{plain}, false)
	if liftSchema(s, 5) != s {
		t.Error("a schema without an ADD's version was made again")
	}
}
