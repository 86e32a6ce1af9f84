package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/exec"
)

// idsOf returns the "id" of every message of a JSON-array body.
func idsOf(t *testing.T, body []byte) []int {
	t.Helper()
	var msgs []struct {
		ID int `json:"id"`
	}
	if err := json.Unmarshal(body, &msgs); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	var ids []int
	for _, m := range msgs {
		ids = append(ids, m.ID)
	}
	return ids
}

// picky is an endpoint that refuses with 413 a request of more than
// maxRows rows, refuses the rows whose id is in bad with status (a
// request holding one), and keeps the ids of the rows it takes.
type picky struct {
	t       *testing.T
	maxRows int
	bad     map[int]bool
	status  int
	answer  string

	mu       sync.Mutex
	taken    []int
	requests int
}

func (p *picky) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	body, _ := io.ReadAll(r.Body)
	ids := idsOf(p.t, body)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	if p.maxRows > 0 && len(ids) > p.maxRows {
		nethttp.Error(w, "payload too large", nethttp.StatusRequestEntityTooLarge)
		return
	}
	for _, id := range ids {
		if p.bad[id] {
			nethttp.Error(w, p.answer, p.status)
			return
		}
	}
	p.taken = append(p.taken, ids...)
	w.WriteHeader(nethttp.StatusNoContent)
}

// refusals records what a writer hands its refusal handler.
type refusals struct {
	mu      sync.Mutex
	ids     []int
	reasons []string
}

func (rf *refusals) handle(ctx context.Context, b *exec.Batch, errs []exec.RowError) error {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	ids := b.Record.Column(0).(*array.Int64)
	if len(b.Sel) != len(errs) {
		return fmt.Errorf("sel has %d rows, errs %d", len(b.Sel), len(errs))
	}
	for i, e := range errs {
		if int(b.Sel[i]) != e.Row {
			return fmt.Errorf("sel[%d] = %d, errs[%d].Row = %d", i, b.Sel[i], i, e.Row)
		}
		rf.ids = append(rf.ids, int(ids.Value(e.Row)))
		rf.reasons = append(rf.reasons, e.Reason)
	}
	return nil
}

// A request the endpoint refuses as too large (413) is sent again in
// halves, down to single rows: every row gets through, in order, when
// each alone is small enough — under on_error = 'fail' too. Before, the
// 413 stopped the pipeline.
func TestTooLargeRequestSentInHalves(t *testing.T) {
	ep := &picky{t: t, maxRows: 2}
	h := open(t, &recorder{}, connectors.Target{})
	h.srv.Config.Handler = ep
	if err := wait(t, h.write(1, 2, 3, 4, 5, 6, 7)); err != nil {
		t.Fatalf("want the batch delivered in smaller requests, got %v", err)
	}
	if want := []int{1, 2, 3, 4, 5, 6, 7}; !slices.Equal(ep.taken, want) {
		t.Errorf("endpoint took %v, want %v in order", ep.taken, want)
	}
}

// A single row refused as too large, or refused for its data (400, 422:
// a request of several rows is sent again in halves until the rows it
// refuses are alone, TestRefusedRequestBisected), goes to the refusal
// handler (on_error = 'skip' or 'dead_letter') with the status and the
// endpoint's answer; the other rows get through and the batch is
// acknowledged. Without a handler (on_error
// = 'fail') it is the pipeline's data error, as before.
func TestRefusedRowsHandedToHandler(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ep      *picky
		batches [][]int
		refused []int // the rows the handler gets
		reason  string
	}{
		{"413 single row", &picky{maxRows: 2, bad: map[int]bool{3: true}, status: 413, answer: "row too big"},
			[][]int{{1, 2, 3, 4, 5}}, []int{3}, "413 Request Entity Too Large: row too big"},
		{"400 request", &picky{bad: map[int]bool{3: true}, status: 400, answer: `{"error":"id 3 unknown"}`},
			[][]int{{1, 2}, {3, 4}, {5}}, []int{3}, `400 Bad Request: {"error":"id 3 unknown"}`},
		{"422 request", &picky{bad: map[int]bool{5: true}, status: 422, answer: "no"},
			[][]int{{1}, {5, 6}}, []int{5}, "422 Unprocessable Entity: no"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, handled := range []bool{true, false} {
				ep := picky{t: t, maxRows: tc.ep.maxRows, bad: tc.ep.bad, status: tc.ep.status, answer: tc.ep.answer}
				h := open(t, &recorder{}, connectors.Target{})
				h.srv.Config.Handler = &ep
				rf := &refusals{}
				if handled {
					h.w.(connectors.RowRefuser).OnRefused(rf.handle)
				}
				var errs []error
				for _, ids := range tc.batches {
					ch := make(chan error, 1)
					b := sinktest.Build(h.mem, schema, "d", "t", batchRows(ids...)...)
					if err := h.w.Write(context.Background(), b, func(err error) { ch <- err }); err != nil {
						errs = append(errs, err) // (after a failed batch)
						continue
					}
					errs = append(errs, wait(t, ch))
				}
				if !handled {
					var failed error
					for _, err := range errs {
						if err != nil {
							failed = err
							break
						}
					}
					if failed == nil || !connectors.IsDataError(failed) || !strings.Contains(failed.Error(), tc.reason) {
						t.Errorf("on_error = 'fail': want the data error %q, got %v", tc.reason, failed)
					}
					continue
				}
				for i, err := range errs {
					if err != nil {
						t.Errorf("batch %d: %v", i, err)
					}
				}
				if !slices.Equal(rf.ids, tc.refused) {
					t.Errorf("handler got rows %v, want %v", rf.ids, tc.refused)
				}
				for _, r := range rf.reasons {
					if !strings.Contains(r, tc.reason) {
						t.Errorf("reason %q lacks %q", r, tc.reason)
					}
				}
				var want []int
				for _, ids := range tc.batches {
					for _, id := range ids {
						if !slices.Contains(tc.refused, id) {
							want = append(want, id)
						}
					}
				}
				if !slices.Equal(ep.taken, want) {
					t.Errorf("endpoint took %v, want %v", ep.taken, want)
				}
			}
		})
	}
}

// A refusal that says the endpoint or the pipeline's configuration is
// wrong (404, 401, 415: every row would be refused) stops the pipeline
// whatever on_error says: its rows are not handed to the handler, which
// would set the whole stream aside.
func TestConfigRefusalNotHanded(t *testing.T) {
	for _, status := range []int{nethttp.StatusNotFound, nethttp.StatusUnauthorized, nethttp.StatusUnsupportedMediaType} {
		rec := &recorder{respond: func(n int, w nethttp.ResponseWriter) bool {
			nethttp.Error(w, "nope", status)
			return true
		}}
		h := open(t, rec, connectors.Target{})
		rf := &refusals{}
		h.w.(connectors.RowRefuser).OnRefused(rf.handle)
		if err := wait(t, h.write(1)); err == nil || !connectors.IsDataError(err) {
			t.Errorf("%d: want the pipeline's data error, got %v", status, err)
		}
		if len(rf.ids) != 0 {
			t.Errorf("%d: rows %v handed to the handler", status, rf.ids)
		}
	}
}

// Batches that shared a request (gather) are handed to the handler batch
// by batch, each with its own refused rows (the shared request bisected
// across them), the other rows taken in order.
func TestRefusedSharedRequestHandedPerBatch(t *testing.T) {
	release := make(chan struct{})
	var first sync.Once
	var arrived sync.WaitGroup
	arrived.Add(1)
	ep := &picky{bad: map[int]bool{2: true, 4: true}, status: 400, answer: "bad"}
	ep.t = t
	h := open(t, &recorder{}, connectors.Target{})
	h.srv.Config.Handler = nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		first.Do(func() { arrived.Done(); <-release })
		ep.ServeHTTP(w, r)
	})
	var mu sync.Mutex
	var batches [][]int
	h.w.(connectors.RowRefuser).OnRefused(func(ctx context.Context, b *exec.Batch, errs []exec.RowError) error {
		ids := b.Record.Column(0).(*array.Int64)
		var got []int
		for _, e := range errs {
			got = append(got, int(ids.Value(e.Row)))
		}
		mu.Lock()
		batches = append(batches, got)
		mu.Unlock()
		return nil
	})
	chs := []chan error{h.write(1)}
	arrived.Wait() // batch 1 in flight: the others queue
	chs = append(chs, h.write(2), h.write(3, 4), h.write(5), h.write(6, 7))
	close(release)
	for _, ch := range chs {
		if err := wait(t, ch); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(batches) != "[[2] [4]]" {
		t.Errorf("handler got %v, want [[2] [4]] (the shared request's refused rows, batch by batch)", batches)
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if want := []int{1, 3, 5, 6, 7}; !slices.Equal(ep.taken, want) {
		t.Errorf("endpoint took %v, want %v", ep.taken, want)
	}
}

// The endpoint's answer is kept short in the error (and so in a dead
// letter's reason): its first 512 bytes, marked as cut.
func TestRefusalAnswerShortened(t *testing.T) {
	long := strings.Repeat("é", 2000)
	rec := &recorder{respond: func(n int, w nethttp.ResponseWriter) bool {
		nethttp.Error(w, long, nethttp.StatusBadRequest)
		return true
	}}
	h := open(t, rec, connectors.Target{})
	err := wait(t, h.write(1))
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	if len(msg) > 700 || !strings.HasSuffix(msg, "é …") || !strings.Contains(msg, "400 Bad Request: éé") {
		t.Errorf("want the answer cut at 512 bytes, on a rune, marked with …; got %d bytes: %q", len(msg), msg)
	}
}

// Close of a writer with nothing queued or in flight returns at once,
// not after a request timeout (Close waits at most one timeout for what
// is queued): with timeout = '10m' it must return well within a minute,
// after batches were acknowledged and with none ever written.
func TestCloseIdleReturnsPromptly(t *testing.T) {
	for _, writes := range []int{0, 2} {
		h := open(t, &recorder{}, connectors.Target{Options: map[string]any{"timeout": "10m"}})
		for i := 1; i <= writes; i++ {
			if err := wait(t, h.write(i)); err != nil {
				t.Fatal(err)
			}
		}
		closed := make(chan error, 1)
		go func() { closed <- h.w.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("%d writes: Close: %v", writes, err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%d writes: Close of an idle writer did not return within a minute (timeout 10m)", writes)
		}
	}
}

// Close while the endpoint is down and nothing is in flight (the writer
// waits between retries, each answered at once with a 503) returns at
// once, the batch failed unacknowledged: it waited a whole request
// timeout for the retries to end — 10 minutes with timeout = '10m' — so a
// SIGTERM during an outage, once the run's drain time was over, took that
// long more to end the process.
func TestCloseDuringOutageReturnsPromptly(t *testing.T) {
	rec := &recorder{respond: func(n int, w nethttp.ResponseWriter) bool {
		nethttp.Error(w, "down", nethttp.StatusServiceUnavailable)
		return true
	}}
	h := open(t, rec, connectors.Target{Options: map[string]any{"timeout": "10m", "retry_backoff": "300ms", "retry_backoff_max": "300ms"}})
	ch := h.write(1)
	for rec.requests() < 2 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- h.w.Close() }()
	select {
	case err := <-closed:
		if err == nil {
			t.Error("Close reported no error for a batch it could not send")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return within 30s while the endpoint was down (timeout 10m)")
	}
	if err := wait(t, ch); err == nil {
		t.Error("the unsent batch was acknowledged")
	}
	t.Logf("Close returned after %v", time.Since(start).Round(time.Millisecond))
}
