package exec

import (
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/etlq/etlq/stdlib"
)

// likeColl is a LIKE pattern compiled for a collation: each character of
// the pattern and of the text becomes its collation token
// (stdlib.Collation.Token), and _ matches one token, as MySQL's
// my_wildcmp_uca compares character with character: 'Straße' LIKE
// 'stra_e' holds under utf8mb4_unicode_ci, 'Straße' LIKE 'strasse' does
// not.
type likeColl struct {
	coll  *stdlib.Collation
	parts []likeTokPart
	// fold, when set, is the pattern lower-cased, for text that is ASCII
	// without ignorable characters under a collation that is ASCII case
	// insensitivity there (the fast path).
	fold *likeMatcher
}

type likeTokPart struct {
	any, one bool
	toks     []uint64
}

func compileLikeColl(coll *stdlib.Collation, p string) *likeColl {
	m := &likeColl{coll: coll}
	var lit []uint64
	flush := func() {
		if len(lit) > 0 {
			m.parts = append(m.parts, likeTokPart{toks: lit})
			lit = nil
		}
	}
	for i := 0; i < len(p); {
		r, w := utf8.DecodeRuneInString(p[i:])
		switch r {
		case '\\':
			if i+1 < len(p) {
				r, w = utf8.DecodeRuneInString(p[i+1:])
				i++
			}
			lit = append(lit, coll.Token(r))
		case '%':
			flush()
			if len(m.parts) == 0 || !m.parts[len(m.parts)-1].any {
				m.parts = append(m.parts, likeTokPart{any: true})
			}
		case '_':
			flush()
			m.parts = append(m.parts, likeTokPart{one: true})
		default:
			lit = append(lit, coll.Token(r))
		}
		i += w
	}
	flush()
	if coll.FoldASCII() && coll.ASCIIPlain(p) {
		m.fold = compileLike(strings.ToLower(p))
	}
	return m
}

// match reports whether s matches; buf and low are scratch space kept
// between calls.
func (m *likeColl) match(s string, buf *[]uint64, low *[]byte) bool {
	if m.fold != nil && m.coll.ASCIIPlain(s) {
		b := (*low)[:0]
		for i := 0; i < len(s); i++ {
			ch := s[i]
			if ch-'A' < 26 {
				ch += 'a' - 'A'
			}
			b = append(b, ch)
		}
		*low = b
		if len(b) == 0 {
			return m.fold.match("")
		}
		return m.fold.match(unsafe.String(&b[0], len(b))) // b is not kept

	}
	toks := (*buf)[:0]
	for i := 0; i < len(s); {
		// One token a character: a surrogate's form (three bytes that
		// are no UTF-8) is one, as in MariaDB's utf8mb4.
		w := stdlib.CharLen(s[i:])
		r, _ := utf8.DecodeRuneInString(s[i : i+w])
		toks = append(toks, m.coll.Token(r))
		i += w
	}
	*buf = toks
	return matchTokParts(m.parts, toks)
}

func matchTokParts(parts []likeTokPart, s []uint64) bool {
	for len(parts) > 0 {
		p := parts[0]
		switch {
		case p.any:
			rest := parts[1:]
			if len(rest) == 0 {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if matchTokParts(rest, s[i:]) {
					return true
				}
			}
			return false
		case p.one:
			if len(s) == 0 {
				return false
			}
			s = s[1:]
		default:
			if len(s) < len(p.toks) {
				return false
			}
			for k, t := range p.toks {
				if s[k] != t {
					return false
				}
			}
			s = s[len(p.toks):]
		}
		parts = parts[1:]
	}
	return len(s) == 0
}

// evalColl is eval under e.coll.
func (e *likeExpr) evalColl(a, p *stdlib.Vector, sel []int32, n int, out *stdlib.Vector) {
	m := e.fixedColl
	var lastPat string
	var buf []uint64
	var low []byte
	each(sel, n, func(i int) {
		if out.Nulls != nil && out.Nulls[i] {
			return
		}
		if m == nil || (e.fixedColl == nil && p.Str[p.Idx(i)] != lastPat) {
			lastPat = p.Str[p.Idx(i)]
			m = compileLikeColl(e.coll, lastPat)
		}
		out.Bool[i] = m.match(a.Str[a.Idx(i)], &buf, &low) != e.not
	})
}
