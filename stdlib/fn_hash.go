package stdlib

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash/crc32"
	"math"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
)

func init() {
	hexOf := func(b []byte) string { return hex.EncodeToString(b) }
	Register(&Func{Name: "md5", NullFree: true, Sig: "md5(s) → STRING", Doc: "MD5 of s as 32 lower-case hex digits.", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"md5('abc')", "900150983cd24fb0d6963f7d28e17f72"}},
		Bind: simple("md5", TString, strMap(func(s string) string { h := md5.Sum([]byte(s)); return hexOf(h[:]) }), textArg)})
	Register(&Func{Name: "sha1", NullFree: true, Sig: "sha1(s) → STRING", Doc: "SHA-1 of s as 40 lower-case hex digits.", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"sha1('abc')", "a9993e364706816aba3e25717850c26c9cd0d89d"}},
		Bind: simple("sha1", TString, strMap(func(s string) string { h := sha1.Sum([]byte(s)); return hexOf(h[:]) }), textArg)})
	Register(&Func{Name: "sha2", Sig: "sha2(s, bits) → STRING", Doc: "SHA-2 of s (bits 224, 256, 384, 512; 0 means 256) in hex; NULL for other bits.", MySQL: true,
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"sha2('abc', 256)", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}, {"sha2('abc', 7)", "NULL"}},
		Bind: simple("sha2", TString, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				b := []byte(a[0].Str[i])
				switch a[1].I64[i] {
				case 0, 256:
					h := sha256.Sum256(b)
					out.Str[i] = hexOf(h[:])
				case 224:
					h := sha256.Sum224(b)
					out.Str[i] = hexOf(h[:])
				case 384:
					h := sha512.Sum384(b)
					out.Str[i] = hexOf(h[:])
				case 512:
					h := sha512.Sum512(b)
					out.Str[i] = hexOf(h[:])
				default:
					out.SetNull(i, n)
				}
			})
		}, textArg, intArg)})
	Register(&Func{Name: "crc32", NullFree: true, Sig: "crc32(s) → UINT64", Doc: "CRC-32 (IEEE) of s.", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"crc32('MySQL')", "3259397556"}},
		Bind: simple("crc32", TUint64, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) { out.U64[i] = uint64(crc32.ChecksumIEEE([]byte(a[0].Str[i]))) })
		}, textArg)})
	Register(&Func{Name: "xxhash64", NullFree: true, Sig: "xxhash64(s) → UINT64", Doc: "XXH64 (seed 0) of s, as ClickHouse's xxHash64.",
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"xxhash64('abc')", "4952883123889572249"}},
		Bind: simple("xxhash64", TUint64, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) { out.U64[i] = xxhash.Sum64String(a[0].Str[i]) })
		}, textArg)})
	Register(&Func{Name: "hex", NullFree: true, Sig: "hex(x) → STRING", Doc: "Upper-case hex of the bytes of text (its UTF-8 bytes: a latin1 column's value is text once read, so hex('Œ') is C592 where MySQL gives 8C), or of an integer's value.", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"hex('abc')", "616263"}, {"hex(255)", "FF"}},
		Bind: bindHex})
	Register(&Func{Name: "unhex", Sig: "unhex(s) → BINARY", Doc: "The bytes written in hex by s; NULL if s is not hex.", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"unhex('616263')", "abc"}, {"unhex('zz')", "NULL"}},
		Bind: simple("unhex", TBinary, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				s := a[0].Str[i]
				if len(s)%2 == 1 {
					s = "0" + s
				}
				b, err := hex.DecodeString(s)
				if err != nil {
					out.SetNull(i, n)
					return
				}
				out.Str[i] = string(b)
			})
		}, textArg)})
	Register(&Func{Name: "to_base64", NullFree: true, Sig: "to_base64(s) → STRING", Doc: "Base64 of s, in lines of 76 characters as MySQL writes it.", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"to_base64('abc')", "YWJj"}},
		Bind: simple("to_base64", TString, strMap(func(s string) string {
			e := base64.StdEncoding.EncodeToString([]byte(s))
			if len(e) <= 76 {
				return e
			}
			var b strings.Builder
			for len(e) > 76 {
				b.WriteString(e[:76])
				b.WriteByte('\n')
				e = e[76:]
			}
			b.WriteString(e)
			return b.String()
		}), textArg)})
	Register(&Func{Name: "from_base64", Sig: "from_base64(s) → BINARY", Doc: "The bytes encoded in base64 by s; NULL if s is not base64.", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"from_base64('YWJj')", "abc"}},
		Bind: simple("from_base64", TBinary, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				s := strings.Map(func(r rune) rune {
					if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
						return -1
					}
					return r
				}, a[0].Str[i])
				b, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					out.SetNull(i, n)
					return
				}
				out.Str[i] = string(b)
			})
		}, textArg)})
	Register(&Func{Name: "mask", NullFree: true, Sig: "mask(s, n) → STRING", Doc: "s with every character but the last n replaced by '*'.",
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"mask('4111222233334444', 4)", "************4444"}, {"mask('ab', 5)", "ab"}},
		Bind: simple("mask", TString, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				s, keep := a[0].Str[i], max(a[1].I64[i], 0)
				cnt := int64(charCount(s))
				if keep >= cnt {
					out.Str[i] = s
					return
				}
				hide := cnt - keep
				out.Str[i] = strings.Repeat("*", int(hide)) + s[runeIndex(s, int(hide)):]
			})
		}, textArg, intArg)})
}

func bindHex(args []Arg) (*Bound, error) {
	t := args[0].Type
	switch {
	case t.IsUnsigned(): // before IsInteger, which holds for unsigned too: above 2^63-1 an INT64 is out of range
		return &Bound{Ret: TString, Args: []Type{TUint64}, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) { out.Str[i] = strings.ToUpper(strconv.FormatUint(a[0].U64[i], 16)) })
		}}, nil
	case t.IsInteger() || t.Kind == Bool:
		return &Bound{Ret: TString, Args: []Type{TInt64}, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) { out.Str[i] = strings.ToUpper(strconv.FormatUint(uint64(a[0].I64[i]), 16)) })
		}}, nil
	case t.IsFloat() || t.Kind == Decimal:
		return &Bound{Ret: TString, Args: []Type{TFloat64}, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				f := math.Round(a[0].F64[i])
				var u uint64
				switch {
				case f >= 1.8446744073709552e19:
					u = math.MaxUint64
				case f < 0:
					u = uint64(int64(f))
				default:
					u = uint64(f)
				}
				out.Str[i] = strings.ToUpper(strconv.FormatUint(u, 16))
			})
		}}, nil
	}
	return simple("hex", TString, strMap(func(s string) string { return strings.ToUpper(hex.EncodeToString([]byte(s))) }), textArg)(args)
}
