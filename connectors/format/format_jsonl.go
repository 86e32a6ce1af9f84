package format

import (
	"github.com/etlq/etlq/exec"
)

// jsonlEncoder writes one JSON object per row: the output columns, then
// the columns the mode adds (see the package doc). Integers of any size are
// JSON numbers (exact in the text), floats are numbers ("NaN"/"Infinity" as
// strings), DECIMAL is a string of the exact text, timestamps are RFC 3339
// strings with microseconds in UTC, DATE is "2006-01-02", TIME is
// "[-]HH:MM:SS[.ffffff]", binary is base64, and a JSON column is a string
// of its text: a document that is JSON null is "null", SQL NULL null.
type jsonlEncoder struct {
	opts Options
	lc   layoutCache
	buf  []byte
}

var _ MessageEncoder = (*jsonlEncoder)(nil)

func (e *jsonlEncoder) ContentType() string { return "application/x-ndjson" }

func (e *jsonlEncoder) Encode(dst []byte, b *exec.Batch) ([]byte, error) {
	err := e.Messages(b, func(msg []byte) error {
		dst = append(dst, msg...)
		dst = append(dst, '\n')
		return nil
	})
	return dst, err
}

func (e *jsonlEncoder) Messages(b *exec.Batch, fn func(msg []byte) error) error {
	if b.Record == nil {
		return nil
	}
	l, _ := e.lc.get(b.Record.Schema(), &e.opts)
	r := b.Record
	return liveRows(b, func(i int) error {
		buf := append(e.buf[:0], '{')
		for j, c := range l.rows {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, c.key...)
			a := r.Column(c.col)
			if a.IsNull(i) {
				buf = append(buf, "null"...)
				continue
			}
			var err error
			if buf, err = appendJSON(buf, a, i, false, c.embed); err != nil {
				return &columnError{c.name, err}
			}
		}
		buf = append(buf, '}')
		e.buf = buf
		return fn(buf)
	})
}
