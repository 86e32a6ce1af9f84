package exec

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/etlq/etlq/stdlib"
)

// This file carries collations through expressions, as MySQL derives them
// (docs/functions.md, "Collations"): a column has its source column's
// collation (IMPLICIT), a literal and text computed from no column have
// stdlib.TextCollation (COERCIBLE), x COLLATE name is EXPLICIT, a string
// function keeps the collation of its text arguments, and an operation on
// two of them takes the stronger by stdlib.Aggregate.

// FieldCollation returns the collation a field's "etlq.collation"
// metadata names: nil when it names none; a stand-in that refuses to
// compare when etlq does not implement it (stdlib.UnknownCollation).
func FieldCollation(f arrow.Field) *stdlib.Collation {
	name, ok := f.Metadata.GetValue(MetaCollation)
	if !ok || name == "" {
		return nil
	}
	if c, ok := stdlib.LookupCollation(name); ok {
		return c
	}
	return stdlib.UnknownCollation(name)
}

// CollatedCol is Col for a text column whose values compare under coll
// (nil: stdlib.TextCollation).
func CollatedCol(index int, name string, t stdlib.Type, coll *stdlib.Collation) Expr {
	return &colExpr{index: index, name: name, t: t, coll: coll}
}

// FieldCol is Col for a source column described by f: a text column
// compares under f's collation; a DATETIME(n), TIMESTAMP(n) or TIME(n)
// has n fractional digits (what unix_timestamp's DECIMAL keeps).
func FieldCol(index int, name string, t stdlib.Type, f arrow.Field) Expr {
	c := &colExpr{index: index, name: name, t: t, coll: FieldCollation(f)}
	c.fsp, c.hasFSP = SourceFSP(f)
	return c
}

// collateExpr is x COLLATE name: x under another collation, EXPLICIT.
type collateExpr struct {
	x    node
	coll *stdlib.Collation
	// quiet: shown as x alone (ByteCompare, which the planner adds itself)
	quiet bool
}

// ByteCompare returns x compared byte for byte whatever its collation
// (changed(col) sees a change of case as a change); it shows as x.
func ByteCompare(x Expr) (Expr, error) {
	n, err := asNode(x)
	if err != nil {
		return nil, err
	}
	if !n.Type().IsStringLike() {
		return n, nil
	}
	return &collateExpr{x: n, coll: stdlib.TextCollation, quiet: true}, nil
}

// Collate returns x COLLATE name. x must be text.
func Collate(x Expr, name string) (Expr, error) {
	n, err := asNode(x)
	if err != nil {
		return nil, err
	}
	if k := n.Type().Kind; !(n.Type().IsStringLike() || k == stdlib.Null) {
		return nil, fmt.Errorf("COLLATE needs text, got %s", n.Type())
	}
	c, ok := stdlib.LookupCollation(name)
	if !ok {
		return nil, fmt.Errorf("unknown collation %q (known: %s)", name, strings.Join(stdlib.CollationNames(), ", "))
	}
	if c.Name == "binary" {
		// COLLATE binary is byte for byte: MySQL has it for binary
		// strings only, etlq for any text.
		c = stdlib.TextCollation
	}
	// A latin1 or ascii collation over text that may hold characters its
	// character set lacks is refused, as MySQL refuses it: each such
	// character would weigh as '?', and '🍕' COLLATE latin1_bin = '😀'
	// would be TRUE. A literal the character set holds ('Straße' for
	// latin1) is fine.
	if d := derive(n); d.Coll != nil && (d.Coer == stdlib.CoerImplicit || d.Coer == stdlib.CoerExplicit || d.Coer == stdlib.CoerCoercible) &&
		stdlib.NarrowsCharset(d.Coll.Charset, c.Charset) {
		if l, ok := n.(*litExpr); !ok || !stdlib.CharsetHolds(c.Charset, l.v.Str[0]) {
			return nil, fmt.Errorf("COLLATION '%s' is not valid for CHARACTER SET '%s' (as in MySQL): %s is %s text, and a character %s lacks would compare equal to every other such character; "+
				"compare it under a %s collation (utf8mb4_bin, utf8mb4_general_ci, …)",
				c.Name, d.Coll.Charset, n, d.Coll.Charset, c.Charset, d.Coll.Charset)
		}
	}
	return &collateExpr{x: n, coll: c}, nil
}

func (e *collateExpr) Type() stdlib.Type { return e.x.Type() }
func (e *collateExpr) children() []node  { return []node{e.x} }
func (e *collateExpr) String() string {
	if e.quiet {
		return e.x.String()
	}
	return fmt.Sprintf("%s COLLATE %s", e.x, e.coll.Name)
}
func (e *collateExpr) eval(c *evalCtx, sel []int32) *stdlib.Vector {
	return e.x.eval(c, sel)
}

// derive returns the collation of n's text and how strongly it holds it.
func derive(n node) stdlib.Derivation {
	text := stdlib.Derivation{Coll: stdlib.TextCollation, Coer: stdlib.CoerCoercible}
	t := n.Type()
	if t.Kind == stdlib.Null {
		return stdlib.Derivation{Coll: stdlib.TextCollation, Coer: stdlib.CoerIgnorable}
	}
	if t.Kind == stdlib.Binary {
		// A binary string compares byte for byte with anything (MySQL's
		// binary character set wins).
		bin, _ := stdlib.LookupCollation("binary")
		return stdlib.Derivation{Coll: bin, Coer: stdlib.CoerImplicit}
	}
	if !t.IsStringLike() {
		return stdlib.Derivation{Coll: stdlib.TextCollation, Coer: stdlib.CoerNumeric}
	}
	switch x := n.(type) {
	case *collateExpr:
		return stdlib.Derivation{Coll: x.coll, Coer: stdlib.CoerExplicit}
	case *colExpr:
		if x.coll == nil {
			return stdlib.Derivation{Coll: stdlib.TextCollation, Coer: stdlib.CoerImplicit}
		}
		return stdlib.Derivation{Coll: x.coll, Coer: stdlib.CoerImplicit}
	case *litExpr:
		if x.v.IsNull(0) {
			return stdlib.Derivation{Coll: stdlib.TextCollation, Coer: stdlib.CoerIgnorable}
		}
		return text
	case *castExpr:
		if x.x.Type().IsStringLike() || x.x.Type().Kind == stdlib.Null {
			return derive(x.x)
		}
		if x.lenient {
			return stdlib.Derivation{Coll: stdlib.TextCollation, Coer: stdlib.CoerNumeric}
		}
		return stdlib.Derivation{Coll: stdlib.TextCollation, Coer: stdlib.CoerImplicit}
	case *textNode:
		return derive(x.node)
	case *caseExpr:
		d := stdlib.Derivation{Coll: stdlib.TextCollation, Coer: stdlib.CoerIgnorable}
		for _, r := range x.results {
			d = stdlib.Aggregate(d, derive(r))
		}
		if x.els != nil {
			d = stdlib.Aggregate(d, derive(x.els))
		}
		return d
	case *callExpr:
		if !stdlib.KeepsCollation(x.f.Name) {
			return text
		}
		d := stdlib.Derivation{Coll: stdlib.TextCollation, Coer: stdlib.CoerIgnorable}
		for _, a := range x.args {
			d = stdlib.Aggregate(d, derive(a))
		}
		if d.Coer == stdlib.CoerIgnorable {
			return text
		}
		return d
	}
	return text
}

// derivations returns derive of each node.
func derivations(ns ...node) []stdlib.Derivation {
	ds := make([]stdlib.Derivation, len(ns))
	for i, n := range ns {
		ds[i] = derive(n)
	}
	return ds
}

// textCollation returns the collation op compares the text operands ns
// under, nil when that is byte for byte (the fast paths of before).
func textCollation(op string, ns ...node) (*stdlib.Collation, error) {
	c, err := stdlib.CompareCollation(op, derivations(ns...)...)
	if err != nil || c.IsBytes() {
		return nil, err
	}
	return c, nil
}

// constText compares text with one constant under a collation, with a
// fast path for ASCII text where the collation is ASCII case-insensitivity.
type constText struct {
	coll  *stdlib.Collation
	k     string
	fold  string // k lower-cased, trailing spaces cut under PAD SPACE
	plain bool   // the fast path applies to k
}

func newConstText(coll *stdlib.Collation, k string) *constText {
	m := &constText{coll: coll, k: k}
	if coll.FoldASCII() && coll.ASCIIPlain(k) {
		m.plain = true
		if coll.PadSpace() {
			k = strings.TrimRight(k, " ")
		}
		m.fold = strings.ToLower(k)
	}
	return m
}

// equal reports whether s equals the constant.
func (m *constText) equal(s string) bool {
	if !m.plain {
		return m.coll.Equal(s, m.k)
	}
	if m.coll.PadSpace() {
		for len(s) > 0 && s[len(s)-1] == ' ' {
			s = s[:len(s)-1]
		}
	}
	if len(s) == len(m.fold) {
		for i := 0; i < len(s); i++ {
			b := s[i]
			if !m.coll.PlainByte(b) {
				return m.coll.Equal(s, m.k)
			}
			if b-'A' < 26 {
				b += 'a' - 'A'
			}
			if b != m.fold[i] {
				// Every character so far weighed as one of k's: the
				// weights differ here.
				return false
			}
		}
		return true
	}
	if m.coll.ASCIIPlain(s) {
		// One weight per byte on both sides: different lengths.
		return false
	}
	return m.coll.Equal(s, m.k)
}

// compare compares s with the constant.
func (m *constText) compare(s string) int { return m.coll.Compare(s, m.k) }

// evalCollated evaluates a comparison of text under e.coll.
func (e *cmpExpr) evalCollated(c *evalCtx, sel []int32) *stdlib.Vector {
	if out := e.collatedColumnConst(c, sel); out != nil {
		return out
	}
	a, b, out, n, sel := e.operands(c, sel)
	if out == nil {
		return stdlib.NewNullConst(stdlib.TBool)
	}
	o := out.Bool
	coll := e.coll
	switch e.op {
	case "=":
		each(sel, n, func(i int) { o[i] = coll.Equal(a.Str[a.Idx(i)], b.Str[b.Idx(i)]) })
	case "<>":
		each(sel, n, func(i int) { o[i] = !coll.Equal(a.Str[a.Idx(i)], b.Str[b.Idx(i)]) })
	default:
		each(sel, n, func(i int) { o[i] = holds(e.op, coll.Compare(a.Str[a.Idx(i)], b.Str[b.Idx(i)])) })
	}
	return out
}

// collatedColumnConst is "text column op constant" under a collation,
// reading the Arrow array's bytes in place.
func (e *cmpExpr) collatedColumnConst(c *evalCtx, sel []int32) *stdlib.Vector {
	l, r, op := e.l, e.r, e.op
	if _, ok := l.(*litExpr); ok {
		l, r, op = r, l, mirror(op)
	}
	col, ok := unwrapCollate(l).(*colExpr)
	if !ok || col.t.Physical() != stdlib.PhysString || c.cols[col.index] != nil {
		return nil
	}
	lit, ok := unwrapCollate(r).(*litExpr)
	if !ok || lit.v.IsNull(0) {
		return nil
	}
	arr, ok := c.rec.Column(col.index).(*array.String)
	if !ok {
		return nil
	}
	m := e.konst
	if m == nil || m.k != lit.v.Str[0] {
		return nil
	}
	n := c.n
	offs := arr.ValueOffsets()
	var data string
	if vb := arr.ValueBytes(); len(vb) > 0 {
		data = unsafe.String(&vb[0], len(vb))
	}
	base := offs[0]
	out := c.vec(stdlib.TBool, n)
	o := out.Bool
	switch op {
	case "=":
		each(sel, n, func(i int) { o[i] = m.equal(data[offs[i]-base : offs[i+1]-base]) })
	case "<>":
		each(sel, n, func(i int) { o[i] = !m.equal(data[offs[i]-base : offs[i+1]-base]) })
	default:
		each(sel, n, func(i int) { o[i] = holds(op, m.compare(data[offs[i]-base:offs[i+1]-base])) })
	}
	if arr.NullN() > 0 {
		out.Nulls = c.mask(n)
		each(sel, n, func(i int) { out.Nulls[i] = arr.IsNull(i) })
	}
	return out
}

// unwrapCollate returns the node under COLLATE clauses.
func unwrapCollate(n node) node {
	for {
		c, ok := n.(*collateExpr)
		if !ok {
			return n
		}
		n = c.x
	}
}
