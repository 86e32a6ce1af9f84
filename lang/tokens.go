package lang

import "strings"

// Token is a significant token of text that may be unfinished, as the
// REPL's completion reads the statement being typed: comments and white
// space are left out, and an unterminated string or quoted name runs to
// the end of the text.
type Token struct {
	Pos    Pos
	EndPos Pos
	// Text is the token as meant: a string or quoted name without its
	// quotes (” and “ unescaped), anything else as written.
	Text string
	// Name: a name, a non-reserved keyword, or a table name part with
	// globs written without spaces (order_*, *); Quoted: a back-quoted
	// name; String: a string literal.
	Name, Quoted, String bool
}

// Is reports whether t is the bare word (a keyword or name, any case).
func (t Token) Is(word string) bool {
	return !t.Quoted && !t.String && strings.EqualFold(t.Text, word)
}

// Tokens returns the significant tokens of src, never failing: what the
// lexer cannot read becomes a token of its own.
func Tokens(src string) []Token {
	l, err := etlLexer.LexString("", src)
	if err != nil {
		return nil
	}
	var out []Token
	for {
		t, err := l.Next()
		if err != nil || t.EOF() {
			return out
		}
		switch t.Type {
		case tokComment, tokBadComment, tokWhitespace:
			continue
		}
		tok := Token{Pos: t.Pos, EndPos: tokEnd(&t), Text: t.Value}
		switch t.Type {
		case tokString, tokBadString:
			tok.String, tok.Text = true, unquoteLenient(t.Value, "'")
		case tokQuotedIdent, tokBadQuoted:
			tok.Name, tok.Quoted, tok.Text = true, true, unquoteLenient(t.Value, "`")
		default:
			tok.Name = isNameToken(&t) || isOp(&t, "*") || isOp(&t, "?")
		}
		// A table name part is written without spaces: order_*, 2024_*.
		if n := len(out); n > 0 && isGlobToken(&t) && !reservedSet[strings.ToUpper(t.Value)] {
			if prev := &out[n-1]; prev.Name && !prev.Quoted && prev.EndPos.Offset == t.Pos.Offset {
				prev.Text += t.Value
				prev.EndPos = tok.EndPos
				continue
			}
		}
		out = append(out, tok)
	}
}

// unquoteLenient removes the quote q around raw, the closing one only when
// it is there, and unescapes the doubled quote inside.
func unquoteLenient(raw, q string) string {
	s := strings.TrimPrefix(raw, q)
	if strings.Count(s, q)%2 == 1 { // doubled quotes inside, then the closing one
		s = s[:len(s)-1]
	}
	return strings.ReplaceAll(s, q+q, q)
}
