package stdlib

import (
	"encoding/binary"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"
)

func init() {
	Register(&Func{Name: "lower", NullFree: true, Sig: "lower(s) → STRING", Doc: "Lower-cases s by the case table of its collation, as MariaDB: characters the table does not map stay (lower('ẞ') is 'ẞ' but for unicode_520_ci and uca1400_ai_ci text).", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"lower('ÀbC')", "àbc"}, {"lower('ẞIG')", "ẞig"}},
		Bind: onBytes(caseBind("lower", false), bytesSame)})
	Register(&Func{Name: "upper", NullFree: true, Sig: "upper(s) → STRING", Doc: "Upper-cases s by the case table of its collation, as MariaDB (as lower).", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"upper('abc')", "ABC"}, {"upper('ƀ')", "ƀ"}},
		Bind: onBytes(caseBind("upper", true), bytesSame)})
	Register(&Func{Name: "length", NullFree: true, Sig: "length(s) → INT64", Doc: "Length of s in bytes, of its UTF-8 encoding (a latin1 column's value is text once read: length('€') is 3 where MySQL counts 1 byte of latin1).", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"length('héllo')", "6"}},
		Bind: simple("length", TInt64, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) { out.I64[i] = int64(len(a[0].Str[i])) })
		}, textArg)})
	charLength := &Func{Name: "char_length", NullFree: true, Sig: "char_length(s) → INT64", Doc: "Length of s in characters.", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"char_length('héllo')", "5"}},
		Bind: onBytes(simple("char_length", TInt64, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) { out.I64[i] = int64(charCount(a[0].Str[i])) })
		}, textArg), func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) { out.I64[i] = int64(len(a[0].Str[i])) })
		})}
	Register(charLength)
	alias("character_length", charLength)
	substr := &Func{Name: "substr", NullFree: true, Sig: "substr(s, pos[, len]) → STRING",
		Doc: "The characters of s from pos (1-based; negative counts from the end), at most len of them.", MySQL: true,
		MinArgs: 2, MaxArgs: 3, Examples: []Example{{"substr('hello', 2, 3)", "ell"}, {"substr('hello', -3)", "llo"}, {"substr('hello', 0)", ""}},
		Bind: onBytes(simple("substr", TString, substrKernel, textArg, intArg), substrBytesKernel)}
	Register(substr)
	alias("substring", substr)
	Register(&Func{Name: "left", NullFree: true, Sig: "left(s, n) → STRING", Doc: "The first n characters of s.", MySQL: true,
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"left('hello', 2)", "he"}},
		Bind: onBytes(simple("left", TString, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				s := a[0].Str[i]
				out.Str[i] = s[:runeIndex(s, int(max(a[1].I64[i], 0)))]
			})
		}, textArg, intArg), func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				s := a[0].Str[i]
				out.Str[i] = s[:min(max(a[1].I64[i], 0), int64(len(s)))]
			})
		})})
	Register(&Func{Name: "right", NullFree: true, Sig: "right(s, n) → STRING", Doc: "The last n characters of s.", MySQL: true,
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"right('hello', 2)", "lo"}},
		Bind: onBytes(simple("right", TString, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				s := a[0].Str[i]
				k := a[1].I64[i]
				cnt := int64(charCount(s))
				if k <= 0 {
					out.Str[i] = ""
				} else if k >= cnt {
					out.Str[i] = s
				} else {
					out.Str[i] = s[runeIndex(s, int(cnt-k)):]
				}
			})
		}, textArg, intArg), func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				s := a[0].Str[i]
				out.Str[i] = s[int64(len(s))-min(max(a[1].I64[i], 0), int64(len(s))):]
			})
		})})
	Register(&Func{Name: "trim", NullFree: true, Sig: "trim(s) → STRING", Doc: "s without leading and trailing spaces.", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"trim('  a b  ')", "a b"}},
		Bind: simple("trim", TString, strMap(func(s string) string { return strings.Trim(s, " ") }), textArg)})
	Register(&Func{Name: "ltrim", NullFree: true, Sig: "ltrim(s) → STRING", Doc: "s without leading spaces.", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"ltrim('  a ')", "a "}},
		Bind: simple("ltrim", TString, strMap(func(s string) string { return strings.TrimLeft(s, " ") }), textArg)})
	Register(&Func{Name: "rtrim", NullFree: true, Sig: "rtrim(s) → STRING", Doc: "s without trailing spaces.", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"rtrim(' a  ')", " a"}},
		Bind: simple("rtrim", TString, strMap(func(s string) string { return strings.TrimRight(s, " ") }), textArg)})
	Register(&Func{Name: "lpad", Sig: "lpad(s, len, pad) → STRING",
		Doc: "s left-padded with pad to len characters (cut to len if longer).", MySQL: true,
		MinArgs: 3, MaxArgs: 3, Examples: []Example{{"lpad('7', 3, '0')", "007"}, {"lpad('hello', 2, '*')", "he"}},
		Bind: simple("lpad", TString, padKernel(true), textArg, intArg, textArg)})
	Register(&Func{Name: "rpad", Sig: "rpad(s, len, pad) → STRING",
		Doc: "s right-padded with pad to len characters (cut to len if longer).", MySQL: true,
		MinArgs: 3, MaxArgs: 3, Examples: []Example{{"rpad('ab', 5, 'xy')", "abxyx"}},
		Bind: simple("rpad", TString, padKernel(false), textArg, intArg, textArg)})
	Register(&Func{Name: "concat", NullFree: true, Sig: "concat(s, …) → STRING", Doc: "The arguments joined; NULL if any is NULL.", MySQL: true,
		MinArgs: 1, MaxArgs: -1, Examples: []Example{{"concat('a', 1, 'b')", "a1b"}, {"concat('a', NULL)", "NULL"}},
		Bind: bytesIfAny(simple("concat", TString, concatKernel, textArg))})
	Register(&Func{Name: "concat_ws", NullFree: true, NullArgs: []int{0}, Sig: "concat_ws(sep, s, …) → STRING",
		Doc: "The non-NULL arguments joined by sep; NULL if sep is NULL.", MySQL: true,
		MinArgs: 2, MaxArgs: -1, Examples: []Example{{"concat_ws('-', 'a', NULL, 'b')", "a-b"}},
		Bind: bytesIfAny(func(args []Arg) (*Bound, error) {
			conv, err := classify("concat_ws", args, []argClass{textArg})
			if err != nil {
				return nil, err
			}
			return &Bound{Ret: TString, Args: conv, Kernel: concatWSKernel, NullAware: true}, nil
		})})
	Register(&Func{Name: "replace", NullFree: true, Sig: "replace(s, from, to) → STRING", Doc: "s with every from replaced by to.", MySQL: true,
		MinArgs: 3, MaxArgs: 3, Examples: []Example{{"replace('a-b-c', '-', '+')", "a+b+c"}},
		Bind: simple("replace", TString, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				if a[1].Str[i] == "" {
					out.Str[i] = a[0].Str[i]
					return
				}
				out.Str[i] = strings.ReplaceAll(a[0].Str[i], a[1].Str[i], a[2].Str[i])
			})
		}, textArg)})
	Register(&Func{Name: "reverse", NullFree: true, Sig: "reverse(s) → STRING", Doc: "The characters of s in reverse order.", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"reverse('abç')", "çba"}},
		Bind: onBytes(simple("reverse", TString, strMap(func(s string) string {
			// Character by character (charLen), each one's bytes kept: a
			// byte that begins no character stays as it is, as in MariaDB.
			b := make([]byte, len(s))
			for i := 0; i < len(s); {
				w := charLen(s[i:])
				copy(b[len(s)-i-w:], s[i:i+w])
				i += w
			}
			return string(b)
		}), textArg), strMap(func(s string) string {
			b := []byte(s)
			slices.Reverse(b)
			return string(b)
		}))})
	locate := &Func{Name: "locate", NullFree: true, Sig: "locate(sub, s[, pos]) → INT64",
		Doc: "1-based character position of sub in s (searching from pos), 0 if absent.", MySQL: true,
		MinArgs: 2, MaxArgs: 3, Examples: []Example{{"locate('b', 'abcb')", "2"}, {"locate('b', 'abcb', 3)", "4"}, {"locate('z', 'abc')", "0"}},
		Bind: collated("locate", simple("locate", TInt64, locateKernel(false), textArg, textArg, intArg),
			func(c *Collation) Kernel { return collLocateKernel(c, false) }, 0, 1)}
	Register(locate)
	Register(&Func{Name: "position", NullFree: true, Sig: "position(sub, s) → INT64", Doc: "Same as locate(sub, s).", MySQL: false,
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"position('c', 'abc')", "3"}},
		Bind: collated("position", simple("position", TInt64, locateKernel(false), textArg),
			func(c *Collation) Kernel { return collLocateKernel(c, false) }, 0, 1)})
	Register(&Func{Name: "instr", NullFree: true, Sig: "instr(s, sub) → INT64", Doc: "1-based character position of sub in s, 0 if absent.", MySQL: true,
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"instr('héllo', 'l')", "3"}},
		Bind: collated("instr", simple("instr", TInt64, locateKernel(true), textArg),
			func(c *Collation) Kernel { return collLocateKernel(c, true) }, 0, 1)})
	Register(&Func{Name: "starts_with", NullFree: true, Sig: "starts_with(s, prefix) → BOOL",
		Doc:     "Whether s begins with prefix, character by character under the collation (as s LIKE 'prefix%').",
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"starts_with('hello', 'he')", "1"}},
		Bind: collated("starts_with", simple("starts_with", TBool, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) { out.Bool[i] = strings.HasPrefix(a[0].Str[i], a[1].Str[i]) })
		}, textArg), func(coll *Collation) Kernel { return collAffixKernel(coll, false) }, 0, 1)})
	Register(&Func{Name: "ends_with", NullFree: true, Sig: "ends_with(s, suffix) → BOOL",
		Doc:     "Whether s ends with suffix, character by character under the collation (as s LIKE '%suffix').",
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"ends_with('hello', 'lo')", "1"}},
		Bind: collated("ends_with", simple("ends_with", TBool, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) { out.Bool[i] = strings.HasSuffix(a[0].Str[i], a[1].Str[i]) })
		}, textArg), func(coll *Collation) Kernel { return collAffixKernel(coll, true) }, 0, 1)})
	Register(&Func{Name: "split_part", NullFree: true, Sig: "split_part(s, delim, n) → STRING",
		Doc:     "The n-th (1-based; negative counts from the end) field of s split on delim, '' if there is none.",
		MinArgs: 3, MaxArgs: 3, Examples: []Example{{"split_part('a,b,c', ',', 2)", "b"}, {"split_part('a,b,c', ',', -1)", "c"}, {"split_part('a,b', ',', 5)", ""}},
		Bind: simple("split_part", TString, splitPartKernel, textArg, textArg, intArg)})
}

// caseBind binds upper (up) or lower: the characters map by the case
// table of the argument's collation (caseMapOf), as MariaDB's do.
func caseBind(fn string, up bool) func([]Arg) (*Bound, error) {
	return func(args []Arg) (*Bound, error) {
		m := caseMapOf(nil)
		if len(args) == 1 && args[0].Deriv.Coll != nil {
			m = caseMapOf(args[0].Deriv.Coll)
		}
		return withAppend(simple(fn, TString, caseKernel(up, m), textArg), caseAppend(up, m))(args)
	}
}

func caseKernel(up bool, m *caseMap) Kernel {
	conv := m.mapper(up)
	return func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
		in := a[0].Str
		Sel(sel, n, func(i int) {
			s := in[i]
			b := c.strs.alloc(len(s))
			if asciiCase(b, s, up) {
				out.Str[i] = str(b)
				return
			}
			// Not ASCII: the collation's case table.
			c.strs.unalloc(len(s))
			out.Str[i] = mapChars(conv, s)
		})
	}
}

// caseAppend is the Append form of upper (up) and lower.
func caseAppend(up bool, m *caseMap) func(dst []byte, s string) []byte {
	conv := m.mapper(up)
	return func(dst []byte, s string) []byte {
		n := len(dst)
		dst = slices.Grow(dst, len(s))[:n+len(s)]
		if asciiCase(dst[n:], s, up) {
			return dst
		}
		return append(dst[:n], mapChars(conv, s)...)
	}
}

// asciiCase writes s upper-cased (up) or lower-cased into dst (of len(s))
// and reports true, when s is ASCII; otherwise it reports false and dst
// holds garbage. It works on eight bytes at a time.
func asciiCase(dst []byte, s string, up bool) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	// A byte changes case when it lies in [lo, hi]; with every byte below
	// 0x80, adding 0x80-lo sets a byte's high bit iff it is >= lo, and
	// adding 0x80-hi-1 iff it is > hi, without carries between bytes.
	lo, hi := uint64('a'), uint64('z')
	if !up {
		lo, hi = 'A', 'Z'
	}
	addLo, addHi := (0x80-lo)*ones, (0x80-hi-1)*ones
	k := 0
	for {
		if k+8 > len(s) {
			if k == len(s) || len(s) < 8 {
				break
			}
			// The tail as the last eight bytes, overlapping bytes already
			// done (they are converted again from s, to the same result).
			k = len(s) - 8
		}
		w := binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[k:]), 8))
		if w&highs != 0 {
			return false
		}
		m := (w + addLo) &^ (w + addHi) & highs
		binary.LittleEndian.PutUint64(dst[k:], w^(m>>2))
		k += 8
	}
	for ; k < len(s); k++ {
		ch := s[k]
		if ch >= utf8.RuneSelf {
			return false
		}
		if uint64(ch)-lo <= hi-lo {
			ch ^= 0x20
		}
		dst[k] = ch
	}
	return true
}

// onBytes binds a function of text whose first argument is BINARY as
// MariaDB computes it on a binary string: on its bytes (k), giving bytes
// — upper and lower leave them as they are, char_length counts them,
// substr, left, right and reverse cut and turn bytes, not characters. A
// function whose result is text gives BINARY then (as MariaDB's is a
// binary string). Without it, bytes that are no UTF-8 became U+FFFD and
// an emoji one character where MariaDB counts four bytes.
func onBytes(bind func([]Arg) (*Bound, error), k Kernel) func([]Arg) (*Bound, error) {
	return func(args []Arg) (*Bound, error) {
		b, err := bind(args)
		if err != nil || len(args) == 0 || args[0].Type.Kind != Binary {
			return b, err
		}
		conv := slices.Clone(b.Args)
		conv[0] = TBinary
		ret := b.Ret
		if ret.IsStringLike() {
			ret = TBinary
		}
		return &Bound{Ret: ret, Args: conv, Kernel: k}, nil
	}
}

// bytesIfAny binds concat and concat_ws as MariaDB does when an argument
// is BINARY: the result is a binary string, BINARY, whose bytes are kept
// (as text, bytes that are no UTF-8 were written as U+FFFD by the JSON
// formats).
func bytesIfAny(bind func([]Arg) (*Bound, error)) func([]Arg) (*Bound, error) {
	return func(args []Arg) (*Bound, error) {
		b, err := bind(args)
		if err != nil || !slices.ContainsFunc(args, func(a Arg) bool { return a.Type.Kind == Binary }) {
			return b, err
		}
		nb := *b
		nb.Args = slices.Clone(b.Args)
		for i, a := range args {
			if a.Type.Kind == Binary {
				nb.Args[i] = TBinary
			}
		}
		nb.Ret = TBinary
		nb.Append = nil
		return &nb, nil
	}
}

// bytesSame is upper and lower of a binary string: its bytes unchanged.
func bytesSame(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
	Sel(sel, n, func(i int) { out.Str[i] = a[0].Str[i] })
}

// substrBytesKernel is substrKernel on bytes.
func substrBytesKernel(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
	Sel(sel, n, func(i int) {
		s := a[0].Str[i]
		start, end, ok := substrRange(a, i, int64(len(s)))
		if !ok {
			out.Str[i] = ""
			return
		}
		out.Str[i] = s[start:end]
	})
}

func substrKernel(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
	Sel(sel, n, func(i int) {
		s := a[0].Str[i]
		start, end, ok := substrRange(a, i, int64(charCount(s)))
		if !ok {
			out.Str[i] = ""
			return
		}
		b := runeIndex(s, int(start))
		e := b + runeIndex(s[b:], int(end-start))
		out.Str[i] = s[b:e]
	})
}

// substrRange is the [start, end) of SUBSTR(s, pos[, len]) of row i over a
// string of cnt characters (or bytes), as MySQL counts them: pos 1 is the
// first, a negative pos counts from the end, pos 0, a start outside the
// string or a len ≤ 0 give "" (ok false).
func substrRange(a []*Vector, i int, cnt int64) (start, end int64, ok bool) {
	pos := a[1].I64[i]
	switch {
	case pos > 0:
		start = pos - 1
	case pos < 0:
		start = cnt + pos
	default:
		return 0, 0, false
	}
	if start < 0 || start >= cnt {
		return 0, 0, false
	}
	end = cnt
	if len(a) > 2 {
		l := a[2].I64[i]
		if l <= 0 {
			return 0, 0, false
		}
		if l < cnt-start { // (start+l may overflow)
			end = start + l
		}
	}
	return start, end, true
}

func padKernel(left bool) Kernel {
	return func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
		Sel(sel, n, func(i int) {
			s, l, pad := a[0].Str[i], a[1].I64[i], a[2].Str[i]
			cnt := int64(charCount(s))
			switch {
			case l < 0 || l > 1<<24:
				out.SetNull(i, n)
				return
			case l <= cnt:
				out.Str[i] = s[:runeIndex(s, int(l))]
				return
			case pad == "":
				out.SetNull(i, n)
				return
			}
			need := int(l - cnt)
			var b strings.Builder
			if !left {
				b.WriteString(s)
			}
			pr := []rune(pad)
			for k := 0; k < need; k++ {
				b.WriteRune(pr[k%len(pr)])
			}
			if left {
				b.WriteString(s)
			}
			out.Str[i] = b.String()
		})
	}
}

func concatKernel(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
	Sel(sel, n, func(i int) {
		total := 0
		for _, v := range a {
			total += len(v.Str[i])
		}
		b := c.strs.alloc(total)[:0]
		for _, v := range a {
			b = append(b, v.Str[i]...)
		}
		out.Str[i] = str(b)
	})
}

func concatWSKernel(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
	Sel(sel, n, func(i int) {
		if a[0].IsNull(i) {
			out.SetNull(i, n)
			return
		}
		sep := a[0].Str[a[0].Idx(i)]
		var b strings.Builder
		first := true
		for _, v := range a[1:] {
			if v.IsNull(i) {
				continue
			}
			if !first {
				b.WriteString(sep)
			}
			first = false
			b.WriteString(v.Str[v.Idx(i)])
		}
		out.Str[i] = b.String()
	})
}

// locateKernel: locate(sub, s[, pos]); instr(s, sub) when swapped.
func locateKernel(swapped bool) Kernel {
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
			off := runeIndex(s, int(from-1))
			if from-1 > int64(charCount(s)) {
				out.I64[i] = 0
				return
			}
			k := strings.Index(s[off:], sub)
			if k < 0 {
				out.I64[i] = 0
				return
			}
			out.I64[i] = from + int64(charCount(s[off:off+k]))
		})
	}
}

func splitPartKernel(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
	Sel(sel, n, func(i int) {
		s, d, k := a[0].Str[i], a[1].Str[i], a[2].I64[i]
		var parts []string
		if d == "" {
			parts = []string{s}
		} else {
			parts = strings.Split(s, d)
		}
		if k < 0 {
			k = int64(len(parts)) + k + 1
		}
		if k < 1 || k > int64(len(parts)) {
			out.Str[i] = ""
			return
		}
		out.Str[i] = parts[k-1]
	})
}
