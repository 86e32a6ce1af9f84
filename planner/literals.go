package planner

import (
	"strings"

	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/stdlib"
)

// checkLiterals reports what is wrong in a pipeline's expressions whatever
// its tables are, when its expressions are not bound — `etlq check
// --offline`, or a pipeline already in error — so that they are errors
// there too, not only when apply binds them: literals no value can be made
// of (a month 13, a number beyond FLOAT64 or of 80 digits, an INTERVAL
// past the range of microseconds), calls of functions neither the library
// nor the file has, and TRANSFORM expressions without a name.
func (b *builder) checkLiterals(p *lang.CreatePipeline) {
	var exprs []lang.Expr
	if p.Where != nil {
		exprs = append(exprs, p.Where)
	}
	for _, it := range p.Transform {
		if it.Expr != nil {
			exprs = append(exprs, it.Expr)
		}
	}
	for _, e := range exprs {
		nerr := len(b.errs.errs)
		lang.Walk(e, func(n lang.Node) bool {
			switch n := n.(type) {
			case *lang.Literal:
				if _, err := bindLiteral(n); err != nil {
					b.errs.add(n, "%v", err)
				}
			case *lang.Call:
				name := strings.ToLower(n.Name.Name)
				if _, ok := stdlib.Lookup(name); !ok && b.funcs[name] == nil && name != "changed" {
					b.unknownFunction(n, b.funcs)
				}
			}
			return true
		})
		if len(b.errs.errs) > nerr {
			continue
		}
		for _, it := range p.Transform {
			if it.Expr == e && it.Alias == nil {
				if _, ok := outputName(it); !ok {
					b.errs.add(it.Expr, "this expression needs a name: add AS <name>")
				}
			}
		}
	}
}
