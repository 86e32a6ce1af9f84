package exec

import (
	"fmt"
	"strings"

	"github.com/etlq/etlq/stdlib"
)

// callExpr is a call of a stdlib function.
type callExpr struct {
	f     *stdlib.Func
	b     *stdlib.Bound
	args  []node
	text  string
	label string
}

// Call returns a call of the stdlib function name. An unknown name gives an
// error wrapping ErrUnknownFunction; bad argument counts or types give an
// error naming the function and the argument.
func Call(name string, args []Expr) (Expr, error) {
	ns, err := asNodes(args)
	if err != nil {
		return nil, err
	}
	c, err := newCall(name, ns)
	if err != nil {
		return nil, err
	}
	if c.b.Special != "" {
		return special(c, ns)
	}
	return c, nil
}

func newCall(name string, ns []node) (*callExpr, error) {
	args := make([]stdlib.Arg, len(ns))
	for i, n := range ns {
		args[i].Type = n.Type()
		args[i].Deriv = derive(n)
		args[i].FSP, args[i].FSPKnown = fspOf(n), true
		if v, ok := foldConst(n); ok {
			args[i].Const = v
		}
	}
	b, err := stdlib.Bind(name, args)
	if err != nil {
		return nil, err
	}
	f, _ := stdlib.Lookup(name)
	c := &callExpr{f: f, b: b, args: ns, label: strings.ToLower(name)}
	if b.Args != nil {
		for i := range c.args {
			if c.args[i], err = coerce(c.args[i], b.Args[i]); err != nil {
				return nil, fmt.Errorf("argument %d of %q: %w", i+1, f.Name, err)
			}
		}
	}
	return c, nil
}

// special builds the lazily evaluated functions as CASE expressions.
func special(c *callExpr, args []node) (Expr, error) {
	text := fmt.Sprintf("%s(%s)", c.label, joinNodes(args))
	switch c.b.Special {
	case "if":
		return newCase(args[:1], args[1:2], args[2], text)
	case "coalesce":
		conds := make([]node, 0, len(args)-1)
		for _, a := range args[:len(args)-1] {
			conds = append(conds, &isNullExpr{x: a, not: true})
		}
		return newCase(conds, args[:len(args)-1], args[len(args)-1], text)
	case "mod":
		n, err := newArith("%", args[0], args[1])
		if err != nil {
			return nil, err
		}
		if a, ok := n.(*arithExpr); ok {
			return &textNode{node: a, text: text}, nil
		}
		return n, nil
	case "nullif":
		eq, err := newCompare("=", args[0], args[1])
		if err != nil {
			return nil, err
		}
		null := &litExpr{v: stdlib.NewNullConst(args[0].Type()), text: "NULL"}
		return newCase([]node{eq}, []node{null}, args[0], text)
	}
	return nil, fmt.Errorf("function %q is not supported here", c.label)
}

func joinNodes(ns []node) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = n.String()
	}
	return strings.Join(parts, ", ")
}

func (e *callExpr) Type() stdlib.Type { return e.b.Ret }
func (e *callExpr) children() []node  { return e.args }
func (e *callExpr) String() string {
	if e.text != "" {
		return e.text
	}
	return fmt.Sprintf("%s(%s)", e.label, joinNodes(e.args))
}

func (e *callExpr) eval(c *evalCtx, sel []int32) *stdlib.Vector {
	if len(e.args) == 0 && e.b.Volatile {
		out := stdlib.NewVector(e.b.Ret, c.n)
		e.b.Kernel(&c.Ctx, nil, sel, c.n, out)
		return out
	}
	vs := make([]*stdlib.Vector, len(e.args))
	for i, a := range e.args {
		vs[i] = a.eval(c, sel)
	}
	before := len(c.Errs)
	out := runKernel(c, e.b.Kernel, vs, e.b.Ret, sel, e.b.NullAware)
	for i := before; i < len(c.Errs); i++ {
		c.Errs[i].Reason = e.label + ": " + c.Errs[i].Reason
	}
	return out
}

// textNode shows a node under another spelling (mod(a, b) for a % b).
type textNode struct {
	node
	text string
}

func (t *textNode) String() string { return t.text }
