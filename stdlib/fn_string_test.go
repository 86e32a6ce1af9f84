package stdlib

import (
	"strings"
	"testing"
)

// TestASCIICase checks the eight-bytes-at-a-time case change against the
// strings package for every byte value at every position of strings that
// cover the word loop and the tail.
func TestASCIICase(t *testing.T) {
	for _, up := range []bool{true, false} {
		for n := 0; n <= 19; n++ {
			for ch := 0; ch < 256; ch++ {
				for pos := 0; pos < n; pos++ {
					b := []byte(strings.Repeat("aZ@[`{m", 3)[:n])
					b[pos] = byte(ch)
					s := string(b)
					dst := make([]byte, len(s))
					ok := asciiCase(dst, s, up)
					if ch >= 0x80 {
						if ok {
							t.Fatalf("asciiCase(%q) accepted a non-ASCII byte", s)
						}
						continue
					}
					want := strings.ToLower(s)
					if up {
						want = strings.ToUpper(s)
					}
					if !ok || string(dst) != want {
						t.Fatalf("asciiCase(%q, up=%v) = %q, %v; want %q", s, up, dst, ok, want)
					}
				}
			}
		}
	}
}

func strVec(vals []string, nulls []bool) *Vector {
	return &Vector{Type: TString, Str: vals, Nulls: nulls}
}

// TestCaseKernelSelectionAndRecycle runs upper and lower under a
// selection, with non-ASCII text, and again after Recycle: the arena is
// reused and the new results are right.
func TestCaseKernelSelectionAndRecycle(t *testing.T) {
	in := strVec([]string{"abc", "héllo wörld", "Mixed Case 123 long enough", "", "zz"}, nil)
	var c Ctx
	for round := 0; round < 3; round++ {
		for _, up := range []bool{true, false} {
			out := NewVector(TString, 5)
			caseKernel(up, &caseDefault)(&c, []*Vector{in}, []int32{0, 1, 2, 4}, 5, out)
			for _, i := range []int{0, 1, 2, 4} {
				want := strings.ToLower(in.Str[i])
				if up {
					want = strings.ToUpper(in.Str[i])
				}
				if out.Str[i] != want {
					t.Errorf("round %d up=%v row %d: %q, want %q", round, up, i, out.Str[i], want)
				}
			}
			if out.Str[3] != "" {
				t.Errorf("row 3 is outside the selection but was written: %q", out.Str[3])
			}
		}
		c.Recycle()
	}
	if len(c.strs.free) == 0 {
		t.Error("Recycle kept no chunk for reuse")
	}
}

// TestArenaReuse checks that reset hands the same chunk out again and
// that large requests get chunks of their own.
func TestArenaReuse(t *testing.T) {
	var a arena
	b := a.alloc(10)
	first := &b[:1][0]
	a.alloc(arenaChunk + 1) // its own chunk
	a.reset()
	if len(a.free) != 1 {
		t.Fatalf("%d free chunks, want 1 (the oversized one is dropped)", len(a.free))
	}
	b = a.alloc(10)
	if &b[:1][0] != first {
		t.Error("the chunk was not reused after reset")
	}
	a.alloc(5)
	a.unalloc(5)
	if len(a.buf) != 10 {
		t.Errorf("unalloc left %d bytes in use, want 10", len(a.buf))
	}
}

// TestSurrogateFormIsOneCharacter: the 3-byte form of a surrogate (ED A0
// 80), which MariaDB's utf8mb4 stores and counts as one character, is one
// character to the character functions, and upper/lower keep its bytes
// (MariaDB 10.11: char_length 3, substr(s, 2, 1) EDA080, reverse
// 62EDA08061, upper 41EDA08042 for 'a' ED A0 80 'b'). They counted three
// characters and wrote U+FFFD for each byte. TestExprDifferentialBinaryText
// compares with both servers.
func TestSurrogateFormIsOneCharacter(t *testing.T) {
	s := "a\xed\xa0\x80b"
	if n := charCount(s); n != 3 {
		t.Errorf("charCount = %d, want 3", n)
	}
	if k := runeIndex(s, 2); k != 4 {
		t.Errorf("runeIndex(s, 2) = %d, want 4", k)
	}
	if n := charCount("é\xed\xbf\xbf\xed\x9f\xbf\xed"); n != 4 {
		t.Errorf("charCount of é, a surrogate, U+D7FF and a stray ED = %d, want 4", n)
	}
	up := caseKernel(true, &caseDefault)
	out := NewVector(TString, 1)
	up(&Ctx{}, []*Vector{strVec([]string{s}, nil)}, nil, 1, out)
	if out.Str[0] != "A\xed\xa0\x80B" {
		t.Errorf("upper = %x, want 41eda08042", out.Str[0])
	}
}
