package stdlib

import "strings"

func init() {
	Register(&Func{Name: "assert", NullFree: true, Sig: "assert(cond, reason) → BOOL",
		Doc:     "TRUE when cond is TRUE; otherwise the row fails with reason (the pipeline's on_error decides: fail, skip or dead_letter).",
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"assert(1 < 2, 'must be ordered')", "1"}, {"assert(42, 'must not be zero')", "1"}},
		Bind: func(args []Arg) (*Bound, error) {
			conv, err := classify("assert", args, []argClass{condArg, textArg})
			if err != nil {
				return nil, err
			}
			return &Bound{Ret: TBool, Args: conv, Kernel: assertKernel, NullAware: true}, nil
		}})
}

// condArg: a boolean condition (NULL stays a NULL condition); a number,
// text or date is read as WHERE reads it (non-zero is TRUE).
func condArg(fn string, i int, t Type) (Type, error) {
	if t.Kind == Null || t.Kind == Bool || t.IsNumeric() || t.IsStringLike() || t.Kind == Binary || t.IsTemporal() {
		return TBool, nil
	}
	return t, argErr(fn, i, "a boolean condition", t)
}

// assertKernel fails every row whose condition is FALSE or NULL, with the
// reason as its message (a NULL reason reads "assertion failed").
func assertKernel(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
	cond, reason := a[0], a[1]
	Sel(sel, n, func(i int) {
		if !cond.IsNull(i) && cond.Bool[i] {
			out.Bool[i] = true
			return
		}
		msg := "assertion failed"
		if !reason.IsNull(i) {
			// A copy: the text may live in a batch or in scratch
			// memory, and the error outlives both.
			msg = strings.Clone(reason.Str[i])
		}
		c.Fail(i, msg)
	})
}
