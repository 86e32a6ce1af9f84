package lang

import (
	"fmt"
	"strings"
	"sync"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// parserOptions are shared by the file and the statement parsers.
func parserOptions() []participle.Option {
	return []participle.Option{
		participle.Lexer(etlLexer),
		participle.Elide("Comment", "Whitespace"),
		participle.CaseInsensitive("Keyword"),
		participle.ParseTypeWith(parseExprFrom),
	}
}

var (
	fileParser = participle.MustBuild[File](parserOptions()...)
	stmtParser = participle.MustBuild[Statement](parserOptions()...)
)

// ParseFile parses a whole .etl file. The error, when not nil, is Errors.
// On error the returned File may be partial or nil.
func ParseFile(filename string, src []byte) (*File, error) {
	toks, comments, errs := lexAll(filename, string(src))
	if len(errs) > 0 {
		return nil, errs
	}
	lex := peeking(toks)
	defer forgetHardError(lex)
	f, err := fileParser.ParseFromLexer(lex)
	if err != nil {
		first := parseError(err, lex, toks)
		return nil, statementErrors(toks, first)
	}
	f.Comments = comments
	if len(toks) > 0 {
		f.Pos = toks[0].Pos
		f.EndPos = toks[len(toks)-1].Pos
	}
	errs = checkFile(f)
	if len(errs) > 0 {
		return f, errs
	}
	return f, nil
}

// statementErrors returns the syntax error of each statement of a file
// that does not parse, first the file's: each statement up to its ";" is
// parsed on its own, so that a syntax error does not hide those of the
// statements after it (etlq check reports every error of the file). A
// statement after one whose ";" is missing is read with it, and reported
// once.
func statementErrors(toks []lexer.Token, first *Error) Errors {
	errs := Errors{first}
	if len(toks) == 0 || !toks[len(toks)-1].EOF() {
		return errs
	}
	eof := toks[len(toks)-1]
	var seg []lexer.Token
	for _, t := range toks {
		if t.EOF() {
			break
		}
		seg = append(seg, t)
		if t.Value != ";" || t.Type == tokComment || t.Type == tokWhitespace {
			continue
		}
		part := append(seg, eof)
		seg = nil
		if part[0].Pos.Offset <= first.Pos.Offset && first.Pos.Offset <= t.Pos.Offset {
			continue // the file's error: this statement's
		}
		lex := peeking(part)
		if _, err := fileParser.ParseFromLexer(lex); err != nil {
			if e := parseError(err, lex, part); e.Pos.Offset > first.Pos.Offset {
				errs = append(errs, e)
			}
		}
		forgetHardError(lex)
	}
	return errs
}

// StatementStarts lists what a statement typed in the REPL begins with.
const StatementStarts = "SHOW, DESCRIBE, FROM binlog, PLAN, CREATE SOURCE or CREATE FUNCTION"

// firstToken returns the first significant token, nil if there is none.
func firstToken(toks []lexer.Token) *lexer.Token {
	for i := range toks {
		if t := &toks[i]; t.Type != tokComment && t.Type != tokWhitespace && !t.EOF() {
			return t
		}
	}
	return nil
}

// tokenBefore returns the last significant token that begins before
// offset, nil if there is none.
func tokenBefore(toks []lexer.Token, offset int) *lexer.Token {
	var prev *lexer.Token
	for i := range toks {
		t := &toks[i]
		if t.Pos.Offset >= offset || t.EOF() {
			break
		}
		if t.Type != tokComment && t.Type != tokWhitespace {
			prev = t
		}
	}
	return prev
}

// ParseStatement parses one statement typed in the REPL: a CREATE …, a
// query "FROM binlog db.t [WHERE …] [TRANSFORM …] [LIMIT n]", or a command
// (SHOW …, DESCRIBE …, PLAN pipeline, HELP). The trailing ";" is optional.
// A statement that begins with anything else is refused with the list of
// StatementStarts. The error, when not nil, is Errors.
func ParseStatement(filename, src string) (*Statement, error) {
	toks, _, errs := lexAll(filename, src)
	if len(errs) > 0 {
		return nil, errs
	}
	lex := peeking(toks)
	defer forgetHardError(lex)
	st, err := stmtParser.ParseFromLexer(lex)
	if err != nil {
		e := parseError(err, lex, toks)
		if first := firstToken(toks); first != nil && first.Pos.Offset == e.Pos.Offset && !isOp(first, ";") {
			e.EndPos = tokEnd(first)
			e.Msg = fmt.Sprintf("%q does not begin a statement here: %s (\\help lists them)", first.Value, StatementStarts)
			return nil, Errors{e}
		}
		if prev := tokenBefore(toks, e.Pos.Offset); prev != nil && strings.EqualFold(prev.Value, "LIKE") &&
			strings.EqualFold(firstToken(toks).Value, "SHOW") {
			// SHOW TABLES LIKE `x` or LIKE x: said only 'unexpected'.
			e.Msg = "LIKE takes a pattern string in single quotes: LIKE 'order%'"
			return nil, Errors{e}
		}
		for _, t := range toks {
			if isOp(&t, ";") && t.Pos.Offset < e.Pos.Offset {
				e.Msg = "one statement at a time: " + strings.Replace(e.Msg, "expected a statement (CREATE SOURCE, CREATE SINK, CREATE FUNCTION or CREATE PIPELINE), found", "unexpected", 1) + " after \";\""
				break
			}
		}
		return nil, Errors{e}
	}
	var c checker
	c.statement(st, true)
	if len(c.errs) > 0 {
		return st, c.errs
	}
	return st, nil
}

// ParseExpr parses a single expression. The error, when not nil, is Errors.
func ParseExpr(filename, src string) (Expr, error) {
	toks, _, errs := lexAll(filename, src)
	if len(errs) > 0 {
		return nil, errs
	}
	lex := peeking(toks)
	defer forgetHardError(lex)
	e, err := parseExprFrom(lex)
	if err != nil {
		return nil, Errors{convertError(err, toks)}
	}
	if t := lex.Peek(); !t.EOF() {
		return nil, Errors{tokenError(t, "unexpected %s after the expression", describe(t))}
	}
	var c checker
	c.expr(e)
	if len(c.errs) > 0 {
		return e, c.errs
	}
	return e, nil
}

// lexAll lexes src completely, reporting unterminated strings, names and
// comments and stray characters, and returns the tokens (comments and
// whitespace included, EOF last) and the comments.
func lexAll(filename, src string) ([]lexer.Token, []*Comment, Errors) {
	l, err := etlLexer.LexString(filename, src)
	if err != nil {
		return nil, nil, Errors{{Pos: Pos{Filename: filename, Line: 1, Column: 1}, Msg: err.Error()}}
	}
	var (
		toks     []lexer.Token
		comments []*Comment
		errs     Errors
		dquote   *Error // the error at a '"' that opens a string, until its closing '"'
	)
	bom := strings.HasPrefix(src, bomChar)
	for {
		t, err := l.Next()
		if err != nil {
			return nil, nil, Errors{{Pos: t.Pos, EndPos: t.Pos, Msg: err.Error()}}
		}
		if bom {
			// A UTF-8 byte order mark that starts the file is not part
			// of the text: white space, and line 1 counts its columns
			// from after it, as editors do.
			if t.Pos.Offset == 0 && t.Type == tokBad {
				t.Type = tokWhitespace
			} else if t.Pos.Line == 1 {
				t.Pos.Column--
			}
		}
		toks = append(toks, t)
		switch t.Type {
		case tokComment:
			// A "-- …" comment ends before "\r\n" too.
			c := &Comment{Pos: t.Pos, EndPos: tokEnd(&t), Text: strings.TrimRight(t.Value, "\r")}
			c.afterComma = lastSignificant(toks[:len(toks)-1]) == ","
			comments = append(comments, c)
		case tokBadComment:
			errs = append(errs, startError(&t, 2, "unterminated comment: \"/*\" has no matching \"*/\""))
		case tokBadString:
			errs = append(errs, startError(&t, 1, "unterminated string: missing closing \"'\""))
		case tokBadQuoted:
			errs = append(errs, startError(&t, 1, "unterminated name: missing closing \"`\""))
		case tokBad:
			if t.Value == "\"" && dquote != nil && dquote.Pos.Line == t.Pos.Line {
				// The closing quote of a string written in double
				// quotes: the one error covers the whole "…".
				dquote.EndPos, dquote = tokEnd(&t), nil
				break
			}
			if n := len(toks); n >= 2 && toks[n-2].Type == tokBad && len(errs) > 0 {
				// One error for a run of stray characters ("&&").
				last := errs[len(errs)-1]
				if last.EndPos.Offset == t.Pos.Offset {
					last.EndPos = tokEnd(&t)
					break
				}
			}
			errs = append(errs, tokenError(&t, "%s", "unexpected character "+quote(t.Value)+badCharHint(t.Value)))
			if t.Value == "\"" {
				dquote = errs[len(errs)-1]
			}
		}
		if t.EOF() {
			break
		}
	}
	if e := backslashQuote(toks, errs, src); e != nil {
		errs = Errors{e}
	} else if e := runawayString(toks, errs); e != nil {
		errs = Errors{e}
	}
	return toks, comments, errs
}

// backslashQuote finds the likely cause of a string left open when a
// string before the first error ends with \' : written as in MySQL
// ('O\'Brien'), where a backslash escapes a quote, the string ended there
// and every later quote opens a string instead of closing one. The error
// points at the \' and shows the string with its quote doubled.
func backslashQuote(toks []lexer.Token, errs Errors, src string) *Error {
	open := false
	for _, t := range toks {
		open = open || t.Type == tokBadString
	}
	if !open {
		return nil
	}
	first := errs[0].Pos.Offset
	for i := range toks {
		t := &toks[i]
		if t.Pos.Offset >= first {
			break
		}
		if t.Type != tokString || len(t.Value) < 3 {
			continue
		}
		body := t.Value[1 : len(t.Value)-1]
		if n := len(body) - len(strings.TrimRight(body, `\`)); n%2 == 0 {
			continue // no backslash, or one written twice (\\ in MySQL)
		}
		start := t.Pos
		start.Advance(t.Value[:len(t.Value)-2])
		end := tokEnd(t)
		fix := "'it''s'"
		rest := src[end.Offset:]
		if j := strings.IndexAny(rest, "'\n"); j >= 0 && j <= 40 && rest[j] == '\'' {
			fix = "'" + strings.ReplaceAll(unquoteString(t.Value[:len(t.Value)-2]+"'"), "'", "''") + "''" + rest[:j] + "'"
		}
		return &Error{Pos: start, EndPos: end, Msg: fmt.Sprintf("a backslash does not escape a quote: this ' ends the string %s (write a quote inside a string twice: %s)", t.Value, fix)}
	}
	return nil
}

// runawayString finds the string that is the likely cause of lexing errors:
// a string that is not closed on its line swallows the text up to the next
// quote, and every later quote then opens a string instead of closing one,
// so the errors show up lines after the real mistake. When there are errors
// and a string that spans lines ends before the first of them, the last such
// string is reported as unterminated at its opening quote (strings may span
// lines, so one alone is not an error). Only when a string is left open at
// the end, as an odd count of quotes leaves one: another stray character
// after a string written over lines on purpose is reported as it is.
func runawayString(toks []lexer.Token, errs Errors) *Error {
	open := false
	for _, t := range toks {
		open = open || t.Type == tokBadString
	}
	if !open {
		return nil
	}
	first := errs[0].Pos.Offset
	var s *lexer.Token
	for i := range toks {
		t := &toks[i]
		if t.Pos.Offset >= first {
			break
		}
		if t.Type == tokString && strings.Contains(t.Value, "\n") {
			s = t
		}
	}
	if s == nil {
		return nil
	}
	e := startError(s, 1, "unterminated string: missing closing \"'\"")
	e.Msg += fmt.Sprintf(" (the string runs on to line %d)", tokEnd(s).Line)
	return e
}

// lastSignificant is the value of the last token of toks that is not
// white space or a comment, "" if there is none.
func lastSignificant(toks []lexer.Token) string {
	for i := len(toks) - 1; i >= 0; i-- {
		if toks[i].Type != tokComment && toks[i].Type != tokWhitespace {
			return toks[i].Value
		}
	}
	return ""
}

// bomChar is the UTF-8 byte order mark.
const bomChar = "\uFEFF"

// badCharHint says what the user probably meant by a stray character.
func badCharHint(c string) string {
	switch c {
	case "\"":
		return " (strings are written in single quotes, names in back quotes)"
	case "&":
		return " (use AND)"
	case "|":
		return " (use OR; || concatenates strings)"
	case "!":
		return " (use NOT, or != for \"not equal\")"
	case ":":
		return " (options are written name = value; casts x::type)"
	case "[", "]", "{", "}":
		return " (lists are written in parentheses)"
	}
	if c[0] >= 0x80 {
		return " (names with non-ASCII letters must be back-quoted)"
	}
	return ""
}

// startError is an error at the first n bytes of t (the opening quote).
func startError(t *lexer.Token, n int, msg string) *Error {
	end := t.Pos
	end.Advance(t.Value[:n])
	return &Error{Pos: t.Pos, EndPos: end, Msg: msg}
}

type sliceLexer struct {
	toks []lexer.Token
	i    int
}

func (s *sliceLexer) Next() (lexer.Token, error) {
	t := s.toks[s.i]
	if s.i < len(s.toks)-1 {
		s.i++
	}
	return t, nil
}

// peeking makes a PeekingLexer over toks that skips comments and whitespace.
func peeking(toks []lexer.Token) *lexer.PeekingLexer {
	pl, err := lexer.Upgrade(&sliceLexer{toks: toks}, tokComment, tokWhitespace)
	if err != nil { // sliceLexer never fails
		panic(err)
	}
	return pl
}

// hardErrors holds, per parse, the furthest error raised by the
// hand-written parsers (expressions, types). participle backtracks out of
// optional groups and may then report a less precise error earlier in the
// input ("expected \")\"" for "f(a)"); the parse reports the hard error
// instead when it is at least as far. The key is the address of the
// parse's first token, which the lexer and all its branches share.
var hardErrors sync.Map

func hardErrorKey(lex *lexer.PeekingLexer) *lexer.Token { return &lex.Range(0, 1)[0] }

// hard records err, an *Error, as a hard error of the parse that lex
// belongs to, and returns it.
func hard(lex *lexer.PeekingLexer, err error) error {
	e, ok := err.(*Error)
	if !ok {
		return err
	}
	key := hardErrorKey(lex)
	if old, ok := hardErrors.Load(key); !ok || old.(*Error).Pos.Offset < e.Pos.Offset {
		hardErrors.Store(key, e)
	}
	return e
}

func forgetHardError(lex *lexer.PeekingLexer) { hardErrors.Delete(hardErrorKey(lex)) }

// parseError converts participle's error, preferring a hard error that is
// at least as far into the input.
func parseError(err error, lex *lexer.PeekingLexer, toks []lexer.Token) *Error {
	e := convertError(err, toks)
	if h, ok := hardErrors.Load(hardErrorKey(lex)); ok && h.(*Error).Pos.Offset >= e.Pos.Offset {
		return h.(*Error)
	}
	return e
}

// Parse implements participle.Parseable: a name is a bare identifier, a
// back-quoted one, or a keyword that is not reserved.
func (n *Ident) Parse(lex *lexer.PeekingLexer) error {
	t := lex.Peek()
	if !isNameToken(t) {
		return participle.NextMatch
	}
	lex.Next()
	*n = *identFromToken(t)
	return nil
}

func identFromToken(t *lexer.Token) *Ident {
	id := &Ident{Pos: t.Pos, EndPos: tokEnd(t), Raw: t.Value, Name: t.Value}
	if t.Type == tokQuotedIdent {
		id.Quoted = true
		id.Name = unquoteIdent(t.Value)
	}
	return id
}

// Parse implements participle.Parseable: 1 to 3 dot-separated parts; an
// unquoted part may hold * and ? globs and may start with a digit, written
// without spaces (order_*, 2024_orders).
func (n *TableName) Parse(lex *lexer.PeekingLexer) error {
	first, err := parseTablePart(lex)
	if err != nil || first == nil {
		if err == nil {
			return participle.NextMatch
		}
		return err
	}
	n.Pos = first.Pos
	n.Parts = []*Ident{first}
	for isOp(lex.Peek(), ".") {
		dot := lex.Next()
		part, err := parseTablePart(lex)
		if err != nil {
			return err
		}
		if part == nil {
			t := lex.Peek()
			return tokenError(t, "expected a name after %s, found %s", quote(dot.Value), describe(t))
		}
		n.Parts = append(n.Parts, part)
	}
	n.EndPos = n.Parts[len(n.Parts)-1].EndPos
	return nil
}

func isGlobToken(t *lexer.Token) bool {
	return isNameToken(t) && t.Type != tokQuotedIdent || t.Type == tokInt ||
		t.Type == tokKeyword || isOp(t, "*") || isOp(t, "?")
}

// parseTablePart parses one part of a table name; nil when there is none.
func parseTablePart(lex *lexer.PeekingLexer) (*Ident, error) {
	t := lex.Peek()
	if t.Type == tokQuotedIdent {
		lex.Next()
		return identFromToken(t), nil
	}
	if !isGlobToken(t) {
		return nil, nil
	}
	if t.Type == tokKeyword && reservedSet[strings.ToUpper(t.Value)] {
		return nil, nil
	}
	start := *t
	lex.Next()
	var sb strings.Builder
	sb.WriteString(t.Value)
	end := tokEnd(t)
	for {
		t := lex.RawPeek()
		if t.Pos.Offset != end.Offset || !isGlobToken(t) {
			break
		}
		if t.Type == tokKeyword && reservedSet[strings.ToUpper(t.Value)] {
			break
		}
		lex.Next()
		sb.WriteString(t.Value)
		end = tokEnd(t)
	}
	raw := sb.String()
	return &Ident{Pos: start.Pos, EndPos: end, Name: raw, Raw: raw}, nil
}

// HasGlob reports whether an unquoted part of the name holds * or ?.
func (n *TableName) HasGlob() bool {
	for _, p := range n.Parts {
		if !p.Quoted && strings.ContainsAny(p.Name, "*?") {
			return true
		}
	}
	return false
}

// String returns the name as written, parts joined by ".".
func (n *TableName) String() string {
	parts := make([]string, len(n.Parts))
	for i, p := range n.Parts {
		parts[i] = p.Raw
	}
	return strings.Join(parts, ".")
}

// Parse implements participle.Parseable: a type name with optional
// numeric parameters, DECIMAL(12,2).
func (n *TypeName) Parse(lex *lexer.PeekingLexer) error {
	tn, err := parseTypeName(lex)
	if err != nil {
		return hard(lex, err)
	}
	if tn == nil {
		// A type is never optional where TypeName is used.
		t := lex.Peek()
		return hard(lex, tokenError(t, "expected a type, found %s", describe(t)))
	}
	*n = *tn
	return nil
}
