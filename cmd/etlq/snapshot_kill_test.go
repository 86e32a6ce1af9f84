package main

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestSnapshotConnectionsKilled: the server drops etlq's snapshot
// connections over and over (KILL of every connection of etlq's user but
// the binlog's, every 150 ms for 4 s: a restart, a proxy or a firewall
// cutting them) while a chunked snapshot runs with a writer. The run
// reconnects each time and goes on — no exit — and the target equals the
// source. (A MariaDB restart during a snapshot stopped the run about one
// time in two: a lost connection met while describing the table came back
// wrapped in etlq's message, and was taken for an error; new-user trial.)
func TestSnapshotConnectionsKilled(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	user := strings.ToLower("k" + testenv.UniqueName(t))
	if len(user) > 32 {
		user = user[:32]
	}
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, k INT, v VARCHAR(40))",
		"INSERT INTO "+db+".t SELECT seq, seq, repeat('v', 30) FROM "+db+".seq_1_to_30000",
		"CREATE USER '"+user+"'@'%' IDENTIFIED BY 'kpw'",
		"GRANT SELECT, RELOAD, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '"+user+"'@'%'")
	t.Cleanup(func() { my.Execute("DROP USER IF EXISTS '" + user + "'@'%'") })
	u, err := url.Parse(myDSN)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, "kpw")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "k.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d, chunk_rows = 100, snapshot_parallelism = 2);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t INTO clickhouse dw.%s.t MODE upsert WITH (flush_interval = '100ms');
`, u.String(), testServerID(), chDSN, db, db))
	w := startDDLWriter(t, myDSN, db+".t", 100000)
	a := startApply(t, state, file)
	// (From the snapshot's start: a connection killed while the run
	// opens its stream is an error of the start, which a supervisor
	// retries.)
	a.waitFor(t, "the snapshot's start", 60*time.Second, func() (bool, string) {
		return strings.Contains(a.out.String(), "snapshot started"), ""
	})
	var killed atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		killer := testenv.MySQLConn(t, myDSN)
		defer killer.Close()
		for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(150 * time.Millisecond) {
			r, err := killer.Execute("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '" + user + "' AND COMMAND NOT LIKE 'Binlog Dump%'")
			if err != nil {
				continue
			}
			for i := 0; i < r.RowNumber(); i++ {
				id, _ := r.GetInt(i, 0)
				if _, err := killer.Execute(fmt.Sprintf("KILL %d", id)); err == nil {
					killed.Add(1)
				}
			}
		}
	}()
	wg.Wait()
	w.halt()
	a.running(t)
	a.waitSame(t, my, ch, "SELECT id, k, v FROM "+db+".t ORDER BY id",
		"SELECT toString(id), toString(k), v FROM "+db+".t_current ORDER BY id", 180*time.Second)
	out := a.stop(t)
	if killed.Load() == 0 {
		t.Fatalf("no connection of etlq's snapshot was killed (the test kills nothing):\n%s", out)
	}
	if !strings.Contains(out, "snapshot connection lost; retrying") {
		t.Errorf("%d connections killed, and no reconnect logged:\n%s", killed.Load(), out)
	}
	compareTable(t, my, ch, db, "t", db, "t", db+".t_current")
}
