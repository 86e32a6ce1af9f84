package exec

import (
	"github.com/etlq/etlq/stdlib"
)

// Fold replaces an expression that reads no column and calls nothing
// volatile by its value. An expression whose constant evaluation fails is
// left alone, so that the failure is reported per row under the pipeline's
// on_error policy. Constant sub-expressions that are not folded cost O(1)
// per batch: every kernel has a constant-operand path.
func Fold(e Expr) (Expr, error) {
	n, err := asNode(e)
	if err != nil {
		return nil, err
	}
	if _, ok := n.(*litExpr); ok {
		return n, nil
	}
	v, ok := foldConst(n)
	if !ok {
		return n, nil
	}
	return &litExpr{v: v, text: stdlib.SQLLiteral(v)}, nil
}

// isConstant reports whether n reads no column and nothing volatile.
func isConstant(n node) bool {
	switch x := n.(type) {
	case *colExpr:
		return false
	case *callExpr:
		if x.b.Volatile {
			return false
		}
	case *udfExpr:
		return false
	}
	for _, c := range n.children() {
		if !isConstant(c) {
			return false
		}
	}
	return true
}

// foldConst evaluates a constant expression to a constant vector.
func foldConst(n node) (*stdlib.Vector, bool) {
	if l, ok := n.(*litExpr); ok {
		return l.v, true
	}
	if !isConstant(n) {
		return nil, false
	}
	c := &evalCtx{n: 1}
	v := n.eval(c, nil)
	if len(c.Errs) > 0 {
		return nil, false
	}
	if v.Const {
		return v, true
	}
	out := stdlib.NewConst(v.Type)
	out.Set(0, v, 0, 1)
	return out, true
}

// ConstFailure returns why a constant expression fails — the reason every
// row would get — or "" when it reads a column, is volatile, or
// evaluates.
func ConstFailure(e Expr) string {
	n, err := asNode(e)
	if err != nil || !isConstant(n) {
		return ""
	}
	c := &evalCtx{n: 1}
	n.eval(c, nil)
	if len(c.Errs) > 0 {
		return c.Errs[0].Reason
	}
	return ""
}
