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

	"github.com/etlq/etlq/connectors/natslog"
	"github.com/etlq/etlq/connectors/testenv"
)

// TestLogWorkerReplansOncePerDDL: a worker catching up across an ADD
// COLUMN, over eight partitions, with a writer inserting and updating
// rows before, during and after the DDL. The worker's partitions are
// fetched side by side, so the messages of the old and of the new layout
// reach it interleaved; it plans the table again once, for the DDL: its
// first plan is made from the table as the log has it at the group's
// start (engine.LogStartMarks), not from the table of now.
// Before, it flipped between the two layouts 30 to 110 times (a plan, a
// log line and a look at the target each time); the data ended correct.
// Then it planned twice: its plan, made from the table of now (with the
// column), was planned again without it at the snapshot's first message
// ("pipeline planned as the checkpoint has the table …"), and the DDL
// found the column in the target already, which the worker had made with
// it, and filled it ("clickhouse: a column added in the source was in the
// table already (left from a DROP COLUMN) …").
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
			// The snapshot is in the log before the writer and the DDL
			// begin (a capture slow to start, on a loaded machine, read
			// the table after the DDL: the log held no change of layout).
			lg, err := natslog.Open(logURL)
			if err != nil {
				t.Fatal(err)
			}
			defer lg.Close()
			capture.waitFor(t, "the snapshot in the log", 2*time.Minute, func() (bool, string) {
				st, err := lg.Status("s", "")
				if err != nil {
					return false, err.Error()
				}
				return st.Messages >= 2, fmt.Sprint(st.Messages, " messages")
			})

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
			// Its plan is made from the table as the log has it where the
			// group starts (without the column): the DDL alone plans it
			// again, and the target, made without the column, takes it
			// there — no fill of a column found in the table already.
			assertOnePlanForDDL(t, out, db)
		})
	}
}

// assertOnePlanForDDL checks a worker's log for the one ADD COLUMN note of
// table t: one line planning the pipeline again, for the column added,
// none planning it as an older position has the table, and no fill of a
// column found in the target already.
func assertOnePlanForDDL(t *testing.T, out, db string) {
	t.Helper()
	var plans []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "schema change: pipeline planned again") || strings.Contains(l, "pipeline planned as the checkpoint has the table") {
			plans = append(plans, l)
		}
	}
	if len(plans) != 1 || !strings.Contains(plans[0], "table="+db+".t") || !strings.Contains(plans[0], `change="added note varchar(8)"`) {
		t.Errorf("want one plan, for the DDL (change=\"added note varchar(8)\"); got %d:\n%s", len(plans), strings.Join(plans, "\n"))
	}
	if strings.Contains(out, "was in the table already") {
		t.Errorf("the worker filled a column it found in the target already:\n%s", out)
	}
}
