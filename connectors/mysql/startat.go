package mysql

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// positionAt finds where the first transaction that began at or after ts
// starts (start_at = 'YYYY-MM-DD HH:MM:SS', UTC; binlog event times have
// whole seconds). The binlog files are
// listed; the last one created at or before ts is read event by event (and
// the ones after it) until a transaction begins at or after ts. When none
// does, the stream starts at the current end of the binlog.
func (st *stream) positionAt(c *client.Conn, ts time.Time) (binlogPos, string, error) {
	end, _, err := masterStatus(c, st.flavor)
	if err != nil {
		return binlogPos{}, "", err
	}
	logs, err := c.Execute("SHOW BINARY LOGS")
	if err != nil || logs.RowNumber() == 0 {
		return binlogPos{}, "", fmt.Errorf("start_at = %q: cannot list binary logs: %v", ts.Format(time.DateTime), err)
	}
	files := make([]string, logs.RowNumber())
	for i := range files {
		files[i], _ = logs.GetString(i, 0)
	}
	want := uint32(ts.Unix())
	first := 0
	for i := len(files) - 1; i > 0; i-- {
		created, err := st.firstEventTime(files[i])
		if err != nil {
			return binlogPos{}, "", fmt.Errorf("start_at = %q: %v", ts.Format(time.DateTime), err)
		}
		if created <= want {
			first = i
			break
		}
	}
	if first == 0 {
		if created, err := st.firstEventTime(files[0]); err == nil && created > want {
			return binlogPos{}, "", fmt.Errorf("start_at = %q: the oldest binary log on the server (%s) begins later; changes before it were purged", ts.Format(time.DateTime), files[0])
		}
	}
	return st.scanFor(binlogPos{File: files[first], Pos: 4}, end, want)
}

// timeSyncer opens a short-lived binlog connection for position look-ups,
// with a replica id of its own so it never displaces a running stream.
func (st *stream) timeSyncer() *replication.BinlogSyncer {
	cfg := st.src.cfg
	return replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID:                cfg.ServerID ^ 0x40000000,
		Flavor:                  st.flavor,
		Host:                    cfg.Host,
		Port:                    cfg.Port,
		User:                    cfg.User,
		Password:                cfg.Password,
		Charset:                 "utf8mb4",
		RawModeEnabled:          true,
		TimestampStringLocation: time.UTC,
		DisableRetrySync:        true,
		Logger:                  slog.New(slog.DiscardHandler),
	})
}

// firstEventTime returns when a binlog file was started: the timestamp of
// its format description event.
func (st *stream) firstEventTime(file string) (uint32, error) {
	s := st.timeSyncer()
	defer s.Close()
	bs, err := s.StartSync(gm.Position{Name: file, Pos: 4})
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		e, err := bs.GetEvent(ctx)
		if err != nil {
			return 0, fmt.Errorf("read %s: %v", file, err)
		}
		// The first event sent is a rotate to the file, with no time.
		if e.Header.Timestamp != 0 {
			return e.Header.Timestamp, nil
		}
	}
}

// scanFor reads from pos until a transaction begins at or after want (unix
// seconds) and returns where it begins; end is the binlog's current end.
func (st *stream) scanFor(pos, end binlogPos, want uint32) (binlogPos, string, error) {
	s := st.timeSyncer()
	defer s.Close()
	bs, err := s.StartSync(gm.Position{Name: pos.File, Pos: pos.Pos})
	if err != nil {
		return binlogPos{}, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	file := pos.File
	for {
		if (binlogPos{File: file, Pos: pos.Pos}).cmp(end) >= 0 {
			return end, "", nil
		}
		e, err := bs.GetEvent(ctx)
		if err != nil {
			return binlogPos{}, "", fmt.Errorf("start_at: reading %s: %v", file, err)
		}
		h := e.Header
		switch h.EventType {
		case replication.ROTATE_EVENT:
			if re, ok := e.Event.(*replication.RotateEvent); ok {
				file, pos.Pos = string(re.NextLogName), uint32(re.Position)
			}
			continue
		case replication.MARIADB_GTID_EVENT, replication.GTID_EVENT, replication.ANONYMOUS_GTID_EVENT:
			if h.Timestamp >= want && h.LogPos >= h.EventSize {
				return binlogPos{File: file, Pos: h.LogPos - h.EventSize}, "", nil
			}
		}
		if h.LogPos > 0 {
			pos.Pos = h.LogPos
		}
	}
}
