package stdlib

import (
	"unicode/utf8"
	"unsafe"
)

// arena hands out byte slices from large chunks so that a kernel producing
// many strings allocates a few chunks instead of one object per row. A
// string made from a chunk keeps the chunk alive; chunks are never reused.
type arena struct{ buf []byte }

func (a *arena) alloc(n int) []byte {
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, max(n, 64<<10))
	}
	start := len(a.buf)
	a.buf = a.buf[:start+n]
	return a.buf[start : start+n : start+n]
}

// str returns b as a string without copying; b must not change afterwards.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// strMap makes a kernel applying f to a text argument.
func strMap(f func(string) string) Kernel {
	return func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
		in := a[0].Str
		Sel(sel, n, func(i int) { out.Str[i] = f(in[i]) })
	}
}

// runeIndex returns the byte offset of the k-th character (0-based) of s,
// or len(s) when s has fewer characters.
func runeIndex(s string, k int) int {
	if k <= 0 {
		return 0
	}
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
		} else {
			_, w := utf8.DecodeRuneInString(s[i:])
			i += w
		}
		k--
		if k == 0 {
			return i
		}
	}
	return len(s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
