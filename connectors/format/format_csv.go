package format

import (
	"strings"

	"github.com/etlq/etlq/exec"
)

// csvEncoder writes RFC 4180 CSV: CRLF line ends, a header line (the
// output columns, then the columns the mode adds) once per schema, fields
// quoted when they hold a comma, quote, CR or LF. NULL is an empty unquoted
// field and the empty string is "" (quoted), so the two stay apart. Values
// are written as by the table format, binary as base64, except that a MySQL
// DATETIME(n)/TIMESTAMP(n)/TIME(n) column keeps its n fractional digits, as
// CAST(col AS CHAR) shows it.
type csvEncoder struct {
	opts    Options
	lc      layoutCache
	fsp     []int // per written column, sourceFSP of its field
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
	l, changed := e.lc.get(r.Schema(), &e.opts)
	if changed || e.fsp == nil {
		e.fsp = e.fsp[:0]
		for _, c := range l.rows {
			e.fsp = append(e.fsp, sourceFSP(r.Schema().Field(c.col)))
		}
	}
	if changed || !e.started {
		skip := !e.started && e.opts.SkipFirstHeader
		e.started = true
		if !skip {
			for j, c := range l.rows {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = appendCSVField(dst, c.name)
			}
			dst = append(dst, '\r', '\n')
		}
	}
	err := liveRows(b, func(i int) error {
		for j, c := range l.rows {
			if j > 0 {
				dst = append(dst, ',')
			}
			a := r.Column(c.col)
			if a.IsNull(i) {
				continue
			}
			var err error
			e.buf, err = appendTextFSP(e.buf[:0], a, i, textBase64, e.fsp[j])
			if err != nil {
				return err
			}
			dst = appendCSVField(dst, string(e.buf))
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
