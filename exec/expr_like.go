package exec

import (
	"fmt"
	"strings"

	"github.com/etlq/etlq/stdlib"
)

// likeExpr is x [NOT] LIKE pattern: % matches any run of characters, _ one
// character, \ escapes the next one. Characters compare one by one under
// the operands' collation (expr_like_coll.go), exactly when that is byte
// for byte; trailing spaces count, as in MySQL.
type likeExpr struct {
	x, pattern node
	not        bool
	fixed      *likeMatcher // a constant pattern, compiled once
	// coll, when set, is the collation characters compare under; a
	// constant pattern is then compiled once into fixedColl.
	coll      *stdlib.Collation
	fixedColl *likeColl
}

// Like returns x [NOT] LIKE pattern.
func Like(x, pattern Expr, not bool) (Expr, error) {
	xn, err := asNode(x)
	if err != nil {
		return nil, err
	}
	pn, err := asNode(pattern)
	if err != nil {
		return nil, err
	}
	for i, n := range []node{xn, pn} {
		t := n.Type()
		// As MySQL, a number or a date matches as its text (id LIKE
		// '12%', created LIKE '2024-%'); the pattern must be text.
		if !(t.IsStringLike() || t.Kind == stdlib.Binary || t.Kind == stdlib.Null ||
			i == 0 && (t.IsNumeric() || t.Kind == stdlib.Date || t.Kind == stdlib.Timestamp)) {
			return nil, opErr("LIKE", xn.Type(), pn.Type())
		}
	}
	coll, err := textCollation("LIKE", xn, pn)
	if err != nil {
		return nil, err
	}
	if xn, err = coerce(xn, stdlib.TString); err != nil {
		return nil, err
	}
	if pn, err = coerce(pn, stdlib.TString); err != nil {
		return nil, err
	}
	e := &likeExpr{x: xn, pattern: pn, not: not, coll: coll}
	if v, ok := foldConst(pn); ok && !v.IsNull(0) {
		if coll != nil {
			e.fixedColl = compileLikeColl(coll, v.Str[0])
		} else {
			e.fixed = compileLike(v.Str[0])
		}
	}
	return e, nil
}

func (e *likeExpr) Type() stdlib.Type { return stdlib.TBool }
func (e *likeExpr) children() []node  { return []node{e.x, e.pattern} }
func (e *likeExpr) String() string {
	not := ""
	if e.not {
		not = "NOT "
	}
	return fmt.Sprintf("(%s %sLIKE %s)", e.x, not, e.pattern)
}

func (e *likeExpr) eval(c *evalCtx, sel []int32) *stdlib.Vector {
	a := e.x.eval(c, sel)
	p := e.pattern.eval(c, sel)
	n := c.n
	if a.Const && p.Const {
		n, sel = 1, nil
	}
	out := c.vec(stdlib.TBool, n)
	out.Const = a.Const && p.Const
	out.Nulls = c.mergeNulls(a, p, sel, n)
	if e.coll != nil {
		e.evalColl(a, p, sel, n, out)
		return out
	}
	m := e.fixed
	var lastPat string
	each(sel, n, func(i int) {
		if out.Nulls != nil && out.Nulls[i] {
			return
		}
		if m == nil || (e.fixed == nil && p.Str[p.Idx(i)] != lastPat) {
			lastPat = p.Str[p.Idx(i)]
			m = compileLike(lastPat)
		}
		out.Bool[i] = m.match(a.Str[a.Idx(i)]) != e.not
	})
	return out
}

type likeKind uint8

const (
	likeGeneral likeKind = iota
	likeExact
	likePrefix
	likeSuffix
	likeContains
)

// likeMatcher is a compiled LIKE pattern.
type likeMatcher struct {
	kind  likeKind
	lit   string     // for the fast kinds
	parts []likePart // for likeGeneral
}

type likePart struct {
	any  bool // %
	one  bool // _
	text string
}

func compileLike(p string) *likeMatcher {
	var parts []likePart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, likePart{text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(p); i++ {
		switch ch := p[i]; ch {
		case '\\':
			if i+1 < len(p) {
				i++
				lit.WriteByte(p[i])
			} else {
				lit.WriteByte('\\')
			}
		case '%':
			flush()
			if len(parts) == 0 || !parts[len(parts)-1].any {
				parts = append(parts, likePart{any: true})
			}
		case '_':
			flush()
			parts = append(parts, likePart{one: true})
		default:
			lit.WriteByte(ch)
		}
	}
	flush()
	m := &likeMatcher{parts: parts}
	switch {
	case len(parts) == 0:
		m.kind = likeExact
	case len(parts) == 1 && !parts[0].any && !parts[0].one:
		m.kind, m.lit = likeExact, parts[0].text
	case len(parts) == 2 && parts[1].any && parts[0].text != "":
		m.kind, m.lit = likePrefix, parts[0].text
	case len(parts) == 2 && parts[0].any && parts[1].text != "":
		m.kind, m.lit = likeSuffix, parts[1].text
	case len(parts) == 3 && parts[0].any && parts[2].any && parts[1].text != "":
		m.kind, m.lit = likeContains, parts[1].text
	}
	return m
}

func (m *likeMatcher) match(s string) bool {
	switch m.kind {
	case likeExact:
		return s == m.lit
	case likePrefix:
		return strings.HasPrefix(s, m.lit)
	case likeSuffix:
		return strings.HasSuffix(s, m.lit)
	case likeContains:
		return strings.Contains(s, m.lit)
	}
	return matchParts(m.parts, s)
}

func matchParts(parts []likePart, s string) bool {
	for len(parts) > 0 {
		p := parts[0]
		switch {
		case p.any:
			rest := parts[1:]
			if len(rest) == 0 {
				return true
			}
			for i := 0; i <= len(s); {
				if matchParts(rest, s[i:]) {
					return true
				}
				if i == len(s) {
					break
				}
				i += stdlib.CharLen(s[i:]) // a surrogate's form is one character, as in MariaDB
			}
			return false
		case p.one:
			if s == "" {
				return false
			}
			s = s[stdlib.CharLen(s):]
		default:
			if !strings.HasPrefix(s, p.text) {
				return false
			}
			s = s[len(p.text):]
		}
		parts = parts[1:]
	}
	return s == ""
}
