package main

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestSnapshotModesPerPipeline: two pipelines reading one table each keep
// their own SNAPSHOT mode (issue #12): never takes only the changes after
// its start, only takes only the scan, initial both. The three
// combinations never+only, initial+only and initial+never each run as a
// file of their own, streaming (no --once); then a restart shows that the
// checkpoint of the never pipeline holds a real position.
func TestSnapshotModesPerPipeline(t *testing.T) {
	t.Parallel()
	onBothServers(t, testSnapshotModesPerPipeline)
}

func testSnapshotModesPerPipeline(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, chDSN := s.db, s.my, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db)
	for _, combo := range [][2]string{{"never", "only"}, {"initial", "only"}, {"initial", "never"}} {
		t.Run(combo[0]+"_"+combo[1], func(t *testing.T) {
			tbl := combo[0] + "_" + combo[1]
			myExec(t, my, fmt.Sprintf("CREATE TABLE %s.%s (id INT PRIMARY KEY, v VARCHAR(16) NOT NULL)", db, tbl),
				fmt.Sprintf("INSERT INTO %s.%s VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e')", db, tbl))
			dir := t.TempDir()
			file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
			text := fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);\nCREATE SINK dw INTO clickhouse '%s';\n", myDSN, testServerID(), chDSN)
			for _, mode := range combo {
				text += fmt.Sprintf("CREATE PIPELINE p_%[1]s FROM binlog s.%[2]s.%[3]s SNAPSHOT %[1]s TRANSFORM id, v, _op INTO clickhouse dw.%[2]s.%[3]s_%[1]s MODE append;\n", mode, db, tbl)
			}
			writeFile(t, file, text)
			want := map[string]map[string]uint64{ // mode → _op → rows
				"initial": {"read": 5}, "only": {"read": 5}, "never": {},
			}
			check := func(a *liveApply, label string) {
				for _, mode := range combo {
					for _, op := range []string{"read", "insert", "update", "delete"} {
						q := fmt.Sprintf("SELECT count() FROM %s.%s_%s WHERE _op = '%s'", db, tbl, mode, op)
						n := want[mode][op]
						a.waitFor(t, label+": "+q, 60*time.Second, func() (bool, string) {
							got, err := chCount(chDSN, q)
							if err != nil && n == 0 {
								return true, "" // not created yet: no rows
							}
							return err == nil && got == n, fmt.Sprintf("%d, %v", got, err)
						})
					}
				}
			}

			a := startApply(t, state, file)
			check(a, "snapshot")
			myExec(t, my, fmt.Sprintf("INSERT INTO %s.%s VALUES (6, 'f'), (7, 'g')", db, tbl),
				fmt.Sprintf("UPDATE %s.%s SET v = 'x' WHERE id = 1", db, tbl))
			for _, mode := range []string{"initial", "never"} {
				want[mode]["insert"] += 2
				want[mode]["update"]++
			}
			check(a, "changes while streaming")
			a.running(t)
			a.stop(t)
			// Stopped: every batch the stream read was dispatched to every
			// pipeline and flushed, so the only pipeline's table is final.
			check(a, "after the stop")

			// The restart resumes at the checkpoint: the never pipeline
			// gets what happened while etlq was stopped.
			myExec(t, my, fmt.Sprintf("DELETE FROM %s.%s WHERE id = 2", db, tbl))
			for _, mode := range []string{"initial", "never"} {
				want[mode]["delete"]++
			}
			out := mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
			check(&liveApply{done: make(chan error, 1), out: &syncBuffer{}}, "after a restart:\n"+out)
		})
	}
}

// TestSnapshotOnlyUnderWindowedPlacement: with chunks placed by
// watermarks (MySQL's default; forced here), a chunk leaves out the rows
// whose keys the binlog changed inside its window, since those changes
// carry them. A SNAPSHOT only pipeline next to an initial one on the same
// table takes no change: it still gets every key of the table exactly
// once, while a writer updates rows during the scan.
func TestSnapshotOnlyUnderWindowedPlacement(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	db, my, chDSN := s.db, s.my, s.chDSN
	const n = 20000
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t "+liveTableDef)
	seed(t, my, db+".t", n)
	t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db + "_wm") })
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s'
  WITH (server_id = %[4]d, chunk_rows = 200, snapshot_parallelism = 4, snapshot_position = 'watermark', watermark_table = '%[3]s_wm.marks');
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_init FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t;
CREATE PIPELINE p_only FROM binlog s.%[3]s.t SNAPSHOT only TRANSFORM id, amount INTO clickhouse dw.%[3]s.t_only MODE append;
`, myDSN, chDSN, db, testServerID()))

	cfg, err := testenv.ParseMySQLDSN(myDSN)
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var updates atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := client.Connect(cfg.Addr, cfg.User, cfg.Password, "")
		if err != nil {
			return
		}
		defer c.Close()
		for i := 0; !stop.Load(); i++ {
			if _, err := c.Execute(fmt.Sprintf("UPDATE %s.t SET amount = amount + 1 WHERE id = %d", db, 1+(i*7919)%n)); err == nil {
				updates.Add(1)
			}
		}
	}()
	out := mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	stop.Store(true)
	<-done
	if updates.Load() == 0 {
		t.Fatal("the writer made no update")
	}
	rows, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.t_only", db))
	keys, err2 := chCount(chDSN, fmt.Sprintf("SELECT uniqExact(id) FROM %s.t_only", db))
	if err != nil || err2 != nil || rows != n || keys != n {
		t.Errorf("the SNAPSHOT only target has %d rows of %d keys (%v %v), want %d of %d (%d updates ran during the scan)\n%s", rows, keys, err, err2, n, n, updates.Load(), out)
	}
}
