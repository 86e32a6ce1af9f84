package mysql

import (
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// batchBuilder accumulates the change rows of one table (one schema
// version): the table (and before.*) columns in Arrow builders, the
// metadata as runs (meta.go).
type batchBuilder struct {
	t      *table
	before bool
	schema *arrow.Schema
	mem    memory.Allocator
	consts *constStrings
	cols   []outCol // table columns, then before.* columns (nil: one whose values no pipeline reads)
	runs   []metaRun
	rows   int
	// data is the size of the row images appended since the last
	// finish: batches are cut at the stream's maxBytes too.
	data int
	// started: the builders have room for this batch; lastRows and
	// bytes: the rows and the data bytes per string column of the
	// previous batch.
	started  bool
	lastRows int
	bytes    []int
	maxRows  int
	// The before.* builders are filled only in a batch with an update:
	// pendingNull counts the rows (inserts, deletes) whose NULL before.*
	// values are not appended yet, beforeUsed that the batch has an
	// update. A batch without one gets shared all-NULL before.* arrays
	// (nulls, of nullRows rows) instead of a NULL per row and column.
	pendingNull int
	beforeUsed  bool
	nulls       []arrow.Array
	nullRows    int
	// eventRows holds each row's place among the rows of its binlog
	// event (exec.Batch.EventRows) once one row's differs from what
	// counting a position's rows from 0 in the batch gives (a batch cut
	// at maxRows in the middle of an event, rows skipped on resume); nil
	// until then, as in most batches.
	eventRows []int32
}

func newBatchBuilder(mem memory.Allocator, consts *constStrings, t *table, before bool, reads connectors.BeforeCols) *batchBuilder {
	s := t.streamSchema(before)
	nc := len(t.Cols)
	n := nc
	if before {
		n *= 2
	}
	b := &batchBuilder{t: t, before: before, schema: s, mem: mem, consts: consts,
		cols: make([]outCol, n), bytes: make([]int, n)}
	for i, f := range s.Fields()[:n] {
		if i >= nc {
			if c := t.Cols[i-nc]; !reads.Reads(c.Name, c.PK > 0) {
				// A before.* column whose values no pipeline reads
				// (connectors.BeforeCols): no builder (nil), its
				// values are skipped when an update's before image is
				// decoded, and the batch holds an all-NULL array.
				continue
			}
		}
		b.cols[i] = newOutCol(f.Type)
	}
	return b
}

// start readies the builders for a new batch: room for as many rows and
// string bytes as the previous batch had (at least 64 rows, at most
// maxRows), so builders do not grow by doubling as rows come.
func (b *batchBuilder) start(maxRows int) {
	if b.rows > 0 || b.started {
		return
	}
	b.started = true
	b.maxRows = maxRows
	b.reserve(0, len(b.t.Cols))
}

// seed gives a builder that has made no batch yet the rows of the last
// batch of another table (rows), for its first batch's room: otherwise it
// starts at 64 rows and grows by doubling, a cost that a stream of many
// tables, each with a few transactions, pays table after table (the
// 1,000-table stream's first batches, docs/benchmarks.md).
func (b *batchBuilder) seed(rows int) {
	if b.lastRows == 0 && !b.started {
		b.lastRows = rows
	}
}

// reserve gives the builders of columns [from, to) room for as many rows
// and string bytes as the previous batch had.
func (b *batchBuilder) reserve(from, to int) {
	n := min(max(b.lastRows, 64), b.maxRows)
	for i := from; i < to; i++ {
		if b.cols[i] == nil {
			continue // an unread before.* column
		}
		// Resize, not Reserve: an empty builder gets room for n rows
		// exactly, where Reserve rounds up to a power of two (8,192 rows
		// for a 5,000-row transaction: 64% more memory to allocate and
		// clear, batch after batch). A batch longer than the last grows
		// by doubling, as before.
		b.cols[i].reserve(n, b.bytes[i])
	}
}

// appendMeta appends the metadata of one row; before.* columns are NULL
// unless the caller filled them.
// eventRow is the row's place among the rows of its binlog event.
func (b *batchBuilder) appendMeta(op string, tsMicros int64, pos string, version uint64, eventRow int32) {
	if b.eventRows == nil && eventRow != b.countedRow(pos) {
		b.eventRows = exec.CountEventRows(make([]int32, 0, max(b.rows+1, b.maxRows)), b.rows, func(i int) string { return runPos(b.runs, i) })
	}
	if b.eventRows != nil {
		b.eventRows = append(b.eventRows, eventRow)
	}
	b.runs = addMeta(b.runs, op, tsMicros, pos, version)
	b.rows++
}

// countedRow is the place a next row at pos gets by counting the rows of
// a position from 0 in the batch (exec.CountEventRows).
func (b *batchBuilder) countedRow(pos string) int32 {
	n := int32(0)
	for k := len(b.runs) - 1; k >= 0 && b.runs[k].pos == pos; k-- {
		n += int32(b.runs[k].n)
	}
	return n
}

// runPos is the position of row i of runs.
func runPos(runs []metaRun, i int) string {
	for _, r := range runs {
		if i < r.n {
			return r.pos
		}
		i -= r.n
	}
	return ""
}

// takeEventRows returns the finished batch's event rows (nil: counted)
// and forgets them.
func (b *batchBuilder) takeEventRows() []int32 {
	er := b.eventRows
	b.eventRows = nil
	return er
}

// appendNullsBefore appends n NULLs to every before.* column (when the
// batch has an update; until then they are only counted).
func (b *batchBuilder) appendNullsBefore(n int) {
	if !b.before || n == 0 {
		return
	}
	if !b.beforeUsed {
		b.pendingNull += n
		return
	}
	for _, c := range b.cols[len(b.t.Cols):] {
		if c != nil {
			c.appendNulls(n)
		}
	}
}

// beforeBuilders returns the before.* builders, for an update's before
// image, with the NULLs of the batch's earlier rows appended; nil for the
// columns whose before values are not read.
func (b *batchBuilder) beforeBuilders() []outCol {
	nc := len(b.t.Cols)
	if !b.beforeUsed {
		b.beforeUsed = true
		b.reserve(nc, len(b.cols))
		if b.pendingNull > 0 {
			for _, c := range b.cols[nc:] {
				if c != nil {
					c.appendNulls(b.pendingNull)
				}
			}
			b.pendingNull = 0
		}
	}
	return b.cols[nc:]
}

// nullBefore returns all-NULL before.* arrays of n rows, shared by the
// batches of that length (Arrow arrays are immutable); the caller does
// not release them.
func (b *batchBuilder) nullBefore(n int) []arrow.Array {
	if b.nulls != nil && b.nullRows == n {
		return b.nulls
	}
	b.releaseNulls()
	fs := b.schema.Fields()[len(b.t.Cols) : 2*len(b.t.Cols)]
	b.nulls = makeNullArrays(b.mem, fs, n)
	b.nullRows = n
	return b.nulls
}

func (b *batchBuilder) releaseNulls() {
	for _, a := range b.nulls {
		a.Release()
	}
	b.nulls = nil
}

// finish returns the record built so far (nil when empty) and resets.
func (b *batchBuilder) finish() arrow.RecordBatch {
	if b.rows == 0 {
		return nil
	}
	nc := len(b.t.Cols)
	built := nc
	if !b.before || b.beforeUsed {
		built = len(b.cols)
	}
	cols := make([]arrow.Array, 0, b.schema.NumFields())
	own := make([]arrow.Array, 0, built)
	for i, c := range b.cols[:built] {
		if c == nil {
			// An unread before.* column: all NULL (shared; the
			// record retains it).
			cols = append(cols, b.nullBefore(b.rows)[i-nc])
			continue
		}
		if sc, ok := c.(*strCol); ok {
			b.bytes[i] = len(sc.data)
		}
		a := c.newArray()
		cols = append(cols, a)
		own = append(own, a)
	}
	if built < len(b.cols) {
		// No update in this batch: the before.* builders are empty.
		cols = append(cols, b.nullBefore(b.rows)...)
	}
	meta := metaArrays(b.mem, b.consts, b.t.Ref.DB, b.t.Ref.Table, b.runs)
	cols = append(cols, meta...)
	rec := array.NewRecordBatch(b.schema, cols, int64(b.rows))
	for _, a := range own {
		a.Release()
	}
	for _, a := range meta {
		a.Release()
	}
	b.pendingNull, b.beforeUsed = 0, false
	b.lastRows, b.rows, b.started, b.data = b.rows, 0, false, 0
	b.runs = b.runs[:0]
	return rec
}

func (b *batchBuilder) release() {
	b.releaseNulls()
}

// appendText appends one snapshot (text protocol) value; v nil is NULL.
func appendText(bld outCol, c *column, v []byte, null bool, tmp *[]byte) error {
	if null {
		bld.appendNull()
		return nil
	}
	bad := func() error { return errValue(c, v) }
	switch c.Kind {
	case kInt8, kInt16, kInt32, kInt64:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return bad()
		}
		switch c.Kind {
		case kInt8:
			bld.(*fixedCol[int8]).append(int8(n))
		case kInt16:
			bld.(*fixedCol[int16]).append(int16(n))
		case kInt32:
			bld.(*fixedCol[int32]).append(int32(n))
		default:
			bld.(*fixedCol[int64]).append(n)
		}
	case kUint8, kUint16, kUint32, kUint64, kYear:
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return bad()
		}
		switch c.Kind {
		case kUint8:
			bld.(*fixedCol[uint8]).append(uint8(n))
		case kUint16, kYear:
			bld.(*fixedCol[uint16]).append(uint16(n))
		case kUint32:
			bld.(*fixedCol[uint32]).append(uint32(n))
		default:
			bld.(*fixedCol[uint64]).append(n)
		}
	case kFloat32, kFloat64:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return bad()
		}
		if c.Kind == kFloat32 {
			bld.(*fixedCol[float32]).append(float32(f))
		} else {
			bld.(*fixedCol[float64]).append(f)
		}
	case kDecimal128, kDecimal256:
		u, neg, big, ok := decimalText(v, c.Scale)
		if !ok {
			return bad()
		}
		if c.Kind == kDecimal128 {
			bld.(*fixedCol[decimal128.Num]).append(dec128(u, neg, big))
		} else {
			bld.(*fixedCol[decimal256.Num]).append(dec256(u, neg, big))
		}
	case kBit:
		var u uint64
		for _, x := range v {
			u = u<<8 | uint64(x)
		}
		bld.(*fixedCol[uint64]).append(u)
	case kString, kEnum, kSet, kJSON, kUUID, kInet6, kInet4:
		bld.(*strCol).append(v)
	case kBinary, kGeometry:
		bld.(*strCol).append(v)
	case kDate:
		y, m, d, ok := parseDate(v)
		if !ok || len(v) != 10 {
			return bad()
		}
		bld.(*fixedCol[arrow.Date32]).append(arrow.Date32(EncodeDate(y, m, d)))
	case kDatetime, kTimestamp:
		us, ok := parseDatetime(v)
		if !ok {
			return bad()
		}
		bld.(*fixedCol[arrow.Timestamp]).append(arrow.Timestamp(us))
	case kTime:
		us, ok := parseTime(v)
		if !ok {
			return bad()
		}
		bld.(*fixedCol[arrow.Duration]).append(arrow.Duration(us))
	default:
		return bad()
	}
	return nil
}

func errValue(c *column, v []byte) error {
	s := string(v)
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return &valueError{col: c.Name, typ: c.sourceType(), val: s}
}

type valueError struct{ col, typ, val string }

func (e *valueError) Error() string {
	return "cannot read value " + strconv.Quote(e.val) + " of column " + strconv.Quote(e.col) + " (" + e.typ + ")"
}

func atoiN(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// parseDate parses "YYYY-MM-DD".
func parseDate(v []byte) (y, m, d int, ok bool) {
	if len(v) < 10 || v[4] != '-' || v[7] != '-' {
		return 0, 0, 0, false
	}
	y, ok1 := atoiN(v[0:4])
	m, ok2 := atoiN(v[5:7])
	d, ok3 := atoiN(v[8:10])
	return y, m, d, ok1 && ok2 && ok3
}

// fracMicros parses ".ffffff" (1 to 6 digits) into microseconds.
func fracMicros(v []byte) (int, bool) {
	if len(v) == 0 {
		return 0, true
	}
	if v[0] != '.' || len(v) < 2 || len(v) > 7 {
		return 0, false
	}
	n, ok := atoiN(v[1:])
	for i := len(v) - 1; i < 6; i++ {
		n *= 10
	}
	return n, ok
}

// parseDatetime parses "YYYY-MM-DD HH:MM:SS[.ffffff]".
func parseDatetime(v []byte) (int64, bool) {
	y, mo, d, ok := parseDate(v)
	if !ok || len(v) < 19 || v[10] != ' ' || v[13] != ':' || v[16] != ':' {
		return 0, false
	}
	h, ok1 := atoiN(v[11:13])
	mi, ok2 := atoiN(v[14:16])
	s, ok3 := atoiN(v[17:19])
	us, ok4 := fracMicros(v[19:])
	if !(ok1 && ok2 && ok3 && ok4) {
		return 0, false
	}
	return EncodeDatetime(y, mo, d, h, mi, s, us), true
}

// parseTime parses "[-]H+:MM:SS[.ffffff]" into signed microseconds.
func parseTime(v []byte) (int64, bool) {
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	c1 := strings.IndexByte(string(v), ':')
	if c1 < 1 || len(v) < c1+6 || v[c1+3] != ':' {
		return 0, false
	}
	h, ok1 := atoiN(v[:c1])
	m, ok2 := atoiN(v[c1+1 : c1+3])
	s, ok3 := atoiN(v[c1+4 : c1+6])
	us, ok4 := fracMicros(v[c1+6:])
	if !(ok1 && ok2 && ok3 && ok4) {
		return 0, false
	}
	t := int64(h)*3600e6 + int64(m)*60e6 + int64(s)*1e6 + int64(us)
	if neg {
		t = -t
	}
	return t, true
}
