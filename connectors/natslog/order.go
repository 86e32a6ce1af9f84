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
// partitions waiting at once all go on.
//
// A schema change (not a table's first message) also waits until the
// group has acknowledged every message of the table before it in the
// partitions the worker does not read — held by other workers, or by none
// (a worker killed, its lease not yet expired): a partition taken over
// later brings no message of the old layout after the new one. Before, a
// worker that crossed the DDL and then took over a partition still behind
// it planned the table again for the old layout, and again at the
// partition's copy of the DDL. So the workers of a group cross a table's
// DDL once every one of them has written the table's changes before it: a
// worker whose sinks are stalled holds the others at the DDL (they go on
// with it once its lease expires and they take its partitions).
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
// seq of table db.tbl (schema: its Etlq-Schema) into the queue, until
// doing so keeps the table's layouts in the stream's order (layoutOrder);
// false when ctx ends first. A message of a codec without schema hashes
// (schema "") goes at once.
func (w *workerStream) inOrder(ctx context.Context, p *part, db, tbl, schema string, seq uint64) bool {
	if schema == "" || seq == 0 {
		return true
	}
	table := db + "." + tbl
	o := &w.layouts
	o.mu.Lock()
	cur, ok := o.tables[table]
	o.mu.Unlock()
	if ok && (cur.schema == schema || seq < cur.seq) {
		return true // the same layout, or an older message (a partition behind)
	}
	// A schema change: the group's other partitions first.
	change := ok
	var since time.Time
	for {
		o.mu.Lock()
		if o.wake == nil {
			o.wake = make(chan struct{})
		}
		wake := o.wake
		o.waiting++
		o.mu.Unlock()
		past := w.othersPast(p, seq)
		if past && change {
			var behind int
			past, behind = w.groupPast(db, tbl, schema, seq)
			if !past {
				if since.IsZero() {
					since = time.Now()
				} else if time.Since(since) > w.o.Lease && behind >= 0 {
					w.o.Log.Info("log: a schema change waits for the group to write the table's changes before it in a partition this worker does not read (its owner's sinks are behind, or it was killed and its lease has not expired)",
						"table", table, "partition", behind, "seq", seq)
					since = time.Now()
				}
			}
		}
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

// groupPast reports whether the partitions this worker does not read
// (held by other workers of its group, by none, or given back by this
// one) hold no message of table db.tbl before stream sequence seq that the
// group has not acknowledged, other than copies of the same schema change
// (schema); if not, behind is one such partition (-1: the log could not
// be asked, asked again).
func (w *workerStream) groupPast(db, tbl, schema string, seq uint64) (past bool, behind int) {
	reading := map[int]bool{}
	w.mu.Lock()
	for id, q := range w.owned {
		select {
		case <-q.done:
		default:
			reading[id] = true
		}
	}
	w.mu.Unlock()
	if len(reading) >= w.nparts {
		return true, 0
	}
	acked, err := w.log.groupAcked(w.n, w.o.Group, w.nparts)
	if err != nil {
		return false, -1
	}
	for q := range w.nparts {
		if reading[q] {
			continue
		}
		m, err := w.log.js.GetMsg(w.n.stream, acked[q]+1, nats.DirectGetNext(w.n.subject(db, tbl, q)))
		switch {
		case errors.Is(err, nats.ErrMsgNotFound):
		case err != nil:
			return false, -1
		case m.Sequence < seq && m.Header.Get(hdrSchema) != schema:
			return false, q
		}
	}
	return true, 0
}
