package planner

import (
	"context"
	"strings"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/lang"
)

// Catalog answers schema questions about declared sources. The command
// line backs it with live connections; tests may back it with fixed
// schemas.
type Catalog interface {
	// Tables lists the tables matching db and pattern, as
	// connectors.Source.Tables does (path.Match patterns).
	Tables(ctx context.Context, src *SourceDecl, db, pattern string) ([]connectors.TableRef, error)
	Describe(ctx context.Context, src *SourceDecl, ref connectors.TableRef) (*connectors.TableSchema, error)
}

// UnreachableCatalog is a Catalog that knows the sources it could not
// connect to (their error reported once, at the DSN): their pipelines are
// planned as offline, so that an unreachable source is not one more error
// at each of its tables, and the other sources' pipelines are planned
// against their schemas.
type UnreachableCatalog interface {
	Unreachable(src *SourceDecl) bool
}

// ResumedCatalog is a Catalog that also knows where each pipeline's stream
// resumes (apply's state directory): DescribeResumed returns ref's schema
// as the pipeline's checkpoint recorded it, nil when it has none. The
// stream decodes the table's changes with that schema until it meets the
// DDL that changed the table since (docs/live-tables.md).
type ResumedCatalog interface {
	DescribeResumed(ctx context.Context, src *SourceDecl, pipeline string, ref connectors.TableRef) (*connectors.TableSchema, error)
}

// Options tune Build.
type Options struct {
	// Catalog resolves tables and columns. nil plans offline: names of
	// sources, sinks, functions and options are checked, but nothing that
	// needs a table schema.
	Catalog Catalog
	// Now plans every table as the server has it now, never as a
	// checkpoint has it (a ResumedCatalog's): what verify compares the
	// targets with, where apply plans the tables whose stream resumes
	// with another schema as the checkpoint has them.
	Now bool
	// Resumed plans every table as the stream resumes with it (a
	// ResumedCatalog's), as apply plans `*` over several tables: an
	// `apply --log` worker, whose target may be made by its plan while
	// the log it reads is still behind a DDL. A pipeline that binds only
	// to the table of now is planned from it.
	Resumed bool
	// Partial plans the pipelines whose tables the catalog has and leaves
	// out the others: a pipeline with a FROM table (or pattern) that no
	// table of the catalog matches is not planned — the errors of what it
	// writes apart from its tables (options, INTO, literals) are still
	// reported — and is named in Plan.LeftOut with those tables. `etlq
	// test` plans a file so against a fixture that describes some of its
	// tables (a recording of one table).
	Partial bool
}

// Build binds and type-checks a parsed file (whose ${ENV} references are
// already expanded) into a plan. The error, when not nil, is a lang.Errors
// listing every problem with its position; the plan is then partial (its
// declarations are all there) and must not be run.
func Build(ctx context.Context, f *lang.File, opts Options) (*Plan, error) {
	b := &builder{ctx: ctx, cat: opts.Catalog, now: opts.Now, resumed: opts.Resumed, partial: opts.Partial, plan: &Plan{File: f.Pos.Filename},
		sources: map[string]*SourceDecl{}, sinks: map[string]*SinkDecl{}, funcs: map[string]*udf{}}
	for _, st := range f.Statements {
		switch {
		case st.Source != nil:
			b.source(st.Source)
		case st.Sink != nil:
			b.sink(st.Sink)
		case st.Function != nil:
			b.function(st.Function)
		}
	}
	seen := map[string]bool{}
	for _, st := range f.Statements {
		if p := st.Pipeline; p != nil {
			name := strings.ToLower(p.Name.Name)
			if seen[name] {
				b.errs.add(p.Name, "pipeline %q is declared twice", p.Name.Name)
				continue
			}
			seen[name] = true
			n := len(b.errs.errs)
			b.pipeline(p)
			if len(b.errs.errs) > n {
				if b.plan.Failed == nil {
					b.plan.Failed = map[string]bool{}
				}
				b.plan.Failed[p.Name.Name] = true
			}
		}
	}
	b.checkStreamOptionsAgree(f)
	b.checkSharedTargets()
	if err := b.errs.err(); err != nil {
		// The declarations are kept, so that a caller can report what is
		// wrong with the connections too.
		return b.plan, err
	}
	return b.plan, nil
}

type builder struct {
	ctx     context.Context
	cat     Catalog
	now     bool // Options.Now
	resumed bool // Options.Resumed
	partial bool // Options.Partial
	plan    *Plan
	errs    errorList
	sources map[string]*SourceDecl
	sinks   map[string]*SinkDecl
	funcs   map[string]*udf
}

func (b *builder) source(s *lang.CreateSource) {
	kind, opts, ok := b.connection("source", s.Name, s.Kind, s.With, b.sources[strings.ToLower(s.Name.Name)] != nil, connectors.SourceSpec, connectors.SourceKinds())
	if !ok {
		return
	}
	d := &SourceDecl{Name: s.Name.Name, Kind: kind, DSN: s.DSN.Value, Redacted: Redact(s.DSN.Value), Options: opts, Pos: s.Pos,
		DSNPos: s.DSN.Pos, DSNEnd: s.DSN.EndPos, OptionAt: optionSpans(s.With)}
	b.sources[strings.ToLower(d.Name)] = d
	b.plan.Sources = append(b.plan.Sources, d)
}

func (b *builder) sink(s *lang.CreateSink) {
	kind, opts, ok := b.connection("sink", s.Name, s.Kind, s.With, b.sinks[strings.ToLower(s.Name.Name)] != nil, connectors.SinkSpec, connectors.SinkKinds())
	if !ok {
		return
	}
	d := &SinkDecl{Name: s.Name.Name, Kind: kind, DSN: s.DSN.Value, Redacted: Redact(s.DSN.Value), Options: opts, Pos: s.Pos,
		DSNPos: s.DSN.Pos, DSNEnd: s.DSN.EndPos, Written: writtenRefs(s.With), OptionAt: optionSpans(s.With)}
	b.sinks[strings.ToLower(d.Name)] = d
	b.plan.Sinks = append(b.plan.Sinks, d)
}

// connection checks the name, kind and WITH options of a CREATE SOURCE or
// CREATE SINK against the registered connector specs.
func (b *builder) connection(what string, name, kind *lang.Ident, with []*lang.Option, taken bool,
	specOf func(string) (*connectors.Spec, bool), kinds []string) (string, map[string]any, bool) {
	if taken {
		b.errs.add(name, "%s %q is declared twice", what, name.Name)
		return "", nil, false
	}
	k := strings.ToLower(kind.Name)
	spec, ok := specOf(k)
	if !ok {
		hint := suggest(k, kinds)
		if hint == "" && len(kinds) > 0 {
			// No near name: say what there is.
			hint = ": etlq has " + kinds[len(kinds)-1]
			if len(kinds) > 1 {
				hint = ": etlq has " + strings.Join(kinds[:len(kinds)-1], ", ") + " and " + kinds[len(kinds)-1]
			}
			hint += " " + what + "s"
		}
		b.errs.add(kind, "unknown %s kind %q%s", what, k, hint)
		return "", nil, false
	}
	allowed := [][]connectors.Option{spec.Options}
	if what == "sink" {
		// A sink's target options are defaults for every pipeline
		// writing to it (pipelineSinkDefaults).
		allowed = append(allowed, spec.TargetOptions)
	}
	return k, b.bindOptions(with, what+" "+name.Name, allowed...), true
}

// optionSpans returns where each option of a WITH is written, by its
// lower-case name.
func optionSpans(with []*lang.Option) map[string]Span {
	m := map[string]Span{}
	for _, o := range with {
		m[strings.ToLower(o.Name.Name)] = Span{Pos: o.Pos, EndPos: o.EndPos}
	}
	return m
}

// Redact returns a DSN or URL fit to print (connectors.RedactDSN): its
// password and credential parameters replaced by "****", also in a DSN
// that url.Parse refuses or one in the go-sql-driver form. ${…}
// references are shown as written.
func Redact(dsn string) string {
	return connectors.RedactDSN(dsn)
}

// resolveSource picks the source of a FROM table name and returns it with
// the remaining db and table parts, as Catalog patterns (namePattern).
func (b *builder) resolveSource(t *lang.TableName) (*SourceDecl, string, string, bool) {
	parts := t.Parts
	switch len(parts) {
	case 3:
		d := b.sources[strings.ToLower(parts[0].Name)]
		if d == nil {
			var names []string
			for _, s := range b.plan.Sources {
				names = append(names, s.Name)
			}
			b.errs.add(parts[0], "unknown source %q%s", parts[0].Name, suggest(parts[0].Name, names))
			return nil, "", "", false
		}
		return d, namePattern(parts[1]), namePattern(parts[2]), true
	case 2:
		var mysql []*SourceDecl
		for _, s := range b.plan.Sources {
			mysql = append(mysql, s)
		}
		if len(mysql) != 1 {
			if len(mysql) == 0 {
				b.errs.add(t, "no source is declared: add CREATE SOURCE … FROM mysql '…'")
			} else {
				b.errs.add(t, "several sources are declared: write source.database.table")
			}
			return nil, "", "", false
		}
		return mysql[0], namePattern(parts[0]), namePattern(parts[1]), true
	default:
		b.errs.add(t, "a binlog table is written [source.]database.table")
		return nil, "", "", false
	}
}

// outputName is the name a TRANSFORM item produces.
func outputName(it *lang.SelectItem) (string, bool) {
	if it.Alias != nil {
		return it.Alias.Name, true
	}
	e := it.Expr
	for {
		p, ok := e.(*lang.Paren)
		if !ok {
			break
		}
		e = p.X
	}
	if c, ok := e.(*lang.ColumnRef); ok {
		if c.Before {
			return "before_" + c.Name.Name, true
		}
		return c.Name.Name, true
	}
	return "", false
}
