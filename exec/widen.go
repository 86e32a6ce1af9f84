package exec

import "github.com/apache/arrow-go/v18/arrow"

// Widens reports whether every value of type from is held exactly by type
// to, to being a different, wider type: integers of the same signedness
// and a higher rank (or unsigned to a signed one of a higher rank), FLOAT
// to DOUBLE, and DECIMAL to one with at least as many integer and
// fraction digits. It is the one rule of a lossless widening: what a
// target widens in place (ClickHouse's MODIFY COLUMN converts the rows
// already there the same way) and what a source follows without reading
// the table again.
func Widens(from, to arrow.DataType) bool {
	if arrow.TypeEqual(from, to) {
		return false
	}
	if rf, sf, ok := intRank(from); ok {
		rt, st, ok := intRank(to)
		return ok && rt > rf && (sf == st || (!sf && st))
	}
	if from.ID() == arrow.FLOAT32 {
		return to.ID() == arrow.FLOAT64
	}
	df, ok1 := from.(*arrow.Decimal128Type)
	dt, ok2 := to.(*arrow.Decimal128Type)
	if ok1 && ok2 {
		return dt.Scale >= df.Scale && dt.Precision-dt.Scale >= df.Precision-df.Scale
	}
	return false
}

// intRank orders the integer types by the values they hold.
func intRank(t arrow.DataType) (rank int, signed, ok bool) {
	switch t.ID() {
	case arrow.INT8:
		return 1, true, true
	case arrow.INT16:
		return 2, true, true
	case arrow.INT32:
		return 3, true, true
	case arrow.INT64:
		return 4, true, true
	case arrow.UINT8:
		return 1, false, true
	case arrow.UINT16:
		return 2, false, true
	case arrow.UINT32:
		return 3, false, true
	case arrow.UINT64:
		return 4, false, true
	}
	return 0, false, false
}
