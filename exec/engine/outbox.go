package engine

import (
	"context"
	"sync"

	"github.com/etlq/etlq/exec"
)

// outboxBytes bounds the memory of the sink batches a pipeline may have
// waiting for its writer (batchBytes), and outboxBatches their number
// (variables for tests). Counting only the records' data let a writer
// that fell behind on one-row batches (an HTTP endpoint that hung for a
// minute under single-row transactions) hold hundreds of thousands of
// them: each costs far more than its few bytes of data (its arrays, its
// closure, its tracker entry), and the process grew past 1.4 GB.
var (
	outboxBytes   int64 = 64 << 20
	outboxBatches       = 1024
)

// outbox hands a pipeline's sink batches to its writer from a goroutine of
// its own, in order. A writer's Write may block for long: a ClickHouse
// ALTER … MODIFY COLUMN of a widening, or a table copied for a wider key,
// runs inside it, and a writer whose inserts all wait for an unreachable
// server blocks until one ends. Called from the source's dispatch, that
// stopped every pipeline of the source meanwhile; through the outbox the
// others go on until the blocked pipeline has outboxBytes or
// outboxBatches of batches waiting (then dispatch waits for it: memory
// stays bounded, also for many tiny batches). Checkpoints
// still wait for every pipeline's acknowledgements (tracker), so the
// others' rows are written, not yet checkpointed, while one waits.
//
// Every other call of the writer made while a run streams (Truncate,
// Flush) settles the outbox first, so it comes after the batches before it.
type outbox struct {
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []outboxJob
	bytes   int64
	busy    bool // a job is being written
	started bool
	closed  bool
	idling  bool // an idle call is queued
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
}

type outboxJob struct {
	b     *exec.Batch
	bytes int64
	write func(ctx context.Context, b *exec.Batch)
}

// send queues b, to be written by write on the outbox's goroutine; it
// waits while the outbox holds outboxBytes or outboxBatches (counting the
// one being written).
func (o *outbox) send(b *exec.Batch, write func(ctx context.Context, b *exec.Batch)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.start()
	n := batchBytes(b)
	for o.bytes > 0 && (o.bytes+n > outboxBytes || o.held() >= outboxBatches) && !o.closed {
		o.cond.Wait()
	}
	o.queue = append(o.queue, outboxJob{b: b, bytes: n, write: write})
	o.bytes += n
	o.cond.Broadcast()
}

// held is the number of batches queued or being written. Called with o.mu
// held.
func (o *outbox) held() int {
	n := len(o.queue)
	if o.busy {
		n++
	}
	return n
}

// idle queues f (the writer's Idle) behind the batches sent, once: the
// writer's lock may be held by a Write that waits, and the stream's reader
// must not wait with it.
func (o *outbox) idle(f func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.idling || o.closed {
		return
	}
	o.start()
	o.idling = true
	o.queue = append(o.queue, outboxJob{write: func(context.Context, *exec.Batch) {
		o.mu.Lock()
		o.idling = false
		o.mu.Unlock()
		f()
	}})
	o.cond.Broadcast()
}

// start starts the goroutine, once. Called with o.mu held.
func (o *outbox) start() {
	if !o.started {
		o.started = true
		o.cond = sync.NewCond(&o.mu)
		o.ctx, o.cancel = context.WithCancel(context.Background())
		o.done = make(chan struct{})
		go o.run()
	}
}

func (o *outbox) run() {
	defer close(o.done)
	o.mu.Lock()
	defer o.mu.Unlock()
	for {
		for len(o.queue) == 0 && !o.closed {
			o.cond.Wait()
		}
		if len(o.queue) == 0 {
			return
		}
		j := o.queue[0]
		o.queue = o.queue[1:]
		o.busy = true
		o.mu.Unlock()
		j.write(o.ctx, j.b)
		o.mu.Lock()
		o.busy = false
		o.bytes -= j.bytes
		o.cond.Broadcast()
	}
}

// settle waits until every batch sent is handed to the writer.
func (o *outbox) settle() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.started {
		return
	}
	for len(o.queue) > 0 || o.busy {
		o.cond.Wait()
	}
}

// close writes what is queued, then ends the goroutine.
func (o *outbox) close() {
	o.mu.Lock()
	if !o.started || o.closed {
		o.closed = true
		o.mu.Unlock()
		return
	}
	o.closed = true
	o.cond.Broadcast()
	o.mu.Unlock()
	<-o.done
	o.cancel()
}

// Per-batch and per-array costs that batchBytes adds to a record's data:
// the Go structures of a batch and of each of its arrays (array, data,
// buffer headers; each buffer's allocation is rounded up to 64 bytes),
// which a one-row batch's data bytes leave out.
const (
	batchOverhead = 1024
	arrayOverhead = 512
)

// batchBytes estimates the memory of a batch: its record's data and the
// structures around it.
func batchBytes(b *exec.Batch) int64 {
	if b == nil {
		return 0
	}
	n := int64(batchOverhead)
	if b.Record != nil {
		n += exec.RecordBytes(b.Record) + arrayOverhead*int64(b.Record.NumCols())
	}
	return n
}
