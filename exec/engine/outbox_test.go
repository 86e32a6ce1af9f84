package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/etlq/etlq/exec"
)

// TestOutboxOrderAndSettle: batches are written in the order sent, from
// the outbox's goroutine, so that send does not wait for a Write that
// blocks; settle waits until every batch sent was written; idle calls are
// queued behind the batches, once.
func TestOutboxOrderAndSettle(t *testing.T) {
	var o outbox
	release := make(chan struct{})
	var mu sync.Mutex
	var got []int
	write := func(i int) func(context.Context, *exec.Batch) {
		return func(context.Context, *exec.Batch) {
			if i == 0 {
				<-release // the first Write blocks (a slow ALTER)
			}
			mu.Lock()
			got = append(got, i)
			mu.Unlock()
		}
	}
	sent := make(chan struct{})
	go func() {
		for i := range 5 {
			o.send(&exec.Batch{}, write(i))
		}
		for range 3 {
			o.idle(func() { mu.Lock(); got = append(got, -1); mu.Unlock() })
		}
		close(sent)
	}()
	select {
	case <-sent:
	case <-time.After(10 * time.Second):
		t.Fatal("send waited for a Write that blocks")
	}
	settled := make(chan struct{})
	go func() { o.settle(); close(settled) }()
	select {
	case <-settled:
		t.Fatal("settle returned before the batches were written")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-settled
	o.close()
	want := []int{0, 1, 2, 3, 4, -1}
	if len(got) != len(want) {
		t.Fatalf("written %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("written %v, want %v", got, want)
		}
	}
}
