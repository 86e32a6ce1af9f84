package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// oscSetup creates db.t with 3000 rows and a pipeline file reading it
// into a ClickHouse upsert table (p_t) and, for a pattern over the
// database, into another (p_all); it starts etlq on it and waits until
// both targets hold the table.
func oscSetup(t *testing.T, myDSN string) (*scratch, *liveApply) {
	s, a, _, _ := oscSetupFiles(t, myDSN)
	return s, a
}

// oscSetupFiles is oscSetup that also returns the file and the state
// directory, for a test that starts etlq again.
func oscSetupFiles(t *testing.T, myDSN string) (*scratch, *liveApply, string, string) {
	return oscSetupVia(t, myDSN, "")
}

// oscSetupVia is oscSetupFiles with p_all writing through a sink of its
// own, of DSN allDSN (a proxy to the ClickHouse server), when that is not
// "".
func oscSetupVia(t *testing.T, myDSN, allDSN string) (*scratch, *liveApply, string, string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t "+liveTableDef)
	seed(t, my, db+".t", 3000)
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	allSink := "dw"
	sinks := fmt.Sprintf("CREATE SINK dw INTO clickhouse '%s';\n", chDSN)
	if allDSN != "" {
		allSink = "dw_all"
		sinks += fmt.Sprintf("CREATE SINK dw_all INTO clickhouse '%s';\n", allDSN)
	}
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
%[2]sCREATE PIPELINE p_t FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t;
CREATE PIPELINE p_all FROM binlog s.%[3]s.* TRANSFORM _table, * INTO clickhouse %[5]s.%[3]s.all_tables KEY (_table, id);
`, myDSN, sinks, db, testServerID(), allSink))
	a := startApply(t, state, file)
	myQ, chQ := oscQueries(db, false)
	a.waitSame(t, my, ch, myQ, chQ, 90*time.Second)
	// p_all writes with a writer of its own: t_current holding the table
	// says nothing of all_tables, and a cut-over poller started before it
	// holds the table sees it empty (it did, blaming the cut-over).
	myAll, chAll := oscAllQueries(db, false)
	a.waitSame(t, my, ch, myAll, chAll, 90*time.Second)
	return s, a, file, state
}

// oscQueries compares db.t with its target (and, with c, the new column).
func oscQueries(db string, c bool) (string, string) {
	myC, chC := "", ""
	if c {
		myC, chC = ", c", ", toString(c)"
	}
	return fmt.Sprintf("SELECT id, status, CAST(amount * 100 AS SIGNED)%s FROM %s.t ORDER BY id", myC, db),
		fmt.Sprintf("SELECT toString(id), status, toString(toInt64(amount * 100))%s FROM %s.t_current ORDER BY id", chC, db)
}

// oscAllQueries compares db.t with the pattern target all_tables, which
// holds no other table's row (and, with c, the new column).
func oscAllQueries(db string, c bool) (string, string) {
	myC, chC := "", ""
	if c {
		myC, chC = ", c", ", toString(c)"
	}
	return fmt.Sprintf("SELECT 't', id, status, CAST(amount * 100 AS SIGNED)%s FROM %s.t ORDER BY id", myC, db),
		fmt.Sprintf("SELECT _table, toString(id), status, toString(toInt64(amount * 100))%s FROM %s.all_tables_current ORDER BY _table, id", chC, db)
}

// oscCheck waits until both targets equal db.t with its new column c, and
// checks that no helper table reached ClickHouse and the log says how the
// cut-over was handled.
func oscCheck(t *testing.T, s *scratch, a *liveApply, poll *cutoverPoller, helpers ...string) {
	t.Helper()
	db := s.db
	myQ, chQ := oscQueries(db, true)
	a.waitSame(t, s.my, s.ch, myQ, chQ, 120*time.Second)
	myAll, chAll := oscAllQueries(db, true)
	a.waitSame(t, s.my, s.ch, myAll, chAll, 60*time.Second)
	poll.check(t)
	compareTable(t, s.my, s.ch, db, "t", db, "t", db+".t_current")
	// Idle for a while: the stream's row-less batches that move the
	// checkpoint on carry a table's columns too, never the old table's
	// (before, the one that left at the cut-over, and p_t was planned
	// again without c).
	time.Sleep(1500 * time.Millisecond)
	out := a.stop(t)
	if strings.Contains(out, "pipeline=p_t table="+db+".t columns=3") {
		t.Errorf("after the cut-over p_t was planned again for the old table's columns:\n%s", out)
	}
	for _, h := range helpers {
		if n, err := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM %s.all_tables WHERE _table = '%s'", db, h)); err != nil || n != 0 {
			t.Errorf("%d rows of helper table %s reached the target (%v)", n, h, err)
		}
		if n, _ := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM system.tables WHERE database = '%s' AND name = '%s'", db, h)); n != 0 {
			t.Errorf("a target table %s was created", h)
		}
	}
	// p_all writes t with other tables into one target: no row copy,
	// the new table is read again, and the log says why.
	if !strings.Contains(out, "online schema change cut-over: re-snapshot") || !strings.Contains(out, "a pipeline reading the table cannot take a row copy") {
		t.Errorf("the log does not say how the cut-over was handled:\n%s", out)
	}
}

// TestPtOnlineSchemaChange: a real pt-online-schema-change run (ADD COLUMN
// c with a default) on a table a writer keeps changing, while etlq streams
// it by name and under a pattern. After the cut-over (RENAME TABLE t TO
// _t_old, _t_new TO t) both targets equal the table, every row with c, and
// the tool's tables never reach a target.
func TestPtOnlineSchemaChange(t *testing.T) {
	t.Parallel()
	onBothServers(t, testPtOnlineSchemaChange)
}

func testPtOnlineSchemaChange(t *testing.T, myDSN string) {
	if _, err := exec.LookPath("pt-online-schema-change"); err != nil {
		t.Fatalf("pt-online-schema-change is not installed (apt-get install percona-toolkit; scripts/services up installs it): %v", err)
	}
	s, a := oscSetup(t, myDSN)
	w := startChurn(t, myDSN, s.db+".t", 3000, churnOptions{workers: 2, pause: 2 * time.Millisecond})
	poll := startCutoverPoller(t, s, myDSN)
	ptOnlineSchemaChange(t, myDSN, s.db, "ADD COLUMN c INT NOT NULL DEFAULT 5")
	w.halt()
	if w.ops.Load() == 0 {
		t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
	}
	myExec(t, s.my, "UPDATE "+s.db+".t SET c = id WHERE id % 10 = 0")
	oscCheck(t, s, a, poll, "_t_new", "_t_old")
}

// TestGhostCutOver: gh-ost's statement sequence, replayed in SQL (gh-ost
// itself is not installable here), on a table a writer keeps changing
// while etlq streams it by name and under a pattern: the ghost table
// _t_gho (created LIKE t, altered, filled by chunked INSERT IGNORE … SELECT
// and by the changes gh-ost applies from the binlog), the changelog table
// _t_ghc, and the atomic cut-over — the sentry table _t_del created, t and
// _t_del locked, RENAME TABLE t TO _t_del, _t_gho TO t waiting, the sentry
// dropped, the lock released. The targets end equal to t, every row with
// the new column, and no helper table reaches them.
func TestGhostCutOver(t *testing.T) {
	t.Parallel()
	onBothServers(t, testGhostCutOver)
}

func testGhostCutOver(t *testing.T, myDSN string) {
	s, a := oscSetup(t, myDSN)
	db, my := s.db, s.my
	w := startChurn(t, myDSN, db+".t", 3000, churnOptions{workers: 2, pause: 2 * time.Millisecond})
	var poll *cutoverPoller
	ghostSequence(t, myDSN, s, w, "c", func() { poll = startCutoverPoller(t, s, myDSN) })

	// Streaming goes on on the swapped table.
	myExec(t, my, "UPDATE "+db+".t SET status = 'after', c = c + 1 WHERE id % 9 = 0", "DELETE FROM "+db+".t WHERE id % 13 = 0",
		"INSERT INTO "+db+".t VALUES (5000, 'new', 1.00, 42)")
	oscCheck(t, s, a, poll, "_t_gho", "_t_ghc", "_t_del")
}

// TestOnlineSchemaChangeOwnNames: the tools run with table names of the
// user's choosing, while etlq streams db.t by name and under the pattern
// db.* with a writer changing it — gh-ost with --force-table-names=foo
// (its tables _foo_gho, _foo_ghc, _foo_del, and _foo_ghk of --checkpoint;
// gh-ost's sequence in SQL, as TestGhostCutOver) and the real
// pt-online-schema-change with --new-table-name=%T_copy (its copy t_copy:
// no underscore, no helper suffix, so it matches db.*). The cut-over,
// RENAME TABLE t TO _foo_del, _foo_gho TO t (t TO _t_old, t_copy TO t),
// ends with both targets equal to t row by row, and no helper table's row
// or table reaches ClickHouse.
func TestOnlineSchemaChangeOwnNames(t *testing.T) {
	t.Parallel()
	t.Run("gh-ost", func(t *testing.T) {
		onBothServers(t, func(t *testing.T, myDSN string) {
			s, a := oscSetup(t, myDSN)
			w := startChurn(t, myDSN, s.db+".t", 3000, churnOptions{workers: 2, pause: 2 * time.Millisecond})
			var poll *cutoverPoller
			ghostSequenceAs(t, myDSN, s, w, "c", "foo", func() { poll = startCutoverPoller(t, s, myDSN) })
			myExec(t, s.my, "UPDATE "+s.db+".t SET status = 'after', c = c + 1 WHERE id % 9 = 0", "DELETE FROM "+s.db+".t WHERE id % 13 = 0",
				"INSERT INTO "+s.db+".t VALUES (5000, 'new', 1.00, 42)")
			oscCheck(t, s, a, poll, "_foo_gho", "_foo_ghc", "_foo_ghk", "_foo_del")
		})
	})
	t.Run("pt-online-schema-change", func(t *testing.T) {
		onBothServers(t, func(t *testing.T, myDSN string) {
			s, a := oscSetup(t, myDSN)
			w := startChurn(t, myDSN, s.db+".t", 3000, churnOptions{workers: 2, pause: 2 * time.Millisecond})
			poll := startCutoverPoller(t, s, myDSN)
			ptOnlineSchemaChange(t, myDSN, s.db, "ADD COLUMN c INT NOT NULL DEFAULT 5", "--new-table-name", "%T_copy")
			w.halt()
			if w.ops.Load() == 0 {
				t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
			}
			myExec(t, s.my, "UPDATE "+s.db+".t SET c = id WHERE id % 10 = 0")
			oscCheck(t, s, a, poll, "t_copy", "_t_old")
		})
	})
	// etlq stopped in the middle of the migration and started again
	// while the copy t_copy and the tool's triggers exist (the tool run
	// with --no-swap-tables --no-drop-triggers, its cut-over then made as
	// it makes it): the start neither plans t_copy under db.* nor lets
	// the stream take it in.
	t.Run("pt-online-schema-change, etlq started again mid-migration", func(t *testing.T) {
		onBothServers(t, func(t *testing.T, myDSN string) {
			s, a, file, state := oscSetupFiles(t, myDSN)
			db := s.db
			a.stop(t)
			w := startChurn(t, myDSN, db+".t", 3000, churnOptions{workers: 2, pause: 2 * time.Millisecond})
			ptOnlineSchemaChange(t, myDSN, db, "ADD COLUMN c INT NOT NULL DEFAULT 5", "--new-table-name", "%T_copy",
				"--no-swap-tables", "--no-drop-triggers", "--no-drop-new-table")
			a = startApply(t, state, file)
			time.Sleep(500 * time.Millisecond) // (the triggers still copy the writer's changes)
			w.halt()
			if w.ops.Load() == 0 {
				t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
			}
			poll := startCutoverPoller(t, s, myDSN)
			myExec(t, s.my, "RENAME TABLE "+db+".t TO "+db+"._t_old, "+db+".t_copy TO "+db+".t")
			for _, tr := range []string{"del", "upd", "ins"} {
				myExec(t, s.my, "DROP TRIGGER IF EXISTS "+db+".pt_osc_"+db+"_t_"+tr)
			}
			myExec(t, s.my, "DROP TABLE "+db+"._t_old", "UPDATE "+db+".t SET c = id WHERE id % 10 = 0")
			oscCheck(t, s, a, poll, "t_copy", "_t_old")
		})
	})
	// The same, with the cut-over's RENAME made before etlq starts again
	// and the triggers dropped only after it: at the start the tool's
	// triggers are on _t_old (renamed with the table) and still write
	// into t_copy, which the binlog etlq resumes in names otherwise — its
	// CREATE (t_copy, a copy of t), its triggers (on t). A loaded machine
	// gave this order to the subtest above (etlq slow to start, the test
	// not waiting for it). The rows changed after the cut-over are
	// decoded on both servers: the copy's schema was followed since its
	// CREATE.
	t.Run("pt-online-schema-change, etlq started again after the cut-over, triggers not yet dropped", func(t *testing.T) {
		onBothServers(t, func(t *testing.T, myDSN string) {
			s, a, file, state := oscSetupFiles(t, myDSN)
			db := s.db
			a.stop(t)
			w := startChurn(t, myDSN, db+".t", 3000, churnOptions{workers: 2, pause: 2 * time.Millisecond})
			ptOnlineSchemaChange(t, myDSN, db, "ADD COLUMN c INT NOT NULL DEFAULT 5", "--new-table-name", "%T_copy",
				"--no-swap-tables", "--no-drop-triggers", "--no-drop-new-table")
			w.halt()
			if w.ops.Load() == 0 {
				t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
			}
			myExec(t, s.my, "RENAME TABLE "+db+".t TO "+db+"._t_old, "+db+".t_copy TO "+db+".t")
			a = startApply(t, state, file)
			// The stream has reached the RENAME: it has read the
			// triggers of the server at its start.
			a.waitFor(t, "the cut-over read", 60*time.Second, func() (bool, string) {
				return strings.Contains(a.out.String(), "online schema change cut-over"), "no cut-over in the log"
			})
			poll := startCutoverPoller(t, s, myDSN)
			for _, tr := range []string{"del", "upd", "ins"} {
				myExec(t, s.my, "DROP TRIGGER IF EXISTS "+db+".pt_osc_"+db+"_t_"+tr)
			}
			myExec(t, s.my, "DROP TABLE "+db+"._t_old", "UPDATE "+db+".t SET c = id WHERE id % 10 = 0")
			oscCheck(t, s, a, poll, "t_copy", "_t_old")
			if out := a.out.String(); strings.Contains(out, "schema change etlq cannot apply") {
				t.Errorf("the copy's schema was lost at the cut-over:\n%s", out)
			}
		})
	})
}

// TestOnlineSchemaChangeSlowPatternTarget: the pt-online-schema-change
// cut-over of TestOnlineSchemaChangeOwnNames (the copy t_copy, which
// db.* matches) with the pattern pipeline's target behind a slow link
// (every chunk sent to ClickHouse waits): its rows arrive long after the
// by-name target's, at the snapshot and at the re-read. Readers of either
// target never see t empty or partial, and both end equal to it. The
// cut-over poller starts once both targets hold the table: started when
// the by-name target did, it saw the pattern target still empty and
// blamed the cut-over (a full run on a loaded machine: 0 rows in 2 of 20
// polls, before pt-online-schema-change had begun; here every run).
func TestOnlineSchemaChangeSlowPatternTarget(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		px := newCHProxy(t, testenv.ClickHouseDSN(t))
		px.slow(100 * time.Millisecond)
		s, a, _, _ := oscSetupVia(t, myDSN, "clickhouse://"+px.addr())
		w := startChurn(t, myDSN, s.db+".t", 3000, churnOptions{workers: 2, pause: 2 * time.Millisecond})
		poll := startCutoverPoller(t, s, myDSN)
		ptOnlineSchemaChange(t, myDSN, s.db, "ADD COLUMN c INT NOT NULL DEFAULT 5", "--new-table-name", "%T_copy")
		w.halt()
		if w.ops.Load() == 0 {
			t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
		}
		myExec(t, s.my, "UPDATE "+s.db+".t SET c = id WHERE id % 10 = 0")
		oscCheck(t, s, a, poll, "t_copy", "_t_old")
	})
}

// TestSwapFollowsSchemaChanges: a table swapped for a copy with another
// column (an online schema change's cut-over, here in plain SQL) is a
// schema change to the pipeline: under schema_changes = 'ignore' the
// target keeps its columns and still equals the table on them; under
// 'fail' the run stops with an error naming the table.
func TestSwapFollowsSchemaChanges(t *testing.T) {
	t.Parallel()
	onBothServers(t, testSwapFollowsSchemaChanges)
}

func testSwapFollowsSchemaChanges(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db)
	for _, policy := range []string{"ignore", "fail"} {
		tb := "t_" + policy
		myExec(t, my, "CREATE TABLE "+db+"."+tb+" "+liveTableDef)
		seed(t, my, db+"."+tb, 300)
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.%[5]s INTO clickhouse dw.%[3]s.%[5]s WITH (schema_changes = '%[6]s');
`, myDSN, chDSN, db, testServerID(), tb, policy))
		a := startApply(t, state, file)
		myQ := fmt.Sprintf("SELECT id, status, CAST(amount * 100 AS SIGNED) FROM %s.%s ORDER BY id", db, tb)
		chQ := fmt.Sprintf("SELECT toString(id), status, toString(toInt64(amount * 100)) FROM %s.%s_current ORDER BY id", db, tb)
		a.waitSame(t, my, ch, myQ, chQ, 90*time.Second)
		myExec(t, my,
			fmt.Sprintf("CREATE TABLE %s._%s_new LIKE %s.%s", db, tb, db, tb),
			fmt.Sprintf("ALTER TABLE %s._%s_new ADD COLUMN c INT NOT NULL DEFAULT 5", db, tb),
			fmt.Sprintf("INSERT INTO %s._%s_new (id, status, amount) SELECT id, status, amount FROM %s.%s", db, tb, db, tb),
			fmt.Sprintf("RENAME TABLE %[1]s.%[2]s TO %[1]s._%[2]s_old, %[1]s._%[2]s_new TO %[1]s.%[2]s", db, tb),
			fmt.Sprintf("UPDATE %s.%s SET amount = 1.23, c = 9 WHERE id = 1", db, tb),
		)
		if policy == "fail" {
			select {
			case err := <-a.done:
				if err == nil || !strings.Contains(a.out.String(), "schema_changes = 'fail'") || !strings.Contains(a.out.String(), db+"."+tb) {
					t.Errorf("under 'fail' the swap must stop the run naming the table: %v\n%s", err, a.out.String())
				}
			case <-time.After(60 * time.Second):
				t.Errorf("under 'fail' the run goes on after the swap:\n%s", a.out.String())
			}
			continue
		}
		a.waitSame(t, my, ch, myQ, chQ, 60*time.Second)
		if n, _ := chCount(chDSN, fmt.Sprintf("SELECT count() FROM system.columns WHERE database = '%s' AND table = '%s' AND name = 'c'", db, tb)); n != 0 {
			t.Errorf("under 'ignore' the target gained column c")
		}
		a.stop(t)
	}
}

// cutoverPoller watches, from before an online schema change's cut-over
// until stop, the live rows of db.t in the by-name target and in the
// pattern target next to the source's count: readers of the target must
// never see the table empty or partial while the new table is read again
// (issue #12: the re-snapshot path used to truncate at the rename).
type cutoverPoller struct {
	done chan struct{}
	res  chan string
}

// maxLag is how far the target's count may trail the source's: the
// writer's changes not delivered yet.
const maxLag = 300

func startCutoverPoller(t *testing.T, s *scratch, myDSN string) *cutoverPoller {
	t.Helper()
	my := testenv.MySQLConn(t, myDSN)
	p := &cutoverPoller{done: make(chan struct{}), res: make(chan string, 1)}
	go func() {
		var bad []string
		polls := 0
		for {
			select {
			case <-p.done:
				p.res <- fmt.Sprintf("%d polls; %s", polls, strings.Join(bad, "; "))
				return
			default:
			}
			var src uint64
			if r, err := my.Execute("SELECT COUNT(*) FROM " + s.db + ".t"); err == nil {
				v, _ := r.GetInt(0, 0)
				src = uint64(v)
			} else {
				continue // the RENAME's moment: no table t
			}
			for _, q := range []string{
				"SELECT count() FROM " + s.db + ".t_current",
				"SELECT count() FROM " + s.db + ".all_tables_current WHERE _table = 't'",
			} {
				var n uint64
				if err := s.ch.QueryRow(context.Background(), q).Scan(&n); err != nil {
					continue
				}
				if n+maxLag < src && len(bad) < 5 {
					bad = append(bad, fmt.Sprintf("%s: %d rows while the source has %d", q, n, src))
				}
			}
			polls++
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return p
}

// check stops the poller and fails t if a poll saw the target's rows drop.
func (p *cutoverPoller) check(t *testing.T) {
	t.Helper()
	close(p.done)
	r := <-p.res
	polls, bad, _ := strings.Cut(r, "; ")
	if bad != "" {
		t.Errorf("during the cut-over readers of the target saw rows missing (%s): %s", polls, bad)
	}
	t.Logf("cut-over poller: %s", polls)
}

// ghostSequence replays gh-ost's statements on db.t (s.db), adding column
// col (INT NOT NULL DEFAULT 5): the ghost table _t_gho (created LIKE t,
// altered, filled by chunked INSERT IGNORE … SELECT while the writer w
// goes on, then by the changes gh-ost applies from the binlog), the
// changelog table _t_ghc, and the atomic cut-over — the sentry table _t_del
// created, t and _t_del locked, RENAME TABLE t TO _t_del, _t_gho TO t
// waiting, the sentry dropped, the lock released. w is halted before
// gh-ost catches up; beforeCutOver, when set, runs just before the
// cut-over.
func ghostSequence(t *testing.T, myDSN string, s *scratch, w *churn, col string, beforeCutOver func()) {
	t.Helper()
	ghostSequenceAs(t, myDSN, s, w, col, "", beforeCutOver)
}

// ghostSequenceAs is ghostSequence as gh-ost runs it with
// --force-table-names=force (when not ""): its tables are then _force_gho,
// _force_ghc and _force_del (go/base/context.go, getSafeTableName), and,
// run with --checkpoint, its checkpoint table _force_ghk, a row written
// into it after each chunk.
func ghostSequenceAs(t *testing.T, myDSN string, s *scratch, w *churn, col, force string, beforeCutOver func()) {
	t.Helper()
	db, my := s.db, s.my
	base := "t"
	if force != "" {
		base = force
	}
	gho, ghc, del, ghk := db+"._"+base+"_gho", db+"._"+base+"_ghc", db+"._"+base+"_del", db+"._"+base+"_ghk"
	myExec(t, my,
		"CREATE /* gh-ost */ TABLE "+gho+" LIKE "+db+".t",
		"ALTER /* gh-ost */ TABLE "+gho+" ADD COLUMN "+col+" INT NOT NULL DEFAULT 5",
		"CREATE /* gh-ost */ TABLE "+ghc+" (id bigint auto_increment, last_update timestamp not null DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, hint varchar(64) charset ascii not null, value varchar(4096) charset ascii not null, primary key(id), unique key hint_uidx(hint)) auto_increment=256",
		"INSERT INTO "+ghc+" (id, hint, value) VALUES (2, 'state', 'GhostTableMigrated') ON DUPLICATE KEY UPDATE last_update = NOW(), value = VALUES(value)",
	)
	if force != "" {
		myExec(t, my, "CREATE /* gh-ost */ TABLE "+ghk+" (`gh_ost_chk_id` bigint auto_increment primary key, `gh_ost_chk_timestamp` bigint, `gh_ost_chk_coords` text charset ascii, "+
			"`gh_ost_chk_iteration` bigint, `gh_ost_rows_copied` bigint, `gh_ost_dml_applied` bigint, `gh_ost_is_cutover` tinyint(1) DEFAULT '0', `id_min` int, `id_max` int)")
	}
	// The row copy, chunk by chunk, while the writer goes on.
	for lo := 1; lo <= 3000; lo += 500 {
		myExec(t, my, fmt.Sprintf("INSERT IGNORE INTO %[1]s (id, status, amount) (SELECT id, status, amount FROM %[2]s.t FORCE INDEX (PRIMARY) WHERE id >= %[3]d AND id <= %[4]d LOCK IN SHARE MODE)", gho, db, lo, lo+499),
			fmt.Sprintf("INSERT INTO %s (id, hint, value) VALUES (1, 'heartbeat', NOW()) ON DUPLICATE KEY UPDATE last_update = NOW(), value = VALUES(value)", ghc))
		if force != "" {
			myExec(t, my, fmt.Sprintf("INSERT /* gh-ost */ INTO %s (gh_ost_chk_timestamp, gh_ost_chk_coords, gh_ost_chk_iteration, gh_ost_rows_copied, gh_ost_dml_applied, id_min, id_max) VALUES (UNIX_TIMESTAMP(), 'mysql-bin.000001:4', %d, %d, 0, %d, %d)", ghk, lo/500, lo+499, lo, lo+499))
		}
	}
	w.halt()
	if w.ops.Load() == 0 {
		t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
	}
	// What gh-ost applies from the binlog until it is caught up: the
	// writer's changes, as row-by-row REPLACE and DELETE on the ghost.
	myExec(t, my,
		"REPLACE INTO "+gho+" (id, status, amount, "+col+") SELECT t.id, t.status, t.amount, COALESCE(g."+col+", 5) FROM "+db+".t t LEFT JOIN "+gho+" g ON g.id = t.id",
		"DELETE FROM "+gho+" WHERE id NOT IN (SELECT id FROM "+db+".t)",
		"UPDATE "+gho+" SET "+col+" = id WHERE id % 10 = 0",
		// Rows the new table does not have (as a migration adding a
		// unique key drops duplicates): they leave the targets at the
		// end of the new table's re-read, not at the rename.
		"DELETE FROM "+gho+" WHERE id % 17 = 0",
	)

	// The cut-over.
	if beforeCutOver != nil {
		beforeCutOver()
	}
	myExec(t, my, "CREATE TABLE "+del+" (id int auto_increment primary key) engine=InnoDB comment='ghost-cut-over-sentry'")
	locker := testenv.MySQLConn(t, myDSN)
	renamer := testenv.MySQLConn(t, myDSN)
	myExec(t, locker, "SET SESSION lock_wait_timeout = 30", "LOCK TABLES "+db+".t WRITE, "+del+" WRITE")
	renamed := make(chan error, 1)
	go func() {
		_, err := renamer.Execute("RENAME TABLE " + db + ".t TO " + del + ", " + gho + " TO " + db + ".t")
		renamed <- err
	}()
	// gh-ost waits until the RENAME is seen waiting on the lock.
	for deadline := time.Now().Add(30 * time.Second); ; {
		rows := myRows(t, my, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'RENAME TABLE "+db+".t TO%'")
		if len(rows) == 1 && rows[0] == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the RENAME did not start waiting on the lock")
		}
		time.Sleep(50 * time.Millisecond)
	}
	myExec(t, locker, "DROP TABLE "+del, "UNLOCK TABLES")
	if err := <-renamed; err != nil {
		t.Fatalf("cut-over rename: %v", err)
	}
	myExec(t, my, "DROP TABLE IF EXISTS "+ghc, "DROP TABLE IF EXISTS "+del, "DROP TABLE IF EXISTS "+ghk)
}

// ptOnlineSchemaChange runs the real pt-online-schema-change on db.t.
// extra are more of the tool's options (--new-table-name …).
func ptOnlineSchemaChange(t *testing.T, myDSN, db, alter string, extra ...string) {
	t.Helper()
	if _, err := exec.LookPath("pt-online-schema-change"); err != nil {
		t.Fatalf("pt-online-schema-change is not installed (apt-get install percona-toolkit; scripts/services up installs it): %v", err)
	}
	cfg, err := testenv.ParseMySQLDSN(myDSN)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(cfg.Addr, ":")
	dsn := fmt.Sprintf("h=%s,P=%s,u=%s,D=%s,t=t", host, port, cfg.User, db)
	if cfg.Password != "" {
		dsn += ",p=" + cfg.Password
	}
	args := append([]string{"--alter", alter,
		"--execute", "--chunk-size", "300", "--recursion-method", "none", "--no-check-unique-key-change",
		"--set-vars", "lock_wait_timeout=30"}, extra...)
	cmd := exec.Command("pt-online-schema-change", append(args, dsn)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pt-online-schema-change: %v\n%s", err, out)
	}
}
