package planner

import (
	"fmt"
	"slices"
	"strings"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/lang"
)

// tablesKey is what tells apart the rows of the tables of a pipeline that
// reads several tables (a list or a pattern) into one target: the output
// columns that copy _db and _table, and whether _db is needed (the tables
// are in several databases, or the database part is a pattern), whether
// _table is (the tables do not all have one name: FROM tenant_*.orders
// reads tables that differ by database only).
type tablesKey struct {
	multi     bool
	dbCol     string // output column copying _db, "" when none
	tableCol  string // output column copying _table, "" when none
	needDB    bool
	needTable bool
}

// tablesKeyOf works out the tablesKey of pipeline p, whose tables are
// resolved in pl.
func tablesKeyOf(p *lang.CreatePipeline, pl *Pipeline) tablesKey {
	var k tablesKey
	k.multi = len(p.From) > 1 || len(pl.Tables) > 1
	dbs := map[string]bool{}
	for _, t := range pl.Tables {
		dbs[t.Ref.DB] = true
	}
	k.needDB = len(dbs) > 1
	names := map[string]bool{}
	for _, t := range pl.Tables {
		names[t.Ref.Table] = true
	}
	for _, t := range p.From {
		n := len(t.Parts)
		if t.HasGlob() {
			k.multi = true
			if n >= 2 && isGlobPart(t.Parts[n-2]) {
				k.needDB = true
			}
		}
		if n >= 1 && isGlobPart(t.Parts[n-1]) {
			// A pattern in the table part: tables of other names may come.
			k.needTable = true
		} else if n >= 1 {
			names[t.Parts[n-1].Name] = true
		}
	}
	if len(names) > 1 {
		k.needTable = true
	}
	for _, it := range p.Transform {
		if it.Star {
			continue
		}
		x := it.Expr
		for {
			par, ok := x.(*lang.Paren)
			if !ok {
				break
			}
			x = par.X
		}
		c, ok := x.(*lang.ColumnRef)
		if !ok || c.Before {
			continue
		}
		name, _ := outputName(it)
		switch strings.ToLower(c.Name.Name) {
		case exec.ColDB:
			if k.dbCol == "" {
				k.dbCol = name
			}
		case exec.ColTable:
			if k.tableCol == "" {
				k.tableCol = name
			}
		}
	}
	return k
}

// isGlobPart reports whether a part of a table name is a pattern.
func isGlobPart(id *lang.Ident) bool {
	return !id.Quoted && strings.ContainsAny(id.Name, "*?")
}

// missing lists the metadata columns (_table, _db) a key over the tables
// needs and the TRANSFORM does not output.
func (k tablesKey) missing() []string {
	var out []string
	if k.needTable && k.tableCol == "" {
		out = append(out, exec.ColTable)
	}
	if k.needDB && k.dbCol == "" {
		out = append(out, exec.ColDB)
	}
	return out
}

// prefix is the columns the default key of an upsert over several tables
// starts with: (_db,) _table, as the TRANSFORM outputs them (_table also
// when all the tables have one name, if the TRANSFORM outputs it).
func (k tablesKey) prefix() []string {
	var out []string
	if k.dbCol != "" {
		out = append(out, k.dbCol)
	}
	if k.tableCol != "" {
		out = append(out, k.tableCol)
	}
	return out
}

// keyTellsTablesApart reports whether an explicit KEY holds the columns
// that tell the tables apart.
func (k tablesKey) keyTellsTablesApart(key []*lang.Ident) bool {
	has := func(col string) bool {
		for _, id := range key {
			if col != "" && strings.EqualFold(id.Name, col) {
				return true
			}
		}
		return false
	}
	return (!k.needTable || has(k.tableCol)) && (!k.needDB || has(k.dbCol))
}

// fromSpan is the place of the FROM tables of p in the file.
func fromSpan(p *lang.CreatePipeline) (lang.Pos, lang.Pos) {
	return p.From[0].Pos, p.From[len(p.From)-1].EndPos
}

// tablesFix says how to add the columns a key over several tables needs.
func tablesFix(missing []string) string {
	if len(missing) == 1 {
		return "add " + missing[0] + " to TRANSFORM"
	}
	return "add " + strings.Join(missing, " and ") + " to TRANSFORM"
}

// withDefault is the key prefix once the missing columns are added under
// their own names.
func withDefault(k tablesKey, missing []string) []string {
	for _, m := range missing {
		switch m {
		case exec.ColDB:
			k.dbCol = m
		case exec.ColTable:
			k.tableCol = m
		}
	}
	return k.prefix()
}

// vouchedUnique reports whether the pipeline says its key is unique across
// its tables (WITH (key_unique_across_tables = true)).
func vouchedUnique(pl *Pipeline) bool {
	v, _ := pl.Options["key_unique_across_tables"].(bool)
	return v
}

// checkKeyOverTables refuses the explicit KEY of an upsert over several
// tables when it does not hold the columns that tell the tables apart.
func (b *builder) checkKeyOverTables(p *lang.CreatePipeline, pl *Pipeline, tk tablesKey) {
	if tk.keyTellsTablesApart(p.Key) {
		return
	}
	var need, key []string
	for _, c := range []string{tk.dbCol, tk.tableCol} {
		if c != "" {
			need = append(need, c)
		}
	}
	for _, k := range p.Key {
		key = append(key, k.Name)
	}
	fix := tablesFix(tk.missing())
	if len(tk.missing()) == 0 {
		fix = "add " + strings.Join(need, ", ") + " to KEY"
	}
	b.errs.addAt(p.Key[0].Pos, p.Key[len(p.Key)-1].EndPos,
		"pipeline %s upserts several tables into one target, but KEY (%s) does not say which table a row comes from, so a row of one table would overwrite the row of another with the same key: %s, or set WITH (key_unique_across_tables = true) if the key is unique across the tables",
		pl.Name, strings.Join(key, ", "), fix)
}

// tableKey is the primary key of one table of a pipeline.
type tableKey struct {
	ref connectors.TableRef
	pk  []string
}

// keysDiffer lists the tables and their primary keys when the tables do
// not all have the same primary key columns (in any order), else "".
func keysDiffer(pks []tableKey) string {
	if len(pks) < 2 {
		return ""
	}
	for _, k := range pks[1:] {
		if !sameKeyColumns(k.pk, pks[0].pk) {
			var out []string
			for _, k := range pks {
				out = append(out, fmt.Sprintf("%s (%s)", k.ref, strings.Join(k.pk, ", ")))
			}
			return strings.Join(out, ", ")
		}
	}
	return ""
}

// sameKeyColumns reports whether a and b name the same columns.
func sameKeyColumns(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y string) bool { return strings.EqualFold(x, y) }) {
			return false
		}
	}
	return true
}

// withoutKey names the tables without a primary key among pks.
func withoutKey(pks []tableKey) string {
	var out []string
	for _, k := range pks {
		if len(k.pk) == 0 {
			out = append(out, k.ref.String())
		}
	}
	if len(out) == 1 {
		return out[0] + " has no primary key"
	}
	return strings.Join(out, ", ") + " have no primary key"
}
