package engine

import (
	"testing"
	"time"
)

// TestReceiverIdle: idle is called when no item follows a batch, once per
// run of batches, and never while items are ready back to back.
func TestReceiverIdle(t *testing.T) {
	ch := make(chan int, 8)
	idles := 0
	second := make(chan struct{})
	r := newReceiver(ch, time.Millisecond, func() {
		idles++
		switch idles {
		case 1:
			// The source sends again once the writers were told.
			ch <- 3
		case 2:
			close(second)
		}
	})
	ch <- 1
	ch <- 2
	for want := 1; want <= 2; want++ {
		if v, ok := r.next(); !ok || v != want {
			t.Fatalf("next = %d, %v; want %d", v, ok, want)
		}
		if idles != 0 {
			t.Fatalf("idle called with item %d ready", want)
		}
	}
	// Nothing ready: idle, then the item it let through.
	if v, ok := r.next(); !ok || v != 3 {
		t.Fatalf("next = %d, %v; want 3", v, ok)
	}
	if idles != 1 {
		t.Fatalf("%d idle calls, want 1", idles)
	}
	// Idle again after the new batch; closing ends the receiver, without
	// another idle call while nothing came between.
	go func() {
		<-second
		close(ch)
	}()
	if _, ok := r.next(); ok {
		t.Fatal("next after close: ok")
	}
	if _, ok := r.next(); ok {
		t.Fatal("second next after close: ok")
	}
	if idles != 2 {
		t.Fatalf("%d idle calls, want 2", idles)
	}
}
