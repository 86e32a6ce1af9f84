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

// TestLogWorkerReplansOncePerDDL: a worker catching up across an ADD
// COLUMN, over eight partitions, with a writer inserting and updating
// rows before, during and after the DDL. The worker's partitions are
// fetched side by side, so the messages of the old and of the new layout
// reach it interleaved; it plans the table again once for the DDL (and
// once before, at its first message: its plan is made from the table of
// now, the snapshot's messages are older).
// Before, it flipped between the two layouts 30 to 110 times (a plan, a
// log line and a look at the target each time); the data ended correct.
func TestLogWorkerReplansOncePerDDL(t *testing.T) {
	t.Parallel()
	for _, srv := range []struct{ name, dsn string }{{"A", testenv.MySQLDSN(t)}, {"B", testenv.MySQLMinimalDSN(t)}} {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			myDSN := srv.dsn
			s, logURL, dir, file := logFixture(t, myDSN, `CREATE PIPELINE p FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t WITH (flush_interval = '100ms');
`)
			db, my, ch := s.db, s.my, s.ch
			capture := startEtlq(t, "capture", "--log", logURL, "--partitions", "8", file)

			// A writer that names its columns, so that it runs on across
			// the ADD COLUMN.
			var stop atomic.Bool
			var ops atomic.Int64
			var wg sync.WaitGroup
			var werr atomic.Value
			wc := testenv.MySQLConn(t, myDSN)
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(3, 4))
				for !stop.Load() {
					k := 1 + rng.IntN(4000)
					q := fmt.Sprintf("INSERT INTO %s.t (id, status, amount) VALUES (%d, 'w', %d) ON DUPLICATE KEY UPDATE amount = amount + 1, status = 'u'", db, k, rng.IntN(1000))
					if _, err := wc.Execute(q); err != nil {
						werr.Store(fmt.Errorf("%s: %w", q, err))
						return
					}
					ops.Add(1)
				}
			}()
			halt := func() {
				stop.Store(true)
				wg.Wait()
				if err, _ := werr.Load().(error); err != nil {
					t.Fatalf("writer: %v", err)
				}
			}
			defer halt()
			for ops.Load() < 1500 {
				time.Sleep(50 * time.Millisecond)
			}
			myExec(t, my, "ALTER TABLE "+db+".t ADD COLUMN note VARCHAR(8) NOT NULL DEFAULT 'n'")
			for n := ops.Load(); ops.Load() < n+1500; {
				time.Sleep(50 * time.Millisecond)
			}
			halt()
			capture.running(t)

			// The worker starts behind: the snapshot, the changes before
			// the DDL and those after it wait in the log.
			worker := startEtlq(t, "apply", "--log", logURL, "--lease", "2s", "--state-dir", filepath.Join(dir, "w1"), "--progress", "never", file)
			worker.waitSame(t, my, ch, "SELECT id, status, CAST(amount AS CHAR), note FROM "+db+".t ORDER BY id",
				"SELECT toString(id), status, toString(amount), note FROM "+db+".t_current ORDER BY id", 120*time.Second)
			out := worker.stop(t)
			capture.stop(t)
			// Its plan is made from the table of now, with the column: the
			// snapshot's messages, from before the DDL, plan it again
			// without, and the DDL with it again.
			if n := strings.Count(out, "schema change: pipeline planned again") + strings.Count(out, "pipeline planned as the checkpoint has the table"); n > 2 {
				t.Errorf("the worker planned the table again %d times for one DDL, want at most 2:\n%s", n, out)
			}
		})
	}
}
