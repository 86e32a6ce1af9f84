// Package planner binds a parsed .etl file to live source schemas, types
// every expression and produces the plan the runtime executes.
//
// Stages, in order: declarations (sources, sinks, functions) → per pipeline:
// table resolution → expression binding and typing (exec constructors) →
// mode and key checks → output schema with the sink system columns.
package planner

import (
	"context"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/lang"
)

// Plan is a checked, typed file ready to run.
type Plan struct {
	File      string
	Sources   []*SourceDecl
	Sinks     []*SinkDecl
	Pipelines []*Pipeline
	// Failed names the pipelines that have an error of Build (by their
	// name as written): a partial plan's other pipelines are planned
	// in full, and check goes on with them (their targets, the binlog).
	Failed map[string]bool
	// LeftOut are the pipelines not planned under Options.Partial, in
	// the file's order: the catalog has no table for a FROM of theirs.
	LeftOut []LeftOut
}

// LeftOut is a pipeline left out of a partial plan (Options.Partial).
type LeftOut struct {
	Pipeline string
	// Tables are its FROM tables the catalog has no table for, as
	// written without the source ("shopdb.customers", "shopdb.log_*").
	Tables []string
}

// SourceDecl is one CREATE SOURCE.
type SourceDecl struct {
	Name     string
	Kind     string
	DSN      string // with ${ENV} expanded: secret, never printed
	Redacted string // DSN with the password replaced by "****"
	Options  map[string]any
	Pos      lang.Pos
	// DSNPos and DSNEnd are where the DSN string is written: errors about
	// the connection point there.
	DSNPos, DSNEnd lang.Pos
	// OptionAt is where each WITH option is written (name = value), by
	// its lower-case name: an error about one (connectors.OptionError)
	// points there.
	OptionAt map[string]Span
}

// SinkDecl is one CREATE SINK, or an implicit one (stdout, file, http).
type SinkDecl struct {
	Name     string
	Kind     string
	DSN      string
	Redacted string
	Options  map[string]any
	Implicit bool
	Pos      lang.Pos
	// DSNPos and DSNEnd are where the DSN string is written (declared
	// sinks only).
	DSNPos, DSNEnd lang.Pos
	// Written holds the options whose value names ${VAR}s, as written
	// (Pipeline.Written): a pipeline that takes one as its default shows
	// it so.
	Written map[string]string
	// OptionAt is SourceDecl.OptionAt.
	OptionAt map[string]Span
}

// OneTableName reports whether every table the pipeline reads or may
// read has one name (FROM tenant_*.orders, or a.orders, b.orders): its
// tables then differ by database alone, and an output copying _db tells
// their rows apart in a shared target without _table.
func (p *Pipeline) OneTableName() bool {
	name := ""
	same := func(n string) bool {
		if name == "" {
			name = n
		}
		return n == name
	}
	for _, t := range p.Tables {
		if !same(t.Ref.Table) {
			return false
		}
	}
	for _, pat := range p.Patterns {
		if strings.ContainsAny(pat.Table, "*?") || !same(pat.Table) {
			return false
		}
	}
	return name != ""
}

// Pipeline is one CREATE PIPELINE, bound.
type Pipeline struct {
	Name     string
	Source   string
	Snapshot connectors.SnapshotMode
	// SnapshotPos and SnapshotEnd are where the SNAPSHOT clause's mode is
	// written (zero: not written, initial by default).
	SnapshotPos, SnapshotEnd lang.Pos
	Tables                   []*TablePlan // one per matching source table
	// Patterns are the FROM names with glob characters (`*`, `?`) in the
	// database part, the table part or both (connectors.MatchRef): a
	// table that comes to match one while the pipeline runs joins it
	// (Rebind plans it).
	Patterns []connectors.TableRef
	Sink     string // SinkDecl name
	SinkKind string
	// TargetAt is where the pipeline writes, physically: the sink's
	// connector, the server or file it reaches (without secrets) and the
	// target there ("clickhouse 127.0.0.1:9000 dw.orders"), not the
	// sink's declared name: pipelines with one TargetAt write the same
	// table, and a sink renamed in the file keeps it. "" when INTO did
	// not resolve.
	TargetAt string
	Target   connectors.Target // Schema: output columns then exec.Sys* columns
	// Output are the user output columns (name and type), in order.
	Output  []Column
	OnError exec.OnError
	// DeadLetter is where dead letters go when the dead_letter option
	// names a target; nil: the state directory's file.
	DeadLetter *DeadLetterTarget
	Options    map[string]any // pipeline WITH options (validated)
	// Written holds the options whose value names ${VAR}s, as written in
	// the file: plan shows these, never the secrets they expand to.
	Written map[string]string
	Pos     lang.Pos
	// ModeUnresolved says MODE was not written and the tables were not
	// resolved (offline, or with errors): Target.Mode is the sink kind's
	// default assuming the source table has a primary key (ModeText says so).
	ModeUnresolved bool
	// IntoPos and IntoEnd are where the INTO clause is written: errors
	// about the target point there.
	IntoPos, IntoEnd lang.Pos
	// FormatPos and FormatEnd are where the FORMAT clause is written
	// (zero without one): errors its format causes.
	FormatPos, FormatEnd lang.Pos
	// Definition is the canonical text of the pipeline's WHERE,
	// TRANSFORM, MODE and KEY (lang.PipelineDefinition): apply reads the
	// table again for a pipeline whose definition changed since the last
	// run.
	Definition string
	// Stale lists the tables the pipeline does not bind to as the server
	// has them now, planned instead as the stream resumes with them (the
	// state directory's checkpoint): a column it reads was dropped or
	// renamed, or changed type, while etlq was stopped. apply takes the
	// changes up to that DDL and stops the pipeline there; check warns.
	Stale []StaleTable
	// Unbound is what the file says of the pipeline when its tables were
	// not bound (offline, or its source unreachable): Tables and Output
	// are empty then. nil when they were bound.
	Unbound *Unbound
	// NoKeyReason says why an append or changelog pipeline's target has
	// no key (Target.Key empty, no KEY clause): its tables have no
	// primary key, or its output leaves the key out or may make it NULL.
	// `etlq verify` gives it as the reason it cannot replay a changelog.
	NoKeyReason string

	rebind func(context.Context, *connectors.TableSchema) (*TablePlan, error)
	// schemas are the latest schema of each table the pipeline was planned
	// for ("db.table"), in the order the tables came (order): a pipeline
	// matching its tables by name (union.go) makes its union again from
	// them when one changes.
	schemas map[string]*connectors.TableSchema
	order   []string
	// defaultPK is the primary key the upsert key was made of when the
	// file gives no KEY: a table that joins later must have the same.
	defaultPK []string
}

// StaleTable is a table a pipeline binds to only as its checkpoint has it
// (Pipeline.Stale).
type StaleTable struct {
	Ref connectors.TableRef
	// Errs are the errors of binding the pipeline to the table as the
	// server has it now, each at its place in the file.
	Errs lang.Errors
	// Gone are the columns the checkpoint's table has and the server's
	// has not (dropped or renamed since).
	Gone []string
}

// Column is a named, typed output column.
type Column struct {
	Name     string
	Type     arrow.DataType
	Nullable bool
	Source   string // type text for display, e.g. "DECIMAL(12,2)"
	// Meta is the sink field metadata: a column passed through from the
	// source (or its before image) keeps exec.MetaSourceType and
	// exec.MetaLogicalType, so formats can name the source column's type
	// (canal_json's mysqlType); a computed column has its type's logical
	// metadata only.
	Meta arrow.Metadata
	// Before says the column is computed from the source table's columns
	// alone (their current values), so the same expression over the before
	// image gives its old value. A changelog target keeps those old values
	// (ClickHouse _before_<name>); a metadata column (_op, _ts, _version …)
	// or an expression of before.* values has none.
	Before bool
	// Pos and EndPos are where the TRANSFORM item that gives the column is
	// written (the `*` for the columns it gives); zero when no item is
	// written (no TRANSFORM), or the column came from a later table of a
	// union.
	Pos, EndPos lang.Pos
}

// TablePlan is the bound dataflow of one source table in a pipeline.
type TablePlan struct {
	Ref connectors.TableRef
	// Input is the schema of the source batches for this table.
	Input *arrow.Schema
	// Where is nil when the pipeline has no WHERE.
	Where exec.Expr
	// Outputs evaluate the output columns over the after image (or the
	// deleted row for deletes).
	Outputs []exec.Expr
	// BeforeOutputs evaluate the same outputs over the before image; nil
	// when the mode and format do not need them.
	BeforeOutputs []exec.Expr
	// KeyIndex are the indices in Outputs of the KEY columns.
	KeyIndex []int
	// Output are this table's output columns and Sink the schema of its
	// sink batches (outputs, exec.Sys* columns, before values). They equal
	// the pipeline's unless the table's schema evolved while streaming.
	// BeforeIndex lists, in order, the outputs whose before values follow
	// the system columns as __before.<name>.
	Output      []Column
	Sink        *arrow.Schema
	BeforeIndex []int
	// Lacks are the output columns of a union (a pattern or list read
	// with `*`) this table does not have (never had, or dropped): NULL
	// for its rows.
	Lacks []string
	// Own, for a table of a pipeline that reads several tables into one
	// output, is what of the output is the table's (its Lacks, its key):
	// the engine hands it with each sink batch (exec.Batch.Own), so that
	// canal_json and debezium_json describe the table's own row.
	Own *exec.OwnColumns
	// ownKey are the table's primary key columns its outputs pass
	// through (passedKey).
	ownKey []string

	// names are the output names the table's own TRANSFORM gives, before
	// alignTable puts them in the order of a union output (union.go).
	names []string
}

// BeforeReads returns the columns of the table whose before values (an
// update's before image) the dataflow reads: those its WHERE and outputs
// read as before.x (changed(x) among them), the key's (an upsert's old
// key: its moved or failed keys) and those of the before values the sink
// shows (a changelog's __before.* columns, canal_json's and
// debezium_json's whole images). A source may leave the other before.*
// values NULL (connectors.BeforeCols).
func (t *TablePlan) BeforeReads() []string {
	es := append([]exec.Expr{t.Where}, t.Outputs...)
	if len(t.BeforeOutputs) == len(t.Outputs) {
		for _, k := range t.KeyIndex {
			es = append(es, t.BeforeOutputs[k])
		}
		for _, i := range t.BeforeIndex {
			es = append(es, t.BeforeOutputs[i])
		}
	} else {
		es = append(es, t.BeforeOutputs...)
	}
	var out []string
	for _, name := range exec.ColumnsRead(es...) {
		if c, ok := strings.CutPrefix(name, exec.BeforePrefix); ok {
			out = append(out, c)
		}
	}
	return out
}

// ModeText names the pipeline's mode for people: "upsert", or, when the
// mode depends on a source table that was not resolved, "upsert (append
// if the table has no primary key)".
func (p *Pipeline) ModeText() string {
	if p.ModeUnresolved && p.Target.Mode == connectors.ModeUpsert {
		return "upsert (append if the table has no primary key)"
	}
	return p.Target.Mode.String()
}

// Span is where something is written in the file.
type Span struct{ Pos, EndPos lang.Pos }
