package mysql

import (
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// emitter is the stream as the binlog reader and the snapshotter see it:
// they queue batches, take versions and marks through it, and reach the
// stream's settings and tables through it, never *stream's fields. The
// calls are per batch or per event, not per row: a rows event takes its
// versions once (binlogReader.rows).
//
// *stream implements it; a test may drive the reader or the snapshotter
// with a fake (stream_emit_test.go).
type emitter interface {
	// config is what the stream was opened with (read only).
	config() *streamConfig
	// catalog holds the stream's tables; only the reader changes it.
	catalog() *streamTables
	// wanted reports whether a table joining the stream is asked for, and
	// its snapshot mode.
	wanted(ref connectors.TableRef) (connectors.SnapshotMode, bool)
	// constants are the shared constant metadata arrays (meta.go).
	constants() *constStrings

	// queue appends a batch to the stream's output.
	queue(b *exec.Batch)
	// queued returns the batches queued and not handed out yet, oldest
	// first; the caller may set their Mark and snapshot edges.
	queued() []*exec.Batch
	// nextVersion is the _version the next row takes.
	nextVersion() uint64
	// takeVersions reserves n versions and returns the first.
	takeVersions(n uint64) uint64
	// rewindVersion sets the next version back to v (a transaction read
	// again after a reconnect takes its versions again).
	rewindVersion(v uint64)
	// mark builds the Mark of a transaction boundary at pos.
	mark(pos binlogPos) *exec.Mark
	// markDue reports whether the end of a transaction gets a Mark
	// (every one does, but every 100 ms once the schemas are big).
	markDue() bool
	// emitMarkOnlyFor queues a row-less batch of ts carrying the Mark of pos.
	emitMarkOnlyFor(ts *tableState, pos binlogPos)
	// endResnapshot queues the batch that ends a resnapshot.
	endResnapshot(r connectors.Resnapshot, ts *tableState, version uint64, errText string)
	// endRebuild queues the swap that ends a rebuild (rebuild.go).
	endRebuild(ts *tableState, at binlogPos)

	// atBoundary: the reader stands between transactions at pos (snapshot
	// chunks, idle marks and Once's end are decided there).
	atBoundary(pos binlogPos, idle bool)
	// done reports that the stream has read all it will (Once).
	done() bool
	// setLastEvent and setCaughtUp feed the stream's lag.
	setLastEvent(t time.Time)
	setCaughtUp()
	// reconnected counts a binlog reconnect attempt.
	reconnected()
}

var _ emitter = (*stream)(nil)

func (st *stream) config() *streamConfig    { return &st.streamConfig }
func (st *stream) catalog() *streamTables   { return &st.streamTables }
func (st *stream) constants() *constStrings { return &st.consts }
func (st *stream) queue(b *exec.Batch) {
	if ts := st.byRef[connectors.TableRef{DB: b.DB, Table: b.Table}]; ts != nil && b.RowCopy == nil {
		if ts.swapped {
			// Already in the targets (tableState.swapped).
			b.Release()
			return
		}
		if ts.copyOf != "" {
			b.RowCopy = &exec.RowCopy{Of: ts.copyOf}
		}
	}
	st.out = append(st.out, b)
}
func (st *stream) queued() []*exec.Batch  { return st.out }
func (st *stream) nextVersion() uint64    { return st.version }
func (st *stream) rewindVersion(v uint64) { st.version = v }
func (st *stream) done() bool             { return st.finished }
func (st *stream) reconnected()           { st.reconnects.Add(1) }

func (st *stream) takeVersions(n uint64) uint64 {
	v := st.version
	st.version += n
	return v
}
