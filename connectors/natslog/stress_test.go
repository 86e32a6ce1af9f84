package natslog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/nats-io/nats.go"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
	"github.com/etlq/etlq/exec"
)

// stressWorker is a worker stream with a pretend engine: a sink that takes
// a little while per batch, records the rows, then acknowledges the mark,
// in order, as engine.Run's tracker does.
type stressWorker struct {
	w       *workerStream
	q       chan *exec.Batch
	crashed atomic.Bool
	done    chan struct{}
}

// TestLogStress looks for a change that is acknowledged without reaching
// the sink, or never delivered: many small partitions, a slow sink, short
// leases, workers crashing (their unwritten batches thrown away) and
// added, leases taken from under a worker, deliveries lost on the way (a
// second subscriber of a partition's consumer takes a message), and a
// capture that stops in the middle of a transaction and starts again from
// its position with the changes cut differently. At the end every row
// published is at the sink. ETLQ_LOG_STRESS_ROWS sets the size (default
// 20000 rows).
func TestLogStress(t *testing.T) {
	rows := 20000
	if v, err := strconv.Atoi(os.Getenv("ETLQ_LOG_STRESS_ROWS")); err == nil && v > 0 {
		rows = v
	}
	const parts, per, tailRounds = 12, 40, 8
	tail := tailRounds * per // rows published at the end, a batch at a time, each with deliveries taken on the way
	lease := 1500 * time.Millisecond
	url := testenv.NATSURL(t) + "/" + testenv.UniqueName(t)
	lg, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	defer lg.DeleteSource("s")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))

	// The capture: chunks of batches, each chunk one transaction whose
	// last batch carries a position. One chunk in four is first published
	// in part and stopped by its source, then published again cut
	// differently.
	var published atomic.Int64
	capDone := make(chan error, 1)
	go func() {
		var err error
		defer func() { capDone <- err }()
		req := connectors.StreamRequest{Once: true}
		for next := int64(0); next < int64(rows-tail) && ctx.Err() == nil; {
			n := min(int64(per*(1+rand.IntN(5))), int64(rows-tail)-next)
			ids := make([]int64, n)
			for i := range ids {
				ids[i] = next + int64(i)
			}
			cut := func(size int, mark bool) []*exec.Batch {
				var bs []*exec.Batch
				for i := 0; i < len(ids); i += size {
					bs = append(bs, batch(ids[i:min(i+size, len(ids))], exec.OpInsert, ""))
				}
				if mark {
					bs[len(bs)-1].Mark = &exec.Mark{Source: "s", State: []byte(fmt.Sprintf(`{"pos":%d}`, next+n))}
				}
				return bs
			}
			if rand.IntN(4) == 0 {
				part := cut(per/2+rand.IntN(per), false)
				part = part[:1+rand.IntN(len(part))]
				if e := lg.Capture(ctx, "s", &failingSource{bs: part}, req, CaptureOptions{Partitions: parts}); e == nil {
					err = fmt.Errorf("the interrupted capture did not fail")
					return
				}
			}
			bs := cut(per/2+rand.IntN(per), true)
			if err = lg.Capture(ctx, "s", &fakeSource{batches: func() []*exec.Batch { return bs }}, req, CaptureOptions{Partitions: parts}); err != nil {
				return
			}
			next += n
			published.Store(next)
			time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
		}
	}()

	var mu sync.Mutex
	seen := map[int64]int{}
	start := func(id string) *stressWorker {
		st, err := lg.Source("s", nil, WorkerOptions{ID: id, Lease: lease}).Open(ctx, connectors.StreamRequest{})
		if err != nil {
			t.Fatal(err)
		}
		sw := &stressWorker{w: st.(*workerStream), q: make(chan *exec.Batch, 64), done: make(chan struct{})}
		go func() {
			defer close(sw.q)
			for {
				b, err := sw.w.Next(ctx)
				if err != nil {
					return
				}
				sw.q <- b
			}
		}()
		go func() {
			defer close(sw.done)
			for b := range sw.q {
				if sw.crashed.Load() {
					b.Release() // never written, never acknowledged
					continue
				}
				time.Sleep(time.Duration(rand.IntN(4000)) * time.Microsecond)
				col := b.Record.Column(0).(*array.Int64)
				mu.Lock()
				for i := 0; i < col.Len(); i++ {
					seen[col.Value(i)]++
				}
				mu.Unlock()
				sw.w.Acked(b.Mark)
				b.Release()
			}
		}()
		return sw
	}
	workers := []*stressWorker{start("w0"), start("w1"), start("w2")}
	kv, err := lg.leaseBucket(lg.names("s"), lease)
	if err != nil {
		t.Fatal(err)
	}
	n := lg.names("s")
	var crashes, steals, thefts int
	for k := 3; ; k++ {
		select {
		case err := <-capDone:
			if err != nil {
				t.Fatal(err)
			}
			capDone = nil
		case <-time.After(time.Duration(200+rnd.IntN(400)) * time.Millisecond):
		}
		if capDone == nil && k >= 40 {
			break
		}
		switch rnd.IntN(3) {
		case 0: // a worker crashes, another starts
			i := rnd.IntN(len(workers))
			workers[i].crashed.Store(true)
			workers[i].w.Close()
			<-workers[i].done
			workers[i] = start("w" + strconv.Itoa(k))
			crashes++
		case 1: // a lease disappears under its owner (a paused process)
			if kv.Delete(workers[0].w.prefix+"p."+strconv.Itoa(rnd.IntN(parts))) == nil {
				steals++
			}
		case 2: // a delivery is lost on the way
			p := rnd.IntN(parts)
			infos, err := lg.partConsumers(n, "apply", p)
			if err != nil || len(infos) == 0 {
				continue
			}
			ci := infos[len(infos)-1]
			sub, err := lg.js.PullSubscribe(n.partFilter(p), ci.Name, nats.Bind(n.stream, ci.Name))
			if err != nil {
				continue
			}
			if ms, _ := sub.Fetch(1, nats.MaxWait(200*time.Millisecond)); len(ms) > 0 {
				thefts++
			}
			_ = sub.Unsubscribe()
		}
	}
	// The end: a batch at a time while another subscriber of a consumer
	// waits for the same messages as its worker: a message it takes may
	// be the last its partition gets, which nothing later reveals.
	for r := 0; r < tailRounds; r++ {
		p := rnd.IntN(parts)
		got := make(chan int, 1)
		go func() {
			infos, err := lg.partConsumers(n, "apply", p)
			if err != nil || len(infos) == 0 {
				got <- 0
				return
			}
			ci := infos[len(infos)-1]
			sub, err := lg.js.PullSubscribe(n.partFilter(p), ci.Name, nats.Bind(n.stream, ci.Name))
			if err != nil {
				got <- 0
				return
			}
			ms, _ := sub.Fetch(1, nats.MaxWait(time.Second))
			_ = sub.Unsubscribe()
			got <- len(ms)
		}()
		time.Sleep(300 * time.Millisecond)
		ids := make([]int64, per)
		for i := range ids {
			ids[i] = int64(rows - tail + r*per + i)
		}
		b := batch(ids, exec.OpInsert, fmt.Sprintf(`{"pos":%d}`, rows-tail+(r+1)*per))
		if err := lg.Capture(ctx, "s", &fakeSource{batches: func() []*exec.Batch { return []*exec.Batch{b} }}, connectors.StreamRequest{Once: true}, CaptureOptions{}); err != nil {
			t.Fatal(err)
		}
		published.Add(per)
		thefts += <-got
	}
	t.Logf("%d rows published; %d worker crashes, %d leases taken away, %d deliveries lost", published.Load(), crashes, steals, thefts)
	// Every row comes within a minute of the last event: a delivery lost
	// at the end of a partition is read again after two idle fetches.
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	for {
		mu.Lock()
		got := len(seen)
		mu.Unlock()
		if got == rows {
			break
		}
		if wctx.Err() != nil {
			mu.Lock()
			missing := 0
			for i := int64(0); i < int64(rows); i++ {
				if seen[i] == 0 {
					if missing < 10 {
						t.Errorf("row %d never reached the sink", i)
					}
					missing++
				}
			}
			mu.Unlock()
			t.Fatalf("%d of %d rows never reached the sink", missing, rows)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, sw := range workers {
		sw.w.Close()
		<-sw.done
	}
	mu.Lock()
	twice := 0
	for _, c := range seen {
		if c > 1 {
			twice++
		}
	}
	mu.Unlock()
	t.Logf("every row at the sink; %d of them more than once", twice)
}
