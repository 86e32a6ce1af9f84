package planner

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/stdlib"
)

// scope resolves column names of one source table.
type scope struct {
	table   string
	schema  *arrow.Schema
	types   []stdlib.Type
	columns []string       // table columns, in order
	byLower map[string]int // lower-case table column name → index
	meta    map[string]int // metadata column → index
	before  bool           // bind table columns to their before image
	binlog  bool           // before.* and changed() are allowed
	funcs   map[string]*udf
	aliases map[string]lang.Expr // while binding WHERE or a TRANSFORM item: TRANSFORM's (other) outputs by lower-case name, for the error that names one
	aliasIn string               // the clause being bound while aliases is set: "WHERE" or "TRANSFORM"
}

// bindTable binds WHERE and TRANSFORM of pipeline p for one source table.
func (b *builder) bindTable(p *lang.CreatePipeline, pl *Pipeline, ts *connectors.TableSchema, at lang.Node) *TablePlan {
	in := inputSchema(ts)
	sc := &scope{table: ts.Ref.String(), schema: in, byLower: map[string]int{}, meta: map[string]int{},
		binlog: pl.Snapshot != connectors.SnapshotOnly, funcs: b.funcs}
	sc.types = make([]stdlib.Type, in.NumFields())
	for i, f := range in.Fields() {
		t, err := stdlib.FromField(f)
		if err != nil {
			b.errs.add(at, "column %q of %s: %v", f.Name, sc.table, err)
			return nil
		}
		sc.types[i] = t
	}
	for i, f := range ts.Fields {
		sc.columns = append(sc.columns, f.Name)
		sc.byLower[strings.ToLower(f.Name)] = i
	}
	for i := len(ts.Fields) * 2; i < in.NumFields(); i++ {
		sc.meta[in.Field(i).Name] = i
	}
	tp := &TablePlan{Ref: ts.Ref, Input: in}
	nerr := len(b.errs.errs)

	if p.Where != nil {
		sc.aliases = map[string]lang.Expr{}
		for _, it := range p.Transform {
			if it.Alias != nil && it.Expr != nil {
				sc.aliases[strings.ToLower(it.Alias.Name)] = it.Expr
			}
		}
		sc.aliasIn = "WHERE"
		w := b.bindExpr(sc, p.Where)
		sc.aliases = nil
		if w != nil {
			// A number, text or date is a condition too, as in MySQL.
			if c, err := exec.Condition(w); err != nil {
				b.errs.add(p.Where, "WHERE must be a boolean condition, got %s", w.Type())
			} else {
				tp.Where = b.fold(p.Where, c)
			}
		}
	}

	items := p.Transform
	if items == nil {
		items = []*lang.SelectItem{{Pos: p.Pos, EndPos: p.Pos, Star: true}}
	}
	var names []string
	var outs, befores []exec.Expr
	var nodes []lang.Node
	var nullable []bool
	var metas []arrow.Metadata
	var olds []bool
	seen := map[string]lang.Node{}
	unbound := false      // an item that did not bind (its error may be elsewhere: a broken CREATE FUNCTION)
	var starDups []string // the columns a * repeats: one error for them all
	addOut := func(name string, n lang.Node, e, be exec.Expr, null bool, meta arrow.Metadata, old bool) {
		if prev, dup := seen[strings.ToLower(name)]; dup {
			if it, ok := n.(*lang.SelectItem); ok && it.Star {
				starDups = append(starDups, name)
				return
			}
			b.errs.add(n, "duplicate output column %q (first at line %d)", name, prev.Position().Line)
			return
		}
		seen[strings.ToLower(name)] = n
		names = append(names, name)
		outs = append(outs, e)
		befores = append(befores, be)
		nodes = append(nodes, n)
		nullable = append(nullable, null)
		metas = append(metas, meta)
		olds = append(olds, old)
	}
	for _, it := range items {
		if it.Star {
			except := map[string]bool{}
			for _, x := range it.Except {
				if _, ok := sc.byLower[strings.ToLower(x.Name)]; !ok && !readsSeveral(p) {
					// Over several tables the name is one of the union's
					// (docs/language.md): a table that lacks it (a shard
					// that dropped it) gives it no column to leave out;
					// a name no table has is the error (exceptUnknown).
					b.errs.add(x, "unknown column %q in %s%s", x.Name, sc.table, suggest(x.Name, sc.columns))
				}
				except[strings.ToLower(x.Name)] = true
			}
			starDups = nil
			for i, c := range sc.columns {
				if except[strings.ToLower(c)] {
					continue
				}
				addOut(c, it, exec.Col(i, c, sc.types[i]), exec.Col(len(sc.columns)+i, exec.BeforePrefix+c, sc.types[len(sc.columns)+i]), in.Field(i).Nullable, sourceMeta(in.Field(i)), true)
			}
			switch len(starDups) {
			case 0:
			case 1:
				b.errs.add(it, "duplicate output column %q: * gives it again (first at line %d); write * EXCEPT (%s)", starDups[0], seen[strings.ToLower(starDups[0])].Position().Line, lang.FormatExpr(&lang.ColumnRef{Name: &lang.Ident{Name: starDups[0]}}))
			default:
				b.errs.add(it, "duplicate output columns: * gives %s again (first at line %d); leave them out with * EXCEPT (…)", quoteNames(starDups), seen[strings.ToLower(starDups[0])].Position().Line)
			}
			continue
		}
		// The expression first: an unknown function or column in it is
		// the error to fix, before its name. An item reads the source
		// row, not the other items' outputs: an unknown column that is
		// one of their aliases is named so.
		sc.aliases, sc.aliasIn = map[string]lang.Expr{}, "TRANSFORM"
		for _, o := range items {
			if o != it && o.Alias != nil && o.Expr != nil {
				sc.aliases[strings.ToLower(o.Alias.Name)] = o.Expr
			}
		}
		e := b.bindExpr(sc, it.Expr)
		sc.aliases = nil
		if e == nil {
			unbound = true
			continue
		}
		name, ok := outputName(it)
		if !ok {
			b.errs.add(it.Expr, "this expression needs a name: add AS <name>")
			continue
		}
		e = b.fold(it.Expr, e)
		// No target holds a column of no type (NULL alone, a CASE
		// whose every branch is NULL) or an interval: say so at the
		// item, before a sink meets the first row.
		switch e.Type().Kind {
		case stdlib.Null:
			b.errs.add(it.Expr, "output column %q is NULL for every row and has no type: write CAST(NULL AS <type>) (CAST(NULL AS STRING), CAST(NULL AS INT64), …)", name)
			continue
		case stdlib.Interval:
			b.errs.add(it.Expr, "output column %q is an INTERVAL, which no target holds: an interval is for date arithmetic (created_at + INTERVAL '5' MINUTE); write the amount as a number to output it", name)
			continue
		}
		bsc := *sc
		bsc.before = true
		var be exec.Expr
		if len(b.errs.errs) == nerr {
			be = b.bindExpr(&bsc, it.Expr)
			if be != nil {
				be = b.fold(it.Expr, be)
			}
		}
		addOut(name, it, e, be, sc.nullable(it.Expr, e), sc.outputMeta(it.Expr, e), sc.fromTable(it.Expr))
	}
	if unbound {
		return nil
	}
	if len(names) == 0 && len(b.errs.errs) == nerr {
		b.errs.add(items[0], "TRANSFORM gives no output column: * EXCEPT (…) leaves out every column of %s", sc.table)
	}
	if len(b.errs.errs) > nerr {
		return nil
	}
	tp.Outputs = outs
	tp.BeforeOutputs = befores
	tp.names = names
	tp.ownKey = passedKey(names, outs, sc.byLower, ts.PrimaryKey)

	// Output columns: the first table fixes them; others must agree, or,
	// with `*` over several tables, join the union (union.go).
	if pl.Output == nil {
		several := severalTables(p, pl)
		for i, e := range outs {
			meta := metas[i]
			if several {
				// What a DDL of this table said of a column (its
				// DEFAULT) is this table's, as for the tables merged
				// after it (mergeUnion): the union is made again with
				// the changed table first when it is the first.
				meta = carryDDL(meta, meta, sc.table)
			}
			c := Column{Name: names[i], Type: e.Type().Arrow(), Nullable: nullable[i], Source: e.Type().String(), Meta: meta, Before: olds[i]}
			if p.Transform != nil {
				c.Pos, c.EndPos = nodes[i].Position(), nodes[i].EndPosition()
			}
			pl.Output = append(pl.Output, c)
		}
		return tp
	}
	if starUnion(p, pl) {
		if !b.mergeUnion(pl, sc.table, names, outs, nullable, metas, olds, nodes) {
			return nil
		}
		return tp
	}
	if len(pl.Output) != len(outs) {
		b.errs.add(at, "%s gives %d output columns, the pipeline's first table gives %d", sc.table, len(outs), len(pl.Output))
		return nil
	}
	// Explicit expressions over several tables: matched by position, the
	// names equal, each column of a type that holds every table's (the
	// union's widen: INT in one shard and VARCHAR in another after a type
	// change etlq followed give String), the tables' outputs cast to it
	// (alignTable).
	for i, e := range outs {
		c := &pl.Output[i]
		if !strings.EqualFold(c.Name, names[i]) {
			b.errs.add(nodes[i], "output column %d is %s %s for %s but %s %s for the pipeline's first table", i+1, names[i], e.Type(), sc.table, c.Name, c.Source)
			continue
		}
		c.Nullable = c.Nullable || nullable[i]
		cur, err := stdlib.FromField(arrow.Field{Name: c.Name, Type: c.Type, Metadata: c.Meta})
		if err != nil {
			b.errs.add(nodes[i], "output column %q: %v", c.Name, err)
			continue
		}
		w, can := widen(cur, e.Type())
		if !can {
			b.errs.add(nodes[i], "output column %d (%s) is %s for %s but %s for the pipeline's first table: no type holds both (CAST it in TRANSFORM)", i+1, names[i], e.Type(), sc.table, c.Source)
			continue
		}
		if w != cur || !c.Meta.Equal(metas[i]) {
			// The tables disagree on the source type (varchar(32) here,
			// varchar(64) there, INT and VARCHAR): keep only what the
			// types say.
			c.Meta = w.Metadata()
		}
		c.Type, c.Source = w.Arrow(), w.String()
	}
	return tp
}

// outputMeta returns the sink field metadata of output expression x bound
// as e: a column of the table, or its before image, keeps the source's type
// metadata; anything else has the metadata of its type.
func (sc *scope) outputMeta(x lang.Expr, e exec.Expr) arrow.Metadata {
	for {
		p, ok := x.(*lang.Paren)
		if !ok {
			break
		}
		x = p.X
	}
	if c, ok := x.(*lang.ColumnRef); ok {
		name := strings.ToLower(c.Name.Name)
		if !sc.isMeta(c) {
			if i, ok := sc.byLower[name]; ok {
				return sourceMeta(sc.schema.Field(i))
			}
		}
	}
	return e.Type().Metadata()
}

// fromTable reports whether expression x reads the table's columns, and
// only their current values: no before.* value, no changed(), no metadata
// column. Over the before image such an expression gives its old value.
func (sc *scope) fromTable(x lang.Expr) bool {
	cols, ok := 0, true
	lang.Walk(x, func(n lang.Node) bool {
		switch n := n.(type) {
		case *lang.ColumnRef:
			name := strings.ToLower(n.Name.Name)
			if n.Before || sc.isMeta(n) {
				ok = false
			} else if _, col := sc.byLower[name]; col {
				cols++
			}
		case *lang.Call:
			if strings.EqualFold(n.Name.Name, "changed") {
				ok = false
			}
		}
		return ok
	})
	return ok && cols > 0
}

// sourceMeta keeps the type metadata of a source field (not its key
// position: the sink's key is the pipeline's).
func sourceMeta(f arrow.Field) arrow.Metadata {
	var keys, vals []string
	for _, k := range []string{exec.MetaSourceType, exec.MetaLogicalType, exec.MetaDefault, exec.MetaRenamedFrom, exec.MetaAddedByDDL, exec.MetaAddedAt, exec.MetaRoundedFrom} {
		if v, ok := f.Metadata.GetValue(k); ok {
			keys = append(keys, k)
			vals = append(vals, v)
		}
	}
	return arrow.NewMetadata(keys, vals)
}

// nullable reports whether output expression e, bound as x, may be NULL:
// a column of the table keeps the source's NOT NULL, metadata columns are
// never NULL, a before.* value may be (an insert has none), and a computed
// value may be when exec.NullReason finds a way for it to be (a NULL-able
// column it does not guard, a function that may give NULL for values that
// are not NULL, a division, a CASE without ELSE): coalesce(x, -1) and
// id * 2 over a NOT NULL id are NOT NULL.
func (sc *scope) nullable(e lang.Expr, x exec.Expr) bool {
	for {
		p, ok := e.(*lang.Paren)
		if !ok {
			break
		}
		e = p.X
	}
	c, ok := e.(*lang.ColumnRef)
	if !ok {
		if x == nil {
			return true
		}
		return exec.NullReason(x, func(i int) bool {
			return i >= sc.schema.NumFields() || sc.schema.Field(i).Nullable
		}) != ""
	}
	if c.Before {
		return true
	}
	name := strings.ToLower(c.Name.Name)
	if sc.isMeta(c) {
		return false
	}
	if i, ok := sc.byLower[name]; ok {
		return sc.schema.Field(i).Nullable
	}
	return true
}

func (b *builder) fold(n lang.Node, e exec.Expr) exec.Expr {
	f, err := exec.Fold(e)
	if err != nil {
		b.errs.add(n, "%v", err)
		return e
	}
	return f
}

// bindExpr turns an AST expression into a typed exec expression; nil after
// reporting an error.
// constChecked returns x, or nil with an error at n when x is a constant
// that cannot be computed (CAST('7x' AS INT64), 9223372036854775807 + 1):
// a mistake of the file, as DATE 'yesterday' is, not a row error that
// stops the pipeline at its first row.
func (b *builder) constChecked(n lang.Node, x exec.Expr) exec.Expr {
	if x == nil {
		return nil
	}
	if why := exec.ConstFailure(x); why != "" {
		b.errs.add(n, "%s", why)
		return nil
	}
	return x
}

func (b *builder) bindExpr(sc *scope, e lang.Expr) exec.Expr {
	wrap := func(x exec.Expr, err error) exec.Expr {
		if err != nil {
			b.errs.add(e, "%v", err)
			return nil
		}
		return x
	}
	switch n := e.(type) {
	case *lang.Paren:
		return b.bindExpr(sc, n.X)
	case *lang.Literal:
		return wrap(bindLiteral(n))
	case *lang.ColumnRef:
		return b.bindColumn(sc, n)
	case *lang.Unary:
		x := b.bindExpr(sc, n.X)
		if x == nil {
			return nil
		}
		return b.constChecked(n, wrap(exec.Unary(n.Op, x)))
	case *lang.Binary:
		l, r := b.bindExpr(sc, n.L), b.bindExpr(sc, n.R)
		if l == nil || r == nil {
			return nil
		}
		return b.constChecked(n, wrap(exec.Binary(n.Op, l, r)))
	case *lang.IsNull:
		x := b.bindExpr(sc, n.X)
		if x == nil {
			return nil
		}
		return exec.IsNull(x, n.Not)
	case *lang.In:
		x := b.bindExpr(sc, n.X)
		list, ok := b.bindList(sc, n.List)
		if x == nil || !ok {
			return nil
		}
		return wrap(exec.In(x, list, n.Not))
	case *lang.Between:
		x, lo, hi := b.bindExpr(sc, n.X), b.bindExpr(sc, n.Lo), b.bindExpr(sc, n.Hi)
		if x == nil || lo == nil || hi == nil {
			return nil
		}
		return wrap(exec.Between(x, lo, hi, n.Not))
	case *lang.Like:
		x, pat := b.bindExpr(sc, n.X), b.bindExpr(sc, n.Pattern)
		if x == nil || pat == nil {
			return nil
		}
		return wrap(exec.Like(x, pat, n.Not))
	case *lang.Case:
		var operand exec.Expr
		ok := true
		if n.Operand != nil {
			operand = b.bindExpr(sc, n.Operand)
			ok = operand != nil
		}
		var conds, results []exec.Expr
		for _, w := range n.Whens {
			c, r := b.bindExpr(sc, w.Cond), b.bindExpr(sc, w.Result)
			ok = ok && c != nil && r != nil
			conds, results = append(conds, c), append(results, r)
		}
		var els exec.Expr
		if n.Else != nil {
			els = b.bindExpr(sc, n.Else)
			ok = ok && els != nil
		}
		if !ok {
			return nil
		}
		return wrap(exec.Case(operand, conds, results, els))
	case *lang.Cast:
		x := b.bindExpr(sc, n.X)
		if x == nil {
			return nil
		}
		t, err := stdlib.ParseType(n.Type.Name, n.Type.Params)
		if err != nil {
			b.errs.add(n.Type, "%v", err)
			return nil
		}
		return b.constChecked(n, wrap(exec.Cast(x, t)))
	case *lang.Call:
		return b.bindCall(sc, n)
	case *lang.Collate:
		x := b.bindExpr(sc, n.X)
		if x == nil {
			return nil
		}
		c, err := exec.Collate(x, n.Name.Name)
		if err != nil {
			at := lang.Node(n.Name)
			if !x.Type().IsStringLike() {
				at = n
			}
			b.errs.add(at, "%v", err)
			return nil
		}
		return c
	}
	b.errs.add(e, "unsupported expression")
	return nil
}

func (b *builder) bindList(sc *scope, list []lang.Expr) ([]exec.Expr, bool) {
	out := make([]exec.Expr, len(list))
	ok := true
	for i, x := range list {
		out[i] = b.bindExpr(sc, x)
		ok = ok && out[i] != nil
	}
	return out, ok
}

// isMeta reports whether column reference c reads a metadata column
// (_op, _ts, …): its name, not back-quoted when the table has a column of
// that name too — `_op` back-quoted is the table's own column, as
// `before` back-quoted is a column and not the before image.
func (sc *scope) isMeta(c *lang.ColumnRef) bool {
	name := strings.ToLower(c.Name.Name)
	if _, meta := sc.meta[name]; !meta || c.Before {
		return false
	}
	_, col := sc.byLower[name]
	return !(c.Name.Quoted && col)
}

func (b *builder) bindColumn(sc *scope, c *lang.ColumnRef) exec.Expr {
	name := c.Name.Name
	if sc.isMeta(c) {
		i := sc.meta[strings.ToLower(name)]
		return exec.Col(i, strings.ToLower(name), metaTypes[strings.ToLower(name)])
	}
	i, ok := sc.byLower[strings.ToLower(name)]
	if !ok {
		for j, col := range sc.columns {
			if col == name {
				i, ok = j, true
			}
		}
	}
	if !ok {
		cands := append([]string(nil), sc.columns...)
		if !c.Before {
			for m := range sc.meta {
				cands = append(cands, m)
			}
		}
		if x, ok := sc.aliases[strings.ToLower(name)]; ok && !c.Before && !readsColumn(x, name) {
			reads := "WHERE reads"
			if sc.aliasIn == "TRANSFORM" {
				reads = "TRANSFORM's items read"
			}
			b.errs.add(c, "unknown column %q in %s: %s the source row, and %s is an output of TRANSFORM; write its expression, %s", name, sc.table, reads, name, lang.FormatExpr(x))
			return nil
		}
		b.errs.add(c, "unknown column %q in %s%s", name, sc.table, suggest(name, cands))
		return nil
	}
	if c.Before && !sc.binlog {
		b.errs.add(c, "before.%s is only known in a binlog pipeline (this one has SNAPSHOT only)", name)
		return nil
	}
	if c.Before || sc.before {
		j := len(sc.columns) + i
		return exec.FieldCol(j, exec.BeforePrefix+sc.columns[i], sc.types[j], sc.schema.Field(i))
	}
	return exec.FieldCol(i, sc.columns[i], sc.types[i], sc.schema.Field(i))
}

func (b *builder) bindCall(sc *scope, c *lang.Call) exec.Expr {
	name := strings.ToLower(c.Name.Name)
	if name == "changed" {
		return b.bindChanged(sc, c)
	}
	if unit := unquotedUnit(sc, name, c); unit != nil {
		// MySQL writes TIMESTAMPDIFF(HOUR, …) with a bare unit; here it is
		// a string, and "unknown column HOUR" alone leaves a MySQL user lost.
		b.errs.add(unit, "unknown column %q in %s: the unit of %s is a string, write '%s'", unit.Name.Name, sc.table, name, strings.ToUpper(unit.Name.Name))
		return nil
	}
	args, ok := b.bindList(sc, c.Args)
	if !ok {
		return nil
	}
	if f := sc.funcs[name]; f != nil {
		if f.udf == nil {
			return nil // its declaration already reported an error
		}
		x, err := exec.CallUDF(f.udf, args)
		if err != nil {
			var ae *exec.ArgError
			if errors.As(err, &ae) && ae.Arg >= 0 && ae.Arg < len(c.Args) {
				b.errs.add(c.Args[ae.Arg], "%v", err)
				return nil
			}
			b.errs.add(c, "%v", err)
			return nil
		}
		return x
	}
	x, err := exec.Call(name, args)
	if err != nil {
		if errors.Is(err, exec.ErrUnknownFunction) {
			b.unknownFunction(c, sc.funcs)
			return nil
		}
		var ae *exec.ArgError
		if errors.As(err, &ae) && ae.Arg >= 0 && ae.Arg < len(c.Args) {
			b.errs.add(c.Args[ae.Arg], "%v", err)
			return nil
		}
		b.errs.add(c, "%v", err)
		return nil
	}
	return x
}

// unknownFunction reports the call c of a function that is neither in the
// library nor among funcs (the file's and the session's), with the name
// it may have meant.
func (b *builder) unknownFunction(c *lang.Call, funcs map[string]*udf) {
	name := strings.ToLower(c.Name.Name)
	if h, ok := mysqlFunctionHint[name]; ok {
		// A MySQL function etlq writes otherwise: the nearest name by
		// spelling was misleading (isnull → ifnull, utc_timestamp →
		// unix_timestamp).
		b.errs.add(c.Name, "unknown function %q (%s)", c.Name.Name, h)
		return
	}
	var cands []string
	for _, f := range stdlib.Funcs() {
		cands = append(cands, f.Name)
	}
	for n := range funcs {
		cands = append(cands, n)
	}
	cands = append(cands, "changed")
	b.errs.add(c.Name, "unknown function %q%s", c.Name.Name, suggest(name, cands))
}

// bindChanged rewrites changed(col) into
// coalesce(_op = 'update' AND (before.col <> col OR before.col IS NULL <> col IS NULL), FALSE).
func (b *builder) bindChanged(sc *scope, c *lang.Call) exec.Expr {
	if len(c.Args) != 1 {
		b.errs.add(c, "function \"changed\" takes 1 argument, got %d", len(c.Args))
		return nil
	}
	ref, ok := c.Args[0].(*lang.ColumnRef)
	if !ok || ref.Before {
		b.errs.add(c.Args[0], "changed() takes a column of the source table")
		return nil
	}
	if !sc.binlog {
		b.errs.add(c, "changed() is only known in a binlog pipeline (this one has SNAPSHOT only)")
		return nil
	}
	nowScope := *sc
	nowScope.before = false
	now := b.bindColumn(&nowScope, ref)
	if now == nil {
		return nil
	}
	old := b.bindColumn(sc, &lang.ColumnRef{Pos: ref.Pos, EndPos: ref.EndPos, Before: true, Name: ref.Name})
	if old == nil {
		return nil
	}
	must := func(x exec.Expr, err error) exec.Expr {
		if err != nil {
			panic(fmt.Sprintf("planner: changed(): %v", err))
		}
		return x
	}
	op := exec.Col(sc.meta[exec.ColOp], exec.ColOp, stdlib.TString)
	upd := must(exec.Lit(exec.OpUpdate, stdlib.TString))
	isUpd := must(exec.Binary("=", op, upd))
	// A change of case or accents is a change: compare byte for byte,
	// whatever the column's collation.
	old, now = must(exec.ByteCompare(old)), must(exec.ByteCompare(now))
	diff, err := exec.Binary("<>", old, now)
	if err != nil {
		b.errs.add(c, "%v", err)
		return nil
	}
	nullDiff := must(exec.Binary("<>", exec.IsNull(old, false), exec.IsNull(now, false)))
	either := must(exec.Binary("OR", diff, nullDiff))
	both := must(exec.Binary("AND", isUpd, either))
	f := must(exec.Lit(false, stdlib.TBool))
	return must(exec.Call("coalesce", []exec.Expr{both, f}))
}

// bindLiteral types a literal: integers are INT64 (UINT64 above its range),
// decimal-point numbers are exact DECIMALs, exponent numbers FLOAT64.
func bindLiteral(l *lang.Literal) (exec.Expr, error) {
	switch l.Kind {
	case lang.LitNull:
		return exec.Lit(nil, stdlib.TNull)
	case lang.LitBool:
		return exec.Lit(strings.EqualFold(l.Value, "true"), stdlib.TBool)
	case lang.LitString:
		return exec.Lit(l.Value, stdlib.TString)
	case lang.LitInt:
		var v int64
		if _, err := fmt.Sscan(l.Value, &v); err == nil {
			return exec.Lit(v, stdlib.TInt64)
		}
		var u uint64
		if _, err := fmt.Sscan(l.Value, &u); err == nil {
			return exec.Lit(u, stdlib.TUint64)
		}
		digits := int32(len(strings.TrimLeft(l.Value, "0")))
		if digits > stdlib.MaxDecimalPrecision {
			return nil, fmt.Errorf("number %s has more than %d digits", l.Value, stdlib.MaxDecimalPrecision)
		}
		return exec.Lit(l.Value, stdlib.Dec(digits, 0))
	case lang.LitFloat:
		v := l.Value
		if strings.ContainsAny(v, "eE") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsInf(f, 0) {
				return nil, fmt.Errorf("number %s is beyond the range of FLOAT64", v)
			}
			return exec.Lit(f, stdlib.TFloat64)
		}
		intPart, frac, _ := strings.Cut(v, ".")
		intDigits := len(strings.TrimLeft(intPart, "0"))
		p, s := int32(intDigits+len(frac)), int32(len(frac))
		if p == 0 {
			p = 1
		}
		if s > stdlib.MaxDecimalScale || p > stdlib.MaxDecimalPrecision {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				return nil, fmt.Errorf("bad number %s", v)
			}
			return exec.Lit(f, stdlib.TFloat64)
		}
		if p < s {
			p = s
		}
		return exec.Lit(v, stdlib.Dec(p, s))
	case lang.LitTimestamp:
		return exec.Lit(l.Value, stdlib.TTimestamp)
	case lang.LitDate:
		return exec.Lit(l.Value, stdlib.TDate)
	case lang.LitInterval:
		return exec.Lit(l.Value+" "+l.Unit, stdlib.TInterval)
	}
	return nil, fmt.Errorf("unsupported literal %s", l.Raw)
}

// timeUnits are the units timestampdiff and date_trunc take as a string.
var timeUnits = map[string]bool{"microsecond": true, "second": true, "minute": true, "hour": true,
	"day": true, "week": true, "month": true, "quarter": true, "year": true}

// unquotedUnit returns the first argument of a stdlib timestampdiff or
// date_trunc call when it is a bare unit name (HOUR) that is not a column
// of the table: MySQL's spelling of what etlq takes as a string ('HOUR').
func unquotedUnit(sc *scope, name string, c *lang.Call) *lang.ColumnRef {
	if (name != "timestampdiff" && name != "date_trunc") || sc.funcs[name] != nil || len(c.Args) == 0 {
		return nil
	}
	r, ok := c.Args[0].(*lang.ColumnRef)
	if !ok || r.Before || !timeUnits[strings.ToLower(r.Name.Name)] {
		return nil
	}
	if _, isCol := sc.byLower[strings.ToLower(r.Name.Name)]; isCol {
		return nil
	}
	return r
}

// quoteNames writes names as "a", "b", "c", or the first few and a count.
func quoteNames(names []string) string {
	var q []string
	for i, n := range names {
		if i == 6 {
			q = append(q, fmt.Sprintf("… (%d columns)", len(names)))
			break
		}
		q = append(q, strconv.Quote(n))
	}
	return strings.Join(q, ", ")
}

// mysqlFunctionHint says how to write a MySQL function etlq does not have
// under that name.
var mysqlFunctionHint = map[string]string{
	"lcase":             "write lower(…)",
	"ucase":             "write upper(…)",
	"isnull":            "write x IS NULL",
	"curdate":           "write date(now()), the UTC date",
	"current_date":      "write date(now()), the UTC date",
	"current_timestamp": "write now(), the statement time in UTC",
	"utc_timestamp":     "write now(), the statement time in UTC",
	"sysdate":           "write now(), the statement time in UTC",
	"localtimestamp":    "write now(), the statement time in UTC",
	"weekday":           "write dayofweek(t), 1 = Sunday … 7 = Saturday",
	"substring_index":   "split_part(s, delim, n) gives the n-th field",
	"count":             "a pipeline transforms each change on its own: there are no aggregate functions",
	"sum":               "a pipeline transforms each change on its own: there are no aggregate functions",
	"avg":               "a pipeline transforms each change on its own: there are no aggregate functions",
	"min":               "a pipeline transforms each change on its own: there are no aggregate functions; least(a, b) compares values of one row",
	"max":               "a pipeline transforms each change on its own: there are no aggregate functions; greatest(a, b) compares values of one row",
	"group_concat":      "a pipeline transforms each change on its own: there are no aggregate functions",
}

// readsColumn reports whether x reads the source column name (not its
// before. value): an alias over a column of its own name that the table
// lacks is no expression to write instead of it.
func readsColumn(x lang.Expr, name string) bool {
	found := false
	lang.Walk(x, func(n lang.Node) bool {
		if r, ok := n.(*lang.ColumnRef); ok && !r.Before && r.Name != nil && strings.EqualFold(r.Name.Name, name) {
			found = true
		}
		return !found
	})
	return found
}

// passedKey returns the names of the outputs that pass the table's
// primary key columns (pk) through unchanged, in key order; nil unless
// every one is passed. byLower gives a column's place in the input.
func passedKey(names []string, outs []exec.Expr, byLower map[string]int, pk []string) []string {
	if len(pk) == 0 {
		return nil
	}
	var key []string
	for _, c := range pk {
		at, ok := byLower[strings.ToLower(c)]
		if !ok {
			return nil
		}
		found := ""
		for i, e := range outs {
			if j, ok := exec.ColumnIndex(e); ok && j == at {
				found = names[i]
				break
			}
		}
		if found == "" {
			return nil
		}
		key = append(key, found)
	}
	return key
}
