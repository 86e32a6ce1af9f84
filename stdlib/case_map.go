package stdlib

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// caseMap holds, for one of MariaDB's case tables, the characters whose
// lower or upper case differs from Go's unicode.ToLower/ToUpper (written
// by internal/casegen from a live server, case_table.go).
type caseMap struct {
	lower, upper map[rune]rune
}

// caseMapOf returns the case table lower() and upper() use for text in
// collation c, as MariaDB picks it: unicode_520_ci and uca1400_ai_ci (and
// utf8mb4_0900_ai_ci, its stand-in) have their own, latin1 its own, and
// every other collation — _bin, _general_ci, _unicode_ci, text from no
// column — the default one; a collation etlq does not implement, the
// table of its UCA version.
func caseMapOf(c *Collation) *caseMap {
	switch {
	case c == nil:
		return &caseDefault
	case c.Charset == "latin1":
		return &caseLatin1
	case c.table == "unicode_520_ci":
		return &caseUnicode520
	case c.table == "uca1400_ai_ci":
		return &caseUCA1400
	case c.kind == collUnknown && strings.Contains(c.Name, "uca1400"):
		// A tailoring etlq does not compare under (utf8mb4_uca1400_swedish_ai_ci)
		// has its UCA version's table all the same.
		return &caseUCA1400
	case c.kind == collUnknown && strings.Contains(c.Name, "_520_"):
		return &caseUnicode520
	}
	return &caseDefault
}

// mapper returns the function that maps one character to its upper (up)
// or lower case under m.
func (m *caseMap) mapper(up bool) func(rune) rune {
	exc, to := m.lower, unicode.ToLower
	if up {
		exc, to = m.upper, unicode.ToUpper
	}
	return func(r rune) rune {
		if x, ok := exc[r]; ok {
			return x
		}
		return to(r)
	}
}

// Lower returns s lower-cased as MariaDB's lower() does for text in
// collation c.
func (c *Collation) Lower(s string) string { return caseMapOf(c).apply(s, false) }

// Upper returns s upper-cased as MariaDB's upper() does for text in
// collation c.
func (c *Collation) Upper(s string) string { return caseMapOf(c).apply(s, true) }

// apply returns s upper-cased (up) or lower-cased under m.
func (m *caseMap) apply(s string, up bool) string {
	b := make([]byte, len(s))
	if asciiCase(b, s, up) {
		return string(b)
	}
	return mapChars(m.mapper(up), s)
}

// mapChars is strings.Map(f, s) but for bytes that are no UTF-8 (a
// surrogate's form, which MariaDB's utf8mb4 keeps, charLen): those stay as
// they are, as MariaDB's upper and lower keep them, where strings.Map
// writes U+FFFD.
func mapChars(f func(rune) rune, s string) string {
	if utf8.ValidString(s) {
		return strings.Map(f, s)
	}
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && w <= 1 {
			w = charLen(s[i:])
			b = append(b, s[i:i+w]...)
		} else if m := f(r); m >= 0 {
			b = utf8.AppendRune(b, m)
		}
		i += w
	}
	return string(b)
}
