package natslog

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// layoutOrder keeps a worker's partitions in step across a table's schema
// changes. A worker fetches its partitions side by side into one queue,
// so without it the messages of a table from before and after a DDL —
// the capture publishes a schema change to every partition of the table,
// after every change before it — reached the engine interleaved, and the
// engine planned the table again at each flip between the two layouts
// (30 to 110 plans, log lines and target checks for one DDL on a worker
// catching up over eight partitions, and rows from before an ADD COLUMN
// written after it without the column's DEFAULT).
//
// So a message whose schema differs from the one the queue last had for
// its table — a DDL's copy, or a table's first message — waits until each
// other partition the worker reads has put into the queue every message
// of the stream before it (or has none): every message of the old layout
// goes before it, every message of the new one after. The stream's
// sequence orders the partitions' messages as the capture published them;
// the waiting message with the smallest sequence waits for no one, so
// partitions waiting at once all go on. A partition taken over later that
// is behind still brings old messages after new ones (the engine plans
// the table again for them, as before).
type layoutOrder struct {
	mu      sync.Mutex
	tables  map[string]layoutAt // by "db.table"
	waiting int                 // fetchers in inOrder
	wake    chan struct{}       // closed when a partition queued a message while some wait
}

// layoutAt is the schema (its hash, Etlq-Schema) of the last message of a
// table put into the queue and the stream sequence of the first one with it.
type layoutAt struct {
	schema string
	seq    uint64
}

// inOrder waits, before partition p puts the message of stream sequence
// seq of table (schema: its Etlq-Schema) into the queue, until doing so
// keeps the table's layouts in the stream's order (layoutOrder); false
// when ctx ends first. A message of a codec without schema hashes
// (schema "") goes at once.
func (w *workerStream) inOrder(ctx context.Context, p *part, table, schema string, seq uint64) bool {
	if schema == "" || seq == 0 {
		return true
	}
	o := &w.layouts
	o.mu.Lock()
	cur, ok := o.tables[table]
	o.mu.Unlock()
	if ok && (cur.schema == schema || seq < cur.seq) {
		return true // the same layout, or an older message (a partition behind)
	}
	for {
		o.mu.Lock()
		if o.wake == nil {
			o.wake = make(chan struct{})
		}
		wake := o.wake
		o.waiting++
		o.mu.Unlock()
		past := w.othersPast(p, seq)
		if !past {
			select {
			case <-ctx.Done():
			case <-wake:
			case <-time.After(100 * time.Millisecond):
			}
		}
		o.mu.Lock()
		o.waiting--
		o.mu.Unlock()
		if past {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
	}
}

// queued notes that partition p put the message of stream sequence seq
// of table (schema: its Etlq-Schema) into the queue.
func (w *workerStream) queued(p *part, table, schema string, seq uint64) {
	if seq == 0 {
		return
	}
	p.sent.Store(seq)
	o := &w.layouts
	o.mu.Lock()
	defer o.mu.Unlock()
	if schema != "" {
		if cur, ok := o.tables[table]; !ok || cur.schema != schema {
			if o.tables == nil {
				o.tables = map[string]layoutAt{}
			}
			o.tables[table] = layoutAt{schema: schema, seq: seq}
		}
	}
	if o.waiting > 0 && o.wake != nil {
		close(o.wake)
		o.wake = make(chan struct{})
	}
}

// othersPast reports whether every other partition the worker reads has
// put into the queue each of its messages of the stream before seq: it
// queued one at or after seq, or the stream holds none of it between
// the last it queued and seq. A partition whose fetcher ended (given
// back, lost, read again) queues nothing more and does not count.
func (w *workerStream) othersPast(p *part, seq uint64) bool {
	w.mu.Lock()
	others := make([]*part, 0, len(w.owned))
	for _, q := range w.owned {
		if q != p {
			others = append(others, q)
		}
	}
	w.mu.Unlock()
	for _, q := range others {
		select {
		case <-q.done:
			continue
		default:
		}
		sent := q.sent.Load()
		if sent >= seq {
			continue
		}
		m, err := w.log.js.GetMsg(w.n.stream, sent+1, nats.DirectGetNext(w.n.partFilter(q.id)))
		switch {
		case errors.Is(err, nats.ErrMsgNotFound):
		case err != nil:
			return false // asked again
		case m.Sequence < seq:
			return false
		}
	}
	return true
}
