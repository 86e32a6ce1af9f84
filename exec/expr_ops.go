package exec

import (
	"fmt"
	"strings"

	"github.com/etlq/etlq/stdlib"
)

// Unary returns op x for op "-" (negation) or "NOT".
func Unary(op string, x Expr) (Expr, error) {
	n, err := asNode(x)
	if err != nil {
		return nil, err
	}
	t := n.Type()
	switch strings.ToUpper(op) {
	case "NOT", "!":
		if n, err = boolOperand("NOT", n); err != nil {
			return nil, err
		}
		return &notExpr{x: n}, nil
	case "-":
		switch {
		case t.Kind == stdlib.Null:
			return n, nil
		case t.IsFloat():
			n, _ = coerce(n, stdlib.TFloat64)
			return &negExpr{x: n, t: stdlib.TFloat64}, nil
		case t.Kind == stdlib.Decimal:
			return &negExpr{x: n, t: t}, nil
		case t.IsInteger(), t.Kind == stdlib.Bool:
			if n, err = coerce(n, stdlib.TInt64); err != nil {
				return nil, err
			}
			if t.Kind == stdlib.Uint64 {
				// 0 - x keeps the full unsigned range exact as a decimal.
				d, _ := coerce(n, stdlib.Dec(20, 0))
				return &negExpr{x: d, t: stdlib.Dec(20, 0)}, nil
			}
			return &negExpr{x: n, t: stdlib.TInt64}, nil
		}
		return nil, fmt.Errorf("operator \"-\" cannot take %s", t)
	case "+":
		if !t.IsNumeric() && t.Kind != stdlib.Null {
			return nil, fmt.Errorf("operator \"+\" cannot take %s", t)
		}
		return n, nil
	}
	return nil, fmt.Errorf("unknown unary operator %q", op)
}

// Binary returns l op r for op in OR AND = <> != < <= > >= || + - * / %.
// Operands are widened as MySQL does (see docs/functions.md).
func Binary(op string, l, r Expr) (Expr, error) {
	ln, err := asNode(l)
	if err != nil {
		return nil, err
	}
	rn, err := asNode(r)
	if err != nil {
		return nil, err
	}
	switch o := strings.ToUpper(op); o {
	case "AND", "OR", "&&":
		if o == "&&" {
			o = "AND"
		}
		return newLogic(o, ln, rn)
	case "=", "<>", "!=", "<", "<=", ">", ">=":
		return newCompare(o, ln, rn)
	case "+", "-", "*", "/", "%":
		return newArith(o, ln, rn)
	case "||":
		c, err := newCall("concat", []node{ln, rn})
		if err != nil {
			return nil, fmt.Errorf("operator \"||\" cannot take %s and %s", ln.Type(), rn.Type())
		}
		c.text = fmt.Sprintf("(%s || %s)", ln, rn)
		return c, nil
	}
	return nil, fmt.Errorf("unknown operator %q", op)
}
