package http

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	nethttp "net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"golang.org/x/sync/semaphore"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/format"
	"github.com/etlq/etlq/exec"
)

// Sink posts targets to URLs.
type Sink struct {
	url    string
	opts   map[string]any
	client *nethttp.Client
}

var _ connectors.Sink = (*Sink)(nil)

// New returns an http sink. url is the default target URL (a pipeline's
// INTO http 'url' overrides it) and opts the sink's WITH options.
func New(url string, opts map[string]any) *Sink {
	return &Sink{url: url, opts: opts, client: &nethttp.Client{}}
}

// WithClient makes the sink use c (for tests and custom transports).
func (s *Sink) WithClient(c *nethttp.Client) *Sink {
	s.client = c
	return s
}

// Plan checks the target; the http sink runs no DDL. A target Open would
// refuse (not an http(s) URL, a bad option) is an error, not a problem:
// nothing could ever be sent there.
func (s *Sink) Plan(ctx context.Context, t connectors.Target) ([]string, []connectors.Problem, error) {
	if _, err := s.config(t); err != nil {
		return nil, nil, err
	}
	return nil, nil, nil
}

// Open returns a writer posting t's batches.
func (s *Sink) Open(ctx context.Context, t connectors.Target) (connectors.Writer, error) {
	c, err := s.config(t)
	if err != nil {
		return nil, err
	}
	fo := format.Options{Pipeline: t.Pipeline, Key: t.Key, Mode: t.Mode}
	enc, err := format.New(c.format, fo)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	cctx, cclose := context.WithCancel(context.Background())
	w := &writer{
		closingCtx: cctx, closingNow: cclose,
		c: c, client: noMethodChange(c.clientFor(s.client), c.sigHeader), pipeline: t.Pipeline, fo: fo, enc: enc,
		jobs: make(chan job, maxQueuedJobs), queued: semaphore.NewWeighted(maxQueuedBytes), ctx: wctx, cancel: cancel,
		closing: make(chan struct{}),
		where:   "http POST to " + redact(c.url.String()),
	}
	w.wg.Add(1)
	go w.run()
	return w, nil
}

// Close does nothing; writers own their connections. It is idempotent.
func (s *Sink) Close() error { return nil }

// noMethodChange returns a copy of c that follows only the redirects that
// keep the method and the body (307, 308). A 301, 302 or 303 would send
// the POST again as a GET without its body, and a 2xx to that GET would
// count as the batch's delivery: such a response is returned as it is,
// and fails the batch (try). A redirect to another host gets none of the
// pipeline's credentials (withoutCredentials).
func noMethodChange(c *nethttp.Client, sigHeader string) *nethttp.Client {
	cc := *c
	next := c.CheckRedirect
	cc.CheckRedirect = func(req *nethttp.Request, via []*nethttp.Request) error {
		if req.Method != via[0].Method || downgrade(via[0], req) {
			return nethttp.ErrUseLastResponse
		}
		withoutCredentials(req, via[0], sigHeader)
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cc
}

// downgrade reports whether req, a redirect of first, leaves https for
// plain http, which would send the rows and the credentials in clear: not
// followed, the batch fails (try).
func downgrade(first, req *nethttp.Request) bool {
	return first.URL.Scheme == "https" && req.URL.Scheme != "https"
}

// withoutCredentials removes from req, a redirect of first, the
// Referer (the first URL, whose ?token= or password it would carry) and,
// when req goes to another host than first, every header that carries a
// credential: named as one (credentialHeader: X-Api-Key, …), holding a
// secret (a value from ${NAME} or ${file:…}, whatever the header's name)
// or the signature. Go's client drops only Authorization, Cookie and
// WWW-Authenticate there: a 307 to another host received X-Api-Key (a
// security trial).
func withoutCredentials(req, first *nethttp.Request, sigHeader string) {
	req.Header.Del("Referer")
	if strings.EqualFold(req.URL.Host, first.URL.Host) {
		return
	}
	for name, vals := range req.Header {
		drop := credentialHeader.MatchString(name) || strings.EqualFold(name, sigHeader)
		for _, v := range vals {
			drop = drop || connectors.RedactSecrets(v) != v
		}
		if drop {
			req.Header.Del(name)
		}
	}
}

// job is one batch: its request bodies, or a Flush barrier.
type job struct {
	bodies  []request
	done    func(error)
	barrier chan struct{}
	size    int64 // taken from writer.queued
	// batch is the batch the bodies were encoded from, kept (the job
	// owns it) until done: a request the endpoint refuses is split
	// (413) or handed to the refusal handler row by row.
	batch *exec.Batch
}

type request struct {
	body []byte
	key  string // Idempotency-Key
	rows int
	// chunks are the rows the body holds, in its order: views of their
	// jobs' batches (not retained: the jobs own them).
	chunks []*exec.Batch
	// first and last are the __version range of the rows (hasVer false
	// when the batch has no __version column).
	first, last uint64
	hasVer      bool
}

type writer struct {
	c        *config
	client   *nethttp.Client
	pipeline string
	where    string
	fo       format.Options

	encMu sync.Mutex // guards enc
	enc   format.Encoder

	closeMu sync.RWMutex // Write holds it shared while it enqueues
	closed  bool

	jobs chan job
	// queued bounds the bytes of the requests waiting in jobs (Write
	// takes a job's size, run gives it back once the job is done).
	queued *semaphore.Weighted
	// peek is a job run took from jobs that did not fit the request it
	// was filling: the next one to send.
	peek   *job
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// closing is closed when Close begins: from then on a failed request
	// is not retried (post).
	closing chan struct{}
	// closingCtx ends when Close is called, before it waits for closeMu:
	// a Write that waits for room in a full queue (the endpoint down or
	// hung, its requests retried) gives up then. Before, that Write held
	// closeMu shared, Close waited for it, and it for the retries that
	// only closing stops: a stop's closing of the writers never ended
	// while the endpoint was down.
	closingCtx context.Context
	closingNow context.CancelFunc

	errMu sync.Mutex
	err   error // sticky: the first failed batch

	retries atomic.Int64 // requests that failed and were sent again

	// onRefused, when set (OnRefused, before the first Write), takes the
	// rows of a request the endpoint refused for the data's sake
	// (refusedError.rowsRefused): on_error = 'skip' or 'dead_letter'.
	onRefused func(ctx context.Context, b *exec.Batch, errs []exec.RowError) error
}

var (
	_ connectors.Writer     = (*writer)(nil)
	_ connectors.Retrier    = (*writer)(nil)
	_ connectors.RowRefuser = (*writer)(nil)
)

// Retries returns the requests that failed and were sent again
// (connectors.Retrier).
func (w *writer) Retries() int64 { return w.retries.Load() }

var errClosed = errors.New("http: write on a closed writer")

func (w *writer) failed() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

// Limits of the queue between Write and the sending goroutine: batches
// that wait there while a request is in flight go out together in the
// next request (gather).
const (
	maxQueuedJobs  = 1024
	maxQueuedBytes = 8 << 20
	// maxMergedBytes caps the body of a request that carries several
	// batches (one batch alone may be larger).
	maxMergedBytes = 1 << 20
)

// Write encodes b and queues its requests, keeping b until they are
// done; done is called after the last one got a 2xx (or its refused rows
// were handed to OnRefused's handler), or when it failed for good. On an
// error it returns, done is not called. Write blocks while 8 MiB of
// requests (or 1024 batches) wait to be sent.
func (w *writer) Write(ctx context.Context, b *exec.Batch, done func(error)) error {
	w.closeMu.RLock()
	defer w.closeMu.RUnlock()
	if w.closed {
		b.Release()
		return errClosed
	}
	if err := w.failed(); err != nil {
		b.Release()
		return err
	}
	reqs, err := w.encode(b)
	if err != nil {
		b.Release()
		return fmt.Errorf("%s: %w", w.where, err)
	}
	size := int64(0)
	for _, r := range reqs {
		size += int64(len(r.body))
	}
	size = min(max(size, 1), maxQueuedBytes)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(w.closingCtx, cancel)()
	if err := w.queued.Acquire(ctx, size); err != nil {
		b.Release()
		return w.closedOr(err)
	}
	select {
	case w.jobs <- job{bodies: reqs, done: done, size: size, batch: b}:
		return nil
	case <-ctx.Done():
		w.queued.Release(size)
		b.Release()
		return w.closedOr(ctx.Err())
	}
}

// closedOr is errClosed when Close was called (a Write it cut short),
// else err.
func (w *writer) closedOr(err error) error {
	if w.closingCtx.Err() != nil {
		return errClosed
	}
	return err
}

// encode splits b into requests of at most batch_rows rows.
func (w *writer) encode(b *exec.Batch) ([]request, error) {
	n := b.NumRows()
	if n == 0 {
		return nil, nil
	}
	per := w.c.batchRows
	if per <= 0 || per > n {
		per = n
	}
	sel := b.Sel
	if sel == nil {
		sel = make([]int32, n)
		for i := range sel {
			sel[i] = int32(i)
		}
	}
	var reqs []request
	for start := 0; start < n; start += per {
		end := min(start+per, n)
		// A chunk says of its source what the batch says (the formats
		// write it: Debezium's server_id, gtid and snapshot marks); the
		// batch's first and last snapshot rows are in its first and last
		// chunks.
		r, err := w.request([]*exec.Batch{chunkOf(b, sel, start, end)})
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
	}
	return reqs, nil
}

// chunkOf is the view of the rows sel[start:end] of b (sel: b's live
// rows, in order): a chunk says of its source what the batch says (the
// formats write it: Debezium's server_id, gtid and snapshot marks); the
// batch's first and last snapshot rows are in its first and last chunks.
func chunkOf(b *exec.Batch, sel []int32, start, end int) *exec.Batch {
	chunk := &exec.Batch{Record: b.Record, Sel: sel[start:end], DB: b.DB, Table: b.Table,
		Snapshot: b.Snapshot, ServerID: b.ServerID, GTID: b.GTID, Thread: b.Thread, EventRows: b.EventRows, Own: b.Own}
	if start == 0 {
		chunk.SnapshotStart = b.SnapshotStart
	}
	if end == len(sel) {
		chunk.SnapshotEnd = b.SnapshotEnd
	}
	return chunk
}

// request encodes chunks as one request: one chunk as its format writes
// it, several (JSON formats only) as their messages one after the other.
func (w *writer) request(chunks []*exec.Batch) (request, error) {
	r := request{chunks: chunks}
	if len(chunks) == 1 {
		w.encMu.Lock()
		body, err := w.body(chunks[0])
		w.encMu.Unlock()
		if err != nil {
			return request{}, err
		}
		r.body, r.rows = body, len(chunks[0].Sel)
		r.first, r.last, r.hasVer = versions(chunks[0])
		if r.hasVer {
			r.key = w.idempotencyKey(r.first, r.last)
		}
		return r, nil
	}
	parts := make([]request, len(chunks))
	for i, c := range chunks {
		p, err := w.request([]*exec.Batch{c})
		if err != nil {
			return request{}, err
		}
		parts[i] = p
	}
	return w.merge(parts), nil
}

func (w *writer) body(b *exec.Batch) ([]byte, error) {
	if me, ok := w.enc.(format.MessageEncoder); ok {
		if w.c.ndjson {
			return me.Encode(nil, b)
		}
		body := []byte{'['}
		err := me.Messages(b, func(msg []byte) error {
			if len(body) > 1 {
				body = append(body, ',')
			}
			body = append(body, msg...)
			return nil
		})
		return append(body, ']'), err
	}
	// csv and table: every body stands alone, with its header.
	enc, err := format.New(w.c.format, w.fo)
	if err != nil {
		return nil, err
	}
	return enc.Encode(nil, b)
}

func (w *writer) contentType() string {
	if _, ok := w.enc.(format.MessageEncoder); ok && !w.c.ndjson {
		return "application/json"
	}
	return w.enc.ContentType()
}

// versions returns the __version values of b's first and last live rows.
func versions(b *exec.Batch) (first, last uint64, ok bool) {
	idx := b.Record.Schema().FieldIndices(exec.SysVersion)
	if len(idx) == 0 || len(b.Sel) == 0 {
		return 0, 0, false
	}
	v, isU := b.Record.Column(idx[0]).(*array.Uint64)
	if !isU {
		return 0, 0, false
	}
	return v.Value(int(b.Sel[0])), v.Value(int(b.Sel[len(b.Sel)-1])), true
}

// idempotencyKey names the rows with __version first … last.
func (w *writer) idempotencyKey(first, last uint64) string {
	return w.pipeline + ":" + strconv.FormatUint(first, 10) + "-" + strconv.FormatUint(last, 10)
}

// run sends the queued jobs, one request at a time. Batches that waited
// while a request was in flight share the next request (gather).
func (w *writer) run() {
	defer w.wg.Done()
	for {
		j, ok := w.next()
		if !ok {
			return
		}
		if j.barrier != nil {
			close(j.barrier)
			continue
		}
		if err := w.failed(); err != nil {
			w.finish(j, fmt.Errorf("not sent: an earlier batch failed: %w", err))
			continue
		}
		group := w.gather(j)
		var err error
		d := &delivery{}
		if len(group) > 1 {
			reqs := make([]request, len(group))
			for i, g := range group {
				reqs[i] = g.bodies[0]
			}
			err = w.send(w.merge(reqs), d)
		} else {
			for _, r := range j.bodies {
				if err = w.send(r, d); err != nil {
					break
				}
			}
		}
		if err == nil {
			err = w.refuse(d)
		}
		if err != nil {
			w.errMu.Lock()
			if w.err == nil {
				w.err = err
			}
			w.errMu.Unlock()
		}
		for _, g := range group {
			w.finish(g, err)
		}
	}
}

// next returns the next job: the one gather kept back, else the queue's.
func (w *writer) next() (job, bool) {
	if w.peek != nil {
		j := *w.peek
		w.peek = nil
		return j, true
	}
	j, ok := <-w.jobs
	return j, ok
}

// finish acknowledges job j with err and frees its place in the queue.
func (w *writer) finish(j job, err error) {
	j.done(err)
	if j.batch != nil {
		j.batch.Release()
	}
	w.queued.Release(j.size)
}

// mergeable reports whether j is a single request of a JSON format, which
// can share a request with others.
func (w *writer) mergeable(j job) bool {
	if j.barrier != nil || len(j.bodies) != 1 || !j.bodies[0].hasVer {
		return false
	}
	_, ok := w.enc.(format.MessageEncoder)
	return ok
}

// gather returns j and the jobs queued behind it that fit one request
// with it: single requests of a JSON format, at most batch_rows rows (when
// set) and maxMergedBytes together. A job that does not fit is kept for
// next; nothing waits for more jobs to come.
func (w *writer) gather(j job) []job {
	group := []job{j}
	if !w.mergeable(j) {
		return group
	}
	rows, size := j.bodies[0].rows, len(j.bodies[0].body)
	for {
		var nj job
		select {
		case q, ok := <-w.jobs:
			if !ok {
				return group
			}
			nj = q
		default:
			return group
		}
		if !w.mergeable(nj) || (w.c.batchRows > 0 && rows+nj.bodies[0].rows > w.c.batchRows) ||
			size+len(nj.bodies[0].body) > maxMergedBytes {
			w.peek = &nj
			return group
		}
		rows += nj.bodies[0].rows
		size += len(nj.bodies[0].body)
		group = append(group, nj)
	}
}

// merge joins requests of a JSON format into one: the elements of the
// JSON arrays into one array, or the NDJSON lines one after the other.
func (w *writer) merge(reqs []request) request {
	out := request{hasVer: true}
	var body []byte
	if !w.c.ndjson {
		body = append(body, '[')
	}
	for n, r := range reqs {
		out.rows += r.rows
		out.chunks = append(out.chunks, r.chunks...)
		out.hasVer = out.hasVer && r.hasVer
		if n == 0 {
			out.first = r.first
		}
		out.last = r.last
		if w.c.ndjson {
			body = append(body, r.body...)
			continue
		}
		inner := bytes.TrimSpace(r.body)
		inner = inner[1 : len(inner)-1] // the array's elements
		if len(inner) == 0 {
			continue
		}
		if len(body) > 1 {
			body = append(body, ',')
		}
		body = append(body, inner...)
	}
	if !w.c.ndjson {
		body = append(body, ']')
	}
	out.body = body
	if out.hasVer {
		out.key = w.idempotencyKey(out.first, out.last)
	}
	return out
}

// post sends one request, retrying what can be retried.
func (w *writer) post(r request) error {
	backoff := w.c.retryBackoff
	for attempt := 0; ; attempt++ {
		retryAfter, retry, err := w.try(r)
		if err == nil {
			return nil
		}
		if !retry || w.c.retryMax >= 0 && attempt >= w.c.retryMax {
			if retry {
				return fmt.Errorf("%w (gave up after %d retries)", err, attempt)
			}
			return err
		}
		select {
		case <-w.closing:
			// Closed: no retry (its wait, and the requests after it,
			// would hold Close up to its timeout with nothing in flight).
			return fmt.Errorf("%w (writer closed: not retried)", err)
		default:
		}
		w.retries.Add(1)
		wait := backoff/2 + rand.N(backoff/2+1) // jitter: [backoff/2, backoff]
		if retryAfter > 0 {
			wait = min(retryAfter, maxRetryAfter)
		}
		// Each retry is logged: while the endpoint fails, the pipeline's
		// rows wait here, and its lag grows. Without retry_max, an outage
		// that outlasts RetryWarnings retries is logged at ERROR from then
		// on: the run waits for the endpoint, as for a ClickHouse down.
		if w.c.retryMax >= 0 {
			slog.Warn("http: request failed, retrying", "pipeline", w.pipeline,
				"attempt", attempt+1, "of", w.c.retryMax, "in", wait.Round(time.Millisecond), "error", err)
		} else if attempt < RetryWarnings {
			slog.Warn("http: request failed, retrying", "pipeline", w.pipeline,
				"attempt", attempt+1, "in", wait.Round(time.Millisecond), "error", err)
		} else {
			slog.Error("http: request still failing, retrying until the endpoint takes it (set retry_max to give up instead)", "pipeline", w.pipeline,
				"attempt", attempt+1, "in", wait.Round(time.Millisecond), "error", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-w.closing:
			t.Stop()
			return fmt.Errorf("%w (writer closed while retrying)", err)
		}
		backoff = min(backoff*2, w.c.retryBackoffMax)
	}
}

// try sends r once. It reports whether a failure may be retried and how
// long the server asked to wait.
func (w *writer) try(r request) (retryAfter time.Duration, retry bool, err error) {
	ctx, cancel := context.WithTimeout(w.ctx, w.c.timeout)
	defer cancel()
	req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodPost, w.c.url.String(), bytes.NewReader(r.body))
	if err != nil {
		return 0, false, fmt.Errorf("%s: bad request", w.where)
	}
	req.Header.Set("Content-Type", w.contentType())
	req.Header.Set("User-Agent", "etlq")
	if r.key != "" {
		req.Header.Set("Idempotency-Key", r.key)
	}
	for _, h := range w.c.headers {
		req.Header.Add(h[0], h[1])
	}
	if w.c.signSecret != nil {
		req.Header.Set(w.c.sigHeader, Sign(w.c.signSecret, r.body, time.Now()))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		if w.ctx.Err() != nil {
			return 0, false, fmt.Errorf("%s: writer closed", w.where)
		}
		// The error text may hold the full URL: keep only its kind.
		if certError(err) || notTLS(err) {
			return 0, false, fmt.Errorf("%s: TLS: %s", w.where, w.c.explainTLS(err, connError(err)))
		}
		return 0, true, fmt.Errorf("%s: %s", w.where, connError(err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // reuse the connection
	answer := answerText(msg)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, false, nil
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		// Not followed (noMethodChange): the body would be lost.
		to := "another URL"
		if loc, lerr := resp.Location(); lerr == nil {
			to = redact(loc.String())
		}
		if loc, lerr := resp.Location(); lerr == nil && w.c.url.Scheme == "https" && loc.Scheme != "https" {
			return 0, false, &refusedError{
				err:    fmt.Errorf("%s: %s: redirected to %s, plain http, which would send the rows and the credentials in clear: not followed", w.where, resp.Status, to),
				status: resp.StatusCode, reason: resp.Status + ": redirected from https to " + to,
				fix: "fix the endpoint's redirect, or give the pipeline the URL it redirects to if plain http is meant, then run apply again: the batch is sent again",
			}
		}
		// The pipeline's URL is wrong, as for a 404: the pipeline's own
		// error, which stops it alone (it stopped every pipeline of the
		// source, the ClickHouse ones too).
		return 0, false, &refusedError{
			err:    fmt.Errorf("%s: %s: redirected to %s, which would take the POST as a GET without its body; give the pipeline the new URL", w.where, resp.Status, to),
			status: resp.StatusCode, reason: resp.Status + ": redirected to " + to,
			fix: "give the pipeline the URL the endpoint redirects to (or have the endpoint answer 307 or 308, which keep the POST and its body), then run apply again: the batch is sent again",
		}
	}
	err = fmt.Errorf("%s: %s: %s", w.where, resp.Status, answer)
	switch {
	case resp.StatusCode == nethttp.StatusTooManyRequests, resp.StatusCode == nethttp.StatusRequestTimeout,
		resp.StatusCode >= 500:
		return parseRetryAfter(resp.Header.Get("Retry-After")), true, err
	case resp.StatusCode >= 400:
		return 0, false, &refusedError{err: err, status: resp.StatusCode, reason: resp.Status + ": " + answer}
	}
	return 0, false, err
}

// refusedError is a request the endpoint refused with a 4xx that no retry
// changes (400, 401, 404, 422, …), or redirected with a 301, 302 or 303
// that would drop its body: the pipeline's own error
// (connectors.DataError), which stops that pipeline alone while the other
// pipelines of its source go on, as a row ClickHouse refuses does.
type refusedError struct {
	err    error
	status int
	reason string // the status and the endpoint's answer, shortened
	fix    string // how to resume, when not the usual (a redirect's)
}

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// DataError marks it as the pipeline's own (connectors.DataError).
func (e *refusedError) DataError() {}

// Fix says how the stopped pipeline resumes (connectors.DataErrorFix).
func (e *refusedError) Fix() string {
	if e.fix != "" {
		return e.fix
	}
	return "fix what the endpoint refused (the pipeline's WHERE or TRANSFORM, its FORMAT or headers, or the endpoint itself), then run apply again: the refused batch is sent again"
}

// connError describes a transport error without the URL it names.
func connError(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	// A TLS alert from the server (a client certificate it requires, say)
	// reaches net/http's read loop after the handshake, wrapped in its
	// own words ("readLoopPeekFailLocked: …"): the alert is what counts.
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "remote error" {
		return oe.Error()
	}
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && ue.Unwrap() != nil {
		return ue.Unwrap().Error()
	}
	return "connection failed"
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := nethttp.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// Flush returns once every earlier Write has called done (or ctx ends).
func (w *writer) Flush(ctx context.Context) error {
	w.closeMu.RLock()
	if w.closed {
		w.closeMu.RUnlock()
		return w.failed()
	}
	barrier := make(chan struct{})
	select {
	case w.jobs <- job{barrier: barrier}:
	case <-ctx.Done():
		w.closeMu.RUnlock()
		return ctx.Err()
	case <-w.closingCtx.Done():
		w.closeMu.RUnlock()
		return errClosed
	}
	w.closeMu.RUnlock()
	select {
	case <-barrier:
		return w.failed()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close sends what is queued, without retrying a request that fails (the
// retries of an endpoint that is down may not end by themselves: retry_max
// unset), and waits at most one request timeout for a request in flight;
// what was not sent fails, unacknowledged, for the next run to send again.
// With nothing in flight it returns at once: before, a retry's back-off
// and the retries after it held it a whole request timeout (10 minutes
// with timeout = '10m') while the endpoint was down. It is idempotent.
func (w *writer) Close() error {
	w.closingNow() // (a Write waiting for room lets go of closeMu)
	w.closeMu.Lock()
	if w.closed {
		w.closeMu.Unlock()
		return nil
	}
	w.closed = true
	close(w.closing)
	close(w.jobs) // no Write holds closeMu, so none is sending
	w.closeMu.Unlock()
	sent := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(sent)
	}()
	t := time.NewTimer(w.c.timeout)
	select {
	case <-sent:
	case <-t.C:
		w.cancel()
		<-sent
	}
	t.Stop()
	w.cancel()
	return w.failed()
}
