package mysql

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
)

// TestReplicaWithoutLogSlaveUpdates: a replica with log_slave_updates =
// OFF (MariaDB's default) logs none of what it replicates. Read by etlq,
// it gave the snapshot and then none of the primary's changes, silently.
// check (CheckStream) and Open now refuse it, naming the primary and the
// setting, also with its replication stopped; a SNAPSHOT only request
// reads no binlog and passes.
func TestReplicaWithoutLogSlaveUpdates(t *testing.T) {
	t.Parallel()        // a private server of its own: its start and waits overlap the package's other tests
	testenv.MySQLDSN(t) // the shared server answering means the binaries are here
	p, _ := privateServer(t, "primary", 1, "")
	r, _ := privateServer(t, "replica", 2, "log_slave_updates = OFF")
	pport := p.dsn[strings.LastIndexByte(p.dsn, ':')+1:]
	run(t, p, "CREATE DATABASE nolsu", "CREATE TABLE nolsu.t (id INT PRIMARY KEY)", "INSERT INTO nolsu.t VALUES (1)")
	run(t, r, fmt.Sprintf("CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = %s, MASTER_USER = 'root', MASTER_USE_GTID = slave_pos", pport),
		"START SLAVE")
	deadline := time.Now().Add(60 * time.Second)
	for {
		c := conn(t, r)
		res, err := c.Execute("SELECT COUNT(*) FROM nolsu.t")
		c.Close()
		if err == nil {
			if n, _ := res.GetInt(0, 0); n == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica did not replicate nolsu.t within 60 s (%v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ref := connectors.TableRef{DB: "nolsu", Table: "t"}
	want := "the server replicates from 127.0.0.1:" + pport + " without logging what it replicates (log_slave_updates = OFF)"
	src := newSrc(t, r, nil)
	defer src.Close()
	ctx := context.Background()
	req := connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotInitial}}}
	if err := src.CheckStream(ctx, req); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("CheckStream: %v, want %q", err, want)
	}
	st, err := src.Open(ctx, req)
	if err == nil {
		st.Close()
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Open: %v, want %q", err, want)
	}
	// Stopped (STOP SLAVE), it is still a replica: started again, the
	// primary's changes would not reach etlq (new-user trial).
	run(t, r, "STOP SLAVE")
	// etlq status says the replica's replication is stopped: caught up
	// with the replica is not with its primary (new-user trial).
	c := conn(t, r)
	pos, _, err := masterStatus(c, "mariadb")
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := src.Behind(ctx, []byte(fmt.Sprintf(`{"file":%q,"pos":%d,"flavor":"mariadb","server_id":2,"version":1}`, pos.File, pos.Pos))); err != nil || !strings.Contains(b.Replica, "its replication from 127.0.0.1:"+pport+" is stopped") {
		t.Errorf("Behind of the stopped replica: %+v, %v; want its replication named stopped", b, err)
	}
	stopped := "the server is set up to replicate (stopped now) from 127.0.0.1:" + pport + " without logging what it replicates"
	if err := src.CheckStream(ctx, req); err == nil || !strings.Contains(err.Error(), stopped) {
		t.Errorf("CheckStream of the stopped replica: %v, want %q", err, stopped)
	}
	only := connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotOnly}}}
	if err := src.CheckStream(ctx, only); err != nil {
		t.Errorf("CheckStream of SNAPSHOT only: %v", err)
	}
}
