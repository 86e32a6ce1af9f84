package mysql

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestBinlogExpiryOfASnapshotOnlyCheckpoint: the checkpoint of a source
// whose pipelines all read SNAPSHOT only holds no binlog position (file
// ""); it has nothing the server can purge. A second apply of such a file
// warned "the checkpoint's binary log  was purged on the server … apply
// fails" (new-user trial), naming no file, and apply did not fail.
func TestBinlogExpiryOfASnapshotOnlyCheckpoint(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			src := newSrc(t, s, nil)
			defer src.Close()
			state := []byte(`{"file":"","pos":0,"flavor":"mariadb","version":7,"snapshot":{"db.t":{"done":true}}}`)
			e, err := src.BinlogExpiry(context.Background(), state)
			if err != nil {
				t.Fatal(err)
			}
			if e.Purged || e.File != "" || !e.PurgeAt.IsZero() {
				t.Errorf("expiry of a checkpoint without a binlog position: purged %v, file %q, purge at %v; want nothing to purge", e.Purged, e.File, e.PurgeAt)
			}
		})
	}
}

// TestBinlogExpiryOfAnotherServersCheckpoint: after a failover the
// checkpoint names the old primary's binlog file (here "a-bin.000001",
// which sorts before this server's files). That file is the other server's
// own, not one this server purged: apply warned "the checkpoint's binary
// log a-bin.000001 was purged on the server … apply fails", `etlq check`
// failed on it, and `etlq status` said the checkpoint was purged, while
// apply went on to resume by GTID (failover trial). Neither is said now;
// Behind says it cannot measure another server's position. The same
// checkpoint naming this server is still found purged.
func TestBinlogExpiryOfAnotherServersCheckpoint(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			src := newSrc(t, s, nil)
			defer src.Close()
			c := conn(t, s)
			id, err := readServerIdent(c, "mariadb")
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			// (A GTID the server's binlog does not have: one it has
			// places the checkpoint there, placeCaughtUp, and nothing is
			// purged.)
			state := func(serverID uint32) []byte {
				return []byte(fmt.Sprintf(`{"file":"a-bin.000001","pos":4242,"gtid":"0-%d-999999999","flavor":"mariadb","server_id":%d,"version":7}`, serverID, serverID))
			}
			ctx := context.Background()
			e, err := src.BinlogExpiry(ctx, state(id.ID))
			if err != nil || !e.Purged {
				t.Fatalf("this server's checkpoint at a file it does not have: %+v, %v; want purged", e, err)
			}
			other := state(id.ID + 4242)
			e, err = src.BinlogExpiry(ctx, other)
			if err != nil {
				t.Fatal(err)
			}
			if e.Purged || !e.PurgeAt.IsZero() {
				t.Errorf("expiry of another server's checkpoint: purged %v, purge at %v; want nothing said", e.Purged, e.PurgeAt)
			}
			b, err := src.Behind(ctx, other)
			if err == nil {
				t.Fatalf("behind of another server's checkpoint: %+v, want an error", b)
			}
			if !strings.Contains(err.Error(), "was taken on another server") {
				t.Errorf("behind: %v", err)
			}
		})
	}
}

// TestBinlogExpiryWhileLogsRotate: the current position is read before the
// list of logs, so a log rotated between the two (another client's FLUSH
// BINARY LOGS, a full log) is in the list. Read after it, the new file was
// "not on the server (its logs run from … to <the one before>)", and check
// printed that as a warning (one full test run).
func TestBinlogExpiryWhileLogsRotate(t *testing.T) {
	s := servers(t)[0]
	src := newSrc(t, s, nil)
	defer src.Close()
	ctl := conn(t, s)
	defer ctl.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 15; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ctl.Execute("FLUSH BINARY LOGS")
		}
	}()
	fails := 0
	for i := 0; i < 300; i++ {
		select {
		case <-done:
			i = 300
			continue
		default:
		}
		if _, err := src.BinlogExpiry(context.Background(), nil); err != nil {
			fails++
			if fails == 1 {
				t.Errorf("expiry while logs rotate: %v", err)
			}
		}
	}
	close(stop)
	<-done
	if fails > 0 {
		t.Errorf("%d of the reads failed", fails)
	}
}
