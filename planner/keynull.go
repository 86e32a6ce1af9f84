package planner

import (
	"fmt"
	"slices"
	"strings"

	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/lang"
)

// checkNullableKey reports a KEY column of a ClickHouse target that may be
// NULL: a copy of a source column without NOT NULL, or an expression that
// can give NULL (exec.NullReason: nullif(id, 5), a CASE without ELSE, an
// expression over a NULL-able column). The key is the table's ORDER BY,
// whose columns ClickHouse cannot make Nullable: the first NULL there would
// fail its insert and stop the pipeline, after the data before it moved.
// (A primary key column is NOT NULL in MySQL whatever its declaration
// says.) A user function's body may give NULL unless proven not to (exec's
// resultNil); so may a built-in function not declared NullFree (json_value
// of an absent path, the weekday of a zero date).
func (b *builder) checkNullableKey(p *lang.CreatePipeline, pl *Pipeline) {
	if pl.SinkKind != "clickhouse" {
		return
	}
	for _, k := range p.Key {
		for _, tp := range pl.Tables {
			if slices.ContainsFunc(tp.Lacks, func(c string) bool { return strings.EqualFold(c, k.Name) }) {
				// A table of a pattern without the column: WHERE … IS NOT
				// NULL cannot name it there.
				b.errs.add(k, "KEY column %q is NULL for every row of %s, which has no such column: ClickHouse cannot hold NULL in a key (ORDER BY) column, so its first row would stop the pipeline; read that table with a pipeline of its own (a pattern that does not match it), or key on columns every table has NOT NULL",
					k.Name, tp.Ref)
				break
			}
			if col, ok := nullableSourceColumn(p, tp, k.Name); ok {
				b.errs.add(k, "KEY column %q copies %s.%s, which may be NULL: ClickHouse cannot hold NULL in a key (ORDER BY) column, so the first NULL would stop the pipeline; key on NOT NULL columns, or give NULL a value: TRANSFORM (…, coalesce(%s, <value>) AS %s)%s",
					k.Name, tp.Ref, col, col, k.Name, sameKeyNote)
				break
			}
			if why := computedKeyNull(tp, k.Name); why != "" {
				b.errs.add(k, "KEY column %q may be NULL: %s; ClickHouse cannot hold NULL in a key (ORDER BY) column, so the first NULL would stop the pipeline; compute the key from NOT NULL columns, or give NULL a value: coalesce(<expression>, <value>) AS %s%s",
					k.Name, why, k.Name, sameKeyNote)
				break
			}
		}
	}
}

// sameKeyNote warns that coalesce gives every NULL one key.
const sameKeyNote = " (every row whose value is NULL then has that one key and they become one row in the target: when several rows may be NULL there — a UNIQUE column allows many NULLs — key on NOT NULL columns, or leave those rows out with WHERE … IS NOT NULL)"

// computedKeyNull says why the output column name of tp may be NULL, or "".
func computedKeyNull(tp *TablePlan, name string) string {
	for i, n := range tp.names {
		if strings.EqualFold(n, name) && i < len(tp.Outputs) {
			return exec.NullReason(tp.Outputs[i], func(c int) bool {
				return c < tp.Input.NumFields() && tp.Input.Field(c).Nullable
			})
		}
	}
	return ""
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

// keyNullReason says why output column name of tp may be NULL, or "": tp
// lacks the column (a table of a pattern without it), copies a source
// column without NOT NULL, or computes it by an expression that can give
// NULL.
func keyNullReason(p *lang.CreatePipeline, tp *TablePlan, name string) string {
	for _, c := range tp.Lacks {
		if strings.EqualFold(c, name) {
			return "the table has no such column, so it is NULL for every row of it"
		}
	}
	if col, ok := nullableSourceColumn(p, tp, name); ok {
		return "it copies " + tp.Ref.String() + "." + col + ", which may be NULL"
	}
	return computedKeyNull(tp, name)
}

// keyMayBeNull reports whether a column of key may be NULL in a table of
// tables: an append or changelog target, which takes the primary key of
// its first table only to order its rows, is then ordered by no key (a
// NULL in an ORDER BY column fails the insert).
func keyMayBeNull(p *lang.CreatePipeline, tables []*TablePlan, key []string) bool {
	for _, tp := range tables {
		for _, k := range key {
			if keyNullReason(p, tp, k) != "" {
				return true
			}
		}
	}
	return false
}

// keyNullAfterRebind refuses a table planned again, or joining a pattern,
// whose rows may hold NULL in a column of the ClickHouse target's key (its
// ORDER BY): the first such row would fail its insert and stop the
// pipeline there with an error about a NULL, after the table's DDL or join
// went by unremarked. A start refuses the same file (checkNullableKey).
func keyNullAfterRebind(p *lang.CreatePipeline, pl *Pipeline, tp *TablePlan, joining bool) error {
	if pl.SinkKind != "clickhouse" {
		return nil
	}
	for _, k := range pl.Target.Key {
		if why := keyNullReason(p, tp, k); why != "" {
			what := "after the change of " + tp.Ref.String() + ","
			if joining {
				what = tp.Ref.String() + " joins the pipeline, but"
			}
			return fmt.Errorf("pipeline %s: %s the column %s of the target's key (%s) may be NULL in its rows: %s; ClickHouse cannot hold NULL in a key (ORDER BY) column, so the first such row would stop the pipeline. "+
				"Read the table with a pipeline of its own (a pattern that does not match it), or key the pipeline on columns every table has NOT NULL; then run apply again",
				pl.Name, what, k, strings.Join(pl.Target.Key, ", "), why)
		}
	}
	return nil
}
