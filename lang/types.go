package lang

import (
	"strconv"
	"strings"

	"github.com/alecthomas/participle/v2/lexer"
)

// TypeNames lists the canonical type names, as TypeName.Name holds them.
var TypeNames = []string{
	"BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64",
	"FLOAT32", "FLOAT64", "DECIMAL", "STRING", "BINARY", "DATE", "TIMESTAMP", "TIME", "JSON",
}

// TypeAliases maps accepted alternative spellings to canonical type names.
// FLOAT is deliberately absent: it means 32 bits in MySQL and 64 in
// PostgreSQL, so the user has to say FLOAT32 or FLOAT64.
var TypeAliases = map[string]string{
	"BOOLEAN":   "BOOL",
	"TINYINT":   "INT8",
	"SMALLINT":  "INT16",
	"INT":       "INT32",
	"INTEGER":   "INT32",
	"BIGINT":    "INT64",
	"REAL":      "FLOAT32",
	"DOUBLE":    "FLOAT64",
	"NUMERIC":   "DECIMAL",
	"TEXT":      "STRING",
	"VARCHAR":   "STRING",
	"BYTES":     "BINARY",
	"BLOB":      "BINARY",
	"VARBINARY": "BINARY",
	"DATETIME":  "TIMESTAMP",
}

var typeSet = toSet(TypeNames)

// MaxDecimalPrecision is the largest precision of DECIMAL(p,s).
const MaxDecimalPrecision = 76

// parseTypeName parses "name" or "name(n, …)"; nil, nil when the next token
// cannot be a type name. Unknown names are checked later by checkTypeName.
func parseTypeName(lex *lexer.PeekingLexer) (*TypeName, error) {
	t := lex.Peek()
	if t.Type != tokIdent && t.Type != tokKeyword {
		return nil, nil
	}
	lex.Next()
	written := t.Value
	name := strings.ToUpper(written)
	if alias, ok := TypeAliases[name]; ok {
		name = alias
	}
	tn := &TypeName{Pos: t.Pos, EndPos: tokEnd(t), Name: name, Written: written}
	if isOp(lex.Peek(), "(") {
		open := lex.Next()
		for {
			n := lex.Peek()
			if n.Type != tokInt {
				return nil, tokenError(n, "expected a number in the parameters of %s, found %s", name, describe(n))
			}
			lex.Next()
			v, err := strconv.Atoi(n.Value)
			if err != nil || v > 1000 {
				return nil, tokenError(n, "type parameter %s is too large", n.Value)
			}
			tn.Params = append(tn.Params, v)
			if !isOp(lex.Peek(), ",") {
				break
			}
			lex.Next()
		}
		c := lex.Peek()
		if !isOp(c, ")") {
			return nil, tokenError(c, "expected \")\" to close the parameters of %s, found %s", name, describe(c))
		}
		lex.Next()
		tn.EndPos = tokEnd(c)
		_ = open
	}
	return tn, nil
}

// checkTypeName reports an unknown type or wrong parameters. It runs after
// parsing (see checker), so that participle's backtracking cannot hide it.
func checkTypeName(tn *TypeName) *Error {
	if tn.Name == "FLOAT" {
		return &Error{Pos: tn.Pos, EndPos: tn.EndPos, Msg: "type " + quote(tn.Written) + " is ambiguous: write FLOAT32 or FLOAT64"}
	}
	if !typeSet[tn.Name] {
		return &Error{Pos: tn.Pos, EndPos: tn.EndPos, Msg: "unknown type " + quote(tn.Written) + " (expected one of " + strings.Join(TypeNames, ", ") + ")"}
	}
	return checkTypeParams(tn)
}

func checkTypeParams(tn *TypeName) *Error {
	bad := func(msg string) *Error { return &Error{Pos: tn.Pos, EndPos: tn.EndPos, Msg: msg} }
	if tn.Name != "DECIMAL" {
		if len(tn.Params) > 0 {
			if w := strings.ToUpper(tn.Written); w != tn.Name && w != "" {
				// VARCHAR(10): say so in the user's words, and what it is.
				return bad("type " + tn.Written + " (" + tn.Name + ") takes no length or other parameters: write " + tn.Written + " alone")
			}
			return bad("type " + tn.Name + " takes no parameters")
		}
		return nil
	}
	switch len(tn.Params) {
	case 0:
		return bad("DECIMAL needs a precision: DECIMAL(p) or DECIMAL(p,s)")
	case 1:
		tn.Params = append(tn.Params, 0)
	case 2:
	default:
		return bad("DECIMAL takes at most 2 parameters: DECIMAL(p,s)")
	}
	p, s := tn.Params[0], tn.Params[1]
	if p < 1 || p > MaxDecimalPrecision {
		return bad("DECIMAL precision " + strconv.Itoa(p) + " is out of range 1…" + strconv.Itoa(MaxDecimalPrecision))
	}
	if s > p {
		return bad("DECIMAL scale " + strconv.Itoa(s) + " is larger than its precision " + strconv.Itoa(p))
	}
	return nil
}

// String returns the type in canonical form: "DECIMAL(12,2)", "INT64".
func (n *TypeName) String() string {
	if len(n.Params) == 0 {
		return n.Name
	}
	ps := make([]string, len(n.Params))
	for i, p := range n.Params {
		ps[i] = strconv.Itoa(p)
	}
	return n.Name + "(" + strings.Join(ps, ",") + ")"
}
