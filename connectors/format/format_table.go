package format

import (
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/exec"
)

// maxCellWidth caps a table cell; longer values end with "…".
const maxCellWidth = 60

// ANSI colours of the op column.
const (
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[31m"
	ansiReset  = "\x1b[0m"
)

// tableEncoder writes an aligned text table, psql style: the output
// columns, then the columns the mode adds (see the package doc; with
// Options.OpColumn the op first), numbers right-aligned, NULL as NULL,
// binary as 0x… hex. A header is written once per schema. Column widths
// stay the same from batch to batch, so that rows line up under their
// header: they start from the width every value of the column's type fits
// in (bool, dates and timestamps, integers up to 32 bits, decimals), else
// from the first batch; a later value wider than its column widens it, and
// the header is written again (after a blank line) above the rows that
// need it. With Options.Color the _op column is green (insert), yellow
// (update) or red (delete).
type tableEncoder struct {
	opts   Options
	lc     layoutCache
	header []string
	widths []int
	right  []bool
	shown  bool // a header has been written
	cells  []string
	buf    []byte
}

var _ Encoder = (*tableEncoder)(nil)

func (e *tableEncoder) ContentType() string { return "text/plain; charset=utf-8" }

func (e *tableEncoder) Encode(dst []byte, b *exec.Batch) ([]byte, error) {
	if b.Record == nil || b.NumRows() == 0 {
		return dst, nil
	}
	r := b.Record
	l, changed := e.lc.get(r.Schema(), &e.opts)
	ncols := len(l.rows)
	newHeader := changed || e.widths == nil
	if newHeader {
		e.header = e.header[:0]
		e.right = e.right[:0]
		e.widths = e.widths[:0]
		for _, c := range l.rows {
			f := r.Schema().Field(c.col)
			e.header = append(e.header, c.name)
			e.right = append(e.right, isNumeric(f.Type))
			e.widths = append(e.widths, max(cellWidth(c.name), typeWidth(f, c.name)))
		}
	}
	// Render every cell first, to size the columns.
	e.cells = e.cells[:0]
	ops := make([]string, 0, b.NumRows())
	err := liveRows(b, func(i int) error {
		ops = append(ops, l.opAt(r, i))
		for _, c := range l.rows {
			a := r.Column(c.col)
			if a.IsNull(i) {
				e.cells = append(e.cells, "NULL")
				continue
			}
			var err error
			e.buf, err = appendColumnText(e.buf[:0], a, i, textHuman, -1, c.logical)
			if err != nil {
				return err
			}
			e.cells = append(e.cells, clip(sanitize(string(e.buf))))
		}
		return nil
	})
	if err != nil {
		return dst, err
	}
	for j, c := range e.cells {
		if w := cellWidth(c); w > e.widths[j%ncols] {
			e.widths[j%ncols] = w
			newHeader = true
		}
	}
	if newHeader {
		if e.shown {
			dst = append(dst, '\n')
		}
		e.shown = true
		dst = e.appendRow(dst, e.header, "", -1, false)
		for j, w := range e.widths {
			if j > 0 {
				dst = append(dst, '+')
			}
			dst = append(dst, strings.Repeat("-", w+2)...)
		}
		dst = append(dst, '\n')
	}
	for row := 0; row*ncols < len(e.cells); row++ {
		dst = e.appendRow(dst, e.cells[row*ncols:(row+1)*ncols], ops[row], l.opRow, true)
	}
	return dst, nil
}

// typeWidth is the width every value of field f fits in, when its type
// bounds it (0 otherwise: the values decide).
func typeWidth(f arrow.Field, name string) int {
	if name == exec.ColOp {
		return len(exec.OpInsert) // every op has 4 or 6 letters
	}
	switch t := f.Type.(type) {
	case *arrow.BooleanType:
		return len("false")
	case *arrow.Int8Type:
		return len("-128")
	case *arrow.Int16Type:
		return len("-32768")
	case *arrow.Int32Type:
		return len("-2147483648")
	case *arrow.Uint8Type:
		return len("255")
	case *arrow.Uint16Type:
		return len("65535")
	case *arrow.Uint32Type:
		return len("4294967295")
	case *arrow.Date32Type, *arrow.Date64Type:
		return len("2006-01-02")
	case *arrow.TimestampType:
		if st := sourceType(f); st != "" && !strings.Contains(st, "(") {
			return len("2006-01-02 15:04:05") // DATETIME(0), TIMESTAMP(0)
		}
		return len("2006-01-02 15:04:05.000000")
	case *arrow.Decimal128Type:
		return decimalWidth(t.Precision, t.Scale)
	case *arrow.Decimal256Type:
		return decimalWidth(t.Precision, t.Scale)
	}
	return 0
}

// decimalWidth is the width of the longest DECIMAL(p,s) text: a sign, the
// digits and the point; 0 (the values decide) beyond a cell's width.
func decimalWidth(p, s int32) int {
	w := int(p) + 1
	if s > 0 {
		w++
	}
	if w > maxCellWidth {
		return 0
	}
	return w
}

func (e *tableEncoder) appendRow(dst []byte, cells []string, op string, opCol int, body bool) []byte {
	for j, c := range cells {
		if j > 0 {
			dst = append(dst, '|')
		}
		dst = append(dst, ' ')
		pad := e.widths[j] - cellWidth(c)
		color := ""
		if body && j == opCol && e.opts.Color {
			color = opColor(op)
		}
		if color != "" {
			dst = append(dst, color...)
		}
		if body && e.right[j] {
			dst = append(dst, strings.Repeat(" ", pad)...)
			dst = append(dst, c...)
		} else {
			dst = append(dst, c...)
			if j < len(cells)-1 || color != "" {
				dst = append(dst, strings.Repeat(" ", pad)...)
			}
		}
		if color != "" {
			dst = append(dst, ansiReset...)
		}
		if j < len(cells)-1 {
			dst = append(dst, ' ')
		}
	}
	return append(dst, '\n')
}

func opColor(op string) string {
	switch op {
	case exec.OpInsert:
		return ansiGreen
	case exec.OpUpdate:
		return ansiYellow
	case exec.OpDelete:
		return ansiRed
	}
	return ""
}

func isNumeric(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64,
		arrow.DECIMAL32, arrow.DECIMAL64, arrow.DECIMAL128, arrow.DECIMAL256:
		return true
	}
	return false
}

// cellWidth is the number of terminal columns s takes (exec.TextWidth).
func cellWidth(s string) int { return exec.TextWidth(s) }

// sanitize keeps a cell on one line: control characters become escapes.
func sanitize(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return s
	}
	var sb strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\r':
			sb.WriteString(`\r`)
		case r == '\t':
			sb.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			sb.WriteString(`\x`)
			sb.WriteByte(hexDigits[r>>4])
			sb.WriteByte(hexDigits[r&0xf])
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// clip ends a value wider than maxCellWidth columns with "…", within them.
func clip(s string) string {
	return exec.TextClip(s, maxCellWidth, "…")
}
