package repl

import (
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/cmd/etlq/internal/etlfile"
	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
	"github.com/etlq/etlq/stdlib"
)

// show runs SHOW TABLES | SOURCES | PIPELINES | FUNCTIONS (lang checked
// the statement's shape).
func (r *repl) show(ctx context.Context, text string, s *lang.Show) error {
	what := strings.ToUpper(s.What.Name)
	pattern := ""
	if s.Like != nil {
		pattern = likeToGlob(s.Like.Value)
	}
	switch what {
	case "TABLES":
		return r.showTables(ctx, text, s, pattern)
	case "SOURCES":
		var rows [][]string
		for _, d := range r.allSources() {
			origin := "file"
			if d == r.flagSrc {
				origin = "--source"
			} else if r.decls == nil || !containsDecl(r.decls.Sources, d) {
				origin = "repl"
			}
			rows = append(rows, []string{d.Name, d.Kind, d.Redacted, origin})
		}
		printTable(r.out, []string{"source", "kind", "dsn", "from"}, rows, "source")
	case "PIPELINES":
		if r.decls == nil {
			return nodeError(text, s.What, "no file is loaded: \\load FILE first")
		}
		var rows [][]string
		for _, p := range r.decls.Pipelines {
			var tables []string
			for _, st := range r.file.File.Statements {
				if st.Pipeline != nil && st.Pipeline.Name.Name == p.Name {
					for _, t := range st.Pipeline.From {
						tables = append(tables, t.String())
					}
				}
			}
			into := p.SinkKind
			if p.Target.Name != "" {
				into += " " + p.Target.Name
			}
			rows = append(rows, []string{p.Name, strings.Join(tables, ", "), into, r.pipelineMode(p)})
		}
		printTable(r.out, []string{"pipeline", "from binlog", "into", "mode"}, rows, "pipeline")
	case "FUNCTIONS":
		var rows [][]string
		for _, f := range r.funcs {
			if ok, _ := path.Match(pattern, strings.ToLower(f.Name.Name)); pattern == "" || ok {
				rows = append(rows, []string{userFuncSig(f), "user function: AS " + strings.ToUpper(f.Lang.Name) + " " + f.Body.Raw})
			}
		}
		for _, f := range stdlib.Funcs() {
			if ok, _ := path.Match(pattern, f.Name); pattern == "" || ok {
				rows = append(rows, []string{showSig(f.Sig), f.Doc})
			}
		}
		printTable(r.out, []string{"function", "description"}, rows, "function")
	}
	return nil
}

// pipelineMode is the mode p runs in: from the plan against the live
// schemas made at \load (the default mode depends on the table's primary
// key), else from the offline plan, which says what it depends on.
func (r *repl) pipelineMode(p *planner.Pipeline) string {
	if r.live != nil {
		for _, lp := range r.live.Pipelines {
			if lp.Name == p.Name {
				return lp.ModeText()
			}
		}
	}
	return p.ModeText()
}

// userFuncSig is a CREATE FUNCTION's signature, written as the library's:
// "tier(amount DECIMAL(12,2)) → STRING".
func userFuncSig(f *lang.CreateFunction) string {
	params := make([]string, len(f.Params))
	for i, p := range f.Params {
		params[i] = p.Name.Name + " " + p.Type.String()
	}
	return f.Name.Name + "(" + strings.Join(params, ", ") + ") → " + f.Returns.String()
}

func containsDecl(ds []*planner.SourceDecl, d *planner.SourceDecl) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

// likeToGlob turns a SQL LIKE pattern into the glob the sources take.
func likeToGlob(p string) string {
	return strings.NewReplacer("%", "*", "_", "?").Replace(strings.ToLower(p))
}

// resolveSource picks the source of a name whose last want parts are
// database(.table): one more part in front names the source.
func (r *repl) resolveSource(text string, parts []*lang.Ident, want int, at lang.Node) (*planner.SourceDecl, []*lang.Ident, error) {
	srcs := r.sources()
	if len(parts) > want {
		d := r.sourceNamed(parts[0].Name)
		if d == nil {
			return nil, nil, nodeError(text, parts[0], "unknown source %q (sources: %s)", parts[0].Name, orNone(sourceNames(r.allSources())))
		}
		return d, parts[1:], nil
	}
	switch len(srcs) {
	case 0:
		return nil, nil, nodeError(text, at, "no source to read from: start etlq repl --source 'mysql://…' or \\load a file with a CREATE SOURCE")
	case 1:
		return srcs[0], parts, nil
	}
	return nil, nil, nodeError(text, at, "several sources are known (%s): name one, source.database…", sourceNames(srcs))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// databaseLister returns d's source as a connectors.DatabaseLister, made
// through the registry (it does not connect); nil when its kind cannot
// list databases. The caller closes it.
func databaseLister(d *planner.SourceDecl) (connectors.DatabaseLister, func(), error) {
	src, err := connectors.NewSource(d.Kind, d.Name, d.DSN, d.Options)
	if err != nil {
		return nil, nil, err
	}
	l, ok := src.(connectors.DatabaseLister)
	if !ok {
		src.Close()
		return nil, nil, nil
	}
	return l, func() { src.Close() }, nil
}

// dsnDatabase is the database written in a source's DSN, "" if none.
func dsnDatabase(d *planner.SourceDecl) string {
	l, done, err := databaseLister(d)
	if err != nil || l == nil {
		return ""
	}
	defer done()
	return l.DSNDatabase()
}

// listDatabases lists a source's databases, system schemas left out: the
// DSN's database when it names one, else every one the user can see.
func listDatabases(ctx context.Context, d *planner.SourceDecl) ([]string, error) {
	l, done, err := databaseLister(d)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, fmt.Errorf("source %s: a %s source cannot list its databases: write SHOW TABLES FROM database", d.Name, d.Kind)
	}
	defer done()
	if db := l.DSNDatabase(); db != "" {
		return []string{db}, nil
	}
	dbs, err := l.Databases(ctx)
	if err != nil {
		return nil, connectors.Named("source", d.Name, err)
	}
	return dbs, nil
}

func (r *repl) showTables(ctx context.Context, text string, s *lang.Show, pattern string) error {
	if pattern == "" {
		pattern = "*"
	}
	var from []*lang.Ident
	var at lang.Node = s.What
	if s.From != nil {
		from, at = s.From.Parts, s.From
	}
	d, rest, err := r.resolveSource(text, from, 1, at)
	if err != nil {
		return err
	}
	var dbs []string
	if len(rest) == 1 {
		dbs = []string{rest[0].Name}
	} else if dbs, err = listDatabases(ctx, d); err != nil {
		return err
	}
	var rows [][]string
	for _, db := range dbs {
		refs, err := r.cat.Tables(ctx, d, db, pattern)
		if err != nil {
			return connectors.Named("source", d.Name, err)
		}
		for _, ref := range refs {
			if len(from) > 0 {
				rows = append(rows, []string{ref.Table})
			} else {
				rows = append(rows, []string{ref.DB, ref.Table})
			}
		}
	}
	if len(rows) == 0 && len(rest) == 1 {
		// No table: say so when the database is not there at all.
		if all, err := listDatabases(ctx, d); err == nil && !slices.Contains(all, rest[0].Name) {
			return nodeError(text, rest[0], "no database %s in source %s%s", rest[0].Name, d.Name, planner.Suggest(rest[0].Name, all))
		}
	}
	if len(from) > 0 {
		printTable(r.out, []string{"table"}, rows, "table")
	} else {
		printTable(r.out, []string{"database", "table"}, rows, "table")
	}
	return nil
}

// describeRef resolves a [source.]database.table name (database may be
// left out when the source's DSN names one).
func (r *repl) describeRef(text string, parts []*lang.Ident) (*planner.SourceDecl, connectors.TableRef, error) {
	var ref connectors.TableRef
	d, rest, err := r.resolveSource(text, parts, 2, parts[0])
	if err != nil {
		return nil, ref, err
	}
	if len(rest) == 1 {
		db := dsnDatabase(d)
		if db == "" {
			return nil, ref, nodeError(text, parts[0], "write database.table: source %s has no default database", d.Name)
		}
		return d, connectors.TableRef{DB: db, Table: rest[0].Name}, nil
	}
	return d, connectors.TableRef{DB: rest[0].Name, Table: rest[1].Name}, nil
}

// describe runs DESCRIBE [source.]db.table: one line per column with its
// etlq type, the source's type, nullability and key position.
func (r *repl) describe(ctx context.Context, text string, st *lang.Describe) error {
	d, ref, err := r.describeRef(text, st.Table.Parts)
	if err != nil {
		return err
	}
	ts, err := r.cat.Describe(ctx, d, ref)
	if err != nil {
		if e := r.missingTable(ctx, text, st.Table, d, ref); e != nil {
			return e
		}
		return connectors.Named("source", d.Name, err)
	}
	rows := make([][]string, 0, len(ts.Fields))
	for _, f := range ts.Fields {
		typ := f.Type.String()
		if t, err := stdlib.FromField(f); err == nil {
			typ = t.String()
		}
		srcType, _ := metaValue(f.Metadata, exec.MetaSourceType)
		null := "no"
		if f.Nullable {
			null = "yes"
		}
		key := ""
		if k, ok := metaValue(f.Metadata, exec.MetaPrimaryKey); ok {
			key = "PRI"
			if len(ts.PrimaryKey) > 1 {
				key += " " + k
			}
		}
		rows = append(rows, []string{f.Name, typ, srcType, null, key})
	}
	printTable(r.out, []string{"column", "type", "source type", "null", "key"}, rows, "column")
	fmt.Fprintf(r.out, "metadata columns: _op, _ts, _db, _table, _pos, _version; before.<column> is the value before an update\n")
	return nil
}

// missingTable is the error for a DESCRIBE of a table the source does
// not list, at its name with a suggestion, as FROM binlog says it: no
// database of that name, or no table of that name in it. nil when the
// table is listed (the failure was another).
func (r *repl) missingTable(ctx context.Context, text string, name *lang.TableName, d *planner.SourceDecl, ref connectors.TableRef) error {
	refs, err := r.cat.Tables(ctx, d, ref.DB, "*")
	if err != nil {
		return nil
	}
	var tables []string
	for _, t := range refs {
		if t.Table == ref.Table {
			return nil
		}
		tables = append(tables, t.Table)
	}
	parts := name.Parts
	if len(tables) == 0 && len(parts) >= 2 {
		if dbs, err := listDatabases(ctx, d); err == nil && !slices.Contains(dbs, ref.DB) {
			return nodeError(text, parts[len(parts)-2], "no database %s in source %s%s", ref.DB, d.Name, planner.Suggest(ref.DB, dbs))
		}
	}
	return nodeError(text, name, "no table %s in source %s%s", ref, d.Name, planner.Suggest(ref.Table, tables))
}

func metaValue(m arrow.Metadata, key string) (string, bool) {
	if i := m.FindKey(key); i >= 0 {
		return m.Values()[i], true
	}
	return "", false
}

// plan runs PLAN pipeline: the dataflow of a pipeline of the loaded file,
// planned against the live schemas, with the DDL its sink would run.
func (r *repl) plan(ctx context.Context, text string, st *lang.PlanPipeline) error {
	if r.file == nil {
		return nodeError(text, st.Name, "no file is loaded: \\load FILE first")
	}
	name := st.Name.Name
	var names []string
	found := false
	for _, p := range r.decls.Pipelines {
		names = append(names, p.Name)
		found = found || strings.EqualFold(p.Name, name)
	}
	if !found {
		return nodeError(text, st.Name, "no pipeline %q in %s (pipelines: %s)", name, r.file.Path, orNone(strings.Join(names, ", ")))
	}
	// Only this pipeline is planned (with every source, sink and
	// function): another pipeline that does not plan against the live
	// schemas is no reason not to show this one.
	only := *r.file
	f := *r.file.File
	f.Statements = nil
	for _, st := range r.file.File.Statements {
		if st.Pipeline == nil || strings.EqualFold(st.Pipeline.Name.Name, name) {
			f.Statements = append(f.Statements, st)
		}
	}
	only.File = &f
	plan, err := only.Build(ctx, false)
	if err != nil {
		return err
	}
	one := *plan
	one.Pipelines = nil
	for _, p := range plan.Pipelines {
		if strings.EqualFold(p.Name, name) {
			one.Pipelines = append(one.Pipelines, p)
		}
	}
	ddl := map[string][]string{}
	err = etlfile.ForEachTarget(ctx, &one, func(p *planner.Pipeline, s connectors.Sink) error {
		stmts, _, err := s.Plan(ctx, p.Target)
		if err != nil {
			return fmt.Errorf("pipeline %s: %w", p.Name, err)
		}
		ddl[p.Name] = stmts
		return nil
	})
	planner.Explain(r.out, &one, ddl)
	if err != nil {
		fmt.Fprintf(r.errw, "note: no DDL shown: %v\n", err)
	}
	return nil
}

// printTable writes rows as an aligned table, psql style, and a count line
// ("(3 tables)").
// showSig is a library signature as a cell of SHOW FUNCTIONS: a result of
// several types, written "TIMESTAMP | DATE" (docs/functions.md), reads
// "TIMESTAMP or DATE" ("INT64, DECIMAL or FLOAT64"), whose "|" would split
// the cell.
func showSig(sig string) string {
	alts := strings.Split(sig, " | ")
	if len(alts) == 1 {
		return sig
	}
	return strings.Join(alts[:len(alts)-1], ", ") + " or " + alts[len(alts)-1]
}

func printTable(w io.Writer, header []string, rows [][]string, noun string) {
	widths := make([]int, len(header))
	for j, h := range header {
		widths[j] = exec.TextWidth(h)
	}
	for _, row := range rows {
		for j, c := range row {
			widths[j] = max(widths[j], exec.TextWidth(c))
		}
	}
	var sb strings.Builder
	line := func(cells []string) {
		for j, c := range cells {
			if j > 0 {
				sb.WriteString(" |")
			}
			sb.WriteByte(' ')
			sb.WriteString(c)
			if j < len(cells)-1 {
				sb.WriteString(strings.Repeat(" ", widths[j]-exec.TextWidth(c)))
			}
		}
		trimmed := strings.TrimRight(sb.String(), " ")
		sb.Reset()
		sb.WriteString(trimmed)
		sb.WriteByte('\n')
	}
	line(header)
	for j, wd := range widths {
		if j > 0 {
			sb.WriteByte('+')
		}
		sb.WriteString(strings.Repeat("-", wd+2))
	}
	sb.WriteByte('\n')
	for _, row := range rows {
		line(row)
	}
	fmt.Fprintf(&sb, "(%s)\n", etlfile.Plural(len(rows), noun))
	io.WriteString(w, sb.String())
}
