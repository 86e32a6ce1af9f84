package planner

import (
	"strings"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/stdlib"
)

// Unbound is what the file alone says of a pipeline whose tables were not
// bound (planned offline, or its source unreachable): the tables it reads
// as written, its WHERE and its TRANSFORM items, with an output's type
// where it is known without the table — a CAST's, a CREATE FUNCTION's
// RETURNS, an expression of literals and metadata columns (_op, _ts …).
// Explain shows it in place of the bound dataflow.
type Unbound struct {
	// From are the FROM tables (db.table, a pattern as written).
	From []connectors.TableRef
	// Where is the WHERE as written, canonical (lang.FormatExpr); "" when
	// there is none.
	Where string
	// Items are the TRANSFORM items in order; nil when TRANSFORM is not
	// written (every column of the table).
	Items []UnboundItem
}

// UnboundItem is one TRANSFORM item of an Unbound pipeline.
type UnboundItem struct {
	// Name is the output's name; for `*` (EXCEPT …) the item as written.
	Name string
	// Expr is the expression as written, canonical; "" for `*`.
	Expr string
	// Type is the output's type (Column.Source's text), "" when it
	// depends on the table's columns.
	Type string
}

// unbound describes pipeline p without its tables (Pipeline.Unbound).
func (b *builder) unbound(p *lang.CreatePipeline, pl *Pipeline, from []connectors.TableRef) *Unbound {
	u := &Unbound{From: from}
	if p.Where != nil {
		u.Where = lang.FormatExpr(p.Where)
	}
	// A scope with no table column: what binds in it needs no table.
	in := inputSchema(&connectors.TableSchema{})
	sc := &scope{table: "the table", schema: in, byLower: map[string]int{}, meta: map[string]int{},
		binlog: pl.Snapshot != connectors.SnapshotOnly, funcs: b.funcs}
	sc.types = make([]stdlib.Type, in.NumFields())
	for i, f := range in.Fields() {
		t, err := stdlib.FromField(f)
		if err != nil {
			sc = nil // (the metadata columns have types of stdlib's)
			break
		}
		sc.meta[f.Name], sc.types[i] = i, t
	}
	for _, it := range p.Transform {
		if it.Star {
			name := "*"
			if len(it.Except) > 0 {
				var ex []string
				for _, x := range it.Except {
					ex = append(ex, lang.FormatExpr(&lang.ColumnRef{Name: x}))
				}
				name += " EXCEPT (" + strings.Join(ex, ", ") + ")"
			}
			u.Items = append(u.Items, UnboundItem{Name: name})
			continue
		}
		name, _ := outputName(it)
		u.Items = append(u.Items, UnboundItem{Name: name, Expr: lang.FormatExpr(it.Expr), Type: b.typeWithoutTable(sc, it.Expr)})
	}
	return u
}

// typeWithoutTable returns the type of e where the file declares it or e
// reads no column of the table, else "".
func (b *builder) typeWithoutTable(sc *scope, e lang.Expr) string {
	if sc != nil {
		nerr := len(b.errs.errs)
		x := b.bindExpr(sc, e)
		b.errs.errs = b.errs.errs[:nerr] // (its errors are check's, at their place)
		if x != nil {
			return x.Type().String()
		}
	}
	for {
		p, ok := e.(*lang.Paren)
		if !ok {
			break
		}
		e = p.X
	}
	switch n := e.(type) {
	case *lang.Cast:
		if t, err := stdlib.ParseType(n.Type.Name, n.Type.Params); err == nil {
			return t.String()
		}
	case *lang.Call:
		if f := b.funcs[strings.ToLower(n.Name.Name)]; f != nil && f.udf != nil {
			return f.udf.Ret.String()
		}
	}
	return ""
}
