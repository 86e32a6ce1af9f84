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

// PositionSource is a Source that can say where its change log is now and
// whether a checkpoint's mark has reached such a position (verify waits
// for the pipeline to apply past the position it read the source at).
type PositionSource interface {
	// CurrentMark returns the source's current position as a mark state.
	CurrentMark(ctx context.Context) ([]byte, error)
	// MarkReached reports whether the mark state mark is at or after at.
	MarkReached(mark, at []byte) (bool, error)
}
