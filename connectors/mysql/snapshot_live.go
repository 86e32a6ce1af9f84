package mysql

import (
	"errors"
	"strings"

	gm "github.com/go-mysql-org/go-mysql/mysql"
)

// Snapshots of tables that join or leave the stream while it runs
// (lifecycle.go): a table renamed in is snapshotted like a table of the
// start; a table that leaves before its snapshot was emitted ends it.

// addTable snapshots ts, a table that joined the stream while it runs (a
// table renamed into a pipeline's name or pattern), like a table of the
// start: its chunks are placed in the binlog after the position where it
// joined, and the reader waits for them as for any chunk. Called by the
// binlog reader.
func (s *snapshotter) addTable(ts *tableState) {
	if s.mode == "exact" && s.cfg.flavor != "mariadb" {
		// No snapshot was planned at the start, so no watermark table
		// was set up: MySQL has no exact read-view position.
		s.mode = "bracket"
		s.cfg.log.Warn("snapshot of a table that joined placed by SHOW MASTER STATUS brackets: a change committed at the instant a chunk's read begins can be missed; see docs/snapshot.md", "table", ts.key)
	}
	s.mu.Lock()
	ts.snap = &snapState{}
	ts.snapDone.Store(false)
	ts.rowsDone.Store(0)
	s.active = append(s.active, ts)
	s.mu.Unlock()
	if !s.started {
		s.startWorkers()
	}
	s.added <- ts
}

// tableGone reports whether err says ts no longer exists (ERROR 1146),
// and if so ends its snapshot: the table was dropped or renamed away after
// the position its snapshot starts from, and the binlog reader meets that
// statement further on (the table then leaves, its rows leaving upsert
// targets; a table of that name that comes back joins anew).
func (s *snapshotter) tableGone(ts *tableState, err error) bool {
	var me *gm.MyError
	if !(errors.As(err, &me) && me.Code == 1146) && !strings.Contains(err.Error(), "ERROR 1146") {
		return false
	}
	// INFO: nothing for the operator to do (the binlog reader handles the
	// DROP or RENAME when it meets it; a chaos trial found the WARN misled).
	s.cfg.log.Info("table gone before its snapshot was read; the binlog says what became of it", "table", ts.key, "error", firstLine(err))
	s.dropTable(ts)
	return true
}

func (s *snapshotter) isDropped(ts *tableState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped[ts]
}

// dropTable ends the snapshot of ts, a table that left the stream
// (dropped, renamed away) before its snapshot was emitted: its pending
// chunks are discarded, chunks being read are discarded when they end,
// and no more are planned. Called by the binlog reader.
func (s *snapshotter) dropTable(ts *tableState) {
	s.mu.Lock()
	if ts.snap == nil || ts.snap.Done {
		s.mu.Unlock()
		return
	}
	if s.dropped == nil {
		s.dropped = map[*tableState]bool{}
	}
	s.dropped[ts] = true
	ts.snap.Done = true
	ts.snapDone.Store(true)
	keep := s.pending[:0]
	var gone []*chunk
	for _, ch := range s.pending {
		if ch.ts != ts {
			keep = append(keep, ch)
			continue
		}
		for _, r := range ch.recs {
			r.Release()
		}
		ch.recs = nil
		gone = append(gone, ch)
	}
	s.pending = keep
	s.mu.Unlock()
	for _, ch := range gone {
		s.release(ch)
	}
	s.cfg.log.Info("snapshot of a table that left the stream ends unfinished", "table", ts.key)
}
