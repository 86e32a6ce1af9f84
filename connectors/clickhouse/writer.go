package clickhouse

import (
	"context"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/format"
	"github.com/etlq/etlq/exec"
)

// errClosed fails the writes a closed writer never made durable.
var errClosed = errors.New("clickhouse writer closed before the rows were written")

// item is one Write: a batch and its callback.
type item struct {
	b    *exec.Batch
	done func(error)
}

// group is the unit of insert and of retry: consecutive Writes with the same
// schema coalesced into one INSERT. Its Arrow batches are kept until the
// insert succeeded, since a sent block cannot be sent twice — or, in a
// long INSERT past insert_memory, their rows in its spill file (spill.go).
type group struct {
	items  []item
	rows   int
	bytes  int64
	schema *arrow.Schema
	cols   []*colSpec // insert columns
	idx    []int      // their column index in the batches
	timer  *time.Timer
	// due is when flush_interval runs out for the group.
	due time.Time
	// full: sealed because it reached batch_rows or batch_bytes (the
	// stream is busy: a long insert stays open for the next group).
	full bool
	// bulk: its last batch was of a snapshot that goes on (writer.bulk).
	bulk bool
	// left: its last batch's exec.Batch.SnapshotLeft (the rows its
	// snapshot has still to read; 0: not known).
	left int64
	// spill is where its rows are once a long INSERT released its
	// batches after sending them (spill.go); nil: in the batches.
	spill *spilled
	err   error
	// finished is closed when the insert is over (err set); acked when the
	// done callbacks of the group have been called.
	finished, acked chan struct{}
}

// writer writes one pipeline's batches into one table.
//
// Writes are coalesced into groups of up to batch_rows rows / batch_bytes
// bytes, or whatever arrived within flush_interval; up to max_inflight
// groups are inserted at once, each on its own connection. When the stream
// goes idle (Idle), the pending group is inserted early — at once, or
// idle_flush after the previous insert began, whichever is later: a
// lone change is not held for flush_interval, and a steady stream of small
// transactions still makes at most one insert per idle_flush. done callbacks
// run in the order of the Writes, from one goroutine, after the batches are
// released.
type writer struct {
	// created: Open made the table (connectors.TargetCreator).
	created bool
	// readAgain: the pipeline's tables are read again in full
	// (connectors.ReadAgainer): columns the table lacks are added.
	readAgain atomic.Bool
	s         *Sink
	conn      driver.Conn
	opts      targetOptions
	target    string // db.table for messages
	qualified string // `db`.`table`

	ctx    context.Context // canceled by Close: stops retries
	cancel context.CancelFunc
	slots  chan struct{}
	order  *queue         // the groups, in the order of the Writes, for the completer
	wg     sync.WaitGroup // the completer, the inserter and its settles
	// feed takes the sealed groups to the inserter when inserts carry
	// several groups (writer_long.go; nil otherwise); poke asks it to end
	// the open INSERT; ending holds a token per INSERT being ended (one
	// at a time, while the next is open), endingKept the bytes of
	// batches it keeps in memory (insert_memory); spilledGroups counts
	// the groups written to spill files (spill.go), for tests.
	feed          chan *group
	poke          chan struct{}
	yield         chan struct{}  // an ALTER of the table waits for the open INSERT (alterwatch.go)
	alterRe       *regexp.Regexp // matches an ALTER of the table
	ending        chan struct{}
	endingKept    atomic.Int64
	spilledGroups atomic.Int64

	mu     sync.Mutex
	layout *tableLayout
	// existing are the table's columns (name → type) as Open found them
	// and evolve changed them.
	existing map[string]string
	// addedHere are the columns this writer added to the table (ADD
	// COLUMN with the source's DEFAULT) since the batches last lacked
	// them, with the ADD's table and version (exec.MetaDDLTable,
	// exec.MetaAddedAt; 0 unknown); filled the source's ADDs whose
	// DEFAULT it wrote into the rows already there of a column the table
	// had (refill.go): each once, also when the batches of a target
	// several tables share carry one table's ADD, then another's.
	addedHere map[string]ddlAdd
	filled    map[ddlAdd]bool
	schema    *arrow.Schema // schema of the last batch, checked against layout
	pending   *group
	last      *group // the last sealed group
	closed    bool
	// sealed is when the last group was sealed (its insert began).
	sealed time.Time
	// bulk: the last batch written was of a snapshot that goes on (it
	// does not end its table's snapshot): Idle leaves the pending group
	// and the open long INSERT alone (writer_long.go).
	bulk bool

	inserts atomic.Int64 // INSERTs sent successfully, for tests and metrics
	retries atomic.Int64 // INSERT attempts that failed and were tried again
	blocks  atomic.Int64 // blocks sent into long inserts, for tests
	// fastColumns counts the Arrow columns appended by the fast path, for
	// tests; noFastPath makes every insert take the slow path, for tests
	// comparing the two.
	fastColumns atomic.Int64
	noFastPath  bool

	// spare are the fast path's columns of blocks already sent, for the
	// next blocks to write into (spare.go).
	spareMu sync.Mutex
	spare   [][]chTarget

	errMu    sync.Mutex
	flushErr error // first failure since the last Flush
}

var (
	_ connectors.Writer        = (*writer)(nil)
	_ connectors.VersionReader = (*writer)(nil)
	_ connectors.Retrier       = (*writer)(nil)
	_ connectors.Idler         = (*writer)(nil)
)

// Retries returns the INSERT attempts that failed and were tried again
// (connectors.Retrier).
func (w *writer) Retries() int64 { return w.retries.Load() }

// MaxVersion returns the largest _version of an upsert or changelog table,
// 0 for an empty one and for the other modes (no _version of etlq's there).
func (w *writer) MaxVersion(ctx context.Context) (uint64, error) {
	w.mu.Lock()
	mode := w.layout.mode
	w.mu.Unlock()
	if mode != connectors.ModeUpsert && mode != connectors.ModeChangelog {
		return 0, nil
	}
	// Read when the pipeline starts: ClickHouse unreachable meanwhile
	// is waited for, as Open waits.
	var v uint64
	err := retrying(ctx, "reading the largest "+colVersion, w.target, w.opts.maxBackoff, func() error {
		if err := w.conn.QueryRow(ctx, "SELECT max("+quote(colVersion)+") FROM "+w.qualified).Scan(&v); err != nil {
			return &ddlError{msg: fmt.Sprintf("clickhouse: largest %s of %s: %v", colVersion, w.target, err), cause: err}
		}
		return nil
	})
	return v, err
}

// insertError is the error of an insert that failed for good. A table
// that is gone (ClickHouse code 60: dropped by hand while the pipeline
// ran) says what to do: the next run makes it again and, resuming from a
// checkpoint, reads the pipeline's tables into it again (exec/engine,
// newPipelineResnapshots). So does a column that is gone (code 16): the
// next run names it and the ways to get its values back.
func (w *writer) insertError(err error) error {
	switch chCode(err) {
	case 60:
		if other := missingTable(err); other != "" && other != w.target {
			// Not the target: a table a materialized view of it writes
			// into (its TO table dropped), or the view itself, which
			// ClickHouse 18 makes known to inserts a moment before it
			// exists. The target is there: making it again would not help.
			return fmt.Errorf("clickhouse insert into %s: %w: %s is missing, and the insert into %s writes into it through a materialized view of %s (its TO table dropped, or a view being created while etlq inserted): the target is there; create %s or drop the view, then run etlq apply again", w.target, err, other, w.target, w.target, other)
		}
		return fmt.Errorf("clickhouse insert into %s: %w: the table is gone (dropped outside etlq while the pipeline ran?): run etlq apply again; it makes the table again and reads the pipeline's source tables into it again (apply --log workers: run etlq resnapshot FILE PIPELINE --log … for it)", w.target, err)
	case 16:
		return fmt.Errorf("clickhouse insert into %s: %w: a column of the table is gone (dropped outside etlq while the pipeline ran?): run etlq apply again: it names the column(s) and how to get their values back", w.target, err)
	}
	return fmt.Errorf("clickhouse insert into %s: %w", w.target, err)
}

// missingTableRe finds the table of ClickHouse's code 60: "Table db.t
// doesn't exist." (18.16), "Table `db`.`t` does not exist" (later).
var missingTableRe = regexp.MustCompile("Table (\\S+) (?:doesn't|does not) exist")

// missingTable returns the db.table a code 60 error names ("" if none).
func missingTable(err error) string {
	m := missingTableRe.FindStringSubmatch(err.Error())
	if m == nil {
		return ""
	}
	return strings.ReplaceAll(strings.TrimRight(m[1], "."), "`", "")
}

// CreatedTarget reports whether Open made the table (connectors.TargetCreator).
func (w *writer) CreatedTarget() bool { return w.created }

// ReadingAgain says the pipeline's tables are read again in full
// (connectors.ReadAgainer).
func (w *writer) ReadingAgain() { w.readAgain.Store(true) }

func newWriter(s *Sink, conn driver.Conn, l *tableLayout, t connectors.Target) *writer {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{
		s: s, conn: conn, opts: l.opts, layout: l, target: l.db + "." + l.table,
		qualified: l.qualified(), ctx: ctx, cancel: cancel,
		slots:  make(chan struct{}, l.opts.maxInflight),
		order:  newQueue(),
		schema: t.Schema, existing: map[string]string{},
		addedHere: map[string]ddlAdd{}, filled: map[ddlAdd]bool{},
	}
	for _, c := range l.existing {
		w.existing[c.name] = c.typ
	}
	if l.deferred {
		// Columns the table lacks or has narrower are settled by the
		// first batch (evolve), with what its schema says of them.
		w.schema = nil
	}
	w.wg.Add(1)
	go w.complete()
	if w.long() {
		w.feed = make(chan *group, l.opts.maxInflight)
		w.poke = make(chan struct{}, 1)
		w.yield = make(chan struct{}, 1)
		w.alterRe = alterOf(l.db, l.table)
		w.ending = make(chan struct{}, 1)
		w.wg.Add(1)
		go w.inserter()
	}
	return w
}

// Write queues b. It blocks while max_inflight inserts are running and the
// next group is full. When it returns an error, b has been released and
// done will not be called.
func (w *writer) Write(ctx context.Context, b *exec.Batch, done func(error)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		b.Release()
		return fmt.Errorf("clickhouse writer for %s is closed", w.target)
	}
	if b.Record == nil {
		// Nothing to write (a position-only batch): acknowledged in order.
		return w.writeEmpty(ctx, b, done)
	}
	schema := b.Record.Schema()
	if err := w.follow(ctx, schema); err != nil {
		if pos := batchPos(b); pos != "" {
			err = fmt.Errorf("%w (source position %s)", err, pos)
		}
		b.Release()
		return err
	}
	if w.pending == nil {
		g, err := w.newGroup(schema)
		if err != nil {
			b.Release()
			return err
		}
		w.pending = g
		g.due = time.Now().Add(w.opts.flushInterval)
		g.timer = time.AfterFunc(w.opts.flushInterval, func() { w.timeout(g) })
	}
	g := w.pending
	w.bulk = b.Snapshot && b.SnapshotEnd == exec.SnapshotInside
	g.bulk = w.bulk
	g.left = b.SnapshotLeft
	g.items = append(g.items, item{b, done})
	n := b.NumRows()
	g.rows += n
	if total := b.Record.NumRows(); total > 0 {
		g.bytes += exec.RecordBytes(b.Record) * int64(n) / total
	}
	if g.rows >= w.opts.batchRows || g.bytes >= w.opts.batchBytes {
		g.full = true
		return w.seal(ctx)
	}
	return nil
}

// Follow brings the table in line with schema before a batch of it is
// written (connectors.SchemaFollower).
func (w *writer) Follow(ctx context.Context, schema *arrow.Schema) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("clickhouse writer for %s is closed", w.target)
	}
	return w.follow(ctx, schema)
}

// follow seals the group of another schema and evolves the table to
// schema. Called with w.mu held.
func (w *writer) follow(ctx context.Context, schema *arrow.Schema) error {
	if w.pending != nil && !w.pending.schema.Equal(schema) {
		if err := w.seal(ctx); err != nil {
			return err
		}
	}
	if !w.schema.Equal(schema) {
		if err := w.evolve(ctx, schema); err != nil {
			return err
		}
		w.schema = schema
	}
	return nil
}

// writeEmpty queues a batch without a record behind the earlier writes.
// Called with w.mu held.
func (w *writer) writeEmpty(ctx context.Context, b *exec.Batch, done func(error)) error {
	if g := w.pending; g != nil {
		g.items = append(g.items, item{b, done})
		return nil
	}
	g := &group{items: []item{{b, done}}, finished: make(chan struct{}), acked: make(chan struct{})}
	close(g.finished)
	w.order.push(g)
	w.last = g
	return nil
}

// newGroup starts a group for batches of schema: the insert columns are the
// layout's columns the batches carry.
func (w *writer) newGroup(schema *arrow.Schema) (*group, error) {
	return groupFor(w.layout, w.target, schema)
}

// groupFor starts a group of target (laid out as l) for batches of
// schema: the insert columns are l's columns the batches carry.
func groupFor(l *tableLayout, target string, schema *arrow.Schema) (*group, error) {
	g := &group{schema: schema, finished: make(chan struct{}), acked: make(chan struct{})}
	for i := range l.cols {
		c := &l.cols[i]
		idx := schema.FieldIndices(c.src)
		if len(idx) == 0 {
			continue // a column the source dropped: ClickHouse writes its default
		}
		f := schema.Field(idx[0])
		if !exec.Holds(f.Type, c.field.Type) {
			// (A narrower batch column is widened on insert, or converted
			// to the type that holds both: rows from before a type change
			// the table already follows.)
			return nil, fmt.Errorf("clickhouse %s: column %q changed type from %s to %s: the table cannot follow", target, c.name, c.field.Type, f.Type)
		}
		g.cols = append(g.cols, c)
		g.idx = append(g.idx, idx[0])
	}
	if len(g.cols) == 0 {
		return nil, fmt.Errorf("clickhouse %s: batch has none of the table's columns", target)
	}
	return g, nil
}

// Idle is told that the stream has nothing more to read right now
// (connectors.Idler): the pending group is inserted at once, or once
// idle_flush has passed since the previous insert began, when that comes
// before flush_interval runs out. While a snapshot goes on (w.bulk) it
// does nothing: the rows wait for batch_rows, batch_bytes or
// flush_interval. It does not block.
func (w *writer) Idle() {
	w.mu.Lock()
	defer w.mu.Unlock()
	g := w.pending
	if w.closed || w.opts.idleFlush >= w.opts.flushInterval || w.bulk {
		return
	}
	if g == nil {
		// Nothing pending: a long insert kept open for more ends now.
		w.finishOpen()
		return
	}
	at := w.sealed.Add(w.opts.idleFlush)
	if !at.Before(g.due) {
		return
	}
	// The timer seals g from its own goroutine: Idle never waits for an
	// insert slot.
	g.due = at
	g.timer.Reset(max(0, time.Until(at)))
}

// timeout seals g when it is still pending after flush_interval.
func (w *writer) timeout(g *group) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending == g && !w.closed {
		// A failure here (only w.ctx canceled) leaves g pending for Flush/Close.
		_ = w.seal(w.ctx)
	}
}

// seal starts the insert of the pending group once an insert slot is free.
// Called with w.mu held.
func (w *writer) seal(ctx context.Context) error {
	g := w.pending
	if g == nil {
		return nil
	}
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.ctx.Done():
		return errClosed
	}
	g.timer.Stop()
	w.pending = nil
	w.last = g
	w.sealed = time.Now()
	w.order.push(g)
	if w.feed != nil {
		w.feed <- g
		return nil
	}
	go w.run(g)
	return nil
}

// run inserts g, retrying while ClickHouse is unreachable.
func (w *writer) run(g *group) {
	defer func() {
		<-w.slots
		close(g.finished)
	}()
	for attempt := 0; ; attempt++ {
		err := w.insert(w.ctx, g)
		if err == nil {
			w.inserts.Add(1)
			if attempt > 0 {
				// The WARNs were the last word: say the target is back.
				slog.Info("clickhouse: insert written after retrying", "table", w.target, "rows", g.rows, "attempts", attempt+1)
			}
			return
		}
		if w.ctx.Err() != nil {
			g.err = errClosed
			return
		}
		if !retryable(err) {
			g.err = w.insertError(err)
			return
		}
		w.retries.Add(1)
		d := backoff(attempt, w.opts.maxBackoff)
		slog.Warn("clickhouse: insert failed, retrying", "table", w.target, "rows", g.rows, "attempt", attempt+1, "in", d, "error", err)
		if sleep(w.ctx, d) != nil {
			g.err = errClosed
			return
		}
	}
}

// insert makes one attempt: an INSERT on an insert connection of the sink
// (native.go), whose block is filled column by column from the Arrow
// batches (fill).
func (w *writer) insert(ctx context.Context, g *group) error {
	return w.insertGroups(ctx, []*group{g})
}

// insertGroups makes one attempt at one INSERT carrying the groups, a
// block each (all of one schema).
func (w *writer) insertGroups(ctx context.Context, gs []*group) (err error) {
	rows := 0
	for _, g := range gs {
		rows += g.rows
	}
	if rows == 0 {
		return nil // only position-only or empty batches: nothing to send
	}
	nc, err := w.s.nativeConn(ctx)
	if err != nil {
		return err
	}
	defer func() { w.s.release(nc, err != nil) }()
	info, err := nc.begin(ctx, w.insertQuery(gs[0]), w.s.chOpts.ReadTimeout)
	if err != nil {
		return err
	}
	for _, g := range gs {
		if g.rows == 0 {
			continue
		}
		sg, free, err := g.restore()
		if err != nil {
			return err
		}
		err = w.sendGroup(ctx, nc, info, sg)
		free()
		if err != nil {
			return err
		}
	}
	return nc.end(ctx, w.s.chOpts.ReadTimeout)
}

// insertQuery is the INSERT statement of g's columns.
func (w *writer) insertQuery(g *group) string {
	names := make([]string, len(g.cols))
	for i, c := range g.cols {
		names[i] = quote(c.name)
	}
	return "INSERT INTO " + w.qualified + " (" + strings.Join(names, ", ") + ") VALUES"
}

// sendGroup sends the block of g's rows into the INSERT open on nc.
func (w *writer) sendGroup(ctx context.Context, nc *nativeConn, info proto.ColInfoInput, g *group) error {
	var release []arrow.Array
	defer func() {
		for _, a := range release {
			a.Release()
		}
	}()
	input, fast, err := w.fill(g, info, nc.serverContext(), &release)
	defer w.keepSpare(fast) // sent (or failed): the block's columns are free
	if err != nil {
		return err
	}
	return nc.send(ctx, input)
}

// fill makes the block of g's live rows for the columns of the server's
// sample block (info: names and types, in the order the server wants
// them). A column the fast path covers is written into a ch-go column of
// its own (fastpath.go); the others into a clickhouse-go column through
// its public Append (columnSlice). Widened arrays are added to release.
//
// The fast path's columns are returned too: free once the block is sent,
// for keepSpare.
func (w *writer) fill(g *group, info proto.ColInfoInput, sc *column.ServerContext, release *[]arrow.Array) ([]proto.InputColumn, []chTarget, error) {
	at := make(map[string]int, len(g.cols))
	for k, c := range g.cols {
		at[c.name] = k
	}
	order := make([]int, len(info)) // info's column i is g.cols[order[i]]
	ok := len(info) == len(g.cols)
	for i := 0; ok && i < len(info); i++ {
		var k int
		k, ok = at[info[i].Name]
		order[i] = k
		delete(at, info[i].Name)
	}
	if !ok {
		got, want := make([]string, len(info)), make([]string, len(g.cols))
		for i, ci := range info {
			got[i] = ci.Name
		}
		for k, c := range g.cols {
			want[k] = c.name
		}
		return nil, nil, &dataError{row: -1, msg: fmt.Sprintf("insert into %s: ClickHouse answered with the columns %q for the columns %q", w.target, got, want)}
	}
	input := make([]proto.InputColumn, len(info))
	fast := make([]chTarget, len(info))
	spare := w.takeSpare()
	slow := make([]*driverCol, len(info))
	eff := make([]*colSpec, len(info)) // info's column i as written
	for i, ci := range info {
		c, err := w.asServerHas(g, g.cols[order[i]], string(ci.Type))
		if err != nil {
			return nil, nil, err
		}
		eff[i] = c
		if t, ok := newTarget(c, string(ci.Type)); ok && !w.noFastPath {
			if i < len(spare) {
				t.adopt(spare[i])
			}
			fast[i] = t
			input[i] = proto.InputColumn{Name: ci.Name, Data: &fastCol{typ: ci.Type, chTarget: t}}
			continue
		}
		col, err := column.Type(ci.Type).Column(ci.Name, sc)
		if err != nil {
			return nil, nil, &dataError{row: -1, msg: fmt.Sprintf("column %q: ClickHouse type %s: %v", c.name, ci.Type, err)}
		}
		slow[i] = &driverCol{Interface: col}
		input[i] = proto.InputColumn{Name: ci.Name, Data: slow[i]}
	}
	reserve(g, order, fast)
	for _, it := range g.items {
		if it.b.Record == nil || it.b.NumRows() == 0 {
			continue
		}
		r := liveRows(it.b)
		for i, k := range order {
			c := eff[i]
			arr := it.b.Record.Column(g.idx[k])
			if !arrow.TypeEqual(arr.DataType(), c.field.Type) {
				arr = widenArray(arr, c.field.Type)
				*release = append(*release, arr)
			}
			var dst appender
			if slow[i] != nil {
				dst = slow[i]
			}
			if err := appendColumn(c, fast[i], dst, arr, r); err != nil {
				return nil, fast, describe(g, it.b, arr, err)
			}
			if fast[i].col != nil {
				w.fastColumns.Add(1)
			}
		}
	}
	return input, fast, nil
}

// CheckRows returns the live rows of b the insert would fail on
// (connectors.RowChecker), each converted as the insert converts it (the
// clickhouse-go path; the fast path fails on the same rows, fastpath_test):
// the columns that can fail only (dates, timestamps, decimals, and NULLs
// in a column that is not Nullable), each in one pass that names every bad
// row (rows.bad), so the check is linear in the rows however many are bad.
// A row is named once, for the first of its columns (in the table's order)
// that fails. A batch of a schema the table has not followed yet is not
// checked: its errors, if any, come from the insert.
func (w *writer) CheckRows(b *exec.Batch) []exec.RowError {
	if b.Record == nil || b.NumRows() == 0 {
		return nil
	}
	w.mu.Lock()
	if !w.schema.Equal(b.Record.Schema()) {
		w.mu.Unlock()
		return nil
	}
	g, err := w.newGroup(b.Record.Schema())
	w.mu.Unlock()
	if err != nil {
		return nil
	}
	return checkRows(g, b)
}

// checkRows is CheckRows over a group of b's schema.
func checkRows(g *group, b *exec.Batch) []exec.RowError {
	var out []exec.RowError
	var named []bool // by row of b: already in out
	r := liveRows(b)
	for k, c := range g.cols {
		arr := b.Record.Column(g.idx[k])
		if !arrow.TypeEqual(arr.DataType(), c.field.Type) {
			continue // (widened on insert)
		}
		switch c.m.enc {
		case encDate, encDateTime64, encDecimal:
		default:
			if c.nullable || arr.NullN() == 0 {
				continue // (nothing in it can fail: not converted twice)
			}
		}
		first := len(out)
		r.bad = func(err error) {
			var re exec.RowError
			if !errors.As(describe(g, b, arr, err), &re) || named != nil && named[re.Row] {
				return // not one row's error (the insert tells it), or named
			}
			out = append(out, re)
		}
		if _, err := columnSlice(c, arr, r); err != nil {
			continue // not one row's error: the insert tells it
		}
		if len(out) > first && named == nil {
			named = make([]bool, b.Record.NumRows())
		}
		for _, re := range out[first:] {
			named[re.Row] = true
		}
	}
	return out
}

// describe names the row of a data error of a value of b (in arr, the
// column it is written from) as exec.RowError does: the source table, the
// source position and operation, the key values (every column's,
// shortened, for a target without a key), the value and the reason. Other
// errors are returned as they are.
func describe(g *group, b *exec.Batch, arr arrow.Array, err error) error {
	var de *dataError
	var re0 *rangeError
	if errors.As(err, &re0) {
		de = &re0.dataError
	} else if !errors.As(err, &de) {
		return err
	}
	if de.row < 0 || de.re != nil {
		return err
	}
	rec, row := b.Record, de.row
	text := func(a arrow.Array) string {
		if a.IsNull(row) {
			return "NULL"
		}
		return valueText(a, row)
	}
	col := func(name string) string {
		if idx := rec.Schema().FieldIndices(name); len(idx) > 0 {
			return text(rec.Column(idx[0]))
		}
		return ""
	}
	re := &exec.RowError{Row: row, Column: de.column, Reason: de.reason, Table: b.DB + "." + b.Table,
		Pos: col(exec.SysPos), Op: col(exec.SysOp)}
	if !arr.IsNull(row) {
		re.Value = exec.QuoteValue(valueText(arr, row))
	}
	var key, all []string
	for k, c := range g.cols {
		if exec.IsSystemColumn(c.src) {
			continue
		}
		kv := c.name + " = " + text(rec.Column(g.idx[k]))
		if c.key {
			key = append(key, kv)
		}
		all = append(all, kv)
	}
	if len(key) > 0 {
		re.Key = strings.Join(key, ", ")
	} else {
		re.Key = exec.Shorten(strings.Join(all, ", "), exec.RowKeyLimit)
	}
	return &dataError{msg: re.Error(), row: row, column: de.column, reason: de.reason, re: re}
}

// valueText is the text of a[i] for a message: a zero or invalid MySQL
// date the source encoded reads as MySQL writes it ('2026-00-15', not
// '0000-00-00'); another date before year 0 as 0000-00-00.
func valueText(a arrow.Array, i int) string {
	if format.IsInvalidDate(a, i) {
		if s, err := format.Text(a, i); err == nil {
			return s
		}
	}
	switch a := a.(type) {
	case *array.Date32:
		if int64(a.Value(i)) < zeroDateDays {
			return "0000-00-00"
		}
	case *array.Timestamp:
		if sec, ok := timestampSeconds(a, i); ok && sec/86400 < zeroDateDays {
			return "0000-00-00 00:00:00"
		}
	}
	if s, err := format.Text(a, i); err == nil {
		return s
	}
	return a.ValueStr(i)
}

// timestampSeconds is a[i] in seconds since the epoch.
func timestampSeconds(a *array.Timestamp, i int) (int64, bool) {
	u, ok := a.DataType().(*arrow.TimestampType)
	if !ok {
		return 0, false
	}
	v := int64(a.Value(i))
	switch u.Unit {
	case arrow.Second:
		return v, true
	case arrow.Millisecond:
		return v / 1e3, true
	case arrow.Microsecond:
		return v / 1e6, true
	default:
		return v / 1e9, true
	}
}

// asServerHas returns c as the table's column of server type typ takes
// it: c itself when the types agree; c widened when the table's column is
// wider than the batch's (another writer of the table — a pipeline of
// another shard, a scale-out worker, an earlier run — widened it after a
// DDL this batch was decoded before), so that the rows are cast up on
// insert; an error naming the table, the column and the batch's source
// position when the table's type neither equals nor losslessly widens the
// batch's. Types widening does not know are left to the driver.
func (w *writer) asServerHas(g *group, c *colSpec, typ string) (*colSpec, error) {
	if normType(typ) == normType(c.chType()) {
		return c, nil
	}
	inner, isNull := unwrapNullable(typ)
	t, from := arrowOrText(inner), arrowOrText(c.m.base)
	if t == nil || from == nil || !arrow.TypeEqual(from, c.field.Type) {
		return c, nil
	}
	if arrow.TypeEqual(t, c.field.Type) {
		return c, nil // (only Nullable differs: the driver takes it)
	}
	if !exec.Holds(c.field.Type, t) {
		return nil, &dataError{row: -1, msg: fmt.Sprintf("insert into %s: column %q is %s in the table, the rows at source position %s are %s, which it cannot hold exactly: re-snapshot the table",
			w.target, c.name, typ, firstPos(g), c.chType())}
	}
	f := c.field
	f.Type = t
	m, err := mapType(f, w.layout.version)
	if err != nil {
		return nil, &dataError{row: -1, msg: fmt.Sprintf("insert into %s: column %q: %v", w.target, c.name, err)}
	}
	nc := *c
	nc.field, nc.m, nc.nullable = f, m, isNull || c.nullable
	return &nc, nil
}

// batchPos is the source position of b's first row ("" when it has
// none), for messages.
func batchPos(b *exec.Batch) string {
	if b.Record == nil || b.NumRows() == 0 {
		return ""
	}
	idx := b.Record.Schema().FieldIndices(exec.SysPos)
	if len(idx) == 0 {
		return ""
	}
	if a, ok := b.Record.Column(idx[0]).(*array.String); ok {
		return a.Value(liveRows(b).at(0))
	}
	return ""
}

// firstPos is the source position of g's first row, for messages.
func firstPos(g *group) string {
	for _, it := range g.items {
		if it.b.Record == nil || it.b.NumRows() == 0 {
			continue
		}
		idx := it.b.Record.Schema().FieldIndices(exec.SysPos)
		if len(idx) == 0 {
			break
		}
		if a, ok := it.b.Record.Column(idx[0]).(*array.String); ok {
			return a.Value(liveRows(it.b).at(0))
		}
	}
	return "(unknown)"
}

// appender is where the slow path appends a column slice.
type appender interface{ Append(v any) error }

// driverCol is a column of an insert's block the fast path does not
// cover: a clickhouse-go column, filled and encoded through its public API
// (Append, WriteStatePrefix, Encode).
type driverCol struct {
	column.Interface
	err error // from WriteStatePrefix
}

var (
	_ proto.ColInput     = (*driverCol)(nil)
	_ proto.StateEncoder = (*driverCol)(nil)
)

func (d *driverCol) Append(v any) error {
	_, err := d.Interface.Append(v)
	return err
}

func (d *driverCol) Type() proto.ColumnType       { return proto.ColumnType(d.Interface.Type()) }
func (d *driverCol) EncodeColumn(b *proto.Buffer) { d.Encode(b) }
func (d *driverCol) WriteColumn(w *proto.Writer)  { w.ChainBuffer(d.Encode) }

// EncodeState writes the state prefix of the columns that have one
// (LowCardinality and the like), as clickhouse-go's block encoder does.
func (d *driverCol) EncodeState(b *proto.Buffer) {
	if s, ok := d.Interface.(column.CustomSerialization); ok {
		d.err = s.WriteStatePrefix(b)
	}
}

// encodeErr is the error of encoding the state prefix (encodeErrer).
func (d *driverCol) encodeErr() error {
	if d.err != nil {
		return &dataError{row: -1, msg: fmt.Sprintf("column %q: %v", d.Name(), d.err)}
	}
	return nil
}

// reserve grows the ch-go columns of an insert once for all the live rows
// of g (and, for strings, all their bytes); fast[i] is the column of
// g.cols[order[i]].
func reserve(g *group, order []int, fast []chTarget) {
	for i, t := range fast {
		if t.col == nil {
			continue
		}
		var bytes int
		if _, ok := t.col.(*proto.ColStr); ok {
			for _, it := range g.items {
				if it.b.Record != nil && it.b.NumRows() > 0 {
					bytes += stringBytes(it.b.Record.Column(g.idx[order[i]]), liveRows(it.b))
				}
			}
		}
		t.reserve(g.rows, bytes)
	}
}

// appendColumn appends the live rows of arr, a column of c, to an insert:
// straight into the ch-go column t when the fast path covers c (newTarget),
// else as the slice columnSlice makes, through dst.
func appendColumn(c *colSpec, t chTarget, dst appender, arr arrow.Array, r rows) error {
	if t.col != nil {
		return appendFast(t, c, arr, r)
	}
	v, err := columnSlice(c, arr, r)
	if err != nil {
		return err
	}
	if err := dst.Append(v); err != nil {
		return &dataError{row: -1, msg: fmt.Sprintf("column %q: %v", c.name, err)}
	}
	return nil
}

// complete calls the done callbacks in the order of the Writes.
func (w *writer) complete() {
	defer w.wg.Done()
	for {
		g, ok := w.order.pop()
		if !ok {
			return
		}
		<-g.finished
		for _, it := range g.items {
			it.b.Release()
			if it.done != nil {
				it.done(g.err)
			}
		}
		if g.err != nil {
			w.errMu.Lock()
			if w.flushErr == nil {
				w.flushErr = g.err
			}
			w.errMu.Unlock()
		}
		close(g.acked)
	}
}

// Flush inserts what is pending and waits until every earlier Write has
// called done. It returns the first insert failure since the last Flush.
func (w *writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	if err := w.seal(ctx); err != nil {
		w.mu.Unlock()
		return err
	}
	last := w.last
	w.finishOpen()
	w.mu.Unlock()
	if last != nil {
		select {
		case <-last.acked:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.errMu.Lock()
	defer w.errMu.Unlock()
	err := w.flushErr
	w.flushErr = nil
	return err
}

// Close inserts what is pending and waits for every insert, for at most
// close_timeout; then it stops retrying, and the writes not yet durable are
// failed through their done callbacks. Later Writes are refused. Close is
// idempotent.
func (w *writer) Close() error {
	// Sealing waits for an insert slot, which is released within
	// close_timeout at the latest — so may taking the lock, which the
	// flush timer's seal holds while it waits for a slot (every insert
	// retrying against an unreachable server).
	stop := time.AfterFunc(w.opts.closeTimeout, w.cancel)
	defer stop.Stop()
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	if err := w.seal(w.ctx); err != nil {
		g := w.pending
		g.timer.Stop()
		w.pending = nil
		g.err = errClosed
		close(g.finished)
		w.order.push(g)
	}
	w.order.close()
	if w.feed != nil {
		close(w.feed)
	}
	w.mu.Unlock()
	w.wg.Wait()
	w.cancel()
	return nil
}

// retryable reports whether err may pass by itself: a lost connection or
// an overloaded server. Data errors are final.
func retryable(err error) bool {
	var de *dataError
	if errors.As(err, &de) {
		return false
	}
	var ce *column.ColumnConverterError
	if errors.As(err, &ce) {
		return false
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		switch ex.Code {
		case 159, // TIMEOUT_EXCEEDED
			202, // TOO_MANY_SIMULTANEOUS_QUERIES
			209, // SOCKET_TIMEOUT
			210, // NETWORK_ERROR
			241, // MEMORY_LIMIT_EXCEEDED
			242, // TABLE_IS_READ_ONLY
			252, // TOO_MANY_PARTS
			279, // ALL_CONNECTION_TRIES_FAILED
			425, // SYSTEM_ERROR
			999: // KEEPER_EXCEPTION
			return true
		}
		return false
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, sqldriver.ErrBadConn), errors.Is(err, clickhouse.ErrAcquireConnTimeout),
		errors.Is(err, clickhouse.ErrConnectionClosed), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return false
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// queue is the completer's queue of groups: unbounded, so that sealing a
// group never waits for the completer, which waits for the groups of a long
// insert to finish together (writer_long.go). What it holds is bounded by
// the insert slots and the long inserts' bounds.
type queue struct {
	mu     sync.Mutex
	items  []*group
	closed bool
	ready  chan struct{} // signalled on push and close
}

func newQueue() *queue { return &queue{ready: make(chan struct{}, 1)} }

func (q *queue) push(g *group) {
	q.mu.Lock()
	q.items = append(q.items, g)
	q.mu.Unlock()
	q.signal()
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop returns the next group, waiting for one; false once the queue is
// closed and empty.
func (q *queue) pop() (*group, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			g := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			q.mu.Unlock()
			return g, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return nil, false
		}
		<-q.ready
	}
}
