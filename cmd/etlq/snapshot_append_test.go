package main

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestAppendTargetOnceUnderSnapshotWrites: an append target (and a
// changelog one) filled by SNAPSHOT initial while a writer updates the
// table holds each state of a row once. A row updated before its chunk was
// read arrived as its update and again as a read row of the chunk (found
// by a new-user trial); every update gives v a new value, so a (id, v)
// pair twice is a row counted twice. The same with an ADD COLUMN made
// while the snapshot runs (the notes of changed keys outlive it: the key is
// the same) and one made while etlq is stopped between the two runs.
func TestAppendTargetOnceUnderSnapshotWrites(t *testing.T) {
	t.Parallel()
	for _, ddl := range []string{"none", "running", "stopped"} {
		t.Run("ddl_"+ddl, func(t *testing.T) {
			t.Parallel()
			onBothServers(t, func(t *testing.T, myDSN string) { testAppendOnce(t, myDSN, ddl) })
		})
	}
}

func testAppendOnce(t *testing.T, myDSN, ddl string) {
	{
		s := newScratch(t, myDSN)
		const n = 60000
		myExec(t, s.my, "CREATE DATABASE "+s.db,
			"CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, v INT NOT NULL, pad VARCHAR(100))",
			fmt.Sprintf("INSERT INTO %s.t SELECT seq, 0, REPEAT('x', 100) FROM %s.seq_1_to_%d", s.db, s.db, n))
		var stop atomic.Bool
		var updates atomic.Int64
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := testenv.MySQLConn(t, myDSN)
			defer c.Close()
			for !stop.Load() {
				if _, err := c.Execute(fmt.Sprintf("UPDATE %s.t SET v = v + 1 WHERE id = %d", s.db, 1+rand.IntN(n))); err == nil {
					updates.Add(1)
				}
			}
		}()
		defer func() { stop.Store(true); wg.Wait() }()
		dir := t.TempDir()
		file := writeEtl(t, dir, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d, chunk_rows = 2000, snapshot_parallelism = 2);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE a FROM binlog s.%[4]s.t SNAPSHOT initial
  TRANSFORM *, _op INTO clickhouse dw.%[4]s.log MODE append;
CREATE PIPELINE c FROM binlog s.%[4]s.t SNAPSHOT initial
  TRANSFORM id, v INTO clickhouse dw.%[4]s.changes MODE changelog;
`, myDSN, 100000+rand.IntN(1<<30), s.chDSN, s.db))
		alter := "ALTER TABLE " + s.db + ".t ADD COLUMN extra INT NOT NULL DEFAULT 7 AFTER v"
		altered := make(chan struct{})
		go func() {
			defer close(altered)
			if ddl == "running" {
				time.Sleep(150 * time.Millisecond) // (the snapshot takes ~0.5 s)
				myExec(t, testenv.MySQLConn(t, myDSN), alter)
			}
		}()
		state := filepath.Join(dir, "state")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		<-altered
		// What the snapshot run wrote holds each row state once. (The
		// second run resumes from a checkpoint: at-least-once, as the
		// contract says of a restart, so it is not held to this.)
		for _, tbl := range []string{"log", "changes"} {
			q := fmt.Sprintf("SELECT toString(count()), toString(sum(c)) FROM (SELECT id, v, count() AS c FROM %s.%s GROUP BY id, v HAVING c > 1)", s.db, tbl)
			if got := chRows(t, s.ch, q); got[0] != "0|NULL" && got[0] != "0|0" {
				t.Errorf("%s: %s (row states twice | rows)", tbl, got[0])
			}
		}
		if ddl == "stopped" {
			myExec(t, s.my, alter)
		}
		stop.Store(true)
		wg.Wait()
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		if ddl != "none" {
			if got := chRows(t, s.ch, "SELECT toString(count()) FROM system.columns WHERE database = '"+s.db+"' AND table = 'log' AND name = 'extra'"); got[0] != "1" {
				t.Errorf("the append target lacks the added column")
			}
		}
		if updates.Load() < 100 {
			t.Fatalf("only %d updates during the snapshot", updates.Load())
		}
		for _, tbl := range []string{"log", "changes"} {
			q := fmt.Sprintf("SELECT toString(uniqExact(id)) FROM %s.%s", s.db, tbl)
			if got := chRows(t, s.ch, q); got[0] != fmt.Sprint(n) {
				t.Errorf("%s: %s keys, want %d", tbl, strings.Join(got, ","), n)
			}
		}
		t.Logf("%d updates while etlq ran", updates.Load())
	}
}
