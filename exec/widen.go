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

// Supertype returns the narrowest type that holds every value of a and
// every value of b, for a column whose type changed from a to b in a way
// that is no lossless widening (docs/schema-changes.md, "Type changes
// that are no widening"), or for two tables' columns of one name: the
// wider of the two when one widens to the other; for integers and
// decimals, a DECIMAL with the integer digits and the fraction digits of
// the wider side (INT and DECIMAL(10,2): DECIMAL(12,2); DECIMAL(10,4)
// and DECIMAL(10,2): DECIMAL(12,4), as the latter's rows may have eight
// integer digits); for FLOAT or
// DOUBLE and an integer of 32 bits at most, DOUBLE; else String, which
// holds the text of any number or string (INT and VARCHAR, DOUBLE and
// DECIMAL). nil for the types it does not join (temporal, binary,
// nested …): those cannot follow such a change.
func Supertype(a, b arrow.DataType) arrow.DataType {
	switch {
	case arrow.TypeEqual(a, b):
		return a
	case Widens(a, b):
		return b
	case Widens(b, a):
		return a
	}
	ka, kb := superKind(a), superKind(b)
	if ka == 0 || kb == 0 {
		return nil
	}
	if ka <= superDecimal && kb <= superDecimal {
		pa, sa := decimalDigits(a)
		pb, sb := decimalDigits(b)
		s := max(sa, sb)
		p := max(pa-sa, pb-sb) + s
		switch {
		case p <= 38:
			return &arrow.Decimal128Type{Precision: p, Scale: s}
		case p <= 76 && (a.ID() == arrow.DECIMAL256 || b.ID() == arrow.DECIMAL256):
			// A DECIMAL of more than 38 digits (MySQL's DECIMAL(65,30))
			// is a Decimal256 already (a ClickHouse before 22.1 stores
			// it as its text).
			return &arrow.Decimal256Type{Precision: p, Scale: s}
		}
		return arrow.BinaryTypes.String
	}
	if ka == superFloat && kb == superInt || ka == superInt && kb == superFloat {
		if r, _, _ := intRank(a); r <= 3 {
			if r2, _, _ := intRank(b); r2 <= 3 {
				return arrow.PrimitiveTypes.Float64
			}
		}
	}
	return arrow.BinaryTypes.String
}

// Holds reports whether a column of type to holds every value of type
// from, converted by the target (to is from, a widening of it, or the
// Supertype of the two).
func Holds(from, to arrow.DataType) bool {
	if arrow.TypeEqual(from, to) || Widens(from, to) {
		return true
	}
	st := Supertype(from, to)
	return st != nil && arrow.TypeEqual(st, to)
}

const (
	superInt = 1 + iota
	superDecimal
	superFloat
	superString
)

// superKind sorts a type for Supertype (0: a type it does not join).
func superKind(t arrow.DataType) int {
	if _, _, ok := intRank(t); ok {
		return superInt
	}
	switch t.ID() {
	case arrow.DECIMAL128, arrow.DECIMAL256:
		return superDecimal
	case arrow.FLOAT32, arrow.FLOAT64:
		return superFloat
	case arrow.STRING, arrow.LARGE_STRING:
		return superString
	}
	return 0
}

// decimalDigits returns the precision and scale of a decimal, or of the
// DECIMAL that holds every value of an integer type.
func decimalDigits(t arrow.DataType) (p, s int32) {
	if d, ok := t.(arrow.DecimalType); ok {
		return d.GetPrecision(), d.GetScale()
	}
	switch t.ID() {
	case arrow.INT8, arrow.UINT8:
		return 3, 0
	case arrow.INT16, arrow.UINT16:
		return 5, 0
	case arrow.INT32, arrow.UINT32:
		return 10, 0
	case arrow.INT64:
		return 19, 0
	}
	return 20, 0
}
