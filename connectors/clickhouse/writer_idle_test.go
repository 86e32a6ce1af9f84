package clickhouse

import (
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

// waitAcks polls until n writes are acknowledged, failing after timeout.
func waitAcks(t *testing.T, a *acks, n int, timeout time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		order, errs := a.snapshot()
		if len(errs) > 0 {
			t.Fatalf("%s: write errors %v", what, errs)
		}
		if len(order) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d writes acknowledged within %v", what, len(order), n, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIdleFlushesEarly: a write followed by Idle (the stream has nothing
// more to read) is inserted long before flush_interval; a second Idle soon
// after the first insert waits for idle_flush, so that a steady trickle of
// small transactions does not become one insert each.
func TestIdleFlushesEarly(t *testing.T) {
	e := newEnv(t, nil)
	sch := kvSchema()
	w := e.open(e.target("kv", connectors.ModeAppend, nil, sch, map[string]any{"flush_interval": "60s", "idle_flush": "5s"}))
	cw := w.(*writer)
	var a acks
	write(t, w, e.build(sch, sysRow(1, false, "insert", 1, "x")), a.done(0))
	cw.Idle()
	// Within 20 s, while flush_interval is 60 s: the idle flush sent it.
	waitAcks(t, &a, 1, 20*time.Second, "first write after Idle")

	write(t, w, e.build(sch, sysRow(2, false, "insert", 2, "y")), a.done(1))
	write(t, w, e.build(sch, sysRow(3, false, "insert", 3, "z")), a.done(2))
	cw.Idle()
	if n := cw.inserts.Load(); n != 1 {
		t.Fatalf("%d inserts right after the second Idle, want 1 (idle_flush = 5s since the first)", n)
	}
	waitAcks(t, &a, 3, 40*time.Second, "writes after the second Idle")
	if n := cw.inserts.Load(); n != 2 {
		t.Errorf("%d inserts, want 2 (the two later writes coalesced)", n)
	}
	if got := e.text("SELECT count() FROM " + quote(e.db) + ".kv"); got != "3\n" {
		t.Errorf("got %q", got)
	}
}

// TestIdleFlushOff: idle_flush = flush_interval turns early inserts off: a
// write after Idle waits for the flush interval.
func TestIdleFlushOff(t *testing.T) {
	e := newEnv(t, nil)
	sch := kvSchema()
	w := e.open(e.target("kv", connectors.ModeAppend, nil, sch, map[string]any{"flush_interval": "30s", "idle_flush": "30s"}))
	cw := w.(*writer)
	var a acks
	write(t, w, e.build(sch, sysRow(1, false, "insert", 1, "x")), a.done(0))
	cw.Idle()
	cw.mu.Lock()
	due := time.Until(cw.pending.due)
	cw.mu.Unlock()
	if due < 20*time.Second {
		t.Errorf("pending group due in %v after Idle with idle flushing off, want flush_interval", due)
	}
	flush(t, w)
}
