package natslog

import (
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// noteBatch is batch's table after ALTER TABLE t ADD COLUMN note: the
// same rows with a third column.
func noteBatch(ids []int64, mark string) *exec.Batch {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Metadata: arrow.NewMetadata([]string{exec.MetaPrimaryKey}, []string{"1"})},
		{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true, Metadata: arrow.NewMetadata([]string{exec.MetaAddedByDDL}, []string{"1"})},
		{Name: exec.ColOp, Type: arrow.BinaryTypes.String},
		{Name: exec.ColVersion, Type: arrow.PrimitiveTypes.Uint64},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i, id := range ids {
		b.Field(0).(*array.Int64Builder).Append(id)
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprint("v", id))
		b.Field(2).(*array.StringBuilder).Append("n")
		b.Field(3).(*array.StringBuilder).Append(exec.OpUpdate)
		b.Field(4).(*array.Uint64Builder).Append(uint64(100000 + i))
	}
	return &exec.Batch{Record: b.NewRecordBatch(), DB: "d", Table: "t", Mark: &exec.Mark{Source: "s", State: []byte(mark)}}
}

// TestWorkerLayoutsInOrder: a worker reading eight partitions hands a
// table's batches over with one change of layout for one schema change
// (the DDL's batch of no rows, in every partition), the rows before it
// all in the old layout and those after it all in the new one. Before,
// its partitions' fetchers queued their messages side by side and the
// layouts came interleaved: the engine planned the table again at each
// flip.
func TestWorkerLayoutsInOrder(t *testing.T) {
	lg, ctx := testLog(t)
	const perSide, rows = 150, 40
	src := &fakeSource{batches: func() []*exec.Batch {
		var bs []*exec.Batch
		ids := func(i int) []int64 {
			out := make([]int64, rows)
			for j := range out {
				out[j] = int64(i*rows + j)
			}
			return out
		}
		for i := 0; i < perSide; i++ {
			bs = append(bs, batch(ids(i), exec.OpUpdate, fmt.Sprintf(`{"pos":%d}`, i+1)))
		}
		bs = append(bs, noteBatch(nil, fmt.Sprintf(`{"pos":%d}`, perSide+1))) // the DDL
		for i := 0; i < perSide; i++ {
			bs = append(bs, noteBatch(ids(i), fmt.Sprintf(`{"pos":%d}`, perSide+2+i)))
		}
		return bs
	}}
	if err := lg.Capture(ctx, "s", src, connectors.StreamRequest{Once: true}, CaptureOptions{Partitions: 8}); err != nil {
		t.Fatal(err)
	}
	st, err := lg.Source("s", nil, WorkerOptions{ID: "a", Lease: 2 * time.Second}).Open(ctx, connectors.StreamRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := st.(*workerStream)
	var layouts []int // the number of columns of each batch handed over, when it changed
	got := 0
	for got < 2*perSide*rows {
		b, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("after %d rows: %v", got, err)
		}
		n := b.Record.Schema().NumFields()
		if len(layouts) == 0 || layouts[len(layouts)-1] != n {
			layouts = append(layouts, n)
		}
		got += int(b.NumRows())
		w.Acked(b.Mark)
		b.Release()
	}
	if fmt.Sprint(layouts) != "[4 5]" {
		t.Errorf("the layouts (columns) of the batches handed over changed %d times: %v; want [4 5], once", len(layouts)-1, layouts)
	}
}
