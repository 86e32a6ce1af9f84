package stdlib

import (
	"strings"
	"unicode/utf8"
	"unsafe"
)

// arena hands out byte slices from large chunks so that a kernel producing
// many strings allocates a few chunks instead of one object per row. A
// string made from a chunk keeps the chunk alive. The arena of a Ctx
// (Ctx.strs) gets its chunks back at Ctx.Recycle and fills them again; a
// kernel's local arena never reuses a chunk.
type arena struct {
	buf  []byte   // chunk being filled
	used [][]byte // chunks filled since the last reset
	free [][]byte // chunks to fill again
}

const (
	arenaChunk   = 64 << 10
	arenaMaxFree = 64 // chunks kept between resets (4 MiB)
)

func (a *arena) alloc(n int) []byte {
	if cap(a.buf)-len(a.buf) < n {
		a.grow(n)
	}
	start := len(a.buf)
	a.buf = a.buf[:start+n]
	return a.buf[start : start+n : start+n]
}

func (a *arena) grow(n int) {
	if a.buf != nil {
		a.used = append(a.used, a.buf)
	}
	if n <= arenaChunk && len(a.free) > 0 {
		a.buf = a.free[len(a.free)-1]
		a.free = a.free[:len(a.free)-1]
		return
	}
	a.buf = make([]byte, 0, max(n, arenaChunk))
}

// unalloc gives back the last n bytes handed out (a fast path that gave
// up on them).
func (a *arena) unalloc(n int) { a.buf = a.buf[:len(a.buf)-n] }

// reset makes every chunk available again: what was handed out before
// must not be used afterwards.
func (a *arena) reset() {
	if a.buf != nil {
		a.used = append(a.used, a.buf)
		a.buf = nil
	}
	for _, b := range a.used {
		if cap(b) == arenaChunk && len(a.free) < arenaMaxFree {
			a.free = append(a.free, b[:0])
		}
	}
	clear(a.used)
	a.used = a.used[:0]
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

// surrogateAt reports whether s[i:] begins with the 3-byte form of a
// UTF-16 surrogate (ED A0..BF 80..BF): no UTF-8, but MariaDB's utf8mb4
// stores it and reads it as one character.
func surrogateAt(s string, i int) bool {
	return i+2 < len(s) && s[i] == 0xED && s[i+1] >= 0xA0 && s[i+1] <= 0xBF && s[i+2] >= 0x80 && s[i+2] <= 0xBF
}

// charLen is the byte length of the character that begins s (non-empty)
// as MariaDB's utf8mb4 reads it: a UTF-8 sequence, a surrogate's form
// (surrogateAt), else one byte.
func charLen(s string) int {
	if s[0] < utf8.RuneSelf {
		return 1
	}
	if surrogateAt(s, 0) {
		return 3
	}
	_, w := utf8.DecodeRuneInString(s)
	return w
}

// CharLen is charLen, for the character stepping of LIKE.
func CharLen(s string) int { return charLen(s) }

// charCount is the number of characters of s as the character functions
// count them (charLen): utf8.RuneCountInString but for the form of a
// surrogate, one character to MariaDB, three invalid bytes to Go.
func charCount(s string) int {
	n := utf8.RuneCountInString(s)
	if strings.IndexByte(s, 0xED) < 0 {
		return n
	}
	for i := 0; i < len(s); i++ {
		if surrogateAt(s, i) {
			n -= 2
			i += 2
		}
	}
	return n
}

// runeIndex returns the byte offset of the k-th character (0-based, as
// charLen reads them) of s, or len(s) when s has fewer characters.
func runeIndex(s string, k int) int {
	if k <= 0 {
		return 0
	}
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
		} else {
			i += charLen(s[i:])
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
