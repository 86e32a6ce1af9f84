package mysql

import (
	"time"
)

// snapLog is what the snapshot logs of its tables when the stream is
// asked to (connectors.StreamRequest.LogSnapshots): a run without a
// progress display gets in its logs what the bars show. Its fields are
// guarded by snapshotter.mu.
type snapLog struct {
	start  map[*tableState]time.Time // when each table's first chunk was planned
	logged map[*tableState]bool      // a "snapshot started" line went out
	first  time.Time                 // the first table's start
	tables int                       // tables whose snapshot ended
	rows   int64                     // their rows read in this run
	small  int                       // of them, those not logged one by one
	ended  bool                      // the whole snapshot's end was logged
}

// loggedTable says whether a table of est rows gets its own lines: a
// table of at least a chunk or of smallTable rows. The others (a pattern
// of 1,000 small tables) are summed up in the snapshot's last line.
func (s *snapshotter) loggedTable(est int64) bool {
	return est >= smallTable || est >= int64(s.cfg.opts.chunkRows)
}

// noteTableStart records, when ts's first chunk is planned, that its
// snapshot starts, and logs it for a table loggedTable. Called with s.mu
// held.
func (s *snapshotter) noteTableStart(ts *tableState) {
	if !s.cfg.req.LogSnapshots || ts.resnap != nil {
		return
	}
	l := &s.logs
	if l.start == nil {
		l.start, l.logged = map[*tableState]time.Time{}, map[*tableState]bool{}
	}
	if _, ok := l.start[ts]; ok {
		return
	}
	now := time.Now()
	l.start[ts] = now
	if l.first.IsZero() {
		l.first = now
	}
	est := ts.rowsTotal.Load()
	if !s.loggedTable(est) {
		return
	}
	l.logged[ts] = true
	chunkRows := int64(max(s.cfg.opts.chunkRows, 1))
	chunks := max((est+chunkRows-1)/chunkRows, 1)
	args := []any{"table", ts.key, "estimated_rows", est, "estimated_chunks", chunks,
		"connections", min(int64(max(s.cfg.opts.parallelism, 1)), chunks)}
	if ts.snap != nil && len(ts.snap.Ranges) > 0 {
		args = append(args, "resumed", true)
	}
	s.cfg.log.Info("snapshot started", args...)
}

// noteTableDone logs the end of ts's snapshot (rows read, duration,
// rows/s) for a table whose start was logged, and, when it was the last
// table of the stream's snapshot, the snapshot's end and the binlog
// position the stream reads on from. Called with s.mu held.
func (s *snapshotter) noteTableDone(ts *tableState, at binlogPos) {
	if !s.cfg.req.LogSnapshots {
		return
	}
	l := &s.logs
	start, ok := l.start[ts]
	if !ok {
		return
	}
	delete(l.start, ts)
	rows := ts.rowsDone.Load()
	l.tables++
	l.rows += rows
	if l.logged[ts] {
		delete(l.logged, ts)
		d := time.Since(start)
		s.cfg.log.Info("snapshot done", "table", ts.key, "rows", rows, "chunks", s.planned[ts],
			"duration", d.Round(time.Millisecond), "rows_per_s", rate(rows, d))
	} else {
		l.small++
	}
	if l.ended {
		return
	}
	for _, o := range s.active {
		if !o.snap.Done && !s.dropped[o] {
			return
		}
	}
	l.ended = true
	d := time.Since(l.first)
	args := []any{"tables", l.tables, "rows", l.rows, "duration", d.Round(time.Millisecond), "rows_per_s", rate(l.rows, d)}
	if l.small > 0 {
		args = append(args, "small_tables", l.small)
	}
	if s.cfg.needBinlog && !at.isZero() {
		args = append(args, "streaming_from", at.String())
	}
	s.cfg.log.Info("snapshot phase done; the binlog follows", args...)
}

// rate is n per second over d, rounded.
func rate(n int64, d time.Duration) int64 {
	if d <= 0 {
		return n
	}
	return int64(float64(n)/d.Seconds() + 0.5)
}
