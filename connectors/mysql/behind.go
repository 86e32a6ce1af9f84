package mysql

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	gm "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// Behind is how far a checkpoint is behind the server's binary log (etlq
// status): the server's position now, the binlog bytes between, and when
// the first change the checkpoint has not taken was written.
type Behind struct {
	// Current is the server's binlog position now ("binlog.000043:120").
	Current string
	// Bytes are the binary log bytes from the checkpoint to Current (0:
	// caught up). Unknown (-1) when the checkpoint's file is purged.
	Bytes int64
	// Since is when the first event after the checkpoint was written
	// (zero: caught up, or not readable).
	Since time.Time
	// Purged says the checkpoint's binary log is no longer on the server;
	// Oldest is the oldest one it has.
	Purged bool
	Oldest string
	// Replica says, of a server that replicates, how far its own binlog is
	// behind its primary ("" when it does not replicate, or etlq's user
	// may not ask): "caught up" with the server is not with the primary.
	Replica string
}

// Behind says how far the checkpoint state mark (a Mark's State) is behind
// the server's binary log.
func (s *Source) Behind(ctx context.Context, mark []byte) (*Behind, error) {
	st, err := decodeState(mark)
	if err != nil {
		return nil, err
	}
	c, done, err := s.questionConn(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	if id, err := readServerIdent(c, s.cfg.Flavor); err == nil && !sameServer(st.ident(), id) {
		// After a failover: the checkpoint's file and offset are the
		// other server's own, no measure of this one's binlog.
		return nil, fmt.Errorf("the checkpoint (%s) was taken on another server (%s), not on this one (%s): its position is that server's own (apply places it here by its GTID)",
			binlogPos{File: st.File, Pos: st.Pos}, st.ident(), id)
	}
	cur, _, err := masterStatus(c, s.cfg.Flavor)
	if err != nil {
		return nil, err
	}
	b := &Behind{Current: cur.String(), Replica: replicaLag(c, s.cfg.Flavor)}
	logs, err := c.Execute("SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("list binary logs: %v", err)
	}
	cp := binlogPos{File: st.File, Pos: st.Pos}
	if !hasFile(logs, cp.File) {
		// Purged: where nothing after the checkpoint was (caught up when
		// etlq stopped, then FLUSH and PURGE), apply places it by its
		// GTID (placePurged), and so does the measure.
		if pl, ok := placeCaughtUp(c, s.cfg.Flavor, st, ""); ok {
			cp = pl.at.pos
		}
	}
	found := false
	for i := 0; i < logs.RowNumber(); i++ {
		f, _ := logs.GetString(i, 0)
		u, _ := logs.GetUint(i, 1)
		size := int64(u)
		if i == 0 {
			b.Oldest = f
		}
		fp := binlogPos{File: f}
		switch {
		case f == cp.File:
			found = true
			if f == cur.File {
				b.Bytes += int64(cur.Pos) - int64(cp.Pos)
			} else {
				b.Bytes += size - int64(cp.Pos)
			}
		case fp.cmp(cp) > 0 && f == cur.File:
			b.Bytes += int64(cur.Pos)
		case fp.cmp(cp) > 0 && fp.cmp(binlogPos{File: cur.File}) < 0:
			b.Bytes += size
		}
	}
	if !found {
		b.Purged, b.Bytes = true, -1
		return b, nil
	}
	if b.Bytes < 0 {
		b.Bytes = 0 // (a checkpoint of another server, ahead of this one's file)
	}
	if b.Bytes > 0 {
		b.Since, _ = s.eventTime(ctx, cp) // best effort: Since stays zero
	}
	return b, nil
}

// eventTime returns when the first event after pos was written, read over
// a short binlog dump (as fileStart).
func (s *Source) eventTime(ctx context.Context, pos binlogPos) (time.Time, error) {
	syncer := s.probeSyncer()
	defer syncer.Close()
	bs, err := syncer.StartSync(gm.Position{Name: pos.File, Pos: pos.Pos})
	if err != nil {
		return time.Time{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		e, err := bs.GetEvent(ctx)
		if err != nil {
			return time.Time{}, err
		}
		// The dump begins with a rotate and the file's format
		// description (and, on MariaDB, its GTID list): none of them is
		// after pos.
		switch e.Header.EventType {
		case replication.ROTATE_EVENT, replication.FORMAT_DESCRIPTION_EVENT, replication.HEARTBEAT_EVENT,
			replication.MARIADB_GTID_LIST_EVENT, replication.MARIADB_BINLOG_CHECKPOINT_EVENT, replication.PREVIOUS_GTIDS_EVENT:
			continue
		}
		if e.Header.Timestamp != 0 && e.Header.LogPos > pos.Pos {
			return time.Unix(int64(e.Header.Timestamp), 0).UTC(), nil
		}
	}
}

// hasFile reports whether the SHOW BINARY LOGS result logs lists file.
func hasFile(logs *gm.Result, file string) bool {
	for i := 0; i < logs.RowNumber(); i++ {
		if f, _ := logs.GetString(i, 0); f == file {
			return true
		}
	}
	return false
}

// replicaLag says how far a replica is behind its primary (SHOW ALL
// SLAVES STATUS): its replication stopped, or Seconds_Behind_Master; ""
// when the server does not replicate, is caught up, or etlq's user may
// not ask. A stopped replica showed "caught up" in etlq status while its
// primary's changes piled up (new-user trial).
func replicaLag(c *client.Conn, flavor string) string {
	r, _, err := replicaStatus(c, flavor)
	if err != nil {
		return ""
	}
	var out []string
	for i := 0; i < r.RowNumber(); i++ {
		host, _ := r.GetStringByName(i, "Master_Host")
		if host == "" {
			continue
		}
		port, _ := r.GetStringByName(i, "Master_Port")
		io, _ := r.GetStringByName(i, "Slave_IO_Running")
		sql, _ := r.GetStringByName(i, "Slave_SQL_Running")
		from := host + ":" + port
		switch {
		case !strings.EqualFold(io, "Yes") || !strings.EqualFold(sql, "Yes"):
			out = append(out, fmt.Sprintf("its replication from %s is stopped (IO thread %s, SQL thread %s): what its primary writes meanwhile reaches neither it nor etlq", from, io, sql))
		default:
			if sec, err := r.GetStringByName(i, "Seconds_Behind_Master"); err == nil && sec != "" && sec != "0" {
				out = append(out, fmt.Sprintf("the server itself is %s s behind its primary %s", sec, from))
			}
		}
	}
	return strings.Join(out, "; ")
}
