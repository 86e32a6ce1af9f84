package planner

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/stdlib"
)

// udf is a declared CREATE FUNCTION; udf is nil when its declaration failed.
type udf struct {
	decl *lang.CreateFunction
	udf  *exec.UDF
}

func (b *builder) function(f *lang.CreateFunction) {
	name := strings.ToLower(f.Name.Name)
	if b.funcs[name] != nil {
		b.errs.add(f.Name, "function %q is declared twice", f.Name.Name)
		return
	}
	u := &udf{decl: f}
	b.funcs[name] = u
	if _, builtin := stdlib.Lookup(name); builtin || name == "changed" {
		b.errs.add(f.Name, "function %q is built in: choose another name", f.Name.Name)
		return
	}
	if l := strings.ToUpper(f.Lang.Name); l != "EXPR" {
		b.errs.add(f.Lang, "function bodies are written AS EXPR '…' (expr-lang), got AS %s", f.Lang.Name)
		return
	}
	var names []string
	var types []stdlib.Type
	ok := true
	for _, p := range f.Params {
		t, err := stdlib.ParseType(p.Type.Name, p.Type.Params)
		if err != nil {
			b.errs.add(p.Type, "%v", err)
			ok = false
			continue
		}
		names = append(names, p.Name.Name)
		types = append(types, t)
	}
	ret, err := stdlib.ParseType(f.Returns.Name, f.Returns.Params)
	if err != nil {
		b.errs.add(f.Returns, "%v", err)
		ok = false
	}
	if !ok {
		return
	}
	x, err := exec.NewUDF(f.Name.Name, names, types, ret, f.Body.Value)
	if err != nil {
		var be *exec.BodyError
		if errors.As(err, &be) {
			pos, end := bodySpan(f.Body, be.From, be.To)
			b.errs.addAt(pos, end, "function %q: %s", be.Func, be.Msg)
			return
		}
		b.errs.add(f.Body, "%v", err)
		return
	}
	u.udf = x
}

// bodySpan is the place in the file of runes from..to of a function body
// (its value: the literal without its quotes, a doubled quote read as one).
func bodySpan(body *lang.StringLit, from, to int) (lang.Pos, lang.Pos) {
	raw := body.Raw
	if len(raw) < 2 || strings.Contains(raw, "${") {
		return body.Pos, body.EndPos
	}
	at := func(n int) lang.Pos {
		i, runes := 1, 0
		for i < len(raw)-1 && runes < n {
			if raw[i] == '\'' {
				i++ // '' is one quote of the value
			}
			_, size := utf8.DecodeRuneInString(raw[i:])
			i += size
			runes++
		}
		p := body.Pos
		p.Advance(raw[:i])
		return p
	}
	if to <= from {
		to = from + 1
	}
	return at(from), at(to)
}
