package planner

import (
	"strings"

	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/lang"
)

// checkNullableKey reports a KEY column of a ClickHouse target that copies a
// source column which may be NULL. The key is the table's ORDER BY, whose
// columns ClickHouse cannot make Nullable: the first NULL there would fail
// its insert and stop the pipeline, after the data before it moved. A key
// computed by an expression is not reported: whether it can be NULL is not
// known here (coalesce(col, 0) is how to give a NULL-able column a value).
func (b *builder) checkNullableKey(p *lang.CreatePipeline, pl *Pipeline) {
	if pl.SinkKind != "clickhouse" {
		return
	}
	for _, k := range p.Key {
		for _, tp := range pl.Tables {
			if col, ok := nullableSourceColumn(p, tp, k.Name); ok {
				b.errs.add(k, "KEY column %q copies %s.%s, which may be NULL: ClickHouse cannot hold NULL in a key (ORDER BY) column, so the first NULL would stop the pipeline; key on NOT NULL columns, or give NULL a value: TRANSFORM (…, coalesce(%s, <value>) AS %s)",
					k.Name, tp.Ref, col, col, k.Name)
				break
			}
		}
	}
}

// nullableSourceColumn returns the column of tp's source table that output
// column name copies unchanged, when that column may be NULL.
func nullableSourceColumn(p *lang.CreatePipeline, tp *TablePlan, name string) (string, bool) {
	l, _ := exec.LayoutOf(tp.Input) // (no columns when it is not a source layout)
	n := l.Columns
	isMeta := map[string]bool{}
	for _, f := range exec.MetaFields() {
		isMeta[f.Name] = true
	}
	column := func(c string) (string, bool) {
		if isMeta[strings.ToLower(c)] {
			return "", false
		}
		for i := 0; i < n; i++ {
			if f := tp.Input.Field(i); strings.EqualFold(f.Name, c) {
				return f.Name, f.Nullable
			}
		}
		return "", false
	}
	items := p.Transform
	if items == nil {
		items = []*lang.SelectItem{{Star: true}}
	}
	for _, it := range items {
		if it.Star {
			excepted := false
			for _, x := range it.Except {
				excepted = excepted || strings.EqualFold(x.Name, name)
			}
			if !excepted {
				if c, null := column(name); c != "" {
					return c, null
				}
			}
			continue
		}
		out, ok := outputName(it)
		if !ok || !strings.EqualFold(out, name) {
			continue
		}
		e := it.Expr
		for {
			par, ok := e.(*lang.Paren)
			if !ok {
				break
			}
			e = par.X
		}
		if c, ok := e.(*lang.ColumnRef); ok && !c.Before {
			return column(c.Name.Name)
		}
		return "", false
	}
	return "", false
}
