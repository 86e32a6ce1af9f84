package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	etlqhttp "github.com/etlq/etlq/connectors/http"
	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/exec"
)

// recorder is an endpoint that keeps every request body it accepts.
type recorder struct {
	mu       sync.Mutex
	bodies   [][]byte
	headers  []nethttp.Header
	inFlight atomic.Int32
	maxIn    atomic.Int32
	// respond, when set, answers request n (0-based) instead of 200.
	respond func(n int, w nethttp.ResponseWriter) bool
	n       int
}

func (rec *recorder) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	if in := rec.inFlight.Add(1); in > rec.maxIn.Load() {
		rec.maxIn.Store(in)
	}
	defer rec.inFlight.Add(-1)
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	n := rec.n
	rec.n++
	rec.mu.Unlock()
	if rec.respond != nil && rec.respond(n, w) {
		return
	}
	rec.mu.Lock()
	rec.bodies = append(rec.bodies, body)
	rec.headers = append(rec.headers, r.Header.Clone())
	rec.mu.Unlock()
	w.WriteHeader(nethttp.StatusNoContent)
}

func (rec *recorder) requests() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.n
}

// rows decodes the accepted JSON-array bodies.
func (rec *recorder) rows(t *testing.T, schema *arrow.Schema) []map[string]any {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []map[string]any
	for _, b := range rec.bodies {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var msgs []map[string]any
		if err := dec.Decode(&msgs); err != nil {
			t.Fatalf("body %q: %v", b, err)
		}
		for _, m := range msgs {
			if err := sinktest.TypeJSONRow(m, schema); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
	}
	return out
}

func TestConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) (connectors.Sink, connectors.Target, sinktest.Reader) {
		rec := &recorder{}
		srv := httptest.NewServer(rec)
		t.Cleanup(srv.Close)
		s := etlqhttp.New(srv.URL, nil)
		return s, connectors.Target{}, func(t *testing.T) []map[string]any {
			return rec.rows(t, sinktest.SinkSchema(sinktest.Columns(), false))
		}
	})
}

var schema = sinktest.SinkSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
}, false)

func batchRows(ids ...int) [][]any {
	var rows [][]any
	for _, id := range ids {
		rows = append(rows, []any{id, "n", uint64(id), uint8(0), "insert", time.Unix(0, 0), "binlog.000001:4"})
	}
	return rows
}

type harness struct {
	t   *testing.T
	mem *memory.CheckedAllocator
	w   connectors.Writer
	srv *httptest.Server
}

func open(t *testing.T, rec *recorder, target connectors.Target) *harness {
	t.Helper()
	h := &harness{t: t, mem: memory.NewCheckedAllocator(memory.NewGoAllocator()), srv: httptest.NewServer(rec)}
	if target.Name == "" {
		target.Name = h.srv.URL + "/hook/SECRET-TOKEN"
	}
	target.Schema = schema
	target.Pipeline = "p"
	if target.Options == nil {
		target.Options = map[string]any{}
	}
	if _, ok := target.Options["retry_backoff"]; !ok {
		target.Options["retry_backoff"] = "1ms"
	}
	w, err := etlqhttp.New("", nil).Open(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	h.w = w
	t.Cleanup(func() {
		h.w.Close()
		h.srv.Close()
		h.mem.AssertSize(t, 0)
	})
	return h
}

// write writes a batch and returns a channel with its done error.
func (h *harness) write(ids ...int) chan error {
	h.t.Helper()
	ch := make(chan error, 2)
	b := sinktest.Build(h.mem, schema, "d", "t", batchRows(ids...)...)
	if err := h.w.Write(context.Background(), b, func(err error) { ch <- err }); err != nil {
		h.t.Fatal(err)
	}
	return ch
}

func wait(t *testing.T, ch chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("no acknowledgement")
		return nil
	}
}

func TestRetries5xxThenSucceeds(t *testing.T) {
	rec := &recorder{respond: func(n int, w nethttp.ResponseWriter) bool {
		if n < 2 {
			nethttp.Error(w, "busy", nethttp.StatusServiceUnavailable)
			return true
		}
		return false
	}}
	h := open(t, rec, connectors.Target{})
	if err := wait(t, h.write(1, 2)); err != nil {
		t.Fatalf("want success after retries, got %v", err)
	}
	if rec.requests() != 3 || len(rec.bodies) != 1 {
		t.Fatalf("requests = %d, accepted = %d; want 3 and 1", rec.requests(), len(rec.bodies))
	}
	// The metrics count the two requests sent again.
	if n := h.w.(connectors.Retrier).Retries(); n != 2 {
		t.Errorf("Retries() = %d, want 2", n)
	}
	if k := rec.headers[0].Get("Idempotency-Key"); k != "p:1-2" {
		t.Errorf("Idempotency-Key = %q, want p:1-2", k)
	}
	if ct := rec.headers[0].Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
}

// Every retry is logged with its reason: while an endpoint fails, the
// pipeline's lag grows and its log says why.
func TestRetriesLogged(t *testing.T) {
	var logged bytes.Buffer
	var mu sync.Mutex
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	rec := &recorder{respond: func(n int, w nethttp.ResponseWriter) bool {
		if n < 2 {
			nethttp.Error(w, "busy", nethttp.StatusServiceUnavailable)
			return true
		}
		return false
	}}
	h := open(t, rec, connectors.Target{})
	if err := wait(t, h.write(1)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := logged.String()
	mu.Unlock()
	if n := strings.Count(out, "retrying"); n != 2 {
		t.Errorf("%d retries logged, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "pipeline=p") || !strings.Contains(out, "503 Service Unavailable") {
		t.Errorf("the log names neither the pipeline nor the status:\n%s", out)
	}
	if strings.Contains(out, "SECRET") {
		t.Errorf("the log leaks the URL path:\n%s", out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRetryAfterHonoured(t *testing.T) {
	rec := &recorder{respond: func(n int, w nethttp.ResponseWriter) bool {
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(nethttp.StatusTooManyRequests)
			return true
		}
		return false
	}}
	h := open(t, rec, connectors.Target{})
	start := time.Now()
	if err := wait(t, h.write(1)); err != nil {
		t.Fatal(err)
	}
	// A lower bound only: the retry must not come before the server allowed.
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("retried after %v, before Retry-After: 1", el)
	}
}

func TestClientErrorFailsFast(t *testing.T) {
	rec := &recorder{respond: func(n int, w nethttp.ResponseWriter) bool {
		nethttp.Error(w, `{"error":"field \"name\" is required"}`, nethttp.StatusBadRequest)
		return true
	}}
	h := open(t, rec, connectors.Target{Options: map[string]any{"headers": "Authorization: Bearer SECRET-HEADER"}})
	first := h.write(1)
	err := wait(t, first)
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), `field \"name\" is required`) {
		t.Fatalf("want a 400 error with the response body, got %v", err)
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error leaks a secret: %v", err)
	}
	if rec.requests() != 1 {
		t.Errorf("requests = %d, want 1 (no retry on 400)", rec.requests())
	}
	// Later batches are refused, unsent.
	b := sinktest.Build(h.mem, schema, "d", "t", batchRows(2)...)
	if err := h.w.Write(context.Background(), b, func(error) {}); err == nil {
		t.Error("write after a failed batch succeeded")
	}
	if err := h.w.Flush(context.Background()); err == nil {
		t.Error("flush after a failed batch reported no error")
	}
	if rec.requests() != 1 {
		t.Errorf("requests = %d after the failure, want 1", rec.requests())
	}
}

func TestConnectionErrorsRetriedThenFail(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	rec := &recorder{}
	h := open(t, rec, connectors.Target{Name: "http://" + addr + "/hook/SECRET-TOKEN",
		Options: map[string]any{"retry_max": int64(3)}})
	err = wait(t, h.write(1))
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 retries") {
		t.Fatalf("want a give-up error, got %v", err)
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error leaks the URL path: %v", err)
	}
}

func TestInOrderOneAtATime(t *testing.T) {
	rec := &recorder{respond: func(n int, w nethttp.ResponseWriter) bool {
		if n == 0 {
			time.Sleep(50 * time.Millisecond) // batch 2 must wait for this
			nethttp.Error(w, "retry me", nethttp.StatusBadGateway)
			return true
		}
		return false
	}}
	h := open(t, rec, connectors.Target{Options: map[string]any{"batch_rows": int64(2)}})
	var mu sync.Mutex
	var acked []int
	for i := 0; i < 5; i++ {
		b := sinktest.Build(h.mem, schema, "d", "t", batchRows(i*3+1, i*3+2, i*3+3)...) // 2 requests each
		err := h.w.Write(context.Background(), b, func(err error) {
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			acked = append(acked, i)
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := h.w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(acked) != 5 || acked[0] != 0 || acked[1] != 1 || acked[2] != 2 || acked[3] != 3 || acked[4] != 4 {
		t.Errorf("acknowledged %v, want [0 1 2 3 4] after Flush", acked)
	}
	mu.Unlock()
	if m := rec.maxIn.Load(); m != 1 {
		t.Errorf("%d requests in flight at once, want 1", m)
	}
	rows := rec.rows(t, schema)
	if len(rec.bodies) != 10 || len(rows) != 15 {
		t.Fatalf("bodies = %d, rows = %d; want 10 and 15", len(rec.bodies), len(rows))
	}
	for i, r := range rows {
		if r["id"].(json.Number).String() != strconv.Itoa(i+1) {
			t.Fatalf("row %d has id %v: out of order", i, r["id"])
		}
	}
}

func TestNDJSONAndHeaders(t *testing.T) {
	rec := &recorder{}
	h := open(t, rec, connectors.Target{Format: "debezium_json",
		Options: map[string]any{"body": "ndjson", "headers": "Authorization: Bearer abc; X-Team: data"}})
	if err := wait(t, h.write(1, 2)); err != nil {
		t.Fatal(err)
	}
	if got := rec.headers[0].Get("Authorization"); got != "Bearer abc" {
		t.Errorf("Authorization = %q", got)
	}
	if got := rec.headers[0].Get("X-Team"); got != "data" {
		t.Errorf("X-Team = %q", got)
	}
	if ct := rec.headers[0].Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type = %q", ct)
	}
	lines := strings.Split(strings.TrimSpace(string(rec.bodies[0])), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"op":"c"`) {
		t.Errorf("want 2 debezium lines, got %q", rec.bodies[0])
	}
}

// TestPlanRefusesBadTargets: a target Open would refuse fails Plan (and so
// etlq check) instead of being a warning, and the error names no secret.
func TestPlanRefusesBadTargets(t *testing.T) {
	s := etlqhttp.New("", nil)
	for _, target := range []connectors.Target{
		{Name: "not a url"},
		{Name: "ftp://x/y"},
		{Name: "/just/a/path?token=s3cret"},
		{Name: "http://x/y", Format: "parquet"},
		{Name: "http://x/y", Options: map[string]any{"headers": "no colon"}},
		{Name: "http://x/y", Options: map[string]any{"body": "xml"}},
	} {
		_, problems, err := s.Plan(context.Background(), target)
		if err == nil || len(problems) != 0 {
			t.Errorf("%+v: want an error, got %v, %v", target, problems, err)
		} else if _, oerr := s.Open(context.Background(), target); oerr == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%+v: Plan says %v; Open must refuse it too (got %v), and neither names the token", target, err, oerr)
		}
	}
	if _, problems, err := s.Plan(context.Background(), connectors.Target{Name: "https://x/y"}); err != nil || len(problems) != 0 {
		t.Errorf("https://x/y: want no error, got %v, %v", problems, err)
	}
}

// TestDebeziumKeepsBatchSource: the requests of a batch carry what the
// batch says of its source, as a file or stdout target writes it: the
// server id and GTID of a binlog transaction, and the snapshot's first
// and last records (in the first and last request when batch_rows splits
// the batch). The http writer dropped them: binlog events had server_id 0
// and gtid null, snapshot events "true" where a file had "first"/"last".
func TestDebeziumKeepsBatchSource(t *testing.T) {
	// events writes the three rows of batchRows(1, 2, 3), op set by
	// readOp, as a batch that set adjusts, two rows a request, and
	// returns the events the endpoint got.
	events := func(readOp bool, set func(b *exec.Batch)) []string {
		rec := &recorder{}
		h := open(t, rec, connectors.Target{Format: "debezium_json", Options: map[string]any{"body": "ndjson", "batch_rows": 2}})
		rows := batchRows(1, 2, 3)
		for _, r := range rows {
			if readOp {
				r[4] = "read"
			}
		}
		b := sinktest.Build(h.mem, schema, "d", "t", rows...)
		set(b)
		ch := make(chan error, 1)
		if err := h.w.Write(context.Background(), b, func(err error) { ch <- err }); err != nil {
			t.Fatal(err)
		}
		if err := wait(t, ch); err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, body := range rec.bodies {
			lines = append(lines, strings.Split(strings.TrimSpace(string(body)), "\n")...)
		}
		if len(rec.bodies) != 2 || len(lines) != 3 {
			t.Fatalf("want 3 events in 2 requests, got %q", rec.bodies)
		}
		return lines
	}
	for _, l := range events(false, func(b *exec.Batch) { b.ServerID, b.GTID, b.Thread = 92, "0-92-23", 4711 }) {
		if !strings.Contains(l, `"server_id":92,"gtid":"0-92-23"`) || !strings.Contains(l, `"thread":4711,`) {
			t.Errorf("event lost its transaction's server id, GTID or thread: %s", l)
		}
	}
	var snaps []string
	for _, l := range events(true, func(b *exec.Batch) {
		b.Snapshot, b.SnapshotStart, b.SnapshotEnd = true, exec.SnapshotEdgeAll, exec.SnapshotEdgeAll
	}) {
		i := strings.Index(l, `"snapshot":"`)
		snaps = append(snaps, strings.SplitN(l[i+len(`"snapshot":"`):], `"`, 2)[0])
	}
	if strings.Join(snaps, ",") != "first,true,last" {
		t.Errorf("snapshot marks = %v, want first, true, last", snaps)
	}
}

// A 301, 302 or 303 would make a client send its POST again as a GET
// without the body; a 200 to that GET must not count as the batch's
// delivery. 307 and 308 keep the method and the body, and are followed.
func TestRedirectThatDropsTheBodyFails(t *testing.T) {
	for _, code := range []int{nethttp.StatusMovedPermanently, nethttp.StatusFound, nethttp.StatusSeeOther} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			var gets atomic.Int32
			rec := &recorder{}
			rec.respond = func(n int, w nethttp.ResponseWriter) bool {
				if n == 0 {
					w.Header().Set("Location", "/moved")
					w.WriteHeader(code)
					return true
				}
				gets.Add(1)
				w.WriteHeader(nethttp.StatusOK)
				return true
			}
			h := open(t, rec, connectors.Target{})
			err := wait(t, h.write(1, 2))
			if err == nil {
				t.Fatalf("a %d redirect counted as delivered (%d requests followed it)", code, gets.Load())
			}
			if !strings.Contains(err.Error(), strconv.Itoa(code)) || !strings.Contains(err.Error(), "redirected to "+h.srv.URL+"/…") {
				t.Errorf("error %q does not name the redirect and its Location", err)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error leaks the URL path: %v", err)
			}
			if gets.Load() != 0 {
				t.Errorf("the redirect was followed by %d requests", gets.Load())
			}
			// The pipeline's URL is wrong, as for a 404: its own error,
			// which stops it alone, with how to resume (it stopped every
			// pipeline of the source: webhook trial).
			var fix connectors.DataErrorFix
			if !connectors.IsDataError(err) || !errors.As(err, &fix) || !strings.Contains(fix.Fix(), "URL") {
				t.Errorf("a %d is not the pipeline's own error with a fix naming the URL: %v", code, err)
			}
		})
	}
	t.Run("308", func(t *testing.T) {
		rec := &recorder{}
		rec.respond = func(n int, w nethttp.ResponseWriter) bool {
			if n == 0 {
				w.Header().Set("Location", "/moved")
				w.WriteHeader(nethttp.StatusPermanentRedirect)
				return true
			}
			return false
		}
		h := open(t, rec, connectors.Target{})
		if err := wait(t, h.write(1, 2)); err != nil {
			t.Fatal(err)
		}
		if len(rec.bodies) != 1 || !strings.Contains(string(rec.bodies[0]), `"id":2`) {
			t.Fatalf("bodies after a 308: %q", rec.bodies)
		}
	})
}

// Batches that wait behind a request in flight go out together in the
// next one (a source behind sends one small batch per transaction; one
// request each held a webhook pipeline to one transaction per round trip,
// whatever batch_rows said), in order, each acknowledged once, up to
// batch_rows rows a request.
func TestWaitingBatchesShareARequest(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      map[string]any
		maxRows   int
		wantFewer int // at most this many requests
	}{
		{"json array", map[string]any{"timeout": "2s"}, 0, 3},
		{"ndjson", map[string]any{"body": "ndjson", "timeout": "2s"}, 0, 3},
		{"batch_rows", map[string]any{"batch_rows": int64(10), "timeout": "2s"}, 10, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			var bodies []string
			var mu sync.Mutex
			rec := &recorder{respond: func(n int, w nethttp.ResponseWriter) bool {
				if n == 0 {
					<-release // the others queue meanwhile
				}
				return false
			}}
			h := open(t, rec, connectors.Target{Options: tc.opts})
			var acked []int
			const batches = 40
			for i := 1; i <= batches; i++ {
				b := sinktest.Build(h.mem, schema, "d", "t", batchRows(i)...)
				err := h.w.Write(context.Background(), b, func(err error) {
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					acked = append(acked, i)
					mu.Unlock()
				})
				if err != nil {
					t.Fatal(err)
				}
				if i == 1 {
					for rec.requests() == 0 {
						time.Sleep(time.Millisecond)
					}
				}
				if i == batches-5 {
					close(release)
				}
			}
			if err := h.w.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			for i, a := range acked {
				if a != i+1 {
					t.Fatalf("acknowledged %v, want 1..%d in order", acked, batches)
				}
			}
			if len(acked) != batches {
				t.Fatalf("%d acknowledgements, want %d", len(acked), batches)
			}
			rec.mu.Lock()
			for _, b := range rec.bodies {
				bodies = append(bodies, string(b))
			}
			keys := []string{}
			for _, hd := range rec.headers {
				keys = append(keys, hd.Get("Idempotency-Key"))
			}
			rec.mu.Unlock()
			if len(bodies) > tc.wantFewer+5 {
				t.Errorf("%d requests for %d one-row batches, most of which waited: want at most %d", len(bodies), batches, tc.wantFewer+5)
			}
			next := 1
			for n, b := range bodies {
				var ids []int
				if tc.opts["body"] == "ndjson" {
					for _, l := range strings.Split(strings.TrimSpace(b), "\n") {
						var m map[string]any
						if err := json.Unmarshal([]byte(l), &m); err != nil {
							t.Fatalf("body %d: %v: %q", n, err, b)
						}
						ids = append(ids, int(m["id"].(float64)))
					}
				} else {
					var ms []map[string]any
					if err := json.Unmarshal([]byte(b), &ms); err != nil {
						t.Fatalf("body %d: %v: %q", n, err, b)
					}
					for _, m := range ms {
						ids = append(ids, int(m["id"].(float64)))
					}
				}
				if tc.maxRows > 0 && len(ids) > tc.maxRows {
					t.Errorf("body %d has %d rows, more than batch_rows %d", n, len(ids), tc.maxRows)
				}
				for _, id := range ids {
					if id != next {
						t.Fatalf("body %d: id %d where %d was next", n, id, next)
					}
					next++
				}
				if want := fmt.Sprintf("p:%d-%d", ids[0], ids[len(ids)-1]); keys[n] != want {
					t.Errorf("body %d: Idempotency-Key %q, want %q", n, keys[n], want)
				}
			}
			if next != batches+1 {
				t.Errorf("rows 1..%d arrived", next-1)
			}
		})
	}
}

// An endpoint down for longer than ten retries is waited for when
// retry_max is not given, as a ClickHouse that went away is: the run went
// on to fail the batch after 10 retries (about one to two minutes with the
// default back-off), ending the run of every pipeline of the source, where
// PRODUCT.md promises "retry with back-off, resume, lose nothing". Past
// ten retries each one is logged at ERROR, so that an outage that lasts is
// seen. Found by the notify trial (receiver down 5 min).
func TestLongOutageWaitedForWithoutRetryMax(t *testing.T) {
	var logged bytes.Buffer
	var mu sync.Mutex
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	const failures = 25
	rec := &recorder{respond: func(n int, w nethttp.ResponseWriter) bool {
		if n < failures {
			nethttp.Error(w, "down", nethttp.StatusServiceUnavailable)
			return true
		}
		return false
	}}
	h := open(t, rec, connectors.Target{Options: map[string]any{"retry_backoff_max": "1ms"}})
	if err := wait(t, h.write(1, 2)); err != nil {
		t.Fatalf("want the batch delivered once the endpoint is back, got %v", err)
	}
	if rec.requests() != failures+1 || len(rec.bodies) != 1 {
		t.Fatalf("requests = %d, accepted = %d; want %d and 1", rec.requests(), len(rec.bodies), failures+1)
	}
	mu.Lock()
	out := logged.String()
	mu.Unlock()
	if n := strings.Count(out, "level=ERROR"); n != failures-10 {
		t.Errorf("%d retries logged at ERROR, want %d (those after the first 10):\n%s", n, failures-10, out)
	}
}

// retry_max, when given, still bounds the retries.
func TestRetryMaxGivenStillFails(t *testing.T) {
	rec := &recorder{respond: func(n int, w nethttp.ResponseWriter) bool {
		nethttp.Error(w, "down", nethttp.StatusServiceUnavailable)
		return true
	}}
	h := open(t, rec, connectors.Target{Options: map[string]any{"retry_max": int64(12), "retry_backoff_max": "1ms"}})
	err := wait(t, h.write(1))
	if err == nil || !strings.Contains(err.Error(), "gave up after 12 retries") {
		t.Fatalf("want a give-up error after 12 retries, got %v", err)
	}
	if rec.requests() != 13 {
		t.Errorf("requests = %d, want 13", rec.requests())
	}
}

// Close returns while the endpoint is down: with no retry_max the retries
// would never end, and Close, which sends what is queued, waited for them
// — a SIGTERM while the endpoint was down then never ended the process
// (the run's drain closes its writers after 2 minutes and waits for
// Close). Close waits one request timeout for what is queued, then stops
// the retries; the batch fails, unacknowledged, and the next run sends it
// again. Found by the notify trial.
func TestCloseWhileEndpointDownReturns(t *testing.T) {
	rec := &recorder{respond: func(n int, w nethttp.ResponseWriter) bool {
		nethttp.Error(w, "down", nethttp.StatusServiceUnavailable)
		return true
	}}
	h := open(t, rec, connectors.Target{Options: map[string]any{"retry_backoff_max": "1ms", "timeout": "200ms"}})
	ch := h.write(1)
	for rec.requests() < 3 {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- h.w.Close() }()
	select {
	case err := <-closed:
		if err == nil {
			t.Error("Close reported no error for a batch it could not send")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return while the endpoint was down")
	}
	if err := wait(t, ch); err == nil {
		t.Error("the unsent batch was acknowledged")
	}
}

// TestCloseWithAFullQueueReturns: Close while a Write waits for room in a
// queue that the endpoint, down, does not empty. That Write held the
// writer's close lock shared, Close waited for it, and it for retries
// that only Close stops: the stop's closing of the writers never ended
// while the endpoint was down (found with an HTTP pipeline whose endpoint
// hung under a backlog of one-row changes). The waiting Write fails as a
// write on a closed writer; the queued batches fail, unacknowledged.
func TestCloseWithAFullQueueReturns(t *testing.T) {
	rec := &recorder{respond: func(n int, w nethttp.ResponseWriter) bool {
		nethttp.Error(w, "down", nethttp.StatusServiceUnavailable)
		return true
	}}
	// (batch_rows = 1: no request takes the queued batches with it.)
	h := open(t, rec, connectors.Target{Options: map[string]any{"retry_backoff_max": "1ms", "timeout": "200ms", "batch_rows": int64(1)}})
	var acks []chan error
	var started atomic.Int64
	blocked := make(chan error, 1)
	go func() {
		// One more than the queue takes (and the one in flight, and the
		// one the writer may hold back as not fitting that request, its
		// peek — under load it did, and every Write returned): the last
		// Write waits for room.
		for i := range 1024 + 3 { // (maxQueuedJobs)
			ch := make(chan error, 1)
			b := sinktest.Build(h.mem, schema, "d", "t", batchRows(i+1)...)
			started.Add(1)
			if err := h.w.Write(context.Background(), b, func(err error) { ch <- err }); err != nil {
				blocked <- err
				return
			}
			acks = append(acks, ch)
		}
		blocked <- nil
	}()
	for rec.requests() < 3 || started.Load() < 1024+2 {
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-blocked:
		t.Fatalf("every Write returned (%v) with the queue full: nothing waits for room", err)
	case <-time.After(100 * time.Millisecond):
	}
	closed := make(chan error, 1)
	go func() { closed <- h.w.Close() }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return while a Write waited for room in the queue, the endpoint down")
	}
	if err := <-blocked; err == nil || !strings.Contains(err.Error(), "write on a closed writer") {
		t.Errorf("the Write that waited for room: %v, want a write on a closed writer", err)
	}
	for _, ch := range acks {
		if err := wait(t, ch); err == nil {
			t.Fatal("a batch never sent was acknowledged")
		}
	}
}

// A request the endpoint refuses (400, 404, 422, …: no retry lets it
// through) is the pipeline's own error, as a row ClickHouse refuses is
// (connectors.DataError): the pipeline stops alone and the other
// pipelines of its source go on. It ended the run of every pipeline of the
// source (the notify trial: a 400 from the canal endpoint stopped the
// debezium pipeline beside it). Retried statuses and outages are not data
// errors.
func TestRefusedRequestIsThePipelinesError(t *testing.T) {
	for _, status := range []int{nethttp.StatusBadRequest, nethttp.StatusNotFound, nethttp.StatusUnprocessableEntity} {
		rec := &recorder{respond: func(n int, w nethttp.ResponseWriter) bool {
			nethttp.Error(w, "bad payload", status)
			return true
		}}
		h := open(t, rec, connectors.Target{})
		err := wait(t, h.write(1))
		if err == nil || !connectors.IsDataError(err) {
			t.Fatalf("%d: want a data error, got %v", status, err)
		}
		if !strings.Contains(err.Error(), "bad payload") {
			t.Errorf("%d: the endpoint's answer is not in the error: %v", status, err)
		}
		var fix connectors.DataErrorFix
		if !errors.As(err, &fix) || !strings.Contains(fix.Fix(), "apply again") {
			t.Errorf("%d: no way to resume given: %v", status, err)
		}
		// A later batch fails unsent, with the same data error.
		b := sinktest.Build(h.mem, schema, "d", "t", batchRows(2)...)
		ch := make(chan error, 1)
		if werr := h.w.Write(context.Background(), b, func(err error) { ch <- err }); werr != nil {
			if !connectors.IsDataError(werr) {
				t.Errorf("%d: a later write failed with %v, not the data error", status, werr)
			}
		} else if err := wait(t, ch); !connectors.IsDataError(err) {
			t.Errorf("%d: a later batch failed with %v, not the data error", status, err)
		}
	}
	rec := &recorder{respond: func(n int, w nethttp.ResponseWriter) bool {
		nethttp.Error(w, "down", nethttp.StatusServiceUnavailable)
		return true
	}}
	h := open(t, rec, connectors.Target{Options: map[string]any{"retry_max": int64(1)}})
	if err := wait(t, h.write(1)); err == nil || connectors.IsDataError(err) {
		t.Errorf("an outage that outlasts retry_max: want a plain error, got %v", err)
	}
}

// TestRedirectToAnotherHostWithoutCredentials: a 307 to another host gets
// the body but none of the pipeline's credentials: no header named as one
// (X-Api-Key), none holding a secret (X-Custom from ${…}: registered here
// as the planner does), no signature, and no Referer (the first URL, with
// its ?token=). Go's client dropped only Authorization: the other host
// received X-Api-Key and the Referer with the token (a security trial). A
// redirect to the same host keeps them.
func TestRedirectToAnotherHostWithoutCredentials(t *testing.T) {
	connectors.RegisterSecret("from-env-7431")
	other := &recorder{}
	otherSrv := httptest.NewServer(other)
	defer otherSrv.Close()
	// The same server by another name: another host to the client.
	otherURL := strings.Replace(otherSrv.URL, "127.0.0.1", "localhost", 1)
	opts := map[string]any{
		"headers":        "Authorization: Bearer tok-1; X-Api-Key: key-2; X-Custom: from-env-7431; X-Team: notify",
		"signing_secret": "sig-secret-3",
	}
	for _, tc := range []struct {
		name      string
		to        func(h *harness) string
		rec       func(first *recorder) *recorder
		keepCreds bool
	}{
		{"another host", func(*harness) string { return otherURL + "/moved" }, func(*recorder) *recorder { return other }, false},
		{"the same host", func(*harness) string { return "/moved" }, func(first *recorder) *recorder { return first }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			var h *harness
			rec.respond = func(n int, w nethttp.ResponseWriter) bool {
				if n == 0 {
					w.Header().Set("Location", tc.to(h))
					w.WriteHeader(nethttp.StatusTemporaryRedirect)
					return true
				}
				return false
			}
			o := map[string]any{}
			for k, v := range opts {
				o[k] = v
			}
			h = open(t, rec, connectors.Target{Options: o})
			if err := wait(t, h.write(1)); err != nil {
				t.Fatal(err)
			}
			got := tc.rec(rec)
			got.mu.Lock()
			defer got.mu.Unlock()
			if len(got.headers) == 0 {
				t.Fatal("the redirect was not followed")
			}
			hd := got.headers[len(got.headers)-1]
			if hd.Get("X-Team") != "notify" {
				t.Errorf("a plain header was dropped: %v", hd)
			}
			if ref := hd.Get("Referer"); ref != "" {
				t.Errorf("Referer %q sent with the redirect", ref)
			}
			for _, name := range []string{"X-Api-Key", "X-Custom", "X-Etlq-Signature"} {
				if has := hd.Get(name) != ""; has != tc.keepCreds {
					t.Errorf("%s sent = %v, want %v: %v", name, has, tc.keepCreds, hd)
				}
			}
			if tc.keepCreds && hd.Get("Authorization") == "" {
				t.Errorf("Authorization dropped on a redirect to the same host")
			}
			if !tc.keepCreds && hd.Get("Authorization") != "" {
				t.Errorf("Authorization sent to another host")
			}
		})
	}
}
