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
		case t.Kind == stdlib.Uint64:
			// As MySQL: -x is a BIGINT, so -9223372036854775808 (the
			// literal 9223372036854775808 is a UINT64) is the smallest
			// INT64, and a larger x is a row error, except that a larger
			// literal becomes a DECIMAL. The operand is read as unsigned:
			// converting it to INT64 first would lose it.
			if l, ok := n.(*litExpr); ok && !l.v.IsNull(0) && l.v.U64[0] > 1<<63 {
				d, err := coerce(n, stdlib.Dec(20, 0))
				if err != nil {
					return nil, err
				}
				return &negExpr{x: d, t: stdlib.Dec(20, 0)}, nil
			}
			return &negExpr{x: n, t: stdlib.TInt64}, nil
		case t.IsInteger(), t.Kind == stdlib.Bool:
			if n, err = coerce(n, stdlib.TInt64); err != nil {
				return nil, err
			}
			return &negExpr{x: n, t: stdlib.TInt64}, nil
		}
		return nil, fmt.Errorf("operator \"-\" cannot take %s%s", t, textHint(t))
	case "+":
		if !t.IsNumeric() && t.Kind != stdlib.Null {
			return nil, fmt.Errorf("operator \"+\" cannot take %s%s", t, textHint(t))
		}
		return n, nil
	}
	return nil, fmt.Errorf("unknown unary operator %q", op)
}

// Binary returns l op r for op in OR AND = <> != < <= > >= || + - * / % DIV.
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
	case "DIV":
		return newIntDiv(ln, rn)
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
