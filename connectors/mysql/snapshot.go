package mysql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
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
}

// snapshotter plans chunks, reads them with parallel connections, and hands
// them to the stream when the binlog reader reaches their position.
type snapshotter struct {
	st     *stream
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	work   chan *chunk
	sem    chan struct{} // bounds chunks read but not yet emitted
	readyC chan struct{}

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
	splits   int                         // chunks split at their LIMIT (snapshot_plan.go)
	biggest  int                         // most rows read by one chunk
	cuts     int                         // chunks cut after maxChunkWait
	unpaced  int                         // keyed chunks read on without waiting after maxChunkWait
	// passed is where the last transaction the binlog reader began
	// starts (notePassed), and behindReader counts the
	// read views taken again because their exact position was behind it.
	passed       binlogPos
	behindReader int
	redos        int         // key-less chunks read again (keylessVerdict)
	noTableLock  bool        // LOCK TABLES was refused
	windowDrops  int         // chunk rows left out for their window's binlog events
	mode         string      // positioning: "exact" (binlog_snapshot_position), "watermark", "bracket"
	wm           *watermarks // watermark mode
	active       []*tableState
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
}

func newSnapshotter(st *stream) *snapshotter {
	ctx, cancel := context.WithCancel(context.Background())
	s := &snapshotter{st: st, ctx: ctx, cancel: cancel, readyC: make(chan struct{}, 1),
		keyLog: map[*tableState][]loggedKey{}, planned: map[*tableState]int{}, emitted: map[*tableState]int{}, closed: map[*tableState]bool{},
		begun: map[*tableState]bool{}, ended: map[*tableState]bool{},
		hints: map[*table][]int{}, textOnly: map[*table]bool{}}
	for _, ts := range st.tables {
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
	n := s.st.opts.parallelism
	s.work = make(chan *chunk)
	s.sem = make(chan struct{}, 2*n)
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
	st := s.st
	s.mode = "exact"
	if !st.needBinlog {
		return nil
	}
	pos := st.opts.position
	if pos == "auto" && st.flavor == "mariadb" || pos == "bracket" {
		if pos == "bracket" {
			s.mode = "bracket"
			st.log.Warn("snapshot placed by SHOW MASTER STATUS brackets (snapshot_position = 'bracket'): a change committed at the instant a chunk's read begins can be missed; see docs/snapshot.md")
		}
		return nil
	}
	w, err := setupWatermarks(s.ctx, st)
	if err != nil {
		if pos == "watermark" {
			return fmt.Errorf("snapshot_position = 'watermark': %v", err)
		}
		s.mode = "bracket"
		st.log.Warn("snapshot placed by SHOW MASTER STATUS brackets, since watermarks cannot be written: a change committed at the instant a chunk's read begins can be missed; see docs/snapshot.md",
			"flavor", st.flavor, "reason", err.Error())
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

// plan computes chunk boundaries table by table and feeds the workers.
func (s *snapshotter) plan() {
	defer s.wg.Done()
	defer close(s.work)
	var c *client.Conn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	planOne := func(ts *tableState) bool {
		if c == nil {
			var err error
			if c, err = s.st.src.connect(s.ctx); err != nil {
				s.fail(err)
				return false
			}
		}
		if err := s.planTable(&c, ts); err != nil {
			if s.isDropped(ts) || s.tableGone(ts, err) {
				return true
			}
			if s.ctx.Err() == nil {
				s.fail(fmt.Errorf("snapshot of %s: %v", ts.key, err))
			}
			return false
		}
		return true
	}
	for _, ts := range s.initial {
		if !planOne(ts) {
			return
		}
	}
	// Then the tables that join while the stream runs.
	for {
		select {
		case ts := <-s.added:
			if !planOne(ts) {
				return
			}
		case <-s.ctx.Done():
			return
		}
	}
}

func (s *snapshotter) planTable(c **client.Conn, ts *tableState) error {
	t := ts.cur
	s.estimate(*c, ts)
	if kc := intKeyCol(t); kc != nil {
		if planned, err := s.planIntTable(c, ts, kc); planned || err != nil {
			return err
		}
	}
	excl := andPred(exclusion(t, ts.snap.Ranges), resnapFilter(ts))
	var lo []string
	for {
		var hi []string
		if len(t.Key) > 0 {
			err := s.withConn(c, "snapshot planning of "+ts.key, func(c *client.Conn) error {
				var err error
				hi, err = s.boundary(c, t, lo, excl)
				return err
			})
			if err != nil {
				return err
			}
		}
		ch := &chunk{ts: ts, t: t, rng: keyRange{Lo: lo, Hi: hi}, excl: excl}
		if !s.dispatch(ch, hi == nil) || hi == nil {
			return nil
		}
		lo = hi
	}
}

// dispatch hands a planned chunk to the workers, once fewer than
// 2 × snapshot_parallelism chunks are read but not emitted; last marks the
// table's planning finished. It returns false when the snapshot stops.
func (s *snapshotter) dispatch(ch *chunk, last bool) bool {
	select {
	case s.sem <- struct{}{}:
	case <-s.ctx.Done():
		return false
	}
	s.mu.Lock()
	if s.dropped[ch.ts] {
		s.mu.Unlock()
		<-s.sem
		return false
	}
	s.planned[ch.ts]++
	if last {
		s.closed[ch.ts] = true
	}
	s.mu.Unlock()
	select {
	case s.work <- ch:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// estimate sets the table's estimated row count.
func (s *snapshotter) estimate(c *client.Conn, ts *tableState) {
	r, err := c.Execute("SELECT IFNULL(TABLE_ROWS, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = " +
		quoteString(ts.ref.DB) + " AND TABLE_NAME = " + quoteString(ts.ref.Table))
	if err != nil || r.RowNumber() == 0 {
		return
	}
	n, _ := r.GetInt(0, 0)
	if n < 100000 {
		if r, err := c.Execute("SELECT COUNT(*) FROM " + tableIdent(ts.ref)); err == nil {
			n, _ = r.GetInt(0, 0)
		}
	}
	ts.rowsTotal.Store(n)
}

// keyExprs returns, per key column, the expression whose text is the
// column's SQL literal form, and how to make the literal from it.
func keyExpr(c *column) string {
	switch c.Kind {
	case kString, kBinary, kJSON:
		return "HEX(" + quoteIdent(c.Name) + ")"
	case kEnum, kSet, kBit:
		return "(" + quoteIdent(c.Name) + "+0)"
	case kFloat32:
		return "(" + quoteIdent(c.Name) + "*1e0)"
	}
	return quoteIdent(c.Name)
}

// keyLiteral turns the text of keyExpr into an SQL literal comparing the
// way the column sorts.
func keyLiteral(c *column, v []byte) string {
	switch c.Kind {
	case kString, kJSON:
		return "_" + c.Charset + " X'" + string(v) + "' COLLATE " + c.Collation
	case kBinary:
		return "X'" + string(v) + "'"
	case kDate, kDatetime, kTimestamp, kTime:
		return quoteString(string(v))
	}
	return string(v)
}

// rangePred returns the SQL predicate of key range r: key > lo AND key <= hi.
func rangePred(t *table, r keyRange) string {
	var parts []string
	if r.Lo != nil {
		parts = append(parts, keyCompare(t, r.Lo, ">"))
	}
	if r.Hi != nil {
		parts = append(parts, "NOT "+keyCompare(t, r.Hi, ">"))
	}
	if len(parts) == 0 {
		return "TRUE"
	}
	return strings.Join(parts, " AND ")
}

// keyCompare returns "key op lits" for op ">" expanded for composite keys
// (a > x OR (a = x AND b > y)), which range-optimizes on both servers.
func keyCompare(t *table, lits []string, op string) string {
	var ors []string
	for i := range t.Key {
		var ands []string
		for j := 0; j < i; j++ {
			ands = append(ands, quoteIdent(t.Cols[t.Key[j]].Name)+" = "+lits[j])
		}
		ands = append(ands, quoteIdent(t.Cols[t.Key[i]].Name)+" "+op+" "+lits[i])
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

func exclusion(t *table, done []keyRange) string {
	if len(done) == 0 || len(t.Key) == 0 {
		return ""
	}
	var ors []string
	for _, r := range done {
		ors = append(ors, "("+rangePred(t, r)+")")
	}
	return "NOT (" + strings.Join(ors, " OR ") + ")"
}

func keyOrder(t *table) string {
	var cols []string
	for _, k := range t.Key {
		cols = append(cols, quoteIdent(t.Cols[k].Name))
	}
	return strings.Join(cols, ", ")
}

// boundary returns the key that ends the chunk starting after lo, or nil
// when the rest of the table fits in one chunk.
func (s *snapshotter) boundary(c *client.Conn, t *table, lo []string, excl string) ([]string, error) {
	var exprs []string
	for _, k := range t.Key {
		exprs = append(exprs, keyExpr(t.Cols[k]))
	}
	where := rangePred(t, keyRange{Lo: lo})
	if excl != "" {
		where += " AND " + excl
	}
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM " + tableIdent(t.Ref) + " WHERE " + where +
		" ORDER BY " + keyOrder(t) + " LIMIT 1 OFFSET " + strconv.Itoa(s.st.opts.chunkRows-1)
	r, err := c.Execute(q)
	if err != nil {
		return nil, err
	}
	if r.RowNumber() == 0 {
		return nil, nil
	}
	out := make([]string, len(t.Key))
	for i, k := range t.Key {
		v, _ := r.GetString(0, i)
		out[i] = keyLiteral(t.Cols[k], []byte(v))
	}
	return out, nil
}

func (s *snapshotter) worker() {
	defer s.wg.Done()
	var c *client.Conn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for ch := range s.work {
		for ch != nil {
			var ok bool
			if ch, ok = s.readChunk(&c, ch); !ok {
				return
			}
		}
	}
}

// readChunk reads one chunk and queues it for emission. It returns the
// rest of the chunk's range when the read stopped at its row limit, or at a
// lost connection after rows were read (or nil), and false when the
// snapshot failed or stops.
func (s *snapshotter) readChunk(c **client.Conn, ch *chunk) (*chunk, bool) {
	rows := 0
	cut := false
	ch.drained = make(chan struct{}, 1)
	var err error
	for redos := 0; ; redos++ {
		s.mu.Lock()
		// From the second read on, a key-less chunk locks its table for
		// the moment its window is open (when the server lets etlq).
		ch.lock = redos > 0 && !s.noTableLock
		s.mu.Unlock()
		rows, cut, err = s.readAttempt(c, ch)
		if errors.Is(err, errNoTableLock) {
			s.st.log.Warn("key-less table cannot be locked for its snapshot window; reading it again until its window stays quiet",
				"table", ch.ts.key, "error", firstLine(err))
			s.mu.Lock()
			s.noTableLock = true
			s.mu.Unlock()
			err = errRedo
		}
		if !errors.Is(err, errRedo) {
			break
		}
		// A key-less chunk whose table changed inside its window: read
		// it again, after a pause, in a new read view.
		if redos+1 >= maxKeylessReads {
			err = fmt.Errorf("table %s (no primary key) changed inside the snapshot window of each of %d reads: "+
				"without a key the chunk cannot leave those changes out (this server has no binlog_snapshot_position); "+
				"give the table a primary key, grant etlq LOCK TABLES on it, or snapshot it while it is quiet", ch.ts.key, redos+1)
			break
		}
		s.mu.Lock()
		s.redos++
		s.mu.Unlock()
		select {
		case <-time.After(time.Duration(50<<min(redos, 6)) * time.Millisecond):
		case <-s.ctx.Done():
			return nil, false
		}
	}
	if errors.Is(err, errChunkCut) {
		// The chunk waited too long for the reader with its read view
		// open: it ends at its last complete record, as after a lost
		// connection (read closed the connection).
		(*c) = nil
		cut, err = true, nil
		s.mu.Lock()
		s.cuts++
		s.mu.Unlock()
	}
	if err != nil {
		s.mu.Lock()
		s.removeInflight(ch)
		for _, r := range ch.recs {
			r.Release()
		}
		ch.recs = nil
		dropped := s.dropped[ch.ts]
		s.mu.Unlock()
		if dropped || s.tableGone(ch.ts, err) {
			<-s.sem
			return nil, true
		}
		if s.ctx.Err() == nil {
			s.fail(fmt.Errorf("snapshot of %s: %v", ch.ts.key, err))
		}
		return nil, false
	}
	rest := splitAtLimit(ch, rows)
	if cut {
		rest = splitAfter(ch, ch.lastOrd)
	}
	s.mu.Lock()
	if s.dropped[ch.ts] {
		s.removeInflight(ch)
		for _, r := range ch.recs {
			r.Release()
		}
		ch.recs = nil
		s.mu.Unlock()
		<-s.sem
		return nil, true
	}
	s.biggest = max(s.biggest, rows)
	if rest != nil {
		// Counted before ch can be emitted, so the table is not done
		// before its rest is.
		s.planned[ch.ts]++
		s.splits++
	}
	s.removeInflight(ch)
	s.pending = append(s.pending, ch)
	s.mu.Unlock()
	s.signal()
	if rest != nil {
		select {
		case s.sem <- struct{}{}:
		case <-s.ctx.Done():
			return nil, false
		}
	}
	return rest, true
}

// maxKeylessReads bounds the reads of a key-less chunk in the windowed
// modes (see keylessVerdict).
var maxKeylessReads = 10

// errRedo: the reader found a change of a key-less chunk's table inside
// the chunk's window; the chunk is read again.
var errRedo = errors.New("key-less chunk: its table changed inside the chunk's window")

// readAttempt reads ch once (with the connection retries of withConn). It
// returns the rows read and whether the chunk ends at its last complete
// record (a lost connection after rows were read in key order); errRedo
// when a key-less chunk must be read again (its records released).
func (s *snapshotter) readAttempt(c **client.Conn, ch *chunk) (rows int, cut bool, err error) {
	err = s.withConn(c, "snapshot of "+ch.ts.key, func(c *client.Conn) error {
		if ch.haveLast {
			// The connection was lost after rows were read in key
			// order: they are the chunk's range up to the last of
			// them, as of its position (the chunk stayed registered,
			// so the reader has not passed it); the rest is a new
			// chunk, read in a new read view.
			cut = true
			return nil
		}
		// Otherwise the chunk is read again from scratch, in a new read
		// view at a new position. Rows that already went out are sent
		// again (an upsert table ends the same; an append table gets
		// them twice).
		s.mu.Lock()
		if ch.streamed > 0 {
			s.st.log.Warn("snapshot chunk read again after a lost connection: its rows already sent are sent again",
				"table", ch.ts.key, "batches", ch.streamed)
		}
		for _, r := range ch.recs {
			r.Release()
		}
		ch.recs, ch.finalIn = nil, false
		ch.pos, ch.low, ch.posKnown, ch.hwBound = binlogPos{}, binlogPos{}, false, binlogPos{}
		ch.verdictKnown, ch.redo, ch.verdictC = false, false, make(chan struct{}, 1)
		s.mu.Unlock()
		var err error
		rows, err = s.read(c, ch)
		return err
	})
	if errors.Is(err, errRedo) {
		*c = nil // read closed it: the result was not read to its end
	}
	if err == nil && !cut && s.windowed() && len(ch.t.Key) == 0 {
		// A key-less chunk stands only when the reader, at its
		// position, found no change of its table in its window.
		select {
		case <-ch.verdictC:
		case <-s.ctx.Done():
			return rows, cut, s.ctx.Err()
		}
		s.mu.Lock()
		redo := ch.redo
		if redo {
			s.removeInflight(ch)
			for _, r := range ch.recs {
				r.Release()
			}
			ch.recs = nil
		}
		s.mu.Unlock()
		if redo {
			return rows, cut, errRedo
		}
	}
	return rows, cut, err
}

func (s *snapshotter) removeInflight(ch *chunk) {
	for i, c := range s.inflight {
		if c == ch {
			s.inflight = append(s.inflight[:i], s.inflight[i+1:]...)
			return
		}
	}
}

// barrier reports whether the binlog reader, between transactions at pos,
// must wait before reading on: a chunk is being read whose position is not
// known yet or is at or before pos. Its rows must go out before any event
// after its position.
//
// begins says the event at pos begins a transaction. When the reader may go
// on, that is recorded as passed (notePassed) under the same lock: a chunk
// registered after this check whose read view does not see that
// transaction yet (MariaDB sends it to replicas a moment before the engine
// commits it) must find it passed and take its read view again. Noted only
// later, in begin, a chunk could slip in between, take a read view at pos
// without the transaction, and come after its changes (a key-less table's
// changes were even dropped as covered by the chunk).
func (s *snapshotter) barrier(pos binlogPos, begins bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.inflight {
		if !ch.posKnown {
			// In watermark mode the reader itself finds the position
			// (the high watermark), ahead of it.
			if s.mode != "watermark" {
				return true
			}
		} else if ch.pos.cmp(pos) <= 0 {
			return true
		}
	}
	if begins && pos.cmp(s.passed) > 0 {
		s.passed = pos
	}
	return false
}

// notePassed records that the binlog reader begins a transaction at pos.
func (s *snapshotter) notePassed(pos binlogPos) {
	s.mu.Lock()
	if pos.cmp(s.passed) > 0 {
		s.passed = pos
	}
	s.mu.Unlock()
}

// readerPassed reports whether the binlog reader has begun a transaction
// at or after pos: a chunk whose read view is at pos would come after
// changes the reader has already handled as before it.
func (s *snapshotter) readerPassed(pos binlogPos) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.passed.isZero() && s.passed.cmp(pos) >= 0
}

// loggedKey is a key changed by a binlog event at pos.
type loggedKey struct {
	pos binlogPos
	key string
}

// recordKey returns the text of row i's key columns (from column offset
// off), the same for snapshot and binlog rows since both give equal values.
func recordKey(t *table, rec arrow.RecordBatch, off, i int) (string, bool) {
	var b strings.Builder
	for _, k := range t.Key {
		a := rec.Column(off + k)
		if a.IsNull(i) {
			return "", false
		}
		b.WriteString(a.ValueStr(i))
		b.WriteByte(0)
	}
	return b.String(), true
}

// noteKeys logs, in the windowed modes, the keys a batch of binlog rows changed,
// while ts is being snapshotted.
func (s *snapshotter) noteKeys(ts *tableState, rec arrow.RecordBatch) {
	if !s.windowed() || ts.snap == nil || ts.snap.Done || rec.NumRows() == 0 {
		return
	}
	posCol := rec.Column(rec.Schema().FieldIndices(exec.ColPos)[0]).(*array.String)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(ts.cur.Key) == 0 {
		// A key-less table: that it changed, and where, is what counts
		// (keylessVerdict).
		p, _ := parsePos(posCol.Value(0))
		s.keyLog[ts] = append(s.keyLog[ts], loggedKey{p, ""})
		return
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		p, _ := parsePos(posCol.Value(i))
		if k, ok := recordKey(ts.cur, rec, 0, i); ok {
			s.keyLog[ts] = append(s.keyLog[ts], loggedKey{p, k})
		}
		if s.st.req.Before {
			if k, ok := recordKey(ts.cur, rec, len(ts.cur.Cols), i); ok {
				s.keyLog[ts] = append(s.keyLog[ts], loggedKey{p, k})
			}
		}
	}
}

// keylessCovered reports whether rec, binlog rows of ts, are changes its
// snapshot chunk already holds, and are dropped: ts has no key (so its
// snapshot is one chunk, and a chunk row cannot override an earlier change
// of the same row, as it does by key) and its chunk is not emitted yet.
// The reader cannot pass the chunk's position while it is unsent, so the
// rows are before it; in the windowed modes the chunk is read again until
// no change of ts falls inside its window (keylessVerdict), so they are
// before its window, hence in its read view.
func (s *snapshotter) keylessCovered(ts *tableState, rec arrow.RecordBatch) bool {
	if ts.snap == nil || len(ts.cur.Key) > 0 || rec.NumRows() == 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !ts.snap.Done
}

// keylessVerdict decides, when the reader stands at a key-less windowed
// chunk's position, whether the chunk stands (no change of its table in
// its window) or must be read again (redo). It reports whether the chunk
// may be emitted.
func (s *snapshotter) keylessVerdict(ch *chunk, at binlogPos) bool {
	if !s.windowed() || len(ch.t.Key) > 0 {
		return true
	}
	s.mu.Lock()
	known, redo := ch.verdictKnown, ch.redo
	s.mu.Unlock()
	if !known {
		touched := len(s.windowKeys(ch.ts, ch.low, ch.pos, at)) > 0
		s.mu.Lock()
		ch.verdictKnown, ch.redo = true, touched
		redo = touched
		s.mu.Unlock()
		select {
		case ch.verdictC <- struct{}{}:
		default:
		}
		if redo {
			select { // wake a worker waiting for the reader in push
			case ch.drained <- struct{}{}:
			default:
			}
		}
	}
	return !redo
}

// windowed reports whether chunks have a window [low, pos) whose changed
// keys come from the binlog rather than the chunk (bracket and watermark
// modes).
func (s *snapshotter) windowed() bool {
	return s.mode == "bracket" || s.mode == "watermark"
}

// windowKeys returns the keys of ts changed in [lo, hi), and prunes the
// log below the lowest position a chunk can still need.
func (s *snapshotter) windowKeys(ts *tableState, lo, hi, reader binlogPos) map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for _, e := range s.keyLog[ts] {
		if e.pos.cmp(lo) >= 0 && e.pos.cmp(hi) < 0 {
			out[e.key] = true
		}
	}
	floor := reader
	for _, c := range append(append([]*chunk(nil), s.inflight...), s.pending...) {
		if c.ts == ts && !c.low.isZero() && c.low.cmp(floor) < 0 {
			floor = c.low
		}
	}
	log := s.keyLog[ts][:0]
	for _, e := range s.keyLog[ts] {
		if e.pos.cmp(floor) >= 0 {
			log = append(log, e)
		}
	}
	s.keyLog[ts] = log
	return out
}

// emitReady queues the chunks whose position the binlog reader has reached
// (pos; or every chunk when any is true), in position order, and the
// complete records of chunks still being read at such a position.
func (s *snapshotter) emitReady(pos binlogPos, any bool) bool {
	if s.mode == "watermark" {
		if err := s.watermarkMissing(pos); err != nil {
			s.fail(err)
			return false
		}
	}
	s.mu.Lock()
	var ready []*chunk
	keep := s.pending[:0]
	for _, ch := range s.pending {
		if any || ch.posKnown && ch.pos.cmp(pos) <= 0 {
			ready = append(ready, ch)
		} else {
			keep = append(keep, ch)
		}
	}
	s.pending = keep
	var streaming, drop []*chunk
	for _, ch := range s.inflight {
		if s.dropped[ch.ts] {
			drop = append(drop, ch)
			continue
		}
		verdict := s.windowed() && len(ch.t.Key) == 0 && !ch.verdictKnown
		if (len(ch.recs) > 0 || verdict) && (any || ch.posKnown && ch.pos.cmp(pos) <= 0) {
			streaming = append(streaming, ch)
		}
	}
	s.mu.Unlock()
	for _, ch := range drop {
		// A table that left: what its chunk read goes nowhere.
		recs, _ := s.take(ch)
		for _, r := range recs {
			r.Release()
		}
	}
	if len(ready) == 0 && len(streaming) == 0 {
		return false
	}
	for i := 1; i < len(ready); i++ {
		for j := i; j > 0 && ready[j].pos.cmp(ready[j-1].pos) < 0; j-- {
			ready[j], ready[j-1] = ready[j-1], ready[j]
		}
	}
	for _, ch := range ready {
		s.emit(ch, pos, true)
	}
	emitted := len(ready) > 0
	for _, ch := range streaming {
		if s.keylessVerdict(ch, pos) {
			s.emit(ch, pos, false)
			emitted = true
		}
	}
	return emitted
}

// take removes and returns the records of ch read so far; final says they
// end the chunk (its last record is among them).
func (s *snapshotter) take(ch *chunk) (recs []arrow.RecordBatch, final bool) {
	s.mu.Lock()
	recs = ch.recs
	ch.recs = nil
	ch.streamed += len(recs)
	final = ch.finalIn && len(recs) > 0
	ch.finalIn = false
	s.mu.Unlock()
	if ch.drained != nil {
		select {
		case ch.drained <- struct{}{}:
		default:
		}
	}
	return recs, final
}

// snapshotStart says what the first row of ts's rows being emitted
// begins: nothing when ts's rows went out before, else ts's snapshot, or
// the stream's whole snapshot when no table's rows went out before.
func (s *snapshotter) snapshotStart(ts *tableState) exec.SnapshotEdge {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.begun[ts] {
		return exec.SnapshotInside
	}
	edge := exec.SnapshotEdgeAll
	if len(s.begun) > 0 {
		edge = exec.SnapshotEdgeTable
	}
	s.begun[ts] = true
	return edge
}

// snapshotEnd says what the last row of ts's chunk being emitted ends,
// when the chunk is the last of ts not emitted yet and no more are
// planned: ts's snapshot, or the stream's whole snapshot when every other
// table's is done.
func (s *snapshotter) snapshotEnd(ts *tableState) exec.SnapshotEdge {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed[ts] || s.emitted[ts] != s.planned[ts]-1 {
		return exec.SnapshotInside
	}
	s.ended[ts] = true
	for _, o := range s.active {
		if !o.snap.Done && !s.ended[o] {
			return exec.SnapshotEdgeTable
		}
	}
	return exec.SnapshotEdgeAll
}

// emit turns the records of a chunk into batches with op "read" and fresh
// versions. A complete chunk's last batch carries a Mark that records the
// chunk as done; a chunk still being read (complete false) sends what it
// has so far, without a Mark.
func (s *snapshotter) emit(ch *chunk, at binlogPos, complete bool) {
	st := s.st
	ts := ch.ts
	posText := ch.pos.String()
	if ch.pos.isZero() {
		posText = ""
	}
	first := len(st.out)
	var drop map[string]bool
	if !ch.low.isZero() && len(ch.t.Key) > 0 {
		// Windowed modes: keys changed between the chunk's low and high
		// positions come from the binlog events, not the chunk.
		drop = s.windowKeys(ts, ch.low, ch.pos, at)
	}
	recs, final := s.take(ch)
	for _, rec := range recs {
		b := s.finishRecord(ch, rec, posText)
		if b != nil && len(drop) > 0 {
			sel := make([]int32, 0, rec.NumRows())
			for i := 0; i < int(rec.NumRows()); i++ {
				if k, ok := recordKey(ch.t, rec, 0, i); !ok || !drop[k] {
					sel = append(sel, int32(i))
				}
			}
			if len(sel) < int(rec.NumRows()) {
				b.Sel = sel
				s.mu.Lock()
				s.windowDrops += int(rec.NumRows()) - len(sel)
				s.mu.Unlock()
			}
		}
		rec.Release()
		if b != nil {
			if ts.resnap != nil {
				b.Only = ts.resnap.req.Pipeline
			}
			st.out = append(st.out, b)
		}
	}
	if len(st.out) > first {
		st.out[first].SnapshotStart = s.snapshotStart(ts)
		if final {
			st.out[len(st.out)-1].SnapshotEnd = s.snapshotEnd(ts)
		}
	}
	if !complete {
		return
	}
	s.mu.Lock()
	ts.snap.addRange(ch.rng)
	s.emitted[ts]++
	done := false
	if s.closed[ts] && s.emitted[ts] == s.planned[ts] {
		ts.snap.Done = true
		ts.snap.Ranges = nil
		ts.snapDone.Store(true)
		done = true
	}
	s.mu.Unlock()
	<-s.sem
	if done && ts.resnap != nil {
		// The resnapshot's last row is out: the engine removes the keys
		// of its range it did not find (resnapshot.go).
		defer func(r *resnapState) {
			st.endResnapshot(r.req, ts, r.version, "")
			st.log.Info("resnapshot: the table was read again", "table", ts.key, "pipeline", r.req.Pipeline, "id", r.req.ID)
		}(ts.resnap)
		ts.resnap = nil
	}
	if len(st.out) == first {
		// An empty chunk (or one whose rows all went out while it was
		// read) still moves the snapshot on.
		st.emitMarkOnlyFor(ts, at)
		return
	}
	if st.needBinlog {
		st.out[len(st.out)-1].Mark = st.mark(at)
	} else {
		st.out[len(st.out)-1].Mark = st.mark(binlogPos{})
	}
}

// finishRecord adds the before.* (NULL) and metadata columns to a chunk
// record of table columns.
func (s *snapshotter) finishRecord(ch *chunk, rec arrow.RecordBatch, posText string) *exec.Batch {
	st := s.st
	n := int(rec.NumRows())
	if n == 0 {
		return nil
	}
	t := ch.t
	ts := ch.ts
	outT := ts.out
	schema := outT.streamSchema(st.req.Before)
	cols := make([]arrow.Array, 0, schema.NumFields())
	for _, c := range outT.Cols {
		if i := t.colIndex(c.Name); i >= 0 && t.Cols[i].Kind == c.Kind {
			a := rec.Column(i)
			a.Retain()
			cols = append(cols, a)
		} else {
			cols = append(cols, array.MakeArrayOfNull(st.mem, c.arrowType(), n))
		}
	}
	if st.req.Before {
		for _, c := range outT.Cols {
			cols = append(cols, array.MakeArrayOfNull(st.mem, c.arrowType(), n))
		}
	}
	meta := metaArrays(st.mem, &st.consts, ts.ref.DB, ts.ref.Table, []metaRun{{op: exec.OpRead, ts: ch.readTs, pos: posText, ver: st.version, n: n}})
	st.version += uint64(n)
	cols = append(cols, meta...)
	out := array.NewRecordBatch(schema, cols, int64(n))
	for _, a := range cols {
		a.Release()
	}
	ts.rowsDone.Add(int64(n))
	return &exec.Batch{Record: out, DB: ts.ref.DB, Table: ts.ref.Table, Snapshot: true}
}

// stateSnapshot returns the snapshot part of a Mark.
func (s *snapshotter) stateSnapshot() map[string]*snapState {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*snapState{}
	for _, ts := range s.st.tables {
		if ts.gone {
			continue
		}
		if ts.resnap != nil {
			// A resnapshot is not resumed from a checkpoint: its request
			// stays in the state directory until it ends, and the next run
			// starts it anew.
			out[ts.key] = &snapState{Done: true}
		} else if ts.snap != nil {
			cp := &snapState{Done: ts.snap.Done, Ranges: append([]keyRange(nil), ts.snap.Ranges...)}
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
	if len(s.sorted) != len(s.st.tables) { // tables are only appended
		s.sorted = s.sorted[:0]
		for _, ts := range s.st.tables {
			k, _ := json.Marshal(ts.key)
			s.sorted = append(s.sorted, stateKey{ts, k})
		}
		slices.SortStableFunc(s.sorted, func(a, b stateKey) int { return strings.Compare(a.ts.key, b.ts.key) })
	}
	n := len(b)
	b = append(b, '{')
	for _, e := range s.sorted {
		ts := e.ts
		if ts.gone || (ts.snap == nil && ts.mode == connectors.SnapshotNever) {
			continue
		}
		if len(b) > n+1 {
			b = append(b, ',')
		}
		b = append(b, e.key...)
		b = append(b, ':')
		switch {
		case ts.snap == nil || ts.snap.Done && len(ts.snap.Ranges) == 0:
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
