package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestIdleFlushReachesClickHouse: with flush_interval = '30s', a change
// made while etlq is caught up reaches ClickHouse well before the interval
// runs out: the stream going idle flushes the pending rows (idle_flush).
func TestIdleFlushReachesClickHouse(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my, chDSN := s.db, s.my, s.chDSN
		myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t "+liveTableDef,
			"INSERT INTO "+db+".t VALUES (1, 'a', 1.00), (2, 'b', 2.00)")
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t KEY (id) WITH (flush_interval = '30s');
`, myDSN, chDSN, db, testServerID()))
		a := startApply(t, state, file)
		count := func(q string, want uint64) func() (bool, string) {
			return func() (bool, string) {
				n, err := chCount(chDSN, q)
				return err == nil && n == want, fmt.Sprintf("%d (%v)", n, err)
			}
		}
		// Each step must land within 10 s, a third of flush_interval.
		a.waitFor(t, "snapshot rows", 10*time.Second, count("SELECT count() FROM "+db+".t_current", 2))
		myExec(t, my, "INSERT INTO "+db+".t VALUES (3, 'c', 3.00)")
		a.waitFor(t, "one inserted row", 10*time.Second, count("SELECT count() FROM "+db+".t_current", 3))
		myExec(t, my, "UPDATE "+db+".t SET status = 'z' WHERE id = 1")
		a.waitFor(t, "one updated row", 10*time.Second, count("SELECT count() FROM "+db+".t_current WHERE status = 'z'", 1))
		a.stop(t)
	})
}
