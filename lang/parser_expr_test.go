package lang

import (
	"strings"
	"testing"
)

// sexpr prints e fully parenthesised, prefix style, to test precedence.
func sexpr(e Expr) string {
	switch e := e.(type) {
	case *Literal:
		switch e.Kind {
		case LitString:
			return "'" + e.Value + "'"
		case LitNull:
			return "NULL"
		case LitTimestamp, LitDate:
			return e.Kind.String() + "'" + e.Value + "'"
		case LitInterval:
			return "interval'" + e.Value + "'" + e.Unit
		}
		return e.Value
	case *ColumnRef:
		if e.Before {
			return "before." + e.Name.Name
		}
		return e.Name.Name
	case *Unary:
		return "(" + e.Op + " " + sexpr(e.X) + ")"
	case *Binary:
		return "(" + e.Op + " " + sexpr(e.L) + " " + sexpr(e.R) + ")"
	case *IsNull:
		return "(is" + map[bool]string{true: "-not", false: ""}[e.Not] + "-null " + sexpr(e.X) + ")"
	case *In:
		parts := []string{}
		for _, x := range e.List {
			parts = append(parts, sexpr(x))
		}
		return "(" + map[bool]string{true: "not-", false: ""}[e.Not] + "in " + sexpr(e.X) + " [" + strings.Join(parts, " ") + "])"
	case *Between:
		return "(" + map[bool]string{true: "not-", false: ""}[e.Not] + "between " + sexpr(e.X) + " " + sexpr(e.Lo) + " " + sexpr(e.Hi) + ")"
	case *Like:
		return "(" + map[bool]string{true: "not-", false: ""}[e.Not] + "like " + sexpr(e.X) + " " + sexpr(e.Pattern) + ")"
	case *Case:
		s := "(case"
		if e.Operand != nil {
			s += " " + sexpr(e.Operand)
		}
		for _, w := range e.Whens {
			s += " [" + sexpr(w.Cond) + " " + sexpr(w.Result) + "]"
		}
		if e.Else != nil {
			s += " else " + sexpr(e.Else)
		}
		return s + ")"
	case *Cast:
		return "(cast " + sexpr(e.X) + " " + e.Type.String() + ")"
	case *Collate:
		return "(collate " + sexpr(e.X) + " " + e.Name.Name + ")"
	case *Call:
		parts := []string{e.Name.Name}
		for _, a := range e.Args {
			parts = append(parts, sexpr(a))
		}
		return "(call " + strings.Join(parts, " ") + ")"
	case *Paren:
		return "[" + sexpr(e.X) + "]"
	}
	return "?"
}

func TestExprPrecedence(t *testing.T) {
	cases := []struct{ src, want string }{
		{"a OR b AND NOT c = 1 + 2 * -3 || 'x'", "(OR a (AND b (NOT (= c (|| (+ 1 (* 2 (- 3))) 'x')))))"},
		{"a AND b OR c AND d", "(OR (AND a b) (AND c d))"},
		{"NOT a AND b", "(AND (NOT a) b)"},
		{"NOT NOT a", "(NOT (NOT a))"},
		{"NOT a = b", "(NOT (= a b))"},
		{"a = b = c", "(= (= a b) c)"},
		{"a - b - c", "(- (- a b) c)"},
		{"a / b * c % d", "(% (* (/ a b) c) d)"},
		{"a DIV b * c div d + e", "(+ (DIV (* (DIV a b) c) d) e)"},
		{"-a Div 2", "(DIV (- a) 2)"},
		{"div DIV div", "(DIV div div)"}, // DIV is not reserved: a column may be named div
		{"a || b || c", "(|| (|| a b) c)"},
		{"a + b || c + d", "(|| (+ a b) (+ c d))"},
		{"a || b = c || d", "(= (|| a b) (|| c d))"},
		{"- a * b", "(* (- a) b)"},
		{"- - a", "(- (- a))"},
		{"-a::INT64", "(- (cast a INT64))"},
		{"a::STRING::JSON", "(cast (cast a STRING) JSON)"},
		{"(a + b)::INT32 * 2", "(* (cast [(+ a b)] INT32) 2)"},
		{"x BETWEEN 1 AND 10 AND y", "(AND (between x 1 10) y)"},
		{"x NOT BETWEEN a + 1 AND b * 2 OR z", "(OR (not-between x (+ a 1) (* b 2)) z)"},
		{"x BETWEEN 1 AND 2 = TRUE", "(= (between x 1 2) true)"},
		{"a IS NULL AND b IS NOT NULL", "(AND (is-null a) (is-not-null b))"},
		{"a + 1 IS NULL", "(is-null (+ a 1))"},
		{"NOT a IS NULL", "(NOT (is-null a))"},
		{"x IN (1, 2, 3) OR x NOT IN ('a')", "(OR (in x [1 2 3]) (not-in x ['a']))"},
		{"name LIKE 'a%' AND name NOT LIKE '%b' || 'c'", "(AND (like name 'a%') (not-like name (|| '%b' 'c')))"},
		{"CASE WHEN a > 1 THEN 'x' WHEN a > 0 THEN 'y' ELSE 'z' END", "(case [(> a 1) 'x'] [(> a 0) 'y'] else 'z')"},
		{"CASE status WHEN 'paid' THEN 1 END", "(case status ['paid' 1])"},
		{"CAST(a + 1 AS DECIMAL(12,2))", "(cast (+ a 1) DECIMAL(12,2))"},
		{"f()", "(call f)"},
		{"f(a, g(b), 1 + 2)", "(call f a (call g b) (+ 1 2))"},
		{"before.status <> status", "(<> before.status status)"},
		{"_op = 'update' AND changed(status)", "(AND (= _op 'update') (call changed status))"},
		{"'it''s'", "'it's'"},
		{"TIMESTAMP '2026-01-02 03:04:05' < _ts", "(< timestamp'2026-01-02 03:04:05' _ts)"},
		{"DATE '2026-01-02'", "date'2026-01-02'"},
		{"now() - INTERVAL '5' MINUTE", "(- (call now) interval'5'MINUTE)"},
		{"INTERVAL 3 day", "interval'3'DAY"},
		{"ts + INTERVAL -5 DAY", "(+ ts interval'-5'DAY)"}, // MySQL's negative interval; it failed at DAY with "expected a clause"
		{"interval - 5", "(- interval 5)"},                 // a column named interval, minus 5
		{"interval -5", "(- interval 5)"},
		{"date(created_at)", "(call date created_at)"},
		{"date", "date"},
		{"`select` + `a``b`", "(+ select a`b)"},
		{"a <= b AND c >= d AND e != f AND g <> h AND i < j AND k > l", "(AND (AND (AND (AND (AND (<= a b) (>= c d)) (!= e f)) (<> g h)) (< i j)) (> k l))"},
		{"true OR FALSE AND null", "(OR true (AND false NULL))"},
		{"1.5e3 + .5", "(+ 1.5e3 .5)"},
		{"status COLLATE utf8mb4_bin = 'PAID'", "(= (collate status utf8mb4_bin) 'PAID')"},
		{"-a COLLATE x || b", "(|| (- (collate a x)) b)"},
		{"a::STRING COLLATE 'utf8mb4_bin' LIKE 'x%'", "(like (collate (cast a STRING) utf8mb4_bin) 'x%')"},
		{"lower(a) collate `latin1_bin` IN ('a')", "(in (collate (call lower a) latin1_bin) ['a'])"},
	}
	for _, c := range cases {
		e, err := ParseExpr("", c.src)
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		if got := sexpr(e); got != c.want {
			t.Errorf("%s\n got  %s\n want %s", c.src, got, c.want)
		}
		// FormatExpr must print something that parses back to the same tree.
		e2, err := ParseExpr("", FormatExpr(e))
		if err != nil {
			t.Errorf("%s: FormatExpr %q does not parse: %v", c.src, FormatExpr(e), err)
			continue
		}
		if sexpr(e2) != c.want {
			t.Errorf("%s: FormatExpr %q parses to %s", c.src, FormatExpr(e), sexpr(e2))
		}
	}
}

func TestLiterals(t *testing.T) {
	cases := []struct {
		src   string
		kind  LitKind
		value string
		unit  string
	}{
		{"42", LitInt, "42", ""},
		{"3.14", LitFloat, "3.14", ""},
		{"'text'", LitString, "text", ""},
		{"'it''s'", LitString, "it's", ""},
		{"''", LitString, "", ""},
		{"TRUE", LitBool, "true", ""},
		{"false", LitBool, "false", ""},
		{"NULL", LitNull, "", ""},
		{"TIMESTAMP '2026-01-02 03:04:05'", LitTimestamp, "2026-01-02 03:04:05", ""},
		{"timestamp '2026-01-02 03:04:05.123456'", LitTimestamp, "2026-01-02 03:04:05.123456", ""},
		{"DATE '2026-01-02'", LitDate, "2026-01-02", ""},
	}
	for _, u := range IntervalUnits {
		cases = append(cases, struct {
			src   string
			kind  LitKind
			value string
			unit  string
		}{"INTERVAL '5' " + strings.ToLower(u), LitInterval, "5", u})
	}
	for _, c := range cases {
		e, err := ParseExpr("", c.src)
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		l, ok := e.(*Literal)
		if !ok {
			t.Errorf("%s: got %T", c.src, e)
			continue
		}
		if l.Kind != c.kind || l.Value != c.value || l.Unit != c.unit {
			t.Errorf("%s: got %v %q %q, want %v %q %q", c.src, l.Kind, l.Value, l.Unit, c.kind, c.value, c.unit)
		}
		if l.Raw == "" {
			t.Errorf("%s: empty Raw", c.src)
		}
	}
}

func TestExprPositions(t *testing.T) {
	src := "a + f(b, 'x''y')\n  AND before.c IS NOT NULL"
	e, err := ParseExpr("e.etl", src)
	if err != nil {
		t.Fatal(err)
	}
	got := Dump(e, DumpOptions{Positions: true})
	want := `Binary @1:1-2:27
  Op: "AND"
  L: Binary @1:1-1:17
    Op: "+"
    L: ColumnRef @1:1-1:2
      Name: Ident @1:1-1:2
        Name: "a"
    R: Call @1:5-1:17
      Name: Ident @1:5-1:6
        Name: "f"
      Args: 
      - ColumnRef @1:7-1:8
          Name: Ident @1:7-1:8
            Name: "b"
      - Literal @1:10-1:16
          Kind: string
          Value: "x'y"
  R: IsNull @2:7-2:27
    X: ColumnRef @2:7-2:15
      Before: true
      Name: Ident @2:14-2:15
        Name: "c"
    Not: true
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Offsets agree with the source text.
	Walk(e, func(n Node) bool {
		p, q := n.Position(), n.EndPosition()
		if p.Filename != "e.etl" || q.Offset < p.Offset || q.Offset > len(src) {
			t.Errorf("%T: bad span %v-%v", n, p, q)
		}
		if id, ok := n.(*Ident); ok && src[p.Offset:q.Offset] != id.Raw {
			t.Errorf("ident %q spans %q", id.Raw, src[p.Offset:q.Offset])
		}
		return true
	})
}

// TestFormatExprHandBuilt checks that trees built by hand (as the planner
// may do) are printed with the parentheses they need.
func TestFormatExprHandBuilt(t *testing.T) {
	col := func(n string) Expr { return &ColumnRef{Name: &Ident{Name: n}} }
	num := func(v string) Expr { return &Literal{Kind: LitInt, Value: v} }
	cases := []struct {
		e    Expr
		want string
	}{
		{&Binary{Op: "*", L: &Binary{Op: "+", L: col("a"), R: col("b")}, R: col("c")}, "(a + b) * c"},
		{&Binary{Op: "-", L: col("a"), R: &Binary{Op: "-", L: col("b"), R: col("c")}}, "a - (b - c)"},
		{&Binary{Op: "=", L: &Unary{Op: "NOT", X: col("a")}, R: col("b")}, "(NOT a) = b"},
		{&Binary{Op: "AND", L: &Binary{Op: "=", L: col("a"), R: &Unary{Op: "NOT", X: col("b")}}, R: col("c")}, "a = NOT b AND c"},
		{&Binary{Op: "=", L: &Binary{Op: "=", L: col("a"), R: &Unary{Op: "NOT", X: col("b")}}, R: col("c")}, "a = (NOT b) = c"},
		{&Unary{Op: "-", X: &Unary{Op: "-", X: num("1")}}, "- -1"},
		{&Cast{X: &Unary{Op: "-", X: col("a")}, Type: &TypeName{Name: "INT64"}, Postfix: true}, "(-a)::INT64"},
		{&ColumnRef{Name: &Ident{Name: "order items"}}, "`order items`"},
		{&ColumnRef{Name: &Ident{Name: "key"}}, "`key`"},
		{&Literal{Kind: LitString, Value: "it's"}, "'it''s'"},
		{&IsNull{X: &Unary{Op: "NOT", X: col("a")}}, "(NOT a) IS NULL"},
	}
	for _, c := range cases {
		got := FormatExpr(c.e)
		if got != c.want {
			t.Errorf("got %s, want %s", got, c.want)
		}
		if _, err := ParseExpr("", got); err != nil {
			t.Errorf("%s does not parse: %v", got, err)
		}
	}
}
