package mysql

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/etlq/etlq/connectors"
)

// Expiry is what the server's binary log retention means for a position
// (a checkpoint's): when the file holding it may be purged.
//
// The retention is binlog_expire_logs_seconds (MySQL 8, MariaDB 10.6+),
// else expire_logs_days. The server purges a file once it was last
// written longer ago than the retention — checked when it rotates to a new
// file — and file times are not visible over SQL: a file was last written
// when the next one was started, which is the time of the next file's
// first event (read over a short binlog dump). The current file has not
// stopped being written: it cannot be purged before the retention has
// passed from now.
type Expiry struct {
	// Retention is 0 when binary logs are never purged by age.
	Retention time.Duration
	// Setting names the variable the retention comes from, with its value.
	Setting string
	// Oldest is the oldest binary log on the server; OldestAt when it was
	// started.
	Oldest   string
	OldestAt time.Time
	// File is the position's binary log.
	File string
	// Purged says File is no longer on the server.
	Purged bool
	// OtherServer says the checkpoint was taken on another server (a
	// failover): apply places it by its GTID (CheckpointPlace tells
	// whether it can), and File means nothing here.
	OtherServer bool
	// PurgeAt is the earliest time the server may purge File (zero when
	// Retention is 0 or File is purged already).
	PurgeAt time.Time
	// WarnWithin is how close to PurgeAt a checkpoint is warned about:
	// the source's binlog_expiry_warning, default a quarter of Retention.
	WarnWithin time.Duration
}

// BinlogExpiry reads the server's binary log retention and its oldest
// binary log, and when the file of the checkpoint state (a Mark's State,
// as StreamRequest.Resume; nil: the current position) may be purged.
func (s *Source) BinlogExpiry(ctx context.Context, state []byte) (*Expiry, error) {
	c, done, err := s.questionConn(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	e := &Expiry{}
	e.Retention, e.Setting = retention(c)
	e.WarnWithin = e.Retention / 4
	if s.cfg.parsed.Given("binlog_expiry_warning") {
		e.WarnWithin = s.cfg.parsed.Duration("binlog_expiry_warning")
	}
	var current string
	if state == nil {
		// The server's position before its list of logs: a log rotated
		// between the two (FLUSH BINARY LOGS, a full log) is then in the
		// list; read after it, its file was "not on the server".
		pos, _, err := masterStatus(c, s.cfg.Flavor)
		if err != nil {
			return nil, err
		}
		current = pos.File
	}
	logs, err := c.Execute("SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("list binary logs: %v", err)
	}
	files := make([]string, logs.RowNumber())
	for i := range files {
		files[i], _ = logs.GetString(i, 0)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("the server has no binary logs (log_bin is off)")
	}
	e.Oldest = files[0]
	if e.OldestAt, err = s.fileStart(ctx, files[0]); err != nil {
		return nil, err
	}
	if state != nil {
		st, err := decodeState(state)
		if err != nil {
			return nil, err
		}
		if st.File == "" && st.GTID == "" {
			// A checkpoint without a binlog position (its pipelines read
			// SNAPSHOT only): nothing the server can purge.
			return e, nil
		}
		if cur, err := readServerIdent(c, s.cfg.Flavor); err == nil && !sameServer(st.ident(), cur) {
			// Another server's checkpoint (after a failover): its file
			// is that server's own, not one this server purged; the
			// stream places the checkpoint here by its GTID.
			e.OtherServer = true
			return e, nil
		}
		e.File = st.File
		if !slices.Contains(files, st.File) {
			// Purged: where nothing after the checkpoint was (caught up
			// when etlq stopped, then FLUSH and PURGE), apply places it
			// by its GTID (placePurged): its file is then the one its
			// GTID is in.
			if pl, ok := placeCaughtUp(c, s.cfg.Flavor, st, ""); ok {
				e.File = pl.at.pos.File
			}
		}
	} else {
		e.File = current
	}
	at := -1
	for i, f := range files {
		if f == e.File {
			at = i
		}
	}
	switch {
	case at < 0:
		e.Purged = (binlogPos{File: e.File, Pos: 4}).cmp(binlogPos{File: files[0], Pos: 4}) < 0
		if !e.Purged {
			return nil, fmt.Errorf("binary log %s is not on the server (its logs run from %s to %s)", e.File, files[0], files[len(files)-1])
		}
	case e.Retention == 0:
	case at == len(files)-1:
		e.PurgeAt = time.Now().Add(e.Retention)
	default:
		next, err := s.fileStart(ctx, files[at+1])
		if err != nil {
			return nil, err
		}
		e.PurgeAt = next.Add(e.Retention)
	}
	return e, nil
}

// retention reads the binary log retention and the setting it comes from.
func retention(c *client.Conn) (time.Duration, string) {
	num := func(q string) (float64, bool) {
		r, err := c.Execute(q)
		if err != nil || r.RowNumber() == 0 {
			return 0, false
		}
		v, _ := r.GetString(0, 0)
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	if on, ok := num("SELECT @@GLOBAL.binlog_expire_logs_auto_purge"); ok && on == 0 {
		return 0, "binlog_expire_logs_auto_purge = OFF"
	}
	if v, ok := num("SELECT @@GLOBAL.binlog_expire_logs_seconds"); ok && v > 0 {
		return time.Duration(v) * time.Second, fmt.Sprintf("binlog_expire_logs_seconds = %g", v)
	}
	if v, ok := num("SELECT @@GLOBAL.expire_logs_days"); ok && v > 0 {
		return time.Duration(v * 86400 * float64(time.Second)), fmt.Sprintf("expire_logs_days = %g", v)
	}
	return 0, "binlog_expire_logs_seconds = 0"
}

// fileStart is when a binary log was started: the timestamp of its first
// event (Format_description), read over a short binlog dump with a
// replica id of its own. A file's start never changes: it is kept.
func (s *Source) fileStart(ctx context.Context, file string) (time.Time, error) {
	s.mu.Lock()
	if t, ok := s.starts[file]; ok {
		s.mu.Unlock()
		return t, nil
	}
	s.mu.Unlock()
	syncer := s.probeSyncer()
	defer syncer.Close()
	bs, err := syncer.StartSync(gm.Position{Name: file, Pos: 4})
	if err != nil {
		return time.Time{}, fmt.Errorf("read binary log %s: %v", file, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		e, err := bs.GetEvent(ctx)
		if err != nil {
			return time.Time{}, fmt.Errorf("read binary log %s: %v", file, err)
		}
		// The first event sent is a rotate to the file, with no time.
		if e.Header.Timestamp != 0 {
			t := time.Unix(int64(e.Header.Timestamp), 0).UTC()
			s.mu.Lock()
			if s.starts == nil {
				s.starts = map[string]time.Time{}
			}
			s.starts[file] = t
			s.mu.Unlock()
			return t, nil
		}
	}
}

// TableRows is the server's estimate of the rows of the tables
// (information_schema.TABLES.TABLE_ROWS), for the snapshot time estimate.
func (s *Source) TableRows(ctx context.Context, refs []connectors.TableRef) (int64, error) {
	if len(refs) == 0 {
		return 0, nil
	}
	c, done, err := s.questionConn(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	var conds []string
	for _, r := range refs {
		conds = append(conds, "(TABLE_SCHEMA = "+quoteString(r.DB)+" AND TABLE_NAME = "+quoteString(r.Table)+")")
	}
	res, err := c.Execute("SELECT IFNULL(SUM(TABLE_ROWS), 0) FROM information_schema.TABLES WHERE " + strings.Join(conds, " OR "))
	if err != nil {
		return 0, fmt.Errorf("estimate table rows: %v", err)
	}
	v, _ := res.GetString(0, 0)
	n, _ := strconv.ParseInt(v, 10, 64)
	return n, nil
}

// probeSyncer is a raw binlog dump for a short read of the server's binary
// log (when a file or an event was written): a random server id in a range
// of its own, never that of a running stream, which the server would
// disconnect.
func (s *Source) probeSyncer() *replication.BinlogSyncer {
	cfg := s.cfg
	return replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID:         0x40000000 | rand.Uint32N(0x3fffffff),
		Flavor:           cfg.Flavor,
		Host:             cfg.Host,
		Port:             cfg.Port,
		User:             cfg.User,
		Password:         cfg.Password,
		TLSConfig:        s.binlogTLS(),
		Charset:          "utf8mb4",
		RawModeEnabled:   true,
		DisableRetrySync: true,
		Logger:           slog.New(slog.DiscardHandler),
	})
}
