package planner

import (
	"strings"

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
		b.errs.add(f.Body, "%v", err)
		return
	}
	u.udf = x
}
