package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/etlq/etlq/exec"
)

// A later batch acknowledged first must not make its mark committable
// before the earlier batch is acknowledged (maxwell #241).
func TestTrackerCommitsOnlyContiguousMarks(t *testing.T) {
	tr := newTracker()
	m1, m2, m3 := &exec.Mark{State: []byte("1")}, &exec.Mark{State: []byte("2")}, &exec.Mark{State: []byte("3")}
	s1 := tr.begin(m1)
	tr.add(s1)
	tr.add(s1) // two pipelines write batch 1
	tr.seal(s1)
	s2 := tr.begin(nil) // a batch in the middle of a transaction: no mark
	tr.add(s2)
	tr.seal(s2)
	s3 := tr.begin(m2)
	tr.add(s3)
	tr.seal(s3)
	s4 := tr.begin(m3)
	tr.seal(s4) // nothing routed: complete at once, but after s3

	tr.done(s3, nil)
	tr.done(s2, nil)
	if m, _ := tr.take(); m != nil {
		t.Fatalf("mark %s committable while batch 1 is in flight", m.Bytes())
	}
	tr.done(s1, nil)
	if m, _ := tr.take(); m != nil {
		t.Fatalf("mark %s committable while batch 1 still has a write in flight", m.Bytes())
	}
	tr.done(s1, nil)
	if m, _ := tr.take(); m != m3 {
		t.Fatalf("after every ack the last mark is committable, got %v", m)
	}
	if tr.age() != 0 {
		t.Error("tracker not idle after every ack: a batch still waits")
	}
	if m, _ := tr.take(); m != nil {
		t.Error("a mark is handed out twice")
	}
}

// A failed write stops every mark from its batch on from committing, while
// earlier marks stay committable.
func TestTrackerFailedWriteBlocksLaterMarks(t *testing.T) {
	tr := newTracker()
	m1, m2, m3 := &exec.Mark{State: []byte("1")}, &exec.Mark{State: []byte("2")}, &exec.Mark{State: []byte("3")}
	s1 := tr.begin(m1)
	tr.seal(s1)
	s2 := tr.begin(m2)
	tr.add(s2)
	tr.seal(s2)
	s3 := tr.begin(m3)
	tr.seal(s3)
	tr.done(s2, errors.New("write failed"))
	m, err := tr.take()
	if m != m1 || err == nil {
		t.Fatalf("want mark 1 and the error, got %v, %v", m, err)
	}
}

func TestTrackerReportsTheFirstError(t *testing.T) {
	tr := newTracker()
	s := tr.begin(&exec.Mark{})
	tr.add(s)
	tr.add(s)
	tr.seal(s)
	tr.done(s, errors.New("first"))
	tr.done(s, errors.New("second"))
	if _, err := tr.take(); err == nil || err.Error() != "first" {
		t.Errorf("want the first error, got %v", err)
	}
}

// A batch that failed before any write was made from it (a row error, a
// stop) keeps its mark and every later one from committing.
func TestTrackerFailedDispatchBlocksItsMark(t *testing.T) {
	tr := newTracker()
	m1, m2, m3 := &exec.Mark{State: []byte("1")}, &exec.Mark{State: []byte("2")}, &exec.Mark{State: []byte("3")}
	s1 := tr.begin(m1)
	tr.add(s1)
	tr.seal(s1)
	s2 := tr.begin(m2)
	tr.fail(s2) // nothing was added: without fail it would be complete
	tr.seal(s2)
	s3 := tr.begin(m3)
	tr.seal(s3)
	tr.done(s1, nil)
	if m, _ := tr.take(); m != m1 {
		t.Fatalf("want mark 1 committable, got %v", m)
	}
	if m, _ := tr.take(); m != nil {
		t.Fatalf("mark %s committable after a failed dispatch", m.Bytes())
	}
}

func TestStoreRoundTripAndDamage(t *testing.T) {
	dir := t.TempDir()
	st := &Store{Dir: filepath.Join(dir, "state")}
	if s, err := st.Load("shop"); s != nil || err != nil {
		t.Fatalf("empty store: %v %v", s, err)
	}
	if err := st.Save(&sourceState{Source: "shop", Mark: []byte(`{"pos":4}`), Pipelines: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	s, err := st.Load("shop")
	var mark bytes.Buffer
	if err == nil {
		err = json.Compact(&mark, s.Mark)
	}
	if err != nil || mark.String() != `{"pos":4}` || s.Pipelines[0] != "a" {
		t.Fatalf("round trip: %+v %v", s, err)
	}
	entries, _ := os.ReadDir(st.Dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	os.WriteFile(filepath.Join(st.Dir, "source-shop.json"), []byte("{"), 0o644)
	if _, err := st.Load("shop"); err == nil {
		t.Error("a damaged checkpoint must be an error, not a fresh start")
	}
}

// TestTrackerAge: the age is that of the oldest batch a sink has not
// acknowledged yet, and 0 once every batch is.
func TestTrackerAge(t *testing.T) {
	tr := newTracker()
	if a := tr.age(); a != 0 {
		t.Fatalf("age with nothing dispatched: %v", a)
	}
	seq := tr.begin(nil)
	tr.add(seq)
	tr.seal(seq)
	time.Sleep(2 * time.Millisecond)
	if a := tr.age(); a < 2*time.Millisecond {
		t.Fatalf("age of a batch in flight for 2ms: %v", a)
	}
	tr.done(seq, nil)
	if a := tr.age(); a != 0 {
		t.Fatalf("age once acknowledged: %v", a)
	}
}

// TestTrackerLongBacklog: a backlog far longer than the compaction's
// threshold, acknowledged out of order and in bursts, commits exactly the
// marks whose batch and every earlier one are acknowledged, and ages and
// markBefore see the right entries across compactions.
func TestTrackerLongBacklog(t *testing.T) {
	tr := newTracker()
	const n = 20000
	marks := make([]*exec.Mark, n)
	seqs := make([]uint64, n)
	for i := range n {
		marks[i] = &exec.Mark{State: []byte(fmt.Sprint(i))}
		seqs[i] = tr.begin(marks[i])
		tr.add(seqs[i])
		tr.seal(seqs[i])
	}
	if got := tr.backlog(); got != n {
		t.Fatalf("backlog %d, want %d", got, n)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	acked := make([]bool, n)
	front := 0 // every batch before it is acknowledged
	for front < n {
		// Acknowledge a burst of batches a little ahead of the front,
		// out of order, then check what became committable.
		for range 1 + rng.IntN(300) {
			i := min(n-1, front+rng.IntN(400))
			if !acked[i] {
				acked[i] = true
				tr.done(seqs[i], nil)
			}
		}
		old := front
		for front < n && acked[front] {
			front++
		}
		m, err := tr.take()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case front == old && m != nil:
			t.Fatalf("mark %s committable with batch %d pending", m.Bytes(), front)
		case front > old && m != marks[front-1]:
			t.Fatalf("front at %d: committable %v, want mark %d", front, m, front-1)
		}
		if got := tr.backlog(); got != n-front {
			t.Fatalf("backlog %d, want %d", got, n-front)
		}
		if front < n {
			if got := tr.markBefore(seqs[front]); front > 0 && got != marks[front-1] {
				t.Fatalf("markBefore(%d) is %v, want mark %d", front, got, front-1)
			}
			if got := tr.markBefore(seqs[min(n-1, front+5)]); got != marks[min(n-1, front+5)-1] {
				t.Fatalf("markBefore(%d) is %v, want mark %d", front+5, got, front+4)
			}
		}
	}
	if tr.age() != 0 || tr.backlog() != 0 {
		t.Fatal("batches left after every acknowledgement")
	}
	// It goes on after the backlog emptied (its array given back).
	s := tr.begin(marks[0])
	tr.seal(s)
	if m, _ := tr.take(); m != marks[0] {
		t.Fatalf("after the backlog: %v", m)
	}
}

// BenchmarkTrackerAck: the cost of one acknowledgement with a backlog of
// b batches pending before it (an HTTP endpoint that hung while one-row
// changes came). It must not grow with the backlog: before, each ack
// copied every pending entry (≈ 0.1 µs at 1,000, ≈ 50 µs at 200,000 on
// a 2-vCPU host: a backlog of 200,000 took minutes of CPU to drain).
func BenchmarkTrackerAck(b *testing.B) {
	for _, backlog := range []int{1000, 10000, 100000, 200000} {
		b.Run(fmt.Sprintf("backlog=%d", backlog), func(b *testing.B) {
			tr := newTracker()
			m := &exec.Mark{}
			// A steady backlog: each step dispatches a batch and
			// acknowledges the oldest (whose mark becomes committable).
			seqs := make([]uint64, 0, backlog)
			for range backlog {
				s := tr.begin(m)
				tr.add(s)
				tr.seal(s)
				seqs = append(seqs, s)
			}
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				s := tr.begin(m)
				tr.add(s)
				tr.seal(s)
				tr.done(seqs[i%backlog], nil)
				seqs[i%backlog] = s
			}
			el := time.Since(start)
			b.StopTimer()
			if tr.backlog() != backlog {
				b.Fatalf("backlog %d, want %d", tr.backlog(), backlog)
			}
			b.ReportMetric(float64(el.Nanoseconds())/float64(b.N), "ns/ack")
			b.ReportMetric(float64(backlog), "backlog")
		})
	}
}
