// Package exectest holds test helpers for exec and the packages that test
// against it: a tiny parser for literal-only SQL expressions, used to run
// the function examples and the differential tests (cmd/etlq, against
// MariaDB) through exec's real constructors. It is not the language's
// parser (package lang); it knows literals, calls, the operators and IS
// [NOT] NULL, and columns of a given schema. It links no database driver.
package exectest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/stdlib"
)

type miniParser struct {
	toks []string
	pos  int
	cols map[string]exec.Expr
}

func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(s) {
					return nil, fmt.Errorf("unterminated string in %q", s)
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			toks = append(toks, "'"+b.String())
			i = j + 1
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
				(s[j] == '-' || s[j] == '+') && (s[j-1] == 'e' || s[j-1] == 'E')) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		case unicode.IsLetter(rune(c)) || c == '_' || c == '`':
			if c == '`' {
				j := strings.IndexByte(s[i+1:], '`')
				toks = append(toks, "`"+s[i+1:i+1+j])
				i += j + 2
				continue
			}
			j := i
			for j < len(s) && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])) || s[j] == '_' || s[j] == '.') {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			two := ""
			if i+1 < len(s) {
				two = s[i : i+2]
			}
			switch two {
			case "<=", ">=", "<>", "!=", "||":
				toks = append(toks, two)
				i += 2
				continue
			}
			toks = append(toks, string(c))
			i++
		}
	}
	return toks, nil
}

// ParseExpr parses s into an exec expression over the columns cols (nil: no
// columns).
func ParseExpr(s string, cols map[string]exec.Expr) (exec.Expr, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &miniParser{toks: toks, cols: cols}
	e, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q in %q", p.toks[p.pos], s)
	}
	return e, nil
}

func (p *miniParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *miniParser) next() string { t := p.peek(); p.pos++; return t }

var binPrec = map[string]int{"OR": 1, "AND": 2, "=": 4, "<>": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4,
	"IS": 4, "LIKE": 4, "IN": 4, "NOT": 4, "||": 5, "+": 6, "-": 6, "*": 7, "/": 7, "%": 7, "DIV": 7}

func (p *miniParser) expr(minPrec int) (exec.Expr, error) {
	var l exec.Expr
	var err error
	if strings.EqualFold(p.peek(), "NOT") {
		p.next()
		x, err := p.expr(3)
		if err != nil {
			return nil, err
		}
		l, err = exec.Unary("NOT", x)
		if err != nil {
			return nil, err
		}
	} else if l, err = p.primary(); err != nil {
		return nil, err
	}
	for {
		op := strings.ToUpper(p.peek())
		prec, ok := binPrec[op]
		if !ok || prec <= minPrec {
			return l, nil
		}
		p.next()
		switch op {
		case "IS":
			not := false
			if strings.EqualFold(p.peek(), "NOT") {
				p.next()
				not = true
			}
			if !strings.EqualFold(p.next(), "NULL") {
				return nil, fmt.Errorf("want NULL after IS")
			}
			l = exec.IsNull(l, not)
			continue
		case "NOT", "LIKE", "IN":
			not := op == "NOT"
			if not {
				op = strings.ToUpper(p.next())
			}
			if op == "IN" {
				if p.next() != "(" {
					return nil, fmt.Errorf("want ( after IN")
				}
				var list []exec.Expr
				for p.peek() != ")" {
					it, err := p.expr(0)
					if err != nil {
						return nil, err
					}
					list = append(list, it)
					if p.peek() == "," {
						p.next()
					}
				}
				p.next()
				if l, err = exec.In(l, list, not); err != nil {
					return nil, err
				}
				continue
			}
			r, err := p.expr(prec)
			if err != nil {
				return nil, err
			}
			if l, err = exec.Like(l, r, not); err != nil {
				return nil, err
			}
			continue
		}
		r, err := p.expr(prec)
		if err != nil {
			return nil, err
		}
		if l, err = exec.Binary(op, l, r); err != nil {
			return nil, err
		}
	}
}

// numLit types a numeric literal as MySQL does: integers INT64 (UINT64
// when too large), 1.25 DECIMAL(3,2), 1e3 FLOAT64.
func numLit(t string, neg bool) (exec.Expr, error) {
	if neg {
		t = "-" + t
	}
	switch {
	case strings.ContainsAny(t, "eE"):
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return nil, err
		}
		return exec.Lit(f, stdlib.TFloat64)
	case strings.Contains(t, "."):
		digits := strings.TrimLeft(strings.ReplaceAll(strings.TrimPrefix(t, "-"), ".", ""), "0")
		scale := len(t) - strings.IndexByte(t, '.') - 1
		p := max(len(digits), scale, 1)
		return exec.Lit(t, stdlib.Dec(int32(p), int32(scale)))
	}
	if v, err := strconv.ParseInt(t, 10, 64); err == nil {
		return exec.Lit(v, stdlib.TInt64)
	}
	if v, err := strconv.ParseUint(t, 10, 64); err == nil {
		return exec.Lit(v, stdlib.TUint64)
	}
	return exec.Lit(t, stdlib.Dec(int32(len(strings.TrimPrefix(t, "-"))), 0))
}

func (p *miniParser) primary() (exec.Expr, error) {
	t := p.next()
	switch {
	case t == "":
		return nil, fmt.Errorf("unexpected end")
	case t == "(":
		e, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, fmt.Errorf("want )")
		}
		return e, nil
	case t == "-":
		if n := p.peek(); n != "" && (n[0] >= '0' && n[0] <= '9' || n[0] == '.') {
			p.next()
			return numLit(n, true)
		}
		x, err := p.expr(8)
		if err != nil {
			return nil, err
		}
		return exec.Unary("-", x)
	case t[0] == '\'':
		return exec.Lit(t[1:], stdlib.TString)
	case t[0] >= '0' && t[0] <= '9' || t[0] == '.':
		return numLit(t, false)
	case t[0] == '`':
		if c, ok := p.cols[t[1:]]; ok {
			return c, nil
		}
		return nil, fmt.Errorf("unknown column %q", t[1:])
	}
	switch u := strings.ToUpper(t); u {
	case "NULL":
		return exec.Lit(nil, stdlib.TNull)
	case "TRUE", "FALSE":
		return exec.Lit(u == "TRUE", stdlib.TBool)
	case "DATE", "TIMESTAMP", "TIME":
		if s := p.peek(); strings.HasPrefix(s, "'") {
			p.next()
			typ := map[string]stdlib.Type{"DATE": stdlib.TDate, "TIMESTAMP": stdlib.TTimestamp, "TIME": stdlib.TTime}[u]
			return exec.Lit(s[1:], typ)
		}
	case "INTERVAL":
		n := p.next()
		unit := p.next()
		return exec.Lit(strings.TrimPrefix(n, "'")+" "+unit, stdlib.TInterval)
	case "CAST":
		if p.next() != "(" {
			return nil, fmt.Errorf("want ( after CAST")
		}
		x, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(p.next(), "AS") {
			return nil, fmt.Errorf("want AS")
		}
		name := p.next()
		var params []int
		if p.peek() == "(" {
			p.next()
			for p.peek() != ")" {
				if t := p.next(); t != "," {
					v, _ := strconv.Atoi(t)
					params = append(params, v)
				}
			}
			p.next()
		}
		if p.next() != ")" {
			return nil, fmt.Errorf("want ) after CAST")
		}
		typ, err := stdlib.ParseType(name, params)
		if err != nil {
			return nil, err
		}
		return exec.Cast(x, typ)
	case "CASE":
		var conds, results []exec.Expr
		var els exec.Expr
		for {
			switch strings.ToUpper(p.next()) {
			case "WHEN":
				c, err := p.expr(0)
				if err != nil {
					return nil, err
				}
				if !strings.EqualFold(p.next(), "THEN") {
					return nil, fmt.Errorf("want THEN")
				}
				r, err := p.expr(0)
				if err != nil {
					return nil, err
				}
				conds, results = append(conds, c), append(results, r)
			case "ELSE":
				e, err := p.expr(0)
				if err != nil {
					return nil, err
				}
				els = e
			case "END":
				return exec.Case(nil, conds, results, els)
			default:
				return nil, fmt.Errorf("bad CASE")
			}
		}
	}
	if c, ok := p.cols[t]; ok && p.peek() != "(" {
		return c, nil
	}
	if p.peek() != "(" {
		return nil, fmt.Errorf("unknown name %q", t)
	}
	p.next()
	var args []exec.Expr
	for p.peek() != ")" {
		a, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		args = append(args, a)
		if p.peek() == "," {
			p.next()
		}
	}
	p.next()
	return exec.Call(t, args)
}

// EvalText evaluates a constant expression (over a one-row record) and
// returns its value as MySQL's text, "NULL" for NULL.
func EvalText(t testing.TB, sql string) (string, error) {
	e, err := ParseExpr(sql, nil)
	if err != nil {
		return "", err
	}
	return EvalExprText(t, e)
}

// EvalExprText evaluates e over a one-row record, as EvalText.
func EvalExprText(t testing.TB, e exec.Expr) (string, error) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).Append(1)
	rec := b.NewRecordBatch()
	defer rec.Release()
	s, err := exec.Cast(e, stdlib.TString)
	if err != nil {
		return "", err
	}
	p, err := exec.NewProgram(exec.ProgramConfig{Outputs: []exec.Expr{s}, Names: []string{"v"}, Alloc: mem})
	if err != nil {
		return "", err
	}
	out, _, _, _, err := p.Run(context.Background(), &exec.Batch{Record: rec})
	if err != nil {
		return "", err
	}
	defer out.Release()
	col := out.Column(0).(*array.String)
	if col.IsNull(0) {
		return "NULL", nil
	}
	return col.Value(0), nil
}
