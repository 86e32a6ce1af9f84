package lang

import (
	"fmt"
	"strings"

	"github.com/alecthomas/participle/v2/lexer"
)

// Operator precedence, loosest first. Expressions are parsed by precedence
// climbing over these levels (see participle's _examples/expr4).
const (
	precOr      = 1 // OR
	precAnd     = 2 // AND
	precNot     = 3 // prefix NOT
	precCompare = 4 // = <> != < <= > >= IS [NOT] NULL, [NOT] IN, [NOT] BETWEEN, [NOT] LIKE
	precConcat  = 5 // ||
	precAdd     = 6 // + -
	precMul     = 7 // * / % DIV
	precUnary   = 8 // prefix -
	// x::type and x COLLATE name bind tighter than everything, and are
	// handled as postfixes.
)

// binaryOps maps each binary operator to its precedence; keyword operators
// are upper case.
var binaryOps = map[string]int{
	"OR": precOr, "AND": precAnd,
	"=": precCompare, "<>": precCompare, "!=": precCompare, "<": precCompare,
	"<=": precCompare, ">": precCompare, ">=": precCompare,
	"IS": precCompare, "IN": precCompare, "BETWEEN": precCompare, "LIKE": precCompare,
	"||": precConcat,
	"+":  precAdd, "-": precAdd,
	"*": precMul, "/": precMul, "%": precMul, "DIV": precMul,
}

// maxExprDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxExprDepth = 200

// msgTooDeep is the error past maxExprDepth; the callers that reword an
// error of their operand ("expected an argument …") pass it on as it is.
var msgTooDeep = fmt.Sprintf("expression nested too deeply (more than %d levels)", maxExprDepth)

// tooDeep reports whether err is the error past maxExprDepth.
func tooDeep(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Msg == msgTooDeep
}

type exprParser struct {
	lex   *lexer.PeekingLexer
	depth int
}

// parseExprFrom is the participle custom parser for Expr.
func parseExprFrom(lex *lexer.PeekingLexer) (Expr, error) {
	p := &exprParser{lex: lex}
	e, err := p.parse(precOr)
	if err != nil {
		return nil, hard(lex, err)
	}
	return e, nil
}

func (p *exprParser) peek() *lexer.Token { return p.lex.Peek() }

// peek2 returns the token after the next one.
func (p *exprParser) peek2() *lexer.Token {
	cp := p.lex.MakeCheckpoint()
	p.lex.Next()
	t := p.lex.Peek()
	p.lex.LoadCheckpoint(cp)
	return t
}

// peekN returns the n-th token from here (peekN(1) is peek()).
func (p *exprParser) peekN(n int) *lexer.Token {
	cp := p.lex.MakeCheckpoint()
	for ; n > 1; n-- {
		p.lex.Next()
	}
	t := p.lex.Peek()
	p.lex.LoadCheckpoint(cp)
	return t
}

func (p *exprParser) next() *lexer.Token { return p.lex.Next() }

// expectOp consumes the punctuation op or fails saying what was found.
func (p *exprParser) expectOp(op, context string) (*lexer.Token, error) {
	t := p.peek()
	if !isOp(t, op) {
		return nil, tokenError(t, "expected %s%s, found %s", quote(op), context, describe(t))
	}
	return p.next(), nil
}

// expectList consumes the ")" that ends a non-empty list.
func (p *exprParser) expectList(context string) (*lexer.Token, error) {
	t := p.peek()
	if !isOp(t, ")") {
		return nil, tokenError(t, "expected \",\" or \")\"%s, found %s", context, describe(t))
	}
	return p.next(), nil
}

func (p *exprParser) expectKeyword(kw, context string) (*lexer.Token, error) {
	t := p.peek()
	if !isKeyword(t, kw) {
		return nil, tokenError(t, "expected %s%s, found %s", kw, context, describe(t))
	}
	return p.next(), nil
}

// binaryOp returns the binary operator at the cursor (NOT IN, NOT BETWEEN
// and NOT LIKE included), upper case, and its precedence; "" if none.
func (p *exprParser) binaryOp() (string, int) {
	t := p.peek()
	switch t.Type {
	case tokOperator:
		if prec, ok := binaryOps[t.Value]; ok {
			return t.Value, prec
		}
	case tokKeyword:
		kw := strings.ToUpper(t.Value)
		if kw == "NOT" {
			if n := p.peek2(); n.Type == tokKeyword {
				switch nk := strings.ToUpper(n.Value); nk {
				case "IN", "BETWEEN", "LIKE":
					return "NOT " + nk, precCompare
				}
			}
			return "", 0
		}
		if prec, ok := binaryOps[kw]; ok {
			return kw, prec
		}
	}
	return "", 0
}

func (p *exprParser) parse(minPrec int) (Expr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxExprDepth {
		return nil, tokenError(p.peek(), "%s", msgTooDeep)
	}
	lhs, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		op, prec := p.binaryOp()
		if op == "" || prec < minPrec {
			return lhs, nil
		}
		opTok := p.next()
		not := strings.HasPrefix(op, "NOT ")
		if not {
			p.next()
			op = op[4:]
		}
		switch op {
		case "IS":
			lhs, err = p.isNull(lhs, opTok)
		case "IN":
			lhs, err = p.in(lhs, not)
		case "BETWEEN":
			lhs, err = p.between(lhs, not)
		case "LIKE":
			var pat Expr
			pat, err = p.operand(precCompare+1, "LIKE")
			if err == nil {
				lhs = &Like{Pos: lhs.Position(), EndPos: pat.EndPosition(), X: lhs, Pattern: pat, Not: not}
			}
		default:
			var rhs Expr
			rhs, err = p.operand(prec+1, opTok.Value)
			if err == nil {
				lhs = &Binary{Pos: lhs.Position(), EndPos: rhs.EndPosition(), Op: op, L: lhs, R: rhs}
			}
		}
		if err != nil {
			return nil, err
		}
	}
}

// operand parses the right side of an operator, saying which operator
// lacks it when there is none.
func (p *exprParser) operand(minPrec int, after string) (Expr, error) {
	if !startsExpr(p.peek()) {
		t := p.peek()
		if after == "=" && isOp(t, "=") {
			return nil, tokenError(t, "unexpected \"==\": equality is written with a single \"=\"")
		}
		return nil, tokenError(t, "expected an expression after %s, found %s", quote(strings.ToUpper(after)), describe(t))
	}
	return p.parse(minPrec)
}

// startsExpr reports whether t can begin an expression.
func startsExpr(t *lexer.Token) bool {
	switch t.Type {
	case tokInt, tokFloat, tokString, tokIdent, tokQuotedIdent:
		return true
	case tokOperator:
		return t.Value == "(" || t.Value == "-"
	case tokKeyword:
		switch strings.ToUpper(t.Value) {
		case "NOT", "NULL", "TRUE", "FALSE", "CASE", "CAST":
			return true
		}
		return isNameToken(t)
	}
	return false
}

func (p *exprParser) isNull(x Expr, isTok *lexer.Token) (Expr, error) {
	not := false
	if isKeyword(p.peek(), "NOT") {
		p.next()
		not = true
	}
	t := p.peek()
	if !isKeyword(t, "NULL") {
		return nil, tokenError(t, "expected NULL after %s, found %s", map[bool]string{false: "IS", true: "IS NOT"}[not], describe(t))
	}
	p.next()
	return &IsNull{Pos: x.Position(), EndPos: tokEnd(t), X: x, Not: not}, nil
}

func (p *exprParser) in(x Expr, not bool) (Expr, error) {
	if _, err := p.expectOp("(", " after IN"); err != nil {
		return nil, err
	}
	var list []Expr
	for {
		e, err := p.operand(precOr, "(")
		if err != nil {
			if len(list) == 0 && isOp(p.peek(), ")") {
				return nil, tokenError(p.peek(), "IN needs at least one value")
			}
			return nil, err
		}
		list = append(list, e)
		if !isOp(p.peek(), ",") {
			break
		}
		p.next()
	}
	closeTok, err := p.expectList(" to close the IN list")
	if err != nil {
		return nil, err
	}
	return &In{Pos: x.Position(), EndPos: tokEnd(closeTok), X: x, List: list, Not: not}, nil
}

func (p *exprParser) between(x Expr, not bool) (Expr, error) {
	lo, err := p.operand(precCompare+1, "BETWEEN")
	if err != nil {
		return nil, err
	}
	if _, err := p.expectKeyword("AND", " in BETWEEN … AND …"); err != nil {
		return nil, err
	}
	hi, err := p.operand(precCompare+1, "AND")
	if err != nil {
		return nil, err
	}
	return &Between{Pos: x.Position(), EndPos: hi.EndPosition(), X: x, Lo: lo, Hi: hi, Not: not}, nil
}

// unary parses prefix NOT and -, then a primary with its :: casts and
// COLLATE clauses.
func (p *exprParser) unary() (Expr, error) {
	t := p.peek()
	switch {
	case isKeyword(t, "NOT"):
		p.next()
		x, err := p.operand(precNot, "NOT")
		if err != nil {
			return nil, err
		}
		return &Unary{Pos: t.Pos, EndPos: x.EndPosition(), Op: "NOT", X: x}, nil
	case isOp(t, "-"):
		p.next()
		x, err := p.operand(precUnary, "-")
		if err != nil {
			return nil, err
		}
		return &Unary{Pos: t.Pos, EndPos: x.EndPosition(), Op: "-", X: x}, nil
	}
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for isOp(p.peek(), "::") || isKeyword(p.peek(), "COLLATE") {
		if kw := p.next(); isKeyword(kw, "COLLATE") {
			t := p.peek()
			if !isNameToken(t) && t.Type != tokString {
				return nil, tokenError(t, "expected a collation name after COLLATE (utf8mb4_bin, utf8mb4_general_ci, …), found %s", describe(t))
			}
			p.next()
			name := identFromToken(t)
			if t.Type == tokString {
				name = &Ident{Pos: t.Pos, EndPos: tokEnd(t), Name: unquoteString(t.Value), Raw: t.Value}
			}
			x = &Collate{Pos: x.Position(), EndPos: name.EndPos, X: x, Name: name}
			continue
		}
		tn, err := parseTypeName(p.lex)
		if err != nil {
			return nil, err
		}
		if tn == nil {
			t := p.peek()
			return nil, tokenError(t, "expected a type after \"::\", found %s", describe(t))
		}
		x = &Cast{Pos: x.Position(), EndPos: tn.EndPos, X: x, Type: tn, Postfix: true}
	}
	return x, nil
}

func (p *exprParser) primary() (Expr, error) {
	t := p.peek()
	switch t.Type {
	case tokInt, tokFloat:
		p.next()
		kind := LitInt
		if t.Type == tokFloat {
			kind = LitFloat
		}
		return &Literal{Pos: t.Pos, EndPos: tokEnd(t), Kind: kind, Raw: t.Value, Value: t.Value}, nil
	case tokString:
		p.next()
		return &Literal{Pos: t.Pos, EndPos: tokEnd(t), Kind: LitString, Raw: t.Value, Value: unquoteString(t.Value)}, nil
	case tokOperator:
		if t.Value == "(" {
			p.next()
			x, err := p.operand(precOr, "(")
			if err != nil {
				return nil, err
			}
			closeTok, err := p.expectOp(")", " to close \"(\"")
			if err != nil {
				return nil, err
			}
			return &Paren{Pos: t.Pos, EndPos: tokEnd(closeTok), X: x}, nil
		}
	case tokKeyword:
		switch kw := strings.ToUpper(t.Value); kw {
		case "TRUE", "FALSE":
			p.next()
			return &Literal{Pos: t.Pos, EndPos: tokEnd(t), Kind: LitBool, Raw: t.Value, Value: strings.ToLower(kw)}, nil
		case "NULL":
			p.next()
			return &Literal{Pos: t.Pos, EndPos: tokEnd(t), Kind: LitNull, Raw: t.Value}, nil
		case "CASE":
			return p.caseExpr()
		case "CAST":
			return p.cast()
		case "TIMESTAMP", "DATE":
			if s := p.peek2(); s.Type == tokString {
				p.next()
				p.next()
				kind := LitTimestamp
				if kw == "DATE" {
					kind = LitDate
				}
				return &Literal{Pos: t.Pos, EndPos: tokEnd(s), Kind: kind, Raw: kw + " " + s.Value, Value: unquoteString(s.Value)}, nil
			}
		case "INTERVAL":
			switch s := p.peek2(); {
			case s.Type == tokString || s.Type == tokInt:
				return p.interval()
			case s.Type == tokFloat:
				// Read as a column "INTERVAL", this failed at the number
				// with "expected a clause".
				return nil, tokenError(s, "an INTERVAL takes a whole number, found %s (write INTERVAL '90' MINUTE for 1.5 HOUR)", describe(s))
			case s.Type != tokString && s.Value == "-" && p.peekN(3).Type == tokInt && isUnit(p.peekN(4)):
				// MySQL's INTERVAL -5 DAY (a column named interval
				// minus 5 is followed by no unit).
				return p.interval()
			}
		}
	}
	if isNameToken(t) {
		return p.nameOrCall()
	}
	if t.Type == tokKeyword {
		return nil, tokenError(t, "expected an expression, found reserved word %s (back-quote it to use it as a name: `%s`)", describe(t), t.Value)
	}
	return nil, tokenError(t, "expected an expression, found %s", describe(t))
}

// isUnit says whether t is an interval unit.
func isUnit(t *lexer.Token) bool {
	return t.Type == tokKeyword && unitSet[strings.ToUpper(t.Value)]
}

func (p *exprParser) interval() (Expr, error) {
	kw := p.next()
	val := p.next()
	neg := ""
	if val.Value == "-" {
		neg = "-"
		val = p.next()
	}
	u := p.peek()
	unit := strings.ToUpper(u.Value)
	if u.Type != tokKeyword || !unitSet[unit] {
		return nil, tokenError(u, "expected an interval unit (%s), found %s", strings.Join(IntervalUnits, ", "), describe(u))
	}
	p.next()
	v := neg + val.Value
	if val.Type == tokString {
		v = unquoteString(v)
	}
	return &Literal{Pos: kw.Pos, EndPos: tokEnd(u), Kind: LitInterval,
		Raw: "INTERVAL " + neg + val.Value + " " + unit, Value: v, Unit: unit}, nil
}

// nameOrCall parses "name", "before.name" or "name(args)".
func (p *exprParser) nameOrCall() (Expr, error) {
	t := p.next()
	id := identFromToken(t)
	next := p.peek()
	if isOp(next, "(") {
		p.next()
		call := &Call{Pos: t.Pos, Name: id}
		if !isOp(p.peek(), ")") {
			for {
				first := p.peek().Pos.Offset
				a, err := p.operand(precOr, ",")
				if err != nil {
					// No argument begins here (count(*)); an argument that
					// began and broke off (position('l' IN s)) has its
					// own error.
					if len(call.Args) == 0 && !tooDeep(err) && p.peek().Pos.Offset == first {
						t := p.peek()
						e := tokenError(t, "expected an argument or \")\" after %s(, found %s", id.Name, describe(t))
						if isOp(t, "*") {
							// count(*): SQL's aggregate.
							e.Msg += " (a pipeline transforms each change on its own: there are no aggregate functions)"
						}
						return nil, e
					}
					return nil, err
				}
				call.Args = append(call.Args, a)
				if !isOp(p.peek(), ",") {
					break
				}
				p.next()
			}
		}
		closeTok, err := p.expectList(" to close the arguments of " + id.Name)
		if err != nil {
			return nil, err
		}
		call.EndPos = tokEnd(closeTok)
		return call, nil
	}
	if isOp(next, ".") {
		if t.Type != tokQuotedIdent && strings.EqualFold(t.Value, "before") {
			p.next()
			n := p.peek()
			if !isNameToken(n) {
				return nil, tokenError(n, "expected a column name after \"before.\", found %s", describe(n))
			}
			p.next()
			col := identFromToken(n)
			return &ColumnRef{Pos: t.Pos, EndPos: col.EndPos, Before: true, Name: col}, nil
		}
		return nil, tokenError(next, "unexpected \".\" after %s: columns are named without their table; only before.<column> has a prefix", quote(id.Name))
	}
	return &ColumnRef{Pos: t.Pos, EndPos: id.EndPos, Name: id}, nil
}

func (p *exprParser) caseExpr() (Expr, error) {
	caseTok := p.next()
	c := &Case{Pos: caseTok.Pos}
	if !isKeyword(p.peek(), "WHEN") {
		op, err := p.operand(precOr, "CASE")
		if err != nil {
			return nil, err
		}
		c.Operand = op
	}
	for isKeyword(p.peek(), "WHEN") {
		w := p.next()
		cond, err := p.operand(precOr, "WHEN")
		if err != nil {
			return nil, err
		}
		if _, err := p.expectKeyword("THEN", " after the WHEN condition"); err != nil {
			return nil, err
		}
		res, err := p.operand(precOr, "THEN")
		if err != nil {
			return nil, err
		}
		c.Whens = append(c.Whens, &When{Pos: w.Pos, EndPos: res.EndPosition(), Cond: cond, Result: res})
	}
	if len(c.Whens) == 0 {
		t := p.peek()
		return nil, tokenError(t, "expected WHEN in CASE, found %s", describe(t))
	}
	if isKeyword(p.peek(), "ELSE") {
		p.next()
		e, err := p.operand(precOr, "ELSE")
		if err != nil {
			return nil, err
		}
		c.Else = e
	}
	end, err := p.expectKeyword("END", " to close CASE")
	if err != nil {
		return nil, err
	}
	c.EndPos = tokEnd(end)
	return c, nil
}

func (p *exprParser) cast() (Expr, error) {
	castTok := p.next()
	if _, err := p.expectOp("(", " after CAST"); err != nil {
		return nil, err
	}
	x, err := p.operand(precOr, "CAST(")
	if err != nil {
		return nil, err
	}
	if _, err := p.expectKeyword("AS", " in CAST(x AS type)"); err != nil {
		return nil, err
	}
	tn, err := parseTypeName(p.lex)
	if err != nil {
		return nil, err
	}
	if tn == nil {
		t := p.peek()
		return nil, tokenError(t, "expected a type after AS, found %s", describe(t))
	}
	closeTok, err := p.expectOp(")", " to close CAST")
	if err != nil {
		return nil, err
	}
	return &Cast{Pos: castTok.Pos, EndPos: tokEnd(closeTok), X: x, Type: tn}, nil
}
