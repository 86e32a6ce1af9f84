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

// send delivers r (post). A request of several rows refused with 413 is
// split in halves, each sent in turn, down to single rows. A request
// refused for its rows (rowsRefused) goes to the refusal handler when
// there is one (on_error = 'skip' or 'dead_letter'): the request then
// counts as delivered once the handler has its rows.
func (w *writer) send(r request) error { return w.sendSplit(r, 0) }

// sendSplit is send of a request split depth times.
func (w *writer) sendSplit(r request, depth int) error {
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
			if err := w.sendSplit(h, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if w.onRefused == nil || !re.rowsRefused() {
		return err
	}
	return w.refuse(r, re)
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

// refuse hands the rows of r, which the endpoint refused (re), to the
// refusal handler, one call per batch they come from.
func (w *writer) refuse(r request, re *refusedError) error {
	reason := "the endpoint refused the request: " + re.reason
	for i := 0; i < len(r.chunks); {
		// Chunks of one batch share its record (split, merge keep their
		// order): one call for them.
		c := r.chunks[i]
		var errs []exec.RowError
		var sel []int32
		for ; i < len(r.chunks) && r.chunks[i].Record == c.Record; i++ {
			for _, row := range r.chunks[i].Sel {
				errs = append(errs, exec.RowError{Row: int(row), Reason: reason})
				sel = append(sel, row)
			}
		}
		b := *c
		b.Sel = sel
		if err := w.onRefused(w.ctx, &b, errs); err != nil {
			// (Not the data's error: the dead-letter target's.)
			return fmt.Errorf("%s; the %d rows it refused could not be set aside (on_error): %w", re.Error(), len(errs), err)
		}
	}
	return nil
}
