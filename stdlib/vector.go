package stdlib

import (
	"math/rand/v2"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
)

// Vector is a column of values being evaluated. It is indexed by row number
// of the input batch: a kernel that runs under a selection writes only the
// selected positions, and positions outside the selection are undefined.
//
// Exactly one value slice is set, chosen by Type.Physical(). A Const vector
// holds one value (index 0) that stands for every row.
type Vector struct {
	Type  Type
	Const bool
	// Nulls is nil when no row is NULL; otherwise Nulls[i] reports whether
	// row i is NULL.
	Nulls []bool

	Bool []bool
	I64  []int64 // signed integers, DATE (days since epoch), TIMESTAMP and TIME (µs)
	U64  []uint64
	F64  []float64
	Dec  []decimal256.Num // unscaled; the scale is Type.Scale
	Str  []string         // STRING, JSON and BINARY
	Iv   []arrow.MonthDayNanoInterval
}

// NewVector returns a vector of n rows of type t, with no NULLs.
func NewVector(t Type, n int) *Vector {
	v := &Vector{Type: t}
	v.alloc(n)
	return v
}

func (v *Vector) alloc(n int) {
	switch v.Type.Physical() {
	case PhysBool:
		v.Bool = make([]bool, n)
	case PhysInt:
		v.I64 = make([]int64, n)
	case PhysUint:
		v.U64 = make([]uint64, n)
	case PhysFloat:
		v.F64 = make([]float64, n)
	case PhysDecimal:
		v.Dec = make([]decimal256.Num, n)
	case PhysString:
		v.Str = make([]string, n)
	case PhysInterval:
		v.Iv = make([]arrow.MonthDayNanoInterval, n)
	}
}

// NewNullConst returns a constant NULL of type t.
func NewNullConst(t Type) *Vector {
	v := &Vector{Type: t, Const: true, Nulls: []bool{true}}
	v.alloc(1)
	return v
}

// NewConst returns a constant vector of type t with a single non-NULL slot
// that the caller fills in (v.I64[0] = …).
func NewConst(t Type) *Vector {
	v := &Vector{Type: t, Const: true}
	v.alloc(1)
	return v
}

// Len returns the number of slots (1 for a constant).
func (v *Vector) Len() int {
	switch v.Type.Physical() {
	case PhysBool:
		return len(v.Bool)
	case PhysInt:
		return len(v.I64)
	case PhysUint:
		return len(v.U64)
	case PhysFloat:
		return len(v.F64)
	case PhysDecimal:
		return len(v.Dec)
	case PhysString:
		return len(v.Str)
	case PhysInterval:
		return len(v.Iv)
	}
	return len(v.Nulls)
}

// Idx maps a row to its slot: 0 for a constant, the row otherwise.
func (v *Vector) Idx(row int) int {
	if v.Const {
		return 0
	}
	return row
}

// IsNull reports whether row is NULL.
func (v *Vector) IsNull(row int) bool {
	if v.Nulls == nil {
		return false
	}
	if v.Const {
		return v.Nulls[0]
	}
	return v.Nulls[row]
}

// HasNulls reports whether some row may be NULL.
func (v *Vector) HasNulls() bool { return v.Nulls != nil }

// SetNull marks row (a slot of a non-constant vector of n rows) NULL.
func (v *Vector) SetNull(row, n int) {
	if v.Nulls == nil {
		v.Nulls = make([]bool, n)
	}
	v.Nulls[row] = true
}

// Set copies slot j of src into slot i of v, NULL included. Both have the
// same physical type; n is the row count used if v must grow a NULL mask.
func (v *Vector) Set(i int, src *Vector, j, n int) {
	if src.IsNull(j) {
		v.SetNull(i, n)
		return
	}
	if v.Nulls != nil {
		v.Nulls[i] = false
	}
	j = src.Idx(j)
	switch v.Type.Physical() {
	case PhysBool:
		v.Bool[i] = src.Bool[j]
	case PhysInt:
		v.I64[i] = src.I64[j]
	case PhysUint:
		v.U64[i] = src.U64[j]
	case PhysFloat:
		v.F64[i] = src.F64[j]
	case PhysDecimal:
		v.Dec[i] = src.Dec[j]
	case PhysString:
		v.Str[i] = src.Str[j]
	case PhysInterval:
		v.Iv[i] = src.Iv[j]
	}
}

// Expand returns a non-constant vector of n rows with v's value in every
// row; a non-constant v is returned as is.
func (v *Vector) Expand(n int) *Vector {
	if !v.Const {
		return v
	}
	out := NewVector(v.Type, n)
	if v.IsNull(0) {
		out.Nulls = make([]bool, n)
		for i := range out.Nulls {
			out.Nulls[i] = true
		}
		return out
	}
	for i := 0; i < n; i++ {
		out.Set(i, v, 0, n)
	}
	return out
}

// RowError is a failure of one row in a kernel.
type RowError struct {
	Row    int
	Reason string
}

// Ctx carries what kernels need besides their arguments: the statement time,
// a random source, and where row errors go. A Ctx is used by one goroutine.
type Ctx struct {
	// Now is the statement time (UTC) returned by now().
	Now time.Time
	// Rand feeds rand(); nil means a fresh time-seeded source.
	Rand *rand.Rand
	// Errs collects row errors. A kernel that reports a row error also sets
	// that row NULL in its output.
	Errs []RowError

	// strs holds the bytes of the strings kernels build (see Recycle).
	strs arena
}

// Recycle lets kernels reuse the memory behind the strings they have
// returned through c so far: those strings must not be used afterwards.
// The executor calls it once a batch's results have been copied into
// Arrow arrays, so that string kernels neither allocate nor leave garbage
// batch after batch. A Ctx that is never recycled leaves that memory to
// the garbage collector.
func (c *Ctx) Recycle() { c.strs.reset() }

// Fail records a row error.
func (c *Ctx) Fail(row int, reason string) {
	c.Errs = append(c.Errs, RowError{Row: row, Reason: reason})
}

func (c *Ctx) rand() *rand.Rand {
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x9e3779b97f4a7c15))
	}
	return c.Rand
}

// Sel iterates a selection: it calls f for every selected row, or for
// every row 0..n-1 when sel is nil.
func Sel(sel []int32, n int, f func(i int)) {
	if sel == nil {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	for _, i := range sel {
		f(int(i))
	}
}
