package format

import (
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/exec"
)

// csvEncoder writes RFC 4180 CSV: CRLF line ends, a header line (the
// output columns, then the columns the mode adds) once per set of columns (Header: before any row), fields
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
	header  []string // the columns of the last header line written (or skipped)
	buf     []byte
}

var (
	_ Encoder      = (*csvEncoder)(nil)
	_ HeaderWriter = (*csvEncoder)(nil)
)

// Header appends the header line of a stream whose batches have schema s
// (a sink batch schema), as the first Encode would: a file target writes
// it when it creates the file, so that a file no row reached still names
// its columns. The batches that follow with the same columns write none.
func (e *csvEncoder) Header(dst []byte, s *arrow.Schema) []byte {
	l, _ := e.lc.get(s, &e.opts)
	return e.writeHeader(dst, l)
}

// writeHeader appends l's header line, unless the line written last (or,
// before the first, the file's last: AppendAfterHeader) names the same
// columns.
func (e *csvEncoder) writeHeader(dst []byte, l *layout) []byte {
	if !e.started && e.opts.AppendAfterHeader != nil {
		e.started = true
		e.header = append(e.header[:0], e.opts.AppendAfterHeader...)
	}
	same := e.started && len(e.header) == len(l.rows)
	for j := 0; same && j < len(l.rows); j++ {
		same = e.header[j] == l.rows[j].name
	}
	e.started = true
	if same {
		return dst
	}
	e.header = e.header[:0]
	for _, c := range l.rows {
		e.header = append(e.header, c.name)
	}
	for j, c := range l.rows {
		if j > 0 {
			dst = append(dst, ',')
		}
		dst = appendCSVField(dst, c.name)
	}
	return append(dst, '\r', '\n')
}

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
		dst = e.writeHeader(dst, l)
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
			e.buf, err = appendColumnText(e.buf[:0], a, i, textBase64, e.fsp[j], c.logical)
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
