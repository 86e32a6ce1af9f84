// Package exec runs planned dataflows over Apache Arrow record batches.
//
// This file holds the contract every layer shares: what a change batch looks
// like when it leaves a source, and what a sink batch looks like when it
// reaches a sink.
package exec

import (
	"github.com/apache/arrow-go/v18/arrow"
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
	// lower case, e.g. "decimal(12,2) unsigned", "datetime(6)", "enum('a','b')".
	MetaSourceType = "etlq.source_type"
	// MetaLogicalType refines an Arrow type where Arrow alone is ambiguous:
	// "json" (on String), "geometry" (on Binary), "time" (on Duration(µs)),
	// "year" (on Uint16), "bit" (on Uint64), "enum", "set" (on String).
	MetaLogicalType = "etlq.logical_type"
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
	// MetaRenamedFrom is the name a DDL renamed the column from: the
	// target keeps the values of rows already written under that name.
	MetaRenamedFrom = "etlq.renamed_from"
	// MetaAddedByDDL is "true" on a column a DDL added (or renamed) while
	// this stream ran: a target that lacks it adds it. A target lacking
	// any other column lost it outside etlq.
	MetaAddedByDDL = "etlq.added_by_ddl"
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

// Batch is a unit of data flowing between operators.
//
// Ownership: whoever receives a *Batch owns it and must call Release exactly
// once (directly, or by handing it on to someone who does). A Batch never
// holds more than one table's rows.
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
	// ServerID and GTID, on a binlog batch (whose rows all belong to one
	// transaction), are the id of the server that wrote the transaction and
	// its GTID ("" when it has none): Debezium's source.server_id and gtid.
	ServerID uint32
	GTID     string
	// Copy marks one of several copies of a table-wide event, a truncate
	// that a log delivers in each of its partitions so that every worker
	// meets it in order with its rows (docs/scale-out.md): an upsert
	// target applies each copy (the same tombstones again), a target that
	// keeps the change as a row skips the copies and takes the original.
	Copy bool
	// Mark, when non-nil, says that once this batch and every batch before it
	// is durable at the sink, the source can resume from Mark. Sources set it
	// only at transaction boundaries.
	Mark *Mark
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

// Mark is a resumable source position. State is opaque to everything but the
// source that made it; it is stored as-is in the checkpoint.
type Mark struct {
	Source string // source name in the .etl file
	State  []byte // JSON, owned by the source
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
