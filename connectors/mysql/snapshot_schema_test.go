package mysql

import (
	"testing"
)

// TestChunkOut: a chunk's batches carry the columns the chunk read — the
// stream's (with what the history knows of them) when they agree, the
// chunk's own otherwise — never the stream's columns with NULLs for those
// the chunk did not read.
func TestChunkOut(t *testing.T) {
	col := func(name string, k kind) *column { return &column{Name: name, Kind: k} }
	def := &colDefault{}
	z := col("z", kInt32)
	z.Default = def
	out := &table{Cols: []*column{col("id", kInt32), col("k", kInt32), z}}
	same := &table{Cols: []*column{col("id", kInt32), col("k", kInt32), col("z", kInt32)}}
	if got := chunkOut(same, out, false); got != out {
		t.Errorf("same columns: got %v, want the stream's", got.columnNames())
	}
	older := &table{Cols: []*column{col("id", kInt32), col("k", kInt32)}}
	got := chunkOut(older, out, false)
	if len(got.Cols) != 2 || got.Cols[0] != out.Cols[0] || got.Cols[1] != out.Cols[1] {
		t.Errorf("a chunk read before ADD COLUMN z: got %v, want id, k of the stream", got.columnNames())
	}
	newer := &table{Cols: []*column{col("id", kInt64), col("k", kInt32), col("z", kInt32), col("w", kString)}}
	got = chunkOut(newer, out, false)
	if len(got.Cols) != 4 || got.Cols[0] != newer.Cols[0] || got.Cols[2] != z || got.Cols[3] != newer.Cols[3] {
		t.Errorf("a chunk with a widened id and a new column: got %v", got.columnNames())
	}
	if got := chunkOut(older, out, true); got != out {
		t.Errorf("schema_changes = 'ignore': got %v, want the stream's fixed columns", got.columnNames())
	}
}
