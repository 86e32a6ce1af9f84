package mysql

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/etlq/etlq/connectors"
)

// Many small tables (1,000 tables of 1,000 rows under one pattern) cost a
// snapshot more in round trips than in rows: each table is one chunk, and
// each chunk took its own consistent snapshot (START TRANSACTION, the
// binlog position, the live columns, the SELECT, ROLLBACK). A consistent
// snapshot is valid for every table read in it, so a worker reads the
// small chunks it finds planned one after another in one read view: one
// transaction and one binlog position for the group, one information_schema
// query for the group's live columns, then one SELECT per table. Each
// chunk stays a chunk (its records, its Mark, its errors and retries);
// they share the position. While the group's transaction is open, an
// anchor at its position stays among the chunks being read, so the binlog
// reader cannot pass the position before the group's last chunk is read
// (barrier): a chunk that joins the group needs no new read view.
//
// Only with an exact read-view position (MariaDB's binlog_snapshot_position,
// or a snapshot without binlog): the windowed modes place each chunk by
// its own window. A group ends at maxGroupChunks chunks, chunk_rows rows,
// maxGroupBytes of row data or maxGroupOpen, whichever comes first, and
// when the worker has no small chunk at hand.

const (
	// smallChunkRows: a chunk of a table counted at no more rows is
	// small (chunk.small).
	smallChunkRows = 10000
	// maxGroupChunks bounds the chunks of one group, and the small chunks
	// planned ahead of the workers (smallSem).
	maxGroupChunks = 64
	// maxGroupBytes bounds the row data read in one group's read view.
	maxGroupBytes = 64 << 20
)

// maxGroupOpen bounds how long a group's read view stays open.
var maxGroupOpen = time.Second

// readGroup is the consistent snapshot a worker reads several small chunks
// in. Used by its worker only (the anchor is guarded by s.mu).
type readGroup struct {
	chunks []*chunk // as taken from the work queue
	open   bool     // a chunk of it took the read view; its transaction is open on conn
	conn   *client.Conn
	pos    binlogPos
	anchor *chunk // in s.inflight while open
	since  time.Time
	rows   int
	bytes  int
	n      int // chunks read in the read view
	// sigs are the live column signatures of the group's tables, read
	// once in the read view (liveSchema); a table missing is asked alone.
	sigs map[*tableState]string
}

// errGroupStale: a chunk read in its group's read view found its table
// changed since the read view was taken (ER_TABLE_DEF_CHANGED, before any
// row): it is read again in a read view of its own.
var errGroupStale = errors.New("table definition changed since the group's read view")

// defChanged reports whether err is the server's ER_TABLE_DEF_CHANGED.
func defChanged(err error) bool {
	var me *gm.MyError
	return errors.As(err, &me) && me.Code == gm.ER_TABLE_DEF_CHANGED
}

// semOf is the semaphore a planned chunk holds a place of until emitted.
func (s *snapshotter) semOf(ch *chunk) chan struct{} {
	if ch.small {
		return s.smallSem
	}
	return s.sem
}

// release gives back the place of ch (emitted, or dropped).
func (s *snapshotter) release(ch *chunk) {
	if ch.small {
		s.mu.Lock()
		s.smallHeld -= ch.held
		ch.held = 0
		s.mu.Unlock()
		select {
		case s.roomC <- struct{}{}:
		default:
		}
	}
	<-s.semOf(ch)
}

// maxSmallHeld bounds the row data of small chunks read and not emitted:
// smallSem lets many be read ahead, and a table of few rows can have
// large ones (64 rows of 1 MiB values).
var maxSmallHeld int64 = 32 << 20

// waitSmallRoom waits, before a small chunk is read (outside any group's
// read view, so that the binlog reader may emit what is held), until the
// small chunks read and not emitted hold less than maxSmallHeld.
func (s *snapshotter) waitSmallRoom() error {
	for {
		s.mu.Lock()
		held := s.smallHeld
		s.mu.Unlock()
		if held < maxSmallHeld {
			return nil
		}
		select {
		case <-s.roomC:
		case <-time.After(100 * time.Millisecond):
		case <-s.ctx.Done():
			return s.ctx.Err()
		}
	}
}

// noteSmallHeld counts the row data of a small chunk read (released when
// it is emitted or dropped).
func (s *snapshotter) noteSmallHeld(ch *chunk, bytes int) {
	if !ch.small {
		return
	}
	s.mu.Lock()
	ch.held += int64(bytes)
	s.smallHeld += int64(bytes)
	s.mu.Unlock()
}

// grouping reports whether small chunks are read in groups: with an exact
// read-view position only.
func (s *snapshotter) grouping() bool { return s.mode == "exact" }

// takeGroup returns ch with the small chunks queued behind it (up to
// maxGroupChunks), as taken from the work queue without waiting; the
// first chunk that is not small ends the list. The small ones share a
// readGroup.
func (s *snapshotter) takeGroup(ch *chunk) []*chunk {
	batch := []*chunk{ch}
	if !ch.small || !s.grouping() {
		return batch
	}
	for len(batch) < maxGroupChunks {
		select {
		case next, ok := <-s.work:
			if !ok {
				goto done
			}
			batch = append(batch, next)
			if !next.small {
				goto done
			}
			continue
		default:
		}
		break
	}
done:
	if len(batch) == 1 || len(batch) == 2 && !batch[1].small {
		return batch
	}
	// Every chunk of the batch knows the group, the last one too when it
	// is not small: its read ends the group's read view first (joinGroup
	// refuses it), so that the anchor does not hold the binlog reader
	// before a position the chunk's own records wait behind.
	g := &readGroup{chunks: batch}
	for _, c := range batch {
		c.grp = g
	}
	return batch
}

// joinGroup registers ch, about to be read on c, as read in the open
// read view of its group, at the group's position, and reports whether it
// did; when not, the caller ends the group and takes a read view of its
// own.
func (s *snapshotter) joinGroup(c *client.Conn, ch *chunk) bool {
	g := ch.grp
	if g == nil || !g.open || g.conn != c || !ch.small || ch.lock || ch.solo ||
		g.rows >= s.cfg.opts.chunkRows || g.bytes >= maxGroupBytes || g.n >= maxGroupChunks || time.Since(g.since) >= maxGroupOpen {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.smallHeld >= maxSmallHeld {
		return false // (read after waitSmallRoom, in a read view of its own)
	}
	if s.cfg.needBinlog && s.behindLocked(g.pos) {
		// (The anchor holds the reader before the position: not seen.)
		return false
	}
	ch.pos, ch.posKnown = g.pos, true
	s.inflight = append(s.inflight, ch)
	g.n++
	return true
}

// openGroup makes the read view ch took on c (at ch.pos) its group's: the
// anchor holds the binlog reader before the position, the transaction
// stays open after ch, and the live columns of the group's tables not
// read yet are read in one query.
func (s *snapshotter) openGroup(c *client.Conn, ch *chunk) {
	g := ch.grp
	if g == nil || !ch.small || ch.lock || !s.grouping() {
		return
	}
	g.open, g.conn, g.pos, g.since, g.rows, g.bytes, g.n = true, c, ch.pos, time.Now(), 0, 0, 1
	g.anchor = &chunk{t: ch.t, pos: ch.pos, posKnown: true}
	s.mu.Lock()
	s.inflight = append(s.inflight, g.anchor)
	s.mu.Unlock()
	g.sigs = nil
	var tss []*tableState
	rest := false
	for _, o := range g.chunks {
		if o == ch {
			rest = true
		}
		if rest && o.small {
			tss = append(tss, o.ts)
		}
	}
	if len(tss) > 1 {
		g.sigs = liveSigs(c, tss)
	}
}

// endGroup ends g's read view when it is open (rollback says whether to
// roll its transaction back: not when its connection failed), so that the
// binlog reader may pass its position.
func (s *snapshotter) endGroup(g *readGroup, rollback bool) {
	if g == nil || !g.open {
		return
	}
	g.open = false
	if rollback {
		_, _ = g.conn.Execute("ROLLBACK")
	}
	s.mu.Lock()
	s.removeInflight(g.anchor)
	s.mu.Unlock()
	g.anchor = nil
	s.signal()
}

// colSig is the line of a column in a schema's signature (columnSig).
func colSig(name, typ string, nullable bool, charset string) string {
	return fmt.Sprintf("%s\x00%s\x00%v\x00%s\n", name, typ, nullable, charset)
}

// liveSigs reads the live column signatures of the tables tss (as
// liveSchema compares them), describeBatch tables a query per database; a
// table the answer lacks is left out (liveSchema asks for it alone).
func liveSigs(c *client.Conn, tss []*tableState) map[*tableState]string {
	refs := make([]connectors.TableRef, len(tss))
	for i, ts := range tss {
		refs[i] = ts.ref
	}
	sigs, _ := columnSigs(c, refs) // (a database whose query failed is left out)
	out := map[*tableState]string{}
	for _, ts := range tss {
		if sig, ok := sigs[ts.ref]; ok {
			out[ts] = sig
		}
	}
	return out
}

// columnSigs reads the column signatures (columnSig) of the tables refs
// as the server has them, describeBatch tables a query per database. A
// table that does not exist is left out; so is every table of a database
// whose query failed, with the first such error.
func columnSigs(c *client.Conn, refs []connectors.TableRef) (map[connectors.TableRef]string, error) {
	out := map[connectors.TableRef]string{}
	byDB := map[string]map[string]connectors.TableRef{}
	var dbs []string
	for _, ref := range refs {
		if byDB[ref.DB] == nil {
			byDB[ref.DB] = map[string]connectors.TableRef{}
			dbs = append(dbs, ref.DB)
		}
		byDB[ref.DB][ref.Table] = ref
	}
	var firstErr error
	for _, db := range dbs {
		names := make([]string, 0, len(byDB[db]))
		for name := range byDB[db] {
			names = append(names, quoteString(name))
		}
		for lo := 0; lo < len(names); lo += describeBatch {
			r, err := c.Execute(`SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, IFNULL(CHARACTER_SET_NAME, '')
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ` + quoteString(db) +
				` AND TABLE_NAME IN (` + strings.Join(names[lo:min(lo+describeBatch, len(names))], ", ") + `) ORDER BY TABLE_NAME, ORDINAL_POSITION`)
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("describe tables of %s: %w", db, err)
				}
				continue
			}
			sigs := map[connectors.TableRef]*strings.Builder{}
			for i := 0; i < r.RowNumber(); i++ {
				tn, _ := r.GetString(i, 0)
				ref, ok := byDB[db][tn]
				if !ok { // (lower_case_table_names) — only then: the loop over every table asked, for every column, cost the start of 1,000 tables ~40 ms of CPU
					for asked, r := range byDB[db] {
						if strings.EqualFold(asked, tn) {
							ref, ok = r, true
							break
						}
					}
				}
				if !ok {
					continue
				}
				name, _ := r.GetString(i, 1)
				typ, _ := r.GetString(i, 2)
				null, _ := r.GetString(i, 3)
				cs, _ := r.GetString(i, 4)
				b := sigs[ref]
				if b == nil {
					b = &strings.Builder{}
					sigs[ref] = b
				}
				b.WriteString(colSig(name, strings.ToLower(typ), null == "YES", strings.ToLower(cs)))
			}
			for ref, b := range sigs {
				out[ref] = b.String()
			}
		}
	}
	return out, firstErr
}

// maxCount is a small table's MAX of its integer key and COUNT(*), read
// for many tables in one query (planCounts); or, for a table whose
// estimate is far below a chunk (trustEstimate), its estimate alone.
type maxCount struct {
	top      uint64
	nonEmpty bool
	rows     int64
	// estimated: rows is information_schema's estimate, nothing was read
	// (top and nonEmpty unknown: the table is planned as one chunk, which
	// needs neither).
	estimated bool
}

// trustEstimate reports whether a table estimated at est rows is planned
// as one small chunk from the estimate, without counting it: when twice
// the estimate is still at most a small chunk and at most chunk_rows.
// InnoDB's COUNT(*) walks the whole clustered index: for 1,000 tables of
// 1,000 rows the 20 counting queries took MariaDB 50 – 80% of the time
// its SELECTs of the same tables took (docs/benchmarks.md), while the
// count only chose the plan and the progress's total. A table larger than its estimate is
// still read whole: its chunk's LIMIT (2 × chunk_rows) splits it.
func trustEstimate(est int64, chunkRows int) bool {
	return est >= 0 && 2*est <= smallChunkRows && 2*est <= int64(chunkRows)
}

// countBatch is how many tables planCounts reads in one query.
const countBatch = 50

// planCounts reads, for the initial tables whose snapshot the planner
// will make one chunk of (an integer key, estimated under smallTable
// rows, nothing read before), the key's MAX and the row count that
// planIntTable asks each alone otherwise: countBatch tables a query
// (UNION ALL). A table whose batch fails is asked alone. A table whose
// estimate is far below a chunk (trustEstimate) is not read: it is one
// small chunk, its progress's total the estimate until its snapshot
// ends (then the rows it read).
func (s *snapshotter) planCounts(c *client.Conn) map[*tableState]maxCount {
	var tss []*tableState
	out := map[*tableState]maxCount{}
	for _, ts := range s.initial {
		est, ok := s.estimates[ts]
		if ok && est < smallTable && intKeyCol(ts.cur) != nil && len(ts.snap.Ranges) == 0 && ts.resnap == nil {
			if trustEstimate(est, s.cfg.opts.chunkRows) {
				out[ts] = maxCount{rows: est, estimated: true}
				continue
			}
			tss = append(tss, ts)
		}
	}
	for lo := 0; lo < len(tss); lo += countBatch {
		part := tss[lo:min(lo+countBatch, len(tss))]
		if len(part) < 2 {
			break
		}
		qs := make([]string, len(part))
		for i, ts := range part {
			kc := intKeyCol(ts.cur)
			qs[i] = "SELECT " + strconv.Itoa(i) + ", MAX(" + quoteIdent(kc.Name) + "), COUNT(*) FROM " + tableIdent(ts.ref)
		}
		s.notePlanQuery()
		r, err := c.Execute(strings.Join(qs, " UNION ALL "))
		if err != nil {
			continue
		}
		for j := 0; j < r.RowNumber(); j++ {
			i, _ := r.GetInt(j, 0)
			if i < 0 || int(i) >= len(part) {
				continue
			}
			ts := part[i]
			n, _ := r.GetInt(j, 2)
			mc := maxCount{rows: n}
			if v, _ := r.GetString(j, 1); v != "" {
				mc.top, mc.nonEmpty = keyOrd(intKeyCol(ts.cur), v)
			}
			out[ts] = mc
		}
	}
	return out
}
