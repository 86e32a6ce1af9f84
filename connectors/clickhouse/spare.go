package clickhouse

import (
	"github.com/ClickHouse/ch-go/proto"
)

// Spare columns. Every block the fast path fills is written into ch-go
// columns (fastpath.go); made new for each block, their backing arrays
// (50,000 rows of every column, a string column's bytes and positions)
// were allocated, zeroed by the runtime and collected again for every
// INSERT: a quarter of etlq's CPU in the catch-up benchmark
// (runtime.memclrNoHeapPointers under chTarget.reserve; docs/benchmarks.md,
// "Spare columns"). A block is encoded and written to the connection
// before nativeConn.send returns, so its columns are free from then on:
// the writer keeps them and the next block of the same columns adopts
// their arrays.
//
// At most max_inflight sets are kept (one per insert running at once), and
// none holding more than spareMaxBytes, so that a burst of wide or large
// rows does not stay in memory after it has gone (the bound of issue #17).

// spareMaxBytes is the most a kept set of columns may hold.
const spareMaxBytes = 16 << 20

// takeSpare returns a set of columns kept from an earlier block (nil when
// none is kept).
func (w *writer) takeSpare() []chTarget {
	w.spareMu.Lock()
	defer w.spareMu.Unlock()
	n := len(w.spare)
	if n == 0 {
		return nil
	}
	s := w.spare[n-1]
	w.spare[n-1] = nil
	w.spare = w.spare[:n-1]
	return s
}

// keepSpare keeps the columns of a block that has been sent, when they
// are worth keeping.
func (w *writer) keepSpare(set []chTarget) {
	size, some := 0, false
	for _, t := range set {
		if t.col != nil {
			size += t.capBytes()
			some = true
		}
	}
	if !some || size > spareMaxBytes {
		return
	}
	w.spareMu.Lock()
	defer w.spareMu.Unlock()
	if len(w.spare) < max(1, w.opts.maxInflight) {
		w.spare = append(w.spare, set)
	}
}

// adopt makes t write into the arrays of old, a column of an earlier
// block, when old is of the same kind (its values dropped): t is new from
// newTarget, so anything else a column carries (a DateTime64's precision)
// stays t's own.
func (t chTarget) adopt(old chTarget) {
	if old.col == nil {
		return
	}
	if t.nulls != nil && old.nulls != nil {
		*t.nulls = (*old.nulls)[:0]
	}
	switch d := t.col.(type) {
	case *proto.ColStr:
		if o, ok := old.col.(*proto.ColStr); ok {
			d.Buf, d.Pos = o.Buf[:0], o.Pos[:0]
		}
	case *proto.ColDateTime64:
		if o, ok := old.col.(*proto.ColDateTime64); ok {
			d.Data = o.Data[:0]
		}
	case *proto.ColInt8:
		adoptSlice(d, old.col)
	case *proto.ColInt16:
		adoptSlice(d, old.col)
	case *proto.ColInt32:
		adoptSlice(d, old.col)
	case *proto.ColInt64:
		adoptSlice(d, old.col)
	case *proto.ColUInt8:
		adoptSlice(d, old.col)
	case *proto.ColUInt16:
		adoptSlice(d, old.col)
	case *proto.ColUInt32:
		adoptSlice(d, old.col)
	case *proto.ColUInt64:
		adoptSlice(d, old.col)
	case *proto.ColFloat32:
		adoptSlice(d, old.col)
	case *proto.ColFloat64:
		adoptSlice(d, old.col)
	case *proto.ColDate:
		adoptSlice(d, old.col)
	case *proto.ColDate32:
		adoptSlice(d, old.col)
	case *proto.ColDecimal32:
		adoptSlice(d, old.col)
	case *proto.ColDecimal64:
		adoptSlice(d, old.col)
	case *proto.ColDecimal128:
		adoptSlice(d, old.col)
	case *proto.ColDecimal256:
		adoptSlice(d, old.col)
	}
}

func adoptSlice[T any, C ~[]T](d *C, old proto.Column) {
	if o, ok := any(old).(*C); ok {
		*d = (*o)[:0]
	}
}

// capBytes is what the arrays of t hold (their capacity), roughly.
func (t chTarget) capBytes() int {
	n := 0
	if t.nulls != nil {
		n += cap(*t.nulls)
	}
	switch c := t.col.(type) {
	case *proto.ColStr:
		n += cap(c.Buf) + 16*cap(c.Pos)
	case *proto.ColDateTime64:
		n += 8 * cap(c.Data)
	case *proto.ColInt8:
		n += cap(*c)
	case *proto.ColUInt8:
		n += cap(*c)
	case *proto.ColInt16:
		n += 2 * cap(*c)
	case *proto.ColUInt16:
		n += 2 * cap(*c)
	case *proto.ColInt32:
		n += 4 * cap(*c)
	case *proto.ColUInt32:
		n += 4 * cap(*c)
	case *proto.ColFloat32:
		n += 4 * cap(*c)
	case *proto.ColDate32:
		n += 4 * cap(*c)
	case *proto.ColDecimal32:
		n += 4 * cap(*c)
	case *proto.ColDate:
		n += 2 * cap(*c)
	case *proto.ColDecimal128:
		n += 16 * cap(*c)
	case *proto.ColDecimal256:
		n += 32 * cap(*c)
	case *proto.ColInt64:
		n += 8 * cap(*c)
	case *proto.ColUInt64:
		n += 8 * cap(*c)
	case *proto.ColFloat64:
		n += 8 * cap(*c)
	case *proto.ColDecimal64:
		n += 8 * cap(*c)
	}
	return n
}
