package stdlib

import (
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
