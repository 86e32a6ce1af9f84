package stdlib

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

func init() {
	Register(&Func{Name: "regexp_like", Sig: "regexp_like(s, pattern) → BOOL", Doc: "Whether s matches the regular expression (RE2 syntax; case-insensitive when s has a _ci collation, as MariaDB).", MySQL: true,
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"regexp_like('order-42', '^order-[0-9]+$')", "1"}, {"regexp_like('abc', 'x')", "0"}},
		Bind: regexpBind("regexp_like", TBool, func(re *regexp.Regexp, a []*Vector, i int, out *Vector) {
			out.Bool[i] = re.MatchString(a[0].Str[i])
		})})
	Register(&Func{Name: "regexp_replace", Sig: "regexp_replace(s, pattern, repl) → STRING", Doc: "s with every match replaced by repl (\\1 … \\9 insert groups); an empty match ends the replacing, as in MariaDB.", MySQL: true,
		MinArgs: 3, MaxArgs: 3, Examples: []Example{{"regexp_replace('a1b22', '[0-9]+', '#')", "a#b#"}, {"regexp_replace('a1b22', '[0-9]*', '#')", "a1b22"}},
		Bind: regexpBind("regexp_replace", TString, func(re *regexp.Regexp, a []*Vector, i int, out *Vector) {
			out.Str[i] = regexpReplace(re, a[0].Str[i], goReplacement(a[2].Str[i]))
		})})
	Register(&Func{Name: "regexp_substr", Sig: "regexp_substr(s, pattern) → STRING", Doc: "The first match of pattern in s, '' if none (as MariaDB).", MySQL: true,
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"regexp_substr('abc123def', '[0-9]+')", "123"}},
		Bind: regexpBind("regexp_substr", TString, func(re *regexp.Regexp, a []*Vector, i int, out *Vector) {
			out.Str[i] = re.FindString(a[0].Str[i])
		})})
}

// regexpBind binds a regexp function: text arguments, the kernel
// regexpKernel(f) with a pattern that ignores case when the text and the
// pattern compare under a _ci collation (MariaDB's REGEXP does).
func regexpBind(fn string, ret Type, f func(re *regexp.Regexp, a []*Vector, i int, out *Vector)) func([]Arg) (*Bound, error) {
	return constChecked(collated(fn, simple(fn, ret, regexpKernel(f, regexp.Compile), textArg), func(coll *Collation) Kernel {
		return regexpKernel(f, collRegexp(coll))
	}, 0, 1), 1, func(pat string) error {
		_, err := regexp.Compile(pat)
		if err == nil {
			return nil
		}
		msg := err.Error()
		var se *syntax.Error
		if errors.As(err, &se) {
			msg = se.Code.String() + " `" + se.Expr + "`"
			if se.Code == syntax.ErrInvalidPerlOp || se.Code == syntax.ErrInvalidEscape {
				msg += " (patterns are RE2: no lookaround, no backreferences)"
			}
		}
		return fmt.Errorf("invalid regular expression %s for %q: %s", quote(pat), fn, msg)
	})
}

// regexpKernel runs f on each live row with the row's compiled pattern
// (argument 2); a pattern that does not compile makes the row NULL.
func regexpKernel(f func(re *regexp.Regexp, a []*Vector, i int, out *Vector), compile func(string) (*regexp.Regexp, error)) Kernel {
	return func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
		rc := reCache{compile: compile}
		Sel(sel, n, func(i int) {
			re := rc.get(c, a[1].Str[i], i)
			if re == nil {
				out.SetNull(i, n)
				return
			}
			f(re, a, i, out)
		})
	}
}

// reCache keeps the last compiled pattern of a kernel run.
type reCache struct {
	compile func(string) (*regexp.Regexp, error)
	pat     string
	re      *regexp.Regexp
	err     bool
}

func (r *reCache) get(c *Ctx, pat string, row int) *regexp.Regexp {
	if r.re == nil && !r.err || pat != r.pat {
		r.pat = pat
		re, err := r.compile(pat)
		r.re, r.err = re, err != nil
	}
	if r.err {
		c.Fail(row, "invalid regular expression "+quote(pat))
		return nil
	}
	return r.re
}

// regexpReplace is MariaDB's REGEXP_REPLACE: the matches from the left
// are replaced (template as regexp.Expand takes it) until the first empty
// match, which ends the replacing — regexp_replace('a1b22', '[0-9]*', '#')
// is 'a1b22'. Go's search skips an empty match right after a match; one
// there is found by matching the rest of s on its own (an anchor such as
// ^ then reads the rest's start as the text's, which can only end the
// replacing where no later match would have come anyway for such
// patterns).
func regexpReplace(re *regexp.Regexp, s, template string) string {
	var b []byte
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		if m[0] == m[1] {
			break
		}
		if last > 0 && m[0] > last {
			if e := re.FindStringIndex(s[last:]); e != nil && e[0] == 0 && e[1] == 0 {
				break
			}
		}
		b = append(b, s[last:m[0]]...)
		b = re.ExpandString(b, template, s, m)
		last = m[1]
	}
	if b == nil {
		return s
	}
	return string(append(b, s[last:]...))
}

// goReplacement turns MySQL's \1 group references into Go's ${1}.
func goReplacement(s string) string {
	if !strings.ContainsAny(s, `\$`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '$':
			b.WriteString("$$")
		case s[i] == '\\' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			b.WriteString("${" + string(s[i+1]) + "}")
			i++
		case s[i] == '\\' && i+1 < len(s):
			b.WriteByte(s[i+1])
			i++
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
