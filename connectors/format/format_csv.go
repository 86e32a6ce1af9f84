package format

import (
	"strings"

	"github.com/etlq/etlq/exec"
)

// csvEncoder writes RFC 4180 CSV: CRLF line ends, a header line (the user
// columns, then "_op" unless a user column has that name) once per schema,
// fields quoted when they hold a comma, quote, CR or LF. NULL is an empty
// unquoted field and the empty string is "" (quoted), so the two stay
// apart. Values are written as by the table format, binary as base64,
// except that a MySQL DATETIME(n)/TIMESTAMP(n)/TIME(n) column keeps its n
// fractional digits, as CAST(col AS CHAR) shows it.
type csvEncoder struct {
	opts    Options
	lc      layoutCache
	fsp     []int // per user column, sourceFSP of its field
	started bool
	buf     []byte
}

var _ Encoder = (*csvEncoder)(nil)

func (e *csvEncoder) ContentType() string { return "text/csv; charset=utf-8; header=present" }

func (e *csvEncoder) Encode(dst []byte, b *exec.Batch) ([]byte, error) {
	if b.Record == nil {
		return dst, nil
	}
	r := b.Record
	l, changed := e.lc.get(r.Schema())
	if changed || e.fsp == nil {
		e.fsp = e.fsp[:0]
		for _, c := range l.user {
			e.fsp = append(e.fsp, sourceFSP(r.Schema().Field(c)))
		}
	}
	if changed || !e.started {
		skip := !e.started && e.opts.SkipFirstHeader
		e.started = true
		if !skip {
			for k, n := range l.names {
				if k > 0 {
					dst = append(dst, ',')
				}
				dst = appendCSVField(dst, n)
			}
			if l.opUser < 0 {
				if len(l.names) > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, exec.ColOp...)
			}
			dst = append(dst, '\r', '\n')
		}
	}
	err := liveRows(b, func(i int) error {
		for k, c := range l.user {
			if k > 0 {
				dst = append(dst, ',')
			}
			a := r.Column(c)
			if a.IsNull(i) {
				continue
			}
			var err error
			e.buf, err = appendTextFSP(e.buf[:0], a, i, textBase64, e.fsp[k])
			if err != nil {
				return err
			}
			dst = appendCSVField(dst, string(e.buf))
		}
		if l.opUser < 0 {
			if len(l.user) > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, l.opAt(r, i)...)
		}
		dst = append(dst, '\r', '\n')
		return nil
	})
	return dst, err
}

func appendCSVField(dst []byte, s string) []byte {
	if s != "" && !strings.ContainsAny(s, ",\"\r\n") {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}
