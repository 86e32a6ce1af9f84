package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestCutOverResnapshotResumed (issue #12): a gh-ost cut-over that takes
// the re-snapshot path (a pattern pipeline reads the table too: no row
// copy), with a writer before and after it; etlq is killed (SIGKILL)
// while the new table is read again, once a checkpoint holds the read's
// progress and the version reserved at the rename (older_than). The
// restart resumes the read from that checkpoint (it does not read the
// whole table again), and at its end the keys the new table lacks (rows
// gh-ost's copy dropped) leave both targets: each equals the table row
// by row, every row with the new column.
func TestCutOverResnapshotResumed(t *testing.T) {
	t.Parallel()
	onBothServers(t, testCutOverResnapshotResumed)
}

func testCutOverResnapshotResumed(t *testing.T, myDSN string) {
	const rows = 60000
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	// etlq reads the server through a proxy that can slow its reads, so
	// that the kill falls in the middle of the new table's re-read.
	viaProxy, px := throttled(t, myDSN)
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t "+liveTableDef,
		fmt.Sprintf("INSERT INTO %[1]s.t SELECT seq, ELT(1 + seq %% 4, 'new', 'paid', 'shipped', 'cancelled'), (seq %% 1000) + (seq %% 100) / 100 FROM %[1]s.seq_1_to_%[2]d", db, rows))
	dir := t.TempDir()
	r := &rowCopyRun{file: filepath.Join(dir, "p.etl"), state: filepath.Join(dir, "state")}
	writeFile(t, r.file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d, chunk_rows = 500);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_t FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t;
CREATE PIPELINE p_all FROM binlog s.%[3]s.* TRANSFORM _table, * INTO clickhouse dw.%[3]s.all_tables KEY (_table, id);
`, viaProxy, s.chDSN, db, testServerID()))
	r.start(t)
	myQ, chQ := oscQueries(db, false)
	r.waitSame(t, my, ch, myQ, chQ, 300*time.Second)

	w := startChurn(t, myDSN, db+".t", 3000, churnOptions{workers: 2, pause: 2 * time.Millisecond})
	ghostSequence(t, myDSN, s, w, "c", func() {
		time.Sleep(3 * time.Second) // (etlq reads gh-ost's catch-up)
		px.slow.Store(true)
	})
	// A writer on the new table while it is read again, and across the
	// kill and the restart.
	w2 := startChurn(t, myDSN, db+".t", 3000, churnOptions{workers: 1, pause: 5 * time.Millisecond})
	r.waitFor(t, "the cut-over's re-read", 120*time.Second, func() (bool, string) {
		return strings.Contains(r.out.String(), "online schema change cut-over: re-snapshot"), ""
	})
	// Killed once a checkpoint holds the re-read's progress.
	stateFile := filepath.Join(r.state, "source-s.json")
	r.waitFor(t, "a checkpoint in the middle of the re-read", 180*time.Second, func() (bool, string) {
		b, _ := os.ReadFile(stateFile)
		return strings.Contains(string(b), `"older_than"`) && strings.Contains(string(b), `"ranges"`), ""
	})
	r.kill9()
	first := r.out.String()
	if strings.Contains(first, "the new table was read again") {
		t.Fatalf("the re-read ended before the kill: nothing tested:\n%s", first)
	}
	px.slow.Store(false)
	r.start(t)
	time.Sleep(2 * time.Second)
	w2.halt()
	if w2.ops.Load() == 0 {
		t.Fatalf("the writer made no change (%d errors)", w2.errors.Load())
	}
	myExec(t, my, "UPDATE "+db+".t SET status = 'after', c = c + 1 WHERE id % 9 = 0", "DELETE FROM "+db+".t WHERE id % 13 = 0",
		"INSERT INTO "+db+".t VALUES (100001, 'new', 1.00, 42)")
	myQ, chQ = oscQueries(db, true)
	r.waitSame(t, my, ch, myQ, chQ, 300*time.Second)
	r.waitSame(t, my, ch,
		fmt.Sprintf("SELECT 't', id, status, CAST(amount * 100 AS SIGNED), c FROM %s.t ORDER BY id", db),
		fmt.Sprintf("SELECT _table, toString(id), status, toString(toInt64(amount * 100)), toString(c) FROM %s.all_tables_current ORDER BY _table, id", db), 120*time.Second)
	compareTable(t, my, ch, db, "t", db, "t", db+".t_current")
	// Resumed, not read again from the start: fewer rows than the table's.
	if n := r.snapshotRows(t, db); n <= 0 || n >= rows {
		t.Errorf("the restart read %v rows of the new table (of %d): the re-read was not resumed from the checkpoint", n, rows)
	} else {
		t.Logf("the restart read %v rows of the new table's %d", n, rows)
	}
	out := r.stop(t)
	for _, want := range []string{"online schema change cut-over: the new table was read again", "cut-over: removing the old table's rows the new one does not have"} {
		if !strings.Contains(out, want) {
			t.Errorf("the restart's log lacks %q:\n%s", want, out)
		}
	}
	// The keys gh-ost's copy dropped (id % 17 = 0, not written since)
	// left both targets.
	for _, q := range []string{
		fmt.Sprintf("SELECT count() FROM %s.t_current WHERE id %% 17 = 0 AND id > 3000", db),
		fmt.Sprintf("SELECT count() FROM %s.all_tables_current WHERE _table = 't' AND id %% 17 = 0 AND id > 3000", db),
	} {
		if n, err := chCount(s.chDSN, q); err != nil || n != 0 {
			t.Errorf("%s: %d, %v: keys the new table lacks are left", q, n, err)
		}
	}
}

// throttleProxy forwards TCP connections to a target; while slow is set,
// what the target sends goes on in 4 KiB pieces 10 ms apart, but on a
// binlog dump connection; while slowBinlog is set, what a binlog dump
// connection gets goes on in 4 KiB pieces 250 ms apart (a replay that
// takes seconds).
type throttleProxy struct {
	ln         net.Listener
	slow       atomic.Bool
	slowBinlog atomic.Bool
	// crawl slows the reads of tables to a crawl (200 ms a read), for a
	// test that waits for something to happen while a read runs.
	crawl atomic.Bool
}

// throttled returns myDSN through a new throttleProxy, and the proxy.
func throttled(t *testing.T, myDSN string) (string, *throttleProxy) {
	t.Helper()
	cfg, err := testenv.ParseMySQLDSN(myDSN)
	if err != nil {
		t.Fatal(err)
	}
	px := newThrottleProxy(t, cfg.Addr)
	return strings.Replace(myDSN, cfg.Addr, px.addr(), 1), px
}

func newThrottleProxy(t *testing.T, target string) *throttleProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &throttleProxy{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			// A binlog dump connection is never slowed: the tests slow
			// the reads of tables (snapshots, re-reads), and a binlog read
			// at 400 KB/s fell behind their writers for good on a loaded
			// machine (TestRebuildSwapKilled's re-read stood at 0 rows
			// for minutes, its chunks waiting for the reader).
			var binlog atomic.Bool
			go func() {
				defer s.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if n >= 5 && buf[3] == 0 && (buf[4] == 0x12 || buf[4] == 0x1e) { // COM_BINLOG_DUMP(_GTID)
						binlog.Store(true)
					}
					if n > 0 {
						if _, werr := s.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
						switch {
						case p.crawl.Load() && !binlog.Load():
							time.Sleep(200 * time.Millisecond)
						case p.slow.Load() && !binlog.Load():
							time.Sleep(10 * time.Millisecond)
						case p.slowBinlog.Load() && binlog.Load():
							time.Sleep(250 * time.Millisecond)
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

func (p *throttleProxy) addr() string { return p.ln.Addr().String() }
