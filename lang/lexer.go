package lang

import (
	"sort"
	"strings"

	"github.com/alecthomas/participle/v2/lexer"
)

// Keywords lists every keyword of the language, upper case. Keywords are
// case-insensitive. The ones in Reserved can only be used as names when
// back-quoted; the others (BINLOG, DATE, DAY, …) are also valid names.
var Keywords = []string{
	// statements and clauses
	"CREATE", "SOURCE", "SINK", "FUNCTION", "PIPELINE", "FROM", "INTO", "WITH",
	"RETURNS", "AS", "BINLOG", "SNAPSHOT", "WHERE", "TRANSFORM", "FORMAT",
	"MODE", "KEY", "EXCEPT", "LIMIT",
	// REPL commands (not reserved: still valid names)
	"SHOW", "DESCRIBE", "DESC", "PLAN", "HELP",
	// expressions
	"AND", "OR", "NOT", "IS", "NULL", "IN", "BETWEEN", "LIKE", "CASE", "WHEN",
	"THEN", "ELSE", "END", "CAST", "TRUE", "FALSE", "TIMESTAMP", "DATE",
	"INTERVAL", "BEFORE", "COLLATE", "DIV",
	// interval units
	"MICROSECOND", "SECOND", "MINUTE", "HOUR", "DAY", "WEEK", "MONTH",
	"QUARTER", "YEAR",
}

// Reserved lists the keywords that cannot be used as bare names: they start
// a clause or are operators. Back-quote them to use them as names
// (`key`).
var Reserved = []string{
	"AND", "AS", "BETWEEN", "CASE", "CAST", "COLLATE", "CREATE", "ELSE", "END", "EXCEPT",
	"FALSE", "FORMAT", "FROM", "IN", "INTO", "IS", "KEY", "LIKE", "LIMIT",
	"MODE", "NOT", "NULL", "OR", "RETURNS", "SNAPSHOT", "THEN", "TRANSFORM",
	"TRUE", "WHEN", "WHERE", "WITH",
}

// IntervalUnits lists the units of an INTERVAL literal.
var IntervalUnits = []string{"MICROSECOND", "SECOND", "MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}

var (
	reservedSet = toSet(Reserved)
	unitSet     = toSet(IntervalUnits)
)

func toSet(words []string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// IsReserved reports whether word (any case) is a reserved keyword.
func IsReserved(word string) bool { return reservedSet[strings.ToUpper(word)] }

func keywordPattern() string {
	ks := append([]string(nil), Keywords...)
	// Longest first, so that no keyword is cut short by a prefix of it.
	sort.Slice(ks, func(i, j int) bool {
		if len(ks[i]) != len(ks[j]) {
			return len(ks[i]) > len(ks[j])
		}
		return ks[i] < ks[j]
	})
	return `(?i)(?:` + strings.Join(ks, "|") + `)\b`
}

// etlLexer is the lexer of .etl files. The rules are tried in order at each
// position; the Bad* rules catch unterminated strings, names and comments
// and stray characters so that the parser can say what is wrong instead of
// failing inside the lexer.
var lexerRules = []lexer.SimpleRule{
	{Name: "Comment", Pattern: `--[^\n]*|/\*(?s:.*?)\*/`},
	{Name: "BadComment", Pattern: `/\*(?s:.*)`},
	{Name: "Whitespace", Pattern: `\s+`},
	{Name: "String", Pattern: `'(?:[^']|'')*'`},
	{Name: "BadString", Pattern: `'(?:[^']|'')*`},
	{Name: "QuotedIdent", Pattern: "`(?:[^`]|``)*`"},
	{Name: "BadQuotedIdent", Pattern: "`(?:[^`]|``)*"},
	{Name: "Float", Pattern: `(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+`},
	{Name: "Int", Pattern: `\d+`},
	{Name: "Keyword", Pattern: keywordPattern()},
	{Name: "Ident", Pattern: `[A-Za-z_][A-Za-z0-9_]*`},
	{Name: "Operator", Pattern: `::|<>|!=|<=|>=|\|\||[-+*/%=<>(),.;?]`},
	{Name: "Bad", Pattern: `.`},
}

var etlLexer = lexer.MustSimple(lexerRules)

// Token types of etlLexer.
var (
	tokSymbols     = etlLexer.Symbols()
	tokEOF         = lexer.EOF
	tokComment     = tokSymbols["Comment"]
	tokBadComment  = tokSymbols["BadComment"]
	tokWhitespace  = tokSymbols["Whitespace"]
	tokString      = tokSymbols["String"]
	tokBadString   = tokSymbols["BadString"]
	tokQuotedIdent = tokSymbols["QuotedIdent"]
	tokBadQuoted   = tokSymbols["BadQuotedIdent"]
	tokFloat       = tokSymbols["Float"]
	tokInt         = tokSymbols["Int"]
	tokKeyword     = tokSymbols["Keyword"]
	tokIdent       = tokSymbols["Ident"]
	tokOperator    = tokSymbols["Operator"]
	tokBad         = tokSymbols["Bad"]
)

// tokEnd returns the position just after t.
func tokEnd(t *lexer.Token) Pos {
	p := t.Pos
	p.Advance(t.Value)
	return p
}

// isKeyword reports whether t is the keyword kw (upper case).
func isKeyword(t *lexer.Token, kw string) bool {
	return t.Type == tokKeyword && strings.EqualFold(t.Value, kw)
}

// isOp reports whether t is the operator or punctuation op.
func isOp(t *lexer.Token, op string) bool {
	return t.Type == tokOperator && t.Value == op
}

// isNameToken reports whether t can be a name: a bare identifier, a
// back-quoted one, or a keyword that is not reserved.
func isNameToken(t *lexer.Token) bool {
	switch t.Type {
	case tokIdent, tokQuotedIdent:
		return true
	case tokKeyword:
		return !reservedSet[strings.ToUpper(t.Value)]
	}
	return false
}

// unquoteIdent removes the back quotes of a quoted name and unescapes “.
func unquoteIdent(raw string) string {
	return strings.ReplaceAll(raw[1:len(raw)-1], "``", "`")
}

// unquoteString removes the quotes of a string literal and unescapes ”.
func unquoteString(raw string) string {
	if len(raw) < 2 {
		return raw
	}
	return strings.ReplaceAll(raw[1:len(raw)-1], "''", "'")
}

// quoteString writes s as a string literal.
func quoteString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// describe names a token in an error message.
func describe(t *lexer.Token) string {
	if t.EOF() {
		return "end of input"
	}
	v := t.Value
	if len(v) > 40 {
		v = v[:37] + "..."
	}
	return quote(v)
}

// quote double-quotes s for an error message.
func quote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
