// Package connectors holds the contract between the runtime and the sources
// and sinks, and the registry they add themselves to from init().
//
// Sources and sinks never import the planner: they see Arrow schemas and
// exec.Batch values only.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
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

// Phrase is the type with its article, as messages name what an option
// takes: "an integer", "a duration such as '500ms'".
func (t OptionType) Phrase() string { return wants[t] }

// Option describes one WITH option of a connector or pipeline.
type Option struct {
	Name    string
	Type    OptionType
	Default any      // nil: no default
	Enum    []string // allowed values for OptString, when limited
	// Min and Max bound an OptInt value (both included) when Max > Min;
	// `etlq check` refuses a value outside, as the connector would.
	Min, Max int64
	Doc      string
	// Secret marks a value that is never printed: messages, logs and
	// `etlq plan` show it masked (see docs/security.md).
	Secret bool
	// Check, when set, refuses a string value the connector cannot take
	// (a list it parses, say): ParseOptions fails with `option "x": …`,
	// and `etlq check` reports it at the value in the file, as it does
	// a value outside an Enum — not at the DSN where making the
	// connector would fail.
	Check func(string) error `json:"-"`
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
	// CheckTarget, when set, refuses a target written in INTO kind '…'
	// (with no CREATE SINK) that no Open could take (INTO http 'ftp://…'):
	// the planner reports it at INTO, offline too, beside the pipeline's
	// other errors.
	CheckTarget func(target string) error `json:"-"`
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
	// Never: a pipeline follows the table with SNAPSHOT never, whatever
	// Snapshot (the modes of its pipelines merged) is. It takes no
	// snapshot, so the changes of a binlog gap are lost to it, and the
	// truncate that begins the gap's new snapshot is none of its
	// (exec.Batch.Gap).
	Never bool
	// RowCopy: every pipeline reading the table can take an online
	// schema-change tool's copy of it as rows (exec.RowCopy) and swap it in
	// at the cut-over, instead of a snapshot of the new table
	// (docs/live-tables.md, "Online schema changes").
	RowCopy bool
	// CopySwapped: the targets already hold the swapped copy of the table
	// (a run stopped between the swap and the checkpoint after it): the
	// table's and its copy's rows up to the cut-over are not sent again.
	CopySwapped bool
	// Before limits the before.* values of the table's updates to those
	// its pipelines read (the zero value: all).
	Before BeforeCols
	// Upsert: a pipeline reading the table writes an upsert target,
	// whose rows a type change the target follows with a column of a
	// type that holds both leaves in the old type's representation
	// unless the table is read again (docs/schema-changes.md, "Type
	// changes that are no widening").
	Upsert bool
	// SwappedAt is the source's position (exec.RowCopy.At) of a swap of
	// the table's copies that an earlier run made and no checkpoint is
	// known to have passed ("" when none). Rebuilt says it ended a rebuild
	// (a type change read again into every target's copy: exec.RowCopy
	// with Of the table itself), and that every pipeline reading the table
	// noted it: the targets hold the table as of SwappedAt (or the copy
	// to swap in does). A source resumed before SwappedAt then sends
	// none of the table's rows up to it and the swap again there (with
	// At); in every case it sends a RowCopyPassed (with At) once past it,
	// after which the engine forgets the swap.
	SwappedAt string
	Rebuilt   bool
	// Rebuild: a type change the targets cannot follow in place may
	// rebuild the table (connectors/mysql/rebuild.go) although RowCopy is
	// false: some pipelines reading it take the copy, and the others
	// (those that cannot) read only NoCopyColumns; a change of none of
	// these rebuilds the copiers' targets, while the others go on with
	// the table's changes and get none of its re-read rows.
	Rebuild bool
	// NoCopyColumns are the source columns read by the pipelines of the
	// table that take no copy (with Rebuild).
	NoCopyColumns []string
}

// StreamPattern is a table pattern a stream follows: DB and Table, either
// or both a glob (`*`, `?`; MatchRef). A table that comes to match it while the stream
// runs (CREATE TABLE, RENAME TABLE … TO) joins the stream with Snapshot's
// mode; the tables matching it when the stream opens are in Tables.
type StreamPattern struct {
	DB, Table string
	Snapshot  SnapshotMode
	// Upsert: a pipeline with this pattern writes an upsert target
	// (StreamTable.Upsert).
	Upsert bool
	// Before limits the before.* values of its tables' updates
	// (StreamTable.Before).
	Before BeforeCols
}

// BeforeCols says which before.* values of a table's updates the
// pipelines reading it read (StreamRequest.Before must be set). The zero
// value is every column's.
type BeforeCols struct {
	// Some: only the before values of the table's primary key columns
	// (whatever they are at the update's schema version) and of Cols
	// are read; the source may leave the other before.* values NULL,
	// sparing the decoding of whole before images of wide tables.
	Some bool
	// Cols names the columns (any case) whose before values are read
	// besides the primary key's.
	Cols []string
}

// Union returns the before values that b or o reads.
func (b BeforeCols) Union(o BeforeCols) BeforeCols {
	if !b.Some || !o.Some {
		return BeforeCols{}
	}
	out := BeforeCols{Some: true, Cols: append([]string(nil), b.Cols...)}
	for _, c := range o.Cols {
		if !slices.ContainsFunc(out.Cols, func(x string) bool { return strings.EqualFold(x, c) }) {
			out.Cols = append(out.Cols, c)
		}
	}
	return out
}

// Reads reports whether the before value of column name, a primary key
// column when pk, is read.
func (b BeforeCols) Reads(name string, pk bool) bool {
	return !b.Some || pk || slices.ContainsFunc(b.Cols, func(x string) bool { return strings.EqualFold(x, name) })
}

// HelperTable reports whether a table name is an online schema-change
// tool's helper: gh-ost's ghost copy, changelog, checkpoint (--checkpoint)
// and swapped-out table (_t_gho, _t_ghc, _t_ghk, _t_del, also
// _t_20240102150405_del of --timestamp-old-table and _t_rev_del of
// --revert; with --force-table-names=foo, _foo_gho …) and
// pt-online-schema-change's copy and old table (_t_new, _t_old, with up to
// ten underscores in front). A table pattern never matches one, so that
// their rows never reach a target. A copy pt-online-schema-change names
// with --new-table-name is recognized by the tool's triggers instead
// (connectors/mysql, lifecycle.go).
func HelperTable(name string) bool {
	if len(name) < 6 || name[0] != '_' {
		return false
	}
	for _, suf := range []string{"_gho", "_ghc", "_ghk", "_del", "_new", "_old"} {
		if len(name) > len(suf)+1 && name[len(name)-len(suf):] == suf {
			return true
		}
	}
	return false
}

// MatchTable reports whether table name matches the glob pattern of a
// FROM clause (`*`, `?`, as path.Match): a pattern with glob characters
// never matches a HelperTable.
func MatchTable(pattern, name string) (bool, error) {
	ok, err := path.Match(pattern, name)
	if err != nil || !ok {
		return false, err
	}
	if strings.ContainsAny(pattern, "*?[") && HelperTable(name) {
		return false, nil
	}
	return true, nil
}

// SystemDatabases are the server's own databases (and etlq's, of its
// watermark table), which a pattern in the database part of a FROM name
// never matches.
var SystemDatabases = []string{"information_schema", "mysql", "performance_schema", "sys", "etlq"}

// IsPattern reports whether a name of a FROM clause (its database or its
// table part) is a glob pattern.
func IsPattern(name string) bool { return strings.ContainsAny(name, "*?[") }

// MatchRef reports whether table ref matches pat, a FROM name whose
// database part, table part or both may be patterns: the table part as
// MatchTable, the database part as path.Match, which as a pattern never
// matches SystemDatabases. A database per tenant (`FROM binlog
// tenant_*.orders`) is followed as tables under a pattern are: a tenant
// created while the stream runs joins it.
func MatchRef(pat, ref TableRef) bool {
	if ok, _ := MatchTable(pat.Table, ref.Table); !ok {
		return false
	}
	if !IsPattern(pat.DB) {
		ok, _ := path.Match(pat.DB, ref.DB)
		return ok
	}
	for _, d := range SystemDatabases {
		if strings.EqualFold(d, ref.DB) {
			return false
		}
	}
	ok, _ := path.Match(pat.DB, ref.DB)
	return ok
}

// StreamRequest asks a source for one change stream over several tables.
type StreamRequest struct {
	Tables []StreamTable
	// Patterns are followed for tables that appear while the stream runs.
	Patterns []StreamPattern
	// Resume is the State of the last durable exec.Mark, or nil to start fresh.
	Resume []byte
	// Once: stop (Next returns io.EOF) after the snapshots and after the binlog
	// position that was current when the stream was opened.
	Once bool
	// Before asks for the before.* columns.
	Before bool
	// BatchRows caps rows per batch (0: source default).
	BatchRows int
	// BatchBytes caps the row data per batch (0: source default), so
	// that batches of wide rows or large values stay as small in memory
	// as batches of narrow ones.
	BatchBytes int
	// Options are the pipeline's WITH options the source understands
	// (snapshot_parallelism, chunk_rows, start_at, schema_changes, …).
	Options map[string]any
	// VersionFloor is one more than the largest _version the targets
	// already hold (0: unknown). Every version the stream assigns is at
	// least VersionFloor: when its own counter (a checkpoint's) is below,
	// it starts again above the floor and the wall clock (unix µs << 10).
	// A state directory restored from an older copy, or lost and found
	// again, then cannot make versions go backwards (docs/architecture.md,
	// "Versions").
	VersionFloor uint64
	// Instance names the process the stream is for, uniquely among those
	// that may read the same source at once and stably across restarts:
	// the host and the absolute state directory ("" when unknown). A
	// source derives ids from it, such as a replica server_id.
	Instance string
	// Alone, when set, names the one pipeline the stream is opened for: a
	// pipeline that stopped while the others of its source went on, and
	// that resumes from its own checkpoint (docs/live-tables.md, "One
	// failing pipeline"). The process then reads the source twice at
	// once, so this stream must not share the source's replica identity
	// (a MySQL server_id, set or derived).
	Alone string
	// Until, when set, is a mark state of this source (a checkpoint of
	// the same stream of changes, at a transaction boundary at or after
	// Resume): the stream ends (Next returns io.EOF) at that position,
	// its last batch carrying a Mark exactly there, and reads nothing
	// past it. A pipeline that stopped alone catches up with the source's
	// checkpoint this way before it rejoins the source's stream
	// (docs/live-tables.md, "One failing pipeline"; MarkJoiner).
	Until []byte
	// LogSnapshots asks the stream to log, at INFO, when a table's
	// snapshot starts and ends (rows, duration, rate) and when the whole
	// snapshot ends and the binlog follows (its position): the facts a
	// progress display shows, for a run without one (a service, a
	// container, output to a file). Small tables are summed up in the
	// last line rather than logged one by one (docs/operations.md).
	LogSnapshots bool
}

// MarkJoiner is a Source whose checkpoints of one stream of changes can be
// ordered and joined: what lets a pipeline that stopped alone rejoin the
// source's single stream (exec/engine, rejoin.go).
type MarkJoiner interface {
	// CompareMarks orders the positions of mark states a and b (-1, 0,
	// 1), or fails when they cannot be ordered (taken on different
	// servers, a snapshot in progress in either).
	CompareMarks(a, b []byte) (int, error)
	// JoinMarks returns into, a mark state at the same position as from,
	// also holding what from keeps of the tables into does not stream
	// (their schema history, their snapshot progress), so that a stream
	// resumed from it streams both marks' tables as each would have.
	JoinMarks(into, from []byte) ([]byte, error)
	// ForgetTables returns mark state m without what it keeps of tables
	// (their schema history, their snapshot progress): a stream resumed
	// from it takes them as tables new to it (their schema of now, their
	// changes from the position it reads the schema at). A stopped
	// pipeline whose tables are read again (etlq resnapshot) rejoins so,
	// without its stale history of them.
	ForgetTables(m []byte, tables []TableRef) ([]byte, error)
}

// Progress reports a table's snapshot progress.
type Progress struct {
	Ref       TableRef
	RowsDone  int64
	RowsTotal int64 // an estimate
	// Estimated: RowsTotal was estimated, a snapshot of the table planned
	// in this run; otherwise (SNAPSHOT never, a snapshot done before this
	// run) RowsTotal is 0 and means nothing.
	Estimated bool
	Done      bool
}

// ErrPositionLost is matched (errors.Is) by a stream's error when the
// position it reads from is gone from the source: a binary log purged on
// the server while the stream could not read it (its connection lost, or
// it was behind). The changes after that position are lost; a run that
// resumes from its checkpoint takes the source's on_binlog_gap.
var ErrPositionLost = errors.New("the source no longer has the stream's position")

// GapReason is what an ErrPositionLost error says was lost, without its
// advice to set on_binlog_gap = 'resnapshot' or to start again: what a run
// that takes the new snapshot by itself logs as the reason (it quoted the
// whole error, which told the operator to set the option already set).
// Other errors: their text.
func GapReason(err error) string {
	var g interface{ GapReason() string }
	if errors.As(err, &g) {
		return g.GapReason()
	}
	return err.Error()
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

// Reconnecter is a Stream that counts its reconnects to the source after
// a lost connection, for the metrics.
type Reconnecter interface {
	Reconnects() int64
}

// Acker is a Stream told when a Mark it sent is durable: every batch up to
// the one that carried it is acknowledged by its sinks. The engine calls it
// after the Mark is checkpointed. A stream that reads a log
// (connectors/natslog) acknowledges the log's messages there.
type Acker interface {
	Acked(m *exec.Mark)
}

// Starter is a Stream that can say, before it sends anything, where it
// starts (nil: nowhere worth keeping). The engine checkpoints that Mark
// before it writes a row, so that a crash before the first acknowledged
// batch resumes there instead of starting anew later — which would miss the
// changes in between, such as the delete of a row already written.
type Starter interface {
	StartMark() *exec.Mark
}

// CounterRaiser is a Stream resumed from a checkpoint whose version
// counter starts above the checkpoint's: the targets hold larger versions
// (StreamRequest.VersionFloor), or a resumed snapshot starts above the
// wall clock. RaisedMark returns the checkpoint's Mark with only the
// counter changed to where it starts — position, schemas and snapshot
// progress as they were (nil: the counter was not raised). The engine
// checkpoints it before a row is written: the checkpoint's counter, which
// etlq verify compares the targets' versions with, is then above them at
// once, instead of after the next change at the source (on an idle
// source, never). A crash after it resumes at the same position, above
// every version the targets held at the start; what this run wrote after
// it gets the same versions again when replayed, or larger ones when the
// targets show it (docs/architecture.md, "Versions").
type CounterRaiser interface {
	RaisedMark() *exec.Mark
}

// VersionStarter is a Stream that can say, before it sends anything, the
// smallest _version it will stamp (0: it cannot). The log's capture
// publishes it at a new stream's start, so that a group's first worker
// fixes its version lift without waiting for the first row
// (connectors/natslog, floor.go): a source whose tables are all empty
// sends none.
type VersionStarter interface {
	FirstVersion() uint64
}

// Resnapshotter is a Stream that can read a table again while it streams
// (`etlq resnapshot`): the rows of r.Table that r.Where selects, read in
// chunks placed in the stream like any snapshot's, after the position
// where the stream takes the request, without pausing the other tables.
// The chunks' batches carry exec.Batch.Only = r.Pipeline; when the last
// is sent, a batch with exec.Batch.Resnapshot follows (with Err set when
// the request could not be carried out). Resnapshot checks r (the table,
// the WHERE) and queues it; it may be called while Next runs.
type Resnapshotter interface {
	Resnapshot(ctx context.Context, r Resnapshot) error
}

// Resnapshot is one request to read a table again.
type Resnapshot struct {
	ID       string // the request's name, given back in exec.ResnapshotEnd
	Pipeline string
	Table    TableRef
	// Where is an SQL condition on the source table's columns; "" reads
	// the whole table.
	Where string
	// Rebuild: the pipeline's target has a column whose type the rows
	// cannot be written into (connectors.TargetMismatcher): the table
	// is rebuilt instead of read again in place — read into a copy of
	// its targets with the types of now and swapped in, as after a type
	// change (connectors/mysql/rebuild.go).
	Rebuild bool
}

// StreamChecker is a Source that can say, without opening a stream or
// reading a row, why Open would refuse req on the server as it is now (the
// binary log off, say): `etlq check` reports it before anything runs.
type StreamChecker interface {
	CheckStream(ctx context.Context, req StreamRequest) error
}

// ForeignKeyReader is a Source that can list the foreign keys of tables
// whose actions (ON DELETE / ON UPDATE CASCADE, SET NULL, SET DEFAULT)
// change rows of them without a row event in the binary log: `etlq
// check` and `apply` warn of each for the pipelines that read such a
// child table (docs/architecture.md, "What the binlog does not show").
type ForeignKeyReader interface {
	ForeignKeyActions(ctx context.Context, tables []TableRef) ([]ForeignKeyAction, error)
}

// ForeignKeyAction is a foreign key of Child that references Parent
// with an action that changes Child's rows: OnDelete and OnUpdate are
// the rules as the server names them ("CASCADE", "SET NULL", …;
// "RESTRICT" and "NO ACTION" change nothing).
type ForeignKeyAction struct {
	Child, Parent TableRef
	Name          string
	Columns       []string // the child's columns
	// Referenced are the parent's columns the key refers to, in the
	// order of Columns (nil when the server did not say).
	Referenced         []string
	OnDelete, OnUpdate string
}

// ChangesRows reports whether a foreign key rule (as the server names it)
// changes the child's rows: CASCADE, SET NULL, SET DEFAULT.
func ChangesRows(rule string) bool {
	return rule == "CASCADE" || rule == "SET NULL" || rule == "SET DEFAULT"
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

// TargetMismatcher is a Sink that can name the columns of an existing
// target whose type the plan's output cannot be written into (and no
// schema change of apply's turns into one): "changed outside etlq", or a
// type change the target could not take. apply writes the pipeline's
// other rows; check reports the target as a problem.
type TargetMismatcher interface {
	Mismatches(ctx context.Context, t Target) ([]string, error)
}

// InsecureWarner is a Source or Sink whose settings weaken its connection's
// security (TLS that does not verify the server): each warning says what
// and what to give instead. check, plan and apply show them.
type InsecureWarner interface {
	InsecureWarnings() []string
}

// TargetInsecureWarner is a Sink whose targets' settings may weaken the
// security of what it sends (credentials over plain http), one target at
// a time.
type TargetInsecureWarner interface {
	InsecureTargetWarnings(t Target) []string
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

// MissingGrantsError is a source's refusal to stream that comes of
// privileges its user lacks: each is named with the GRANT that gives it,
// as `etlq check` names them, instead of the server's access-denied error
// alone (which names one of them at most).
type MissingGrantsError struct {
	Grants []MissingGrant
}

func (e *MissingGrantsError) Error() string {
	msgs := make([]string, len(e.Grants))
	for i, g := range e.Grants {
		msgs[i] = g.String()
	}
	return strings.Join(msgs, "; ")
}

// MarkSchemas is a Source whose mark states keep the schemas of the tables
// it streams (its schema history): a stream resumed from a mark decodes a
// table's changes with that schema until it meets the DDL that changed the
// table since. SchemaAt returns ref's schema as mark recorded it, nil when
// mark has none for ref (or none it is sure of).
type MarkSchemas interface {
	SchemaAt(mark []byte, ref TableRef) (*TableSchema, error)
}

// SnapshotMarker is a Source that can tell from a mark state whether the
// snapshot of a table has started (or ended) there: a stream resumed from
// it does not read the table again, whatever pipeline asks for a snapshot.
// The engine asks a resnapshot for a pipeline added to the file since the
// checkpoint, so that its target gets the table's rows too.
type SnapshotMarker interface {
	SnapshotStarted(mark []byte, ref TableRef) (bool, error)
}

// SnapshotEnder is a Source that can record in a mark state that the
// snapshots of tables ended: read apart from the mark's stream (the own
// scan of a SNAPSHOT only pipeline added to the file later, exec/engine
// ownscan.go), so that a stream resumed from it does not read them again
// for that pipeline. A table whose snapshot the mark has started or ended
// stays as it is.
type SnapshotEnder interface {
	EndSnapshots(mark []byte, refs []TableRef) ([]byte, error)
}

// TargetCreator is a Writer that can say whether opening it created its
// target (the table did not exist). A run that resumes from a checkpoint
// naming the pipeline then knows the target lost the rows written before
// (dropped outside etlq), and reads the pipeline's tables again.
type TargetCreator interface {
	CreatedTarget() bool
}

// ReadAgainer is a Writer that can be told, before any row, that its
// pipeline's WHERE, TRANSFORM, MODE or KEY changed in the file since the
// last run (an upsert pipeline's tables are then read again in full; a
// changelog, append or SNAPSHOT never target keeps the rows the old
// definition wrote): an output column its target lacks is then new to
// the definition, not dropped outside etlq, and is added — empty for the
// rows already there, until rows read again fill it — instead of
// refused.
type ReadAgainer interface {
	ReadingAgain()
}

// Source is a configured source (one CREATE SOURCE).
type Source interface {
	// Tables lists the tables whose database matches db and whose name
	// matches pattern, both path.Match patterns (* and ? globs; a \ escapes
	// the character after it, so a back-quoted `t?` is written t\?). A
	// pattern over databases leaves out the server's own (mysql,
	// information_schema, …).
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
	Schema *arrow.Schema
	Mode   Mode
	Key    []string
	// KeyGiven: the pipeline writes its KEY (…) in the file, or wrote one
	// in the state directory's last run (removed since: the key falls back
	// to the primary key by the file's edit; engine.MarkKeysRemoved);
	// otherwise Key is the source's primary key, which a DDL may change
	// under an existing target.
	KeyGiven bool
	// Edited: the pipeline's WHERE, TRANSFORM, MODE or KEY changed in
	// the file since the state directory's last run
	// (engine.MarkKeysRemoved): a sink names the columns of its target
	// the pipeline no longer writes (removed or renamed in TRANSFORM).
	Edited  bool
	Format  string         // stdout/file/http: table, jsonl, canal_json, …
	Options map[string]any // the pipeline's WITH options for this sink kind
	// Private: the rows are source rows set aside (a pipeline's dead
	// letters), as sensitive as the tables: a file sink creates the
	// file readable by its owner only (0600), as the state directory's
	// dead-letter files.
	Private bool
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
	// Close ends the writer; what is not durable then fails through its
	// done. It is idempotent. The runtime may call it from another
	// goroutine while a Write or Flush still waits for the target (a run
	// stopped while it is unreachable, docs/operations.md): Close must
	// then make them return.
	Close() error
}

// SchemaFollower is a Writer asked to follow a new batch schema (the
// target's DDL) before a batch of that schema is handed to it, when no
// earlier Write is queued in front of it: an error there is a change the
// target cannot take, and the pipeline stops alone ("One failing
// pipeline", docs/live-tables.md) instead of the whole source.
type SchemaFollower interface {
	Follow(ctx context.Context, schema *arrow.Schema) error
}

// RowChecker is a Writer that can tell, before a batch is written, which
// of its live rows it cannot take (a date outside its column's range, a
// NULL in a column that cannot hold one), each as an exec.RowError naming
// the row (its Row an index of b's record). Under on_error = 'skip' or
// 'dead_letter' the runtime leaves those rows out of the write, counting
// them (and writing their dead letters) instead of failing the write for
// them all; under 'fail' it does not ask.
type RowChecker interface {
	CheckRows(b *exec.Batch) []exec.RowError
}

// Version is etlq's version string ("dev" for a build from a checkout;
// cmd/etlq sets it from the build): what a format names as the producer
// of its messages (debezium_json's source.version).
var Version = "dev"

// RowRefuser is a Writer whose target may refuse rows for the data's sake
// after Write returned (an HTTP endpoint answering 400 or 422 to a
// request, 413 to a single row). Under on_error = 'skip' or 'dead_letter'
// the runtime calls OnRefused before the first Write; the writer then
// hands the rows its target refuses to handle, with the reason (each an
// exec.RowError whose Row is an index of b's record; b's Sel lists them),
// from its own goroutine and before it calls the done of their batch.
// When handle returns nil the rows count as handled (skipped, or their
// dead letters durable) and the batch is acknowledged with the rows the
// target took; when it returns an error the batch fails with it. Without
// a handler (on_error = 'fail') a refusal fails the batch with a
// DataError, as before.
type RowRefuser interface {
	OnRefused(handle func(ctx context.Context, b *exec.Batch, errs []exec.RowError) error)
}

// DataError is implemented by a Writer's write error that is the data's,
// not the target's: a value or a row the target refuses (ClickHouse: a
// date out of its range, a NULL in a column that is not Nullable), which
// no retry lets through. It is the pipeline's own error, as a row error of
// its transform is: the runtime stops that pipeline alone (docs/
// live-tables.md, "One failing pipeline"), where an outage of the target
// ends the run.
type DataError interface {
	error
	DataError()
}

// DataErrorFix is implemented by a DataError that knows how the pipeline
// it stopped is resumed, when that is not by fixing the pipeline's file
// (an HTTP endpoint that refused a request: fix what it refused, or the
// endpoint, then apply again).
type DataErrorFix interface {
	DataError
	Fix() string
}

// IsDataError reports whether err is, or wraps, a DataError.
func IsDataError(err error) bool {
	var de DataError
	return errors.As(err, &de)
}

// Idler is a Writer that holds rows back to write them in larger pieces
// (a ClickHouse insert): the runtime calls Idle when the stream has
// nothing more to read right now, so that what is held is written soon
// instead of when a flush interval runs out. Idle must not block; rows
// still coalesce while the stream is busy.
type Idler interface {
	Idle()
}

// Retrier is a Writer that retries failed writes by itself (a target that
// is unreachable for a while): Retries counts the attempts that failed and
// were tried again, for the metrics. A write that fails for good is
// reported through its done callback instead.
type Retrier interface {
	Retries() int64
}

// VersionReader is a Writer whose target keeps the _version column of the
// rows written to it (a ClickHouse upsert or changelog table): MaxVersion
// returns the largest one there, 0 when the target is empty. The runtime
// gives the stream a floor above it (StreamRequest.VersionFloor).
type VersionReader interface {
	MaxVersion(ctx context.Context) (uint64, error)
}

// FloorKeeper is a Stream that keeps StreamRequest.VersionFloor: every
// version it assigns is at or above it. A first run (no checkpoint) over
// targets that hold rows then tells its own rows from the older ones, and
// ends each table's snapshot by removing the older keys it did not read
// (docs/snapshot.md, "A new state directory over existing targets").
type FloorKeeper interface {
	KeepsVersionFloor()
}

// SnapshotFloorer is a Stream whose versions are all above a floor of its
// own, fixed when its reader first met the targets and kept across
// restarts (a log worker's group, docs/scale-out.md): every row the
// targets held then is below it. The end of each table's snapshot removes
// the table's rows older than it from an upsert target, as a first run
// over existing targets does (FloorKeeper), whether or not this run has a
// checkpoint: the snapshot may come to any worker of the group.
type SnapshotFloorer interface {
	SnapshotFloor() uint64
}

// Truncater is a Writer of an upsert target that can remove, in order with
// its writes, the rows that came from one source table (a TRUNCATE TABLE
// at the source): every key the target shows as live, restricted by
// Where, gets a tombstone of version Version, so that rows written later
// (of larger versions) win over it and rows written before lose.
type Truncater interface {
	// Truncate queues the removal after every earlier Write; done is called
	// once, in order with the Writes' callbacks, when it is durable or has
	// failed for good.
	Truncate(ctx context.Context, t Truncation, done func(error)) error
}

// RowCopier is a Sink that keeps an online schema-change tool's copy of a
// table apart, in a target no reader sees, and swaps it in at the
// cut-over (docs/live-tables.md, "Online schema changes"). t is always
// the table's own target.
type RowCopier interface {
	// CanCopy reports whether t's target can have a copy ("" when it can;
	// else why not).
	CanCopy(t Target) string
	// CopyTarget is the hidden target the copy of t's rows is written to.
	CopyTarget(t Target) Target
	// DropCopy removes the copy's target, if there is one.
	DropCopy(ctx context.Context, t Target) error
	// CopyExists reports whether the copy's target exists.
	CopyExists(ctx context.Context, t Target) (bool, error)
	// SwapCopy makes the copy t's target, in one step for its readers,
	// and removes what t held. Every write to both must be durable first.
	SwapCopy(ctx context.Context, t Target) error
}

// Truncation is one TRUNCATE of a source table as an upsert target sees it.
type Truncation struct {
	Table   TableRef // the source table
	Version uint64
	// Where restricts the removal to the rows whose output column (key)
	// holds the text (value): a pipeline reading several tables names
	// the one truncated by its _table (and _db) output columns. Empty:
	// every row of the target.
	Where map[string]string
	// Filter, when set, is an SQL condition on the target's columns that
	// further restricts the rows (a resnapshot's WHERE).
	Filter string
	// Older restricts the removal to the keys whose live row has a version
	// below Version: a resnapshot removes, once its rows are written, the
	// keys that neither it nor a later change wrote (rows deleted at the
	// source), and writes nothing for the others.
	Older bool
}

// Problem is something Sink.Plan finds about a target, for `etlq check`:
// a value the target cannot hold exactly, an existing table that differs.
type Problem struct {
	Msg string
	// ApplyActs: apply acts on it itself when it opens the target (an
	// existing table lacking columns: apply adds them, or refuses the
	// table). check prints it; apply's start does not log it as a warning
	// as well, since apply then logs what it did.
	ApplyActs bool
}

// FormatErr is a target's error that its FORMAT causes (a file that
// holds rows of another format): check places it at the FORMAT clause.
type FormatErr struct{ Err error }

func (e *FormatErr) Error() string { return e.Err.Error() }
func (e *FormatErr) Unwrap() error { return e.Err }

// Problems returns plain problems (apply does not act on them) of msgs.
func Problems(msgs ...string) []Problem {
	var ps []Problem
	for _, m := range msgs {
		ps = append(ps, Problem{Msg: m})
	}
	return ps
}

// Sink is a configured sink (one CREATE SINK, or an implicit stdout/file/http).
type Sink interface {
	// Plan returns the statements (DDL) that Open would run for t, for
	// `etlq plan`, and problems (such as a value the target cannot hold
	// exactly) for `etlq check`. It must not change anything.
	Plan(ctx context.Context, t Target) (ddl []string, problems []Problem, err error)
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
	s, err := r.make(name, dsn, opts)
	if err != nil {
		// nil, not a connector's typed nil (*clickhouse.Sink)(nil) that a
		// caller's "if s != nil { s.Close() }" would call
		return nil, err
	}
	return s, nil
}

// NewSink makes a sink of a registered kind.
func NewSink(kind, name, dsn string, opts map[string]any) (Sink, error) {
	mu.RLock()
	r, ok := sinks[kind]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown sink kind %q", kind)
	}
	s, err := r.make(name, dsn, opts)
	if err != nil {
		// nil, not a connector's typed nil (*clickhouse.Sink)(nil) that a
		// caller's "if s != nil { s.Close() }" would call
		return nil, err
	}
	return s, nil
}

// BeforeOf returns the before.* values of table ref's updates the
// stream's pipelines read: the table's own entry's, else those of the
// patterns it matches; all of them for a table the request does not name
// (an online schema-change tool's copy, say).
func (r *StreamRequest) BeforeOf(ref TableRef) BeforeCols {
	for _, t := range r.Tables {
		if t.Ref == ref {
			return t.Before
		}
	}
	var out BeforeCols
	seen := false
	for _, p := range r.Patterns {
		if !MatchRef(TableRef{DB: p.DB, Table: p.Table}, ref) {
			continue
		}
		if !seen {
			out, seen = p.Before, true
			continue
		}
		out = out.Union(p.Before)
	}
	return out
}
