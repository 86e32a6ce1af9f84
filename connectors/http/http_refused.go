package http

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	nethttp "net/http"
	"strings"
	"unicode/utf8"

	"github.com/etlq/etlq/exec"
)

// maxAnswer is the most of an endpoint's answer to a failed request kept
// in an error or a dead letter's reason.
const maxAnswer = 512

// answerText is an endpoint's answer (at most maxAnswer+1 bytes read) as
// one line of text: trimmed, cut at maxAnswer bytes (on a rune boundary)
// with "…" when it was longer.
func answerText(msg []byte) string {
	cut := len(msg) > maxAnswer
	if cut {
		msg = msg[:maxAnswer]
		for len(msg) > 0 && !utf8.Valid(msg[len(msg)-min(len(msg), utf8.UTFMax):]) {
			msg = msg[:len(msg)-1]
		}
	}
	s := strings.Join(strings.Fields(string(bytes.ToValidUTF8(msg, []byte("?")))), " ")
	if cut {
		s += " …"
	}
	return s
}

// rowsRefused reports whether the status refuses the request's rows
// themselves, which on_error = 'skip' or 'dead_letter' then takes: 400
// Bad Request, 409 Conflict, 413 Content Too Large (of a single row:
// send splits larger requests first) and 422 Unprocessable Content. The
// other 4xx (401, 403, 404, 405, 415, …) say the endpoint or the
// pipeline's URL, credentials or FORMAT is wrong: every row would be
// refused, so they stop the pipeline whatever on_error says.
func (e *refusedError) rowsRefused() bool {
	switch e.status {
	case nethttp.StatusBadRequest, nethttp.StatusConflict, nethttp.StatusRequestEntityTooLarge,
		nethttp.StatusUnprocessableEntity:
		return true
	}
	return false
}

// OnRefused sets the handler of the rows of a request the endpoint
// refuses for the data's sake (connectors.RowRefuser): under on_error =
// 'skip' or 'dead_letter' the runtime's, which counts them and writes
// their dead letters. It is called before the first Write.
func (w *writer) OnRefused(handle func(ctx context.Context, b *exec.Batch, errs []exec.RowError) error) {
	w.onRefused = handle
}

// delivery is the state of sending one job's requests (one batch's, or
// the batches' that shared a request): the rows refused so far, handed
// over once every request is done, and the requests bisect sent.
type delivery struct {
	refused []refusal
	extra   int // requests bisect sent (bisect_max caps them)
	// unproven counts the rows set aside together past bisect_max: the
	// endpoint refused their request, not each of them alone.
	unproven int
}

// refusal is rows the endpoint refused: chunks, views of their batches,
// with the reason each of their rows gets.
type refusal struct {
	chunks []*exec.Batch
	rows   int
	reason string
	err    *refusedError
}

// send delivers r (post). A request of several rows refused with 413 is
// split in halves, each sent in turn, down to single rows (in every
// mode). A request refused for its rows (rowsRefused) with a refusal
// handler (on_error = 'skip' or 'dead_letter'): a single row is kept in
// d for the handler; a request of several rows is bisected (sent again
// in halves, a refused half in halves again, down to the rows the
// endpoint refuses alone), so that one bad row does not take the good
// rows that shared its request with it, and the rows the endpoint takes
// still reach it in order. The request then counts as delivered.
// Without a handler (on_error = 'fail') the refusal is the error: nothing
// is sent again.
func (w *writer) send(r request, d *delivery) error { return w.sendSplit(r, d, 0) }

// sendSplit is send of a request split depth times for a 413.
func (w *writer) sendSplit(r request, d *delivery, depth int) error {
	err := w.post(r)
	var re *refusedError
	if err == nil || !errors.As(err, &re) {
		return err
	}
	if re.status == nethttp.StatusRequestEntityTooLarge && r.rows > 1 {
		halves, serr := w.split(r)
		if serr != nil {
			return fmt.Errorf("%w (splitting it: %v)", err, serr)
		}
		if depth == 0 {
			slog.Warn("http: the endpoint refused a request as too large (413); sending it in halves, down to single rows", "pipeline", w.pipeline,
				"rows", r.rows, "bytes", len(r.body))
		}
		for _, h := range halves {
			if err := w.sendSplit(h, d, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if w.onRefused == nil || !re.rowsRefused() {
		return err
	}
	if r.rows == 1 {
		d.refused = append(d.refused, refusal{chunks: r.chunks, rows: 1, reason: "the endpoint refused the row: " + re.reason, err: re})
		return nil
	}
	if d.extra+2 > w.c.bisectMax {
		d.unproven += r.rows
		d.refused = append(d.refused, refusal{chunks: r.chunks, rows: r.rows, err: re, reason: fmt.Sprintf(
			"the endpoint refused the request of this row and %d others: %s (not sent again in smaller requests to find the rows it refuses: "+
				"the batch had already sent %d requests again for that, and bisect_max = %d)", r.rows-1, re.reason, d.extra, w.c.bisectMax)})
		return nil
	}
	halves, serr := w.split(r)
	if serr != nil {
		return fmt.Errorf("%w (splitting it: %v)", err, serr)
	}
	if d.extra == 0 {
		slog.Warn("http: the endpoint refused a request of several rows; sending it again in halves to find the rows it refuses (on_error)", "pipeline", w.pipeline,
			"rows", r.rows, "status", re.status)
	}
	d.extra += len(halves)
	for _, h := range halves {
		if err := w.sendSplit(h, d, 0); err != nil {
			return err
		}
	}
	return nil
}

// split returns r's rows as two requests, the first half and the rest.
func (w *writer) split(r request) ([]request, error) {
	half := r.rows / 2
	var a, b []*exec.Batch
	seen := 0
	for _, c := range r.chunks {
		n := len(c.Sel)
		switch {
		case seen+n <= half:
			a = append(a, c)
		case seen >= half:
			b = append(b, c)
		default:
			k := half - seen
			a = append(a, chunkOf(c, c.Sel, 0, k))
			b = append(b, chunkOf(c, c.Sel, k, n))
		}
		seen += n
	}
	var out []request
	for _, cs := range [][]*exec.Batch{a, b} {
		h, err := w.request(cs)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// refuse hands the refused rows (d.refused, in order) to the refusal
// handler, one call per batch they come from, once the job's requests
// are all done: a job that fails later is sent again whole by the next
// run, which must not find its refused rows dead-lettered already.
func (w *writer) refuse(d *delivery) error {
	if d.unproven > 0 {
		alone := 0
		for _, r := range d.refused {
			if r.rows == 1 && !strings.HasPrefix(r.reason, "the endpoint refused the request of") {
				alone++
			}
		}
		slog.Warn("http: bisect_max reached: rows of refused requests were set aside (on_error) without being refused alone, good rows may be among them; raise bisect_max to find the refused rows alone", "pipeline", w.pipeline,
			"rows_not_refused_alone", d.unproven, "rows_refused_alone", alone, "sent_again", d.extra, "bisect_max", w.c.bisectMax)
	}
	type row struct {
		chunk *exec.Batch
		r     *refusal
	}
	var chunks []row
	for i := range d.refused {
		for _, c := range d.refused[i].chunks {
			chunks = append(chunks, row{c, &d.refused[i]})
		}
	}
	for i := 0; i < len(chunks); {
		// Chunks of one batch share its record (split, merge keep their
		// order): one call for them.
		c := chunks[i].chunk
		first := chunks[i].r
		var errs []exec.RowError
		var sel []int32
		for ; i < len(chunks) && chunks[i].chunk.Record == c.Record; i++ {
			for _, r := range chunks[i].chunk.Sel {
				errs = append(errs, exec.RowError{Row: int(r), Reason: chunks[i].r.reason})
				sel = append(sel, r)
			}
		}
		b := *c
		b.Sel = sel
		if err := w.onRefused(w.ctx, &b, errs); err != nil {
			// (Not the data's error: the dead-letter target's.)
			return fmt.Errorf("%s; the %d rows it refused could not be set aside (on_error): %w", first.err.Error(), len(errs), err)
		}
	}
	return nil
}
