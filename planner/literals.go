package planner

import "github.com/etlq/etlq/lang"

// checkLiterals reports the literals of a pipeline no value can be made of
// (a month 13, a number beyond FLOAT64 or of 80 digits, an INTERVAL past
// the range of microseconds) when its expressions are not bound — `etlq
// check --offline`, or a pipeline already in error — so that they are
// errors there too, not only when apply binds them.
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
		lang.Walk(e, func(n lang.Node) bool {
			if l, ok := n.(*lang.Literal); ok {
				if _, err := bindLiteral(l); err != nil {
					b.errs.add(l, "%v", err)
				}
			}
			return true
		})
	}
}
