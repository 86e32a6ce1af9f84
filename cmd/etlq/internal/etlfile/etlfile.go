// Package etlfile loads a .etl file for the commands and the REPL: it
// reads, parses and expands it, plans it (offline, or against the live
// schemas through Catalog), checks its connections, and formats its errors
// with the source line and a caret, passwords masked.
package etlfile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec/engine"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

// Loaded is a parsed, expanded file.
type Loaded struct {
	Path string
	File *lang.File
	// StateDir, when set, is apply's state directory: planning takes from
	// its checkpoints what the resumed stream will decode with
	// (planner.ResumedCatalog).
	StateDir string
	src      []byte
	// Marks, when set, returns the checkpoints a source resumes from: a
	// table read by name that the server no longer has is planned with
	// the schema they hold (connectors.CheckpointDescriber).
	Marks func(source string) [][]byte
	// Now plans the tables as the server has them now, not as the
	// checkpoints have them (planner.Options.Now): verify.
	Now bool
	// LogStart, when set, returns the position in the log where an
	// `apply --log` worker's group starts reading a source
	// (engine.LogStartMarks): every table is planned as it has it
	// (planner.Options.Resumed).
	LogStart func(source string) []byte
}

// Load reads, parses and expands a file. Errors come back formatted with
// the source line and a caret.
func Load(path string) (*Loaded, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := lang.ParseFile(path, src)
	if err != nil {
		return nil, FormatErr(err, src)
	}
	if errs := Expand(f); len(errs) > 0 {
		return nil, FormatErr(errs, src)
	}
	// src is kept for error messages only: with the passwords written
	// in it masked.
	return &Loaded{Path: path, src: lang.MaskSecrets(src), File: f}, nil
}

// Expand replaces ${VAR} and ${file:PATH} in f; what is a secret (a
// file's content, a DSN's password) is hidden from every later message.
func Expand(f *lang.File) lang.Errors {
	return lang.ExpandWith(f, lang.Expansion{Lookup: os.LookupEnv, Secret: connectors.RegisterSecret})
}

// Error is an error already formatted for the terminal.
type Error struct{ Text string }

func (e Error) Error() string { return e.Text }

// FormatErr formats err with the lines of src it points at, the secrets
// written in src masked.
func FormatErr(err error, src []byte) error {
	src = lang.MaskSecrets(src)
	var errs lang.Errors
	if errors.As(err, &errs) {
		return Error{errs.Format(src)}
	}
	var e *lang.Error
	if errors.As(err, &e) {
		return Error{lang.Errors{e}.Format(src)}
	}
	return err
}

// Build plans a loaded file, against live sources unless offline. The
// connections it opens to read schemas are closed before it returns. Every
// error of the file comes back at once, with its place: those of the
// declarations and pipelines, and those of each connection — a DSN its
// connector refuses, and (online) a server that does not answer or refuses
// the login, at the DSN of its CREATE SOURCE or CREATE SINK.
func (l *Loaded) Build(ctx context.Context, offline bool) (*planner.Plan, error) {
	pp, err := l.BuildPartial(ctx, offline)
	if err != nil {
		return nil, err
	}
	if len(pp.Errs) > 0 {
		return nil, Error{pp.Errs.Format(l.Shown())}
	}
	return pp.Plan, nil
}

// Partial is a plan with the errors of the file (Build's), sorted by
// place: its pipelines without an error (not in Plan.Failed) whose source
// and sink answered are planned in full, and check goes on with them.
type Partial struct {
	Plan *planner.Plan
	Errs lang.Errors
	// BadSources and BadSinks name the declarations whose connection
	// failed (an error at their DSN): what needs them is not checked
	// further.
	BadSources, BadSinks map[string]bool
}

// BuildPartial is Build that keeps the plan when the file has errors.
// (err is for what is no error of the file.)
func (l *Loaded) BuildPartial(ctx context.Context, offline bool) (*Partial, error) {
	decls, err := planner.Build(ctx, l.File, planner.Options{})
	var errs lang.Errors
	if err != nil {
		var le lang.Errors
		if !errors.As(err, &le) {
			return nil, err
		}
		errs = append(errs, le...)
	}
	pp := &Partial{Plan: decls, BadSources: map[string]bool{}, BadSinks: map[string]bool{}}
	var cat *Catalog
	if !offline {
		cat = NewCatalog()
		cat.StateDir = l.StateDir
		cat.marks = l.Marks
		cat.logStart = l.LogStart
		defer cat.Close()
	}
	var connErrs lang.Errors
	if decls != nil {
		connErrs = CheckConnections(ctx, decls, cat, pp)
	}
	// Online, the full plan reports the errors of the declarations again,
	// with those that need the schemas; the pipelines of a source that
	// did not answer are planned as offline (its one error is at its
	// DSN), those of the others against their schemas.
	if !offline && decls != nil {
		p, err := planner.Build(ctx, l.File, planner.Options{Catalog: cat, Now: l.Now, Resumed: l.LogStart != nil && !l.Now})
		errs = nil
		if err != nil {
			var le lang.Errors
			if !errors.As(err, &le) {
				return nil, err
			}
			errs = append(errs, le...)
		}
		pp.Plan = p
	}
	errs = append(errs, connErrs...)
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Pos.Offset < errs[j].Pos.Offset })
	pp.Errs = errs
	return pp, nil
}

// Sound is the part of a partial plan that later checks can take: the
// pipelines without an error whose source and sink answered, the sources
// and sinks that answered. (A pipeline of an unknown source, say, has
// nothing more to check: what it would report depends on that error.)
func (pp *Partial) Sound() *planner.Plan {
	p := *pp.Plan
	p.Sources, p.Sinks, p.Pipelines = nil, nil, nil
	for _, d := range pp.Plan.Sources {
		if !pp.BadSources[d.Name] {
			p.Sources = append(p.Sources, d)
		}
	}
	for _, d := range pp.Plan.Sinks {
		if !pp.BadSinks[d.Name] {
			p.Sinks = append(p.Sinks, d)
		}
	}
	for _, pl := range pp.Plan.Pipelines {
		if pp.Plan.Failed[pl.Name] || pl.Source == "" || pp.BadSources[pl.Source] || pp.BadSinks[pl.Sink] ||
			pl.DeadLetter != nil && pp.BadSinks[pl.DeadLetter.Sink] {
			continue
		}
		p.Pipelines = append(p.Pipelines, pl)
	}
	return &p
}

// CheckConnections makes the source and sink of each declaration from its
// DSN and options (which connects to nothing) and, when cat is set, checks
// that each answers (a source through cat, which keeps its connection for
// planning). A source or sink that cannot be reached is one error at its
// DSN, not one at every table or pipeline that names it.
func CheckConnections(ctx context.Context, plan *planner.Plan, cat *Catalog, bad *Partial) lang.Errors {
	var errs lang.Errors
	if bad == nil {
		bad = &Partial{BadSources: map[string]bool{}, BadSinks: map[string]bool{}}
	}
	at := func(pos, end lang.Pos, format string, args ...any) {
		errs = append(errs, lang.Errorf(pos, end, format, args...)) // (its cause kept: a stop's context.Canceled stays one)
	}
	// An error about one WITH option (connectors.OptionError) is shown at
	// that option, any other at the DSN.
	where := func(err error, dsnPos, dsnEnd lang.Pos, optionAt map[string]planner.Span) (lang.Pos, lang.Pos, bool) {
		var oe *connectors.OptionError
		if errors.As(err, &oe) {
			if sp, ok := optionAt[strings.ToLower(oe.Name)]; ok {
				return sp.Pos, sp.EndPos, true
			}
		}
		return dsnPos, dsnEnd, false
	}
	for _, d := range plan.Sources {
		// The source's errors may name it already ("source \"s\": …").
		named := func(err error) string { return connectors.Named("source", d.Name, err).Error() }
		if cat == nil {
			s, err := connectors.NewSource(d.Kind, d.Name, d.DSN, d.Options)
			if err != nil {
				bad.BadSources[d.Name] = true
				pos, end, _ := where(err, d.DSNPos, d.DSNEnd, d.OptionAt)
				at(pos, end, "%s", named(err))
				continue
			}
			s.Close()
			continue
		}
		if err := cat.ping(ctx, d); err != nil {
			bad.BadSources[d.Name] = true
			if pos, end, opt := where(err, d.DSNPos, d.DSNEnd, d.OptionAt); opt {
				at(pos, end, "%s", named(err))
			} else if connectors.Names(err, "source", d.Name) {
				at(pos, end, "%v (%s)", err, d.Redacted)
			} else {
				at(pos, end, "source %s (%s): %v", d.Name, d.Redacted, err)
			}
		}
	}
	for _, d := range plan.Sinks {
		if d.Implicit {
			continue
		}
		// The sink's errors name it already ("clickhouse sink \"dw\": …").
		named := func(err error) string { return connectors.Named("sink", d.Name, err).Error() }
		s, err := connectors.NewSink(d.Kind, d.Name, d.DSN, d.Options)
		if err != nil {
			bad.BadSinks[d.Name] = true
			pos, end, _ := where(err, d.DSNPos, d.DSNEnd, d.OptionAt)
			at(pos, end, "%s", named(err))
			continue
		}
		if v, ok := s.(interface {
			Version(context.Context) (string, error)
		}); ok && cat != nil {
			if _, err := v.Version(ctx); err != nil {
				bad.BadSinks[d.Name] = true
				at(d.DSNPos, d.DSNEnd, "%s (%s)", named(err), d.Redacted)
			}
		}
		s.Close()
	}
	return errs
}

// FormatErr formats an error of the file, its lines shown with the
// passwords of DSNs masked.
func (l *Loaded) FormatErr(err error) error { return FormatErr(err, l.Shown()) }

// Shown is the file's text as error messages quote it: the same bytes,
// but a password written in a DSN replaced by lang.MaskByte (its length
// kept, so that every position still points at the same place; a quoted
// line shows it as lang.Mask, whatever its length).
func (l *Loaded) Shown() []byte {
	out := []byte(string(l.src))
	for _, st := range l.File.Statements {
		var dsn *lang.StringLit
		switch {
		case st.Source != nil:
			dsn = st.Source.DSN
		case st.Sink != nil:
			dsn = st.Sink.DSN
		}
		if dsn == nil || strings.Contains(dsn.Raw, "${") {
			continue
		}
		pw := connectors.DSNPassword(dsn.Value)
		if pw == "" {
			continue
		}
		if i := strings.Index(dsn.Raw, ":"+pw+"@"); i >= 0 {
			from := dsn.Pos.Offset + i + 1
			for k := from; k < from+len(pw) && k < len(out); k++ {
				out[k] = lang.MaskByte
			}
		}
	}
	return out
}

// LoadPlan reads, parses and plans a file.
func LoadPlan(ctx context.Context, path string, offline bool) (*Loaded, *planner.Plan, error) {
	return LoadPlanResuming(ctx, path, offline, nil)
}

// LoadPlanResuming is LoadPlan for a run that resumes from the checkpoints
// marks returns (Loaded.Marks).
func LoadPlanResuming(ctx context.Context, path string, offline bool, marks func(source string) [][]byte) (*Loaded, *planner.Plan, error) {
	l, err := Load(path)
	if err != nil {
		return nil, nil, err
	}
	l.Marks = marks
	p, err := l.Build(ctx, offline)
	return l, p, err
}

// LoadPlanAt is LoadPlan for a run that resumes from the checkpoints of
// apply's state directory stateDir: a table is planned as the stream will
// decode it where that differs (planner.ResumedCatalog).
func LoadPlanAt(ctx context.Context, path string, offline bool, stateDir string) (*Loaded, *planner.Plan, error) {
	return loadPlanAt(ctx, path, offline, stateDir, false, nil)
}

// LoadPlanNow is LoadPlanAt with the tables planned as the server has
// them now (Loaded.Now): verify compares the targets with the source of
// now.
func LoadPlanNow(ctx context.Context, path string, stateDir string) (*Loaded, *planner.Plan, error) {
	return loadPlanAt(ctx, path, false, stateDir, true, nil)
}

// LoadPlanWorker is LoadPlanAt for `apply --log` workers of group reading
// the log at url: their state directory holds no source position, so a
// table the server no longer has is planned from the log's last position
// (engine.LogMarks), and every table as the log has it where the group
// starts reading (engine.LogStartMarks, Loaded.LogStart).
func LoadPlanWorker(ctx context.Context, path, stateDir, url, group string) (*Loaded, *planner.Plan, error) {
	l, err := loadAt(path, stateDir, false, engine.LogMarks(ctx, url, slog.Default()))
	if err != nil {
		return nil, nil, err
	}
	l.LogStart = engine.LogStartMarks(ctx, url, group, slog.Default())
	p, err := l.Build(ctx, false)
	if err == nil && stateDir != "" {
		engine.MarkKeysRemoved(p, stateDir)
	}
	return l, p, err
}

// LoadPartialAt is LoadPlanAt that keeps the plan when the file has errors
// (Loaded.BuildPartial): check goes on with its sound part.
func LoadPartialAt(ctx context.Context, path string, offline bool, stateDir string) (*Loaded, *Partial, error) {
	l, err := loadAt(path, stateDir, false, nil)
	if err != nil {
		return nil, nil, err
	}
	pp, err := l.BuildPartial(ctx, offline)
	if pp != nil && pp.Plan != nil && stateDir != "" {
		// A KEY (…) removed from the file since the last run is compared
		// with the target's ORDER BY as a KEY edited is.
		engine.MarkKeysRemoved(pp.Plan, stateDir)
	}
	return l, pp, err
}

func loadPlanAt(ctx context.Context, path string, offline bool, stateDir string, now bool, marks func(source string) [][]byte) (*Loaded, *planner.Plan, error) {
	l, err := loadAt(path, stateDir, now, marks)
	if err != nil {
		return nil, nil, err
	}
	p, err := l.Build(ctx, offline)
	if err == nil && stateDir != "" {
		// A KEY (…) removed from the file since the last run is compared
		// with the target's ORDER BY as a KEY edited is.
		engine.MarkKeysRemoved(p, stateDir)
	}
	return l, p, err
}

func loadAt(path string, stateDir string, now bool, marks func(source string) [][]byte) (*Loaded, error) {
	l, err := Load(path)
	if err != nil {
		return nil, err
	}
	l.StateDir, l.Now = stateDir, now
	if stateDir != "" || marks != nil {
		l.Marks = func(source string) [][]byte {
			var out [][]byte
			if stateDir != "" {
				out = engine.CheckpointMarks(stateDir, source)
			}
			if marks != nil {
				out = append(out, marks(source)...)
			}
			return out
		}
	}
	return l, nil
}

// ping checks that a source answers; one that does not is Unreachable.
func (c *Catalog) ping(ctx context.Context, d *planner.SourceDecl) error {
	s, err := c.source(d)
	if err == nil {
		_, err = s.Tables(ctx, "information_schema", "TABLES")
	}
	if err != nil {
		c.mu.Lock()
		c.unreachable[d.Name] = true
		c.mu.Unlock()
	}
	return err
}

// Unreachable reports whether ping found that d does not answer
// (planner.UnreachableCatalog).
func (c *Catalog) Unreachable(d *planner.SourceDecl) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unreachable[d.Name]
}

// Catalog answers schema questions by connecting to the declared sources,
// once each (planner.Catalog).
type Catalog struct {
	// StateDir, when set, holds the checkpoints the pipelines resume
	// from (DescribeResumed).
	StateDir string
	mu       sync.Mutex
	sources  map[string]connectors.Source
	failed   map[string]error
	// unreachable names the sources ping found not answering.
	unreachable map[string]bool
	// marks (Loaded.Marks) and the schemas taken from them, by source.
	marks   func(source string) [][]byte
	resumed map[string]map[connectors.TableRef]*connectors.TableSchema
	// resumeMarks are the checkpoints DescribeResumed read, by source and
	// pipeline: a pattern over many tables asks for each table.
	resumeMarks map[[2]string]json.RawMessage
	// logStart (Loaded.LogStart) and the positions it gave, by source.
	logStart  func(source string) []byte
	logStarts map[string][]byte
}

var _ planner.ResumedCatalog = (*Catalog)(nil)

// NewCatalog returns a Catalog that has connected to nothing yet.
func NewCatalog() *Catalog {
	return &Catalog{sources: map[string]connectors.Source{}, failed: map[string]error{}, unreachable: map[string]bool{}}
}

func (c *Catalog) source(d *planner.SourceDecl) (connectors.Source, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.sources[d.Name]; ok {
		return s, nil
	}
	if err, ok := c.failed[d.Name]; ok {
		return nil, err
	}
	s, err := connectors.NewSource(d.Kind, d.Name, d.DSN, d.Options)
	if err != nil {
		c.failed[d.Name] = err
		return nil, err
	}
	c.sources[d.Name] = s
	return s, nil
}

// Tables lists the tables of d matching db and pattern.
func (c *Catalog) Tables(ctx context.Context, d *planner.SourceDecl, db, pattern string) ([]connectors.TableRef, error) {
	s, err := c.source(d)
	if err != nil {
		return nil, err
	}
	refs, err := s.Tables(ctx, db, pattern)
	// A name that is no table (a view, say) may still be a table the
	// checkpoint follows, which a view of its name replaced since.
	var notTable interface{ NotATable() bool }
	if (err != nil && !errors.As(err, &notTable)) || len(refs) > 0 || strings.ContainsAny(pattern, "*?[") {
		return refs, err
	}
	if ts := c.fromCheckpoint(s, d, connectors.TableRef{DB: db, Table: pattern}); ts != nil {
		return []connectors.TableRef{ts.Ref}, nil
	}
	return refs, err
}

// fromCheckpoint returns the schema of a table read by name that the
// server does not have, from the checkpoints d resumes from (the first
// that knows it), and keeps it for Describe; nil when none does.
func (c *Catalog) fromCheckpoint(s connectors.Source, d *planner.SourceDecl, ref connectors.TableRef) *connectors.TableSchema {
	cd, ok := s.(connectors.CheckpointDescriber)
	if !ok || c.marks == nil {
		return nil
	}
	for _, m := range c.marks(d.Name) {
		if ts := cd.DescribeCheckpoint(m, ref); ts != nil {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.resumed == nil {
				c.resumed = map[string]map[connectors.TableRef]*connectors.TableSchema{}
			}
			if c.resumed[d.Name] == nil {
				c.resumed[d.Name] = map[connectors.TableRef]*connectors.TableSchema{}
			}
			c.resumed[d.Name][ts.Ref] = ts
			return ts
		}
	}
	return nil
}

// Describe returns the schema of a table of d (that of the checkpoint for
// a table the server no longer has: Tables).
func (c *Catalog) Describe(ctx context.Context, d *planner.SourceDecl, ref connectors.TableRef) (*connectors.TableSchema, error) {
	s, err := c.source(d)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	ts := c.resumed[d.Name][ref]
	c.mu.Unlock()
	if ts != nil {
		return ts, nil
	}
	return s.Describe(ctx, ref)
}

// DescribeResumed returns ref's schema as the checkpoint pipeline resumes
// from recorded it (nil without a state directory, a checkpoint, or a
// source that keeps schemas in its marks).
func (c *Catalog) DescribeResumed(ctx context.Context, d *planner.SourceDecl, pipeline string, ref connectors.TableRef) (*connectors.TableSchema, error) {
	if c.StateDir == "" && c.logStart == nil {
		return nil, nil
	}
	s, err := c.source(d)
	if err != nil {
		return nil, err
	}
	ms, ok := s.(connectors.MarkSchemas)
	if !ok {
		return nil, nil
	}
	if c.logStart != nil {
		// A log worker: where its group starts in the log (its state
		// directory holds no source position).
		c.mu.Lock()
		mark, ok := c.logStarts[d.Name]
		c.mu.Unlock()
		if !ok {
			mark = c.logStart(d.Name)
			c.mu.Lock()
			if c.logStarts == nil {
				c.logStarts = map[string][]byte{}
			}
			c.logStarts[d.Name] = mark
			c.mu.Unlock()
		}
		if mark == nil {
			return nil, nil
		}
		return ms.SchemaAt(mark, ref)
	}
	at := [2]string{d.Name, pipeline}
	c.mu.Lock()
	mark, ok := c.resumeMarks[at]
	c.mu.Unlock()
	if !ok {
		if mark, err = engine.ResumeMark(c.StateDir, d.Name, pipeline); err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.resumeMarks == nil {
			c.resumeMarks = map[[2]string]json.RawMessage{}
		}
		c.resumeMarks[at] = mark
		c.mu.Unlock()
	}
	if mark == nil {
		return nil, nil
	}
	return ms.SchemaAt(mark, ref)
}

// Close closes every source connection.
func (c *Catalog) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sources {
		s.Close()
	}
	c.sources = map[string]connectors.Source{}
}

// CountDeclared counts the sinks the file declares (not those a pipeline
// names by kind alone).
func CountDeclared(p *planner.Plan) int {
	n := 0
	for _, s := range p.Sinks {
		if !s.Implicit {
			n++
		}
	}
	return n
}

// ForEachTarget opens each pipeline's sink (without writing anything) and
// calls fn with it.
func ForEachTarget(ctx context.Context, plan *planner.Plan, fn func(*planner.Pipeline, connectors.Sink) error) error {
	sinks := map[string]connectors.Sink{}
	defer func() {
		for _, s := range sinks {
			s.Close()
		}
	}()
	for _, p := range plan.Pipelines {
		s := sinks[p.Sink]
		if s == nil {
			for _, d := range plan.Sinks {
				if d.Name == p.Sink {
					var err error
					s, err = connectors.NewSink(d.Kind, d.Name, d.DSN, d.Options)
					if err != nil {
						return connectors.Named("sink", d.Name, err)
					}
					sinks[p.Sink] = s
				}
			}
		}
		if s == nil {
			continue
		}
		if err := fn(p, s); err != nil {
			return err
		}
	}
	return nil
}

// Plural is "1 noun" or "n nouns".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "s") {
		return fmt.Sprintf("%d %ses", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
