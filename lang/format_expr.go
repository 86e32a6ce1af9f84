package lang

import (
	"strings"
)

// FormatExpr prints an expression in canonical form: upper-case keywords,
// single spaces around binary operators, names and literals as written.
// Parentheses are printed where the user wrote them, and added where the
// tree needs them (for trees built by hand), so the text parses back to the
// same tree.
func FormatExpr(e Expr) string {
	var sb strings.Builder
	writeExpr(&sb, e, 0, 0)
	return sb.String()
}

// exprPrec is the precedence of the operator at the root of e; primaries
// bind tightest.
func exprPrec(e Expr) int {
	switch e := e.(type) {
	case *Binary:
		return binaryOps[e.Op]
	case *Unary:
		if e.Op == "NOT" {
			return precNot
		}
		return precUnary
	case *IsNull, *In, *Between, *Like:
		return precCompare
	}
	return precUnary + 1
}

// writeExpr writes e, in parentheses when its precedence is below min.
// tail is the precedence of the operator printed right after e (0 for
// none): a prefix NOT or - may stay bare below min as long as its operand
// cannot swallow that operator.
func writeExpr(sb *strings.Builder, e Expr, min, tail int) {
	if e == nil {
		return
	}
	if p := exprPrec(e); p < min {
		if _, ok := e.(*Unary); !ok || tail >= p {
			sb.WriteByte('(')
			writeExpr(sb, e, 0, 0)
			sb.WriteByte(')')
			return
		}
	}
	switch e := e.(type) {
	case *Literal:
		sb.WriteString(literalText(e))
	case *ColumnRef:
		if e.Before {
			sb.WriteString("before.")
		}
		sb.WriteString(identText(e.Name))
	case *Unary:
		if e.Op == "NOT" {
			sb.WriteString("NOT ")
			writeExpr(sb, e.X, precNot, tail)
			return
		}
		var inner strings.Builder
		writeExpr(&inner, e.X, precUnary, tail)
		sb.WriteString("-")
		if strings.HasPrefix(inner.String(), "-") {
			sb.WriteByte(' ') // "--" would start a comment
		}
		sb.WriteString(inner.String())
	case *Binary:
		p := binaryOps[e.Op]
		writeExpr(sb, e.L, p, p)
		sb.WriteString(" " + e.Op + " ")
		writeExpr(sb, e.R, p+1, tail)
	case *IsNull:
		writeExpr(sb, e.X, precCompare, precCompare)
		if e.Not {
			sb.WriteString(" IS NOT NULL")
		} else {
			sb.WriteString(" IS NULL")
		}
	case *In:
		writeExpr(sb, e.X, precCompare, precCompare)
		sb.WriteString(not(e.Not) + " IN (")
		for i, x := range e.List {
			if i > 0 {
				sb.WriteString(", ")
			}
			writeExpr(sb, x, 0, 0)
		}
		sb.WriteByte(')')
	case *Between:
		writeExpr(sb, e.X, precCompare, precCompare)
		sb.WriteString(not(e.Not) + " BETWEEN ")
		writeExpr(sb, e.Lo, precCompare+1, precAnd)
		sb.WriteString(" AND ")
		writeExpr(sb, e.Hi, precCompare+1, tail)
	case *Like:
		writeExpr(sb, e.X, precCompare, precCompare)
		sb.WriteString(not(e.Not) + " LIKE ")
		writeExpr(sb, e.Pattern, precCompare+1, tail)
	case *Case:
		sb.WriteString("CASE")
		if e.Operand != nil {
			sb.WriteByte(' ')
			writeExpr(sb, e.Operand, 0, 0)
		}
		for _, w := range e.Whens {
			sb.WriteString(" WHEN ")
			writeExpr(sb, w.Cond, 0, 0)
			sb.WriteString(" THEN ")
			writeExpr(sb, w.Result, 0, 0)
		}
		if e.Else != nil {
			sb.WriteString(" ELSE ")
			writeExpr(sb, e.Else, 0, 0)
		}
		sb.WriteString(" END")
	case *Collate:
		writeExpr(sb, e.X, precUnary+1, precUnary+1)
		sb.WriteString(" COLLATE " + identText(e.Name))
	case *Cast:
		if e.Postfix {
			writeExpr(sb, e.X, precUnary+1, precUnary+1)
			sb.WriteString("::" + e.Type.String())
			return
		}
		sb.WriteString("CAST(")
		writeExpr(sb, e.X, 0, 0)
		sb.WriteString(" AS " + e.Type.String() + ")")
	case *Call:
		sb.WriteString(identText(e.Name))
		sb.WriteByte('(')
		for i, a := range e.Args {
			if i > 0 {
				sb.WriteString(", ")
			}
			writeExpr(sb, a, 0, 0)
		}
		sb.WriteByte(')')
	case *Paren:
		sb.WriteByte('(')
		writeExpr(sb, e.X, 0, 0)
		sb.WriteByte(')')
	}
}

func not(b bool) string {
	if b {
		return " NOT"
	}
	return ""
}

// literalText prints a literal: numbers as written, strings re-quoted,
// keywords upper case.
func literalText(l *Literal) string {
	switch l.Kind {
	case LitInt, LitFloat:
		if l.Raw != "" {
			return l.Raw
		}
		return l.Value
	case LitString:
		if l.Raw != "" { // Raw, never Value: Value may hold an expanded secret
			return l.Raw
		}
		return quoteString(l.Value)
	case LitBool:
		return strings.ToUpper(l.Value)
	case LitNull:
		return "NULL"
	case LitTimestamp:
		return "TIMESTAMP " + quoteString(l.Value)
	case LitDate:
		return "DATE " + quoteString(l.Value)
	case LitInterval:
		return "INTERVAL " + quoteString(l.Value) + " " + l.Unit
	}
	return l.Raw
}

// identText prints a name as written; a name built by hand is back-quoted
// when it could not be read back bare.
func identText(id *Ident) string {
	if id == nil {
		return ""
	}
	if id.Raw != "" {
		return id.Raw
	}
	if id.Quoted || !isBareName(id.Name) {
		return "`" + strings.ReplaceAll(id.Name, "`", "``") + "`"
	}
	return id.Name
}

// isBareName reports whether s can be written without back quotes.
func isBareName(s string) bool {
	if s == "" || IsReserved(s) {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
