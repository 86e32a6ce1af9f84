package engine

import "time"

// idleLinger is how long the dispatch loop waits for the next batch of a
// stream before it tells the writers that the stream is idle: long enough
// for the reader to decode the next transaction when the source has more
// to send, short against the latency it saves.
const idleLinger = 2 * time.Millisecond

// receiver takes the batches of a stream's reader off its channel and
// notices when the reader has nothing ready: the source is caught up.
type receiver[T any] struct {
	ch     <-chan T
	linger time.Duration
	timer  *time.Timer
	// idle is called, once per run of batches, when no batch followed the
	// last one within linger.
	idle func()
	// busy is set when a batch was received since idle was last called.
	busy bool
	// wake, when set, interrupts a wait for the next batch: onWake is
	// called (on the receiving goroutine), then the wait goes on.
	wake   <-chan struct{}
	onWake func()
}

func newReceiver[T any](ch <-chan T, linger time.Duration, idle func()) *receiver[T] {
	t := time.NewTimer(linger)
	t.Stop()
	return &receiver[T]{ch: ch, linger: linger, timer: t, idle: idle}
}

// next returns the next item and false once ch is closed. A ready item is
// returned at once; otherwise, after a batch, it waits up to linger, then
// calls idle and waits for the item however long it takes.
func (r *receiver[T]) next() (T, bool) {
	select {
	case it, ok := <-r.ch:
		r.busy = ok
		return it, ok
	default:
	}
	if r.busy {
		r.timer.Reset(r.linger)
		select {
		case it, ok := <-r.ch:
			r.timer.Stop()
			return it, ok
		case <-r.timer.C:
		}
		r.busy = false
		r.idle()
	}
	for {
		select {
		case it, ok := <-r.ch:
			r.busy = ok
			return it, ok
		case <-r.wake:
			r.onWake()
		}
	}
}
