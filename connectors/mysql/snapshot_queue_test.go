package mysql

import (
	"io"
	"log/slog"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/exec"
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

// TestSeenKeysBounded: the keys noted for chunks to come stop at
// maxSeenKeys (with a warning, once), and notes made with other key
// columns are dropped rather than matched against a chunk's rows.
func TestSeenKeysBounded(t *testing.T) {
	defer func(n int) { maxSeenKeys = n }(maxSeenKeys)
	maxSeenKeys = 3
	mem := memory.NewGoAllocator()
	tbl := func(key int) *table {
		return &table{Cols: []*column{{Name: "id"}, {Name: "alt"}}, Key: []int{key}}
	}
	ts := &tableState{key: "db.t", cur: tbl(0), snap: &snapState{}}
	s := &snapshotter{cfg: &streamConfig{log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		seen: map[*tableState]map[string]binlogPos{}, seenSig: map[*tableState]string{}}
	rec := func(ids ...int64) arrow.RecordBatch {
		ib := array.NewInt64Builder(mem)
		defer ib.Release()
		ib.AppendValues(ids, nil)
		a := ib.NewArray()
		defer a.Release()
		pb := array.NewStringBuilder(mem)
		defer pb.Release()
		for range ids {
			pb.Append("binlog.000001:100")
		}
		pos := pb.NewStringArray()
		defer pos.Release()
		schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "alt", Type: arrow.PrimitiveTypes.Int64},
			{Name: exec.ColPos, Type: arrow.BinaryTypes.String}}, nil)
		return array.NewRecordBatch(schema, []arrow.Array{a, a, pos}, int64(len(ids)))
	}
	r := rec(1, 2, 3, 4, 5)
	defer r.Release()
	s.noteKeys(ts, r)
	if s.seenKeys != 3 || len(s.seen[ts]) != 3 || !s.seenFull {
		t.Fatalf("%d keys noted (%d in the map), full %v; want 3, 3, true", s.seenKeys, len(s.seen[ts]), s.seenFull)
	}
	ts.cur = tbl(1) // the key is another column now
	s.noteKeys(ts, r)
	if s.seenSig[ts] != "(alt)" || s.seenKeys != 3 {
		t.Fatalf("after the key changed: sig %q, %d keys", s.seenSig[ts], s.seenKeys)
	}
	s.dropSeenLocked(ts)
	if s.seenKeys != 0 || s.seen[ts] != nil {
		t.Fatalf("%d keys left", s.seenKeys)
	}
}
