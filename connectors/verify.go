package connectors

import (
	"context"

	"github.com/etlq/etlq/exec"
)

// VerifySink is a Sink whose targets `etlq verify` can read back
// (docs/verify.md): the ClickHouse sink.
type VerifySink interface {
	// OpenVerify resolves t to its existing table, for reading only. The
	// columns named in ignore are left out of the row texts: their values
	// depend on when and how a change was read (_ts, _op, _pos, _version
	// and expressions of them), not on the row, so a fresh read of the
	// source never gives what the target holds.
	OpenVerify(ctx context.Context, t Target, ignore []string) (VerifyTarget, error)
}

// VerifyTarget reads one target table's live rows and puts a sink batch's
// rows in the same canonical form, so that equal rows give equal texts
// whatever side they come from.
type VerifyTarget interface {
	// BatchRows calls fn with the key text and the row text of every live
	// row (not a tombstone) of b, a batch laid out as Target.Schema.
	BatchRows(b *exec.Batch, fn func(key, row string) error) error
	// LiveRows calls fn with the key text and row text of every live row
	// of the table (FINAL, _is_deleted = 0).
	LiveRows(ctx context.Context, fn func(key, row string) error) error
	// Versions returns, for each key text given that the table holds
	// (live or as a tombstone), the _version of its last row.
	Versions(ctx context.Context, keys map[string]bool) (map[string]uint64, error)
	// Tombstone writes, for each key text given whose live row still has
	// the _version given, a deletion of that same version (the last row
	// inserted wins among equal versions), made from the live row itself
	// on the server. It returns how many keys it wrote.
	Tombstone(ctx context.Context, keys map[string]uint64) (int, error)
	Close() error
}

// VerifyShower is a VerifyTarget whose canonical texts hold some values in
// the target's stored form, not as the source shows them (a DATETIME as
// Int64 microseconds on a ClickHouse without DateTime64): ShowRow and
// ShowKey rewrite a row text and a key text of it for a person, each such
// value as the source shows it, separated as before. What is compared,
// repaired and hashed stays the canonical text.
type VerifyShower interface {
	ShowRow(row string) string
	ShowKey(key string) string
}

// VerifyMasker is a VerifyTarget of a target several source tables share
// that can leave a column out of the comparison for the rows of the tables
// that lack it: a table that dropped a column the others still have
// (docs/schema-changes.md) leaves its values from before the DROP in the
// target, where a fresh read of the table gives NULL.
type VerifyMasker interface {
	// Mask reads each column named as NULL in the rows of the tables
	// listed for it, told apart by the target's _db and _table columns.
	// It reports false, and masks nothing, when the target has neither.
	Mask(lacking map[string][]TableRef) bool
}

// VerifyScoper is a VerifyTarget that can restrict what it reads to the
// rows of some source tables: a target several pipelines write (the
// shards of two servers into one table), of which each pipeline's verify
// must see its own rows only — another pipeline's rows are no extra rows
// of this one's source, and --repair must not delete them.
type VerifyScoper interface {
	// Scope restricts every later read (and Tombstone) to the rows whose
	// source table keep accepts, by the target's _db and _table columns
	// ("" for one the target lacks). It reports false, and restricts
	// nothing, when the target has neither column: its rows cannot be
	// told apart.
	Scope(ctx context.Context, keep func(db, table string) bool) (bool, error)
}

// PositionSource is a Source that can say where its change log is now and
// whether a checkpoint's mark has reached such a position (verify waits
// for the pipeline to apply past the position it read the source at).
type PositionSource interface {
	// CurrentMark returns the source's current position as a mark state.
	CurrentMark(ctx context.Context) ([]byte, error)
	// MarkReached reports whether the mark state mark is at or after at.
	MarkReached(mark, at []byte) (bool, error)
}

// MarkVersioner is a Source whose mark states hold the stream's version
// counter: the next _version the stream assigns at that mark, above every
// version it gave to the rows before it. `etlq verify` compares a target
// row's _version with it to tell a row the stream did not write (by hand,
// with a larger version) from one it did.
type MarkVersioner interface {
	// MarkVersion returns mark's counter, false when it holds none.
	MarkVersion(mark []byte) (uint64, bool)
}

// MarkDescriber is a Source that can write a mark state for a person: the
// position an error message names ("binlog.000042:1337").
type MarkDescriber interface {
	DescribeMark(mark []byte) string
}

// CheckpointDescriber is a Source whose checkpoints carry the schemas of
// the tables they stream: a table read by name that is no longer on the
// server (dropped or renamed away while etlq was stopped) is planned from
// the checkpoint, so that the replay meets what became of it
// (docs/live-tables.md). DescribeCheckpoint returns nil when mark does not
// know ref.
type CheckpointDescriber interface {
	DescribeCheckpoint(mark []byte, ref TableRef) *TableSchema
}

// Checksums computed inside the servers (docs/verify.md, "In-server
// checksums"): each side reduces a key range of rows to a count and the XOR
// of a 64-bit hash of each row's canonical text, the text being the same
// on both sides for the kinds below.

// Checksum kinds: how a column's value is written in the canonical text.
const (
	SumInt     = "int"     // decimal digits
	SumString  = "string"  // the UTF-8 text
	SumDecimal = "decimal" // decimal text with exactly the scale's digits
	SumDate    = "date"    // days since 1970-01-01
	SumMicros  = "micros"  // microseconds since 1970-01-01 00:00:00 of the wall clock (UTC)
	SumDouble  = "double"  // shortest round-trip digits (a different format is a false suspect, never a miss)
)

// SumColumn is one compared column: its name on that side and its kind.
type SumColumn struct {
	Name string
	Kind string
}

// KeyRange is an inclusive range of an integer key.
type KeyRange struct{ Lo, Hi int64 }

// RangeSum is a key range's row count, the XOR of its rows' hashes and its
// smallest and largest key (when Rows > 0).
type RangeSum struct {
	Rows     int64
	Hash     uint64
	Min, Max int64
}

// SumSource is a Source that can compute range checksums of a table.
type SumSource interface {
	// ChunkBounds returns the keys that start each chunk of every rows
	// rows but the first, in order.
	ChunkBounds(ctx context.Context, t TableRef, key string, every int) ([]int64, error)
	// RangeSums returns the sums of the sorted, disjoint ranges.
	RangeSums(ctx context.Context, t TableRef, key string, cols []SumColumn, ranges []KeyRange) ([]RangeSum, error)
	// RangeRows returns the hash of each row of the range by key.
	RangeRows(ctx context.Context, t TableRef, key string, cols []SumColumn, r KeyRange) (map[int64]uint64, error)
}

// SumTarget is a VerifyTarget that can compute the same range checksums
// of its live rows.
type SumTarget interface {
	// SumSupported says why the columns cannot be summed as those kinds
	// ("" when they can).
	SumSupported(key string, cols []SumColumn) string
	RangeSums(ctx context.Context, key string, cols []SumColumn, ranges []KeyRange) ([]RangeSum, error)
	RangeRows(ctx context.Context, key string, cols []SumColumn, r KeyRange) (map[int64]uint64, error)
}
