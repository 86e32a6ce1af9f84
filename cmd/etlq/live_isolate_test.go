package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors/mysql"
	"github.com/etlq/etlq/connectors/testenv"
)

// TestOnePipelineStops (issue #12, part B): a DROP COLUMN of a column one
// pipeline's TRANSFORM names stops that pipeline only. Its error names the
// expression (file:line:col), the column, the table, the binlog position
// and the fix; the other pipelines of the same source keep streaming and
// checkpointing, a writer running. After the file is fixed, the stopped
// pipeline catches up from its own checkpoint with nothing lost — killed
// (SIGKILL) in the middle of it, and restarted with a writer running —
// then rejoins the source's stream: its own checkpoint file is gone, the
// server lists one replica of etlq (the source's), the others replayed
// nothing (their changelog holds no change twice), and a further run is
// one stream.
func TestOnePipelineStops(t *testing.T) {
	t.Parallel()
	onBothServers(t, testOnePipelineStops)
}

func testOnePipelineStops(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, c INT, v INT)")
	var seedRows strings.Builder
	for i := 1; i <= 200; i++ {
		if i > 1 {
			seedRows.WriteString(",")
		}
		fmt.Fprintf(&seedRows, "(%d, %d, %d, %d)", i, i, 10*i, 100*i)
	}
	myExec(t, my, "INSERT INTO "+db+".t VALUES "+seedRows.String())

	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	serverID := testServerID()
	head := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[3]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_all FROM binlog s.%[4]s.t INTO clickhouse dw.%[4]s.t_all WITH (flush_interval = '100ms');
CREATE PIPELINE p_log FROM binlog s.%[4]s.t TRANSFORM id, k, _op INTO clickhouse dw.%[4]s.t_log MODE changelog WITH (flush_interval = '100ms');
`, myDSN, chDSN, serverID, db)
	writeFile(t, file, head+fmt.Sprintf(`CREATE PIPELINE p_c FROM binlog s.%[1]s.t
  TRANSFORM id, k, c + 1 AS c1 INTO clickhouse dw.%[1]s.t_c WITH (flush_interval = '100ms');
`, db))

	allMy := "SELECT id, k, IFNULL(v, 'NULL') FROM " + db + ".t ORDER BY id"
	allCH := "SELECT toString(id), toString(k), ifNull(toString(v), 'NULL') FROM " + db + ".t_all_current ORDER BY id"
	cMy := "SELECT id, k FROM " + db + ".t ORDER BY id"
	cCH := "SELECT toString(id), toString(k) FROM " + db + ".t_c_current ORDER BY id"

	a := startApply(t, state, file)
	a.waitSame(t, my, ch, allMy, allCH, 90*time.Second)
	a.waitSame(t, my, ch, cMy, cCH, 60*time.Second)

	// The column p_c names is dropped while a writer runs.
	w := startDDLWriter(t, myDSN, db+".t", 10000)
	time.Sleep(500 * time.Millisecond)
	myExec(t, my, "ALTER TABLE "+db+".t DROP COLUMN c")
	time.Sleep(time.Second)
	a.waitFor(t, "p_c stops with its own error", 60*time.Second, func() (bool, string) {
		return strings.Contains(a.out.String(), "pipeline stopped"), "no pipeline stopped yet"
	})
	// The others go on meanwhile, over enough rows that p_c's catch-up
	// takes a while.
	for i := 0; i < 100; i++ {
		var rows strings.Builder
		for j := 1; j <= 2000; j++ {
			if j > 1 {
				rows.WriteString(",")
			}
			fmt.Fprintf(&rows, "(%d, %d)", 1000000+i*2000+j, j)
		}
		myExec(t, my, "INSERT INTO "+db+".t (id, k) VALUES "+rows.String())
	}
	w.halt()
	if w.ops.Load() == 0 {
		t.Fatalf("the writer made no change (%d errors)", w.errors.Load())
	}
	a.running(t)
	// p_all follows the rows written after the DROP…
	a.waitSame(t, my, ch, allMy, allCH, 90*time.Second)
	// …and the source's checkpoint passes them.
	file0, pos0 := masterPos(t, my)
	a.waitFor(t, "the checkpoint passes the writes after the DROP", 30*time.Second, func() (bool, string) {
		f, p := checkpointPos(t, filepath.Join(state, "source-s.json"))
		return f > file0 || (f == file0 && p >= pos0), fmt.Sprintf("checkpoint %s:%d, server %s:%d", f, p, file0, pos0)
	})
	// The binlog is rotated (FLUSH LOGS, a backup tool's, logrotate's):
	// the source's idle checkpoint moves to the end of the new file's
	// header events, where p_c's catch-up must end to rejoin. (It ran on
	// to the next commit before, and kept its own stream: its reader
	// looked for its end at commits and rotations only.)
	myExec(t, my, "FLUSH BINARY LOGS")
	file1, pos1 := masterPos(t, my)
	a.waitFor(t, "the checkpoint moves to the new binlog file", 30*time.Second, func() (bool, string) {
		f, p := checkpointPos(t, filepath.Join(state, "source-s.json"))
		return f == file1, fmt.Sprintf("checkpoint %s:%d, server %s:%d after the rotation", f, p, file1, pos1)
	})
	if f, p := checkpointPos(t, filepath.Join(state, "source-s.json")); p != pos1 {
		t.Logf("the source's checkpoint is at %s:%d, not at the end of the new file's header (%d): the server had other writes", f, p, pos1)
	}
	out := a.out.String()
	for _, want := range []string{
		"pipeline p_c", `unknown column \"c\"`, db + ".t", "p.etl:6:20", // c + 1
		"position", "the other pipelines of source s go on", "fix the pipeline",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the stop does not say %q:\n%s", want, out)
		}
	}

	// Stopped by the user, the run says a pipeline had stopped.
	a.stopFailing(t)

	// More changes while etlq is stopped, then the file is fixed.
	w = startDDLWriter(t, myDSN, db+".t", 20000)
	time.Sleep(time.Second)
	w.halt()
	own := filepath.Join(state, "source-s@p_c.json")
	stoppedFile, stoppedPos := checkpointPos(t, own)
	if stoppedFile == "" {
		t.Fatalf("p_c has no checkpoint of its own (%s)", own)
	}
	// The fixed p_c writes through a slow proxy in small inserts (one
	// batch of 500 rows each: insert_rows too, or one long INSERT carries
	// them all): its catch-up lasts long enough to be killed in the middle.
	px := newCHProxy(t, chDSN)
	px.slow(20 * time.Millisecond)
	writeFile(t, file, head+fmt.Sprintf(`CREATE SINK slow INTO clickhouse 'clickhouse://%[2]s';
CREATE PIPELINE p_c FROM binlog s.%[1]s.t
  TRANSFORM id, k INTO clickhouse slow.%[1]s.t_c WITH (flush_interval = '100ms', batch_rows = 500, insert_rows = 500, max_inflight = 1);
`, db, px.addr()))
	// The replica ids of etlq's streams: the source's, and p_c's own
	// (docs/live-tables.md, "One failing pipeline").
	host, _ := os.Hostname()
	aloneID := fmt.Sprint(mysql.DeriveServerID(fmt.Sprintf("s:%d@p_c", serverID), host+":"+state))
	ours := func() []string {
		var ids []string
		for _, h := range myRows(t, my, "SHOW SLAVE HOSTS") {
			if id := strings.SplitN(h, "|", 2)[0]; id == fmt.Sprint(serverID) || id == aloneID {
				ids = append(ids, id)
			}
		}
		return ids
	}

	// p_c catches up from its own checkpoint before it rejoins the
	// source's stream: killed (-9) in the middle of it.
	a = startApply(t, state, file)
	a.waitFor(t, "p_c's catch-up starts", 120*time.Second, func() (bool, string) {
		return strings.Contains(a.out.String(), "catching up a stopped pipeline"), "no catch-up logged"
	})
	a.waitFor(t, "p_c's checkpoint moves in its catch-up", 60*time.Second, func() (bool, string) {
		f, p := checkpointPos(t, own)
		return f != stoppedFile || p != stoppedPos, fmt.Sprintf("%s:%d", f, p)
	})
	a.cmd.Process.Kill()
	<-a.done
	if out := a.out.String(); strings.Contains(out, "rejoined its stream") {
		t.Fatalf("p_c's catch-up ended before the kill (the test kills nothing in the middle):\n%s", out)
	}
	outKilled := a.out.String()
	px.slow(0)

	// Again, a writer running: p_c catches up, rejoins, and the source is
	// read by one binlog connection.
	w = startDDLWriter(t, myDSN, db+".t", 30000)
	a = startApply(t, state, file)
	a.waitFor(t, "p_c rejoins the source's stream", 180*time.Second, func() (bool, string) {
		return strings.Contains(a.out.String(), "rejoined its stream"), fmt.Sprintf("replicas %v", ours())
	})
	if _, err := os.Stat(own); !os.IsNotExist(err) {
		t.Errorf("%s is still there after p_c rejoined (%v)", own, err)
	}
	time.Sleep(time.Second)
	w.halt()
	a.waitSame(t, my, ch, cMy, cCH, 90*time.Second)
	a.waitSame(t, my, ch, allMy, allCH, 90*time.Second)
	a.waitFor(t, "one binlog connection, the source's", 30*time.Second, func() (bool, string) {
		ids := ours()
		return len(ids) == 1 && ids[0] == fmt.Sprint(serverID), fmt.Sprintf("replicas %v (source %d, p_c alone %s)", ids, serverID, aloneID)
	})
	for i := 0; i < 8; i++ {
		if ids := ours(); len(ids) != 1 || ids[0] != fmt.Sprint(serverID) {
			t.Fatalf("etlq reads the binlog as replicas %v (source %d, p_c alone %s), not once:\n%s", ids, serverID, aloneID, a.out.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
	out2 := a.stop(t)
	for _, want := range []string{"resuming a stopped pipeline from its own checkpoint", "caught up with the source and rejoined its stream"} {
		if !strings.Contains(out2, want) {
			t.Errorf("the run after the fix does not say %q:\n%s", want, out2)
		}
	}
	diffRows(t, myRows(t, my, cMy), chRows(t, ch, cCH))
	diffRows(t, myRows(t, my, allMy), chRows(t, ch, allCH))
	// p_log replayed nothing: no change of the stream twice.
	if d := chRows(t, ch, fmt.Sprintf("SELECT toString(count() - uniqExact(_pos, id, _op)) FROM %s.t_log", db)); len(d) != 1 || d[0] != "0" {
		t.Errorf("p_log holds changes twice: %v", d)
	}
	// A further run is one stream from the source's checkpoint, every
	// pipeline in it.
	myExec(t, my, "INSERT INTO "+db+".t (id, k) VALUES (99999, 1)")
	out3 := mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	for _, not := range []string{"stopped pipeline", "own checkpoint"} {
		if strings.Contains(out3, not) {
			t.Errorf("the run after the rejoin says %q:\n%s", not, out3)
		}
	}
	if _, err := os.Stat(own); !os.IsNotExist(err) {
		t.Errorf("%s is back (%v)", own, err)
	}
	diffRows(t, myRows(t, my, cMy), chRows(t, ch, cCH))
	diffRows(t, myRows(t, my, allMy), chRows(t, ch, allCH))
	if d := chRows(t, ch, fmt.Sprintf("SELECT toString(count() - uniqExact(_pos, id, _op)) FROM %s.t_log", db)); len(d) != 1 || d[0] != "0" {
		t.Errorf("p_log holds changes twice: %v", d)
	}
	if t.Failed() {
		t.Logf("first run:\n%s\nkilled run:\n%s\nrun after the fix:\n%s\nlast run:\n%s", out, outKilled, out2, out3)
	}
}

// TestStoppedPipelineStopsAgain: a pipeline stopped alone by a row it
// cannot take (on_error = 'fail'), its file not fixed, stops again at the
// same row in its catch-up on the next run, keeps its own checkpoint, and
// the other pipeline of the source goes on. Fixed, while the source's
// checkpoint is behind its own (as after a run killed before the source's
// checkpoint passed the stop), the other pipeline catches up with its
// checkpoint, then it rejoins the source's stream: its own checkpoint
// gone, both targets equal to the source. A writer runs while etlq
// streams and while it is stopped.
func TestStoppedPipelineStopsAgain(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my, ch := s.db, s.my, s.ch
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, qty VARCHAR(10) NOT NULL DEFAULT '1')",
			"INSERT INTO "+db+".t VALUES (1, 1, '5'), (2, 2, '6'), (3, 3, '7')")
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		write := func(qty string) {
			writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[3]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_ok FROM binlog s.%[4]s.t INTO clickhouse dw.%[4]s.t_ok WITH (flush_interval = '100ms');
CREATE PIPELINE p_bad FROM binlog s.%[4]s.t TRANSFORM id, k, %[5]s AS q INTO clickhouse dw.%[4]s.t_bad WITH (flush_interval = '100ms');
`, myDSN, s.chDSN, testServerID(), db, qty))
		}
		write("CAST(qty AS INT64)")
		myQ := "SELECT id, k, qty FROM " + db + ".t ORDER BY id"
		okQ := "SELECT toString(id), toString(k), qty FROM " + db + ".t_ok_current ORDER BY id"
		badQ := "SELECT toString(id), toString(k), toString(q) FROM " + db + ".t_bad_current ORDER BY id"
		a := startApply(t, state, file)
		a.waitSame(t, my, ch, myQ, okQ, 90*time.Second)
		a.waitSame(t, my, ch, myQ, badQ, 60*time.Second)
		// The source's checkpoint before the stop (its snapshot done), to
		// play a run killed before its checkpoint passed the stop (below).
		var early []byte
		a.waitFor(t, "the source's checkpoint after the snapshot", 30*time.Second, func() (bool, string) {
			early, _ = os.ReadFile(filepath.Join(state, "source-s.json"))
			return strings.Contains(string(early), `"done":true`), string(early)
		})

		w := startDDLWriter(t, myDSN, db+".t", 10000)
		time.Sleep(300 * time.Millisecond)
		myExec(t, my, "INSERT INTO "+db+".t VALUES (500, 5, 'x7')")
		a.waitFor(t, "p_bad stops alone", 60*time.Second, func() (bool, string) {
			return strings.Contains(a.out.String(), "pipeline stopped; the other pipelines of the source go on"), "no pipeline stopped yet"
		})
		time.Sleep(500 * time.Millisecond)
		w.halt()
		a.waitSame(t, my, ch, myQ, okQ, 90*time.Second)
		a.stopFailing(t)
		own := filepath.Join(state, "source-s@p_bad.json")
		f0, p0 := checkpointPos(t, own)
		if f0 == "" {
			t.Fatalf("p_bad has no checkpoint of its own:\n%s", a.out.String())
		}

		// Changes while etlq is stopped; the file is not fixed.
		w = startDDLWriter(t, myDSN, db+".t", 20000)
		time.Sleep(time.Second)
		w.halt()
		out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		if err == nil || !strings.Contains(out, "catching up a stopped pipeline") || !strings.Contains(out, "pipeline p_bad stopped") ||
			!strings.Contains(out, "id = 500") || strings.Contains(out, "rejoined its stream") {
			t.Errorf("the run with p_bad not fixed (%v) does not stop it again at the same row:\n%s", err, out)
		}
		if f, p := checkpointPos(t, own); f != f0 || p != p0 {
			t.Errorf("p_bad's checkpoint moved from %s:%d to %s:%d though it stopped again", f0, p0, f, p)
		}
		diffRows(t, myRows(t, my, myQ), chRows(t, ch, okQ))

		// Fixed, but the source's checkpoint is behind p_bad's own (as
		// after a kill right after the stop): p_ok catches up with p_bad's
		// checkpoint first, then p_bad rejoins.
		write("CAST(CASE WHEN qty = 'x7' THEN '7' ELSE qty END AS INT64)")
		if err := os.WriteFile(filepath.Join(state, "source-s.json"), early, 0o644); err != nil {
			t.Fatal(err)
		}
		out = mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		if !strings.Contains(out, "the source's pipelines catch up with it before it rejoins") || !strings.Contains(out, "rejoined its stream") {
			t.Errorf("p_bad, ahead of the source's checkpoint, does not rejoin after the source's catch-up:\n%s", out)
		}
		if _, err := os.Stat(own); !os.IsNotExist(err) {
			t.Errorf("%s is still there after p_bad rejoined (%v)", own, err)
		}
		diffRows(t, myRows(t, my, myQ), chRows(t, ch, okQ))
		diffRows(t, myRows(t, my, "SELECT id, k, IF(qty = 'x7', '7', qty) FROM "+db+".t ORDER BY id"), chRows(t, ch, badQ))
	})
}

// masterPos is the server's binlog file and position now.
func masterPos(t *testing.T, my *client.Conn) (string, uint64) {
	t.Helper()
	rows := myRows(t, my, "SHOW MASTER STATUS")
	if len(rows) == 0 {
		t.Fatal("SHOW MASTER STATUS: no row")
	}
	f := strings.Split(rows[0], "|")
	p, _ := strconv.ParseUint(f[1], 10, 64)
	return f[0], p
}

// checkpointPos is the binlog file and position of a checkpoint file.
func checkpointPos(t *testing.T, path string) (string, uint64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return "", 0
	}
	var st struct {
		Mark struct {
			File string `json:"file"`
			Pos  uint64 `json:"pos"`
		} `json:"mark"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return st.Mark.File, st.Mark.Pos
}

// TestBlockedWriterHoldsItsPipelineOnly (issue #12, part B): a pipeline
// whose writer blocks — its ClickHouse unreachable here; a slow ALTER …
// MODIFY COLUMN of a widening or a table copied for a wider key block the
// same way, inside the writer's Write — does not hold the other pipelines
// of its source: their targets follow the writer while it waits. When its
// server is back, it catches up; both end equal to the source.
func TestBlockedWriterHoldsItsPipelineOnly(t *testing.T) {
	t.Parallel()
	s := newScratch(t, testenv.MySQLDSN(t))
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0)",
		"INSERT INTO "+db+".t VALUES (1, 1), (2, 2), (3, 3)")
	px := newCHProxy(t, chDSN)
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE SINK far INTO clickhouse 'clickhouse://%[3]s';
CREATE PIPELINE p_fast FROM binlog s.%[5]s.t INTO clickhouse dw.%[5]s.t_fast WITH (flush_interval = '100ms');
CREATE PIPELINE p_slow FROM binlog s.%[5]s.t INTO clickhouse far.%[5]s.t_slow WITH (flush_interval = '100ms', max_inflight = 1);
`, testenv.MySQLDSN(t), chDSN, px.addr(), testServerID(), db))
	myQ := "SELECT id, k FROM " + db + ".t ORDER BY id"
	fastQ := "SELECT toString(id), toString(k) FROM " + db + ".t_fast_current ORDER BY id"
	slowQ := "SELECT toString(id), toString(k) FROM " + db + ".t_slow_current ORDER BY id"
	a := startApply(t, state, file)
	a.waitSame(t, my, ch, myQ, fastQ, 90*time.Second)
	a.waitSame(t, my, ch, myQ, slowQ, 60*time.Second)

	px.cut()
	w := startDDLWriter(t, testenv.MySQLDSN(t), db+".t", 100)
	time.Sleep(3 * time.Second)
	w.halt()
	// p_fast follows while p_slow's writer waits for its server.
	a.waitSame(t, my, ch, myQ, fastQ, 30*time.Second)
	if n := len(chRows(t, ch, slowQ)); n >= len(myRows(t, my, myQ)) {
		t.Fatalf("p_slow has every row (%d) while its server was away: the test blocks nothing", n)
	}
	px.restore()
	a.waitSame(t, my, ch, myQ, slowQ, 90*time.Second)
	a.running(t)
	a.stop(t)
}

// TestRejoinJoinsTheSchemaHistory: a stopped pipeline that alone reads a
// table, and that stopped again in its catch-up (so that the source's
// stream ran without the table), rejoins with that table's schema history
// and snapshot progress, joined into the source's checkpoint: after the
// rejoin, rows written
// before and after an ALTER … FIRST made while etlq is stopped decode right
// (on the server-default metadata too, where no table map names the
// columns), and the table is not read again (its changelog holds its
// snapshot rows once). A writer runs on the other pipeline's table.
func TestRejoinJoinsTheSchemaHistory(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my, ch := s.db, s.my, s.ch
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t1 (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0)",
			"CREATE TABLE "+db+".t2 (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, q VARCHAR(10) NOT NULL DEFAULT '1')",
			"INSERT INTO "+db+".t1 VALUES (1, 1), (2, 2), (3, 3)",
			"INSERT INTO "+db+".t2 VALUES (1, 1, '10'), (2, 2, '20'), (3, 3, '30'), (4, 4, '40')")
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		sid := testServerID()
		write := func(expr string) {
			writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[3]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_a FROM binlog s.%[4]s.t1 INTO clickhouse dw.%[4]s.t1 WITH (flush_interval = '100ms');
CREATE PIPELINE p_b FROM binlog s.%[4]s.t2 TRANSFORM id, k, %[5]s AS x, _op INTO clickhouse dw.%[4]s.t2_log MODE changelog WITH (flush_interval = '100ms');
`, myDSN, s.chDSN, sid, db, expr))
		}
		apply := func() (string, error) {
			return runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		}
		write("CAST(q AS INT64)")
		mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		myExec(t, my, "INSERT INTO "+db+".t2 VALUES (5, 5, 'x7')")
		w := startDDLWriter(t, myDSN, db+".t1", 10000)
		out, err := apply()
		w.halt()
		if err == nil || !strings.Contains(out, "pipeline stopped; the other pipelines of the source go on") {
			t.Fatalf("p_b does not stop alone (%v):\n%s", err, out)
		}
		// Not fixed, it stops again in its catch-up, and the source's stream
		// runs without it (its checkpoint then lacks t2).
		myExec(t, my, "INSERT INTO "+db+".t2 (id, k) VALUES (6, 6)")
		if out, err := apply(); err == nil || !strings.Contains(out, "pipeline p_b stopped") {
			t.Fatalf("p_b does not stop again (%v):\n%s", err, out)
		}
		write("CAST(CASE WHEN q = 'x7' THEN '7' ELSE q END AS INT64)")
		myExec(t, my, "INSERT INTO "+db+".t2 (id, k) VALUES (66, 6)")
		w = startDDLWriter(t, myDSN, db+".t1", 20000)
		out = mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		w.halt()
		if !strings.Contains(out, "rejoined its stream") {
			t.Fatalf("p_b does not rejoin:\n%s", out)
		}
		// While etlq is stopped: rows before and after a column added first.
		myExec(t, my, "INSERT INTO "+db+".t2 (id, k) VALUES (7, 7)", "UPDATE "+db+".t2 SET k = 11 WHERE id = 1",
			"ALTER TABLE "+db+".t2 ADD COLUMN z INT NOT NULL DEFAULT 9 FIRST",
			"INSERT INTO "+db+".t2 (id, k, z) VALUES (8, 8, 1)", "UPDATE "+db+".t2 SET k = 22 WHERE id = 2")
		w = startDDLWriter(t, myDSN, db+".t1", 30000)
		out2 := mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		w.halt()
		mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		if strings.Contains(out2, "stopped pipeline") || strings.Contains(out2, "snapshot") {
			t.Errorf("the run after the rejoin catches up or reads again:\n%s", out2)
		}
		diffRows(t, myRows(t, my, "SELECT id, k FROM "+db+".t1 ORDER BY id"),
			chRows(t, ch, "SELECT toString(id), toString(k) FROM "+db+".t1_current ORDER BY id"))
		// The changelog's last change of each key is the source's row.
		diffRows(t, myRows(t, my, "SELECT id, k, IF(q = 'x7', '7', q) FROM "+db+".t2 ORDER BY id"),
			chRows(t, ch, "SELECT toString(id), toString(argMax(k, _version)), toString(argMax(x, _version)) FROM "+db+".t2_log WHERE _op != 'delete' GROUP BY id ORDER BY id"))
		if got := chRows(t, ch, "SELECT toString(count()) FROM "+db+".t2_log WHERE _op = 'read'"); len(got) != 1 || got[0] != "4" {
			t.Errorf("t2 was read again: %v snapshot rows, want 4", got)
		}
		if d := chRows(t, ch, "SELECT toString(count() - uniqExact(_pos, id, _op)) FROM "+db+".t2_log"); len(d) != 1 || d[0] != "0" {
			t.Errorf("p_b's changelog holds changes twice: %v", d)
		}
		if t.Failed() {
			t.Logf("rejoin:\n%s\nafter:\n%s", out, out2)
		}
	})
}

// TestColumnRenamedWhileStopped: a column a pipeline names in its
// TRANSFORM is renamed while etlq is stopped. The start used to plan the
// file against today's table and refuse it whole ("unknown column d"), so
// no pipeline ran; the file fixed (d → dd), the pipeline stopped at every
// start in the replay of the changes before the rename, whose table still
// had d: it could go on with neither file (new-user trial: Sakila's
// payment_date renamed under a changelog pipeline). Now the pipeline is
// planned as its checkpoint has the table, takes the changes before the
// rename and stops alone at it while the others go on; the file fixed, it
// takes the rest.
func TestColumnRenamedWhileStopped(t *testing.T) {
	t.Parallel()
	onBothServers(t, testColumnRenamedWhileStopped)
}

func testColumnRenamedWhileStopped(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, d INT, e VARCHAR(10))",
		"INSERT INTO "+db+".t VALUES (1, 10, 'a')")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	src := `CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_all FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t_all;
CREATE PIPELINE p_log FROM binlog s.%[3]s.t TRANSFORM id, %[5]s, _op INTO clickhouse dw.%[3]s.t_log MODE changelog;
`
	writeFile(t, file, fmt.Sprintf(src, myDSN, chDSN, db, testServerID(), "d"))
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	myExec(t, my,
		"INSERT INTO "+db+".t VALUES (2, 20, 'b')",
		"ALTER TABLE "+db+".t CHANGE COLUMN d dd INT",
		"INSERT INTO "+db+".t VALUES (3, 30, 'c')",
		"UPDATE "+db+".t SET dd = 11 WHERE id = 1")
	out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err == nil || !strings.Contains(out, "pipeline p_log stopped") || !strings.Contains(out, `unknown column "d"`) {
		t.Fatalf("the unfixed file: want p_log stopped alone at the rename, got %v\n%s", err, out)
	}
	myQ := fmt.Sprintf("SELECT id, CAST(dd AS CHAR), e FROM %s.t ORDER BY id", db)
	diffRows(t, myRows(t, my, myQ), chRows(t, ch, fmt.Sprintf("SELECT toString(id), toString(dd), e FROM %s.t_all_current ORDER BY id", db)))
	logQ := fmt.Sprintf("SELECT toString(id), toString(%%s), _op FROM %s.t_log ORDER BY _version", db)
	diffRows(t, []string{"1|10|read", "2|20|insert"}, chRows(t, ch, fmt.Sprintf(logQ, "d")))

	writeFile(t, file, fmt.Sprintf(src, myDSN, chDSN, db, testServerID(), "dd"))
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	diffRows(t, []string{"1|10|read", "2|20|insert", "3|30|insert", "1|11|update"}, chRows(t, ch, fmt.Sprintf(logQ, "dd")))
	diffRows(t, myRows(t, my, myQ), chRows(t, ch, fmt.Sprintf("SELECT toString(id), toString(dd), e FROM %s.t_all_current ORDER BY id", db)))
}

// TestStoppedAgainIsLogged: a stopped pipeline that stops again in its
// catch-up (the file, or its target, not fixed) says so in the log when
// it stops, as the first stop did, while apply goes on with the others.
// Before, the catch-up's error was kept for the end of the run: a
// running apply showed only etlq_pipeline_stopped 1, no reason, until it
// was stopped (new-user trial).
func TestStoppedAgainIsLogged(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my, ch := s.db, s.my, s.ch
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, qty VARCHAR(10) NOT NULL)",
			"INSERT INTO "+db+".t VALUES (1, '5'), (2, 'x6')")
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[3]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_ok FROM binlog s.%[4]s.t INTO clickhouse dw.%[4]s.t_ok WITH (flush_interval = '100ms');
CREATE PIPELINE p_bad FROM binlog s.%[4]s.t TRANSFORM id, CAST(qty AS INT64) AS q INTO clickhouse dw.%[4]s.t_bad WITH (flush_interval = '100ms');
`, myDSN, s.chDSN, testServerID(), db))
		if out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file); err == nil || !strings.Contains(out, "pipeline p_bad stopped") {
			t.Fatalf("want p_bad stopped by the row 'x6', got %v:\n%s", err, out)
		}
		myExec(t, my, "INSERT INTO "+db+".t VALUES (3, '7')")
		a := startApply(t, state, file)
		a.waitSame(t, my, ch, "SELECT id, qty FROM "+db+".t ORDER BY id", "SELECT toString(id), qty FROM "+db+".t_ok_current ORDER BY id", 60*time.Second)
		a.waitFor(t, "the log says p_bad stopped again", 30*time.Second, func() (bool, string) {
			out := a.out.String()
			return strings.Contains(out, "pipeline stopped; the other pipelines of the source go on") && strings.Contains(out, "pipeline=p_bad"), "not yet"
		})
		a.stopFailing(t)
	})
}
