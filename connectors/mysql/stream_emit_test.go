package mysql

import (
	"log/slog"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	gm "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// fakeEmitter is an emitter without a stream or a server: it keeps what
// the reader or the snapshotter queued, the versions they took, and the
// positions of the marks and boundaries they asked for.
type fakeEmitter struct {
	cfg        streamConfig
	tabs       streamTables
	consts     constStrings
	out        []*exec.Batch
	version    uint64
	marks      []binlogPos
	boundaries []binlogPos
	markOnly   int
}

func (f *fakeEmitter) config() *streamConfig    { return &f.cfg }
func (f *fakeEmitter) catalog() *streamTables   { return &f.tabs }
func (f *fakeEmitter) constants() *constStrings { return &f.consts }
func (f *fakeEmitter) queue(b *exec.Batch)      { f.out = append(f.out, b) }
func (f *fakeEmitter) queued() []*exec.Batch    { return f.out }
func (f *fakeEmitter) nextVersion() uint64      { return f.version }
func (f *fakeEmitter) rewindVersion(v uint64)   { f.version = v }
func (f *fakeEmitter) done() bool               { return false }
func (f *fakeEmitter) setLastEvent(time.Time)   {}
func (f *fakeEmitter) setCaughtUp()             {}
func (f *fakeEmitter) reconnected()             {}

func (f *fakeEmitter) wanted(ref connectors.TableRef) (connectors.SnapshotMode, bool) {
	return 0, false
}

func (f *fakeEmitter) takeVersions(n uint64) uint64 {
	v := f.version
	f.version += n
	return v
}

func (f *fakeEmitter) markDue() bool { return true }

func (f *fakeEmitter) mark(pos binlogPos) *exec.Mark {
	f.marks = append(f.marks, pos)
	return &exec.Mark{Source: "fake", State: []byte(pos.String())}
}

func (f *fakeEmitter) emitMarkOnlyFor(ts *tableState, pos binlogPos) {
	f.markOnly++
	f.queue(&exec.Batch{Record: emptyRecord(f.cfg.mem, ts.out.streamSchema(f.cfg.req.Before)), DB: ts.ref.DB, Table: ts.ref.Table, Mark: f.mark(pos)})
}

func (f *fakeEmitter) endResnapshot(connectors.Resnapshot, *tableState, uint64, string) {}
func (f *fakeEmitter) endRebuild(*tableState, binlogPos)                                {}

func (f *fakeEmitter) atBoundary(pos binlogPos, idle bool) {
	f.boundaries = append(f.boundaries, pos)
}

func (f *fakeEmitter) release() {
	for _, b := range f.out {
		b.Release()
	}
	f.out = nil
	f.consts.release()
}

// newFakeEmitter returns a fake holding one table d.t (id BIGINT key, v
// VARCHAR), with its snapshot not started, and versions from 100 on.
func newFakeEmitter(mem memory.Allocator) (*fakeEmitter, *tableState) {
	t := &table{Ref: connectors.TableRef{DB: "d", Table: "t"}, Key: []int{0},
		Cols: []*column{{Name: "id", DataType: "bigint", ColumnType: "bigint", PK: 1, Kind: kInt64},
			{Name: "v", DataType: "varchar", ColumnType: "varchar(10)", Nullable: true, Kind: kString, Charset: "utf8mb4", Collation: "utf8mb4_bin"}}}
	ts := &tableState{ref: t.Ref, mode: connectors.SnapshotInitial, key: t.Ref.String(), cur: t, out: t, snap: &snapState{}}
	f := &fakeEmitter{version: 100,
		cfg:  streamConfig{mem: mem, log: slog.New(slog.DiscardHandler), maxRows: 8192, flavor: "mariadb", needBinlog: true, req: connectors.StreamRequest{Before: true}},
		tabs: streamTables{tables: []*tableState{ts}, byRef: map[connectors.TableRef]*tableState{t.Ref: ts}}}
	return f, ts
}

// chunkRecord is what a chunk read of d.t returns: its table columns.
func chunkRecord(mem memory.Allocator, t *table, ids ...int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.BinaryTypes.String, Nullable: true}}, nil))
	defer b.Release()
	for _, id := range ids {
		b.Field(0).(*array.Int64Builder).Append(id)
		b.Field(1).(*array.StringBuilder).Append("x")
	}
	return b.NewRecordBatch()
}

func metaColumn(t *testing.T, b *exec.Batch, name string) arrow.Array {
	t.Helper()
	idx := b.Record.Schema().FieldIndices(name)
	if len(idx) != 1 {
		t.Fatalf("batch has no column %s: %v", name, b.Record.Schema())
	}
	return b.Record.Column(idx[0])
}

// TestSnapshotterEmitsThroughEmitter drives the snapshotter with a fake
// emitter, no stream and no server: two read chunks of a table, reached
// by the binlog reader, go out as "read" batches with the emitter's
// versions, the snapshot's edges and the emitter's marks, and finish the
// table's snapshot.
func TestSnapshotterEmitsThroughEmitter(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	f, ts := newFakeEmitter(mem)
	defer f.release()
	s := newSnapshotter(f)
	defer s.close() // releases the shared NULL before.* arrays
	if len(s.active) != 1 || s.active[0] != ts {
		t.Fatalf("snapshotter takes the tables of the emitter's catalog: active %v", s.active)
	}
	s.mode = "exact"
	s.sem = make(chan struct{}, 2)
	at := binlogPos{File: "b.000001", Pos: 900}
	for i, ids := range [][]int64{{1, 2}, {3}} {
		s.sem <- struct{}{}
		ch := &chunk{ts: ts, t: ts.cur, posKnown: true, pos: binlogPos{File: "b.000001", Pos: uint32(500 + i)},
			recs: []arrow.RecordBatch{chunkRecord(mem, ts.cur, ids...)}, finalIn: true}
		if i == 0 {
			ch.rng = keyRange{Hi: []string{"2"}}
		} else {
			ch.rng = keyRange{Lo: []string{"2"}}
		}
		s.planned[ts]++
		s.pending = append(s.pending, ch)
	}
	s.closed[ts] = true
	if s.emitReady(binlogPos{File: "b.000001", Pos: 400}, false) || len(f.out) != 0 {
		t.Fatalf("chunks went out before the reader reached them: %d batches", len(f.out))
	}
	if !s.emitReady(at, false) {
		t.Fatal("chunks the reader reached were not emitted")
	}
	if len(f.out) != 2 {
		t.Fatalf("got %d batches, want 2", len(f.out))
	}
	var ids []int64
	var versions []uint64
	for _, b := range f.out {
		if !b.Snapshot || b.DB != "d" || b.Table != "t" {
			t.Errorf("batch %+v: want a snapshot batch of d.t", b)
		}
		if b.Mark == nil || string(b.Mark.Bytes()) != at.String() {
			t.Errorf("batch mark %v, want the emitter's mark at %s", b.Mark, at)
		}
		id := b.Record.Column(0).(*array.Int64)
		ver := metaColumn(t, b, exec.ColVersion).(*array.Uint64)
		op := metaColumn(t, b, exec.ColOp).(*array.String)
		for i := 0; i < id.Len(); i++ {
			ids = append(ids, id.Value(i))
			versions = append(versions, ver.Value(i))
			if op.Value(i) != exec.OpRead {
				t.Errorf("op %q, want %q", op.Value(i), exec.OpRead)
			}
		}
	}
	if want := []int64{1, 2, 3}; !equalSlices(ids, want) {
		t.Errorf("ids %v, want %v", ids, want)
	}
	if want := []uint64{100, 101, 102}; !equalSlices(versions, want) || f.version != 103 {
		t.Errorf("versions %v (next %d), want %v taken from the emitter (next 103)", versions, f.version, want)
	}
	if f.out[0].SnapshotStart != exec.SnapshotEdgeAll || f.out[1].SnapshotEnd != exec.SnapshotEdgeAll {
		t.Errorf("snapshot edges start %v end %v, want the whole snapshot's", f.out[0].SnapshotStart, f.out[1].SnapshotEnd)
	}
	if !ts.snap.Done || !s.allDone() {
		t.Error("the table's snapshot is not done after its last chunk went out")
	}
	if st := s.stateSnapshot(); st["d.t"] == nil || !st["d.t"].Done {
		t.Errorf("mark state %v, want d.t done", st)
	}
}

// TestBinlogReaderEmitsThroughEmitter drives the binlog reader with a fake
// emitter and hand-made events, no server: a TRUNCATE in a transaction
// goes out as one truncate row with the emitter's next version, and the
// commit puts the emitter's mark of the commit position on it and stands
// the reader at that boundary.
func TestBinlogReaderEmitsThroughEmitter(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	f, ts := newFakeEmitter(mem)
	defer f.release()
	ts.snap = &snapState{Done: true}
	s := newSnapshotter(f)
	r := newBinlogReader(f, s, binlogPos{File: "b.000001", Pos: 4}, "")
	ev := func(end uint32, size uint32, e replication.Event) *replication.BinlogEvent {
		return &replication.BinlogEvent{Header: &replication.EventHeader{Timestamp: uint32(time.Now().Unix()), EventType: replication.QUERY_EVENT,
			ServerID: 7, LogPos: end, EventSize: size}, Event: e}
	}
	for _, e := range []*replication.BinlogEvent{
		ev(100, 96, &replication.QueryEvent{Schema: []byte("d"), Query: []byte("BEGIN")}),
		ev(200, 100, &replication.QueryEvent{Schema: []byte("d"), Query: []byte("TRUNCATE TABLE t")}),
	} {
		if err := r.handle(e); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.out) != 1 {
		t.Fatalf("got %d batches, want the truncate", len(f.out))
	}
	b := f.out[0]
	if b.NumRows() != 1 || metaColumn(t, b, exec.ColOp).(*array.String).Value(0) != exec.OpTruncate {
		t.Fatalf("batch %v: want one truncate row", b.Record)
	}
	if v := metaColumn(t, b, exec.ColVersion).(*array.Uint64).Value(0); v != 100 || f.version != 101 {
		t.Errorf("truncate version %d (next %d), want 100 from the emitter (next 101)", v, f.version)
	}
	at := binlogPos{File: "b.000001", Pos: 200}
	if b.Mark == nil || string(b.Mark.Bytes()) != at.String() {
		t.Errorf("mark %v, want the emitter's mark at %s", b.Mark, at)
	}
	if len(f.boundaries) == 0 || f.boundaries[len(f.boundaries)-1] != at {
		t.Errorf("boundaries %v, want the reader to stand at %s", f.boundaries, at)
	}
}

func equalSlices[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBinlogReaderEndsOneStatementTransactions: a statement written as a
// transaction of its own that is no DDL etlq follows (GRANT after a
// MariaDB GTID flagged standalone, or after a MySQL GTID without BEGIN)
// ends at its query event: the reader stands at the boundary after it.
// Before, it stayed "in a transaction" until the next write to the
// server, so an idle source after a GRANT took no resnapshot and apply
// --once never ended.
func TestBinlogReaderEndsOneStatementTransactions(t *testing.T) {
	for _, flavor := range []string{"mariadb", "mysql"} {
		t.Run(flavor, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			f, ts := newFakeEmitter(mem)
			defer f.release()
			f.cfg.flavor = flavor
			ts.snap = &snapState{Done: true}
			s := newSnapshotter(f)
			r := newBinlogReader(f, s, binlogPos{File: "b.000001", Pos: 4}, "")
			ev := func(typ replication.EventType, end, size uint32, e replication.Event) *replication.BinlogEvent {
				return &replication.BinlogEvent{Header: &replication.EventHeader{Timestamp: uint32(time.Now().Unix()), EventType: typ,
					ServerID: 7, LogPos: end, EventSize: size}, Event: e}
			}
			var gtid *replication.BinlogEvent
			if flavor == "mariadb" {
				gtid = ev(replication.MARIADB_GTID_EVENT, 100, 42, &replication.MariadbGTIDEvent{
					GTID: gm.MariadbGTID{DomainID: 0, ServerID: 7, SequenceNumber: 9}, Flags: replication.BINLOG_MARIADB_FL_STANDALONE | replication.BINLOG_MARIADB_FL_DDL})
			} else {
				gtid = ev(replication.GTID_EVENT, 100, 42, &replication.GTIDEvent{SID: make([]byte, 16), GNO: 9})
			}
			for _, e := range []*replication.BinlogEvent{
				gtid,
				ev(replication.QUERY_EVENT, 200, 100, &replication.QueryEvent{Query: []byte("GRANT SELECT ON d.* TO 'u'@'%'")}),
			} {
				if err := r.handle(e); err != nil {
					t.Fatal(err)
				}
			}
			at := binlogPos{File: "b.000001", Pos: 200}
			if r.inTrx || r.safe != at {
				t.Errorf("after the GRANT: in a transaction %v, boundary %s; want %s", r.inTrx, r.safe, at)
			}
			if len(f.boundaries) == 0 || f.boundaries[len(f.boundaries)-1] != at {
				t.Errorf("boundaries %v, want the reader to stand at %s", f.boundaries, at)
			}
			// A transaction with BEGIN still ends at its COMMIT only.
			for _, e := range []*replication.BinlogEvent{
				ev(replication.GTID_EVENT, 300, 42, &replication.GTIDEvent{SID: make([]byte, 16), GNO: 10}),
				ev(replication.QUERY_EVENT, 400, 100, &replication.QueryEvent{Query: []byte("BEGIN")}),
				ev(replication.QUERY_EVENT, 500, 100, &replication.QueryEvent{Query: []byte("SET @x = 1")}),
			} {
				if flavor == "mariadb" && e.Header.LogPos == 300 {
					e = ev(replication.MARIADB_GTID_EVENT, 300, 42, &replication.MariadbGTIDEvent{GTID: gm.MariadbGTID{ServerID: 7, SequenceNumber: 10}})
				}
				if err := r.handle(e); err != nil {
					t.Fatal(err)
				}
			}
			if !r.inTrx || r.safe != at {
				t.Errorf("inside BEGIN …: in a transaction %v, boundary %s; want still in it, boundary %s", r.inTrx, r.safe, at)
			}
		})
	}
}
