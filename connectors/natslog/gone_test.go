package natslog

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
	"github.com/etlq/etlq/exec"
)

// TestWorkerStreamGone: the stream and the buckets disappear under a
// running worker (a NATS server restarted without its storage directory,
// here deleted through the API). The worker stops with an error that says
// so. Before, it went on renewing leases in a bucket that no longer
// existed, owning nothing, its lag 0, forever — also after a capture
// started again had made a new stream (a new-user trial).
func TestWorkerStreamGone(t *testing.T) {
	lg, ctx := testLog(t)
	w, errc := workerPastFirstRows(ctx, t, lg)
	defer w.Close()
	loseStorage(t, lg)
	// A capture started again makes a new stream of the same name.
	publishIDs(ctx, t, lg, 2, []int64{4})
	select {
	case err := <-errc:
		if !strings.Contains(err.Error(), "had not read are lost") || !strings.Contains(err.Error(), lg.names("s").stream) {
			t.Fatalf("want an error saying the stream is gone, got %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the worker went on without its stream")
	}
}

// endless is a source that hands over a batch every few milliseconds,
// each with a position, until its context ends.
type endless struct {
	connectors.Source
	n atomic.Int64
}

func (e *endless) Open(ctx context.Context, req connectors.StreamRequest) (connectors.Stream, error) {
	return &endlessStream{e}, nil
}
func (e *endless) Close() error { return nil }

type endlessStream struct{ e *endless }

func (s *endlessStream) Next(ctx context.Context) (*exec.Batch, error) {
	select {
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	case <-time.After(5 * time.Millisecond):
	}
	id := s.e.n.Add(1)
	return batch([]int64{id}, exec.OpInsert, `{"pos":`+strings.Repeat("1", 1)+`}`), nil
}
func (s *endlessStream) Progress() []connectors.Progress { return nil }
func (s *endlessStream) Lag() float64                    { return 0 }
func (s *endlessStream) Close() error                    { return nil }

// TestCaptureStreamGone: the stream disappears under a running capture.
// The capture stops with an error that says so. Before, it published again
// every 2 seconds forever ("log unavailable, publishing again … no
// responders"), as if the server were away.
func TestCaptureStreamGone(t *testing.T) {
	lg, ctx := testLog(t)
	src := &endless{}
	errc := make(chan error, 1)
	go func() {
		errc <- lg.Capture(ctx, "s", src, connectors.StreamRequest{}, CaptureOptions{Partitions: 2})
	}()
	for src.n.Load() < 20 {
		if ctx.Err() != nil {
			t.Fatal("the capture did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	loseStorage(t, lg)
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "is no longer on the NATS server") || !strings.Contains(err.Error(), "SNAPSHOT never, never get the changes made in between") {
			t.Fatalf("want an error saying the stream is gone, and the changes until a new capture with it, got %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the capture went on publishing to a stream that is gone")
	}
}

// loseStorage deletes lg's stream and buckets of source s through another
// connection, as a server restarted without its storage directory loses
// them: lg's own caches (the schemas it stored) stay as they were.
func loseStorage(t *testing.T, lg *Log) {
	t.Helper()
	other, err := Open(testenv.NATSURL(t) + "/" + lg.ns)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.DeleteSource("s"); err != nil {
		t.Fatal(err)
	}
}

// TestStreamNotLoaded: a NATS server started again with its storage
// directory but less JetStream storage than the stream reserves
// (max_file_store below the stream's --max-bytes) does not load the
// stream ("Error recreating stream …: insufficient storage resources
// available" in its own log) but loads the log's buckets; here the stream
// alone is deleted through the API, which looks the same to etlq. The
// messages are still on the server's disk: given its storage back and
// restarted, the server loads the stream and nothing is lost. The
// capture, the workers and etlq status say so. Before, they said the
// stream was deleted or the storage directory lost, the changes lost, and
// to start the capture again — a new stream over the one the server kept
// (a scale-out trial).
func TestStreamNotLoaded(t *testing.T) {
	lg, ctx := testLog(t)
	w, errc := workerPastFirstRows(ctx, t, lg)
	defer w.Close()
	stream := lg.names("s").stream
	if err := lg.js.DeleteStream(stream); err != nil {
		t.Fatal(err)
	}
	says := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		for _, want := range []string{stream, "did not load", `Error recreating stream "` + stream + `"`, "max_file_store"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: want an error saying the server kept the stream and did not load it (%q), got %v", what, want, err)
			}
		}
	}
	select {
	case err := <-errc:
		says("worker", err)
	case <-time.After(15 * time.Second):
		t.Fatal("the worker went on without its stream")
	}
	_, err := lg.Status("s", "apply")
	says("status", err)
	// The capture started again does not make a new stream over it.
	err = lg.Capture(ctx, "s", &endless{}, connectors.StreamRequest{}, CaptureOptions{Partitions: 2})
	says("capture", err)
	if _, err := lg.js.StreamInfo(stream); err == nil {
		t.Error("the capture made a new stream over the one the server did not load")
	}
	// Starting over (etlq status --drop deletes the buckets): a new stream.
	if err := lg.DeleteSource("s"); err != nil {
		t.Fatal(err)
	}
	publishIDs(ctx, t, lg, 2, []int64{4})
}

// workerPastFirstRows publishes three rows, opens a worker of source s
// that reads and acknowledges everything, and returns once it has read
// them; errc gets the error that ends its reading.
func workerPastFirstRows(ctx context.Context, t *testing.T, lg *Log) (*workerStream, chan error) {
	t.Helper()
	publishIDs(ctx, t, lg, 2, []int64{1, 2, 3})
	st, err := lg.Source("s", nil, WorkerOptions{ID: "w", Lease: 2 * time.Second}).Open(ctx, connectors.StreamRequest{})
	if err != nil {
		t.Fatal(err)
	}
	w := st.(*workerStream)
	errc := make(chan error, 1)
	got := make(chan struct{}, 16)
	go func() {
		for {
			b, err := w.Next(ctx)
			if err != nil {
				errc <- err
				return
			}
			w.Acked(b.Mark)
			b.Release()
			got <- struct{}{}
		}
	}()
	for i := 0; i < 3; i++ {
		select {
		case <-got:
		case err := <-errc:
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal("the first rows did not come")
		}
	}
	return w, errc
}

// TestStreamMadeAgainLocalTimes: the error for a stream made again since
// a process opened it gives both creation times in the local zone, as
// every other message does (before: UTC).
func TestStreamMadeAgainLocalTimes(t *testing.T) {
	defer func(l *time.Location) { time.Local = l }(time.Local)
	time.Local = time.FixedZone("test", 5*3600+1800)
	lg, ctx := testLog(t)
	publishIDs(ctx, t, lg, 2, []int64{1})
	n := lg.names("s")
	info, err := lg.js.StreamInfo(n.stream)
	if err != nil {
		t.Fatal(err)
	}
	created := info.Created
	loseStorage(t, lg)
	time.Sleep(10 * time.Millisecond) // a later creation time
	publishIDs(ctx, t, lg, 2, []int64{2})
	err = lg.gone(n, created, "start the workers again")
	if err == nil || !strings.Contains(err.Error(), "was made again") {
		t.Fatalf("want an error saying the stream was made again, got %v", err)
	}
	if want := created.Local().Format(time.RFC3339Nano); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "+05:30") {
		t.Errorf("want the times in the local zone (%s), got %v", want, err)
	}
}
