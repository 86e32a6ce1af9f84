package stdlib

import (
	"fmt"
	"strings"
)

// Coercibility ranks how strongly a value holds its collation, as MySQL's
// COERCIBILITY() does: the lower wins when two values meet.
type Coercibility uint8

// Coercibilities, strongest first.
const (
	CoerExplicit  Coercibility = iota // x COLLATE name
	CoerNone                          // two collations that could not be reconciled
	CoerImplicit                      // a column, CAST(x AS STRING)
	CoerSysconst                      // a system constant (unused)
	CoerCoercible                     // a literal, text computed from no column
	CoerNumeric                       // a number or a date used as text
	CoerIgnorable                     // NULL
)

var coerNames = [...]string{"EXPLICIT", "NONE", "IMPLICIT", "SYSCONST", "COERCIBLE", "NUMERIC", "IGNORABLE"}

// String returns the coercibility's name, as MySQL's error messages spell
// it (IMPLICIT).
func (c Coercibility) String() string { return coerNames[c] }

// Derivation is the collation of a text value and how strongly it holds
// it. Coll is nil when Coer is CoerNone.
type Derivation struct {
	Coll *Collation
	Coer Coercibility
}

// String returns "(collation, coercibility)", as in MySQL's "illegal mix
// of collations" message.
func (d Derivation) String() string {
	name := "none"
	if d.Coll != nil {
		name = d.Coll.Name
	}
	return fmt.Sprintf("(%s, %s)", name, strings.ToLower(d.Coer.String()))
}

// charsetRank orders character sets by what they can hold: when two
// values of the same coercibility meet, the one whose character set holds
// the other's wins (binary over utf8mb4 over utf8mb3 over latin1 over
// ascii).
func charsetRank(cs string) int {
	switch cs {
	case "binary":
		return 5 // a binary string makes the comparison binary
	case "utf8mb4":
		return 4
	case "utf8mb3", "utf8":
		return 3
	case "latin1":
		return 2
	case "ascii":
		return 1
	}
	return 0
}

// Aggregate returns the derivation of an operation on values of
// derivations a and b, by MySQL's rules: the lower coercibility wins; of
// two equal ones, the same collation stays; a _bin collation wins over
// another of its character set; a character set that holds the other's
// wins; otherwise the result has no collation (CoerNone), which is an
// error where the operation compares (CompareCollation).
func Aggregate(a, b Derivation) Derivation {
	switch {
	case a.Coer == CoerIgnorable:
		return b
	case b.Coer == CoerIgnorable:
		return a
	case a.Coer == CoerNone || b.Coer == CoerNone:
		return Derivation{Coer: CoerNone}
	case a.Coll == b.Coll:
		return Derivation{Coll: a.Coll, Coer: min(a.Coer, b.Coer)}
	case a.Coer < b.Coer:
		return a
	case b.Coer < a.Coer:
		return b
	case a.Coer == CoerExplicit:
		return Derivation{Coer: CoerNone}
	}
	ra, rb := charsetRank(a.Coll.Charset), charsetRank(b.Coll.Charset)
	switch {
	case ra == rb && normCharset(a.Coll.Charset) == normCharset(b.Coll.Charset) && a.Coll.IsBin() != b.Coll.IsBin():
		if a.Coll.IsBin() {
			return a
		}
		return b
	case ra > rb:
		return a
	case rb > ra:
		return b
	}
	return Derivation{Coer: CoerNone}
}

func normCharset(cs string) string {
	if cs == "utf8" {
		return "utf8mb3"
	}
	return cs
}

// CompareCollation returns the collation an operation (op: "=", "LIKE",
// "locate", …) compares its text operands with, or an error when they
// have none (MySQL's "illegal mix of collations").
func CompareCollation(op string, ds ...Derivation) (*Collation, error) {
	if len(ds) == 0 {
		return TextCollation, nil
	}
	d := ds[0]
	for _, x := range ds[1:] {
		n := Aggregate(d, x)
		if n.Coer == CoerNone {
			parts := make([]string, len(ds))
			for i, y := range ds {
				parts[i] = y.String()
			}
			return nil, fmt.Errorf("illegal mix of collations %s for %s: add COLLATE <name> to one side",
				strings.Join(parts, " and "), op)
		}
		d = n
	}
	if d.Coll == nil {
		return TextCollation, nil
	}
	if d.Coll.kind == collUnknown {
		return nil, fmt.Errorf("collation %q is not supported for %s (docs/functions.md, \"Collations\", lists those etlq implements): "+
			"add COLLATE <name> to compare under one of them (utf8mb4_bin compares byte for byte)", d.Coll.Name, op)
	}
	return d.Coll, nil
}

// NarrowsCharset reports whether a collation of character set to cannot
// hold every character of text in character set from: a utf8mb4 or
// utf8mb3 text under a latin1 or ascii collation, a latin1 one under an
// ascii collation. MySQL refuses such a COLLATE (COLLATION 'latin1_bin' is
// not valid for CHARACTER SET 'utf8mb4'); etlq would weigh each character
// the collation lacks as '?', equal to every other such character.
// Binary text (byte strings) is not text of a character set: never.
func NarrowsCharset(from, to string) bool {
	if from == "binary" || (to != "latin1" && to != "ascii") {
		return false
	}
	return charsetRank(from) > charsetRank(to)
}

// CharsetHolds reports whether every character of s is one of character
// set cs: below U+0080 for ascii; MySQL's latin1 (Windows-1252, with the
// five bytes it leaves undefined passed through) for latin1; any for the
// others.
func CharsetHolds(cs, s string) bool {
	for _, r := range s {
		switch {
		case r < 0x80:
		case cs == "ascii":
			return false
		case cs != "latin1":
		case r >= 0xA0 && r <= 0xFF, r == 0x81, r == 0x8D, r == 0x8F, r == 0x90, r == 0x9D:
		case strings.ContainsRune("€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ", r):
		default:
			return false
		}
	}
	return true
}
