package planner

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/stdlib"
)

// formatsByKind lists the FORMATs each sink kind accepts. Without a FORMAT
// clause the sink picks its default (stdout: table on a terminal, else
// jsonl; file: from the file name's extension; http: jsonl).
var formatsByKind = map[string][]string{
	"stdout":     {"table", "jsonl", "csv", "canal_json", "debezium_json"},
	"file":       {"jsonl", "csv", "table", "canal_json", "debezium_json", "parquet"},
	"http":       {"jsonl", "csv", "table", "canal_json", "debezium_json"},
	"clickhouse": {},
}

// calledFunctions is the canonical text of the CREATE FUNCTIONs the
// pipeline's WHERE and TRANSFORM call, in name order: part of its
// definition (Pipeline.Definition), so that a function whose body is
// edited reads the pipeline's table again.
func (b *builder) calledFunctions(p *lang.CreatePipeline) string {
	called := map[string]bool{}
	visit := func(n lang.Node) bool {
		if c, ok := n.(*lang.Call); ok {
			if f := b.funcs[strings.ToLower(c.Name.Name)]; f != nil {
				called[strings.ToLower(c.Name.Name)] = true
			}
		}
		return true
	}
	if p.Where != nil {
		lang.Walk(p.Where, visit)
	}
	for _, it := range p.Transform {
		lang.Walk(it, visit)
	}
	names := make([]string, 0, len(called))
	for n := range called {
		names = append(names, n)
	}
	sort.Strings(names)
	var out strings.Builder
	for _, n := range names {
		out.WriteString(lang.FunctionDefinition(b.funcs[n].decl))
	}
	return out.String()
}

func (b *builder) pipeline(p *lang.CreatePipeline) {
	pl := &Pipeline{Name: p.Name.Name, Pos: p.Pos, Snapshot: connectors.SnapshotInitial, Definition: lang.PipelineDefinition(p) + b.calledFunctions(p)}
	if p.Into != nil {
		pl.IntoPos, pl.IntoEnd = p.Into.Pos, p.Into.EndPos
	}
	for _, c := range p.Clauses {
		if c.Format != nil {
			pl.FormatPos, pl.FormatEnd = c.Pos, c.EndPos
		}
	}

	if p.Snapshot != nil {
		pl.SnapshotPos, pl.SnapshotEnd = p.Snapshot.Pos, p.Snapshot.EndPos
		switch strings.ToLower(p.Snapshot.Name) {
		case "initial":
		case "never":
			pl.Snapshot = connectors.SnapshotNever
		case "only":
			pl.Snapshot = connectors.SnapshotOnly
		default:
			b.errs.add(p.Snapshot, "SNAPSHOT must be initial, never or only, got %q", p.Snapshot.Name)
		}
	}

	// FROM: every table of one pipeline comes from one source.
	type fromTable struct {
		name   *lang.TableName
		db, tb string
	}
	var src *SourceDecl
	var froms []fromTable
	nerrFrom := len(b.errs.errs)
	if len(p.From) == 0 {
		b.errs.add(p.Name, "pipeline %q has no FROM binlog clause", p.Name.Name)
	}
	for _, t := range p.From {
		d, db, tb, ok := b.resolveSource(t)
		if !ok {
			continue
		}
		if src != nil && d != src {
			b.errs.add(t, "all tables of a pipeline must come from one source (%s and %s)", src.Name, d.Name)
			continue
		}
		src = d
		froms = append(froms, fromTable{t, db, tb})
		if connectors.IsPattern(db) || connectors.IsPattern(tb) {
			// (A pattern in the database part alone, `tenant_*.orders`,
			// follows databases created later as well.)
			pl.Patterns = append(pl.Patterns, connectors.TableRef{DB: db, Table: tb})
		}
	}

	fromBad := len(b.errs.errs) > nerrFrom

	// INTO, FORMAT, MODE. An error here (or in WITH) does not keep the
	// tables from being bound: their errors are reported too.
	sinkDecl, sinkSpec := b.into(p, pl)
	pl.TargetAt = targetAt(sinkDecl, pl)
	if pl.SinkKind != "" {
		formats := formatsByKind[pl.SinkKind]
		if p.Format != nil {
			f := strings.ToLower(p.Format.Name)
			ok := false
			for _, x := range formats {
				ok = ok || x == f
			}
			if !ok && len(formats) == 0 {
				b.errs.add(p.Format, "INTO %s takes no FORMAT", pl.SinkKind)
			} else if !ok {
				b.errs.add(p.Format, "INTO %s does not take FORMAT %s (it takes %s)", pl.SinkKind, f, strings.Join(formats, ", "))
			}
			pl.Target.Format = f
		}
	}
	if pl.SinkKind == "file" && p.Format == nil && p.Into.Target != nil {
		b.checkFileExtension(p.Into.Target)
	}
	modeWritten := p.Mode != nil
	if modeWritten {
		switch strings.ToLower(p.Mode.Name) {
		case "append":
			pl.Target.Mode = connectors.ModeAppend
		case "upsert":
			pl.Target.Mode = connectors.ModeUpsert
		case "changelog":
			pl.Target.Mode = connectors.ModeChangelog
		default:
			b.errs.add(p.Mode, "MODE must be append, upsert or changelog, got %q", p.Mode.Name)
		}
		if !b.checkStreamMode(p, pl) {
			pl.Target.Mode = connectors.ModeAppend
		}
	}

	// WITH: pipeline options, plus what the source and the sink kinds accept.
	allowed := [][]connectors.Option{PipelineOptions}
	if src != nil {
		if spec, ok := connectors.SourceSpec(src.Kind); ok {
			allowed = append(allowed, spec.TargetOptions)
		}
	}
	if sinkSpec != nil {
		allowed = append(allowed, sinkSpec.TargetOptions)
	}
	pl.Options = b.bindOptions(p.With, "pipeline "+pl.Name, allowed...)
	pl.Written = writtenRefs(p.With)
	pipelineSinkDefaults(pl, sinkDecl, sinkSpec)
	switch pl.Options["on_error"] {
	case "skip":
		pl.OnError = exec.OnErrorSkip
	case "dead_letter":
		pl.OnError = exec.OnErrorDeadLetter
	default:
		pl.OnError = exec.OnErrorFail
	}
	b.deadLetterTarget(p, pl)
	pl.Target.Options = pl.Options
	pl.Target.Pipeline = pl.Name

	unreachable := false
	if u, ok := b.cat.(UnreachableCatalog); ok && src != nil {
		unreachable = u.Unreachable(src)
	}
	// A partial plan leaves out a pipeline with a table the catalog lacks,
	// before its tables are bound (checked as offline).
	var missing []string
	if b.partial && src != nil && b.cat != nil && !fromBad && !unreachable {
		for _, ft := range froms {
			if refs, err := b.cat.Tables(b.ctx, src, ft.db, ft.tb); err == nil && len(refs) == 0 {
				n := len(ft.name.Parts)
				missing = append(missing, ft.name.Parts[n-2].Raw+"."+ft.name.Parts[n-1].Raw)
			}
		}
	}
	if src == nil || b.cat == nil || fromBad || unreachable || len(missing) > 0 {
		b.checkLiterals(p)
		if src != nil && !fromBad && len(p.Key) > 0 && pl.SinkKind == "clickhouse" && (!modeWritten || pl.Target.Mode == connectors.ModeUpsert) {
			// Offline: an explicit KEY over several tables is checked
			// against the FROM list and the TRANSFORM alone.
			if tk := tablesKeyOf(p, pl); tk.multi && !vouchedUnique(pl) {
				b.checkKeyOverTables(p, pl, tk)
			}
		}
		if src != nil {
			pl.Source = src.Name
		}
		if len(missing) > 0 {
			b.plan.LeftOut = append(b.plan.LeftOut, LeftOut{Pipeline: pl.Name, Tables: missing})
			return
		}
		unresolvedMode(p, pl, modeWritten)
		if !fromBad {
			var from []connectors.TableRef
			for _, ft := range froms {
				from = append(from, connectors.TableRef{DB: ft.db, Table: ft.tb})
			}
			pl.Unbound = b.unbound(p, pl, from)
		}
		b.plan.Pipelines = append(b.plan.Pipelines, pl)
		return
	}
	pl.Source = src.Name

	// Resolve tables (patterns included) and bind the dataflow per table.
	nerrBind := len(b.errs.errs)
	var tried []*connectors.TableSchema // every table bound, for exceptUnknown
	var pk []string
	pkKnown := true
	var pks []tableKey // each table's primary key
	for _, ft := range froms {
		refs, err := b.cat.Tables(b.ctx, src, ft.db, ft.tb)
		if err != nil {
			b.errs.add(ft.name, "source %s: %v", src.Name, err)
			continue
		}
		if len(refs) == 0 {
			var names []string
			if all, err := b.cat.Tables(b.ctx, src, ft.db, "*"); err == nil {
				for _, r := range all {
					names = append(names, r.Table)
				}
			}
			n := len(ft.name.Parts)
			hint := suggest(ft.name.Parts[n-1].Name, names)
			if len(names) == 0 && !strings.ContainsAny(ft.db, "*?") {
				// No such database: the same table in a database of a
				// name close to it ("shopbd.orders" for shopdb.orders).
				var dbs []string
				tables := map[string]string{}
				if all, err := b.cat.Tables(b.ctx, src, "*", ft.tb); err == nil {
					for _, r := range all {
						dbs = append(dbs, r.DB)
						tables[r.DB] = r.Table
					}
				}
				if db, ok := closest(ft.db, dbs); ok {
					hint = fmt.Sprintf(" (did you mean %q?)", db+"."+ft.name.Parts[n-1].Raw)
				}
			}
			b.errs.add(ft.name, "no table matches %s.%s in source %s%s", ft.name.Parts[n-2].Raw, ft.name.Parts[n-1].Raw, src.Name, hint)
			continue
		}
		for _, ref := range refs {
			var today *connectors.TableSchema // the server's, where planned as the checkpoint has it
			ts, err := b.cat.Describe(b.ctx, src, ref)
			if err != nil {
				b.errs.add(ft.name, "source %s: %v", src.Name, err)
				continue
			}
			if rc, ok := b.cat.(ResumedCatalog); ok && len(ts.PrimaryKey) == 0 && len(p.Key) == 0 {
				// The table has no primary key today, but the stream
				// resumes where it had one (DROP PRIMARY KEY while etlq
				// was stopped or behind): planned as the checkpoint has
				// it, the pipeline takes the changes before the DDL by
				// that key and stops alone at the DDL (rebindTable), as
				// while streaming, instead of being planned anew without
				// a key over a target keyed by it.
				at, err := rc.DescribeResumed(b.ctx, src, pl.Name, ref)
				if err != nil {
					b.errs.add(ft.name, "source %s: %v", src.Name, err)
					continue
				}
				if at != nil && len(at.PrimaryKey) > 0 {
					ts = at
				}
			} else if ok && !b.now && (starOverTables(p) || b.resumed) {
				// `*` over several tables: each is planned as the
				// checkpoint has it, the schema the stream decodes its
				// changes with until it meets the DDL that changed it
				// since. Planned from today's server, a column one table
				// got while etlq was stopped was in the union the other
				// tables' first changes carried, before the replay met
				// its ALTER: the target took it for one dropped outside
				// etlq and the pipeline stopped at every start. So is
				// every table of a log worker's pipelines
				// (Options.Resumed), at the log's position where its
				// group starts.
				at, err := rc.DescribeResumed(b.ctx, src, pl.Name, ref)
				if err != nil {
					b.errs.add(ft.name, "source %s: %v", src.Name, err)
					continue
				}
				if at != nil {
					if !sameColumns(at, ts) {
						today = ts
					}
					ts = at
				}
			}
			nerr := len(b.errs.errs)
			tp := b.bindTable(p, pl, ts, ft.name)
			if today != nil && len(b.errs.errs) > nerr && b.resumed && !starOverTables(p) {
				// A worker's pipeline that binds only to the table of
				// now (it names a column the log's start lacks): planned
				// from it, as without Options.Resumed.
				b.errs.errs = b.errs.errs[:nerr]
				ts, today = today, nil
				tp = b.bindTable(p, pl, ts, ft.name)
			}
			if today != nil && len(b.errs.errs) == nerr {
				// Planned as the checkpoint has the table: does the
				// pipeline bind to the table of today too? (Bound alone,
				// the union left out.) Where it does not, the pipeline
				// stops at the DDL that changed it: check warns.
				scratch := &Pipeline{Name: pl.Name, Snapshot: pl.Snapshot, SinkKind: pl.SinkKind, Target: pl.Target}
				b.bindTable(p, scratch, today, ft.name)
				if len(b.errs.errs) > nerr {
					failed := append(lang.Errors(nil), b.errs.errs[nerr:]...)
					b.errs.errs = b.errs.errs[:nerr]
					pl.Stale = append(pl.Stale, StaleTable{Ref: ref, Errs: failed, Gone: goneColumns(ts, today)})
				}
			}
			if rc, ok := b.cat.(ResumedCatalog); ok && !b.now && len(b.errs.errs) > nerr {
				// The file does not bind to the table of today, but
				// maybe to the table its stream resumes with: a column
				// the pipeline names was renamed or dropped while etlq
				// was stopped. Planned as the checkpoint has it, the
				// pipeline takes the changes before the DDL and stops
				// alone at it (rebindTable) with its own checkpoint,
				// where a fixed file takes it on; the other pipelines go
				// on. (Refused here, nothing ran, and the fixed file
				// could not take the changes before the DDL.)
				if at, err := rc.DescribeResumed(b.ctx, src, pl.Name, ref); err == nil && at != nil && !sameColumns(at, ts) {
					failed := append([]*lang.Error(nil), b.errs.errs[nerr:]...)
					b.errs.errs = b.errs.errs[:nerr]
					if tp = b.bindTable(p, pl, at, ft.name); len(b.errs.errs) == nerr {
						pl.Stale = append(pl.Stale, StaleTable{Ref: ref, Errs: failed, Gone: goneColumns(at, ts)})
						ts = at
					} else {
						b.errs.errs = append(b.errs.errs[:nerr], failed...)
					}
				}
			}
			if len(ts.PrimaryKey) == 0 {
				pkKnown = false
			} else if pk == nil {
				pk = ts.PrimaryKey
			}
			pks = append(pks, tableKey{ref: ts.Ref, pk: ts.PrimaryKey})
			tried = append(tried, ts)
			if tp != nil {
				pl.Tables = append(pl.Tables, tp)
				pl.keepSchema(ts)
			}
		}
	}
	b.exceptUnknown(p, tried)
	if len(b.errs.errs) == nerrBind && severalTables(p, pl) {
		for _, tp := range pl.Tables {
			if err := alignTable(pl, tp); err != nil {
				b.errs.add(p.Name, "%v", err)
			}
		}
	}
	if len(b.errs.errs) > nerrBind || len(pl.Tables) == 0 {
		unresolvedMode(p, pl, modeWritten)
		if !fromBad {
			var from []connectors.TableRef
			for _, ft := range froms {
				from = append(from, connectors.TableRef{DB: ft.db, Table: ft.tb})
			}
			pl.Unbound = b.unbound(p, pl, from)
		}
		b.plan.Pipelines = append(b.plan.Pipelines, pl)
		return
	}

	// Mode and key.
	if !modeWritten {
		// A table sink shows the current state when it can; a stream sink
		// (stdout, file, http) passes each change on.
		if pl.SinkKind == "clickhouse" && (pkKnown || len(p.Key) > 0) {
			pl.Target.Mode = connectors.ModeUpsert
		} else {
			pl.Target.Mode = connectors.ModeAppend
		}
	}
	b.checkUpsertWhere(p, pl, modeWritten)
	b.checkBeforeNames(p, pl)
	b.checkSystemNames(p, pl)
	outIdx := map[string]int{}
	for i, c := range pl.Output {
		outIdx[strings.ToLower(c.Name)] = i
	}
	var outNames []string
	for _, c := range pl.Output {
		outNames = append(outNames, c.Name)
	}
	var keyIdx []int
	// An upsert over several tables keys on the table too: the same id in
	// two tables is two rows, not one row overwritten by the other.
	tk := tablesKeyOf(p, pl)
	overTables := tk.multi && pl.Target.Mode == connectors.ModeUpsert && !vouchedUnique(pl)
	if len(p.Key) > 0 {
		pl.Target.KeyGiven = true
		nk := len(b.errs.errs)
		keySeen := map[string]*lang.Ident{}
		for _, k := range p.Key {
			if first, dup := keySeen[strings.ToLower(k.Name)]; dup {
				// KEY (id, id) made ORDER BY (id, id), which ClickHouse
				// refuses at the first insert.
				b.errs.add(k, "KEY column %q is named twice (first at line %d, column %d)", k.Name, first.Pos.Line, first.Pos.Column)
				continue
			}
			keySeen[strings.ToLower(k.Name)] = k
			if pl.Target.Mode == connectors.ModeChangelog && strings.EqualFold(k.Name, "_version") {
				// A changelog table is ordered by the key, then _version:
				// KEY (id, _version) says that already (it was refused
				// when _version was no output, and made ORDER BY (id,
				// _version, _version) when it was, which ClickHouse
				// refuses at the first insert).
				continue
			}
			i, ok := outIdx[strings.ToLower(k.Name)]
			if !ok {
				b.errs.add(k, "KEY column %q is not an output column of pipeline %s%s", k.Name, pl.Name, suggest(k.Name, outNames))
				continue
			}
			keyIdx = append(keyIdx, i)
			pl.Target.Key = append(pl.Target.Key, pl.Output[i].Name)
		}
		if overTables && len(b.errs.errs) == nk {
			b.checkKeyOverTables(p, pl, tk)
		}
		b.checkNullableKey(p, pl)
	} else if pl.Target.Mode == connectors.ModeUpsert {
		if (!pkKnown || len(pk) == 0) && len(pks) > 1 {
			b.errs.add(p.Name, "MODE upsert needs a key: %s, add KEY (…)", withoutKey(pks))
		} else if !pkKnown || len(pk) == 0 {
			b.errs.add(p.Name, "MODE upsert needs a key: the source table has no primary key, add KEY (…)")
		} else if differ := keysDiffer(pks); differ != "" {
			// The default key is one table's primary key: the rows of a
			// table whose own key has other columns (film_actor's
			// (actor_id, film_id) under film's (film_id)) would overwrite
			// each other in the target.
			pos, end := fromSpan(p)
			b.errs.addAt(pos, end,
				"pipeline %s upserts several tables into one target, and their primary keys differ (%s): a key made of one table's would let rows of another that share it overwrite each other; read them with one pipeline each, or write KEY (…) with columns that identify the rows of every table",
				pl.Name, differ)
		} else if overTables && len(tk.missing()) > 0 {
			pos, end := fromSpan(p)
			b.errs.addAt(pos, end,
				"pipeline %s upserts several tables into one target, and their primary key (%s) does not say which table a row comes from, so a row of one table would overwrite the row of another with the same key: %s (the key becomes (%s)), or write KEY (…) WITH (key_unique_across_tables = true) if the key is unique across the tables",
				pl.Name, strings.Join(pk, ", "), tablesFix(tk.missing()), strings.Join(append(append([]string{}, withDefault(tk, tk.missing())...), pk...), ", "))
		} else {
			if overTables {
				for _, c := range tk.prefix() {
					i := outIdx[strings.ToLower(c)]
					keyIdx = append(keyIdx, i)
					pl.Target.Key = append(pl.Target.Key, pl.Output[i].Name)
				}
			}
			pl.defaultPK = pk
			for _, k := range pk {
				i, ok := outIdx[strings.ToLower(k)]
				if !ok {
					b.errs.add(p.Name, "MODE upsert needs the primary key column %q in TRANSFORM, or a KEY (…) clause", k)
					continue
				}
				keyIdx = append(keyIdx, i)
				pl.Target.Key = append(pl.Target.Key, pl.Output[i].Name)
			}
		}
	} else if pkKnown && len(pk) > 0 {
		// Append and changelog tables are still ordered by the key when
		// the output carries it.
		var key []string
		for _, k := range pk {
			if i, ok := outIdx[strings.ToLower(k)]; ok {
				key = append(key, pl.Output[i].Name)
			}
		}
		switch {
		case len(key) < len(pk):
			var left []string
			for _, k := range pk {
				if _, ok := outIdx[strings.ToLower(k)]; !ok {
					left = append(left, k)
				}
			}
			pl.NoKeyReason = fmt.Sprintf("its output leaves out the source's primary key column %s: add it to TRANSFORM, or write KEY (…)", strings.Join(left, ", "))
		case keyMayBeNull(p, pl.Tables, key):
			pl.NoKeyReason = fmt.Sprintf("the source's primary key (%s) may be NULL in its output: write KEY (…) with columns that are never NULL", strings.Join(key, ", "))
		default:
			pl.Target.Key = key
		}
	} else if len(p.Key) == 0 {
		pl.NoKeyReason = "no KEY, and the source has no primary key"
		if len(pks) > 1 {
			pl.NoKeyReason = "no KEY, and " + withoutKey(pks)
		} else if len(pks) == 1 {
			pl.NoKeyReason = "no KEY, and " + pks[0].ref.String() + " has no primary key at the source"
		}
	}
	for _, t := range pl.Tables {
		t.KeyIndex = keyIdx
		finishTable(pl, t, pl.Output)
	}
	pl.Target.Schema = pl.Tables[0].Sink
	pl.rebind = func(ctx context.Context, ts *connectors.TableSchema) (*TablePlan, error) {
		return b.rebindTable(ctx, p, pl, ts)
	}
	b.plan.Pipelines = append(b.plan.Pipelines, pl)
}

// finishTable sets the sink schema of a table's dataflow: its outputs, the
// system columns, and before values where the mode or the format shows them.
func finishTable(pl *Pipeline, t *TablePlan, out []Column) {
	fields := make([]arrow.Field, 0, 2*len(out)+5)
	for _, c := range out {
		fields = append(fields, arrow.Field{Name: c.Name, Type: c.Type, Nullable: c.Nullable, Metadata: c.Meta})
	}
	fields = append(fields, exec.SysFields()...)
	// canal_json and debezium_json show whole before images; a changelog
	// keeps the old values of the columns computed from the table (not
	// copies of _version, _pos, … or of before.* expressions).
	allBefore := pl.Target.Format == "canal_json" || pl.Target.Format == "debezium_json"
	withBefore := allBefore || pl.Target.Mode == connectors.ModeChangelog
	t.BeforeIndex = nil
	if withBefore {
		for i, c := range out {
			if !allBefore && !c.Before {
				continue
			}
			t.BeforeIndex = append(t.BeforeIndex, i)
			fields = append(fields, arrow.Field{Name: exec.SysBeforePrefix + c.Name, Type: c.Type, Nullable: true, Metadata: c.Meta})
		}
	}
	if !withBefore && pl.Target.Mode != connectors.ModeUpsert {
		t.BeforeOutputs = nil
	}
	if !withBefore && pl.Target.Mode == connectors.ModeUpsert && len(t.BeforeOutputs) == len(t.Outputs) {
		// An upsert target reads the before image for the old key only
		// (an update whose key moved, or whose key failed, removes it):
		// the tombstone of an old key carries the key's old values and
		// the row's new ones, as a deleted row's other values are never
		// shown. The source then decodes only the key's before values
		// (BeforeReads): a wide table's updates do not decode their
		// whole before image.
		mixed := append([]exec.Expr(nil), t.Outputs...)
		for _, k := range t.KeyIndex {
			mixed[k] = t.BeforeOutputs[k]
		}
		t.BeforeOutputs = mixed
	}
	t.Output = out
	t.Sink = exec.InternSchema(arrow.NewSchema(fields, nil)) // (one per layout)
}

// Rebind binds the pipeline again for a new schema of one of its tables
// (an ALTER TABLE while streaming, under schema_changes = 'evolve'). The
// output may gain columns (TRANSFORM *); a column the pipeline names that no
// longer exists is an error with its position in the file.
func (pl *Pipeline) Rebind(ctx context.Context, ts *connectors.TableSchema) (*TablePlan, error) {
	if pl.rebind == nil {
		return nil, fmt.Errorf("pipeline %s cannot be planned again", pl.Name)
	}
	return pl.rebind(ctx, ts)
}

func (b *builder) rebindTable(ctx context.Context, p *lang.CreatePipeline, pl *Pipeline, ts *connectors.TableSchema) (*TablePlan, error) {
	nb := &builder{ctx: ctx, plan: &Plan{File: b.plan.File}, sources: b.sources, sinks: b.sinks, funcs: b.funcs}
	tmp := *pl
	tmp.Output = nil
	// Several tables into one output (`*` or explicit expressions): the
	// output holds every table's columns and types (union.go).
	union := severalTables(p, pl)
	var tp *TablePlan
	key := ts.Ref.String()
	_, known := pl.schemas[key]
	if prev, ok := pl.schemas[key]; ok && pl.Target.Mode == connectors.ModeUpsert && len(p.Key) == 0 &&
		len(prev.PrimaryKey) > 0 && len(ts.PrimaryKey) == 0 {
		// DROP PRIMARY KEY alone: the target's key came from the source's
		// primary key, which no longer tells the rows apart (two rows
		// of one id would overwrite each other, a DELETE of one would
		// remove both). The pipeline stops alone rather than drift.
		return nil, fmt.Errorf("pipeline %s: %s no longer has a primary key (its upsert key (%s) came from it): rows sharing a key would overwrite each other in the target. "+
			"Give the table a primary key again, or, if (%s) still identifies its rows, write KEY (%s) in the pipeline; then run apply again",
			pl.Name, ts.Ref, strings.Join(prev.PrimaryKey, ", "), strings.Join(prev.PrimaryKey, ", "), strings.Join(pl.Target.Key, ", "))
	}
	if _, ok := pl.schemas[key]; !ok && union && pl.Target.Mode == connectors.ModeUpsert && len(pl.defaultPK) > 0 &&
		!sameKeyColumns(ts.PrimaryKey, pl.defaultPK) {
		// A table that joins the pattern with another primary key: its
		// rows that share the pipeline's key would overwrite each other.
		pk := "no primary key"
		if len(ts.PrimaryKey) > 0 {
			pk = "primary key (" + strings.Join(ts.PrimaryKey, ", ") + ")"
		}
		return nil, fmt.Errorf("pipeline %s: %s joins the pipeline with %s, but the pipeline's key (%s) comes from the primary key (%s) of its other tables: its rows that share a key would overwrite each other in the target. "+
			"Read it with a pipeline of its own, or write KEY (…) with columns that identify the rows of every table; then run apply again",
			pl.Name, ts.Ref, pk, strings.Join(pl.Target.Key, ", "), strings.Join(pl.defaultPK, ", "))
	}
	if prev, ok := pl.schemas[key]; union && (!ok || !sameColumns(prev, ts)) {
		// The table changed: the union is made again from every table's
		// latest schema (union.go), this one's new. Not accumulated: a
		// restart plans the tables from today's server, and a column a
		// shard has today but not at the checkpoint (a DDL made while
		// etlq was stopped, replayed later) must not be in the union
		// before the DDL is.
		order := pl.order
		if !ok {
			order = append(append([]string(nil), order...), key)
		}
		for _, k := range order {
			s := pl.schemas[k]
			if k == key {
				s = ts
			}
			if t := nb.bindTable(p, &tmp, s, p.Name); k == key {
				tp = t
			}
		}
	} else {
		if union {
			// The table joins the union of the others (union.go): its
			// new columns are added to the pipeline's output, shared
			// ones widened.
			tmp.Output = append([]Column(nil), pl.Output...)
		}
		tp = nb.bindTable(p, &tmp, ts, p.Name)
	}
	if err := nb.errs.err(); err != nil {
		return nil, err
	}
	if tp == nil {
		return nil, fmt.Errorf("pipeline %s: %s cannot be planned", pl.Name, ts.Ref)
	}
	if union {
		if err := alignTable(&tmp, tp); err != nil {
			return nil, err
		}
	}
	if err := keyNullAfterRebind(p, pl, tp, !known); err != nil {
		return nil, err
	}
	if union {
		pl.Output = tmp.Output
	}
	pl.keepSchema(ts)
	idx := map[string]int{}
	for i, c := range tmp.Output {
		idx[strings.ToLower(c.Name)] = i
	}
	for _, k := range pl.Target.Key {
		i, ok := idx[strings.ToLower(k)]
		if !ok {
			return nil, fmt.Errorf("pipeline %s: after the change of %s, the key column %q is no longer an output column", pl.Name, ts.Ref, k)
		}
		tp.KeyIndex = append(tp.KeyIndex, i)
	}
	finishTable(pl, tp, tmp.Output)
	return tp, nil
}

// into resolves the INTO clause.
func (b *builder) into(p *lang.CreatePipeline, pl *Pipeline) (*SinkDecl, *connectors.Spec) {
	in := p.Into
	if in == nil {
		b.errs.add(p.Name, "pipeline %q has no INTO clause", p.Name.Name)
		return nil, nil
	}
	kind := strings.ToLower(in.Kind.Name)
	spec, ok := connectors.SinkSpec(kind)
	if !ok {
		if d := b.sinks[kind]; d != nil && !d.Implicit {
			return b.intoDeclared(in, pl, d)
		}
		// A typo may be of a sink the file declares (INTO exports 'x.jsonl').
		kinds, names := connectors.SinkKinds(), declaredNames(b.sinks)
		cands := append(append([]string{}, kinds...), names...)
		sort.Strings(cands)
		hint := suggest(kind, cands)
		if hint == "" {
			// No near name: say what INTO takes.
			hint = ": INTO takes " + strings.Join(kinds[:len(kinds)-1], ", ") + " or " + kinds[len(kinds)-1]
			if len(names) > 0 {
				hint += ", or a sink the file declares (" + strings.Join(names, ", ") + ")"
			}
		}
		b.errs.add(in.Kind, "unknown sink kind %q%s", kind, hint)
		return nil, nil
	}
	pl.SinkKind = kind
	switch kind {
	case "stdout", "file", "http":
		target := ""
		if in.Target != nil {
			target = in.Target.Value
		}
		if kind != "stdout" && target == "" {
			b.errs.add(in, "INTO %s needs a target: INTO %s '…'", kind, kind)
			return nil, nil
		}
		if kind == "stdout" && (in.Target != nil || in.Table != nil) {
			b.errs.add(in, "INTO stdout takes no target")
		}
		if spec.CheckTarget != nil && target != "" {
			if err := spec.CheckTarget(target); err != nil {
				b.errs.add(in, "pipeline %s: %v", pl.Name, err)
			}
		}
		name := kind
		if target != "" {
			name = kind + ":" + target
		}
		d := b.sinks[strings.ToLower(name)]
		if d == nil {
			d = &SinkDecl{Name: name, Kind: kind, DSN: target, Redacted: Redact(target), Implicit: true, Options: map[string]any{}}
			if in.Target != nil && strings.Contains(in.Target.Raw, "${") && len(in.Target.Raw) >= 2 {
				raw := in.Target.Raw
				// A ${VAR} in a URL (a token in its query) may be a
				// secret: shown as written.
				d.Redacted = Redact(raw[1 : len(raw)-1])
			}
			b.sinks[strings.ToLower(name)] = d
			b.plan.Sinks = append(b.plan.Sinks, d)
		}
		pl.Sink = d.Name
		pl.Target.Name = target
		return d, spec
	}
	// A declared sink: INTO kind [sink.]db.table.
	if in.Table == nil {
		b.errs.add(in, "INTO %s needs a table: INTO %s [sink.]database.table", kind, kind)
		return nil, nil
	}
	parts := in.Table.Parts
	var d *SinkDecl
	var rest []*lang.Ident
	switch len(parts) {
	case 3:
		d = b.sinks[strings.ToLower(parts[0].Name)]
		if d == nil {
			var names []string
			for _, s := range b.plan.Sinks {
				if !s.Implicit {
					names = append(names, s.Name)
				}
			}
			b.errs.add(parts[0], "unknown sink %q%s", parts[0].Name, suggest(parts[0].Name, names))
			return nil, nil
		}
		rest = parts[1:]
	case 1, 2:
		var cands []*SinkDecl
		for _, s := range b.plan.Sinks {
			if s.Kind == kind && !s.Implicit {
				cands = append(cands, s)
			}
		}
		if len(cands) != 1 {
			if len(cands) == 0 {
				b.errs.add(in.Table, "no %s sink is declared: add CREATE SINK … INTO %s '…'", kind, kind)
			} else {
				b.errs.add(in.Table, "several %s sinks are declared: write sink.database.table", kind)
			}
			return nil, nil
		}
		d = cands[0]
		rest = parts
		if len(parts) == 1 {
			// INTO clickhouse orders: the sink's database.
			if kind != "clickhouse" {
				b.errs.add(in.Table, "a %s target is written [sink.]database.table", kind)
				return nil, nil
			}
			pl.Sink = d.Name
			pl.Target.Name = targetPart(sinkDatabase(d)) + "." + targetPart(parts[0].Name)
			return d, spec
		}
		// "dw.orders" with a sink named dw: a two-part name is
		// database.table, so this wrote into a database named dw beside
		// the one the user meant (found in a trial: another run's rows
		// in the workers' table). Said rather than guessed.
		if same := b.sinks[strings.ToLower(parts[0].Name)]; same != nil && same == d {
			b.errs.add(parts[0], "%s.%s: %q is read as the database (a %s target is [sink.]database.table), and it is the name of sink %s: write %s.<database>.%s, or %s.%s.%s for a database named %s",
				parts[0].Name, parts[1].Name, parts[0].Name, kind, d.Name, d.Name, parts[1].Name, d.Name, parts[0].Name, parts[1].Name, parts[0].Name)
			return nil, nil
		}
	default:
		b.errs.add(in.Table, "a %s target is written [sink.]database.table", kind)
		return nil, nil
	}
	if d.Kind != kind {
		b.errs.add(in.Kind, "sink %s is a %s sink, not %s", d.Name, d.Kind, kind)
		return nil, nil
	}
	pl.Sink = d.Name
	pl.Target.Name = targetPart(rest[0].Name) + "." + targetPart(rest[1].Name)
	return d, spec
}

// intoDeclared resolves "INTO name ['target']" for a file, http or stdout
// sink declared with CREATE SINK: the target is a path under the file
// sink's base directory (its DSN), or a URL in place of the http sink's;
// the sink's WITH options apply, a pipeline's WITH wins.
func (b *builder) intoDeclared(in *lang.IntoClause, pl *Pipeline, d *SinkDecl) (*SinkDecl, *connectors.Spec) {
	spec, ok := connectors.SinkSpec(d.Kind)
	if !ok {
		return nil, nil
	}
	if d.Kind == "clickhouse" {
		b.errs.add(in.Kind, "sink %s is a clickhouse sink: INTO clickhouse %s.database.table", d.Name, d.Name)
		return nil, nil
	}
	if in.Table != nil {
		b.errs.add(in.Table, "INTO %s takes a string target: INTO %s '…'", d.Name, d.Name)
		return nil, nil
	}
	target := ""
	if in.Target != nil {
		target = in.Target.Value
	}
	switch {
	case d.Kind == "file" && target == "":
		b.errs.add(in, "INTO %s needs a target: INTO %s '…' (a path under %s)", d.Name, d.Name, d.DSN)
		return nil, nil
	case d.Kind == "stdout" && target != "":
		b.errs.add(in, "INTO %s takes no target (a stdout sink)", d.Name)
		return nil, nil
	}
	pl.SinkKind = d.Kind
	pl.Sink = d.Name
	pl.Target.Name = target
	return d, spec
}

// pipelineSinkDefaults gives pl the target options its sink's CREATE SINK
// … WITH sets and its own WITH does not: the sink's are defaults for every
// pipeline writing to it, as if each had written them (plan shows them,
// the sink's Open and Plan take them from Target.Options).
func pipelineSinkDefaults(pl *Pipeline, d *SinkDecl, spec *connectors.Spec) {
	if d == nil || spec == nil {
		return
	}
	for _, o := range spec.TargetOptions {
		v, ok := d.Options[o.Name]
		if _, own := pl.Options[o.Name]; !ok || own {
			continue
		}
		pl.Options[o.Name] = v
		if raw, ok := d.Written[o.Name]; ok {
			if pl.Written == nil {
				pl.Written = map[string]string{}
			}
			pl.Written[o.Name] = raw
		}
	}
}

// writtenRefs returns the options of a WITH whose value names ${VAR}s, as
// written; nil when none does.
func writtenRefs(with []*lang.Option) map[string]string {
	var w map[string]string
	for _, o := range with {
		if l, ok := o.Value.(*lang.Literal); ok && l.Kind == lang.LitString && strings.Contains(l.Raw, "${") {
			if w == nil {
				w = map[string]string{}
			}
			w[strings.ToLower(o.Name.Name)] = l.Raw
		}
	}
	return w
}

// sinkDatabase is the database of a ClickHouse sink's targets named
// without one: its database option, else the DSN's (its path), else
// "default", as the sink takes them.
func sinkDatabase(d *SinkDecl) string {
	if db, ok := d.Options["database"].(string); ok && db != "" {
		return db
	}
	if u, err := url.Parse(d.DSN); err == nil {
		if db := strings.Trim(u.Path, "/"); db != "" {
			return db
		}
	}
	return "default"
}

// inputSchema is the layout of the source batches of a table: columns,
// before.* columns, metadata columns (exec.SourceSchema).
func inputSchema(ts *connectors.TableSchema) *arrow.Schema {
	return exec.SourceSchema(ts.Fields, true)
}

var metaTypes = map[string]stdlib.Type{
	exec.ColOp: stdlib.TString, exec.ColTs: stdlib.TTimestamp, exec.ColDB: stdlib.TString,
	exec.ColTable: stdlib.TString, exec.ColPos: stdlib.TString, exec.ColVersion: stdlib.TUint64,
}

// unresolvedMode sets the mode and key of a pipeline whose tables were not
// resolved (offline, or after errors) as far as they are known: the
// default mode as below, without knowing the table's primary key, and the
// KEY as written.
func unresolvedMode(p *lang.CreatePipeline, pl *Pipeline, modeWritten bool) {
	if !modeWritten && pl.SinkKind == "clickhouse" {
		pl.Target.Mode, pl.ModeUnresolved = connectors.ModeUpsert, len(p.Key) == 0
	}
	if len(pl.Target.Key) == 0 {
		for _, k := range p.Key {
			pl.Target.Key = append(pl.Target.Key, k.Name)
		}
	}
}

// keepSchema records ts as the latest schema of its table (Pipeline.schemas).
func (pl *Pipeline) keepSchema(ts *connectors.TableSchema) {
	key := ts.Ref.String()
	if pl.schemas == nil {
		pl.schemas = map[string]*connectors.TableSchema{}
	}
	if _, ok := pl.schemas[key]; !ok {
		pl.order = append(pl.order, key)
	}
	pl.schemas[key] = ts
}

// goneColumns returns the columns of was that now lacks, by name.
func goneColumns(was, now *connectors.TableSchema) []string {
	has := map[string]bool{}
	for _, f := range now.Fields {
		has[strings.ToLower(f.Name)] = true
	}
	var gone []string
	for _, f := range was.Fields {
		if !has[strings.ToLower(f.Name)] {
			gone = append(gone, f.Name)
		}
	}
	return gone
}

// sameColumns reports whether two schemas of a table have the same columns
// (names and types, in order).
func sameColumns(a, b *connectors.TableSchema) bool {
	if len(a.Fields) != len(b.Fields) {
		return false
	}
	for i := range a.Fields {
		if !strings.EqualFold(a.Fields[i].Name, b.Fields[i].Name) || !arrow.TypeEqual(a.Fields[i].Type, b.Fields[i].Type) {
			return false
		}
	}
	return true
}

// declaredNames lists the sinks the file declares (CREATE SINK), sorted.
func declaredNames(sinks map[string]*SinkDecl) []string {
	var names []string
	for name, d := range sinks {
		if !d.Implicit {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}
