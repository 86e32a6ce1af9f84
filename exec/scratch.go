package exec

import (
	"github.com/apache/arrow-go/v18/arrow/decimal256"

	"github.com/etlq/etlq/stdlib"
)

// scratch recycles the slices of intermediate vectors between runs, so that
// a Program evaluating batch after batch does not allocate (and the garbage
// collector does not scan) fresh columns every time. Every slice handed out
// is tracked once and returned by recycle; NULL masks are cleared when they
// are handed out again, so a reused vector never shows a stale NULL.
type scratch struct {
	bools [][]bool
	i64   [][]int64
	u64   [][]uint64
	f64   [][]float64
	dec   [][]decimal256.Num
	str   [][]string
	i32   [][]int32

	// handed out during the current run
	uBools [][]bool
	uI64   [][]int64
	uU64   [][]uint64
	uF64   [][]float64
	uDec   [][]decimal256.Num
	uStr   [][]string
	uI32   [][]int32
}

func take[T any](free *[][]T, used *[][]T, n int) []T {
	l := *free
	for k := len(l) - 1; k >= 0; k-- {
		if cap(l[k]) >= n {
			s := l[k][:n]
			l[k] = l[len(l)-1]
			*free = l[:len(l)-1]
			*used = append(*used, s)
			return s
		}
	}
	s := make([]T, n)
	*used = append(*used, s)
	return s
}

func giveBack[T any](free *[][]T, used *[][]T) {
	*free = append(*free, *used...)
	clear(*used)
	*used = (*used)[:0]
}

// vec returns a vector of n rows of type t whose value slice comes from the
// scratch space (its contents are undefined; it has no NULLs).
func (c *evalCtx) vec(t stdlib.Type, n int) *stdlib.Vector {
	s := &c.scratch
	v := &stdlib.Vector{Type: t}
	switch t.Physical() {
	case stdlib.PhysBool:
		v.Bool = take(&s.bools, &s.uBools, n)
	case stdlib.PhysInt:
		v.I64 = take(&s.i64, &s.uI64, n)
	case stdlib.PhysUint:
		v.U64 = take(&s.u64, &s.uU64, n)
	case stdlib.PhysFloat:
		v.F64 = take(&s.f64, &s.uF64, n)
	case stdlib.PhysDecimal:
		v.Dec = take(&s.dec, &s.uDec, n)
	case stdlib.PhysString:
		v.Str = take(&s.str, &s.uStr, n)
	default:
		return stdlib.NewVector(t, n)
	}
	return v
}

// mask returns a cleared NULL mask of n rows.
func (c *evalCtx) mask(n int) []bool {
	m := take(&c.scratch.bools, &c.scratch.uBools, n)
	clear(m)
	return m
}

// selBuf returns an empty selection with room for n rows.
func (c *evalCtx) selBuf(n int) []int32 {
	return take(&c.scratch.i32, &c.scratch.uI32, n)[:0]
}

// recycle makes every slice handed out since the last recycle available
// again, and the bytes of the strings kernels built. Nothing evaluated
// before may be used afterwards.
func (c *evalCtx) recycle() {
	c.Ctx.Recycle()
	s := &c.scratch
	giveBack(&s.bools, &s.uBools)
	giveBack(&s.i64, &s.uI64)
	giveBack(&s.u64, &s.uU64)
	giveBack(&s.f64, &s.uF64)
	giveBack(&s.dec, &s.uDec)
	giveBack(&s.str, &s.uStr)
	giveBack(&s.i32, &s.uI32)
}
