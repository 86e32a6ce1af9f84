// Package exec runs planned dataflows over Apache Arrow record batches.
//
// This file holds the contract every layer shares: what a change batch looks
// like when it leaves a source, and what a sink batch looks like when it
// reaches a sink.
package exec

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Metadata column names. A source batch carries them after the table's own
// columns; the language exposes them under the same names.
const (
	ColOp      = "_op"      // arrow.String: "insert", "update", "delete", "read"
	ColTs      = "_ts"      // arrow.Timestamp(µs, UTC): commit time (snapshot: read time)
	ColDB      = "_db"      // arrow.String
	ColTable   = "_table"   // arrow.String
	ColPos     = "_pos"     // arrow.String: "binlog.000042:1337" or a GTID
	ColVersion = "_version" // arrow.Uint64: strictly increasing over the stream
)

// MetaFields are the metadata columns every source batch ends with, in this
// order (the ColOp…ColVersion constants).
func MetaFields() []arrow.Field {
	return []arrow.Field{
		{Name: ColOp, Type: arrow.BinaryTypes.String},
		{Name: ColTs, Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: ColDB, Type: arrow.BinaryTypes.String},
		{Name: ColTable, Type: arrow.BinaryTypes.String},
		{Name: ColPos, Type: arrow.BinaryTypes.String},
		{Name: ColVersion, Type: arrow.PrimitiveTypes.Uint64},
	}
}

// numMeta is len(MetaFields()).
const numMeta = 6

// SourceSchema is the layout of a source batch of a table whose columns
// are cols: the columns, then (when before is set) their before-image
// copies (BeforePrefix, nullable), then MetaFields.
func SourceSchema(cols []arrow.Field, before bool) *arrow.Schema {
	fields := make([]arrow.Field, 0, 2*len(cols)+numMeta)
	fields = append(fields, cols...)
	if before {
		for _, f := range cols {
			f.Name = BeforePrefix + f.Name
			f.Nullable = true
			fields = append(fields, f)
		}
	}
	// (Interned: the tables of one layout share it, InternSchema.)
	return InternSchema(arrow.NewSchema(append(fields, MetaFields()...), nil))
}

// SourceLayout locates the parts of a source batch (SourceSchema): the
// table columns are fields [0, Columns), their before images (when Before)
// fields [Columns, 2*Columns), and Op…Version the metadata columns.
type SourceLayout struct {
	Columns int
	Before  bool

	Op, Ts, DB, Table, Pos, Version int
}

// LayoutOf locates the parts of a source batch schema. The metadata
// columns are the last ones, so that a table column of the same name
// (a MySQL column "_op") is never taken for one.
func LayoutOf(s *arrow.Schema) (SourceLayout, error) {
	n := s.NumFields() - numMeta
	if n < 0 {
		return SourceLayout{}, fmt.Errorf("source batch has %d columns, fewer than its %d metadata columns", s.NumFields(), numMeta)
	}
	for i, f := range MetaFields() {
		if got := s.Field(n + i); got.Name != f.Name {
			return SourceLayout{}, fmt.Errorf("source batch has %q where its metadata column %s belongs", got.Name, f.Name)
		}
	}
	l := SourceLayout{Columns: n, Op: n, Ts: n + 1, DB: n + 2, Table: n + 3, Pos: n + 4, Version: n + 5}
	if h := n / 2; n > 0 && n%2 == 0 && s.Field(h).Name == BeforePrefix+s.Field(0).Name {
		l.Columns, l.Before = h, true
	}
	return l, nil
}

// BeforePrefix names the before-image columns of a source batch:
// "before.amount" holds the value of "amount" before an update, and is NULL
// for inserts, deletes and snapshot reads.
const BeforePrefix = "before."

// Op values of the _op column.
const (
	OpInsert = "insert"
	OpUpdate = "update"
	OpDelete = "delete"
	OpRead   = "read"
	// OpTruncate is a batch of one row, all table columns NULL: the table
	// was emptied (TRUNCATE TABLE) at that position. Sinks in upsert mode
	// remove that table's rows; the other modes keep the change.
	OpTruncate = "truncate"
)

// Field metadata keys set by sources on table columns.
const (
	// MetaSourceType is the column's type as the source declares it,
	// lower case but for ENUM/SET members, which keep their case, e.g.
	// "decimal(12,2) unsigned", "datetime(6)", "enum('a','B')".
	MetaSourceType = "etlq.source_type"
	// MetaLogicalType refines an Arrow type where Arrow alone is ambiguous:
	// "json" (on String), "geometry" (on Binary), "time" (on Duration(µs)),
	// "year" (on Uint16), "bit" (on Uint64), "enum", "set", and MariaDB's
	// "uuid", "inet6", "inet4" (on String: the server's text).
	MetaLogicalType = "etlq.logical_type"
	// MetaEmbedJSON, "1" on a JSON column that is never NULL and never the
	// document null (the dead letter's row, which etlq builds), has jsonl
	// embed the document rather than write its text as a string.
	MetaEmbedJSON = "etlq.embed_json"
	// MetaPrimaryKey is "1..n" (1-based position in the primary key) on
	// primary key columns.
	MetaPrimaryKey = "etlq.pk"
	// MetaCollation is a text column's collation at the source
	// (utf8mb4_general_ci): how its values compare (docs/functions.md,
	// "Collations").
	MetaCollation = "etlq.collation"
	// MetaDefault is the column's DEFAULT as a SQL literal (42, 'text',
	// or an expression's text), when a DDL in the source's log gave it:
	// rows already in the target take it when the column is added there.
	MetaDefault = "etlq.default"
	// DefaultUnknown is the MetaDefault of a column whose DEFAULT the
	// source does not know: a schema rebuilt from the binlog's table map
	// (after a DDL it could not parse) has no defaults. A sink adding the
	// column cannot give the rows already there the source's value and
	// says so.
	DefaultUnknown = "etlq:unknown"
	// MetaRenamedFrom is the name a DDL renamed the column from: the
	// target keeps the values of rows already written under that name.
	MetaRenamedFrom = "etlq.renamed_from"
	// MetaAddedByDDL is "true" on a column a DDL added (or renamed) while
	// this stream ran, AddedByJoin on a column of a table that joined the
	// stream (CREATE TABLE, a RENAME TABLE to its name): a target that
	// lacks it adds it. A target lacking any other column lost it outside
	// etlq.
	MetaAddedByDDL = "etlq.added_by_ddl"
	// AddedByJoin is MetaAddedByDDL's value on a column of a table that
	// joined the stream: the rows a target holds already are not the new
	// table's (an upsert target loses them with the truncate of the table
	// that left), so none needs the column's DEFAULT.
	AddedByJoin = "joined"
	// MetaAddedAt is, on a column marked MetaAddedByDDL "true", the
	// _version from which the stream's rows carry it: every row before
	// the DDL has a smaller version. A target that has the column already
	// (left from an earlier DROP COLUMN of the same name) fills its rows
	// older than that version with the DEFAULT, as MySQL's rows hold it.
	MetaAddedAt = "etlq.added_at"
	// MetaDDLTable is the table (db.table) whose DDL MetaDefault and
	// MetaRenamedFrom belong to, on a column of a pipeline over several
	// tables: only that table's rows already in the target take them.
	MetaDDLTable = "etlq.ddl_table"
	// MetaRoundedFrom is the type a DDL narrowed the column from (fewer
	// fraction digits, DOUBLE to FLOAT): the source rounded the rows
	// already there, which a target written before cannot follow.
	MetaRoundedFrom = "etlq.rounded_from"
)

// Sink batch system columns. The planner appends these after the user's
// output columns; sinks read them by name and never show them as user data.
// SysVersion, SysDeleted, SysOp, SysTs and SysPos are always present; the
// SysBeforePrefix columns are present in changelog mode and for the
// canal_json and debezium_json formats. The source table of the rows is in
// Batch.DB and Batch.Table.
const (
	SysVersion = "__version" // arrow.Uint64, never NULL
	SysDeleted = "__deleted" // arrow.Uint8: 1 = tombstone for the key (upsert), 0 otherwise
	SysOp      = "__op"      // arrow.String: insert/update/delete/read
	SysTs      = "__ts"      // arrow.Timestamp(µs, UTC): commit time
	SysPos     = "__pos"     // arrow.String: source position
	// SysBeforePrefix prefixes, in changelog mode, the output columns
	// evaluated on the before image: "__before.amount".
	SysBeforePrefix = "__before."
)

// SysFields are the system columns every sink batch has after the output
// columns, in this order (the SysBeforePrefix columns follow them).
func SysFields() []arrow.Field {
	return []arrow.Field{
		{Name: SysVersion, Type: arrow.PrimitiveTypes.Uint64},
		{Name: SysDeleted, Type: arrow.PrimitiveTypes.Uint8},
		{Name: SysOp, Type: arrow.BinaryTypes.String},
		{Name: SysTs, Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: SysPos, Type: arrow.BinaryTypes.String},
	}
}

// IsSystemColumn reports whether a sink batch column is a system column
// (Sys*), never shown as user data.
func IsSystemColumn(name string) bool {
	switch name {
	case SysVersion, SysDeleted, SysOp, SysTs, SysPos:
		return true
	}
	return strings.HasPrefix(name, SysBeforePrefix)
}

// Target column names: how the sinks that store changes as rows (ClickHouse
// tables, the row formats of the stream sinks) name the system columns.
const (
	TargetVersion      = "_version"    // SysVersion (upsert, changelog)
	TargetIsDeleted    = "_is_deleted" // SysDeleted (upsert)
	TargetOp           = "_op"         // SysOp (changelog)
	TargetTs           = "_ts"         // SysTs (changelog)
	TargetPos          = "_pos"        // SysPos (changelog)
	TargetBeforePrefix = "_before_"    // SysBeforePrefix (changelog)
)

// Batch is a unit of data flowing between operators.
//
// Ownership: whoever receives a *Batch owns it and must call Release exactly
// once (directly, or by handing it on to someone who does) — but for a
// batch an Operator's Next returns, which stays the operator's until its
// next Next or Close (Operator; the caller retains the record to keep it).
// A Batch never holds more than one table's rows.
type Batch struct {
	// Record holds the rows. For a source batch its columns are the table's
	// columns in table order, then (when requested) the before.* columns in the
	// same order, then the metadata columns ColOp…ColVersion.
	Record arrow.RecordBatch
	// Sel, when non-nil, lists (ascending) the row indices that are live; rows
	// not listed are filtered out. nil means every row is live.
	Sel []int32
	// DB and Table name the source table of every row.
	DB, Table string
	// Snapshot is true when every row comes from a snapshot scan (_op = read).
	Snapshot bool
	// SnapshotStart and SnapshotEnd, on a snapshot batch, say that its
	// first (last) live row is the first (last) snapshot row of its table, or
	// of every table its stream snapshots: Debezium's source.snapshot
	// "first_in_data_collection" and "first" ("last_in_data_collection",
	// "last").
	SnapshotStart, SnapshotEnd SnapshotEdge
	// SnapshotLeft, on a snapshot batch, is about how many rows its
	// stream's snapshot has still to read after the batch's chunk (of
	// every table it snapshots; the tables' row estimates count where they
	// were not counted); 0 when the source does not know. A hint only: a
	// ClickHouse writer ends its long INSERT of a snapshot once it holds as
	// many rows as are still to come, so that the part ClickHouse writes
	// after the last row read is small.
	SnapshotLeft int64
	// ServerID and GTID, on a binlog batch (whose rows all belong to one
	// transaction), are the id of the server that wrote the transaction and
	// its GTID ("" when it has none): Debezium's source.server_id and gtid.
	ServerID uint32
	GTID     string
	// Thread, on a binlog batch, is the id of the session (connection
	// thread) that ran the transaction, from its BEGIN query event; 0 when
	// the binlog does not say (MariaDB writes no BEGIN: its GTID event
	// starts the transaction): Debezium's source.thread.
	Thread uint32
	// EventRows, on a binlog batch, holds each record row's place among
	// the rows of its binlog event (Debezium's source.row) where counting
	// does not give it; nil means that a row's place is the number of
	// rows right before it in the record with the same _pos
	// (CountEventRows), as in a batch of whole events. A batch that
	// begins in the middle of an event (cut at the source's batch size)
	// has it, and so has a sink batch whose WHERE left rows out.
	EventRows []int32
	// Chunk, on a snapshot batch, tells the snapshot chunks of its stream
	// apart (a table's rows read with one SELECT: chunk_rows rows of its
	// key order): the batches of one chunk carry the same Chunk, another
	// chunk's another; 0 when the source does not say. A chunk goes out in
	// several batches (8,192 rows at most by default), and other chunks'
	// batches may come between them. etlq verify counts chunks by it.
	Chunk uint64
	// Only, when set, names the one pipeline that takes the batch: the
	// rows of a resnapshot that pipeline asked for (connectors.Resnapshotter).
	Only string
	// Resnapshot, when set, says that the resnapshot it names sent its last
	// row (the batch has no rows).
	Resnapshot *ResnapshotEnd
	// Gap marks the truncate change that begins the new snapshot of a
	// table after a binlog gap (on_binlog_gap = 'resnapshot'): a SNAPSHOT
	// never pipeline, which takes no snapshot, does not take it either.
	Gap bool
	// Copy marks one of several copies of a table-wide event, a truncate
	// that a log delivers in each of its partitions so that every worker
	// meets it in order with its rows (docs/scale-out.md): an upsert
	// target applies each copy (the same tombstones again), a target that
	// keeps the change as a row skips the copies and takes the original.
	Copy bool
	// RowCopy, when set, says that the batch belongs to an online
	// schema-change tool's copy of table RowCopy.Of (same DB): Table names
	// the tool's helper table (gh-ost's _t_gho, pt-online-schema-change's
	// _t_new), whose rows the targets keep apart until the cut-over.
	RowCopy *RowCopy
	// Own, on a sink batch of a pipeline that reads several tables into
	// one output (their union), says which output columns are its table's:
	// formats that describe one table's row (canal_json, debezium_json)
	// show those alone, and its key. nil: every output column is the
	// table's (a pipeline over one table).
	Own *OwnColumns
	// Mark, when non-nil, says that once this batch and every batch before it
	// is durable at the sink, the source can resume from Mark. Sources set it
	// only at transaction boundaries.
	Mark *Mark
}

// OwnColumns are what of a union's output one table has (Batch.Own).
type OwnColumns struct {
	// Lacks are the output columns the table does not have (NULL in its
	// rows).
	Lacks []string
	// Key are the table's primary key columns the output passes through,
	// in key order; none when it does not pass them all.
	Key []string
}

// RowCopyStep is what a RowCopy batch says.
type RowCopyStep int

const (
	// RowCopyRows: the copy's changes (or a batch without rows in its new
	// schema).
	RowCopyRows RowCopyStep = iota
	// RowCopyStart: the copy was created, empty, at this position.
	RowCopyStart
	// RowCopySwap: the copy took the table's name at this position: it
	// replaces the table in the targets.
	RowCopySwap
	// RowCopyDrop: the copy is no longer followed at this position (the
	// tool dropped it, giving the migration up, or etlq lost its schema):
	// the targets drop what they kept of it.
	RowCopyDrop
	// RowCopyPassed: the stream passed At, the position of a swap an
	// earlier run made (connectors.StreamTable.SwappedAt): once a
	// checkpoint covers this batch, what the targets kept to know of that
	// swap across a restart (the engine's swap files) is of no more use.
	RowCopyPassed
)

// RowCopy names the table a batch of a tool's copy belongs to.
type RowCopy struct {
	Of   string
	Step RowCopyStep
	// At, on a RowCopySwap and a RowCopyPassed, is the source's position of
	// the swap (opaque to all but the source, "" when it has none): the
	// engine keeps it with the swap so that a restart can tell the source
	// whether its checkpoint is before the swap.
	At string
}

// ResnapshotEnd ends a resnapshot (connectors.Resnapshotter) of the table
// its batch names.
type ResnapshotEnd struct {
	ID, Pipeline, Where string
	// Version is below every version of the resnapshot's rows and of the
	// changes after the position where it began, and above every version
	// before: a key of the range whose live row is older was neither read
	// again nor changed since, so it is no longer at the source.
	Version uint64
	// Err says why the resnapshot was not carried out ("": it was).
	Err string
	// Gone (with Err): the table is not in the stream, or left it
	// (dropped, renamed away) while it was read again: its rows left the
	// targets with it, and no re-read of it can be made. Version is then
	// one above the table's rows the stream sent: a target that missed
	// the table's leaving (a pipeline stopped then, which rejoined
	// without catching the table up) loses the rows it keeps by it.
	Gone bool
	// Rebuilt: the table was rebuilt for the request (read again into
	// a copy of the targets, swapped in: connectors.Resnapshot.Rebuild),
	// so no older row is left to remove.
	Rebuilt bool
}

// SnapshotEdge marks a batch that begins or ends a snapshot
// (Batch.SnapshotStart, Batch.SnapshotEnd).
type SnapshotEdge uint8

// SnapshotEdge values.
const (
	SnapshotInside    SnapshotEdge = iota // no edge
	SnapshotEdgeTable                     // the first or last row of its table's snapshot
	SnapshotEdgeAll                       // the first or last row of the stream's whole snapshot
)

// Mark is a resumable source position. Its state (Bytes) is opaque to
// everything but the source that made it; it is stored as-is in the
// checkpoint.
type Mark struct {
	Source string // source name in the .etl file
	State  []byte // JSON, owned by the source; with Tail, its beginning
	// Tail, when set, is the end of the state: the whole state is State
	// followed by Tail. It is shared between marks and never written to,
	// so that a large part of the state that changes rarely (the MySQL
	// source's schemas of 1,000 tables, ~1 MiB) is not copied into each
	// mark (one every 100 ms) and held by each batch in flight.
	Tail []byte
}

// Bytes returns the whole state: State, or State and Tail joined in a new
// slice.
func (m *Mark) Bytes() []byte {
	if len(m.Tail) == 0 {
		return m.State
	}
	return append(m.State[:len(m.State):len(m.State)], m.Tail...)
}

// NumRows returns the number of live rows.
func (b *Batch) NumRows() int {
	if b.Sel != nil {
		return len(b.Sel)
	}
	if b.Record == nil {
		return 0
	}
	return int(b.Record.NumRows())
}

// Release releases the record. It is safe on a nil batch or record.
func (b *Batch) Release() {
	if b == nil || b.Record == nil {
		return
	}
	b.Record.Release()
	b.Record = nil
}

// RecordBytes is the size of a record's buffers, for batching and memory
// bounds. A buffer that arrays share one after the other (the all-NULL
// before.* columns of a source share one zeroed buffer) counts once.
func RecordBytes(rec arrow.RecordBatch) int64 {
	if rec == nil {
		return 0
	}
	var (
		n    int64
		last *memory.Buffer
		add  func(d arrow.ArrayData)
	)
	add = func(d arrow.ArrayData) {
		for _, b := range d.Buffers() {
			if b != nil && b != last {
				n += int64(b.Len())
				last = b
			}
		}
		for _, c := range d.Children() {
			add(c)
		}
	}
	for _, c := range rec.Columns() {
		add(c.Data())
	}
	return n
}

// CountEventRows appends to dst, for each of n rows whose positions pos
// gives in order, its place among the rows right before it with the same
// position: 0 for a row whose position differs from the row before it,
// one more than that row's otherwise (Batch.EventRows nil).
func CountEventRows(dst []int32, n int, pos func(i int) string) []int32 {
	k := int32(0)
	last := ""
	for i := range n {
		p := pos(i)
		if i > 0 && p == last {
			k++
		} else {
			k = 0
		}
		last = p
		dst = append(dst, k)
	}
	return dst
}
