package stdlib

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// ErrUnknownFunction is returned (wrapped) for a name that is not a function.
var ErrUnknownFunction = errors.New("unknown function")

// Example is a call with its expected result, shown in docs/functions.md and
// run by the tests. Want is the result as MySQL's client shows it ("NULL"
// for NULL).
type Example struct {
	SQL  string
	Want string
}

// Func is a registered function.
type Func struct {
	Name string
	// Sig is the signature as shown to users: "substr(s, pos[, len]) → STRING".
	Sig string
	// Doc is a one-line description.
	Doc      string
	Examples []Example
	// MySQL is true when MySQL/MariaDB have the function with the same
	// results; the differential tests compare them.
	MySQL bool
	// NullFree declares that the function never gives NULL for arguments
	// that are not NULL: a planned output computed with it is NOT NULL
	// when its arguments are (exec.NullReason). Leave it false whenever a
	// value can give NULL — json_value of an absent path, the weekday of
	// a zero date, sqrt(-1), lpad to a negative length, an unknown zone —
	// or when unsure: a NULL written into a column planned NOT NULL fails
	// its row at the target. A row the kernel fails (c.Fail) is not NULL:
	// it never reaches the output.
	NullFree bool
	// NullArgs are, for a NullAware function, the arguments whose NULL
	// makes the result NULL (concat_ws: its separator); a NULL in any
	// other is the function's to decide. Without NullFree a NullAware
	// function may give NULL anyway.
	NullArgs []int
	// MinArgs and MaxArgs bound the argument count; MaxArgs -1: no limit.
	MinArgs, MaxArgs int
	// Bind type-checks the arguments and returns the implementation.
	Bind func(args []Arg) (*Bound, error)
}

// Arg is an argument as Bind sees it: its type and, when the planner could
// fold it, its constant value (round(x, 2) needs the 2 to type its result).
type Arg struct {
	Type  Type
	Const *Vector // nil unless the argument is a constant
	// Deriv is the collation of a text argument (zero: unknown, taken as
	// TextCollation, COERCIBLE).
	Deriv Derivation
	// FSP is the fractional second digits of a temporal or text argument
	// as MariaDB counts them (a DATETIME(3) column's 3, a DATE's 0, the
	// digits a constant writes), when FSPKnown; unknown is 6.
	FSP      int
	FSPKnown bool
}

// fsp returns a's fractional second digits (6 when unknown).
func (a Arg) fsp() int {
	if a.Type.Kind == Date || a.Type.Kind == Null {
		return 0
	}
	if !a.FSPKnown {
		return 6
	}
	return min(max(a.FSP, 0), 6)
}

// Types returns the types of args.
func Types(args []Arg) []Type {
	ts := make([]Type, len(args))
	for i, a := range args {
		ts[i] = a.Type
	}
	return ts
}

// constInt returns a constant integer argument.
func constInt(a Arg) (int64, bool) {
	if a.Const == nil || a.Const.IsNull(0) {
		return 0, false
	}
	switch {
	case a.Const.I64 != nil && a.Type.IsSigned():
		return a.Const.I64[0], true
	case a.Const.U64 != nil:
		return int64(a.Const.U64[0]), true
	}
	return 0, false
}

// constString returns a constant text argument.
func constString(a Arg) (string, bool) {
	if a.Const == nil || a.Const.IsNull(0) || a.Const.Str == nil {
		return "", false
	}
	return a.Const.Str[0], true
}

// Bound is a function bound to argument types.
type Bound struct {
	Ret Type
	// Args, when set, are the types the arguments must be converted to
	// (lenient conversion) before the kernel sees them.
	Args []Type
	// Kernel computes the result. It is nil for Special functions.
	Kernel Kernel
	// NullAware kernels see every row, NULL arguments included; otherwise a
	// NULL argument makes the result NULL without calling the kernel.
	NullAware bool
	// Volatile results change from call to call (now, rand): never folded.
	Volatile bool
	// Special names a function the executor evaluates itself because its
	// arguments are evaluated lazily: "if", "coalesce", "nullif".
	Special string
	// Append, when set, is another form of Kernel for a function of one
	// text argument that never fails: it appends the result for s to dst
	// and returns the extended slice. The executor uses it to write an
	// output column's bytes directly, without a string per row. A NULL
	// argument still gives NULL without a call.
	Append func(dst []byte, s string) []byte
}

var (
	regMu sync.RWMutex
	funcs = map[string]*Func{}
)

// Register adds a function. It panics on a duplicate name (a programming
// error caught by any test).
func Register(f *Func) {
	regMu.Lock()
	defer regMu.Unlock()
	name := strings.ToLower(f.Name)
	if _, dup := funcs[name]; dup {
		panic("stdlib: duplicate function " + name)
	}
	funcs[name] = f
}

// alias registers f under another name.
func alias(name string, f *Func) {
	g := *f
	g.Name = name
	g.Sig = strings.Replace(f.Sig, f.Name+"(", name+"(", 1)
	g.Doc = fmt.Sprintf("Same as %s.", f.Name)
	g.Examples = nil
	for _, e := range f.Examples {
		g.Examples = append(g.Examples, Example{SQL: strings.Replace(e.SQL, f.Name+"(", name+"(", 1), Want: e.Want})
	}
	Register(&g)
}

// Lookup returns the function named name (case-insensitive).
func Lookup(name string) (*Func, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	f, ok := funcs[strings.ToLower(name)]
	return f, ok
}

// Funcs returns every function, sorted by name.
func Funcs() []*Func {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]*Func, 0, len(funcs))
	for _, f := range funcs {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Bind looks up name and binds it to the argument types, checking the
// argument count.
func Bind(name string, args []Arg) (*Bound, error) {
	f, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownFunction, name)
	}
	if len(args) < f.MinArgs || (f.MaxArgs >= 0 && len(args) > f.MaxArgs) {
		return nil, fmt.Errorf("function %q takes %s, got %d", f.Name, argCount(f.MinArgs, f.MaxArgs), len(args))
	}
	return f.Bind(args)
}

func argCount(lo, hi int) string {
	plural := func(n int) string {
		if n == 1 {
			return "1 argument"
		}
		return fmt.Sprintf("%d arguments", n)
	}
	switch {
	case hi < 0:
		return "at least " + plural(lo)
	case lo == hi:
		return plural(lo)
	case hi == lo+1:
		return fmt.Sprintf("%d or %s", lo, plural(hi))
	}
	return fmt.Sprintf("%d to %s", lo, plural(hi))
}

// Argument classes used by Bind functions.

func argErr(fn string, i int, want string, got Type) error {
	return fmt.Errorf("argument %d of %q must be %s, got %s", i+1, fn, want, got)
}

// textArg: strings stay, BINARY stays, anything else converts to STRING.
func textArg(fn string, i int, t Type) (Type, error) {
	switch {
	case t.Kind == Null, t.IsStringLike(), t.Kind == Binary:
		if t.Kind == Null {
			return TString, nil
		}
		return t, nil
	case t.Kind == Interval:
		return t, argErr(fn, i, "a string", t)
	}
	return TString, nil
}

// intArg: integers (and bool) convert to INT64.
func intArg(fn string, i int, t Type) (Type, error) {
	if t.Kind == Null || t.IsInteger() || t.Kind == Bool {
		return TInt64, nil
	}
	return t, argErr(fn, i, "an integer", t)
}

// numArg: any number; returned as is (NULL as INT64).
func numArg(fn string, i int, t Type) (Type, error) {
	if t.Kind == Null {
		return TInt64, nil
	}
	if t.IsNumeric() || t.Kind == Bool {
		return t, nil
	}
	return t, argErr(fn, i, "a number", t)
}

// floatArg: any number, converted to FLOAT64.
func floatArg(fn string, i int, t Type) (Type, error) {
	if _, err := numArg(fn, i, t); err != nil {
		return t, err
	}
	return TFloat64, nil
}

// timeArg: TIMESTAMP; DATE and text convert to TIMESTAMP.
func timeArg(fn string, i int, t Type) (Type, error) {
	switch {
	case t.Kind == Null, t.Kind == Timestamp, t.Kind == Date, t.IsStringLike():
		return TTimestamp, nil
	}
	return t, argErr(fn, i, "a date or timestamp", t)
}

type argClass func(fn string, i int, t Type) (Type, error)

// simple makes a Bind for fixed argument classes (the last class repeats
// for extra arguments) and a fixed result type.
func simple(fn string, ret Type, k Kernel, classes ...argClass) func([]Arg) (*Bound, error) {
	return func(args []Arg) (*Bound, error) {
		conv, err := classify(fn, args, classes)
		if err != nil {
			return nil, err
		}
		return &Bound{Ret: ret, Args: conv, Kernel: k}, nil
	}
}

// constChecked wraps bind: when argument idx is a constant text (the
// pattern, JSON path or unit a file writes), check judges it when the
// call is bound, so a constant every row would refuse is an error of the
// file at the call rather than a row error at the first row.
func constChecked(bind func([]Arg) (*Bound, error), idx int, check func(string) error) func([]Arg) (*Bound, error) {
	return func(args []Arg) (*Bound, error) {
		b, err := bind(args)
		if err != nil || idx >= len(args) {
			return b, err
		}
		if s, ok := constString(args[idx]); ok {
			if err := check(s); err != nil {
				return nil, &ArgError{Arg: idx, Msg: err.Error()}
			}
		}
		return b, nil
	}
}

// withAppend adds an Append form to what bind returns.
func withAppend(bind func([]Arg) (*Bound, error), f func([]byte, string) []byte) func([]Arg) (*Bound, error) {
	return func(args []Arg) (*Bound, error) {
		b, err := bind(args)
		if b != nil {
			b.Append = f
		}
		return b, err
	}
}

func classify(fn string, args []Arg, classes []argClass) ([]Type, error) {
	conv := make([]Type, len(args))
	for i, a := range args {
		t := a.Type
		c := classes[min(i, len(classes)-1)]
		ct, err := c(fn, i, t)
		if err != nil {
			return nil, err
		}
		conv[i] = ct
	}
	return conv, nil
}

// ArgError is a call that cannot work whatever the row because of one of
// its arguments (an unknown unit of date_trunc): Arg is the 0-based
// argument, -1 for the call. The planner puts the error's caret under it.
type ArgError struct {
	Arg int
	Msg string
}

func (e *ArgError) Error() string { return e.Msg }
