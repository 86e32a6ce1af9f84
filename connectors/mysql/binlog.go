package mysql

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/google/uuid"
	"golang.org/x/sync/semaphore"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// rawRows is appended by the rows-event hook to RowsEvent.Rows: the undecoded
// row images, which the reader decodes straight into Arrow builders.
type rawRows []byte

// binlogReader follows the binlog for a stream. It runs inside Next: events
// come from the dump's reading goroutine (binlog_dump.go) through a channel.
type binlogReader struct {
	// em is the stream the reader queues batches to (stream_emit.go);
	// cfg and tabs are its settings and tables, snap its snapshotter.
	em     emitter
	cfg    *streamConfig
	tabs   *streamTables
	snap   *snapshotter
	dump   *binlogDump
	events chan binlogItem
	// queued bounds the bytes of the events in events (eventBudget): the
	// channel's 1,024 events are 8 MiB of ordinary rows events, but 4 GiB
	// of events of 4 MiB rows.
	queued *semaphore.Weighted
	errs   chan error
	cancel context.CancelFunc

	startPos  binlogPos
	startGTID string

	cur   binlogPos // end of the last event read
	safe  binlogPos // last transaction boundary
	inTrx bool
	// warnedStatement: the WARN that the server logs writes to streamed
	// tables as statements was given (rows_stmt.go).
	warnedStatement bool
	// cascadeWarned: the WARN state of each foreign key (child and name) whose
	// cascade changed (cascade.go); cascadeIDs: the refs of the table ids
	// of parents that are not streamed.
	cascadeWarned map[cascadeKey]*cascadeWarn
	cascadeIDs    map[uint64]connectors.TableRef
	// xa: the streamed tables whose rows each prepared XA transaction
	// wrote, by its xid as logged, until its XA COMMIT or XA ROLLBACK
	// (xa.go).
	xa map[string][]connectors.TableRef
	// oneStmt: the open transaction is a single statement, which its
	// query event ends: a MariaDB GTID flagged standalone, or a MySQL GTID
	// not followed by BEGIN (DDL, GRANT, REVOKE, SET PASSWORD, ANALYZE
	// TABLE…: no COMMIT or XID follows them).
	oneStmt bool
	trxVer  uint64 // version at the start of the open transaction
	trxSent int    // rows of the open transaction already queued
	skip    int    // rows to drop after a reconnect (already queued)
	// rowEndMax is the row_end of the current rows of system-versioned
	// tables, read from the server when the first is met (versioned.go).
	rowEndMax *rowEndMax
	trxTs     int64 // µs
	// trxServer, trxGTID and trxThread: the server id, GTID ("" if none)
	// and session thread id (0 if not known: exec.Batch.Thread) of the
	// open transaction, for the batches of its rows.
	trxServer uint32
	trxGTID   string
	trxThread uint32
	touched   []*tableState
	// lastBatch is the rows of the last batch flushed, of any table: a
	// table's first batch reserves that much (batchBuilder.seed).
	lastBatch int

	gtid gm.GTIDSet
	// skips: per GTID domain, where its transactions the stream does not
	// deliver end (markState.Skip); skipping is set inside one of them.
	skips    []domainSkip
	skipping bool

	maps    map[uint64]*tableMap
	dec     rowsDecoder
	posText string
	posEv   binlogPos

	retries int
	// sameIDLost: when another client with this server_id took the
	// connection, within sameIDWindow (binlog_reconnect.go).
	sameIDLost []time.Time
	dumpAt     binlogPos   // where the current dump started
	held       *binlogItem // event waiting for a snapshot chunk

	// Snapshot watermarks (snapshot_watermark.go): the watermark table's
	// id in the binlog, and the tokens of the open transaction.
	wmTable    uint64
	wmKnown    bool
	marks      []string
	collations map[uint64][2]string
	defaults   map[string]string // character set → default collation (ddl_binlog.go)
	query      queryEnv          // the session of the DDL being applied (ddl_temporal.go)
}

func newBinlogReader(em emitter, snap *snapshotter, start binlogPos, gtid string) *binlogReader {
	st := em.config()
	r := &binlogReader{em: em, cfg: st, tabs: em.catalog(), snap: snap, startPos: start, startGTID: gtid, cur: start, safe: start, maps: map[uint64]*tableMap{}}
	if gtid != "" {
		if g, err := gm.ParseGTIDSet(st.flavor, gtid); err == nil {
			r.gtid = g
		}
	}
	return r
}

func (r *binlogReader) gtidString() string {
	if r.gtid == nil {
		return ""
	}
	return r.gtid.String()
}

// start connects and starts the dump at r.safe.
func (r *binlogReader) start() error {
	cfg := r.cfg.src.cfg
	hb := cfg.Heartbeat
	if hb <= 0 {
		hb = time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.events = make(chan binlogItem, 1024)
	r.queued = semaphore.NewWeighted(eventBudget)
	r.errs = make(chan error, 1)
	events, queued := r.events, r.queued
	sc := replication.BinlogSyncerConfig{
		ServerID:                cfg.ServerID,
		Flavor:                  r.cfg.flavor,
		Host:                    cfg.Host,
		Port:                    cfg.Port,
		User:                    cfg.User,
		Password:                cfg.Password,
		TLSConfig:               r.cfg.src.binlogTLS(),
		Charset:                 "utf8mb4",
		ParseTime:               false,
		UseDecimal:              false,
		TimestampStringLocation: time.UTC,
		RenderJSONAsMySQLText:   true,
		HeartbeatPeriod:         hb,
		ReadTimeout:             3*hb + 5*time.Second,
		Dialer:                  coarseDeadlineDialer, // read deadlines moved at most once a second
		RowsEventDecodeFunc:     decodeRowsWith(r.snap.watermarks()),
	}
	d, err := startDump(ctx, sc, gm.Position{Name: r.safe.File, Pos: r.safe.Pos})
	if err != nil {
		cancel()
		return r.classify(err)
	}
	r.dump = d
	r.cur = r.safe
	r.dumpAt = r.safe
	go func() {
		err := d.run(func(it binlogItem) error {
			// The reader waits while the queue holds eventBudget bytes.
			if err := queued.Acquire(ctx, eventCost(it.ev)); err != nil {
				return err
			}
			select {
			case events <- it:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		select {
		case r.errs <- err:
		default:
		}
	}()
	return nil
}

// eventBudget is how many bytes of binlog events may wait between
// go-mysql's reader and the stream: two batches' worth (defaultBatchBytes).
const eventBudget = 8 << 20

// eventCost is what an event takes of the budget: its size, or the whole
// budget for an event larger than that (it then waits alone).
func eventCost(e *replication.BinlogEvent) int64 {
	return min(int64(len(e.RawData)), eventBudget)
}

// decodeRowsHook replaces go-mysql's boxed row decoding: it decodes the
// header only and keeps the row images raw. Tables with MySQL binary JSON
// columns are also decoded by go-mysql, for the JSON text.
var decodeRowsHook = decodeRowsWith(nil)

// decodeRowsWith is decodeRowsHook that also decodes the rows of the
// watermark table wm (nil: none) the boxed way, for their tokens.
func decodeRowsWith(wm *watermarks) func(e *replication.RowsEvent, data []byte) error {
	return func(e *replication.RowsEvent, data []byte) error {
		pos, err := e.DecodeHeader(data)
		if err != nil {
			return err
		}
		if wm != nil && e.Table != nil && wm.isTable(e.Table.Schema, e.Table.Table) {
			return e.DecodeData(pos, data)
		}
		return decodeRaw(e, data, pos)
	}
}

func decodeRaw(e *replication.RowsEvent, data []byte, pos int) error {
	hasJSON := false
	for _, t := range e.Table.ColumnType {
		if t == gm.MYSQL_TYPE_JSON {
			hasJSON = true
			break
		}
	}
	if hasJSON {
		if err := e.DecodeData(pos, data); err != nil {
			return err
		}
	} else {
		e.Rows = e.Rows[:0]
	}
	e.Rows = append(e.Rows, []any{rawRows(data[pos:])})
	return nil
}

func (r *binlogReader) close() {
	if r.cancel != nil {
		r.cancel()
	}
	if r.dump != nil {
		r.dump.close(true)
		r.dump = nil
	}
}

// step reads and handles events until something is queued, or waits a
// little when the server is idle.
func (r *binlogReader) step(ctx context.Context) error {
	if !r.inTrx {
		r.em.atBoundary(r.safe, false)
		if len(r.em.queued()) > 0 || r.em.done() {
			return nil
		}
	}
	timer := time.NewTimer(250 * time.Millisecond)
	defer timer.Stop()
	for n := 0; ; n++ {
		var it binlogItem
		if r.held != nil {
			it, r.held = *r.held, nil
		} else {
			select {
			case it = <-r.events:
				r.queued.Release(eventCost(it.ev))
			default:
				select {
				case it = <-r.events:
					r.queued.Release(eventCost(it.ev))
				case err := <-r.errs:
					return r.reconnect(ctx, err)
				case <-r.snap.ready():
					return nil
				case <-timer.C:
					if !r.inTrx {
						r.em.atBoundary(r.safe, true)
					}
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		if !r.inTrx && r.snap.barrier(r.safe, beginsTrx(it.ev)) {
			// A snapshot chunk at or before this point is still being
			// read: hold the event until it is out.
			r.held = &it
			select {
			case <-r.snap.ready():
			case <-timer.C:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		}
		err := r.handle(it.ev)
		// The rows are in Arrow builders (or the event was not ours): the
		// packet's buffer goes back to the pool.
		it.release()
		if err != nil {
			return err
		}
		if r.cur != r.dumpAt {
			// Past the events a dump sends before its start position (the
			// fake rotate, the format description): the reconnect worked.
			r.retries = 0
		}
		if len(r.em.queued()) > 0 || r.em.done() || n > 4096 {
			return nil
		}
	}
}

// handle processes one event.
func (r *binlogReader) handle(ev *replication.BinlogEvent) error {
	h := ev.Header
	var start binlogPos
	if h.LogPos > 0 && h.EventType != replication.ROTATE_EVENT {
		start = binlogPos{File: r.cur.File, Pos: h.LogPos - h.EventSize}
		if h.LogPos <= r.cur.Pos && !r.inTrx && h.EventType != replication.HEARTBEAT_EVENT && h.EventType != replication.HEARTBEAT_LOG_EVENT_V2 {
			// The file header events a dump re-sends before its start.
			return nil
		}
		r.cur.Pos = h.LogPos
	}
	if h.Timestamp != 0 && h.LogPos > 0 && h.EventType != replication.FORMAT_DESCRIPTION_EVENT &&
		h.EventType != replication.HEARTBEAT_EVENT && h.EventType != replication.HEARTBEAT_LOG_EVENT_V2 {
		// Not the artificial events a dump starts with (the fake rotate,
		// the format description): they carry the file's creation time,
		// which made the lag of an idle source minutes right after start.
		at := time.Unix(int64(h.Timestamp), 0)
		r.em.setLastEvent(at)
		if len(r.events) == 0 && time.Since(at) < 2*time.Second {
			// Nothing left to read, and the event is from this second or
			// the last (timestamps have whole seconds): caught up, not a
			// lag between 0 and 1 s that depends on when one looks.
			r.em.setCaughtUp()
		}
	}
	if r.skipping {
		switch ev.Event.(type) {
		case *replication.RotateEvent, *replication.HeartbeatEvent, *replication.FormatDescriptionEvent:
		default:
			return r.skipEvent(ev)
		}
	}
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		next := binlogPos{File: string(e.NextLogName), Pos: uint32(e.Position)}
		if h.Timestamp == 0 || h.LogPos == 0 {
			// The fake rotate at the start of a dump names the file we asked for.
			if next.File == r.cur.File {
				return nil
			}
		}
		r.cur = next
		if !r.inTrx {
			r.safe = next
			r.em.atBoundary(r.safe, false)
		}
	case *replication.MariadbGTIDEvent:
		if !r.inTrx && r.skipped(e.GTID.DomainID, start) {
			// A transaction delivered already (read on the server a
			// checkpoint was taken on) or skipped by choice: neither
			// its rows nor its DDL, nor its GTID, which would take the
			// domain's back.
			r.snap.notePassed(r.safe)
			r.inTrx, r.skipping, r.oneStmt = true, true, e.IsStandalone()
			return nil
		}
		r.begin(ev)
		r.trxGTID = e.GTID.String()
		if r.gtid != nil {
			g := e.GTID
			_ = r.gtid.(*gm.MariadbGTIDSet).AddSet(&g)
		} else if set, err := gm.ParseMariadbGTIDSet(e.GTID.String()); err == nil {
			r.gtid = set
		}
		if e.IsStandalone() {
			// DDL or a non-transactional statement: no COMMIT follows; the
			// query event ends it.
			r.inTrx = true
			r.oneStmt = true
		}
	case *replication.GTIDEvent:
		r.begin(ev)
		r.oneStmt = true // until a BEGIN says otherwise
		if u, err := uuid.FromBytes(e.SID); err == nil {
			r.trxGTID = fmt.Sprintf("%s:%d", u, e.GNO)
			if ms, ok := r.gtid.(*gm.MysqlGTIDSet); ok {
				ms.AddGTID(u, e.GNO)
			}
		}
	case *replication.QueryEvent:
		q := strings.TrimSpace(string(e.Query))
		uq := strings.ToUpper(q)
		switch {
		case uq == "BEGIN" || strings.HasPrefix(uq, "XA START") || strings.HasPrefix(uq, "SAVEPOINT"):
			r.begin(ev)
			r.oneStmt = false
			r.trxThread = e.SlaveProxyID // (MySQL's BEGIN after its GTID event)
		case strings.HasPrefix(uq, "XA END"):
			r.xaPrepared(strings.TrimSpace(uq[len("XA END"):]))
			return r.commit()
		case strings.HasPrefix(uq, "XA ROLLBACK"):
			r.xaRolledBack(strings.TrimSpace(uq[len("XA ROLLBACK"):]), r.eventAt(start), q)
			return r.commit()
		case uq == "COMMIT" || strings.HasPrefix(uq, "XA COMMIT") || strings.HasPrefix(uq, "XA PREPARE"):
			if x, ok := strings.CutPrefix(uq, "XA COMMIT"); ok {
				delete(r.xa, strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(x), "ONE PHASE")))
			}
			return r.commit()
		case uq == "ROLLBACK":
			return r.commit()
		default:
			if looksLikeDDL(q) {
				n0 := len(r.em.queued())
				r.query = queryEnvOf(ev.Header, e)
				if err := r.ddlStatement(string(e.Schema), q, start); err != nil {
					return err
				}
				if out := r.em.queued(); len(out) > n0 && out[len(out)-1].Mark == nil {
					// The statement is a transaction of its own: its
					// changes (truncates) end at a boundary.
					out[len(out)-1].Mark = r.em.mark(r.cur)
				}
				return r.commit()
			}
			if looksLikeDML(q) {
				// A write logged as a statement (rows_stmt.go).
				r.statementWrite(string(e.Schema), q, r.eventAt(start))
			}
			if r.inTrx && r.oneStmt {
				// A statement that is a transaction of its own but no DDL
				// etlq follows (GRANT, REVOKE, FLUSH, ANALYZE TABLE…): it
				// ends here. Left open, the reader stood in a transaction
				// until the next write to the server: an idle source after
				// a GRANT took no resnapshot, emitted no snapshot chunk and
				// no idle checkpoint, and apply --once never ended.
				return r.commit()
			}
			if !r.inTrx {
				r.safe = r.cur
				r.em.atBoundary(r.safe, false)
			}
		}
	case *replication.XIDEvent:
		return r.commit()
	case *replication.TableMapEvent:
		if r.snap.watermarks().isTable(e.Schema, e.Table) {
			r.wmTable, r.wmKnown = e.TableID, true
			delete(r.maps, e.TableID)
			return nil
		}
		ref := connectors.TableRef{DB: string(e.Schema), Table: string(e.Table)}
		if len(r.cfg.cascades[ref]) > 0 {
			if r.cascadeIDs == nil {
				r.cascadeIDs = map[uint64]connectors.TableRef{}
			}
			r.cascadeIDs[e.TableID] = ref
		} else {
			delete(r.cascadeIDs, e.TableID) // (an id given to another table)
		}
		ts := r.tabs.byRef[ref]
		if ts == nil && !r.tabs.unreadable[ref] {
			if mode, ok := r.em.wanted(ref); ok {
				// A table the stream follows, met without the statement
				// that brought it (one etlq does not recognize): its
				// rows so far come from a snapshot.
				if err := r.join(ref, mode, nil, true, start, "met in the binlog", ""); err != nil {
					return err
				}
				ts = r.tabs.byRef[ref]
			}
		}
		if ts == nil || ts.mode == connectors.SnapshotOnly || ts.cur.before(r.eventAt(start)) {
			delete(r.maps, e.TableID)
			return nil
		}
		if m := r.maps[e.TableID]; m != nil && m.t == ts.cur && sameBytes(m.types, e.ColumnType) {
			return nil
		}
		if ts.cur.Stale != "" {
			// A DDL etlq could not apply came before (ddl_binlog.go).
			if err := r.tableMapSchema(ts, e, start); err != nil {
				return err
			}
		}
		m := &tableMap{id: e.TableID, types: e.ColumnType, metas: e.ColumnMeta}
		if len(e.ColumnName) > 0 {
			m.names = e.ColumnNameString()
		}
		if err := m.bind(ts.cur); err != nil {
			// With full row metadata the event says which schema it was
			// written with: a reader behind several DDLs decodes with it.
			nt, err2 := r.schemaFromTableMap(e, ts.cur)
			if err2 != nil {
				return fmt.Errorf("at %s: %v: %s", start, err, resnapshotHint)
			}
			if err := r.changeSchema(ts, nt, start, "the binlog's table map"); err != nil {
				return err
			}
			if err := m.bind(ts.cur); err != nil {
				return fmt.Errorf("at %s: %v", start, err)
			}
		}
		r.maps[e.TableID] = m
	case *replication.RowsEvent:
		return r.rows(ev, e, start)
	case *replication.HeartbeatEvent:
		if !r.inTrx && len(r.events) == 0 {
			r.em.setCaughtUp()
			r.em.atBoundary(r.safe, true)
		}
	case *replication.TransactionPayloadEvent:
		for _, inner := range e.Events {
			inner.Header.LogPos = 0
			if err := r.handle(inner); err != nil {
				return err
			}
		}
	default:
		if !r.inTrx && h.LogPos > 0 {
			// A file's header events (format description, GTID list,
			// binlog checkpoint) end between transactions: a boundary
			// like a commit. Not called at them, a catch-up whose target
			// was the source's idle mark after a FLUSH LOGS (at the end
			// of the new file's header) ran on to the next commit and
			// could not rejoin the source's stream (it kept its own).
			r.safe = r.cur
			r.em.atBoundary(r.safe, false)
		}
	}
	return nil
}

// skipped reports whether the transaction of GTID domain d beginning at
// start is one the stream does not deliver (r.skips). A domain's entry goes
// once a transaction of it begins at or after its end.
func (r *binlogReader) skipped(d uint32, start binlogPos) bool {
	for i, s := range r.skips {
		if s.Domain != d {
			continue
		}
		if start.isZero() || start.cmp(s.at()) >= 0 {
			r.skips = append(r.skips[:i:i], r.skips[i+1:]...)
			return false
		}
		return true
	}
	return false
}

// pendingSkips returns the entries of r.skips that reach past pos, for a
// Mark at pos: a stream resumed there skips the rest of them still.
func (r *binlogReader) pendingSkips(pos binlogPos) []domainSkip {
	var out []domainSkip
	for _, s := range r.skips {
		if s.at().cmp(pos) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// skipEvent handles an event of a transaction the stream skips (skipped):
// only its end counts, a transaction boundary like any other.
func (r *binlogReader) skipEvent(ev *replication.BinlogEvent) error {
	switch e := ev.Event.(type) {
	case *replication.XIDEvent:
	case *replication.QueryEvent:
		uq := strings.ToUpper(strings.TrimSpace(string(e.Query)))
		if !r.oneStmt && (uq == "BEGIN" || strings.HasPrefix(uq, "XA START") || strings.HasPrefix(uq, "SAVEPOINT")) {
			return nil
		}
		if !r.oneStmt && !(uq == "COMMIT" || uq == "ROLLBACK" || strings.HasPrefix(uq, "XA COMMIT") || strings.HasPrefix(uq, "XA END") || strings.HasPrefix(uq, "XA PREPARE")) {
			return nil // a statement inside the transaction
		}
	default:
		return nil // table maps, rows, annotations…
	}
	r.skipping = false
	return r.commit()
}

// eventAt is the position of the event that starts at start, for
// comparing with a table's JoinsAt: an event inside a transaction payload
// (MySQL's compression) has none, and is placed just before the
// payload's end.
func (r *binlogReader) eventAt(start binlogPos) binlogPos {
	if start.isZero() && r.cur.Pos > 0 {
		return binlogPos{File: r.cur.File, Pos: r.cur.Pos - 1}
	}
	return start
}

func sameBytes(a, b []byte) bool { return string(a) == string(b) }

// beginsTrx reports whether ev, met between transactions, begins one (see
// begin): not a heartbeat, rotate or format description, after which the
// reader still stands where it stood.
func beginsTrx(ev *replication.BinlogEvent) bool {
	switch e := ev.Event.(type) {
	case *replication.MariadbGTIDEvent, *replication.GTIDEvent, *replication.RowsEvent, *replication.TransactionPayloadEvent:
		return true
	case *replication.QueryEvent:
		uq := strings.ToUpper(strings.TrimSpace(string(e.Query)))
		return uq == "BEGIN" || strings.HasPrefix(uq, "XA START") || strings.HasPrefix(uq, "SAVEPOINT") || looksLikeDDL(string(e.Query))
	}
	return false
}

func (r *binlogReader) begin(ev *replication.BinlogEvent) {
	if r.inTrx {
		return
	}
	r.inTrx = true
	if r.snap != nil {
		r.snap.notePassed(r.safe)
	}
	r.trxVer = r.em.nextVersion()
	r.trxSent = 0
	r.trxTs = int64(ev.Header.Timestamp) * 1e6
	r.trxServer, r.trxGTID, r.trxThread = ev.Header.ServerID, "", 0
}

// commit ends the open transaction at r.cur: its rows are queued, the last
// batch carrying the Mark.
func (r *binlogReader) commit() error {
	r.inTrx = false
	r.oneStmt = false
	r.safe = r.cur
	r.skip = 0
	n0 := len(r.em.queued())
	for _, ts := range r.touched {
		r.flush(ts)
	}
	r.touched = r.touched[:0]
	if out := r.em.queued(); len(out) > n0 && r.em.markDue() {
		out[len(out)-1].Mark = r.em.mark(r.safe)
	}
	for _, tok := range r.marks {
		r.snap.watermarkSeen(tok, r.safe)
	}
	r.marks = r.marks[:0]
	r.em.atBoundary(r.safe, false)
	return nil
}

// flush queues the rows built for ts.
func (r *binlogReader) flush(ts *tableState) {
	if ts.bb == nil {
		return
	}
	rec := ts.bb.finish()
	eventRows := ts.bb.takeEventRows()
	if rec == nil {
		return
	}
	if ts.out != ts.cur {
		rec = projectRecord(r.cfg.mem, rec, ts.out, r.cfg.req.Before)
	}
	r.snap.noteKeys(ts, rec)
	r.trxSent += int(rec.NumRows())
	r.lastBatch = int(rec.NumRows())
	if r.snap.keylessCovered(ts, rec) {
		// A key-less table's one chunk already holds these changes.
		rec.Release()
		return
	}
	r.em.queue(&exec.Batch{Record: rec, DB: ts.ref.DB, Table: ts.ref.Table, ServerID: r.trxServer, GTID: r.trxGTID, Thread: r.trxThread,
		EventRows: eventRows})
}

// rows decodes a rows event of one of the stream's tables.
func (r *binlogReader) rows(ev *replication.BinlogEvent, e *replication.RowsEvent, start binlogPos) error {
	if ref, ok := r.cascadeIDs[e.TableID]; ok {
		r.noteCascade(ref, e, r.eventAt(start))
	}
	m := r.maps[e.TableID]
	if m == nil {
		if r.wmKnown && e.TableID == r.wmTable && e.Type() == replication.EnumRowsEventTypeInsert {
			// Snapshot watermarks: they take effect at the transaction's end.
			r.marks = append(r.marks, r.snap.watermarks().tokens(e)...)
		}
		return nil // not ours
	}
	cfg := r.cfg
	ts := r.tabs.byRef[m.t.Ref]
	if ts == nil || ts.cur != m.t {
		return fmt.Errorf("at %s: rows of table id %d decoded with a stale schema", start, e.TableID)
	}
	if len(e.Rows) == 0 {
		return nil
	}
	raw, ok := e.Rows[len(e.Rows)-1][0].(rawRows)
	if !ok {
		return fmt.Errorf("at %s: rows event was not captured raw", start)
	}
	boxed := e.Rows[:len(e.Rows)-1]
	data := []byte(raw)
	switch ev.Header.EventType {
	case replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1,
		replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		d, err := gm.DecompressMariadbData(data)
		if err != nil {
			return fmt.Errorf("at %s: %v", start, err)
		}
		data = d
	}
	if !r.inTrx {
		r.begin(ev)
	}
	var op string
	update := false
	switch e.Type() {
	case replication.EnumRowsEventTypeInsert:
		op = exec.OpInsert
	case replication.EnumRowsEventTypeDelete:
		op = exec.OpDelete
	case replication.EnumRowsEventTypeUpdate:
		op, update = exec.OpUpdate, true
	default:
		return nil
	}
	if ts.bb == nil {
		ts.bb = newBatchBuilder(cfg.mem, r.em.constants(), ts.cur, cfg.req.Before, cfg.req.BeforeOf(ts.ref))
		ts.bb.seed(r.lastBatch)
	}
	if !r.isTouched(ts) {
		r.touched = append(r.touched, ts)
	}
	posText := start.String()
	ts.bb.start(cfg.maxRows)
	ncols := len(ts.cur.Cols)
	img1 := newImageCols(e.ColumnBitmap1, len(m.cols))
	var img2 imageCols
	if update {
		img2 = newImageCols(e.ColumnBitmap2, len(m.cols))
	}
	if !img1.all || (update && !img2.all) {
		// Partial images: once per event, never per row.
		var after *imageCols
		if update {
			after = &img2
		}
		if err := checkImages(m, op, start.String(), img1, after); err != nil {
			return err
		}
	}
	bi := 0
	// The before.* columns of inserted and deleted rows are NULL: counted
	// in bulk (before any flush), not row by row, and appended only in a
	// batch that has an update (batchBuilder.beforeBuilders).
	nullBefore := 0
	// The event's versions are counted here and taken from the stream
	// once, when the event is decoded (or fails).
	ver0 := r.em.nextVersion()
	ver := ver0
	defer func() { r.em.takeVersions(ver - ver0) }()
	versioned := ts.cur.Versioned
	for pos := 0; pos < len(data); {
		bb := ts.bb
		rowStart := pos
		var boxA, boxB []any
		if bi < len(boxed) {
			boxA = boxed[bi]
		}
		if update && bi+1 < len(boxed) {
			boxB = boxed[bi+1]
		}
		skip := r.skip > 0
		cols := bb.cols[:ncols]
		if skip {
			cols = nil
		}
		rowOp, rowUpdate := op, update
		if versioned {
			// A history row is no change of the current rows; an
			// update that ends a row deletes its key (versioned.go).
			n, keep, asDelete, err := r.versionedRow(m, data[pos:], update, img1, img2, boxA, boxB)
			if err != nil {
				return fmt.Errorf("at %s: %v", start, err)
			}
			if !keep {
				pos += n
				bi++
				if update {
					bi++
				}
				continue
			}
			if asDelete {
				rowOp, rowUpdate = exec.OpDelete, false
				if !skip {
					if _, err := r.dec.decodeImage(m, data[pos:], img1, cols, boxA); err != nil {
						return fmt.Errorf("at %s: %v", start, err)
					}
					nullBefore++
				}
				pos += n
				bi += 2
			}
		}
		switch {
		case rowOp == exec.OpDelete && update:
			// decoded above
		case rowUpdate:
			var bcols []outCol
			if cfg.req.Before && !skip {
				// The NULL before.* values of the rows before it
				// first (a versioned table's update event may hold
				// deletes).
				bb.appendNullsBefore(nullBefore)
				nullBefore = 0
				bcols = bb.beforeBuilders()
			}
			n, err := r.dec.decodeUpdate(m, data[pos:], img1, img2, bcols, cols, boxA, boxB)
			if err != nil {
				return fmt.Errorf("at %s: %v", start, err)
			}
			pos += n
			bi += 2
		default:
			n, err := r.dec.decodeImage(m, data[pos:], img1, cols, boxA)
			if err != nil {
				return fmt.Errorf("at %s: %v", start, err)
			}
			pos += n
			bi++
			if !skip {
				nullBefore++
			}
		}
		if skip {
			r.skip--
			ver++
			continue
		}
		bb.appendMeta(rowOp, r.trxTs, posText, ver, int32(ver-ver0))
		bb.data += pos - rowStart
		ver++
		if bb.rows >= cfg.maxRows || bb.data >= cfg.maxBytes {
			bb.appendNullsBefore(nullBefore)
			nullBefore = 0
			r.flush(ts)
			bb.start(cfg.maxRows)
		}
	}
	ts.bb.appendNullsBefore(nullBefore)
	return nil
}

func (r *binlogReader) isTouched(ts *tableState) bool {
	for _, t := range r.touched {
		if t == ts {
			return true
		}
	}
	return false
}

// resolveStartAt turns the start_at option into a position and the GTID
// set there (startAtPlace without the skips).
func (st *stream) resolveStartAt(c *client.Conn, v string) (binlogPos, string, error) {
	at, err := st.startAtPlace(c, v)
	return at.pos, at.gtid, err
}

// startAtPlace turns the start_at option into where the stream starts: a
// position, the GTID set there, and, for a GTID set of several domains,
// the transactions after the position it does not deliver (gtidPosition).
func (st *stream) startAtPlace(c *client.Conn, v string) (resumePlace, error) {
	switch strings.ToLower(v) {
	case "earliest":
		r, err := c.Execute("SHOW BINARY LOGS")
		if err != nil || r.RowNumber() == 0 {
			return resumePlace{}, fmt.Errorf("start_at = 'earliest': cannot list binary logs: %v", err)
		}
		f, _ := r.GetString(0, 0)
		return resumePlace{pos: binlogPos{File: f, Pos: 4}}, nil
	}
	if p, ok := parsePos(v); ok {
		return resumePlace{pos: p}, nil
	}
	at := func(p binlogPos, gtid string, err error) (resumePlace, error) {
		return resumePlace{pos: p, gtid: gtid}, err
	}
	if ts, err := time.Parse("2006-01-02 15:04:05", v); err == nil {
		return at(st.positionAt(c, ts))
	}
	if ts, err := time.Parse(time.RFC3339, v); err == nil {
		return at(st.positionAt(c, ts))
	}
	if st.flavor == "mariadb" {
		if _, err := gm.ParseMariadbGTIDSet(v); err == nil && strings.Count(v, "-") >= 2 {
			return st.gtidPosition(c, v)
		}
	} else if _, err := gm.ParseMysqlGTIDSet(v); err == nil && strings.Contains(v, ":") {
		return resumePlace{}, fmt.Errorf("start_at = %q: GTID starts on MySQL are not supported yet; give 'file:pos'", v)
	}
	return resumePlace{}, fmt.Errorf("start_at = %q: want 'earliest', 'latest', 'binlog.000042:1337', a GTID set or 'YYYY-MM-DD HH:MM:SS'", v)
}

// changeSchema makes nt the schema of ts from position at on, per the
// schema_changes policy; what names the cause (the DDL) for messages.
func (r *binlogReader) changeSchema(ts *tableState, nt *table, at binlogPos, what string) error {
	if sameColumns(nt, ts.cur) {
		if !sameDDLMeta(nt, ts.cur) {
			// Only what a DDL says of the columns changed (ALTER …
			// SET DEFAULT, the table's charset): kept, same layout.
			r.adoptSchema(ts, nt)
		}
		return nil
	}
	prevOut := ts.out
	switch r.cfg.opts.schemaChanges {
	case "fail":
		return fmt.Errorf("schema change on %s at %s: %q (schema_changes = 'fail')", ts.key, at, what)
	case "ignore":
		// keep ts.out
	default:
		ts.out = nt
	}
	if ts.bb != nil {
		r.flush(ts)
		ts.bb.release()
		ts.bb = nil
	}
	tc := r.rebuildWhy(ts, nt)
	if tc.how != followNone {
		nt = nt.clone()
		for _, c := range nt.Cols {
			// Read again (the rows hold the new type's values), or a
			// target column of a type that holds both with a WARN that
			// the rows already there keep theirs: the source took
			// charge, no rounded rows for the target to refuse.
			c.RoundedFrom = ""
		}
		nt.Rebuild = tc.how == followRebuild
		nt.Reread = tc.how == followReread
		if r.cfg.opts.schemaChanges != "ignore" {
			ts.out = nt
		}
	}
	if !ts.skipTo.isZero() {
		// Rebuilt later, before a restart (swapresume.go): the targets
		// get the new columns with the swap; until then the batches
		// (marks only) keep the columns the pipeline has.
		ts.out = prevOut
	}
	if r.cfg.opts.schemaChanges != "ignore" {
		// The columns this DDL added (or renamed) are carried from the
		// next version on: a target that has such a column already (left
		// from a DROP COLUMN of the name) fills its older rows with the
		// column's DEFAULT (exec.MetaAddedAt).
		at := r.em.nextVersion()
		for _, c := range nt.Cols {
			if c.Added && !c.Joined && c.AddedAt == 0 {
				c.AddedAt = at
			}
		}
	}
	ts.cur = nt
	r.tabs.schemasDirty = true
	switch tc.how {
	case followRebuild:
		r.startRebuild(ts, at, tc.why)
	case followReread:
		queueReread(r.tabs, ts)
	}
	for id, m := range r.maps {
		if m.t.Ref == ts.ref {
			delete(r.maps, id)
		}
	}
	if r.cfg.opts.schemaChanges != "ignore" {
		// A batch without rows in the new schema, so that sinks follow
		// the DDL before a checkpoint passes it, rows or not.
		r.em.queue(&exec.Batch{Record: emptyRecord(r.cfg.mem, ts.out.streamSchema(r.cfg.req.Before)), DB: ts.ref.DB, Table: ts.ref.Table})
	}
	r.cfg.log.Info("schema change", "table", ts.key, "position", at.String(), "cause", what, "policy", r.cfg.opts.schemaChanges)
	return nil
}
