package mysql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// defaultBatchBytes caps the row data of one batch: 8192 rows of a
// 100-byte row take 0.8 MiB, so only wide rows and large values reach it;
// a batch of 1 MiB values then holds 4 rows, not 8192 (8 GiB). The source
// reads a few batches ahead of the sinks (the snapshot's chunk readers,
// the engine's queue), so this bounds its memory whatever the rows are
// (docs/benchmarks.md, "Hard shapes").
const defaultBatchBytes = 4 << 20

// streamOpts are the per-stream options.
type streamOpts struct {
	parallelism   int
	chunkRows     int
	startAt       string
	schemaChanges string
	onPurge       bool
	position      string // snapshot_position: auto, bracket, watermark
	watermarkTbl  string // watermark_table
	textProtocol  bool   // snapshot_protocol = 'text'
	// skipDomains: skip_gtid_domains, the GTID domains not read when a
	// checkpoint of another server resumes on this one.
	skipDomains string
}

// tableState is one requested table inside a stream.
type tableState struct {
	ref  connectors.TableRef
	mode connectors.SnapshotMode
	// never: a pipeline reads the table with SNAPSHOT never, whatever mode
	// (connectors.StreamTable.Never).
	never bool
	key   string // "db.table"
	// cur is the schema at the reader's position; out is the column set
	// batches carry (cur, except under schema_changes = 'ignore').
	cur, out *table
	bb       *batchBuilder // rows of the open transaction, schema cur
	snap     *snapState    // nil: no snapshot wanted or not started
	resnap   *resnapState  // a resnapshot under way (resnapshot.go)
	// progress
	rowsDone, rowsTotal atomic.Int64
	estimated           atomic.Bool // rowsTotal was set: a snapshot of the table was planned
	// totalEstimated: rowsTotal is information_schema's estimate of a
	// small table not counted (trustEstimate); it becomes the rows read
	// when the table's snapshot ends.
	totalEstimated atomic.Bool
	snapDone       atomic.Bool
	// gone: the table left the stream (dropped, renamed away); a table
	// of the same name that comes later is another tableState.
	gone bool
	// copyOf, when set, names the table (same database) whose online
	// schema-change copy this table is: its rows go to the targets as
	// that table's row copy (exec.RowCopy), never as its own.
	copyOf string
	// swapped: the targets already hold this table's copy swapped in
	// (connectors.StreamTable.CopySwapped): its rows and its copy's are
	// not sent until the cut-over.
	swapped bool
	// skipTo, while swapped after a resume, is the position of a
	// rebuild's swap made after the checkpoint (swapresume.go); passAt is
	// the position of a swap an earlier run made.
	skipTo, passAt binlogPos
	// rebuildReq is the etlq resnapshot request the table's rebuild
	// carries out (connectors.Resnapshot.Rebuild): it ends with the swap.
	rebuildReq *connectors.Resnapshot
	// rebuildLooked is when a rebuild waiting to read the table again
	// last looked at the server's key (rebuild.go).
	rebuildLooked time.Time
	// reread: the table waits in rebuildQ to be read again in place (a
	// type change into a shared target: rebuild.go), not into a copy.
	reread bool
	// absent: resumed from the checkpoint though the server no longer
	// has the table (resumeAbsent); nothing of it is read from the server.
	absent bool
}

// stream is an open change stream; see connectors.Stream. The binlog
// reader and the snapshotter see it through emitter (stream_emit.go).
type stream struct {
	streamConfig
	streamTables
	name  string
	ident serverIdent // the server's, recorded in each mark

	startMark  *exec.Mark // see StartMark
	raisedMark *exec.Mark // see RaisedMark

	// resnapQ are the resnapshots asked for (Resnapshot, any goroutine)
	// that the reader has not started yet (resnapshot.go).
	resnapMu sync.Mutex
	resnapQ  []connectors.Resnapshot
	// resnapping are the tables being read again (reader only).
	resnapping []*tableState

	out     []*exec.Batch // ready batches
	consts  constStrings  // shared constant metadata arrays (meta.go)
	version uint64        // next _version
	// firstVersion is where the counter started (FirstVersion).
	firstVersion uint64
	target       binlogPos // Once, Until: stop after this position
	finished     bool
	failed       error

	// binlog reader
	bin *binlogReader

	// snapshot
	snap *snapshotter

	// mark bookkeeping
	lastMark    time.Time
	lastMarkPos binlogPos
	schemasTail []byte // `,"schemas":` the schemas' JSON `}`: the marks' shared Tail

	lagMu     sync.Mutex
	lastEvent time.Time // timestamp of the last binlog event read
	caughtUp  time.Time // the last heartbeat with nothing left to read; zero after an event

	reconnects atomic.Int64 // binlog reconnect attempts (see Reconnects)

	closeOnce sync.Once
}

// streamConfig is what a stream is set to when it opens; the binlog reader
// and the snapshotter read it (emitter.config).
type streamConfig struct {
	src        *Source
	req        connectors.StreamRequest
	opts       streamOpts
	mem        memory.Allocator
	log        *slog.Logger
	flavor     string
	maxRows    int
	maxBytes   int // row data per batch (binlog row images, snapshot row packets)
	needBinlog bool
	// cascades are the server's cascading foreign keys by parent table
	// (cascade.go), read at the open and again after a DDL.
	cascades map[connectors.TableRef][]cascadeFK
}

// streamTables are the tables in the stream and the schemas it follows;
// the binlog reader changes them as tables join and leave and their
// schemas change (emitter.catalog).
type streamTables struct {
	tables []*tableState
	// rebuildQ are the tables whose rebuild (rebuild.go) waits for the
	// reader's next transaction boundary to start reading them again.
	rebuildQ []*tableState
	// swapWait are the tables whose earlier swap the stream has not
	// passed yet (swapresume.go).
	swapWait []*tableState
	byRef    map[connectors.TableRef]*tableState // the tables in the stream now
	// requested are the tables asked for by name, with their modes: one
	// that leaves and comes back (re-created, renamed back) joins again.
	requested map[connectors.TableRef]connectors.SnapshotMode
	// leftOut is the column set batches carried for a table that left the
	// stream: one of the same name that joins later (an online schema
	// change's copy) follows schema_changes against it.
	leftOut map[connectors.TableRef]*table
	// unreadable are tables that could not join (join could not read
	// them): their table maps do not try again until a statement names
	// them.
	unreadable map[connectors.TableRef]bool
	// tablesMu guards tables and their gone flags against Progress, which
	// another goroutine calls while the reader adds tables.
	tablesMu sync.Mutex
	// shadows are the schemas of tables followed for a rename onto a
	// streamed one (table.Shadow; ddl_binlog.go).
	shadows map[connectors.TableRef]*table
	// toolCopies are pt-online-schema-change's copies under names of the
	// user's (copy → table copied), known by the tool's triggers: on the
	// server when the stream opened (ptOscCopies) and met in the binlog
	// since (toolTrigger). No pattern takes one (wanted).
	toolCopies map[connectors.TableRef]connectors.TableRef
	// schemasDirty: the schemas changed since the last mark recorded them.
	schemasDirty bool
}

var (
	_ connectors.Stream      = (*stream)(nil)
	_ connectors.Reconnecter = (*stream)(nil)
)

// Open starts a stream over the requested tables: the snapshots they ask
// for, consistent with the binlog that follows them.
func (s *Source) Open(ctx context.Context, req connectors.StreamRequest) (connectors.Stream, error) {
	return s.open(ctx, req, memory.DefaultAllocator)
}

// OpenWithAllocator is Open with an explicit Arrow allocator (tests use a
// checked allocator).
func (s *Source) OpenWithAllocator(ctx context.Context, req connectors.StreamRequest, mem memory.Allocator) (connectors.Stream, error) {
	return s.open(ctx, req, mem)
}

func (s *Source) open(ctx context.Context, req connectors.StreamRequest, mem memory.Allocator) (*stream, error) {
	if len(req.Tables) == 0 {
		return nil, fmt.Errorf("source %q: no tables requested", s.name)
	}
	st := &stream{name: s.name,
		streamConfig: streamConfig{src: s, req: req, mem: mem, log: slog.Default().With("source", s.name), maxRows: req.BatchRows},
		streamTables: streamTables{byRef: map[connectors.TableRef]*tableState{}, shadows: map[connectors.TableRef]*table{}}}
	if st.maxRows <= 0 {
		st.maxRows = 8192
	}
	if st.maxBytes = req.BatchBytes; st.maxBytes <= 0 {
		st.maxBytes = defaultBatchBytes
	}
	if err := st.parseOpts(); err != nil {
		return nil, err
	}
	s.useInstance(req.Instance, req.Alone)
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	st.flavor = s.cfg.Flavor

	var resume *markState
	if req.Resume != nil {
		if resume, err = decodeState(req.Resume); err != nil {
			return nil, err
		}
	}
	saved := map[connectors.TableRef]*table{}
	// waiting are the tables read by name that had left the stream at the
	// checkpoint (table.Waiting).
	waiting := map[connectors.TableRef]*table{}
	var copies []*table
	if resume != nil {
		for _, t := range resume.Schemas {
			if t.Shadow {
				if t.RowCopyOf != "" {
					copies = append(copies, t)
					continue
				}
				st.shadows[t.Ref] = t
				continue
			}
			if t.Waiting {
				waiting[t.Ref] = t
				continue
			}
			saved[t.Ref] = t
		}
	}
	if err := repairSavedMembers(c, saved); err != nil {
		return nil, err
	}
	// The schemas not in the checkpoint, read in one go (readTables).
	var toRead []connectors.TableRef
	for _, rt := range req.Tables {
		if _, ok := saved[rt.Ref]; !ok || rt.Snapshot == connectors.SnapshotOnly {
			toRead = append(toRead, rt.Ref)
		}
	}
	// A fresh stream starts at the position its schemas were read at; a
	// table that joins a resumed one is followed from there (JoinsAt).
	joining := func(rt connectors.StreamTable) bool {
		_, ok := saved[rt.Ref]
		return resume != nil && !ok && rt.Snapshot != connectors.SnapshotOnly
	}
	exact := slices.ContainsFunc(req.Tables, joining) ||
		resume == nil && slices.ContainsFunc(req.Tables, func(rt connectors.StreamTable) bool { return rt.Snapshot != connectors.SnapshotOnly })
	read, cur, curGTID, posErr, err := schemasAt(c, toRead, st.flavor, exact)
	if err != nil {
		return nil, err
	}
	if resume != nil {
		if err := st.checkSavedCharsets(c, resume, saved); err != nil { // charset_resume.go
			return nil, err
		}
	}
	for _, rt := range req.Tables {
		if _, dup := st.byRef[rt.Ref]; dup {
			continue
		}
		if st.requested == nil {
			st.requested = map[connectors.TableRef]connectors.SnapshotMode{}
		}
		st.requested[rt.Ref] = rt.Snapshot
		ts := &tableState{ref: rt.Ref, mode: rt.Snapshot, never: rt.Never, key: rt.Ref.String()}
		if t, ok := saved[rt.Ref]; ok && rt.Snapshot != connectors.SnapshotOnly {
			ts.cur = t
		} else if ts.cur = read[rt.Ref]; ts.cur == nil && waiting[rt.Ref] != nil && rt.Snapshot != connectors.SnapshotOnly {
			// Left the stream before the checkpoint and not back: the
			// stream waits for it, as it did before it stopped.
			st.waitFor(rt.Ref, waiting[rt.Ref])
			continue
		} else if ts.cur == nil {
			return nil, fmt.Errorf("table %s does not exist", rt.Ref)
		} else if joining(rt) && posErr == nil {
			ts.cur = ts.cur.clone()
			ts.cur.JoinsAt = &cur
		}
		ts.out = ts.cur
		st.tables = append(st.tables, ts)
		st.byRef[rt.Ref] = ts
		if rt.Snapshot != connectors.SnapshotOnly {
			st.needBinlog = true
		}
	}
	st.resumeAbsent(saved)
	st.resumeCopies(copies)
	st.schemasDirty = true
	if len(st.req.Patterns) > 0 {
		// (Only a pattern could take a copy in.)
		// (A pattern over databases: every database's.)
		var dbs []string
		for _, p := range st.req.Patterns {
			if connectors.IsPattern(p.DB) {
				dbs = nil
				break
			}
			if !slices.Contains(dbs, p.DB) {
				dbs = append(dbs, p.DB)
			}
		}
		st.toolCopies = ptOscCopies(c, dbs...)
	}

	// Where the binlog starts, and which tables still need a snapshot.
	var start binlogPos
	var gtid string
	var skips []domainSkip // transactions not delivered (resumeStart)
	if posErr != nil && st.needBinlog {
		return nil, posErr
	}
	if st.needBinlog {
		if err := checkBinlogSettings(c); err != nil {
			return nil, err
		}
		do, ignore := binlogFilters(c)
		warn, err := checkBinlogFilters(do, ignore, req)
		if err != nil {
			return nil, err
		}
		if warn != "" {
			st.log.Warn(warn)
		}
		if warn, err := checkReplicaLogging(c, st.flavor); err != nil {
			return nil, err
		} else if warn != "" {
			st.log.Warn(warn)
		}
		st.cascades = loadCascades(ctx, s, streamedRefs(st.byRef)) // cascade.go
		if st.ident, err = readServerIdent(c, st.flavor); err != nil {
			return nil, err
		}
	}
	if req.Once {
		st.target = cur
	}
	if req.Until != nil {
		// A catch-up with another checkpoint (connectors.StreamRequest.
		// Until): the stream ends there, Once or not.
		u, err := decodeState(req.Until)
		if err != nil {
			return nil, err
		}
		if at := (binlogPos{File: u.File, Pos: u.Pos}); st.target.isZero() || at.cmp(st.target) < 0 {
			st.target = at
		}
	}
	switch {
	case resume != nil:
		start, gtid = binlogPos{File: resume.File, Pos: resume.Pos}, resume.GTID
		st.version = resume.Version
		snapshotting := false
		for _, ts := range st.tables {
			if ts.mode == connectors.SnapshotNever || ts.copyOf != "" || ts.absent {
				continue
			}
			if ss, ok := resume.Snapshot[ts.key]; ok {
				if !ss.Done {
					ts.snap = ss
					snapshotting = true
					if ss.Older > 0 {
						// A cut-over's re-read in place, resumed: its end
						// still removes the keys it did not find.
						ts.resnap = &resnapState{req: connectors.Resnapshot{Table: ts.ref}, version: ss.Older, cutover: true, typeChange: ss.TypeChange, rowsWhy: ss.RowsWhy}
					}
				}
			} else if ts.mode == connectors.SnapshotInitial || ts.mode == connectors.SnapshotOnly {
				// Added to the pipeline after the checkpoint: snapshot now.
				ts.snap = &snapState{}
				snapshotting = true
			}
		}
		if v := uint64(time.Now().UnixMicro()) << 10; snapshotting && v > st.version {
			// A replay of the binlog alone assigns the same versions
			// again, but chunks land at other places in the stream than
			// in the run that crashed: that run's rows after the
			// checkpoint (a chunk row of a key deleted since, say) must
			// not outrank this run's, so versions start above them.
			st.version = v
		}
	default:
		st.version = uint64(time.Now().UnixMicro()) << 10
		start, gtid = cur, curGTID
		anySnap := false
		for _, ts := range st.tables {
			if ts.mode != connectors.SnapshotNever {
				ts.snap = &snapState{}
				anySnap = true
			}
		}
		if !anySnap && st.opts.startAt != "" && st.opts.startAt != "latest" {
			at, err := st.startAtPlace(c, st.opts.startAt)
			if err != nil {
				return nil, err
			}
			start, gtid, skips = at.pos, at.gtid, at.skips
		}
	}
	for _, ts := range st.tables {
		if ts.snap == nil {
			ts.snapDone.Store(true)
		}
	}
	if st.needBinlog {
		// Where a checkpoint resumes on this server (another server's is
		// placed by its GTID), and a purged start position, are settled
		// before anything else runs.
		if resume != nil {
			var at resumePlace
			if at, err = st.resumeStart(c, resume); err == nil {
				start, gtid, skips = at.pos, at.gtid, at.skips
			}
		} else {
			err = checkPurged(c, start)
		}
		if err != nil {
			var lost lostPositionError
			if !st.opts.onPurge || resume == nil || !errors.As(err, &lost) {
				return nil, err
			}
			start, gtid = cur, curGTID
			if v := uint64(time.Now().UnixMicro()) << 10; v > st.version {
				st.version = v
			}
			never, err2 := st.resnapshotGap(c, cur) // gap.go
			if err2 != nil {
				return nil, err2
			}
			st.log.Warn("cannot resume at the checkpoint's position; taking a new snapshot of the SNAPSHOT initial tables (on_binlog_gap = 'resnapshot')", "reason", connectors.GapReason(err), "resume_at", cur.String())
			if len(never) > 0 {
				st.log.Error("changes in the binlog gap are lost for SNAPSHOT never tables, which take no snapshot", "tables", strings.Join(never, ", "), "from", resume.File+":"+strconv.FormatUint(uint64(resume.Pos), 10), "to", cur.String())
			}
		}
	}
	if req.VersionFloor > st.version {
		// The targets hold versions this counter has not reached: the
		// state directory is older than the targets (restored from a
		// copy, or written by another process). Versions start above
		// them and the wall clock, so none goes backwards.
		st.version = max(req.VersionFloor, uint64(time.Now().UnixMicro())<<10)
		st.log.Info("version counter raised above the target's", "floor", req.VersionFloor, "version", st.version)
	}
	st.firstVersion = st.version
	if resume != nil && st.version > resume.Version {
		// Checkpointed before a row is written (RaisedMark): the
		// checkpoint's position stays, only its counter moves up.
		m, err := withVersion(req.Resume, st.version)
		if err != nil {
			return nil, err
		}
		st.raisedMark = &exec.Mark{Source: st.name, State: m}
	}
	st.lastMarkPos = start
	st.lastMark = time.Now()
	if req.Resume == nil {
		// A fresh stream has no durable position yet: make the first mark
		// due at once, so that even a Once run that saw no change leaves a
		// checkpoint where it started (SNAPSHOT never would otherwise
		// start again from 'latest' and miss what happened in between).
		st.lastMarkPos = binlogPos{}
	}
	// The snapshot's positioning is chosen first: in watermark mode the
	// binlog reader decodes the watermark table's rows.
	st.snap = newSnapshotter(st)
	if st.needBinlog {
		st.snap.from = start
	}
	if err := st.snap.prepare(); err != nil {
		return nil, err
	}
	if st.needBinlog {
		st.bin = newBinlogReader(st, st.snap, start, gtid)
		st.bin.skips = skips
		if resume != nil && len(resume.XA) > 0 {
			st.bin.xa = maps.Clone(resume.XA) // xa.go
		}
		st.resumeSwaps(start, resume != nil) // swapresume.go
		st.resumeRebuilds()                  // rebuild.go
		if err := st.bin.start(); err != nil {
			st.snap.close()
			return nil, err
		}
	}
	st.snap.start()
	if req.Resume == nil {
		// Where this stream starts, for the engine to checkpoint before
		// any row is written (StartMark); mark's bookkeeping of the last
		// mark is left as it was, so the first real mark is still due
		// at once.
		lastMark, lastPos := st.lastMark, st.lastMarkPos
		st.startMark = st.mark(start)
		st.lastMark, st.lastMarkPos = lastMark, lastPos
	}
	return st, nil
}

func (st *stream) parseOpts() error {
	// The pipeline's WITH over the source's over the spec's defaults.
	opts, err := connectors.ParseOptions(Spec().Options, st.req.Options, st.src.cfg.Options)
	if err != nil {
		return err
	}
	o := streamOpts{
		parallelism:   int(opts.Int("snapshot_parallelism")),
		chunkRows:     int(opts.Int("chunk_rows")),
		startAt:       opts.String("start_at"),
		schemaChanges: opts.String("schema_changes"),
		position:      opts.String("snapshot_position"),
		watermarkTbl:  opts.String("watermark_table"),
		textProtocol:  opts.String("snapshot_protocol") == "text",
	}
	if o.onPurge, err = gapMode(func(name string) (any, bool) { // gap.go
		if !opts.Given(name) {
			return nil, false
		}
		return opts.Value(name)
	}); err != nil {
		return err
	}
	if _, err := parseTableRef(o.watermarkTbl); err != nil {
		return err
	}
	o.skipDomains = opts.String("skip_gtid_domains") // checked by ParseOptions (Option.Check)
	st.opts = o
	return nil
}

// checkBinlogSettings refuses servers whose binlog would not carry every
// change as full rows: with STATEMENT or MIXED logging, or a MINIMAL or
// NOBLOB row image, changes would be missed or incomplete. FULL_NODUP
// (MariaDB 11.4+) logs full before images and an update's after image
// with the updated columns only, which the reader completes exactly from
// the before image (checkImages). binlog_row_image is a session variable
// too: a session that logs otherwise is found by the reader at its first
// partial image of a streamed table, and stops the stream there.
func checkBinlogSettings(c *client.Conn) error {
	r, err := c.Execute("SELECT @@GLOBAL.binlog_format, @@GLOBAL.binlog_row_image")
	if err != nil {
		return fmt.Errorf("read binlog settings: %v", err)
	}
	format, _ := r.GetString(0, 0)
	image, _ := r.GetString(0, 1)
	if !strings.EqualFold(format, "ROW") {
		return fmt.Errorf("the server logs binlog_format = %s: etlq needs ROW, or changes would be missed (SET GLOBAL binlog_format = 'ROW', or binlog_format = ROW in my.cnf; sessions already open keep the old format)", format)
	}
	if !strings.EqualFold(image, "FULL") && !strings.EqualFold(image, "FULL_NODUP") {
		return fmt.Errorf("the server logs binlog_row_image = %s: etlq needs FULL, or updates would arrive without their other columns (SET GLOBAL binlog_row_image = 'FULL', or binlog_row_image = FULL in my.cnf)", image)
	}
	return nil
}

// masterStatus returns the server's current binlog position and GTID set.
func masterStatus(c *client.Conn, flavor string) (binlogPos, string, error) {
	// MariaDB's GTID position is read first, so it never runs ahead of the
	// file position.
	var mgtid string
	if flavor == "mariadb" {
		if g, err := c.Execute("SELECT @@GLOBAL.gtid_binlog_pos"); err == nil {
			mgtid, _ = g.GetString(0, 0)
		}
	}
	r, err := c.Execute("SHOW MASTER STATUS")
	if err != nil {
		// MySQL 8.4 knows only SHOW BINARY LOG STATUS; elsewhere its
		// syntax error would hide the first error (a missing privilege).
		var err2 error
		if r, err2 = c.Execute("SHOW BINARY LOG STATUS"); err2 != nil {
			return binlogPos{}, "", fmt.Errorf("read binlog position: %v", err)
		}
	}
	if r.RowNumber() == 0 {
		return binlogPos{}, "", fmt.Errorf("the binary log is disabled on the server (log_bin = OFF): etlq needs log_bin, binlog_format = ROW and binlog_row_image = FULL")
	}
	f, _ := r.GetString(0, 0)
	p, _ := r.GetUint(0, 1)
	pos := binlogPos{File: f, Pos: uint32(p)}
	var gtid string
	if flavor == "mariadb" {
		gtid = mgtid
	} else if r.ColumnNumber() >= 5 {
		gtid, _ = r.GetString(0, 4)
	}
	return pos, gtid, nil
}

// Next returns the next batch; see connectors.Stream.
func (st *stream) Next(ctx context.Context) (*exec.Batch, error) {
	for {
		if len(st.out) > 0 {
			b := st.out[0]
			st.out[0] = nil
			st.out = st.out[1:]
			return b, nil
		}
		if st.failed != nil {
			return nil, st.failed
		}
		if st.finished {
			return nil, io.EOF
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := st.step(ctx); err != nil {
			st.failed = err
			return nil, err
		}
	}
}

// step makes progress: emits ready snapshot chunks, reads binlog events, or
// waits a little.
func (st *stream) step(ctx context.Context) error {
	if err := st.snap.err(); err != nil {
		return err
	}
	if !st.needBinlog {
		// Snapshot only: chunks go out as they complete.
		if st.snap.emitReady(binlogPos{}, true) {
			return nil
		}
		if st.snap.allDone() {
			st.finished = true
			return nil
		}
		return st.snap.wait(ctx, 200*time.Millisecond)
	}
	return st.bin.step(ctx)
}

// atBoundary is called by the binlog reader whenever it is between
// transactions at position pos: it emits the snapshot chunks whose
// position is reached, an idle mark when due, and decides Once's end.
func (st *stream) atBoundary(pos binlogPos, idle bool) {
	st.swapsAt(pos) // swapresume.go
	st.startResnapshots(pos)
	emitted := st.snap.emitReady(pos, false)
	if !emitted && len(st.out) == 0 && pos.cmp(st.lastMarkPos) > 0 && time.Since(st.lastMark) >= time.Second {
		st.emitMarkOnly(pos)
	}
	if (st.req.Once || st.req.Until != nil) && !st.target.isZero() && pos.cmp(st.target) >= 0 && st.snap.allDone() && !st.resnapQueued() {
		if pos.cmp(st.lastMarkPos) > 0 {
			st.emitMarkOnly(pos)
		}
		st.finished = true
	}
	_ = idle
}

// emitMarkOnly queues a row-less batch carrying a Mark, so checkpoints move
// on while the stream's tables are idle. Its record has zero rows and the
// schema of the first table still in the stream: a table that left
// (dropped, renamed away, replaced at an online schema change's cut-over)
// keeps the schema it had then, and a batch of it under its name would be
// taken by the pipelines as a schema change of the table that now has that
// name — planned back to the old columns, which a target swapped in since
// does not have ("the table lacks column(s) … dropped outside etlq").
//
// Nor does it carry a table whose batches the stream holds back because
// its targets already hold it as of a later position (tableState.swapped:
// a rebuild swapped in after the checkpoint, swapresume.go): its schema
// is the checkpoint's, of before the type change, while the restart
// planned the pipelines from the table as the server has it now (and
// the targets are the rebuilt ones) — taken as a schema change, it
// planned them back to the old type, and a target of the rebuilt table
// refused it (`key column "id" changed type from varchar(20) to
// int(11)`). With no other table to carry it, no idle mark is sent: the
// checkpoint moves on at the swap (its RowCopyPassed carries a Mark).
func (st *stream) emitMarkOnly(pos binlogPos) {
	if ts := st.markTable(); ts != nil {
		st.emitMarkOnlyFor(ts, pos)
	}
}

// markTable is the table whose schema a row-less batch carries: the first
// one in the stream that is neither gone, nor a tool's copy, nor held back
// (swapped), else the first that is not held back; nil when every table
// is.
func (st *stream) markTable() *tableState {
	st.tablesMu.Lock()
	defer st.tablesMu.Unlock()
	for _, ts := range st.tables {
		if !ts.gone && !ts.swapped && (ts.copyOf == "" || ts.copyOf == ts.ref.Table) {
			return ts
		}
	}
	for _, ts := range st.tables {
		if !ts.swapped {
			return ts
		}
	}
	return nil
}

// emitMarkOnlyFor is emitMarkOnly with the schema of ts.
func (st *stream) emitMarkOnlyFor(ts *tableState, pos binlogPos) {
	rec := emptyRecord(st.mem, ts.out.streamSchema(st.req.Before))
	b := &exec.Batch{Record: rec, DB: ts.ref.DB, Table: ts.ref.Table, Mark: st.mark(pos)}
	if ts.copyOf == ts.ref.Table {
		// Rebuilt (rebuild.go): its schema is the copy's until the swap.
		b.RowCopy = &exec.RowCopy{Of: ts.copyOf}
	}
	st.out = append(st.out, b)
}

// projectRecord returns rec (built with the table's current schema) with
// the columns of out: used by schema_changes = 'ignore'. Columns out has
// and rec lacks are NULL. It releases rec.
func projectRecord(mem memory.Allocator, rec arrow.RecordBatch, out *table, before bool) arrow.RecordBatch {
	defer rec.Release()
	schema := out.streamSchema(before)
	n := int(rec.NumRows())
	cols := make([]arrow.Array, 0, schema.NumFields())
	for _, f := range schema.Fields() {
		idx := rec.Schema().FieldIndices(f.Name)
		if len(idx) > 0 && arrow.TypeEqual(rec.Column(idx[0]).DataType(), f.Type) {
			a := rec.Column(idx[0])
			a.Retain()
			cols = append(cols, a)
		} else {
			cols = append(cols, array.MakeArrayOfNull(mem, f.Type, n))
		}
	}
	res := array.NewRecordBatch(schema, cols, int64(n))
	for _, a := range cols {
		a.Release()
	}
	return res
}

// bigMarkState is the size of the schemas above which a transaction's end
// gets a Mark only every bigMarkEvery (markDue); a variable for tests.
var bigMarkState = 64 << 10

const bigMarkEvery = 100 * time.Millisecond

// markDue reports whether the end of a transaction gets a Mark. Every one
// does while the checkpoint state is small. Each Mark holds the schemas of
// every streamed table, ~0.9 KiB a table, and stays in memory until its
// batch is written: 1,000 tables under a pattern made 0.9 MiB marks, one
// per commit, 50 MiB of them waiting for an insert (they now share the
// schemas, the marks' Tail, but each is still built and its checkpoint
// state is still ~1 MiB to write). Checkpoints are written
// at most once a second, so a Mark every 100 ms loses nothing but a longer
// replay after a crash; the idle and the end-of-run marks (atBoundary)
// still close the gap.
func (st *stream) markDue() bool {
	return len(st.schemasTail) < bigMarkState || st.schemasDirty || time.Since(st.lastMark) >= bigMarkEvery
}

// mark builds a Mark for position pos (a transaction boundary).
func (st *stream) mark(pos binlogPos) *exec.Mark {
	st.lastMark = time.Now()
	st.lastMarkPos = pos
	if st.schemasDirty {
		var schemas []*table
		for _, ts := range st.tables {
			if ts.mode != connectors.SnapshotOnly && !ts.gone {
				if ts.copyOf != "" && ts.copyOf != ts.ref.Table {
					// (A table being rebuilt, its own copy, is kept
					// with table.Rebuild: rebuild.go.)
					c := ts.cur.clone()
					c.Shadow, c.RowCopyOf = true, ts.copyOf
					schemas = append(schemas, c)
					continue
				}
				schemas = append(schemas, ts.cur)
			}
		}
		schemas = append(schemas, st.waitingSchemas()...)
		schemas = append(schemas, sortedShadows(st.shadows)...)
		js, _ := json.Marshal(schemas)
		st.schemasDirty = false
		st.schemasTail = nil
		if len(schemas) > 0 {
			// A new slice: the marks made before hold the old one.
			st.schemasTail = make([]byte, 0, len(js)+12)
			st.schemasTail = append(st.schemasTail, `,"schemas":`...)
			st.schemasTail = append(st.schemasTail, js...)
			st.schemasTail = append(st.schemasTail, '}')
		}
	}
	ms := markState{File: pos.File, Pos: pos.Pos, Flavor: st.flavor, Version: st.version,
		ServerID: st.ident.ID, ServerUUID: st.ident.UUID}
	if st.bin != nil {
		ms.GTID = st.bin.gtidString()
		ms.Skip = st.bin.pendingSkips(pos)
		if len(st.bin.xa) > 0 {
			ms.XA = st.bin.xa // (marshalled below, before it changes)
		}
	}
	b, err := json.Marshal(ms)
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	// The snapshot progress, the last member of markState, written
	// without a map (appendState).
	if snap, ok := st.snap.appendState(append(b[:len(b)-1:len(b)-1], `,"snapshot":`...)); ok {
		b = append(snap, '}')
	}
	// The schemas, marshaled once per change, are the last member: a
	// json.RawMessage field would be validated and compacted again for
	// every mark, and with 1,000 tables (~1 MiB of schemas) at every
	// commit that took 70% of the stream's CPU. They are the mark's Tail,
	// shared by every mark until the next change, not copied into each.
	if st.schemasTail != nil {
		return &exec.Mark{Source: st.name, State: b[:len(b)-1], Tail: st.schemasTail}
	}
	return &exec.Mark{Source: st.name, State: b}
}

// StartMark returns, for a stream opened without a checkpoint, the Mark of
// where it starts: its binlog position, its first version, no snapshot
// progress (connectors.Starter). Checkpointed before anything is written,
// it lets a crash before the first acknowledged batch resume there — and
// replay the changes since, deletes of rows already written included —
// instead of starting anew later.
func (st *stream) StartMark() *exec.Mark { return st.startMark }

// RaisedMark returns, for a stream resumed from a checkpoint whose counter
// it started above the checkpoint's (the targets' versions, a resumed
// snapshot, a position lost to a purge), that checkpoint's state with the
// counter it started at and nothing else changed (connectors.CounterRaiser).
func (st *stream) RaisedMark() *exec.Mark { return st.raisedMark }

// withVersion returns mark state m with its next _version set to v, every
// other member as it was (not decoded into the state's types and encoded
// again: a member this build does not know stays).
func withVersion(m []byte, v uint64) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(m, &fields); err != nil {
		return nil, fmt.Errorf("invalid mysql checkpoint state: %v", err)
	}
	fields["version"] = json.RawMessage(strconv.FormatUint(v, 10))
	return json.Marshal(fields)
}

// FirstVersion is the counter's start: the versions it stamps only grow
// from there (connectors.VersionStarter).
func (st *stream) FirstVersion() uint64 { return st.firstVersion }

// Progress returns the snapshot progress of each table.
func (st *stream) Progress() []connectors.Progress {
	st.tablesMu.Lock()
	defer st.tablesMu.Unlock()
	out := make([]connectors.Progress, 0, len(st.tables))
	for _, ts := range st.tables {
		if ts.gone {
			continue
		}
		out = append(out, connectors.Progress{Ref: ts.ref, RowsDone: ts.rowsDone.Load(), RowsTotal: ts.rowsTotal.Load(), Estimated: ts.estimated.Load(), Done: ts.snapDone.Load()})
	}
	return out
}

// Reconnects returns how many times the binlog reader tried to connect
// again after losing its connection (connectors.Reconnecter).
func (st *stream) Reconnects() int64 { return st.reconnects.Load() }

// Lag returns how far behind the source the stream is, in seconds: now
// minus the timestamp of the last binlog event read, and 0 while caught up
// (a heartbeat came with nothing left to read, and the next one is not
// overdue). Once heartbeats are overdue, it is the time since the last one:
// the connection may hang. Before any event, 0.
func (st *stream) Lag() float64 {
	st.lagMu.Lock()
	defer st.lagMu.Unlock()
	if !st.caughtUp.IsZero() {
		hb := st.src.cfg.Heartbeat
		if hb <= 0 {
			hb = time.Second
		}
		since := time.Since(st.caughtUp)
		if since <= 2*hb+time.Second {
			return 0
		}
		return since.Seconds()
	}
	if st.lastEvent.IsZero() {
		return 0
	}
	return max(0, time.Since(st.lastEvent).Seconds())
}

// setLastEvent records the timestamp of a binlog event just read.
func (st *stream) setLastEvent(t time.Time) {
	st.lagMu.Lock()
	st.lastEvent = t
	st.caughtUp = time.Time{}
	st.lagMu.Unlock()
}

// setCaughtUp records a heartbeat that came with nothing left to read.
func (st *stream) setCaughtUp() {
	st.lagMu.Lock()
	st.caughtUp = time.Now()
	st.lagMu.Unlock()
}

// Close stops the stream and releases every batch it still holds.
func (st *stream) Close() error {
	st.closeOnce.Do(func() {
		if st.snap != nil {
			st.snap.close()
		}
		if st.bin != nil {
			st.bin.close()
		}
		for _, b := range st.out {
			b.Release()
		}
		st.out = nil
		for _, ts := range st.tables {
			if ts.bb != nil {
				ts.bb.release()
				ts.bb = nil
			}
		}
		st.consts.release()
	})
	return nil
}

// resumePlace is where a checkpoint resumes: the binlog position the
// stream starts at, the GTID set there, and the transactions after it that
// the stream does not deliver.
type resumePlace struct {
	pos   binlogPos
	gtid  string
	skips []domainSkip
}

// resumeStart returns where checkpoint cp resumes on the server c is
// connected to. A checkpoint taken on this server (or one that recorded no
// server) resumes at its binlog file and position (skipping still what it
// skipped there). Another server's file and position mean nothing here
// (after a failover to a replica, the same transactions are at other
// offsets, perhaps in files of the same names): its MariaDB GTID set is
// placed in this server's binlog instead, domain by domain, as a MariaDB
// primary places a replica's GTID position: each domain resumes after its
// own GTID, so the stream starts at the earliest of those places and
// skips, in each domain, the transactions up to its GTID's (a replica
// writes the domains of its primary in another order when it applied
// them in parallel, or one after the other). A domain this binlog has
// before those places and the checkpoint has not is read from its first
// transaction, or skipped when skip_gtid_domains names it. A
// lostPositionError says the checkpoint cannot be placed on this server
// (on_binlog_gap = 'resnapshot' then takes a new snapshot).
func (st *stream) resumeStart(c *client.Conn, cp *markState) (resumePlace, error) {
	pos := binlogPos{File: cp.File, Pos: cp.Pos}
	if sameServer(cp.ident(), st.ident) {
		var skips []domainSkip
		for _, s := range cp.Skip {
			if s.at().cmp(pos) > 0 {
				skips = append(skips, s)
			}
		}
		err := checkPurged(c, pos)
		if errors.Is(err, connectors.ErrPositionLost) && len(skips) == 0 {
			if at, ok := st.placePurged(c, cp); ok {
				return at, nil
			}
		}
		return resumePlace{pos: pos, gtid: cp.GTID, skips: skips}, err
	}
	other := fmt.Sprintf("the checkpoint (%s) was taken on another server (%s), not on this one (%s at %s)",
		pos, cp.ident(), st.ident, st.src.cfg.Addr())
	const remedy = "set on_binlog_gap = 'resnapshot' to take a new snapshot here (it first marks every target with a truncate, so the rows deleted meanwhile leave them too), or start again with an empty state directory (exact for upsert targets; a changelog or file target would keep the rows deleted meanwhile)"
	switch {
	case st.flavor != "mariadb" || cp.Flavor == "mysql":
		return resumePlace{}, lostWithRemedy(fmt.Sprintf("%s, and resuming by MySQL GTID on another server is not supported yet: its position is that server's own", other), remedy)
	case cp.GTID == "":
		return resumePlace{}, lostWithRemedy(fmt.Sprintf("%s, and it holds no GTID to find its place in this server's binlog by: its position is that server's own", other), remedy)
	}
	want, err := parseGTIDStart(cp.GTID)
	if err != nil {
		return resumePlace{}, lostWithRemedy(fmt.Sprintf("%s, and its GTID %s cannot be read: %v", other, cp.GTID, err), remedy)
	}
	logs, err := c.Execute("SHOW BINARY LOGS")
	if err != nil {
		return resumePlace{}, fmt.Errorf("%s; finding its GTID %s here: cannot list binary logs: %v", other, cp.GTID, err)
	}
	files := make([]string, logs.RowNumber())
	for i := range files {
		files[i], _ = logs.GetString(i, 0)
	}
	pl, err := placeByDomain(newGTIDFinder(c, files), want, cp.GTID, st.opts.skipDomains)
	var missing gtidMissingError
	switch {
	case errors.As(err, &missing):
		behind := ""
		switch {
		case missing.ahead && missing.newest.server == st.ident.ID && missing.newest.server != missing.want.server:
			// Not a replica behind: this server wrote transactions of its
			// own in that domain since the last it replicated (a replica
			// promoted before it had replicated all etlq read).
			behind = fmt.Sprintf(": this server wrote %s itself, so it is no replica that will get %s: it was promoted before it had replicated all etlq read on the other server, whose changes after that the targets hold and this server does not have", missing.newest, missing.want)
		case missing.ahead:
			behind = " (if this server is a replica that has not replicated it yet, start again when it has)"
		case missing.diverged:
			behind = ": the targets may hold changes read on the other server that this one never had, and resuming at the same sequence number here would skip this server's own transactions"
		}
		return resumePlace{}, lostWithRemedy(fmt.Sprintf("%s, and its GTID %s cannot be found in this server's binlog: %s%s", other, cp.GTID, missing.msg, behind), remedy)
	case err != nil:
		return resumePlace{}, fmt.Errorf("%s; finding its GTID %s here: %v", other, cp.GTID, err)
	}
	at, last, read, skipped, purged := pl.at, pl.last, pl.read, pl.skipped, pl.purged
	if len(purged) > 0 {
		return resumePlace{}, lostPositionError{error: fmt.Errorf("%s; its GTID %s is here, but before it this server's binlog has transactions of GTID domains the checkpoint's server never had (last: %s): etlq reads such a domain from its first transaction, as a MariaDB replica given that GTID position would, and the first transactions of %s were purged here (the oldest binary log, %s, begins after them); set skip_gtid_domains = '%s' to resume without reading those domains (what they changed in the pipelines' tables the targets then lack: etlq verify tells, --repair mends), or %s",
			other, cp.GTID, strings.Join(append(append(append([]string(nil), read...), skipped...), purged...), ", "), strings.Join(purged, ", "), files[0], strings.Join(pl.purgedIDs, ","), remedy)}
	}
	st.log.Warn("resuming by GTID on another server", "checkpoint_server_id", cp.ServerID, "server_id", st.ident.ID,
		"gtid", cp.GTID, "checkpoint_position", pos.String(), "position", at.pos.String(), "gtid_place", last.String())
	if len(read) > 0 {
		st.log.Warn("this server's binlog has, before the checkpoint's place, transactions of GTID domains the checkpoint's server did not have: they are read from each domain's first transaction (skip_gtid_domains would skip them)",
			"domains", strings.Join(read, ", "), "checkpoint_gtid", cp.GTID, "position", at.pos.String())
	}
	if len(skipped) > 0 {
		st.log.Warn("this server's binlog has, before the checkpoint's place, transactions of GTID domains the checkpoint's server did not have: skip_gtid_domains skips them; if they changed the pipelines' tables, the targets lack those changes (etlq verify tells, --repair mends)",
			"domains", strings.Join(skipped, ", "), "checkpoint_gtid", cp.GTID, "up_to", last.String())
	}
	return at, nil
}

// placePurged places by its GTID a checkpoint of this server whose file
// was purged: where nothing after it was purged — a checkpoint caught up
// when etlq stopped, then FLUSH LOGS and PURGE BINARY LOGS (a backup
// tool's, logrotate's) — its GTID is at the start of the oldest binary
// log, and the stream resumes there with nothing lost. Before, the run
// failed as if changes were gone ("a new snapshot is needed"), and with
// on_binlog_gap = 'resnapshot' read every table again for nothing
// (new-user trial). ok is false where the GTID cannot be placed (changes
// after it were purged too: the gap is real), or on MySQL.
func (st *stream) placePurged(c *client.Conn, cp *markState) (resumePlace, bool) {
	pl, ok := placeCaughtUp(c, st.flavor, cp, st.opts.skipDomains)
	if !ok {
		return resumePlace{}, false
	}
	st.log.Warn("the checkpoint's binlog position was purged on the server, but nothing after it was: its GTID places it in the binlog that is left, and the stream resumes there",
		"checkpoint_position", binlogPos{File: cp.File, Pos: cp.Pos}.String(), "gtid", cp.GTID, "position", pl.at.pos.String())
	return pl.at, true
}

// placeCaughtUp places checkpoint cp of this server by its GTID in the
// server's binary logs (placePurged; etlq status, Behind); ok is false
// where it cannot (changes after it purged, domains it lacks, MySQL).
func placeCaughtUp(c *client.Conn, flavor string, cp *markState, skipDomains string) (domainPlacement, bool) {
	if flavor != "mariadb" || cp.Flavor == "mysql" || cp.GTID == "" {
		return domainPlacement{}, false
	}
	want, err := parseGTIDStart(cp.GTID)
	if err != nil {
		return domainPlacement{}, false
	}
	logs, err := c.Execute("SHOW BINARY LOGS")
	if err != nil {
		return domainPlacement{}, false
	}
	files := make([]string, logs.RowNumber())
	for i := range files {
		files[i], _ = logs.GetString(i, 0)
	}
	pl, err := placeByDomain(newGTIDFinder(c, files), want, cp.GTID, skipDomains)
	if err != nil || len(pl.purged) > 0 || len(pl.read) > 0 || len(pl.skipped) > 0 {
		return domainPlacement{}, false
	}
	return pl, true
}

// lostPositionError is a checkpoint position the server cannot resume
// from: purged, or another server's that cannot be placed in this one's
// binlog. snapshot_on_purge = true takes a new snapshot instead of failing.
type lostPositionError struct {
	error
	gap string // what was lost, without what to do: GapReason
}

// lostWithRemedy is a lost position: gap says what was lost, remedy what
// to do about it.
func lostWithRemedy(gap, remedy string) lostPositionError {
	return lostPositionError{errors.New(gap + "; " + remedy), gap}
}

// GapReason is the gap without the advice of the error (set
// on_binlog_gap = 'resnapshot', …), for a run that acts on it by itself:
// it quoted the error, which told it to set the option it had.
func (e lostPositionError) GapReason() string {
	if e.gap == "" {
		return e.Error()
	}
	return e.gap
}

// Is matches connectors.ErrPositionLost.
func (lostPositionError) Is(target error) bool { return target == connectors.ErrPositionLost }

// checkPurged fails when pos is no longer in the server's binlogs, or past
// the end of its file.
func checkPurged(c *client.Conn, pos binlogPos) error {
	r, err := c.Execute("SHOW BINARY LOGS")
	if err != nil {
		return nil // not allowed to list: the dump itself will tell
	}
	for i := 0; i < r.RowNumber(); i++ {
		f, _ := r.GetString(i, 0)
		if f != pos.File {
			continue
		}
		// A position past the file's end (or inside its 4-byte magic)
		// is none the server can start a dump at: a damaged checkpoint,
		// or a binlog cut short by a crash. A --once run would otherwise
		// take it as reached and end at once with nothing read.
		if size, err := r.GetUint(i, 1); err == nil && (uint64(pos.Pos) > size || pos.Pos < 4) {
			return fmt.Errorf("binlog position %s is past the end of the server's file %s (%d bytes): the checkpoint is damaged, or the binlog was cut short by a server crash; start again with an empty state directory to take a new snapshot", pos, f, size)
		}
		return nil
	}
	return purgedError(pos)
}

// purgedWhileReading is the error of a stream whose read position the
// server purged while it ran: its connection was lost (a network cut, a
// server restart) and the file was purged before it reconnected. The
// engine resumes from the checkpoint when on_binlog_gap = 'resnapshot'
// (a new snapshot there); otherwise the run stops with this.
func purgedWhileReading(pos binlogPos) error {
	gap := fmt.Sprintf("binlog position %s, where etlq was reading, was purged on the server while etlq was behind it (its binlog connection was lost, and PURGE BINARY LOGS or the retention removed the file before it reconnected): the changes after it are gone from the server", pos)
	return lostPositionError{fmt.Errorf("binlog position %s, where etlq was reading, was purged on the server while etlq was behind it (its binlog connection was lost, and PURGE BINARY LOGS or the retention removed the file before it reconnected): the changes after it are gone from the server, and a new snapshot is needed: set on_binlog_gap = 'resnapshot' and run apply again, which then takes one of the SNAPSHOT initial tables from the checkpoint on (marking changelog and file targets with a truncate first, so that the rows deleted meanwhile leave them too), or start again with an empty state directory; etlq status shows how far behind a checkpoint is", pos), gap}
}

func purgedError(pos binlogPos) error {
	return lostPositionError{fmt.Errorf("binlog position %s was purged on the server: a new snapshot is needed (start again with an empty state directory, or set on_binlog_gap = 'resnapshot'; only the latter marks changelog and file targets with a truncate first, so that the rows deleted meanwhile leave them too)", pos),
		fmt.Sprintf("binlog position %s was purged on the server", pos)}
}
