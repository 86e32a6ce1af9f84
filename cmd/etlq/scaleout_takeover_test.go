package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/natslog"
	"github.com/etlq/etlq/connectors/testenv"
)

// TestLogTakeOverBehindDDL: two workers share eight partitions; one is
// paused (SIGSTOP: it reads nothing more, its leases run out) and killed
// -9, while the source changes the table before and after an ADD COLUMN.
// The other takes its partitions over once their leases expire: they are
// behind the DDL. It plans the table again once, for the DDL — it crosses
// the DDL once the group has written the table's changes before it in the
// partitions it does not read (natslog's layoutOrder) — and the target
// ends equal to the source, the new column included.
// Before, it crossed the DDL in its own partitions at once, then took the
// paused worker's partitions over and planned the table again for their
// messages from before the DDL, and again at their copy of it: three plans
// for one DDL.
func TestLogTakeOverBehindDDL(t *testing.T) {
	t.Parallel()
	for _, srv := range []struct{ name, dsn string }{{"A", testenv.MySQLDSN(t)}, {"B", testenv.MySQLMinimalDSN(t)}} {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			myDSN := srv.dsn
			s, logURL, dir, file := logFixture(t, myDSN, `CREATE PIPELINE p FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t WITH (flush_interval = '100ms');
`)
			db, my, ch := s.db, s.my, s.ch
			capture := startEtlq(t, "capture", "--log", logURL, "--partitions", "8", file)
			worker := func(name string) *liveApply {
				return startEtlq(t, "apply", "--log", logURL, "--lease", "10s", "--state-dir", filepath.Join(dir, name), "--progress", "never", file)
			}
			a, b := worker("a"), worker("b")
			a.waitSame(t, my, ch, "SELECT id, status, CAST(amount AS CHAR) FROM "+db+".t ORDER BY id",
				"SELECT toString(id), status, toString(amount) FROM "+db+".t_current ORDER BY id", 120*time.Second)
			lg, err := natslog.Open(logURL)
			if err != nil {
				t.Fatal(err)
			}
			defer lg.Close()
			a.waitFor(t, "the partitions spread four and four", 90*time.Second, func() (bool, string) {
				st, err := lg.Status("s", "")
				if err != nil {
					return false, err.Error()
				}
				held := map[string]int{}
				for _, p := range st.Partitions {
					held[p.Owner]++
				}
				var counts []int
				for id, c := range held {
					if id == "" {
						return false, fmt.Sprint(held)
					}
					counts = append(counts, c)
				}
				sort.Ints(counts)
				return fmt.Sprint(counts) == "[4 4]", fmt.Sprint(held)
			})
			// b reads nothing more: its partitions' changes from now on
			// wait in the log, behind the DDL to come.
			if err := b.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			change := func(from, n int, note bool) {
				for k := from; k < from+n; k++ {
					q := fmt.Sprintf("INSERT INTO %s.t (id, status, amount) VALUES (%d, 'w', %d) ON DUPLICATE KEY UPDATE amount = amount + 1, status = 'u'", db, k, k%1000)
					if note {
						q = fmt.Sprintf("INSERT INTO %s.t (id, status, amount, note) VALUES (%d, 'w', %d, 'x%d') ON DUPLICATE KEY UPDATE amount = amount + 1, status = 'u', note = 'y'", db, k, k%1000, k%10)
					}
					myExec(t, my, q)
				}
			}
			change(1, 150, false)    // updates
			change(5001, 150, false) // inserts
			myExec(t, my, "ALTER TABLE "+db+".t ADD COLUMN note VARCHAR(8) NOT NULL DEFAULT 'n'")
			change(101, 150, true)
			change(5101, 150, true)
			b.kill9()
			capture.running(t)
			a.waitSame(t, my, ch, "SELECT id, status, CAST(amount AS CHAR), note FROM "+db+".t ORDER BY id",
				"SELECT toString(id), status, toString(amount), note FROM "+db+".t_current ORDER BY id", 120*time.Second)
			out := a.stop(t)
			capture.stop(t)
			assertOnePlanForDDL(t, out, db)
		})
	}
}
