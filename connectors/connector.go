// Package connectors holds the contract between the runtime and the sources
// and sinks, and the registry they add themselves to from init().
//
// Sources and sinks never import the planner: they see Arrow schemas and
// exec.Batch values only.
package connectors

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/exec"
)

// OptionType is the type of a WITH option value.
type OptionType int

// Option types.
const (
	OptString OptionType = iota
	OptInt
	OptBool
	OptDuration // a string such as '500ms'
)

func (t OptionType) String() string {
	return [...]string{"string", "integer", "boolean", "duration"}[t]
}

// Option describes one WITH option of a connector or pipeline.
type Option struct {
	Name    string
	Type    OptionType
	Default any      // nil: no default
	Enum    []string // allowed values for OptString, when limited
	Doc     string
	// Secret marks a value that is never printed: messages, logs and
	// `etlq plan` show it masked (see docs/security.md).
	Secret bool
}

// Spec describes a connector kind: its name in the language ("mysql",
// "clickhouse", "stdout", …) and its options. `etlq check` validates WITH
// clauses against it.
type Spec struct {
	Kind    string
	Doc     string
	Options []Option
	// TargetOptions are the options a pipeline may give for this sink kind in
	// its own WITH clause (order_by, engine, batch_rows, …).
	TargetOptions []Option
}

// Lookup returns the option named name, if any.
func (s *Spec) Lookup(name string) (Option, bool) {
	for _, o := range append(append([]Option(nil), s.Options...), s.TargetOptions...) {
		if o.Name == name {
			return o, true
		}
	}
	return Option{}, false
}

// TableRef names a source table.
type TableRef struct{ DB, Table string }

func (t TableRef) String() string { return t.DB + "." + t.Table }

// TableSchema is a source table's schema as Arrow fields (with the exec.Meta*
// metadata keys set) and its primary key column names, in key order.
type TableSchema struct {
	Ref        TableRef
	Fields     []arrow.Field
	PrimaryKey []string
}

// SnapshotMode says whether a table is scanned before its binlog is followed.
type SnapshotMode int

// Snapshot modes, as in the language.
const (
	SnapshotInitial SnapshotMode = iota
	SnapshotNever
	SnapshotOnly
)

// StreamTable is one table a stream delivers.
type StreamTable struct {
	Ref      TableRef
	Snapshot SnapshotMode
}

// StreamRequest asks a source for one change stream over several tables.
type StreamRequest struct {
	Tables []StreamTable
	// Resume is the State of the last durable exec.Mark, or nil to start fresh.
	Resume []byte
	// Once: stop (Next returns io.EOF) after the snapshots and after the binlog
	// position that was current when the stream was opened.
	Once bool
	// Before asks for the before.* columns.
	Before bool
	// BatchRows caps rows per batch (0: source default).
	BatchRows int
	// Options are the pipeline's WITH options the source understands
	// (snapshot_parallelism, chunk_rows, start_at, schema_changes, …).
	Options map[string]any
}

// Progress reports a table's snapshot progress.
type Progress struct {
	Ref       TableRef
	RowsDone  int64
	RowsTotal int64 // an estimate
	Done      bool
}

// Stream is an open change stream.
type Stream interface {
	// Next returns the next batch; the caller owns it. It returns io.EOF when a
	// Once or SnapshotOnly stream is complete. A batch whose Mark is set ends
	// at a transaction boundary.
	Next(ctx context.Context) (*exec.Batch, error)
	// Progress returns the snapshot progress of each table.
	Progress() []Progress
	// Lag returns how far behind the source the stream is, in seconds.
	Lag() float64
	Close() error
}

// Starter is a Stream that can say, before it sends anything, where it
// starts (nil: nowhere worth keeping). The engine checkpoints that Mark
// before it writes a row, so that a crash before the first acknowledged
// batch resumes there instead of starting anew later — which would miss the
// changes in between, such as the delete of a row already written.
type Starter interface {
	StartMark() *exec.Mark
}

// StreamChecker is a Source that can say, without opening a stream or
// reading a row, why Open would refuse req on the server as it is now (the
// binary log off, say): `etlq check` reports it before anything runs.
type StreamChecker interface {
	CheckStream(ctx context.Context, req StreamRequest) error
}

// SourceGrantChecker is a Source that can name the privileges its user
// lacks for req: `etlq check` reports each with the statement that grants
// it.
type SourceGrantChecker interface {
	MissingGrants(ctx context.Context, req StreamRequest) ([]MissingGrant, error)
}

// SinkGrantChecker is a Sink that can name the privileges its user lacks
// to create and write targets.
type SinkGrantChecker interface {
	MissingGrants(ctx context.Context, targets []Target) ([]MissingGrant, error)
}

// MissingGrant is a privilege the connecting user lacks: what it is
// needed for and the statement an administrator runs to grant it.
type MissingGrant struct {
	User      string // as the server names it, e.g. 'etl'@'%'
	Privilege string // e.g. "REPLICATION SLAVE"
	Why       string // e.g. "to read the binlog"
	Grant     string // what grants it, e.g. "GRANT REPLICATION SLAVE ON *.* TO 'etl'@'%';"
}

// String is "user 'etl'@'%' lacks X (why): GRANT …;".
func (g MissingGrant) String() string {
	return "user " + g.User + " lacks " + g.Privilege + " (" + g.Why + "): " + g.Grant
}

// Source is a configured source (one CREATE SOURCE).
type Source interface {
	// Tables lists the tables matching db and a glob pattern of table names.
	Tables(ctx context.Context, db, pattern string) ([]TableRef, error)
	// Describe returns a table's current schema.
	Describe(ctx context.Context, ref TableRef) (*TableSchema, error)
	// Open starts a stream. One stream per source serves every pipeline.
	Open(ctx context.Context, req StreamRequest) (Stream, error)
	Close() error
}

// Mode is a sink write mode.
type Mode int

// Sink modes, as in the language.
const (
	ModeAppend Mode = iota
	ModeUpsert
	ModeChangelog
)

func (m Mode) String() string { return [...]string{"append", "upsert", "changelog"}[m] }

// Target is what one pipeline writes into a sink.
type Target struct {
	Pipeline string
	// Name is the target inside the sink: "db.table" for ClickHouse, a path
	// for file, a URL for http; empty for stdout.
	Name string
	// Schema is the output schema: user columns then exec.Sys* columns.
	Schema  *arrow.Schema
	Mode    Mode
	Key     []string
	Format  string         // stdout/file/http: table, jsonl, canal_json, …
	Options map[string]any // the pipeline's WITH options for this sink kind
}

// Writer writes one pipeline's batches.
type Writer interface {
	// Write takes ownership of b. It may return before b is durable; done is
	// then called exactly once (from any goroutine) when b is durable or has
	// failed for good. Writes are acknowledged per batch; the runtime commits
	// only the highest contiguous acknowledged Mark.
	Write(ctx context.Context, b *exec.Batch, done func(error)) error
	// Flush blocks until every earlier Write has called done.
	Flush(ctx context.Context) error
	Close() error
}

// Sink is a configured sink (one CREATE SINK, or an implicit stdout/file/http).
type Sink interface {
	// Plan returns the statements (DDL) that Open would run for t, for
	// `etlq plan`, and problems (such as a value the target cannot hold
	// exactly) for `etlq check`. It must not change anything.
	Plan(ctx context.Context, t Target) (ddl []string, problems []string, err error)
	// Open prepares the target (creating or checking it) and returns a writer.
	Open(ctx context.Context, t Target) (Writer, error)
	Close() error
}

// SourceFactory makes a source from its DSN and WITH options.
type SourceFactory func(name, dsn string, opts map[string]any) (Source, error)

// SinkFactory makes a sink from its DSN (or target) and WITH options.
type SinkFactory func(name, dsn string, opts map[string]any) (Sink, error)

var (
	mu      sync.RWMutex
	sources = map[string]registeredSource{}
	sinks   = map[string]registeredSink{}
)

type registeredSource struct {
	spec Spec
	make SourceFactory
}

type registeredSink struct {
	spec Spec
	make SinkFactory
}

// RegisterSource adds a source kind. Call it from init().
func RegisterSource(spec Spec, f SourceFactory) {
	mu.Lock()
	defer mu.Unlock()
	sources[spec.Kind] = registeredSource{spec, f}
}

// RegisterSink adds a sink kind. Call it from init().
func RegisterSink(spec Spec, f SinkFactory) {
	mu.Lock()
	defer mu.Unlock()
	sinks[spec.Kind] = registeredSink{spec, f}
}

// SourceSpec returns the spec of a source kind.
func SourceSpec(kind string) (*Spec, bool) {
	mu.RLock()
	defer mu.RUnlock()
	r, ok := sources[kind]
	return &r.spec, ok
}

// SinkSpec returns the spec of a sink kind.
func SinkSpec(kind string) (*Spec, bool) {
	mu.RLock()
	defer mu.RUnlock()
	r, ok := sinks[kind]
	return &r.spec, ok
}

// SourceKinds lists the registered source kinds, sorted.
func SourceKinds() []string { return kinds(sources) }

// SinkKinds lists the registered sink kinds, sorted.
func SinkKinds() []string { return kinds(sinks) }

func kinds[V any](m map[string]V) []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// NewSource makes a source of a registered kind.
func NewSource(kind, name, dsn string, opts map[string]any) (Source, error) {
	mu.RLock()
	r, ok := sources[kind]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown source kind %q", kind)
	}
	return r.make(name, dsn, opts)
}

// NewSink makes a sink of a registered kind.
func NewSink(kind, name, dsn string, opts map[string]any) (Sink, error) {
	mu.RLock()
	r, ok := sinks[kind]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown sink kind %q", kind)
	}
	return r.make(name, dsn, opts)
}
