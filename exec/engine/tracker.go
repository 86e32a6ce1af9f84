package engine

import (
	"sync"
	"time"

	"github.com/etlq/etlq/exec"
)

// tracker orders the acknowledgements of one source stream. Every source
// batch gets a sequence number; each sink write made from it adds one
// pending acknowledgement. A mark becomes committable only when its batch
// and every earlier batch are fully acknowledged (maxwell #241: never
// commit a later position while an earlier batch is still in flight).
type tracker struct {
	mu   sync.Mutex
	next uint64 // next sequence number to hand out
	base uint64 // sequence number of entries[head]
	// entries[head:] are the batches not yet fully acknowledged, in
	// sequence order. An acknowledgement moves head on; the slice is
	// compacted once head is half of it (compact), so that each batch is
	// copied at most once on average whatever the backlog: before, every
	// acknowledgement copied every pending entry down (quadratic: an HTTP
	// pipeline that fell 200,000 one-row changes behind spent a third of
	// its CPU there and never caught up).
	entries []trackEntry
	head    int
	ready   *exec.Mark // highest contiguous acknowledged mark not yet taken
	// readySeq is the sequence number of ready's batch.
	readySeq uint64
	// acked are calls to make once a batch and every earlier one are
	// fully acknowledged (whenAcked), in sequence order.
	acked []ackedCall
	err   error
	// closing: the writers are being closed at the end of a stop's
	// drain time (closeWriters); the writes that fail from then on
	// fail their batches but are not the run's error.
	closing bool
	changed chan struct{} // signalled when ready or err changes
	// last is the mark of the last batch acknowledged (or where the run
	// started): what markBefore falls back on.
	last *exec.Mark
	// stops are the pipelines whose writer could not follow a batch's
	// schema (writeStop): their batch stays pending until the dispatch
	// loop takes them (takeStops) and stops them alone.
	stops []*writeStop
	stopc chan struct{} // signalled when a stop is added
}

type ackedCall struct {
	seq uint64
	fn  func()
}

type trackEntry struct {
	pending int
	sealed  bool
	failed  bool // a write of this batch failed: neither it nor any later mark may commit
	mark    *exec.Mark
	at      time.Time // when the batch was dispatched
}

func newTracker() *tracker {
	return &tracker{changed: make(chan struct{}, 1), stopc: make(chan struct{}, 1)}
}

// begin registers a source batch and returns its sequence number.
func (t *tracker) begin(mark *exec.Mark) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	seq := t.next
	t.next++
	t.entries = append(t.entries, trackEntry{mark: mark, at: time.Now()})
	return seq
}

// at is the entry of seq, which must not be fully acknowledged yet.
// Called with t.mu held.
func (t *tracker) at(seq uint64) *trackEntry {
	return &t.entries[t.head+int(seq-t.base)]
}

// add registers one more pending write for seq.
func (t *tracker) add(seq uint64) {
	t.mu.Lock()
	t.at(seq).pending++
	t.mu.Unlock()
}

// seal says that no more writes will be added for seq.
func (t *tracker) seal(seq uint64) {
	t.mu.Lock()
	t.at(seq).sealed = true
	t.advance()
	t.mu.Unlock()
}

// fail says that seq could not be dispatched whole: its mark, and every
// later one, are never committable. The error itself is the caller's to
// report.
func (t *tracker) fail(seq uint64) {
	t.mu.Lock()
	t.at(seq).failed = true
	t.mu.Unlock()
}

// done acknowledges one write of seq.
func (t *tracker) done(seq uint64, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.at(seq)
	if err != nil {
		e.failed = true
		if t.err == nil && !t.closing {
			t.err = err
			t.signal()
		}
	}
	e.pending--
	t.advance()
}

// closeWriters says that the run's writers are being closed, a stop's
// drain time over: the writes they fail from then on ("write on a closed
// writer", a request cut) keep their batches from committing, as every
// failed write does, but the run's error is the stop's, not theirs
// (a pipeline's "http: write on a closed writer" ended such a run).
func (t *tracker) closeWriters() {
	t.mu.Lock()
	t.closing = true
	t.mu.Unlock()
}

// advance moves head past the batches at its front that are fully
// acknowledged, their marks becoming committable. Each batch is passed
// once: O(1) amortized per acknowledgement, whatever the backlog.
func (t *tracker) advance() {
	live := t.entries[t.head:]
	n := 0
	for n < len(live) && live[n].sealed && live[n].pending == 0 && !live[n].failed {
		if m := live[n].mark; m != nil {
			t.ready, t.readySeq, t.last = m, t.base+uint64(n), m
		}
		n++
	}
	if n == 0 {
		return
	}
	clear(live[:n]) // (their marks are not kept alive until the compaction)
	t.head += n
	t.base += uint64(n)
	t.compact()
	for len(t.acked) > 0 && t.acked[0].seq < t.base {
		t.acked[0].fn()
		t.acked = t.acked[1:]
	}
	t.signal()
}

// whenAcked calls fn (under the tracker's lock: it must not call the
// tracker) once batch seq and every earlier one are fully acknowledged,
// as a checkpoint would pass them; never if a write of them fails. seq
// must not be sealed yet, and calls are made in the order of their seqs.
func (t *tracker) whenAcked(seq uint64, fn func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.acked = append(t.acked, ackedCall{seq, fn})
}

// compactMin is the head below which entries are never compacted: small
// backlogs are moved only when they empty.
const compactMin = 256

// compact drops the acknowledged entries before head: at once when none
// is pending, else once they are half of the slice (the pending ones,
// fewer, are copied down: each entry is copied at most once per halving,
// O(1) amortized). A slice that a backlog grew and that is mostly unused
// is given back.
func (t *tracker) compact() {
	if t.head == len(t.entries) {
		if cap(t.entries) > 4*compactMin {
			t.entries = nil // (a backlog's array is given back)
		} else {
			t.entries = t.entries[:0]
		}
		t.head = 0
		return
	}
	if t.head < compactMin || 2*t.head < len(t.entries) {
		return
	}
	live := len(t.entries) - t.head
	if cap(t.entries) > 4*compactMin && 4*live < cap(t.entries) {
		t.entries = append(make([]trackEntry, 0, 2*live), t.entries[t.head:]...)
	} else {
		copy(t.entries, t.entries[t.head:])
		clear(t.entries[live:])
		t.entries = t.entries[:live]
	}
	t.head = 0
}

// backlog is the number of batches not yet fully acknowledged.
func (t *tracker) backlog() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries) - t.head
}

func (t *tracker) signal() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// take returns the committable mark (nil when none is new) and the first
// write error.
func (t *tracker) take() (*exec.Mark, error) {
	m, _, err := t.takeSeq()
	return m, err
}

// takeSeq is take that also returns the sequence number of the mark's
// batch: a checkpoint of it covers every batch up to that one.
func (t *tracker) takeSeq() (*exec.Mark, uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.ready
	t.ready = nil
	return m, t.readySeq, t.err
}

// age returns how long the oldest batch not yet fully acknowledged has
// been in the engine (0 when every batch is): how far the sinks are behind
// what was read.
func (t *tracker) age() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.head == len(t.entries) {
		return 0
	}
	return time.Since(t.entries[t.head].at)
}

// stop holds seq pending for ws: the dispatch loop stops its pipeline
// alone (stop.go) and acknowledges it then.
func (t *tracker) stop(ws *writeStop) {
	t.mu.Lock()
	t.stops = append(t.stops, ws)
	t.mu.Unlock()
	select {
	case t.stopc <- struct{}{}:
	default:
	}
}

// takeStops returns the stops added since the last call.
func (t *tracker) takeStops() []*writeStop {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stops
	t.stops = nil
	return s
}

// markBefore is the mark of the last batch before seq that has one (nil
// when none is known): where a pipeline that could not take batch seq
// resumes.
func (t *tracker) markBefore(seq uint64) *exec.Mark {
	t.mu.Lock()
	defer t.mu.Unlock()
	live := t.entries[t.head:]
	for i := int64(seq) - int64(t.base) - 1; i >= 0; i-- {
		if i < int64(len(live)) {
			if m := live[i].mark; m != nil {
				return m
			}
		}
	}
	return t.last
}
