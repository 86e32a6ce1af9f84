package natslog

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
	"github.com/etlq/etlq/exec"
)

// batch builds a source batch of t(id PRIMARY KEY, v) with the given ids
// and ops.
func batch(ids []int64, op string, mark string) *exec.Batch {
	mem := memory.DefaultAllocator
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Metadata: arrow.NewMetadata([]string{exec.MetaPrimaryKey}, []string{"1"})},
		{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: exec.ColOp, Type: arrow.BinaryTypes.String},
		{Name: exec.ColVersion, Type: arrow.PrimitiveTypes.Uint64},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i, id := range ids {
		b.Field(0).(*array.Int64Builder).Append(id)
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprint("v", id))
		b.Field(2).(*array.StringBuilder).Append(op)
		b.Field(3).(*array.Uint64Builder).Append(uint64(1000 + i))
	}
	out := &exec.Batch{Record: b.NewRecordBatch(), DB: "d", Table: "t"}
	if mark != "" {
		out.Mark = &exec.Mark{Source: "s", State: []byte(mark)}
	}
	return out
}

// TestPartitionKeepsKeys: a key goes to the same partition in every batch,
// every row goes somewhere once, a truncate and a batch of no rows go to
// every partition.
func TestPartitionKeepsKeys(t *testing.T) {
	const parts = 4
	seen := map[int64]int{}
	for round := 0; round < 3; round++ {
		ids := []int64{}
		for i := int64(round); i < 200; i += 2 {
			ids = append(ids, i)
		}
		b := batch(ids, exec.OpUpdate, "")
		rows := 0
		for _, pc := range partition(b, parts) {
			r := pc.rows
			if r == nil {
				t.Fatalf("a batch of 100 keys went whole to partition %d", pc.part)
			}
			rows += len(r)
			for _, i := range r {
				id := ids[i]
				if p, ok := seen[id]; ok && p != pc.part {
					t.Errorf("key %d in partition %d, before in %d", id, pc.part, p)
				}
				seen[id] = pc.part
			}
		}
		if rows != len(ids) {
			t.Errorf("%d rows placed, want %d", rows, len(ids))
		}
		b.Release()
	}
	tr := batch([]int64{0}, exec.OpTruncate, "")
	defer tr.Release()
	if got := partition(tr, parts); len(got) != parts {
		t.Errorf("a truncate went to %d partitions, want %d", len(got), parts)
	}
	empty := batch(nil, exec.OpInsert, "")
	defer empty.Release()
	if got := partition(empty, parts); len(got) != parts {
		t.Errorf("a schema change went to %d partitions, want %d", len(got), parts)
	}
	if got := subSel([]int32{1, 4, 5, 9}, []int32{0, 1, 5, 8, 9}); fmt.Sprint(got) != "[1 2 4]" {
		t.Errorf("subSel = %v, want [1 2 4]", got)
	}
}

// fakeSource replays fixed batches (an in-memory source for the log's own
// tests; the end-to-end tests use MariaDB).
type fakeSource struct {
	connectors.Source
	batches func() []*exec.Batch
}

func (f *fakeSource) Open(ctx context.Context, req connectors.StreamRequest) (connectors.Stream, error) {
	return &fakeStream{bs: f.batches()}, nil
}
func (f *fakeSource) Close() error { return nil }

type fakeStream struct{ bs []*exec.Batch }

func (s *fakeStream) Next(ctx context.Context) (*exec.Batch, error) {
	if len(s.bs) == 0 {
		return nil, io.EOF
	}
	b := s.bs[0]
	s.bs = s.bs[1:]
	return b, nil
}
func (s *fakeStream) Progress() []connectors.Progress { return nil }
func (s *fakeStream) Lag() float64                    { return 0 }
func (s *fakeStream) Close() error                    { return nil }

// TestCaptureTwiceWritesOnce: a second capture from the same position (a
// restarted or doubled capture) stores nothing twice, and a capture
// resumes from the last position JetStream acknowledged.
func TestCaptureTwiceWritesOnce(t *testing.T) {
	url := testenv.NATSURL(t) + "/" + testenv.UniqueName(t)
	lg, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	defer lg.DeleteSource("s")
	batches := func() []*exec.Batch {
		return []*exec.Batch{batch([]int64{1, 2, 3, 4, 5, 6}, exec.OpInsert, ""), batch([]int64{7, 8}, exec.OpInsert, `{"pos":1}`),
			batch([]int64{1, 9}, exec.OpUpdate, `{"pos":2}`)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	src := &fakeSource{batches: batches}
	req := connectors.StreamRequest{Once: true, Resume: []byte(`{"pos":0}`)}
	if err := lg.Capture(ctx, "s", src, req, CaptureOptions{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	info, err := lg.js.StreamInfo(lg.names("s").stream)
	if err != nil {
		t.Fatal(err)
	}
	first := info.State.Msgs
	if first < 3 {
		t.Fatalf("%d messages stored, want at least one per batch", first)
	}
	if err := lg.Capture(ctx, "s", src, req, CaptureOptions{}); err != nil {
		t.Fatal(err)
	}
	info, _ = lg.js.StreamInfo(lg.names("s").stream)
	if info.State.Msgs != first {
		t.Errorf("a second capture from the same position: %d messages, want %d", info.State.Msgs, first)
	}
	resume, err := lg.lastResume(lg.names("s"))
	if err != nil || string(resume) != `{"pos":2}` {
		t.Errorf("resume position = %s (%v), want {\"pos\":2}", resume, err)
	}
}
