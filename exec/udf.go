package exec

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/etlq/etlq/stdlib"
)

// UDF is a user function (CREATE FUNCTION … AS EXPR '…'): an expr-lang body
// compiled once and type-checked against the declared parameter and result
// types. It runs row by row, off the vectorized path.
//
// Parameters reach the body as Go values: BOOL bool, integers int, FLOAT
// and DECIMAL float64, STRING/JSON/BINARY string, DATE and TIMESTAMP
// time.Time (UTC), TIME time.Duration. NULL arguments give a NULL result
// without running the body.
type UDF struct {
	Name       string
	Params     []string
	ParamTypes []stdlib.Type
	Ret        stdlib.Type
	Body       string
	program    *vm.Program
	// nilWhy says how the body may give nil (a NULL result) for arguments
	// that are not NULL, or is "" when it cannot.
	nilWhy string
}

// BodyError is an error of expr-lang in a function body, at runes
// From..To of the body, so that the planner can point at that spot in the
// file.
type BodyError struct {
	Func     string
	Msg      string
	From, To int
}

func (e *BodyError) Error() string {
	return fmt.Sprintf("function %q: %s (at character %d of the body)", e.Func, e.Msg, e.From+1)
}

// NewUDF compiles and type-checks a user function.
func NewUDF(name string, params []string, paramTypes []stdlib.Type, ret stdlib.Type, body string) (*UDF, error) {
	if len(params) != len(paramTypes) {
		return nil, fmt.Errorf("function %q: %d parameter names for %d types", name, len(params), len(paramTypes))
	}
	env := map[string]any{}
	for i, p := range params {
		z, err := goZero(paramTypes[i])
		if err != nil {
			return nil, fmt.Errorf("function %q: parameter %q: %w", name, p, err)
		}
		env[p] = z
	}
	opts := []expr.Option{expr.Env(env)}
	switch {
	case ret.Kind == stdlib.Bool, ret.IsInteger(), ret.IsFloat(), ret.Kind == stdlib.Decimal, ret.IsTemporal():
		// Not expr.AsBool / AsInt64 / AsFloat64: AsBool turns a nil into
		// false, AsInt64 truncates a float (a DECIMAL parameter is a
		// float64 in the body: 5.02 * 100 is 501.99999999999994) and wraps
		// one beyond int64, and they fail a nil with "int64(<nil>)".
		// bodyGives checks the body's type here, storeGo converts and
		// checks its value per row, as CAST.
		opts = append(opts, expr.AsAny())
	case ret.IsStringLike() || ret.Kind == stdlib.Binary:
		opts = append(opts, expr.AsKind(reflect.String))
	default:
		return nil, fmt.Errorf("function %q: result type %s is not supported", name, ret)
	}
	prog, err := expr.Compile(body, opts...)
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			return nil, &BodyError{Func: name, Msg: fe.Message, From: fe.From, To: fe.To}
		}
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		return nil, fmt.Errorf("function %q: %s", name, msg)
	}
	if t := prog.Node().Type(); t != nil && t.Kind() != reflect.Interface && !bodyGives(ret, t) {
		return nil, fmt.Errorf("function %q: body returns %s, declared %s", name, t, ret)
	}
	u := &UDF{Name: name, Params: params, ParamTypes: paramTypes, Ret: ret, Body: body, program: prog}
	switch {
	case ret.Kind == stdlib.Bool, ret.IsInteger(), ret.IsFloat(), ret.Kind == stdlib.Decimal:
		// nil is no such value: a row error (nilResult).
	default:
		u.nilWhy = resultNil(prog.Node())
	}
	return u, nil
}

// bodyGives reports whether a body whose value has Go type t can give a
// result of type ret (a string type's is checked by expr.AsKind).
func bodyGives(ret stdlib.Type, t reflect.Type) bool {
	switch {
	case ret.Kind == stdlib.Bool:
		return t.Kind() == reflect.Bool
	case ret.IsInteger(), ret.IsFloat(), ret.Kind == stdlib.Decimal:
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
			return true
		}
		return false
	case ret.Kind == stdlib.Time:
		return t == reflect.TypeOf(time.Duration(0))
	case ret.IsTemporal():
		return t == reflect.TypeOf(time.Time{})
	}
	return true
}

// resultNil says how the value of body n may be nil, or "" when it cannot:
// n is nil, a branch of ?: or the right of ?? may be, or n's value has a
// type the body does not fix (a map's or array's element, a variable set
// to nil), which may be nil. What it cannot prove is taken as may.
func resultNil(n ast.Node) string {
	switch x := n.(type) {
	case *ast.NilNode:
		return "writes nil"
	case *ast.ConditionalNode:
		if w := resultNil(x.Exp1); w != "" {
			return w
		}
		return resultNil(x.Exp2)
	case *ast.BinaryNode:
		if x.Operator == "??" {
			return resultNil(x.Right)
		}
	case *ast.VariableDeclaratorNode:
		return resultNil(x.Expr)
	case *ast.SequenceNode:
		if len(x.Nodes) > 0 {
			return resultNil(x.Nodes[len(x.Nodes)-1])
		}
	}
	if t := n.Type(); t == nil || t.Kind() == reflect.Interface {
		return fmt.Sprintf("gives a value whose type it does not fix (%s), which may be nil", n.String())
	}
	return ""
}

func goZero(t stdlib.Type) (any, error) {
	switch {
	case t.Kind == stdlib.Bool:
		return false, nil
	case t.IsInteger():
		return 0, nil
	case t.IsFloat(), t.Kind == stdlib.Decimal:
		return 0.0, nil
	case t.IsStringLike(), t.Kind == stdlib.Binary:
		return "", nil
	case t.Kind == stdlib.Date, t.Kind == stdlib.Timestamp:
		return time.Time{}, nil
	case t.Kind == stdlib.Time:
		return time.Duration(0), nil
	}
	return nil, fmt.Errorf("type %s is not supported", t)
}

// udfExpr is a call of a user function.
type udfExpr struct {
	f    *UDF
	args []node
}

// CallUDF returns a call of f; the arguments are converted to the declared
// parameter types, and a row whose argument does not convert (bad text, a
// value out of the type's range) fails as with CAST, its reason naming the
// function and the argument. A wrong number of arguments, an argument of a
// type that does not convert, and a constant argument that cannot convert
// ('abc' or 3000000000 for an INT32) are an *ArgError.
func CallUDF(f *UDF, args []Expr) (Expr, error) {
	if len(args) != len(f.Params) {
		at := -1
		if len(args) > len(f.Params) {
			at = len(f.Params)
		}
		return nil, &ArgError{Arg: at, Msg: fmt.Sprintf("function %q takes %d argument%s %s, got %d",
			f.Name, len(f.Params), plural(len(f.Params)), f.signature(), len(args))}
	}
	ns, err := asNodes(args)
	if err != nil {
		return nil, err
	}
	for i := range ns {
		what := fmt.Sprintf("argument %d of %q (%s %s)", i+1, f.Name, f.Params[i], f.ParamTypes[i])
		if !stdlib.CanCast(ns[i].Type(), f.ParamTypes[i]) {
			return nil, &ArgError{Arg: i, Msg: fmt.Sprintf("%s must be %s, got %s", what, f.ParamTypes[i], ns[i].Type())}
		}
		if ns[i], err = strictCoerce(ns[i], f.ParamTypes[i], fmt.Sprintf("function %q: argument %d (%s): ", f.Name, i+1, f.Params[i])); err != nil {
			return nil, &ArgError{Arg: i, Msg: fmt.Sprintf("%s: %v", what, err)}
		}
		if isConstant(ns[i]) {
			c := &evalCtx{n: 1}
			ns[i].eval(c, nil)
			if len(c.Errs) > 0 {
				// Every row would fail the same way: a mistake of the file.
				why := strings.TrimPrefix(c.Errs[0].Reason, fmt.Sprintf("function %q: argument %d (%s): ", f.Name, i+1, f.Params[i]))
				return nil, &ArgError{Arg: i, Msg: fmt.Sprintf("%s: %s", what, why)}
			}
		}
	}
	return &udfExpr{f: f, args: ns}, nil
}

// ArgError is a call (of a user function or of the library's) that
// cannot work whatever the row: Arg is the (0-based) argument it is
// about, -1 for the call — stdlib.ArgError.
type ArgError = stdlib.ArgError

// signature is "(x INT32, s STRING)".
func (f *UDF) signature() string {
	ps := make([]string, len(f.Params))
	for i, p := range f.Params {
		ps[i] = p + " " + f.ParamTypes[i].String()
	}
	return "(" + strings.Join(ps, ", ") + ")"
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// strictCoerce is coerce, except that a value the parameter type cannot
// hold ('abc' or 3000000000 for an INT32) is a row error, as an explicit
// CAST, rather than a NULL (or a clamped number) the body would compute
// with unawares; the row error's reason starts with prefix.
func strictCoerce(x node, t stdlib.Type, prefix string) (node, error) {
	c, err := coerce(x, t)
	if err != nil || c == x || isNullLit(x) {
		return c, err
	}
	s, err := newCast(x, t, false)
	if err != nil {
		return nil, err
	}
	s.errPrefix = prefix
	if l, ok := x.(*litExpr); ok {
		if v, ok := foldConst(s); ok {
			return &litExpr{v: v, text: l.text}, nil
		}
	}
	return s, nil
}

func (e *udfExpr) Type() stdlib.Type { return e.f.Ret }
func (e *udfExpr) children() []node  { return e.args }
func (e *udfExpr) String() string    { return fmt.Sprintf("%s(%s)", e.f.Name, joinNodes(e.args)) }

// udfRunner is one goroutine's VM and environment for a UDF.
type udfRunner struct {
	vm  vm.VM
	env map[string]any
}

func (e *udfExpr) eval(c *evalCtx, sel []int32) *stdlib.Vector {
	vs := make([]*stdlib.Vector, len(e.args))
	for i, a := range e.args {
		vs[i] = a.eval(c, sel)
	}
	if c.udf == nil {
		c.udf = map[*UDF]*udfRunner{}
	}
	r := c.udf[e.f]
	if r == nil {
		r = &udfRunner{env: make(map[string]any, len(e.f.Params))}
		c.udf[e.f] = r
	}
	n := c.n
	out := stdlib.NewVector(e.f.Ret, n)
	each(sel, n, func(i int) {
		for k, v := range vs {
			if v.IsNull(i) {
				out.SetNull(i, n)
				return
			}
			gv, why := goValue(v, i)
			if why != "" {
				c.Fail(i, fmt.Sprintf("function %q: argument %d: %s", e.f.Name, k+1, why))
				out.SetNull(i, n)
				return
			}
			r.env[e.f.Params[k]] = gv
		}
		res, err := r.vm.Run(e.f.program, r.env)
		if err != nil {
			c.Fail(i, fmt.Sprintf("function %q: %s", e.f.Name, strings.ReplaceAll(err.Error(), "\n", " ")))
			out.SetNull(i, n)
			return
		}
		if why := storeGo(out, i, n, res); why != "" {
			c.Fail(i, fmt.Sprintf("function %q: %s", e.f.Name, why))
			out.SetNull(i, n)
		}
	})
	return out
}

// goValue returns row i of v as the body sees it, or why it cannot: an
// unsigned value above the body's int64 range, or a zero date, which no
// time.Time holds, would otherwise reach the body as another value.
func goValue(v *stdlib.Vector, i int) (any, string) {
	j := v.Idx(i)
	t := v.Type
	switch {
	case t.Kind == stdlib.Bool:
		return v.Bool[j], ""
	case t.IsSigned():
		return int(v.I64[j]), ""
	case t.IsUnsigned():
		if v.U64[j] > math.MaxInt64 {
			return nil, fmt.Sprintf("%d is beyond the integers of a function body (int64)", v.U64[j])
		}
		return int(v.U64[j]), ""
	case t.IsFloat():
		return v.F64[j], ""
	case t.Kind == stdlib.Decimal:
		return stdlib.DecToFloat(v.Dec[j], t.Scale), ""
	case t.Kind == stdlib.Date, t.Kind == stdlib.Timestamp:
		us := v.I64[j]
		if t.Kind == stdlib.Date {
			us = stdlib.DateToTimestamp(us)
		}
		if stdlib.IsInvalidTimestamp(us) {
			s, _ := stdlib.Format(v, i, stdlib.DefaultFormat)
			return nil, fmt.Sprintf("%s is not a calendar date", s)
		}
		return stdlib.TimeOf(us), ""
	case t.Kind == stdlib.Time:
		return time.Duration(v.I64[j]) * time.Microsecond, ""
	}
	return v.Str[j], ""
}

// storeGo writes a body's result into row i of out.
func storeGo(out *stdlib.Vector, i, n int, res any) string {
	t := out.Type
	if res == nil {
		if t.Kind == stdlib.Bool || t.IsInteger() || t.IsFloat() || t.Kind == stdlib.Decimal {
			return nilResult(t)
		}
		out.SetNull(i, n)
		return ""
	}
	if t.IsFloat() || t.Kind == stdlib.Decimal {
		switch x := res.(type) {
		case int:
			res = float64(x)
		case int64:
			res = float64(x)
		}
	}
	if t.IsInteger() {
		switch x := res.(type) {
		case int:
			res = int64(x)
		case float64:
			// As CAST of a DOUBLE: rounded half to even, and a value
			// beyond the type is an error, never wrapped.
			f := math.RoundToEven(x)
			if !(f >= -9.223372036854775808e18 && f < 9.223372036854775808e18) {
				return fmt.Sprintf("result %v is out of range for %s", x, t)
			}
			res = int64(f)
		}
	}
	switch x := res.(type) {
	case bool:
		if t.Kind == stdlib.Bool {
			out.Bool[i] = x
			return ""
		}
	case int64:
		switch {
		case t.IsSigned():
			lo, hi := stdlib.IntRange(t.Kind)
			if x < lo || x > hi {
				return fmt.Sprintf("result %d is out of range for %s", x, t)
			}
			out.I64[i] = x
			return ""
		case t.IsUnsigned():
			if x < 0 || uint64(x) > stdlib.UintMax(t.Kind) {
				return fmt.Sprintf("result %d is out of range for %s", x, t)
			}
			out.U64[i] = uint64(x)
			return ""
		}
	case float64:
		switch {
		case t.IsFloat():
			out.F64[i] = x
			return ""
		case t.Kind == stdlib.Decimal:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Sprintf("result %v is not a decimal", x)
			}
			d, err := stdlib.DecParse(strconv.FormatFloat(x, 'e', -1, 64), t.Scale)
			if err != nil || !stdlib.DecFits(d, t.Precision) {
				return fmt.Sprintf("result %v is out of range for %s", x, t)
			}
			out.Dec[i] = d
			return ""
		}
	case string:
		if t.Kind == stdlib.Binary {
			out.Str[i] = x
			return ""
		}
		if t.IsStringLike() {
			// Text, as CAST makes bytes text: a body that cut a
			// character (expr-lang slices by bytes) leaves a '?'.
			out.Str[i] = stdlib.BinaryText(x)
			return ""
		}
	case time.Time:
		if t.Kind == stdlib.Timestamp || t.Kind == stdlib.Date {
			// The language's dates are years 0..9999, as MySQL's
			// (year 0 as its period arithmetic gives it,
			// docs/functions.md); a Go time beyond them is a value the
			// type cannot hold.
			if y := x.UTC().Year(); y < 0 || y > 9999 {
				return fmt.Sprintf("result %s is out of range for %s (years 0000 to 9999)", x.UTC().Format("2006-01-02 15:04:05.999999"), t)
			}
		}
		switch t.Kind {
		case stdlib.Timestamp:
			out.I64[i] = x.UnixMicro()
			return ""
		case stdlib.Date:
			out.I64[i] = stdlib.FloorDiv(x.UnixMicro(), 86400e6)
			return ""
		}
	case time.Duration:
		if t.Kind == stdlib.Time {
			out.I64[i] = x.Microseconds()
			return ""
		}
	}
	return fmt.Sprintf("result %v (%T) is not a %s", res, res, t)
}

// nilResult is the row error of a BOOL or number body that gave nil: such
// a result has no NULL of its own (a BOOL body's nil was taken as false).
func nilResult(t stdlib.Type) string {
	return fmt.Sprintf("the body gave nil, which a %s result cannot be (a NULL argument gives NULL without running the body; a body of a BOOL or number result must give a value)", t)
}
