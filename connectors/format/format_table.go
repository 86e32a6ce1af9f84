package format

import (
	"strings"
	"unicode/utf8"

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

// tableEncoder writes an aligned text table, psql style: the op column
// ("_op", unless a user column has that name) then the user columns, a
// header once per schema, numbers right-aligned, NULL as NULL, binary as
// 0x… hex. Column widths come from the first batch of a schema and only
// grow. With Options.Color the op is green (insert), yellow (update) or red
// (delete).
type tableEncoder struct {
	opts   Options
	lc     layoutCache
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
	l, changed := e.lc.get(r.Schema())
	extraOp := l.opUser < 0
	ncols := len(l.user)
	if extraOp {
		ncols++
	}
	var header []string
	if changed || e.widths == nil {
		header = make([]string, 0, ncols)
		e.right = e.right[:0]
		if extraOp {
			header = append(header, exec.ColOp)
			e.right = append(e.right, false)
		}
		for k, c := range l.user {
			header = append(header, l.names[k])
			e.right = append(e.right, isNumeric(r.Schema().Field(c).Type))
		}
		e.widths = make([]int, ncols)
		for j, h := range header {
			e.widths[j] = cellWidth(h)
		}
	}
	// Render every cell first, to size the columns.
	e.cells = e.cells[:0]
	ops := make([]string, 0, b.NumRows())
	err := liveRows(b, func(i int) error {
		op := l.opAt(r, i)
		ops = append(ops, op)
		if extraOp {
			e.cells = append(e.cells, op)
		}
		for _, c := range l.user {
			a := r.Column(c)
			if a.IsNull(i) {
				e.cells = append(e.cells, "NULL")
				continue
			}
			var err error
			e.buf, err = appendText(e.buf[:0], a, i, textHuman)
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
		}
	}
	if header != nil {
		if e.shown {
			dst = append(dst, '\n')
		}
		e.shown = true
		dst = e.appendRow(dst, header, "", -1, false)
		for j, w := range e.widths {
			if j > 0 {
				dst = append(dst, '+')
			}
			dst = append(dst, strings.Repeat("-", w+2)...)
		}
		dst = append(dst, '\n')
	}
	opCol := 0
	if !extraOp {
		opCol = l.opUser
	}
	for row := 0; row*ncols < len(e.cells); row++ {
		dst = e.appendRow(dst, e.cells[row*ncols:(row+1)*ncols], ops[row], opCol, true)
	}
	return dst, nil
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

func cellWidth(s string) int { return utf8.RuneCountInString(s) }

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

func clip(s string) string {
	if cellWidth(s) <= maxCellWidth {
		return s
	}
	n := 0
	for i := range s {
		if n == maxCellWidth-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}
