package natslog

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/nats-io/nats.go"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
	"github.com/etlq/etlq/exec"
)

// publishIDs captures one batch per id, each with a position, into a log of
// parts partitions.
func publishIDs(ctx context.Context, t *testing.T, lg *Log, parts int, ids []int64) {
	t.Helper()
	bs := func() []*exec.Batch {
		out := make([]*exec.Batch, 0, len(ids))
		for _, id := range ids {
			out = append(out, batch([]int64{id}, exec.OpInsert, fmt.Sprintf(`{"pos":%d}`, id)))
		}
		return out
	}
	if err := lg.Capture(ctx, "s", &fakeSource{batches: bs}, connectors.StreamRequest{Once: true}, CaptureOptions{Partitions: parts}); err != nil {
		t.Fatal(err)
	}
}

// TestDeliveredNeverReceived: a message the server delivered to the
// partition's consumer but the worker never received (a connection cut, a
// client's slow-consumer drop: here another subscriber of the same consumer
// takes it) is read again, whether later messages follow it (the gap
// check) or it was the last one the partition had (nothing later reveals
// it: the worker asks the server what it delivered). Before the check on
// idle fetches, the last case stalled the partition for the consumer's
// AckWait (an hour) with the message delivered and never handed over — the
// state an early BenchmarkCatchUpLog run ended in.
func TestDeliveredNeverReceived(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after bool // a message follows the lost one
	}{{"last", false}, {"followed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			url := testenv.NATSURL(t) + "/" + testenv.UniqueName(t)
			lg, err := Open(url)
			if err != nil {
				t.Fatal(err)
			}
			defer lg.Close()
			defer lg.DeleteSource("s")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			// 65 messages in one partition: the worker's first fetch takes
			// 64 and, nobody reading its stream yet, it waits to hand them
			// over without asking for more.
			var ids []int64
			for i := int64(1); i <= 65; i++ {
				ids = append(ids, i)
			}
			publishIDs(ctx, t, lg, 1, ids)
			st, err := lg.Source("s", nil, WorkerOptions{ID: "w", Lease: 2 * time.Second}).Open(ctx, connectors.StreamRequest{})
			if err != nil {
				t.Fatal(err)
			}
			w := st.(*workerStream)
			defer w.Close()
			n := lg.names("s")
			var ci *nats.ConsumerInfo
			for ci == nil || ci.Delivered.Consumer < 64 {
				if ctx.Err() != nil {
					t.Fatal("the worker did not fetch the first 64 messages")
				}
				time.Sleep(20 * time.Millisecond)
				infos, err := lg.partConsumers(n, "apply", 0)
				if err != nil {
					t.Fatal(err)
				}
				if len(infos) == 1 {
					ci = infos[0]
				}
			}
			// Message 65 is delivered to another subscriber of the worker's
			// consumer: for the worker, it was lost on the way.
			thief, err := lg.js.PullSubscribe(n.partFilter(0), ci.Name, nats.Bind(n.stream, ci.Name))
			if err != nil {
				t.Fatal(err)
			}
			stolen, err := thief.Fetch(1, nats.MaxWait(5*time.Second))
			if err != nil || len(stolen) != 1 {
				t.Fatalf("taking message 65: %d messages, %v", len(stolen), err)
			}
			if md, _ := stolen[0].Metadata(); md == nil || md.Sequence.Consumer != 65 {
				t.Fatalf("took %+v, want the consumer's 65th delivery", md)
			}
			_ = thief.Unsubscribe()
			want := 65
			if tc.after {
				publishIDs(ctx, t, lg, 1, []int64{66})
				want = 66
			}
			var mu sync.Mutex
			seen := map[int64]bool{}
			go func() {
				for {
					b, err := w.Next(ctx)
					if err != nil {
						return
					}
					col := b.Record.Column(0).(*array.Int64)
					mu.Lock()
					for i := 0; i < col.Len(); i++ {
						seen[col.Value(i)] = true
					}
					mu.Unlock()
					w.Acked(b.Mark)
					b.Release()
				}
			}()
			wait, stop := context.WithTimeout(ctx, 20*time.Second)
			defer stop()
			for {
				mu.Lock()
				got := len(seen)
				mu.Unlock()
				if got == want {
					break
				}
				if wait.Err() != nil {
					mu.Lock()
					defer mu.Unlock()
					for i := int64(1); i <= int64(want); i++ {
						if !seen[i] {
							t.Errorf("row %d never came", i)
						}
					}
					t.FailNow()
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// failingSource hands out its batches, then fails: a capture stopped by
// its source in the middle of a transaction.
type failingSource struct {
	connectors.Source
	bs []*exec.Batch
}

func (f *failingSource) Open(ctx context.Context, req connectors.StreamRequest) (connectors.Stream, error) {
	return &failingStream{fakeStream{bs: f.bs}}, nil
}

type failingStream struct{ fakeStream }

func (s *failingStream) Next(ctx context.Context) (*exec.Batch, error) {
	if len(s.bs) == 0 {
		return nil, fmt.Errorf("connection lost")
	}
	return s.fakeStream.Next(ctx)
}

func (f *failingSource) Close() error { return nil }

// TestCaptureReplayCutDifferently: a capture that stopped in the middle of
// a transaction and starts again from the same position within the
// de-duplication window may cut the transaction's changes into batches
// differently (batches follow timers and row limits, not the position): a
// message id must never name two different contents, or JetStream drops
// the second as a duplicate and its rows are lost. Every row published by
// either attempt is in the stream.
func TestCaptureReplayCutDifferently(t *testing.T) {
	url := testenv.NATSURL(t) + "/" + testenv.UniqueName(t)
	lg, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	defer lg.DeleteSource("s")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := connectors.StreamRequest{Once: true, Resume: []byte(`{"pos":0}`)}
	first := &failingSource{bs: []*exec.Batch{batch([]int64{1, 2, 3, 4}, exec.OpInsert, "")}}
	if err := lg.Capture(ctx, "s", first, req, CaptureOptions{Partitions: 4}); err == nil {
		t.Fatal("the first capture did not fail with its source")
	}
	ids := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	again := &fakeSource{batches: func() []*exec.Batch {
		return []*exec.Batch{batch(ids, exec.OpInsert, ""), batch([]int64{13}, exec.OpInsert, `{"pos":13}`)}
	}}
	if err := lg.Capture(ctx, "s", again, req, CaptureOptions{}); err != nil {
		t.Fatal(err)
	}
	n := lg.names("s")
	info, err := lg.js.StreamInfo(n.stream)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		raw, err := lg.js.GetMsg(n.stream, seq)
		if err != nil {
			t.Fatal(err)
		}
		m := &nats.Msg{Subject: raw.Subject, Header: raw.Header, Data: raw.Data}
		b, err := lg.decode(n, m, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		col := b.Record.Column(0).(*array.Int64)
		for i := 0; i < col.Len(); i++ {
			seen[col.Value(i)] = true
		}
		b.Release()
	}
	for id := int64(1); id <= 13; id++ {
		if !seen[id] {
			t.Errorf("row %d is not in the stream: its message was dropped as a duplicate of another content", id)
		}
	}
}

// TestConsumerDeletedUnderWorker: a worker whose consumer is deleted under
// it (a previous owner, paused while it took the partition, did so when it
// woke up) reads the partition again through a new consumer instead of
// renewing its lease over a partition it can no longer read.
func TestConsumerDeletedUnderWorker(t *testing.T) {
	url := testenv.NATSURL(t) + "/" + testenv.UniqueName(t)
	lg, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	defer lg.DeleteSource("s")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	publishIDs(ctx, t, lg, 1, []int64{1, 2, 3})
	st, err := lg.Source("s", nil, WorkerOptions{ID: "w", Lease: 2 * time.Second}).Open(ctx, connectors.StreamRequest{})
	if err != nil {
		t.Fatal(err)
	}
	w := st.(*workerStream)
	defer w.Close()
	var mu sync.Mutex
	seen := map[int64]bool{}
	go func() {
		for {
			b, err := w.Next(ctx)
			if err != nil {
				return
			}
			col := b.Record.Column(0).(*array.Int64)
			mu.Lock()
			for i := 0; i < col.Len(); i++ {
				seen[col.Value(i)] = true
			}
			mu.Unlock()
			w.Acked(b.Mark)
			b.Release()
		}
	}()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
	for count() < 3 {
		if ctx.Err() != nil {
			t.Fatal("the first 3 rows did not come")
		}
		time.Sleep(20 * time.Millisecond)
	}
	n := lg.names("s")
	infos, err := lg.partConsumers(n, "apply", 0)
	if err != nil || len(infos) != 1 {
		t.Fatalf("%d consumers, %v", len(infos), err)
	}
	if err := lg.js.DeleteConsumer(n.stream, infos[0].Name); err != nil {
		t.Fatal(err)
	}
	publishIDs(ctx, t, lg, 1, []int64{4, 5, 6})
	wait, stop := context.WithTimeout(ctx, 20*time.Second)
	defer stop()
	for count() < 6 {
		if wait.Err() != nil {
			t.Fatalf("%d of 6 rows came: the partition stalled on its deleted consumer", count())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
