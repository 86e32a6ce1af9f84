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
	// Cause, when set, is the error Msg tells of (a catalog read that
	// failed): errors.Is and errors.As see it — a read cut off by SIGINT
	// is context.Canceled, a stop, not a failure of the file.
	Cause error
}

// Unwrap returns the error Msg tells of, if any.
func (e *Error) Unwrap() error { return e.Cause }

// Errorf returns an Error at pos..end with the message format makes of
// args; the last error among args is its Cause.
func Errorf(pos, end Pos, format string, args ...any) *Error {
	var cause error
	for _, a := range args {
		if e, ok := a.(error); ok {
			cause = e
		}
	}
	return &Error{Pos: pos, EndPos: end, Msg: fmt.Sprintf(format, args...), Cause: cause}
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

// Unwrap returns the list's errors (errors.Is, errors.As).
func (e Errors) Unwrap() []error {
	out := make([]error, len(e))
	for i, x := range e {
		out[i] = x
	}
	return out
}

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
		// A masked secret is shown as Mask, whatever its length: the
		// caret and tildes are placed on the line as shown.
		sb.WriteString(expandTabs(ShowMasked(line)))
		sb.WriteByte('\n')
		prefix := expandTabs(ShowMasked(line[:col]))
		sb.WriteString(strings.Repeat(" ", utf8.RuneCountInString(prefix)))
		sb.WriteByte('^')
		if err.EndPos.Line == err.Pos.Line && err.EndPos.Offset > err.Pos.Offset+1 {
			end := col + (err.EndPos.Offset - err.Pos.Offset)
			if end > len(line) {
				end = len(line)
			}
			if end > col {
				n := utf8.RuneCountInString(expandTabs(ShowMasked(line[:end]))) - utf8.RuneCountInString(prefix) - 1
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
	if start == 0 && strings.HasPrefix(string(src), "\uFEFF") {
		start = len("\uFEFF") // the byte order mark is not shown
	}
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

// convertError turns a participle error into an *Error with clearer words;
// toks (all tokens of the input) give the context when participle does not
// say what it expected.
func convertError(err error, toks []lexer.Token) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var ute *participle.UnexpectedTokenError
	if errors.As(err, &ute) {
		return unexpectedToken(ute, toks)
	}
	var pe participle.Error
	if errors.As(err, &pe) {
		return &Error{Pos: pe.Position(), EndPos: pe.Position(), Msg: pe.Message()}
	}
	return &Error{Msg: err.Error()}
}

// unexpectedToken rewrites participle's "unexpected token" errors.
func unexpectedToken(ute *participle.UnexpectedTokenError, toks []lexer.Token) *Error {
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
	case expect == `")"` && !isOp(prevToken(&t, toks), "("):
		// Inside a non-empty list, a "," may come too.
		e.Msg = fmt.Sprintf(`expected "," or ")", found %s`, describe(&t))
	case expect != "":
		e.Msg = fmt.Sprintf("expected %s, found %s", expect, describe(&t))
	default:
		if ctx := expectedInContext(&t, toks); ctx != "" {
			e.Msg = fmt.Sprintf("expected %s, found %s", ctx, describe(&t))
		}
	}
	if c := commentBefore(&t, toks); c != nil && strings.HasPrefix(c.Value, "/*") && strings.Contains(c.Value[2:], "/*") {
		// /* a /* b */ c */: the comment ended at the first */.
		e.Msg += fmt.Sprintf(" (block comments do not nest: the comment from line %d ended at its first */)", c.Pos.Line)
		return e
	}
	if t.Type == tokIdent || t.Type == tokKeyword {
		if kw := closestKeyword(t.Value); kw != "" {
			e.Msg += " (did you mean " + kw + "?)"
		} else if h := sqlClauseHint[strings.ToUpper(t.Value)]; h != "" && strings.HasPrefix(e.Msg, "expected a clause") {
			e.Msg += " (" + h + ")"
		} else if prev := prevToken(&t, toks); t.Type == tokIdent && lastClause(&t, toks) == "TRANSFORM" &&
			!isOp(prev, ",") && !isKeyword(prevToken(prev, toks), "AS") {
			// TRANSFORM amount cents: an alias written as in SQL without AS.
			e.Msg += " (an output name needs AS: … AS " + t.Value + ")"
		}
	}
	return e
}

// sqlClauseHint says what to write for an SQL word found where a clause
// of a pipeline or query may start.
var sqlClauseHint = map[string]string{
	"SELECT": "the output columns are listed by TRANSFORM: TRANSFORM id, amount",
	"TO":     "did you mean INTO?",
	"ORDER":  "a pipeline has no ORDER BY: each change is passed on as it comes",
	"GROUP":  "a pipeline has no GROUP BY: each change is passed on as it comes",
	"HAVING": "a pipeline has no HAVING: filter with WHERE",
	"JOIN":   "a pipeline reads one table's changes: it has no JOIN",
}

// commentBefore returns the comment just before t (white space between
// them only), or nil.
func commentBefore(t *lexer.Token, toks []lexer.Token) *lexer.Token {
	var c *lexer.Token
	for i := range toks {
		tok := &toks[i]
		if tok.Pos.Offset >= t.Pos.Offset || tok.EOF() {
			break
		}
		switch tok.Type {
		case tokComment:
			c = tok
		case tokWhitespace:
		default:
			c = nil
		}
	}
	return c
}

// lastClause returns the clause keyword (upper case) of t's statement
// that t follows last, or "".
func lastClause(t *lexer.Token, toks []lexer.Token) string {
	clause := ""
	for i := range toks {
		tok := &toks[i]
		if tok.Pos.Offset >= t.Pos.Offset || tok.EOF() {
			break
		}
		switch {
		case isOp(tok, ";"):
			clause = ""
		case tok.Type == tokKeyword:
			switch k := strings.ToUpper(tok.Value); k {
			case "FROM", "SNAPSHOT", "WHERE", "TRANSFORM", "INTO", "FORMAT", "MODE", "KEY", "WITH", "LIMIT":
				clause = k
			}
		}
	}
	return clause
}

// prevToken returns the significant token before t, or an EOF token.
func prevToken(t *lexer.Token, toks []lexer.Token) *lexer.Token {
	prev := &lexer.Token{Type: lexer.EOF}
	for i := range toks {
		tok := &toks[i]
		if tok.Pos.Offset >= t.Pos.Offset || tok.EOF() {
			break
		}
		if tok.Type != tokComment && tok.Type != tokWhitespace {
			prev = tok
		}
	}
	return prev
}

// expectedInContext says what may come at t, from the statement t is in.
func expectedInContext(t *lexer.Token, toks []lexer.Token) string {
	var stmt []*lexer.Token // significant tokens of t's statement before t
	for i := range toks {
		tok := &toks[i]
		if tok.Pos.Offset >= t.Pos.Offset || tok.EOF() {
			break
		}
		switch {
		case tok.Type == tokComment || tok.Type == tokWhitespace:
		case isOp(tok, ";"):
			stmt = stmt[:0]
		default:
			stmt = append(stmt, tok)
		}
	}
	const clauses = "a clause (FROM binlog, SNAPSHOT, WHERE, TRANSFORM, INTO, FORMAT, MODE, KEY, WITH) or \";\""
	switch {
	case len(stmt) == 0:
		return "a statement (CREATE SOURCE, CREATE SINK, CREATE FUNCTION or CREATE PIPELINE)"
	case isKeyword(stmt[0], "FROM"):
		return "a clause (SNAPSHOT, WHERE, TRANSFORM, LIMIT) or the end of the query"
	case len(stmt) >= 2 && isKeyword(stmt[0], "CREATE"):
		switch strings.ToUpper(stmt[1].Value) {
		case "PIPELINE":
			return clauses
		case "SOURCE", "SINK":
			return "WITH (…) or \";\""
		}
		return "\";\""
	}
	return ""
}

// closestKeyword returns the keyword that word is probably a misspelling
// of, or "".
func closestKeyword(word string) string {
	w := strings.ToUpper(word)
	if len(w) < 3 {
		return ""
	}
	best, bestD := "", 3
	for _, k := range Keywords {
		if k == w {
			return ""
		}
		if d := editDistance(w, k); d < bestD && d < len(w)/2+1 {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Damerau-Levenshtein distance (with adjacent
// transpositions) between a and b.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := 0; j <= len(b); j++ {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// describeExpected rewrites participle's grammar fragment (what it
// expected) for a reader: the first element of the fragment, in words.
func describeExpected(g string) string {
	g = strings.TrimSpace(g)
	if g == "" {
		return ""
	}
	first := firstTerm(g)
	if strings.HasPrefix(first, "(") && strings.HasSuffix(first, ")") {
		alts := splitTop(first[1:len(first)-1], '|')
		words := make([]string, len(alts))
		for i, a := range alts {
			words[i] = describeExpected(a)
		}
		return joinOr(words)
	}
	if w, ok := productionWords[first]; ok {
		return w
	}
	return first
}

// productionWords names the grammar's productions in error messages.
var productionWords = map[string]string{
	"Ident":          "a name",
	"TableName":      "a table name",
	"TypeName":       "a type",
	"Expr":           "an expression",
	"StringLit":      "a string",
	"IntLit":         "a number",
	"Option":         "an option (name = value)",
	"Param":          "a parameter (name type)",
	"SelectItem":     "an expression or *",
	"CreateSource":   "SOURCE",
	"CreateSink":     "SINK",
	"CreateFunction": "FUNCTION",
	"CreatePipeline": "PIPELINE",
	"IntoClause":     "INTO",
	"Clause":         "a clause",
	"Statement":      "a statement",
	"Query":          "FROM binlog",
}

// firstTerm returns the first element of a grammar fragment: a quoted
// literal, a name, or a parenthesised group.
func firstTerm(g string) string {
	switch {
	case strings.HasPrefix(g, `"`):
		if i := strings.IndexByte(g[1:], '"'); i >= 0 {
			return g[:i+2]
		}
	case strings.HasPrefix(g, "("):
		depth := 0
		for i, r := range g {
			switch r {
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					return g[:i+1]
				}
			}
		}
	}
	if i := strings.IndexAny(g, " ()|*?+"); i > 0 {
		return g[:i]
	}
	return g
}

// splitTop splits s at sep outside parentheses.
func splitTop(s string, sep rune) []string {
	var parts []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case sep:
			if depth == 0 {
				parts = append(parts, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(parts, strings.TrimSpace(s[start:]))
}

func joinOr(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
