package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/natslog"
	"github.com/etlq/etlq/connectors/testenv"
)

// TestLogWorkersSpreadEvenly: four worker processes started at once over
// eight partitions, a writer running: each ends with two. A fifth joins
// (2, 2, 2, 1, 1), one stops (two each again): partitions move between
// workers only once what was handed over from them is written, so the
// changelog target holds no change twice (no two workers wrote a
// partition's messages) and the upsert target equals the source (none
// skipped). One killed -9 at the end: the three left hold 3, 3 and 2. Before, a worker took up to ⌈partitions /
// workers⌉ — five workers held 2, 2, 2, 2 and 0 — and the first of
// workers started together took every partition, giving them back only
// at its next round.
func TestLogWorkersSpreadEvenly(t *testing.T) {
	t.Parallel()
	for _, srv := range []struct{ name, dsn string }{{"A", testenv.MySQLDSN(t)}, {"B", testenv.MySQLMinimalDSN(t)}} {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			myDSN := srv.dsn
			s, logURL, dir, file := logFixture(t, myDSN, `CREATE PIPELINE p_up FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t WITH (flush_interval = '100ms');
CREATE PIPELINE p_log FROM binlog s.%[3]s.t TRANSFORM id, status, amount, _op, _version INTO clickhouse dw.%[3]s.t_log MODE changelog WITH (flush_interval = '100ms');
`)
			db, my, ch := s.db, s.my, s.ch
			capture := startEtlq(t, "capture", "--log", logURL, "--partitions", "8", file)
			w := startWriter(t, myDSN, db+".t", 3000)
			defer w.halt(t)

			lg, err := natslog.Open(logURL)
			if err != nil {
				t.Fatal(err)
			}
			defer lg.Close()
			// spread waits until the group's n live workers hold every
			// partition, each as many as the others or one fewer.
			spread := func(a *liveApply, n int) {
				t.Helper()
				began := time.Now()
				defer func() { t.Logf("spread over %d workers after %v", n, time.Since(began).Round(100*time.Millisecond)) }()
				a.waitFor(t, fmt.Sprintf("8 partitions spread over %d workers", n), 90*time.Second, func() (bool, string) {
					st, err := lg.Status("s", "")
					if err != nil {
						return false, err.Error()
					}
					held := map[string]int{}
					for _, id := range st.Workers {
						held[id] = 0
					}
					for _, p := range st.Partitions {
						held[p.Owner]++
					}
					var counts []int
					for id, c := range held {
						if id == "" {
							return false, fmt.Sprintf("%d partitions held by no one: %v", c, held)
						}
						counts = append(counts, c)
					}
					sort.Ints(counts)
					return len(counts) == n && counts[n-1]-counts[0] <= 1, fmt.Sprint(held)
				})
			}
			var workers []*liveApply
			start := func(name string) *liveApply {
				a := startEtlq(t, "apply", "--log", logURL, "--lease", "2s", "--state-dir", filepath.Join(dir, name), "--progress", "never", file)
				workers = append(workers, a)
				return a
			}
			for _, name := range []string{"w1", "w2", "w3", "w4"} {
				start(name)
			}
			spread(workers[0], 4)
			spread(start("w5"), 5)
			workers[1].stop(t)
			spread(workers[0], 4)

			w.halt(t)
			capture.running(t)
			workers[0].waitSame(t, my, ch, "SELECT id, status, CAST(amount AS CHAR) FROM "+db+".t ORDER BY id",
				"SELECT toString(id), status, toString(amount) FROM "+db+".t_current ORDER BY id", 90*time.Second)
			// Every hand-over so far was a worker giving partitions back:
			// nothing came twice.
			if n, err := chCount(s.chDSN, fmt.Sprintf("SELECT toUInt64(count() - uniqExact(id, _version, _op)) FROM %s.t_log", db)); err != nil || n != 0 {
				t.Errorf("the changelog holds %d changes twice (%v): two workers wrote a partition's messages", n, err)
			}
			// A worker killed -9: its partitions go to the others once its
			// leases expire.
			workers[2].kill9()
			spread(workers[0], 3)
			for _, a := range []*liveApply{workers[0], workers[3], workers[4]} {
				a.stop(t)
			}
			capture.stop(t)
		})
	}
}
