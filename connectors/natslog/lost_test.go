package natslog

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
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
