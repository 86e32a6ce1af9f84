package planner

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/stdlib"
)

// Shards that drift apart: a pipeline whose TRANSFORM has `*` (or no
// TRANSFORM) and that reads several tables (a list, or a pattern) matches
// their columns by name. Its output is the union of the tables' columns —
// in the first table's order, then the columns only later tables have —
// NULL where a table lacks one, of a type wide enough for every table's
// (widen: String for a number and text), refused where no type holds
// both (a date and a number). So a column added, dropped or
// moved in one shard (a rolling migration) does not stop the others.
// Explicit expressions (no `*`) type-check per table and are matched by
// position, their names equal; each output column takes the same widened
// type (a type change of one shard etlq followed — INT → VARCHAR — gives
// String, as with `*`), refused only where no type holds both.

// severalTables reports whether pipeline p reads several tables (a list,
// or a pattern, which may match more tables later) into one output.
func severalTables(p *lang.CreatePipeline, pl *Pipeline) bool {
	return len(pl.Tables) >= 2 || len(pl.Patterns) > 0 || len(p.From) >= 2
}

// readsSeveral reports whether pipeline p reads several tables (a list or
// a pattern), before its tables are resolved.
func readsSeveral(p *lang.CreatePipeline) bool {
	return len(p.From) >= 2 || slices.ContainsFunc(p.From, func(t *lang.TableName) bool { return t.HasGlob() })
}

// exceptUnknown reports each name of a `* EXCEPT (…)` of a pipeline over
// several tables that none of its tables has (bindTable leaves them to
// it: a name some of them lack is one of the union's).
func (b *builder) exceptUnknown(p *lang.CreatePipeline, tables []*connectors.TableSchema) {
	if !readsSeveral(p) || len(tables) == 0 {
		return
	}
	for _, it := range p.Transform {
		for _, x := range it.Except {
			var cols []string
			found := false
			for _, ts := range tables {
				for _, f := range ts.Fields {
					cols = append(cols, f.Name)
					found = found || strings.EqualFold(f.Name, x.Name)
				}
			}
			if !found {
				b.errs.add(x, "unknown column %q in any of the pipeline's tables (%s)%s", x.Name, tableNames(tables), suggest(x.Name, cols))
			}
		}
	}
}

// tableNames lists the tables' names, comma-separated.
func tableNames(tables []*connectors.TableSchema) string {
	var names []string
	for _, ts := range tables {
		names = append(names, ts.Ref.String())
	}
	return strings.Join(names, ", ")
}

// starOverTables reports whether pipeline p reads several tables (a list
// or a pattern) with `*`, before its tables are resolved.
func starOverTables(p *lang.CreatePipeline) bool {
	several := len(p.From) >= 2
	for _, t := range p.From {
		several = several || t.HasGlob()
	}
	if !several || p.Transform == nil {
		return several
	}
	return slices.ContainsFunc(p.Transform, func(it *lang.SelectItem) bool { return it.Star })
}

// starUnion reports whether pipeline p matches its tables' outputs by name.
func starUnion(p *lang.CreatePipeline, pl *Pipeline) bool {
	if !severalTables(p, pl) {
		return false
	}
	if p.Transform == nil {
		return true
	}
	for _, it := range p.Transform {
		if it.Star {
			return true
		}
	}
	return false
}

// intBits returns the width of an integer kind.
func intBits(t stdlib.Type) int {
	switch t.Kind {
	case stdlib.Int8, stdlib.Uint8:
		return 8
	case stdlib.Int16, stdlib.Uint16:
		return 16
	case stdlib.Int32, stdlib.Uint32:
		return 32
	}
	return 64
}

func intOf(bits int, signed bool) stdlib.Type {
	kinds := map[int][2]stdlib.Kind{8: {stdlib.Uint8, stdlib.Int8}, 16: {stdlib.Uint16, stdlib.Int16}, 32: {stdlib.Uint32, stdlib.Int32}, 64: {stdlib.Uint64, stdlib.Int64}}
	if signed {
		return stdlib.Type{Kind: kinds[bits][1]}
	}
	return stdlib.Type{Kind: kinds[bits][0]}
}

// widen returns the narrowest type holding every value of a and of b
// exactly — the text (String) for a number and text, or a float and a
// decimal — or false when none does (a date and a number, …).
func widen(a, b stdlib.Type) (stdlib.Type, bool) {
	switch {
	case a == b:
		return a, true
	case a.Kind == stdlib.Null:
		return b, true
	case b.Kind == stdlib.Null:
		return a, true
	case a.IsInteger() && b.IsInteger():
		ba, bb := intBits(a), intBits(b)
		switch {
		case a.IsSigned() == b.IsSigned():
			return intOf(max(ba, bb), a.IsSigned()), true
		case a.IsUnsigned():
			ba, bb = bb, ba // ba: the signed one's bits, bb: the unsigned one's
		}
		if bb == 64 {
			return stdlib.Dec(20, 0), true
		}
		return intOf(max(ba, 2*bb), true), true
	case (a.IsInteger() || a.Kind == stdlib.Decimal) && (b.IsInteger() || b.Kind == stdlib.Decimal):
		da, db := stdlib.DecimalOf(a), stdlib.DecimalOf(b)
		s := max(da.Scale, db.Scale)
		p := max(da.Precision-da.Scale, db.Precision-db.Scale) + s
		if p > stdlib.MaxDecimalPrecision {
			return stdlib.TString, true
		}
		return stdlib.Dec(p, s), true
	case a.IsFloat() && b.IsFloat():
		return stdlib.TFloat64, true
	case a.IsFloat() && b.IsInteger() && intBits(b) <= 32, b.IsFloat() && a.IsInteger() && intBits(a) <= 32:
		return stdlib.TFloat64, true
	case a.IsStringLike() && b.IsStringLike():
		return stdlib.TString, true
	case a.Kind == stdlib.Date && b.Kind == stdlib.Timestamp, a.Kind == stdlib.Timestamp && b.Kind == stdlib.Date:
		return stdlib.TTimestamp, true
	case textual(a) && textual(b):
		// Text and a number, a DOUBLE and a DECIMAL: the text of either
		// (exec.Supertype, what a target column takes when a source's
		// column changes type that way).
		return stdlib.TString, true
	}
	return a, false
}

// textual reports whether t's values have a text the union's String
// holds: numbers and strings.
func textual(t stdlib.Type) bool {
	return t.IsInteger() || t.IsFloat() || t.Kind == stdlib.Decimal || t.Kind == stdlib.String
}

// mergeUnion adds one more table's outputs (names, exprs …) to the
// pipeline's union output: new names are appended, shared ones widened.
// It reports a column whose types cannot be widened at its node.
func (b *builder) mergeUnion(pl *Pipeline, table string, names []string, outs []exec.Expr, nullable []bool, metas []arrow.Metadata, olds []bool, nodes []lang.Node) bool {
	ok := true
	has := map[string]bool{}
	for i, name := range names {
		has[strings.ToLower(name)] = true
		t := outs[i].Type()
		j := outputIndex(pl.Output, name)
		if j < 0 {
			// Only this table has it (so far): NULL for the others.
			pl.Output = append(pl.Output, Column{Name: name, Type: t.Arrow(), Nullable: true, Source: t.String(), Meta: carryDDL(metas[i], metas[i], table), Before: olds[i]})
			continue
		}
		c := &pl.Output[j]
		c.Nullable = c.Nullable || nullable[i]
		c.Before = c.Before && olds[i]
		cur, err := stdlib.FromField(arrow.Field{Name: c.Name, Type: c.Type, Metadata: c.Meta})
		if err != nil {
			b.errs.add(nodes[i], "output column %q: %v", name, err)
			ok = false
			continue
		}
		w, can := widen(cur, t)
		if !can {
			b.errs.add(nodes[i], "output column %q is %s in %s but %s in another table of the pipeline: no type holds both (CAST it in TRANSFORM)", name, t, table, c.Source)
			ok = false
			continue
		}
		if w != cur || !c.Meta.Equal(metas[i]) {
			prev := c.Meta
			c.Meta = carryDDL(w.Metadata(), metas[i], table)
			c.Meta = laterDDL(c.Meta, prev)
		}
		c.Type, c.Source = w.Arrow(), w.String()
	}
	for j := range pl.Output {
		if !has[strings.ToLower(pl.Output[j].Name)] {
			pl.Output[j].Nullable = true
		}
	}
	return ok
}

func outputIndex(out []Column, name string) int {
	for j, c := range out {
		if strings.EqualFold(c.Name, name) {
			return j
		}
	}
	return -1
}

// alignTable makes tp's outputs those of the pipeline's union output (or
// the widened output of explicit expressions over several tables), in its
// order: its own columns cast to the output's type where it is wider, NULL
// for the columns it lacks.
func alignTable(pl *Pipeline, tp *TablePlan) error {
	own := map[string]int{}
	for i, n := range tp.names {
		own[strings.ToLower(n)] = i
	}
	outs := make([]exec.Expr, len(pl.Output))
	befores := make([]exec.Expr, len(pl.Output))
	tp.Lacks = nil
	for j, c := range pl.Output {
		want, err := stdlib.FromField(arrow.Field{Name: c.Name, Type: c.Type, Metadata: c.Meta})
		if err != nil {
			return err
		}
		i, ok := own[strings.ToLower(c.Name)]
		if !ok {
			if outs[j], err = exec.Lit(nil, want); err != nil {
				return err
			}
			befores[j] = outs[j]
			tp.Lacks = append(tp.Lacks, c.Name)
			continue
		}
		outs[j], befores[j] = tp.Outputs[i], nil
		if i < len(tp.BeforeOutputs) {
			befores[j] = tp.BeforeOutputs[i]
		}
		if outs[j].Type() != want {
			if outs[j], err = exec.Cast(outs[j], want); err != nil {
				return fmt.Errorf("output column %q of %s: %v", c.Name, tp.Ref, err)
			}
			if befores[j] != nil {
				if befores[j], err = exec.Cast(befores[j], want); err != nil {
					return fmt.Errorf("output column %q of %s: %v", c.Name, tp.Ref, err)
				}
			}
		}
	}
	tp.Outputs, tp.BeforeOutputs = outs, befores
	tp.Own = &exec.OwnColumns{Lacks: tp.Lacks, Key: tp.ownKey}
	tp.names = nil
	for _, c := range pl.Output {
		tp.names = append(tp.names, c.Name)
	}
	return nil
}

// carryDDL adds to meta what a DDL said of a table's column (added by it,
// its DEFAULT, renamed from, rounded from): a restart plans the union from
// today's schemas, and the replayed ALTER that added a column to one shard
// must still tell the sink so, or the sink takes the column for one
// dropped outside etlq.
// The DEFAULT and the old name are marked as table's (exec.MetaDDLTable):
// the other tables' rows never had them.
func carryDDL(meta, from arrow.Metadata, table string) arrow.Metadata {
	keys, vals := append([]string(nil), meta.Keys()...), append([]string(nil), meta.Values()...)
	for _, k := range []string{exec.MetaAddedByDDL, exec.MetaAddedAt, exec.MetaDefault, exec.MetaRenamedFrom, exec.MetaRoundedFrom} {
		if v, ok := from.GetValue(k); ok && meta.FindKey(k) < 0 {
			keys, vals = append(keys, k), append(vals, v)
		}
	}
	if _, ok := from.GetValue(exec.MetaAddedByDDL); ok {
		if i := slices.Index(keys, exec.MetaDDLTable); i >= 0 {
			vals[i] = table
		} else {
			keys, vals = append(keys, exec.MetaDDLTable), append(vals, table)
		}
	}
	return arrow.NewMetadata(keys, vals)
}

// ddlKeys are the metadata a DDL gives a column (carryDDL), with the table
// whose DDL it was.
var ddlKeys = []string{exec.MetaAddedByDDL, exec.MetaAddedAt, exec.MetaDefault, exec.MetaRenamedFrom, exec.MetaRoundedFrom, exec.MetaDDLTable}

// laterDDL returns meta, a union column's metadata as the table merged
// last carries it, with prev's DDL metadata instead when prev names the
// later ADD (exec.MetaAddedAt): a column one table added (or renamed to)
// that another table has too keeps telling the sink of that ADD, whose
// rows from before it the sink fills with the DEFAULT (the target's
// column holds the other tables' values, and NULL for that table's rows).
func laterDDL(meta, prev arrow.Metadata) arrow.Metadata {
	at := func(m arrow.Metadata) uint64 {
		if v, _ := m.GetValue(exec.MetaAddedByDDL); v != "true" {
			return 0
		}
		s, _ := m.GetValue(exec.MetaAddedAt)
		n, _ := strconv.ParseUint(s, 10, 64)
		return n
	}
	if at(prev) <= at(meta) {
		return meta
	}
	var keys, vals []string
	for i, k := range meta.Keys() {
		if !slices.Contains(ddlKeys, k) {
			keys, vals = append(keys, k), append(vals, meta.Values()[i])
		}
	}
	for _, k := range ddlKeys {
		if v, ok := prev.GetValue(k); ok {
			keys, vals = append(keys, k), append(vals, v)
		}
	}
	return arrow.NewMetadata(keys, vals)
}
