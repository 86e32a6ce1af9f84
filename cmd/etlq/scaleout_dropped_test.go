package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestLogTableLeftRestart: a table read by name is dropped (another renamed
// away) while the capture and a worker run; both are stopped and started
// again with the same file. They plan the tables from the log's position,
// which holds their schemas, as apply plans them from its checkpoints
// (docs/live-tables.md): both start, the targets of the tables that left
// are empty, and the other table keeps flowing. Before, the capture and
// every worker refused to start, "no table matches … in source s", until
// the file was edited: the capture keeps no state directory and a worker's
// holds no source position.
func TestLogTableLeftRestart(t *testing.T) {
	t.Parallel()
	for _, srv := range []struct{ name, dsn string }{{"A", testenv.MySQLDSN(t)}, {"B", testenv.MySQLMinimalDSN(t)}} {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			myDSN := srv.dsn
			logURL := testenv.NATSURL(t) + "/" + testenv.UniqueName(t)
			s := newScratch(t, myDSN)
			db, my, ch := s.db, s.my, s.ch
			myExec(t, my, "CREATE DATABASE "+db,
				"CREATE TABLE "+db+".t (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)",
				"CREATE TABLE "+db+".gone (id INT PRIMARY KEY, v INT)",
				"CREATE TABLE "+db+".moved (id INT PRIMARY KEY, v INT)",
				"INSERT INTO "+db+".gone VALUES (1, 1), (2, 2)",
				"INSERT INTO "+db+".moved VALUES (1, 1), (2, 2), (3, 3)")
			seed(t, my, db+".t", 200)
			t.Cleanup(func() { deleteLog(t, logURL, "s") })

			dir := t.TempDir()
			file := filepath.Join(dir, "log.etl")
			writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_t FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t WITH (flush_interval = '100ms');
CREATE PIPELINE p_gone FROM binlog s.%[3]s.gone INTO clickhouse dw.%[3]s.gone WITH (flush_interval = '100ms');
CREATE PIPELINE p_moved FROM binlog s.%[3]s.moved INTO clickhouse dw.%[3]s.moved WITH (flush_interval = '100ms');
`, myDSN, s.chDSN, db, testServerID()))
			state := filepath.Join(dir, "w1")
			start := func() (*liveApply, *liveApply) {
				return startEtlq(t, "capture", "--log", logURL, "--partitions", "2", file),
					startEtlq(t, "apply", "--log", logURL, "--lease", "2s", "--state-dir", state, "--progress", "never", file)
			}
			capture, worker := start()
			myQ := "SELECT id, status, CAST(amount * 100 AS SIGNED) FROM " + db + ".t ORDER BY id"
			chQ := "SELECT toString(id), status, toString(toInt64(amount * 100)) FROM " + db + ".t_current ORDER BY id"
			worker.waitSame(t, my, ch, myQ, chQ, 90*time.Second)
			worker.waitSame(t, my, ch, "SELECT id, v FROM "+db+".gone ORDER BY id", "SELECT toString(id), toString(v) FROM "+db+".gone_current ORDER BY id", 90*time.Second)
			worker.waitSame(t, my, ch, "SELECT id, v FROM "+db+".moved ORDER BY id", "SELECT toString(id), toString(v) FROM "+db+".moved_current ORDER BY id", 90*time.Second)
			myExec(t, my, "DROP TABLE "+db+".gone", "RENAME TABLE "+db+".moved TO "+db+".moved_away")
			worker.waitFor(t, "the targets of the tables that left emptied", 90*time.Second, func() (bool, string) {
				g, err1 := chCount(s.chDSN, "SELECT count() FROM "+db+".gone_current")
				m, err2 := chCount(s.chDSN, "SELECT count() FROM "+db+".moved_current")
				return err1 == nil && err2 == nil && g == 0 && m == 0, fmt.Sprintf("gone %d (%v), moved %d (%v)", g, err1, m, err2)
			})
			worker.stop(t)
			capture.stop(t)

			capture, worker = start()
			myExec(t, my, "UPDATE "+db+".t SET status = 'after' WHERE id % 3 = 0", "INSERT INTO "+db+".t VALUES (9001, 'new', 1.25)")
			worker.waitSame(t, my, ch, myQ, chQ, 90*time.Second)
			capture.running(t)
			worker.running(t)
			out := worker.stop(t) + capture.stop(t)
			if strings.Contains(out, "no table matches") {
				t.Errorf("a table that left the source stopped a start:\n%s", out)
			}
		})
	}
}
