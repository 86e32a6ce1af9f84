package lang

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// Error is an error at a place in a source file. EndPos, when set and on the
// same line as Pos, marks the end of the offending text.
type Error struct {
	Pos    Pos
	EndPos Pos
	Msg    string
}

// Error returns "file:line:col: msg".
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", posString(e.Pos), e.Msg)
}

// Message returns the message without the position (participle.Error).
func (e *Error) Message() string { return e.Msg }

// Position returns where the error is (participle.Error).
func (e *Error) Position() Pos { return e.Pos }

func posString(p Pos) string {
	name := p.Filename
	if name == "" {
		name = "<input>"
	}
	return fmt.Sprintf("%s:%d:%d", name, p.Line, p.Column)
}

// Errors is a list of errors, in source order.
type Errors []*Error

// Error joins the errors, one per line.
func (e Errors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "\n")
}

// Format renders every error as "file:line:col: msg", the source line and a
// caret under the start, with tildes up to EndPos when it is on the same
// line:
//
//	f.etl:3:7: unknown column "amout" (did you mean "amount"?)
//	WHERE amout > 10
//	      ^~~~~
func (e Errors) Format(src []byte) string {
	var sb strings.Builder
	for _, err := range e {
		sb.WriteString(err.Error())
		sb.WriteByte('\n')
		line, col, ok := sourceLine(src, err.Pos)
		if !ok {
			continue
		}
		sb.WriteString(expandTabs(line))
		sb.WriteByte('\n')
		prefix := expandTabs(line[:col])
		sb.WriteString(strings.Repeat(" ", utf8.RuneCountInString(prefix)))
		sb.WriteByte('^')
		if err.EndPos.Line == err.Pos.Line && err.EndPos.Offset > err.Pos.Offset+1 {
			end := col + (err.EndPos.Offset - err.Pos.Offset)
			if end > len(line) {
				end = len(line)
			}
			if end > col {
				n := utf8.RuneCountInString(expandTabs(line[:end])) - utf8.RuneCountInString(prefix) - 1
				if n > 0 {
					sb.WriteString(strings.Repeat("~", n))
				}
			}
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

// sourceLine returns the line holding p (without its newline) and p's byte
// offset in it.
func sourceLine(src []byte, p Pos) (string, int, bool) {
	if p.Line == 0 || p.Offset < 0 || p.Offset > len(src) {
		return "", 0, false
	}
	start := strings.LastIndexByte(string(src[:p.Offset]), '\n') + 1
	end := len(src)
	if i := strings.IndexByte(string(src[p.Offset:]), '\n'); i >= 0 {
		end = p.Offset + i
	}
	return strings.TrimRight(string(src[start:end]), "\r"), p.Offset - start, true
}

func expandTabs(s string) string { return strings.ReplaceAll(s, "\t", "    ") }

// tokenError is an error that spans the token t.
func tokenError(t *lexer.Token, format string, args ...any) *Error {
	return &Error{Pos: t.Pos, EndPos: tokEnd(t), Msg: fmt.Sprintf(format, args...)}
}

// convertError turns a participle error into an *Error with clearer words.
func convertError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var ute *participle.UnexpectedTokenError
	if errors.As(err, &ute) {
		return unexpectedToken(ute)
	}
	var pe participle.Error
	if errors.As(err, &pe) {
		return &Error{Pos: pe.Position(), EndPos: pe.Position(), Msg: pe.Message()}
	}
	return &Error{Msg: err.Error()}
}

// unexpectedToken rewrites participle's "unexpected token" errors.
func unexpectedToken(ute *participle.UnexpectedTokenError) *Error {
	t := ute.Unexpected
	expect := ""
	if msg := ute.Message(); strings.Contains(msg, "(expected ") {
		expect = msg[strings.Index(msg, "(expected ")+len("(expected ") : len(msg)-1]
	}
	expect = describeExpected(expect)
	e := tokenError(&t, "unexpected %s", describe(&t))
	switch {
	case expect == "a name" && t.Type == tokKeyword:
		e.Msg = fmt.Sprintf("expected a name, found reserved word %s (back-quote it to use it as a name: `%s`)", describe(&t), t.Value)
	case expect != "":
		e.Msg = fmt.Sprintf("expected %s, found %s", expect, describe(&t))
	}
	return e
}

// describeExpected rewrites participle's grammar fragment for a reader.
func describeExpected(g string) string {
	g = strings.TrimSpace(g)
	switch g {
	case "":
		return ""
	case "Ident":
		return "a name"
	case "TableName":
		return "a table name"
	case "TypeName":
		return "a type"
	case "Expr":
		return "an expression"
	case "StringLit":
		return "a string"
	case "Statement":
		return "a statement (CREATE …)"
	}
	if strings.HasPrefix(g, `"`) && strings.Count(g, `"`) == 2 {
		return g
	}
	return g
}
