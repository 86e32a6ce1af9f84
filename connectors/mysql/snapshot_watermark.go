package mysql

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/etlq/etlq/connectors"
)

// Watermark positioning (snapshot_position = 'watermark'; the default on
// MySQL, which has no binlog_snapshot_position). Before a chunk's read
// view is taken, etlq commits a low watermark row into a small table of its
// own; right after, a high watermark row. The binlog reader finds both in
// the binlog: the chunk is "as of" the position after the high watermark,
// and keys changed between the two come from the binlog events, not the
// chunk. Unlike SHOW MASTER STATUS, a committed watermark is ordered with
// the engine commits (binlog order = commit order), so no transaction can
// sit before the low mark and still be invisible to the read view. The
// argument is in docs/snapshot.md.

// defaultWatermarkTable is where watermark rows go unless the
// watermark_table option names another table.
const defaultWatermarkTable = "etlq.watermarks"

// watermarks writes and recognises one stream's watermark rows.
type watermarks struct {
	ref connectors.TableRef
	run string // this stream's token prefix: "etlq:<random>:"

	mu   sync.Mutex // serialises writes on conn
	conn *client.Conn
	src  *Source

	seq    uint64            // last chunk attempt number (under snapshotter.mu)
	chunks map[uint64]*chunk // attempts whose marks may still come (under snapshotter.mu)
}

func parseTableRef(s string) (connectors.TableRef, error) {
	db, tbl, ok := strings.Cut(s, ".")
	if !ok || db == "" || tbl == "" || strings.Contains(tbl, ".") {
		return connectors.TableRef{}, fmt.Errorf("option \"watermark_table\": want 'database.table', got %q", s)
	}
	return connectors.TableRef{DB: db, Table: tbl}, nil
}

// setupWatermarks creates the watermark table when it is missing and
// checks that etlq may write it and that the server orders commits as
// the binlog does.
func setupWatermarks(ctx context.Context, cfg *streamConfig) (*watermarks, error) {
	ref, err := parseTableRef(cfg.opts.watermarkTbl)
	if err != nil {
		return nil, err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	w := &watermarks{ref: ref, run: "etlq:" + hex.EncodeToString(b[:]) + ":", src: cfg.src, chunks: map[uint64]*chunk{}}
	c, err := cfg.src.connect(ctx)
	if err != nil {
		return nil, err
	}
	w.conn = c
	if cfg.flavor != "mariadb" {
		// MySQL may commit a binlog group's transactions in any order
		// with binlog_order_commits = OFF: then a transaction before the
		// low mark could still be invisible to the read view.
		if r, err := c.Execute("SELECT @@GLOBAL.binlog_order_commits"); err == nil && r.RowNumber() > 0 {
			if v, _ := r.GetInt(0, 0); v == 0 {
				w.close()
				return nil, fmt.Errorf("binlog_order_commits is OFF on the server: watermarks need commits in binlog order")
			}
		}
	}
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS " + quoteIdent(ref.DB),
		"CREATE TABLE IF NOT EXISTS " + tableIdent(ref) + " (id BIGINT AUTO_INCREMENT PRIMARY KEY, " +
			"mark VARCHAR(128) NOT NULL, at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE = InnoDB",
		// Rows of runs that did not end cleanly.
		"DELETE FROM " + tableIdent(ref) + " WHERE at < NOW(6) - INTERVAL 1 DAY",
	} {
		if _, err := c.Execute(q); err != nil {
			w.close()
			return nil, fmt.Errorf("watermark table %s: %v (etlq needs CREATE, INSERT and DELETE on it; or set snapshot_position)", ref, err)
		}
	}
	return w, nil
}

// write commits one watermark row (autocommit), reconnecting once when the
// connection was lost.
func (w *watermarks) write(ctx func() error, token string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := "INSERT INTO " + tableIdent(w.ref) + " (mark) VALUES (" + quoteString(token) + ")"
	for attempt := 0; ; attempt++ {
		if w.conn == nil {
			c, err := w.src.connect(context.Background())
			if err != nil {
				// Counted as a lost connection: the chunk's read is
				// tried again with back-off (withConn), as when its own
				// connection is lost.
				return fmt.Errorf("write snapshot watermark into %s: %w (%v)", w.ref, gm.ErrBadConn, err)
			}
			w.conn = c
		}
		_, err := w.conn.Execute(q)
		if err == nil || attempt > 0 || !lostConn(err) {
			if err != nil {
				return fmt.Errorf("write snapshot watermark into %s: %w", w.ref, err)
			}
			return nil
		}
		w.conn.Close()
		w.conn = nil
		if err := ctx(); err != nil {
			return err
		}
	}
}

// close deletes this run's rows and closes the connection.
func (w *watermarks) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		return
	}
	_, _ = w.conn.Execute("DELETE FROM " + tableIdent(w.ref) + " WHERE mark LIKE " + quoteString(w.run+"%"))
	w.conn.Close()
	w.conn = nil
}

func (w *watermarks) token(seq uint64, kind string) string {
	return w.run + strconv.FormatUint(seq, 10) + ":" + kind
}

// parse returns the attempt number and kind ("low" or "high") of one of
// this run's tokens.
func (w *watermarks) parse(token string) (uint64, string, bool) {
	rest, ok := strings.CutPrefix(token, w.run)
	if !ok {
		return 0, "", false
	}
	n, kind, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, "", false
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	return seq, kind, err == nil && (kind == "low" || kind == "high")
}

// watermarks returns the stream's watermarks (nil: not in watermark mode).
func (s *snapshotter) watermarks() *watermarks {
	if s == nil {
		return nil
	}
	return s.wm
}

// isTable reports whether schema.table is the watermark table.
func (w *watermarks) isTable(schema, table []byte) bool {
	return w != nil && string(schema) == w.ref.DB && string(table) == w.ref.Table
}

// tokens returns this run's tokens in a decoded rows event of the
// watermark table (the after images of inserted rows).
func (w *watermarks) tokens(e *replication.RowsEvent) []string {
	var out []string
	for _, row := range e.Rows {
		for _, v := range row {
			var s string
			switch v := v.(type) {
			case string:
				s = strings.Clone(v) // go-mysql's strings alias the event's (pooled) packet
			case []byte:
				s = string(v)
			default:
				continue
			}
			if strings.HasPrefix(s, w.run) {
				out = append(out, s)
			}
		}
	}
	return out
}

// register gives ch a new attempt number, forgetting its previous one
// (whose marks, if they come, are then ignored).
func (s *snapshotter) registerWatermark(ch *chunk) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.wm
	delete(w.chunks, ch.wmSeq)
	w.seq++
	ch.wmSeq = w.seq
	w.chunks[w.seq] = ch
	return w.seq
}

// watermarkSeen is called by the binlog reader at the boundary after a
// transaction that held watermark token: a low mark opens the chunk's
// window there, a high mark makes it the chunk's position.
func (s *snapshotter) watermarkSeen(token string, at binlogPos) {
	seq, kind, ok := s.wm.parse(token)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.wm.chunks[seq]
	if ch == nil {
		return
	}
	switch kind {
	case "low":
		ch.low = at
	case "high":
		if ch.low.isZero() {
			// The low mark precedes the high one in the binlog; without
			// it the window is unknown.
			if s.failed == nil {
				s.failed = fmt.Errorf("snapshot of %s: high watermark at %s without its low watermark", ch.ts.key, at)
			}
			return
		}
		ch.pos = at
		ch.posKnown = true
		delete(s.wm.chunks, seq)
	}
}

// watermarkMissing reports a chunk whose high watermark the reader should
// have met before pos (the server's position after it was written) but
// did not: the watermark table's writes are not in the binlog.
func (s *snapshotter) watermarkMissing(pos binlogPos) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A chunk read to its end waits in pending for its mark, too.
	for _, list := range [][]*chunk{s.inflight, s.pending} {
		for _, ch := range list {
			if !ch.posKnown && !ch.hwBound.isZero() && pos.cmp(ch.hwBound) >= 0 {
				return fmt.Errorf("snapshot of %s: the binlog reader passed %s without meeting the chunk's watermark in %s: "+
					"are that table's writes left out of the binlog (binlog_do_db, binlog_ignore_db)? Set watermark_table, or snapshot_position = 'bracket'",
					ch.ts.key, ch.hwBound, s.wm.ref)
			}
		}
	}
	return nil
}
