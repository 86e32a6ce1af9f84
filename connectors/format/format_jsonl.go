package format

import (
	"github.com/etlq/etlq/exec"
)

// jsonlEncoder writes one JSON object per row: the user columns, then "_op"
// (unless a user column has that name). Integers of any size are JSON
// numbers (exact in the text), floats are numbers ("NaN"/"Infinity" as
// strings), DECIMAL is a string of the exact text, timestamps are RFC 3339
// strings with microseconds in UTC, DATE is "2006-01-02", TIME is
// "[-]HH:MM:SS[.ffffff]", binary is base64, and a JSON column is embedded
// as JSON when it is valid.
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
	l, _ := e.lc.get(b.Record.Schema())
	r := b.Record
	return liveRows(b, func(i int) error {
		buf := append(e.buf[:0], '{')
		var err error
		for k, c := range l.user {
			if k > 0 {
				buf = append(buf, ',')
			}
			buf, err = appendJSONColumn(buf, l, r, k, c, i, false)
			if err != nil {
				return err
			}
		}
		if l.opUser < 0 {
			if len(l.user) > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `"_op":`...)
			buf = appendJSONString(buf, l.opAt(r, i))
		}
		buf = append(buf, '}')
		e.buf = buf
		return fn(buf)
	})
}
