package stdlib

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// keepsCollation lists the functions whose text result has the collation
// of their text arguments (MySQL's derivation): lower(name) compares as
// name does. Other text results (md5, hex, date_format, json_value, …)
// have TextCollation.
var keepsCollation = map[string]bool{
	"lower": true, "upper": true, "substr": true, "substring": true, "left": true, "right": true,
	"trim": true, "ltrim": true, "rtrim": true, "lpad": true, "rpad": true, "concat": true,
	"concat_ws": true, "replace": true, "reverse": true, "split_part": true, "mask": true,
	"regexp_replace": true, "regexp_substr": true, "greatest": true, "least": true,
}

// KeepsCollation reports whether function name's text result keeps the
// collation of its text arguments.
func KeepsCollation(name string) bool { return keepsCollation[strings.ToLower(name)] }

// argsCollation returns the collation fn compares its text arguments (the
// args at idx, all when idx is nil) under.
func argsCollation(fn string, args []Arg, idx ...int) (*Collation, error) {
	var ds []Derivation
	for i, a := range args {
		if idx != nil && !contains(idx, i) {
			continue
		}
		d := a.Deriv
		if d.Coll == nil && d.Coer != CoerNone {
			d = Derivation{Coll: TextCollation, Coer: CoerCoercible}
			switch {
			case a.Type.Kind == Null:
				d.Coer = CoerIgnorable
			case !a.Type.IsStringLike():
				d.Coer = CoerNumeric
			}
		}
		ds = append(ds, d)
	}
	return CompareCollation(fn, ds...)
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// collated binds a function with bind, then, when its text arguments (at
// idx) compare under a collation other than byte for byte, replaces the
// kernel by mk(collation).
func collated(fn string, bind func([]Arg) (*Bound, error), mk func(*Collation) Kernel, idx ...int) func([]Arg) (*Bound, error) {
	return func(args []Arg) (*Bound, error) {
		b, err := bind(args)
		if err != nil {
			return nil, err
		}
		coll, err := argsCollation(fn, args, idx...)
		if err != nil {
			return nil, err
		}
		if !coll.IsBytes() {
			b.Kernel = mk(coll)
		}
		return b, nil
	}
}

// collLocateKernel is locate(sub, s[, pos]) (instr(s, sub) when swapped)
// under a collation, as MariaDB's my_instr_mb: at each character of s, the
// bytes of s as long as sub are compared with sub, trailing spaces
// counting. locate('ss', 'Straße') is 5 under utf8mb4_unicode_ci, where
// 'ß' = 'ss'; locate('a', 'Bäckerei') is 0 even where 'ä' = 'a'. In a
// single-byte character set the bytes are characters (locateByChars).
func collLocateKernel(coll *Collation, swapped bool) Kernel {
	fold := coll.FoldASCII()
	return func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
		Sel(sel, n, func(i int) {
			sub, s := a[0].Str[i], a[1].Str[i]
			if swapped {
				sub, s = s, sub
			}
			from := int64(1)
			if len(a) > 2 {
				from = a[2].I64[i]
				if from < 1 {
					out.I64[i] = 0
					return
				}
			}
			if from-1 > int64(charCount(s)) {
				out.I64[i] = 0
				return
			}
			off := runeIndex(s, int(from-1))
			if sub == "" {
				out.I64[i] = from
				return
			}
			if fold && coll.ASCIIPlain(s) && coll.ASCIIPlain(sub) {
				// One byte, one weight, equal weights iff equal but for
				// case: a case-insensitive byte search.
				k := indexFoldASCII(s[off:], sub)
				if k < 0 {
					out.I64[i] = 0
				} else {
					out.I64[i] = from + int64(k)
				}
				return
			}
			if coll.singleByte() {
				out.I64[i] = locateByChars(coll, s[off:], sub, from)
				return
			}
			pos := from
			for p := off; p+len(sub) <= len(s); pos++ {
				end := p + len(sub)
				if (end == len(s) || utf8.RuneStart(s[end])) && coll.compare(s[p:end], sub, false) == 0 {
					out.I64[i] = pos
					return
				}
				p += charLen(s[p:])
			}
			out.I64[i] = 0
		})
	}
}

// locateByChars is locate in a single-byte character set (latin1, ascii),
// as MariaDB's my_instr_simple: sub's characters against as many of s's,
// one by one by weight (s starts at position from).
func locateByChars(coll *Collation, s, sub string, from int64) int64 {
	var subT, sT []uint64
	for _, r := range sub {
		subT = append(subT, coll.Token(r))
	}
	for _, r := range s {
		sT = append(sT, coll.Token(r))
	}
	for p := 0; p+len(subT) <= len(sT); p++ {
		k := 0
		for k < len(subT) && sT[p+k] == subT[k] {
			k++
		}
		if k == len(subT) {
			return from + int64(p)
		}
	}
	return 0
}

// indexFoldASCII is strings.Index ignoring ASCII case (s and sub ASCII).
func indexFoldASCII(s, sub string) int {
	for p := 0; p+len(sub) <= len(s); p++ {
		k := 0
		for k < len(sub) && lowerASCII(s[p+k]) == lowerASCII(sub[k]) {
			k++
		}
		if k == len(sub) {
			return p
		}
	}
	return -1
}

// collRegexp compiles a pattern as a case-insensitive collation matches:
// MariaDB's REGEXP ignores case under a _ci collation (accents count).
func collRegexp(coll *Collation) func(string) (*regexp.Regexp, error) {
	if coll == nil || !coll.CaseInsensitive() {
		return regexp.Compile
	}
	return func(p string) (*regexp.Regexp, error) { return regexp.Compile("(?i)" + p) }
}

// singleByte reports whether c's character set has one byte per
// character.
func (c *Collation) singleByte() bool { return c.Charset == "latin1" || c.Charset == "ascii" }

// collAffixKernel is starts_with(s, prefix) (ends_with(s, suffix) when
// suffix) under a collation: the affix's characters against as many of
// s's first (last) ones, one by one, as LIKE compares them.
func collAffixKernel(coll *Collation, suffix bool) Kernel {
	return func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
		var st, at []uint64
		Sel(sel, n, func(i int) {
			s, x := a[0].Str[i], a[1].Str[i]
			st, at = st[:0], at[:0]
			for _, r := range s {
				st = append(st, coll.Token(r))
			}
			for _, r := range x {
				at = append(at, coll.Token(r))
			}
			if len(at) > len(st) {
				out.Bool[i] = false
				return
			}
			if suffix {
				st = st[len(st)-len(at):]
			}
			ok := true
			for k := range at {
				if st[k] != at[k] {
					ok = false
					break
				}
			}
			out.Bool[i] = ok
		})
	}
}
