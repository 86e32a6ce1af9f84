package engine

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etlq/etlq/exec"
)

// slowCloser counts its Closes, each of which takes a moment (a
// ClickHouse writer waits its close_timeout).
type slowCloser struct {
	closes atomic.Int32
	ended  atomic.Bool
}

func (w *slowCloser) Write(context.Context, *exec.Batch, func(error)) error { return nil }
func (w *slowCloser) Flush(context.Context) error                           { return nil }
func (w *slowCloser) Close() error {
	w.closes.Add(1)
	time.Sleep(50 * time.Millisecond)
	w.ended.Store(true)
	return nil
}

// TestOpenWritersCloseOnce: a writer the stop closed is not closed again
// by its owner, whose close returns once the stop's Close ended; a writer
// opened after the stop is closed at once; one never listed is closed.
func TestOpenWritersCloseOnce(t *testing.T) {
	s := &openWriters{}
	a, b, late, other := &slowCloser{}, &slowCloser{}, &slowCloser{}, &slowCloser{}
	s.add(a)
	s.add(b)
	s.closeAll()
	s.close(a)
	if !a.ended.Load() {
		t.Error("the owner's close returned before the stop's Close ended")
	}
	s.add(late)
	for deadline := time.Now().Add(5 * time.Second); !late.ended.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a writer opened after the stop was not closed")
		}
	}
	s.close(b)
	s.close(late)
	s.close(other)
	for _, w := range []*slowCloser{a, b, late, other} {
		if n := w.closes.Load(); n != 1 {
			t.Errorf("closed %d times, want once", n)
		}
	}
	if len(s.list) != 0 {
		t.Errorf("%d writers still listed after their close", len(s.list))
	}
	var none *openWriters // (a run that keeps no list)
	none.add(other)
	none.close(other)
}
