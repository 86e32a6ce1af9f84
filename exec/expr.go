package exec

import (
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/stdlib"
)

// Expr is a bound, typed scalar expression. The planner builds expressions
// with the constructors of this package (Col, Lit, Binary, Call, …) and runs
// them with a Program or the Filter and Project operators.
type Expr interface {
	// Type returns the type of the values the expression yields.
	Type() stdlib.Type
	// String returns the expression in the language's syntax.
	String() string
}

// ErrUnknownFunction is wrapped by Call for a name that is not a function.
var ErrUnknownFunction = stdlib.ErrUnknownFunction

// node is what every Expr of this package implements.
type node interface {
	Expr
	// eval evaluates the expression for the rows in sel (all rows when sel
	// is nil). The result is indexed by row; positions outside sel are
	// undefined. The result must not be modified: it may be shared (a
	// column of the input, a literal). Row errors go to c.Errs, and their
	// rows are NULL in the result.
	eval(c *evalCtx, sel []int32) *stdlib.Vector
	// children returns the sub-expressions (for folding and walking).
	children() []node
}

func asNode(e Expr) (node, error) {
	if e == nil {
		return nil, errors.New("missing expression")
	}
	n, ok := e.(node)
	if !ok {
		return nil, fmt.Errorf("expression %s was not built by package exec", e)
	}
	return n, nil
}

func asNodes(es []Expr) ([]node, error) {
	out := make([]node, len(es))
	for i, e := range es {
		n, err := asNode(e)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// each calls f for every selected row (every row 0..n-1 when sel is nil).
// It is small enough to be inlined together with a literal f, which makes
// each(sel, n, func(i int) { … }) a plain typed loop.
func each(sel []int32, n int, f func(i int)) {
	if sel == nil {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	for _, i := range sel {
		f(int(i))
	}
}

// colExpr is a column of the input record.
type colExpr struct {
	index int
	name  string
	t     stdlib.Type
	coll  *stdlib.Collation // text: the source column's collation (nil: stdlib.TextCollation)
	// fsp is the fractional second digits of the source's DATETIME(n),
	// TIMESTAMP(n) or TIME(n) (hasFSP: known from its declared type).
	fsp    int
	hasFSP bool
}

// Col returns a reference to column index of the input record, named name,
// of type t.
func Col(index int, name string, t stdlib.Type) Expr {
	return &colExpr{index: index, name: name, t: t}
}

// ColumnName returns the name of the input column e reads, when e is
// nothing but that column (ok false for any other expression).
func ColumnName(e Expr) (name string, ok bool) {
	c, ok := e.(*colExpr)
	if !ok {
		return "", false
	}
	return c.name, true
}

func (e *colExpr) Type() stdlib.Type { return e.t }
func (e *colExpr) String() string    { return quoteIdent(e.name) }
func (e *colExpr) children() []node  { return nil }

func (e *colExpr) eval(c *evalCtx, sel []int32) *stdlib.Vector {
	return c.column(e.index, e.t, sel)
}

func quoteIdent(s string) string {
	plain := s != ""
	for i, r := range s {
		if !(r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}

// litExpr is a constant.
type litExpr struct {
	v    *stdlib.Vector // constant vector
	text string
	// fsp is the fractional second digits a TIMESTAMP or TIME literal
	// writes (hasFSP: the literal was written as one, or converted from
	// text that was).
	fsp    int
	hasFSP bool
}

// Lit returns a constant of type t. v is nil (NULL), bool, int64, uint64,
// float64, string or []byte. A string is parsed for DECIMAL (the decimal
// text), DATE ('2026-01-02'), TIMESTAMP ('2026-01-02 03:04:05[.ffffff]'),
// TIME ('-838:59:59') and INTERVAL ('5 MINUTE'); numbers are converted to t
// when they fit.
func Lit(v any, t stdlib.Type) (Expr, error) {
	vec, err := stdlib.ConstOf(v, t)
	if err != nil {
		return nil, err
	}
	l := &litExpr{v: vec, text: stdlib.SQLLiteral(vec)}
	if str, ok := v.(string); ok && (t.Kind == stdlib.Timestamp || t.Kind == stdlib.Time) {
		l.fsp, l.hasFSP = stdlib.TextFSP(str), true
	}
	return l, nil
}

func (e *litExpr) Type() stdlib.Type { return e.v.Type }
func (e *litExpr) String() string    { return e.text }
func (e *litExpr) children() []node  { return nil }
func (e *litExpr) eval(*evalCtx, []int32) *stdlib.Vector {
	return e.v
}

// isNullLit reports whether n is the literal NULL.
func isNullLit(n node) bool {
	l, ok := n.(*litExpr)
	return ok && l.v.IsNull(0)
}

// arrowFieldFor returns the output field for an expression named name.
func arrowFieldFor(name string, t stdlib.Type) arrow.Field {
	return arrow.Field{Name: name, Type: t.Arrow(), Nullable: true, Metadata: t.Metadata()}
}

// ColumnIndex returns the input column index of e when e is a plain column
// reference (a TRANSFORM output that passes a column through unchanged).
func ColumnIndex(e Expr) (int, bool) {
	if c, ok := e.(*colExpr); ok {
		return c.index, true
	}
	return 0, false
}

// ColumnsRead returns the names of the input columns es read (each once,
// in the order met).
func ColumnsRead(es ...Expr) []string {
	var names []string
	seen := map[string]bool{}
	var walk func(n node)
	walk = func(n node) {
		if c, ok := n.(*colExpr); ok && !seen[c.name] {
			seen[c.name] = true
			names = append(names, c.name)
		}
		for _, ch := range n.children() {
			walk(ch)
		}
	}
	for _, e := range es {
		if n, ok := e.(node); ok && n != nil {
			walk(n)
		}
	}
	return names
}

// decimalOf is stdlib.DecimalOf of n's type, except that an integer
// literal is as wide as its own digits, as MariaDB types it (100 is
// DECIMAL(3,0)): amount * 100 of a DECIMAL(10,2) is DECIMAL(13,2) and
// COALESCE(amount, 0) DECIMAL(10,2), not the (29,2) and (21,2) of a BIGINT.
func decimalOf(n node) stdlib.Type {
	t := n.Type()
	if neg, ok := n.(*negExpr); ok && t.IsInteger() {
		n = neg.x // -100: the digits of 100
	}
	l, ok := n.(*litExpr)
	if !ok || !t.IsInteger() || !l.v.Type.IsInteger() || l.v.IsNull(0) {
		return stdlib.DecimalOf(t)
	}
	var u uint64
	if l.v.Type.IsUnsigned() {
		u = l.v.U64[0]
	} else if v := l.v.I64[0]; v < 0 {
		u = uint64(-(v + 1)) + 1
	} else {
		u = uint64(v)
	}
	digits := int32(1)
	for ; u >= 10; u /= 10 {
		digits++
	}
	return stdlib.Dec(digits, 0)
}
