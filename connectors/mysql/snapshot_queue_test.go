package mysql

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestQueueFullByBytes: a chunk's records not taken yet stop its read at
// maxQueued records, or sooner at maxQueuedBytes: one record of wide rows
// waits alone.
func TestQueueFullByBytes(t *testing.T) {
	rec := func(rows int) arrow.RecordBatch {
		b := array.NewInt64Builder(memory.NewGoAllocator())
		defer b.Release()
		b.AppendValues(make([]int64, rows), nil)
		a := b.NewArray()
		defer a.Release()
		return array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil), []arrow.Array{a}, int64(rows))
	}
	small, wide := rec(1000), rec(maxQueuedBytes/8)
	defer small.Release()
	defer wide.Release()
	for _, c := range []struct {
		recs []arrow.RecordBatch
		full bool
	}{
		{nil, false},
		{[]arrow.RecordBatch{small}, false},
		{[]arrow.RecordBatch{small, small}, true},
		{[]arrow.RecordBatch{wide}, true},
	} {
		if got := queueFull(&chunk{recs: c.recs}); got != c.full {
			t.Errorf("%d records: full %v, want %v", len(c.recs), got, c.full)
		}
	}
}
