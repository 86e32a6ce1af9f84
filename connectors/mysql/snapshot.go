package mysql

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors"
)

// chunk is one primary-key range of a table, read in its own consistent
// snapshot transaction.
type chunk struct {
	ts   *tableState
	t    *table
	rng  keyRange
	excl string    // predicate excluding ranges completed before a resume
	pos  binlogPos // the binlog position the rows are "as of"
	low  binlogPos // bracket and watermark modes: the start of the chunk's window
	// recs are the records read and not yet taken by the reader. A chunk
	// streams: while it is being read, the reader takes its complete
	// records as soon as it stands at the chunk's position (they go out
	// without a Mark; streamed counts them), so that a chunk's rows need
	// not all wait in memory.
	recs     []arrow.RecordBatch
	streamed int
	drained  chan struct{} // the reader took records
	// finalIn: the chunk's read ended and its last record is in recs (or
	// was taken with them), so the emit that takes it may end the table's
	// snapshot (exec.Batch.SnapshotEnd).
	finalIn bool
	// Integer-key chunks are read in key order: lastOrd is the key of the
	// last row of the last complete record (haveLast), where the chunk ends
	// when its connection is lost after rows were read.
	lastOrd  uint64
	haveLast bool
	// unpaced: a chunk whose key is not one integer column waited
	// maxChunkWait for the reader; it is read to its end without waiting
	// (its rows held in memory), so its read view closes.
	unpaced bool
	readTs  int64
	// Watermark mode: the attempt number in the watermark tokens, and the
	// server's position right after the high watermark was written (the
	// reader must have met the mark before it passes that).
	wmSeq   uint64
	hwBound binlogPos
	// Key-less chunks in the windowed modes: the reader's verdict at the
	// chunk's position (verdictC is signalled when it is known): redo when
	// the table changed inside the chunk's window.
	verdictKnown bool
	redo         bool
	verdictC     chan struct{}
	lock         bool // lock the table while the window is open
	// posKnown: pos is set (the read view exists).
	posKnown bool
	// Integer-key chunks (snapshot_plan.go): the key column, and the row
	// LIMIT of the read (0: none).
	intKey *column
	limit  int
	// small: the chunk is a whole table (or a gap of a resumed one)
	// counted at no more than smallChunkRows rows; such chunks are read
	// several in one consistent snapshot (snapshot_group.go) and hold a
	// place of smallSem instead of sem.
	small bool
	grp   *readGroup // the group of small chunks it is read with, or nil
	solo  bool       // not read in a group's read view (errGroupStale)
	held  int64      // small: row data read, counted in smallHeld until released
	// seq tells the chunk's batches apart from other chunks'
	// (exec.Batch.Chunk): set when its first batch goes out.
	seq uint64
}

// snapshotter plans chunks, reads them with parallel connections, and hands
// them to the stream (em) when the binlog reader reaches their position.
type snapshotter struct {
	em     emitter
	cfg    *streamConfig // em.config()
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	work   chan *chunk
	sem    chan struct{} // bounds chunks read but not yet emitted
	// smallSem bounds the small chunks read but not yet emitted (those
	// of sem would allow groups of a few tables only).
	smallSem chan struct{}
	readyC   chan struct{}

	// chunkSeq numbers the chunks as their first batch goes out
	// (chunk.seq).
	chunkSeq atomic.Uint64

	mu       sync.Mutex
	sorted   []stateKey // st.tables by key, for appendState
	inflight []*chunk   // being read
	pending  []*chunk   // read, waiting for the reader to reach pos
	failed   error
	keyLog   map[*tableState][]loggedKey // windowed modes: keys changed by binlog events
	planned  map[*tableState]int         // chunks planned per table
	emitted  map[*tableState]int         // chunks emitted per table
	begun    map[*tableState]bool        // the table's first snapshot row went out
	ended    map[*tableState]bool        // the table's last snapshot row went out
	closed   map[*tableState]bool        // planning finished per table
	hints    map[*table][]int            // data bytes per row of string columns (snapshot_read.go)
	textOnly map[*table]bool             // schemas read with the text protocol (snapshot_binary.go)
	// stmtOpen is the statement each connection's last chunk prepared,
	// closed in the same write as the next chunk's (selectDirect);
	// noDirect: the server refused direct execution (snapshot_binary.go).
	stmtOpen map[*client.Conn]uint32
	noDirect bool
	live     map[*tableState]*table // a table's schema as chunks last read it, when not the planned one (snapshot_schema.go)
	splits   int                    // chunks split at their LIMIT (snapshot_plan.go)
	biggest  int                    // most rows read by one chunk
	cuts     int                    // chunks cut after maxChunkWait
	unpaced  int                    // keyed chunks read on without waiting after maxChunkWait
	// passed is where the last transaction the binlog reader began
	// starts (notePassed), and behindReader counts the
	// read views taken again because their exact position was behind it.
	passed       binlogPos
	behindReader int
	// from is where the binlog reader starts: a read view must hold every
	// transaction before it, since the reader reads none of them.
	from        binlogPos
	redos       int  // key-less chunks read again (keylessVerdict)
	noTableLock bool // LOCK TABLES was refused
	planQueries int  // queries the chunk planner sent (a few per table)
	// estimates are the initial tables' estimated row counts, read in
	// batches before they are planned (planner goroutine only).
	estimates map[*tableState]int64
	// counts are small initial tables' key MAX and row count, read in
	// batches (planCounts; planner goroutine only).
	counts map[*tableState]maxCount
	// layoutHints are the hints last noted for a table of each layout
	// (layoutKey), for a table not read yet (dataHint).
	layoutHints map[string][]int
	groups      int // chunks read in another chunk's read view (snapshot_group.go)
	// smallHeld is the row data of small chunks read and not emitted;
	// roomC is signalled when it shrinks.
	smallHeld int64
	roomC     chan struct{}
	// lastChunkMark is when a chunk's end last got a Mark (emit, on the
	// stream's goroutine).
	lastChunkMark time.Time
	// nulls are the all-NULL before.* arrays shared by records (nullArrays).
	nulls       map[nullKey][]arrow.Array
	windowDrops int // chunk rows left out for their window's binlog events
	// seen are the keys binlog rows changed while their table's snapshot
	// runs, with the position of the last change (noteSeen): a chunk at a
	// later position leaves those rows out (seenDrops), since the changes
	// went out before it and it holds nothing newer. seenKeys counts the
	// entries, at most maxSeenKeys (seenFull: warned once).
	seen      map[*tableState]map[string]binlogPos
	seenSig   map[*tableState]string // the key columns the notes are of (keyNames)
	seenKeys  int
	seenDrops int
	seenFull  bool
	mode      string      // positioning: "exact" (binlog_snapshot_position), "watermark", "bracket"
	wm        *watermarks // watermark mode
	active    []*tableState
	// initial are the tables snapshotted from the start; added receives
	// the tables that join while the stream runs (addTable), once the
	// planner and the workers run (started).
	initial []*tableState
	added   chan *tableState
	started bool
	// dropped are tables that left the stream while being snapshotted
	// (dropTable): their chunks are read to no end and their errors (the
	// table no longer exists) stop nothing.
	dropped map[*tableState]bool
	logs    snapLog // what is logged of the tables' snapshots (snapshot_log.go)
}

func newSnapshotter(em emitter) *snapshotter {
	ctx, cancel := context.WithCancel(context.Background())
	s := &snapshotter{em: em, cfg: em.config(), ctx: ctx, cancel: cancel, readyC: make(chan struct{}, 1),
		keyLog: map[*tableState][]loggedKey{}, seen: map[*tableState]map[string]binlogPos{}, seenSig: map[*tableState]string{}, planned: map[*tableState]int{}, emitted: map[*tableState]int{}, closed: map[*tableState]bool{},
		begun: map[*tableState]bool{}, ended: map[*tableState]bool{},
		hints: map[*table][]int{}, textOnly: map[*table]bool{}, stmtOpen: map[*client.Conn]uint32{}, roomC: make(chan struct{}, 1)}
	for _, ts := range em.catalog().tables {
		if ts.snap != nil && !ts.snap.Done {
			s.active = append(s.active, ts)
		}
		if ts.snap != nil && (ts.snap.Done || len(ts.snap.Ranges) > 0) {
			s.begun[ts] = true // resumed: its first rows went out before
		}
	}
	s.initial = append([]*tableState(nil), s.active...)
	return s
}

func (s *snapshotter) start() {
	if len(s.active) == 0 {
		return
	}
	s.startWorkers()
}

// startWorkers starts the planner and the chunk readers.
func (s *snapshotter) startWorkers() {
	s.started = true
	n := s.cfg.opts.parallelism
	s.sem = make(chan struct{}, 2*n)
	s.smallSem = make(chan struct{}, maxGroupChunks+2*n)
	// Buffered as far as the semaphores let chunks be planned ahead, so
	// that a worker finds the small chunks planned to read as a group.
	s.work = make(chan *chunk, cap(s.sem)+cap(s.smallSem))
	s.added = make(chan *tableState, 1024)
	s.wg.Add(1)
	go s.plan()
	for i := 0; i < n; i++ {
		s.wg.Add(1)
		go s.worker()
	}
}

// prepare chooses the positioning, before the binlog reader starts.
func (s *snapshotter) prepare() error {
	if len(s.active) == 0 {
		s.mode = "exact"
		return nil
	}
	return s.choosePositioning()
}

// choosePositioning decides how chunks are placed in the binlog (see
// docs/snapshot.md): MariaDB's binlog_snapshot_position is exact and
// needs no writes; elsewhere watermarks, when etlq may write its table;
// bracket as the last resort, or when asked for.
func (s *snapshotter) choosePositioning() error {
	cfg := s.cfg
	s.mode = "exact"
	if !cfg.needBinlog {
		return nil
	}
	pos := cfg.opts.position
	if pos == "auto" && cfg.flavor == "mariadb" || pos == "bracket" {
		if pos == "bracket" {
			s.mode = "bracket"
			cfg.log.Warn("snapshot placed by SHOW MASTER STATUS brackets (snapshot_position = 'bracket'): a change committed at the instant a chunk's read begins can be missed; see docs/snapshot.md")
		}
		return nil
	}
	w, err := setupWatermarks(s.ctx, cfg)
	if err != nil {
		if pos == "watermark" {
			return fmt.Errorf("snapshot_position = 'watermark': %v", err)
		}
		s.mode = "bracket"
		cfg.log.Warn("snapshot placed by SHOW MASTER STATUS brackets, since watermarks cannot be written: a change committed at the instant a chunk's read begins can be missed; see docs/snapshot.md",
			"flavor", cfg.flavor, "reason", err.Error())
		return nil
	}
	s.mode, s.wm = "watermark", w
	return nil
}

func (s *snapshotter) close() {
	s.cancel()
	s.wg.Wait()
	if s.wm != nil {
		s.wm.close()
	}
	s.mu.Lock()
	for _, c := range append(append([]*chunk(nil), s.pending...), s.inflight...) {
		for _, r := range c.recs {
			r.Release()
		}
		c.recs = nil
	}
	s.pending = nil
	s.releaseNullsLocked()
	s.mu.Unlock()
}

func (s *snapshotter) fail(err error) {
	s.mu.Lock()
	if s.failed == nil {
		s.failed = err
	}
	s.mu.Unlock()
	s.signal()
}

func (s *snapshotter) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

func (s *snapshotter) signal() {
	select {
	case s.readyC <- struct{}{}:
	default:
	}
}

// ready is signalled when a chunk was read (or failed).
func (s *snapshotter) ready() <-chan struct{} { return s.readyC }

func (s *snapshotter) wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.readyC:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// allDone reports whether every snapshot was emitted completely.
func (s *snapshotter) allDone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ts := range s.active {
		if !ts.snap.Done {
			return false
		}
	}
	return true
}

// stateSnapshot returns the snapshot part of a Mark.
func (s *snapshotter) stateSnapshot() map[string]*snapState {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*snapState{}
	for _, ts := range s.em.catalog().tables {
		if ts.gone {
			continue
		}
		if ts.resnap != nil && !ts.resnap.cutover {
			// A resnapshot is not resumed from a checkpoint: its request
			// stays in the state directory until it ends, and the next run
			// starts it anew.
			out[ts.key] = &snapState{Done: true}
		} else if ts.snap != nil {
			cp := &snapState{Done: ts.snap.Done, Ranges: append([]keyRange(nil), ts.snap.Ranges...), Older: ts.snap.Older, TypeChange: ts.snap.TypeChange, RowsWhy: ts.snap.RowsWhy}
			out[ts.key] = cp
		} else if ts.mode != connectors.SnapshotNever {
			out[ts.key] = &snapState{Done: true}
		}
	}
	return out
}

// stateKey is a table of the stream with its key as JSON text.
type stateKey struct {
	ts  *tableState
	key []byte
}

// appendState appends to b the JSON object json.Marshal makes of
// stateSnapshot's map (the same bytes: keys sorted), and reports whether it
// has any entry (the map's omitempty). A Mark is built at every chunk's
// end, and each holds every table's progress: with 1,000 tables the map,
// its copies and json's reflection and key sorting took 30% of the
// snapshot's CPU.
func (s *snapshotter) appendState(b []byte) ([]byte, bool) {
	if s == nil {
		return b, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tables := s.em.catalog().tables
	if len(s.sorted) != len(tables) { // tables are only appended
		s.sorted = s.sorted[:0]
		for _, ts := range tables {
			k, _ := json.Marshal(ts.key)
			s.sorted = append(s.sorted, stateKey{ts, k})
		}
		slices.SortStableFunc(s.sorted, func(a, b stateKey) int { return strings.Compare(a.ts.key, b.ts.key) })
	}
	n := len(b)
	b = append(b, '{')
	for _, e := range s.sorted {
		ts := e.ts
		if ts.gone || (ts.resnap == nil && ts.snap == nil && ts.mode == connectors.SnapshotNever) {
			continue
		}
		if len(b) > n+1 {
			b = append(b, ',')
		}
		b = append(b, e.key...)
		b = append(b, ':')
		switch {
		case ts.resnap != nil && !ts.resnap.cutover || ts.snap == nil || ts.snap.Done && len(ts.snap.Ranges) == 0:
			// (a resnapshot is not resumed from a checkpoint: stateSnapshot)
			b = append(b, `{"done":true}`...)
		default:
			v, _ := json.Marshal(ts.snap)
			b = append(b, v...)
		}
	}
	if len(b) == n+1 {
		return b[:n], false
	}
	return append(b, '}'), true
}
