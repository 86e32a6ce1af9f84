package mysql

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
)

// TestResumePurgedCaughtUp: a checkpoint caught up with the server when
// etlq stopped, then FLUSH BINARY LOGS and PURGE BINARY LOGS (a backup
// tool's, logrotate's) remove its file: nothing after it is gone, and the
// resume places it by its GTID at the start of the binary log that is
// left, delivering exactly the changes made since, with a WARN (and etlq
// status measures it there, and etlq check does not refuse it). (Before,
// it failed "a new snapshot is needed", and with on_binlog_gap =
// 'resnapshot' read every table again for nothing; new-user trial.) A
// checkpoint behind changes that were purged too still fails as a lost
// position.
func TestResumePurgedCaughtUp(t *testing.T) {
	testenv.MySQLDSN(t) // the shared server answering means the binaries are here
	p, _ := privateServer(t, "purge", 1, "")
	const tbl = "pg.t"
	run(t, p, "CREATE DATABASE pg", "CREATE TABLE pg.t (id INT PRIMARY KEY, v INT NOT NULL)", "INSERT INTO pg.t VALUES (1, 1), (2, 2)")
	ref := connectors.TableRef{DB: "pg", Table: "t"}
	req := func(resume []byte) connectors.StreamRequest {
		return connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotInitial}}, Resume: resume, Once: true}
	}
	ctx := context.Background()
	read := func(resume []byte) ([]row, []byte, error) {
		t.Helper()
		st, err := newSrc(t, p, nil).Open(ctx, req(resume))
		if err != nil {
			return nil, nil, err
		}
		defer st.Close()
		rows, mark := drain(t, st, 30*time.Second, nil)
		if mark == nil {
			t.Fatal("no mark")
		}
		return rows, mark.Bytes(), nil
	}
	// The snapshot, caught up; the binlog purged; then new changes.
	rows, mark, err := read(nil)
	if err != nil || len(rows) != 2 {
		t.Fatalf("snapshot: %d rows, %v", len(rows), err)
	}
	flushAndPurge(t, p)
	if b, err := newSrc(t, p, nil).Behind(ctx, mark); err != nil || b.Purged {
		t.Errorf("etlq status of the caught-up checkpoint whose file was purged: %+v, %v; want it placed, not purged", b, err)
	}
	if e, err := newSrc(t, p, nil).BinlogExpiry(ctx, mark); err != nil || e.Purged {
		t.Errorf("etlq check of the caught-up checkpoint whose file was purged: %+v, %v; want it placed, not purged", e, err)
	}
	log := &changeLog{t: t}
	log.writes(p, tbl, 10, 3)
	logs := captureLog(t)
	rows, mark, err = read(mark)
	if err != nil {
		t.Fatalf("resume of a caught-up checkpoint whose file was purged: %v", err)
	}
	sameChanges(t, "changes after the purge", changesOf(rows), log.want)
	if !strings.Contains(logs.String(), "the checkpoint's binlog position was purged on the server, but nothing after it was") {
		t.Errorf("no WARN of the placement:\n%s", logs)
	}

	// Behind: a checkpoint before changes that were then purged too.
	log.writes(p, tbl, 30, 2)
	flushAndPurge(t, p)
	if b, err := newSrc(t, p, nil).Behind(ctx, mark); err != nil || !b.Purged {
		t.Errorf("etlq status of a checkpoint before purged changes: %+v, %v; want purged", b, err)
	}
	if e, err := newSrc(t, p, nil).BinlogExpiry(ctx, mark); err != nil || !e.Purged {
		t.Errorf("etlq check of a checkpoint before purged changes: %+v, %v; want purged", e, err)
	}
	if _, _, err := read(mark); err == nil || !errors.Is(err, connectors.ErrPositionLost) {
		t.Errorf("resume before purged changes: %v, want a lost position", err)
	}
}

// flushAndPurge rotates the binlog of s and purges every file before the
// new one (FLUSH BINARY LOGS, PURGE BINARY LOGS TO), as a backup tool or
// logrotate does.
func flushAndPurge(t *testing.T, s server) {
	t.Helper()
	run(t, s, "FLUSH BINARY LOGS")
	c := conn(t, s)
	defer c.Close()
	r, err := c.Execute("SHOW MASTER STATUS")
	if err != nil {
		t.Fatal(err)
	}
	f, _ := r.GetString(0, 0)
	// (The server keeps the file before until its binlog checkpoint moved
	// on, and a dump connection just closed may hold it.)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		run(t, s, "PURGE BINARY LOGS TO "+quoteString(f))
		r, err := c.Execute("SHOW BINARY LOGS")
		if err != nil {
			t.Fatal(err)
		}
		if first, _ := r.GetString(0, 0); first == f {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server keeps binary logs before %s", f)
		}
	}
}
