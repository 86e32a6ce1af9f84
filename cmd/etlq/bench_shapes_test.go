package main

// The hard shapes of issue #17: etlq must stay bounded (peak RSS ≤ 256 MiB
// with default options) and keep within 2× of the plain catch-up's rate per
// byte on a 5,000,000-row transaction, 1,000 tables under one pattern, a
// 300-column table and rows of 1 MiB values. Each benchmark builds its data
// in a MariaDB database of its own (testenv.UniqueName), runs etlq apply
// --once as a child process per phase, reports that phase's peak RSS,
// rows/s, MB/s and CPU seconds, and drops its databases at the end.
// docs/benchmarks.md ("Hard shapes") has the figures.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors/testenv"
)

// shapeEnv is one shape benchmark's servers, databases and scratch dir.
type shapeEnv struct {
	b            *testing.B
	myDSN, chDSN string
	my           *client.Conn
	ch           driver.Conn
	db, chDB     string // MariaDB and ClickHouse databases of this run
	dir          string
	serverID     int
	ref          catchUpRef // the plain catch-up's rates per byte
	srv          *servers   // the servers' CPU during each etlq run and floor
	cli          []string   // clickhouse-client, for the floors (bench_shapes_floor_test.go)
}

// catchUpRef is the plain catch-up's wall and CPU rates per binlog byte.
type catchUpRef struct {
	bytesPerSec  float64
	cpuSecPerMiB float64
}

// newShapeEnv opens the servers, measures the plain catch-up once per
// test binary (before this benchmark writes its own data, which would
// make the catch-up's window stale), and makes the run's databases,
// dropped at the end.
func newShapeEnv(b *testing.B) *shapeEnv {
	e := &shapeEnv{b: b, myDSN: testenv.MySQLDSN(b), chDSN: testenv.ClickHouseDSN(b)}
	e.my = testenv.MySQLConn(b, e.myDSN)
	e.ch = testenv.ClickHouseConn(b, e.chDSN)
	e.ref = catchUpReference(b, e.myDSN, e.chDSN)
	e.srv = newServers(b, e.chDSN, e.myDSN)
	e.db = testenv.UniqueName(b)
	e.chDB = e.db
	e.dir = b.TempDir()
	e.serverID = 1_000_000 + rand.IntN(1<<30)
	testenv.Exec(b, e.my, "DROP DATABASE IF EXISTS "+e.db, "CREATE DATABASE "+e.db)
	testenv.ClickHouseExec(b, e.ch, "CREATE DATABASE IF NOT EXISTS "+e.chDB)
	b.Cleanup(func() {
		e.my.Execute("DROP DATABASE IF EXISTS " + e.db)
		e.ch.Exec(context.Background(), "DROP DATABASE IF EXISTS "+e.chDB)
	})
	return e
}

// exec runs statements on MariaDB, logging the slow ones.
func (e *shapeEnv) exec(sql ...string) {
	e.b.Helper()
	start := time.Now()
	testenv.Exec(e.b, e.my, sql...)
	if d := time.Since(start); d > 5*time.Second {
		e.b.Logf("setup: %s… took %s", firstLine(sql[0], 60), d.Round(time.Millisecond))
	}
}

// settle waits until InnoDB has purged what the setup's statements left
// behind — the old versions of a large UPDATE's rows, the delete-marked
// rows of a large DELETE — which MariaDB does in the background for tens of
// seconds after such a statement (a 5M-row DELETE: ~25 s at load 13), on
// the same two cores as the timed runs. Left running, it went to whoever
// ran first: in a quiet run MariaDB spent 1.2 – 1.3 s of CPU during etlq's
// first DELETE rounds against 0.1 s during the UPDATE's last ones
// (docs/benchmarks.md, session 19). Purge is done once its "Purge done for
// trx's n:o" has passed the "Trx id counter" read now (SHOW ENGINE INNODB
// STATUS); after two minutes (an open transaction elsewhere holds it) it
// goes on, saying so.
func (e *shapeEnv) settle(what string) {
	e.b.Helper()
	counter, ok := innodbStatusNumber(e.my, "Trx id counter ")
	if !ok {
		e.b.Logf("setup: %s: no trx id counter from SHOW ENGINE INNODB STATUS: not waiting for InnoDB's purge", what)
		return
	}
	start := time.Now()
	for {
		purged, ok := innodbStatusNumber(e.my, "Purge done for trx's n:o < ")
		if ok && purged >= counter {
			e.b.Logf("setup: %s: InnoDB purged it after %s", what, time.Since(start).Round(100*time.Millisecond))
			return
		}
		if time.Since(start) > 2*time.Minute {
			e.b.Logf("setup: %s: InnoDB purge not done after %s (at trx %d of %d): timing with it running", what, time.Since(start).Round(time.Second), purged, counter)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// innodbStatusNumber returns the number after prefix on a line of SHOW
// ENGINE INNODB STATUS; false when there is none or the statement failed
// (it needs the PROCESS privilege).
func innodbStatusNumber(my *client.Conn, prefix string) (uint64, bool) {
	r, err := my.Execute("SHOW ENGINE INNODB STATUS")
	if err != nil {
		return 0, false
	}
	defer r.Close()
	status, err := r.GetString(0, 2)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(status, "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, " ")
		n, err := strconv.ParseUint(num, 10, 64)
		return n, err == nil
	}
	return 0, false
}

func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// etl writes an .etl file with the source (start_at when given) and the
// ClickHouse sink, followed by the pipeline.
func (e *shapeEnv) etl(name string, startAt binlogPos, pipeline string) string {
	e.b.Helper()
	with := fmt.Sprintf("server_id = %d", e.serverID)
	if startAt.File != "" {
		with += fmt.Sprintf(", start_at = '%s'", startAt)
	}
	// ETLQ_BENCH_SOURCE_WITH adds source options, to compare them on a
	// shape (e.g. snapshot_protocol = 'text').
	if extra := os.Getenv("ETLQ_BENCH_SOURCE_WITH"); extra != "" {
		with += ", " + extra
	}
	src := fmt.Sprintf("-- %s\nCREATE SOURCE s FROM mysql '%s' WITH (%s);\nCREATE SINK dw INTO clickhouse '%s';\n%s\n",
		e.b.Name(), e.myDSN, with, e.chDSN, pipeline)
	file := filepath.Join(e.dir, name+".etl")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		e.b.Fatal(err)
	}
	return file
}

// apply runs etlq apply --once on file with a fresh state directory and
// checks that it read wantIn rows (when ≥ 0).
func (e *shapeEnv) apply(phase, file string, wantIn int) measured {
	e.b.Helper()
	state, err := os.MkdirTemp(e.dir, "state")
	if err != nil {
		e.b.Fatal(err)
	}
	args := []string{"apply", "--once", "--progress", "never", "--state-dir", state}
	prof := strings.TrimPrefix(e.b.Name(), "BenchmarkShape") + "-" + phase // e.g. LargeValues-stream
	args = append(args, cpuProfileArgs(e.b, prof)...)
	args = append(args, heapProfileArgs(e.b, prof)...)
	var r measured
	e.srv.measure(phase, func() {
		e.b.StartTimer()
		r = runMeasured(e.b, nil, etlqBin, append(args, file)...)
		e.b.StopTimer()
	})
	if ch, my := e.srv.last(phase); e.srv.ch.pid != 0 && e.srv.my.pid != 0 {
		e.b.Logf("%s: servers' CPU during etlq: ClickHouse %s, MariaDB %s", phase, ch.Round(10*time.Millisecond), my.Round(10*time.Millisecond))
	}
	if wantIn >= 0 {
		if n, ok := etlqLogInt(r.Output, "rows_in"); !ok || n != int64(wantIn) {
			e.b.Fatalf("%s: etlq read %d rows, want %d\n%s", phase, n, wantIn, tail(r.Output, 3000))
		}
	}
	return r
}

// phase is the runs of one phase of a shape benchmark.
type phase struct {
	name  string
	rows  int   // rows (changes) one run moves
	bytes int64 // payload bytes one run moves: its binlog window's size
	side
}

// report logs one run.
func (p *phase) add(b *testing.B, r measured) {
	p.side.add(r)
	b.Logf("%s: %s (CPU %s, peak RSS %d MiB), %.0f rows/s, %.1f MB/s", p.name,
		r.Wall.Round(time.Millisecond), r.CPU.Round(time.Millisecond), r.MaxRSSKiB>>10,
		float64(p.rows)/r.Wall.Seconds(), float64(p.bytes)/1e6/r.Wall.Seconds())
}

// report gives the phase's metrics: peak RSS, rows/s and MB/s at the
// median wall time, median CPU seconds and CPU ms per MiB, and its rate
// per byte as a fraction of the plain catch-up's, by wall time and by CPU
// time (goal ≥ 0.5; on a loaded machine the CPU one is the steadier).
func (p *phase) report(b *testing.B, ref catchUpRef) {
	wall := median(p.walls).Seconds()
	b.ReportMetric(p.peakMiB(), p.name+"_peak_MiB")
	b.ReportMetric(float64(p.rows)/wall, p.name+"_rows/s")
	b.ReportMetric(float64(p.bytes)/1e6/wall, p.name+"_MB/s")
	b.ReportMetric(p.cpuSeconds(), p.name+"_cpu_s")
	if p.bytes == 0 {
		return
	}
	cpuPerMiB := p.cpuSeconds() / (float64(p.bytes) / (1 << 20))
	b.ReportMetric(cpuPerMiB*1000, p.name+"_cpu_ms/MiB")
	if ref.bytesPerSec > 0 {
		b.ReportMetric(float64(p.bytes)/wall/ref.bytesPerSec, p.name+"_of_catchup_per_byte")
		b.ReportMetric(ref.cpuSecPerMiB/cpuPerMiB, p.name+"_cpu_of_catchup_per_byte")
	}
}

// shapeRounds is how many times each phase runs (ETLQ_BENCH_ROUNDS, else
// 1: building the data dominates; RSS, the figure that matters here, is
// steady).
func shapeRounds(b *testing.B) int {
	if os.Getenv("ETLQ_BENCH_ROUNDS") == "" {
		return 1
	}
	return benchRounds(b)
}

// heapProfileArgs returns --heap-profile DIR/NAME.heap.pprof when
// ETLQ_BENCH_HEAPPROFILE names a directory: the heap at etlq's peak (go
// tool pprof -sample_index=inuse_space -top DIR/NAME.heap.pprof).
func heapProfileArgs(b *testing.B, name string) []string {
	dir := os.Getenv("ETLQ_BENCH_HEAPPROFILE")
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(dir, name+".heap.pprof")
	b.Logf("etlq heap profile: %s", file)
	return []string{"--heap-profile", file}
}

var (
	catchUpRefOnce sync.Once
	catchUpRefs    catchUpRef
)

// catchUpReference runs etlq's plain catch-up (BenchmarkCatchUpVsNaiveLoader's
// window: 1M changes of a 100-byte row, ~96 MiB of binlog) once per test
// binary and returns its binlog bytes per second and CPU per MiB: the
// yardstick of the shapes' rates per byte. Zero when
// ETLQ_BENCH_NO_REFERENCE is set.
func catchUpReference(b *testing.B, myDSN, chDSN string) catchUpRef {
	b.Helper()
	if os.Getenv("ETLQ_BENCH_NO_REFERENCE") != "" {
		return catchUpRef{}
	}
	catchUpRefOnce.Do(func() {
		my := testenv.MySQLConn(b, myDSN)
		ch := testenv.ClickHouseConn(b, chDSN)
		w := ensureCDCWindow(b, my)
		chDB := "shape_ref_" + strings.ToLower(fmt.Sprintf("%x", rand.Uint32()))
		testenv.ClickHouseExec(b, ch, "CREATE DATABASE "+chDB)
		defer ch.Exec(context.Background(), "DROP DATABASE IF EXISTS "+chDB)
		dir := b.TempDir()
		file := filepath.Join(dir, "ref.etl")
		src := fmt.Sprintf(`CREATE SOURCE bench FROM mysql '%s' WITH (server_id = %d, start_at = '%s');
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE catchup FROM binlog bench.%s.%s SNAPSHOT never TRANSFORM * INTO clickhouse dw.%s.cdc_etlq;
`, myDSN, 1_000_000+rand.IntN(1<<30), w.Start, chDSN, benchDB, w.Table, chDB)
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
		r := runMeasured(b, nil, etlqBin, "apply", "--once", "--progress", "never", "--state-dir", filepath.Join(dir, "state"), file)
		bytes := binlogBytes(b, my, w.Start, w.End)
		catchUpRefs = catchUpRef{bytesPerSec: float64(bytes) / r.Wall.Seconds(), cpuSecPerMiB: r.CPU.Seconds() / (float64(bytes) / (1 << 20))}
		b.Logf("plain catch-up (the reference): %d changes, %.1f MiB of binlog in %s (CPU %s, peak RSS %d MiB): %.1f MB/s, %.1f ms CPU per MiB",
			w.Changes, float64(bytes)/(1<<20), r.Wall.Round(time.Millisecond), r.CPU.Round(time.Millisecond), r.MaxRSSKiB>>10,
			catchUpRefs.bytesPerSec/1e6, catchUpRefs.cpuSecPerMiB*1000)
	})
	return catchUpRefs
}

// BenchmarkShapeHugeTransaction: one UPDATE of 5,000,000 rows, then one
// DELETE of them, each a single transaction, streamed from the binlog into
// an upsert table (default options). The rows (id, qty, note: ~40 bytes)
// are written beforehand without binlog; the target starts empty, so the
// update phase inserts 5M rows and the delete phase 5M tombstones.
func BenchmarkShapeHugeTransaction(b *testing.B) {
	const n = 5_000_000
	e := newShapeEnv(b)
	t := e.db + ".big"
	e.exec(fmt.Sprintf("CREATE TABLE %s (id BIGINT NOT NULL PRIMARY KEY, qty INT NOT NULL, note VARCHAR(32) NOT NULL) ENGINE = InnoDB", t))
	e.exec("SET SESSION sql_log_bin = 0")
	for lo := 1; lo <= n; lo += 1_000_000 {
		e.exec(fmt.Sprintf("INSERT INTO %s SELECT seq, seq %% 1000, CONCAT('note-', seq) FROM %s.seq_%d_to_%d", t, e.db, lo, lo+999_999))
	}
	e.exec("SET SESSION sql_log_bin = 1")
	pipelineInto := func(table string) string {
		return fmt.Sprintf("CREATE PIPELINE big FROM binlog s.%s SNAPSHOT never TRANSFORM * INTO clickhouse dw.%s.%s;", t, e.chDB, table)
	}
	pipeline := pipelineInto("big")
	sums := func() string {
		return fmt.Sprint(testenv.ClickHouseQuery(b, e.ch, fmt.Sprintf(
			"SELECT toString(count()), toString(sum(qty)) FROM %s.big FINAL WHERE _is_deleted = 0", e.chDB)))
	}
	source := func() string {
		return fmt.Sprint(testenv.Query(b, e.my, fmt.Sprintf("SELECT COUNT(*), COALESCE(SUM(qty), 0) FROM %s", t)))
	}

	rounds := shapeRounds(b)
	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		s0 := masterStatus(b, e.my)
		e.exec(fmt.Sprintf("UPDATE %s SET qty = qty + 1, note = CONCAT('updated-', id)", t))
		s1 := masterStatus(b, e.my)
		e.settle("the UPDATE")
		upd := phase{name: "update", rows: n, bytes: binlogBytes(b, e.my, s0, s1)}
		file := e.etl("update", s0, pipeline)
		updFloor := e.floor(&upd, "big", n, func(table string) string { return e.etl("update_floor", s0, pipelineInto(table)) },
			"binlog stream", e.binlogFloor(s0, s1))
		for round := 0; round < rounds; round++ {
			updFloor.round(round, func() {
				testenv.ClickHouseExec(b, e.ch, "DROP TABLE IF EXISTS "+e.chDB+".big", "DROP TABLE IF EXISTS "+e.chDB+".big_current")
				upd.add(b, e.apply("update", file, n))
				if got, want := sums(), source(); strings.Trim(got, "[]") != strings.Trim(want, "[]") {
					b.Fatalf("after the update: ClickHouse (count, sum(qty)) %s, the source %s", got, want)
				}
			})
		}
		e.exec("DELETE FROM " + t)
		s2 := masterStatus(b, e.my)
		e.settle("the DELETE")
		del := phase{name: "delete", rows: n, bytes: binlogBytes(b, e.my, s1, s2)}
		file = e.etl("delete", s1, pipeline)
		delFloor := e.floor(&del, "big", n, func(table string) string { return e.etl("delete_floor", s1, pipelineInto(table)) },
			"binlog stream", e.binlogFloor(s1, s2)).keepsTarget()
		for round := 0; round < rounds; round++ {
			delFloor.round(round, func() {
				del.add(b, e.apply("delete", file, n))
				if got := sums(); got != "[[0 0]]" {
					b.Fatalf("after the delete: ClickHouse (count, sum(qty)) %s, want no rows", got)
				}
			})
		}
		upd.report(b, e.ref)
		updFloor.report(e.ref)
		del.report(b, e.ref)
		delFloor.report(e.ref)
		if i+1 < b.N { // the next iteration needs the rows again
			e.exec("SET SESSION sql_log_bin = 0",
				fmt.Sprintf("INSERT INTO %s SELECT seq, seq %% 1000, CONCAT('note-', seq) FROM %s.seq_1_to_%d", t, e.db, n),
				"SET SESSION sql_log_bin = 1")
		}
	}
}

// BenchmarkShapeManyTables: 1,000 tables of 1,000 rows under one pattern
// (FROM binlog db.t_*, one upsert target keyed by (_table, id)). Phases:
// startup (SNAPSHOT never, nothing to read: opening the stream over 1,000
// tables), the snapshot of all of them (SNAPSHOT only), and a binlog
// window of 1M updates spread over all tables (2 passes of one
// transaction per table, alternating tables).
func BenchmarkShapeManyTables(b *testing.B) {
	const tables, perTable = 1000, 1000
	e := newShapeEnv(b)
	e.exec("SET SESSION sql_log_bin = 0")
	var tableNames []string
	for k := 0; k < tables; k++ {
		tableNames = append(tableNames, fmt.Sprintf("%s.t_%04d", e.db, k))
		e.exec(fmt.Sprintf("CREATE TABLE %s.t_%04d (id BIGINT NOT NULL PRIMARY KEY, v INT NOT NULL, s VARCHAR(32) NOT NULL) ENGINE = InnoDB", e.db, k),
			fmt.Sprintf("INSERT INTO %s.t_%04d SELECT seq, seq %% 1000, CONCAT('row-', seq) FROM %s.seq_1_to_%d", e.db, k, e.db, perTable))
	}
	e.exec("SET SESSION sql_log_bin = 1")
	pattern := e.db + ".t_*"
	target := func(name string) string {
		return fmt.Sprintf("CREATE PIPELINE many FROM binlog s.%s %%s TRANSFORM _table, * INTO clickhouse dw.%s.%s KEY (_table, id);", pattern, e.chDB, name)
	}
	sums := func(table string) string {
		return fmt.Sprint(testenv.ClickHouseQuery(b, e.ch, fmt.Sprintf(
			"SELECT toString(count()), toString(sum(v)), toString(uniqExact(_table)) FROM %s.%s FINAL WHERE _is_deleted = 0", e.chDB, table)))
	}
	source := func() string {
		var cnt, sum int64
		rows := testenv.Query(b, e.my, fmt.Sprintf("SELECT COUNT(*), SUM(v) FROM %s.t_0000", e.db))
		fmt.Sscan(rows[0][0], &cnt)
		fmt.Sscan(rows[0][1], &sum)
		// Every table holds the same rows.
		return fmt.Sprintf("[[%d %d %d]]", cnt*tables, sum*tables, tables)
	}
	// The snapshot's bytes: the size of the rows' binlog row images
	// (id 8, v 4, s 1 + its length, the NULL bitmap 1), all tables alike.
	// (Measuring a binlog window instead would count the other tests'
	// events written meanwhile on the shared server.)
	var rowBytes int64
	fmt.Sscan(testenv.Query(b, e.my, fmt.Sprintf("SELECT SUM(14 + LENGTH(s)) FROM %s.t_0000", e.db))[0][0], &rowBytes)
	rowBytes *= tables

	rounds := shapeRounds(b)
	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		start := phase{name: "startup", rows: 0}
		file := e.etl("startup", binlogPos{}, fmt.Sprintf(target("startup"), "SNAPSHOT never"))
		for round := 0; round < rounds; round++ {
			start.add(b, e.apply("startup", file, -1))
		}
		snap := phase{name: "snapshot", rows: tables * perTable, bytes: rowBytes}
		file = e.etl("snapshot", binlogPos{}, fmt.Sprintf(target("snap"), "SNAPSHOT only"))
		snapFloor := e.floor(&snap, "snap", tables*perTable,
			func(table string) string {
				return e.etl("snapshot_floor", binlogPos{}, fmt.Sprintf(target(table), "SNAPSHOT only"))
			},
			fmt.Sprintf("%d connections reading the tables", snapshotFloorConns), e.tablesFloor(tableNames, tables*perTable))
		for round := 0; round < rounds; round++ {
			snapFloor.round(round, func() {
				testenv.ClickHouseExec(b, e.ch, "DROP TABLE IF EXISTS "+e.chDB+".snap", "DROP TABLE IF EXISTS "+e.chDB+".snap_current")
				snap.add(b, e.apply("snapshot", file, tables*perTable))
				if got, want := sums("snap"), source(); got != want {
					b.Fatalf("snapshot: ClickHouse (count, sum(v), tables) %s, the source %s", got, want)
				}
			})
		}
		s0 := masterStatus(b, e.my)
		for pass := 0; pass < 2; pass++ {
			for k := 0; k < tables; k++ {
				testenv.Exec(b, e.my, fmt.Sprintf("UPDATE %s.t_%04d SET v = v + 1 WHERE id %% 2 = %d", e.db, k, pass))
			}
		}
		s1 := masterStatus(b, e.my)
		e.settle("the updates")
		stream := phase{name: "stream", rows: tables * perTable, bytes: binlogBytes(b, e.my, s0, s1)}
		file = e.etl("stream", s0, fmt.Sprintf(target("stream"), "SNAPSHOT never"))
		streamFloor := e.floor(&stream, "stream", tables*perTable,
			func(table string) string {
				return e.etl("stream_floor", s0, fmt.Sprintf(target(table), "SNAPSHOT never"))
			},
			"binlog stream", e.binlogFloor(s0, s1))
		for round := 0; round < rounds; round++ {
			streamFloor.round(round, func() {
				testenv.ClickHouseExec(b, e.ch, "DROP TABLE IF EXISTS "+e.chDB+".stream", "DROP TABLE IF EXISTS "+e.chDB+".stream_current")
				stream.add(b, e.apply("stream", file, tables*perTable))
				if got, want := sums("stream"), source(); got != want {
					b.Fatalf("stream: ClickHouse (count, sum(v), tables) %s, the source %s", got, want)
				}
			})
		}
		b.ReportMetric(median(start.walls).Seconds(), "startup_s")
		b.ReportMetric(start.peakMiB(), "startup_peak_MiB")
		snap.report(b, e.ref)
		snapFloor.report(e.ref)
		stream.report(b, e.ref)
		streamFloor.report(e.ref)
	}
}

// wideColumns is the 300-column table's layout after its id: 100 INT,
// 100 VARCHAR(32) latin1 (utf8mb4 would pass InnoDB's 8 KB row limit),
// 50 DOUBLE, 49 DECIMAL(12,2); and the SELECT over a
// sequence that fills it.
func wideColumns() (ddl, sel string) {
	var d, s []string
	for c := 1; c < 300; c++ {
		switch {
		case c <= 100:
			d = append(d, fmt.Sprintf("i%03d INT NOT NULL", c))
			s = append(s, fmt.Sprintf("seq * %d %% 100000", c))
		case c <= 200:
			d = append(d, fmt.Sprintf("s%03d VARCHAR(32) CHARACTER SET latin1 NULL", c))
			s = append(s, fmt.Sprintf("IF(seq %% 10 = %d, NULL, CONCAT('v', seq + %d))", c%10, c))
		case c <= 250:
			d = append(d, fmt.Sprintf("f%03d DOUBLE NOT NULL", c))
			s = append(s, fmt.Sprintf("seq / %d", c))
		default:
			d = append(d, fmt.Sprintf("d%03d DECIMAL(12,2) NOT NULL", c))
			s = append(s, fmt.Sprintf("(seq * %d %% 1000000) / 100", c))
		}
	}
	return "(id BIGINT NOT NULL PRIMARY KEY,\n  " + strings.Join(d, ",\n  ") + ")",
		"SELECT seq, " + strings.Join(s, ", ")
}

// BenchmarkShapeWideTable: a 300-column table of 50,000 rows (~2.2 KB a
// row in the binlog), inserted in 1,000-row transactions and then updated
// (one column, full row images) in the same transactions: the snapshot of
// the table and the binlog window of its 100,000 changes.
func BenchmarkShapeWideTable(b *testing.B) {
	const n, chunk = 50_000, 1000
	e := newShapeEnv(b)
	t := e.db + ".wide"
	ddl, sel := wideColumns()
	e.exec(fmt.Sprintf("CREATE TABLE %s %s ENGINE = InnoDB", t, ddl))
	s0 := masterStatus(b, e.my)
	for lo := 1; lo <= n; lo += chunk {
		e.exec(fmt.Sprintf("INSERT INTO %s %s FROM %s.seq_%d_to_%d", t, sel, e.db, lo, lo+chunk-1))
	}
	s1 := masterStatus(b, e.my)
	for lo := 1; lo <= n; lo += chunk {
		e.exec(fmt.Sprintf("UPDATE %s SET i001 = i001 + 1 WHERE id BETWEEN %d AND %d", t, lo, lo+chunk-1))
	}
	s2 := masterStatus(b, e.my)
	e.settle("the updates")
	sums := func(table string) string {
		return fmt.Sprint(testenv.ClickHouseQuery(b, e.ch, fmt.Sprintf(
			"SELECT toString(count()), toString(sum(i001)), toString(sum(i100)), toString(countIf(isNull(s150))), toString(sum(d299)) FROM %s.%s FINAL WHERE _is_deleted = 0", e.chDB, table)))
	}
	want := fmt.Sprint(testenv.Query(b, e.my, fmt.Sprintf(
		"SELECT COUNT(*), SUM(i001), SUM(i100), SUM(s150 IS NULL), CAST(SUM(d299) AS CHAR) FROM %s", t)))

	rounds := shapeRounds(b)
	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		snap := phase{name: "snapshot", rows: n, bytes: binlogBytes(b, e.my, s0, s1)}
		snapInto := func(table string) string {
			return fmt.Sprintf("CREATE PIPELINE wide FROM binlog s.%s SNAPSHOT only TRANSFORM * INTO clickhouse dw.%s.%s;", t, e.chDB, table)
		}
		file := e.etl("snapshot", binlogPos{}, snapInto("snap"))
		snapFloor := e.floor(&snap, "snap", n, func(table string) string { return e.etl("snapshot_floor", binlogPos{}, snapInto(table)) },
			fmt.Sprintf("%d connections scanning", snapshotFloorConns), e.scanFloor(t, n))
		for round := 0; round < rounds; round++ {
			snapFloor.round(round, func() {
				testenv.ClickHouseExec(b, e.ch, "DROP TABLE IF EXISTS "+e.chDB+".snap", "DROP TABLE IF EXISTS "+e.chDB+".snap_current")
				snap.add(b, e.apply("snapshot", file, n))
				if got := sums("snap"); got != want {
					b.Fatalf("snapshot: ClickHouse %s, the source %s", got, want)
				}
			})
		}
		stream := phase{name: "stream", rows: 2 * n, bytes: binlogBytes(b, e.my, s0, s2)}
		streamInto := func(table string) string {
			return fmt.Sprintf("CREATE PIPELINE wide FROM binlog s.%s SNAPSHOT never TRANSFORM * INTO clickhouse dw.%s.%s;", t, e.chDB, table)
		}
		file = e.etl("stream", s0, streamInto("stream"))
		streamFloor := e.floor(&stream, "stream", 2*n, func(table string) string { return e.etl("stream_floor", s0, streamInto(table)) },
			"binlog stream", e.binlogFloor(s0, s2))
		for round := 0; round < rounds; round++ {
			streamFloor.round(round, func() {
				testenv.ClickHouseExec(b, e.ch, "DROP TABLE IF EXISTS "+e.chDB+".stream", "DROP TABLE IF EXISTS "+e.chDB+".stream_current")
				stream.add(b, e.apply("stream", file, 2*n))
				if got := sums("stream"); got != want {
					b.Fatalf("stream: ClickHouse %s, the source %s", got, want)
				}
			})
		}
		snap.report(b, e.ref)
		snapFloor.report(e.ref)
		stream.report(b, e.ref)
		streamFloor.report(e.ref)
	}
}

// BenchmarkShapeLargeValues: 64 rows each holding a 1 MiB JSON document
// and a 1 MiB BLOB, inserted in 8-row transactions and then updated (a
// small column, full row images: 4 MiB a row in the binlog): the snapshot
// of the table (128 MiB of values) and the binlog window of its 128
// changes (~384 MiB).
func BenchmarkShapeLargeValues(b *testing.B) {
	const n, chunk = 64, 8
	e := newShapeEnv(b)
	t := e.db + ".large"
	e.exec(fmt.Sprintf("CREATE TABLE %s (id BIGINT NOT NULL PRIMARY KEY, n INT NOT NULL, doc JSON NOT NULL, data LONGBLOB NOT NULL) ENGINE = InnoDB", t))
	s0 := masterStatus(b, e.my)
	for lo := 1; lo <= n; lo += chunk {
		e.exec(fmt.Sprintf(`INSERT INTO %s SELECT seq, seq,
  JSON_OBJECT('id', seq, 'pad', REPEAT(CHAR(97 + seq %% 26), 1048550)),
  REPEAT(UNHEX(LPAD(HEX(seq %% 256), 2, '0')), 1048576)
FROM %s.seq_%d_to_%d`, t, e.db, lo, lo+chunk-1))
	}
	s1 := masterStatus(b, e.my)
	for lo := 1; lo <= n; lo += chunk {
		e.exec(fmt.Sprintf("UPDATE %s SET n = n + 1 WHERE id BETWEEN %d AND %d", t, lo, lo+chunk-1))
	}
	s2 := masterStatus(b, e.my)
	e.settle("the updates")
	sums := func(table string) string {
		return fmt.Sprint(testenv.ClickHouseQuery(b, e.ch, fmt.Sprintf(
			"SELECT toString(count()), toString(sum(n)), toString(sum(length(doc))), toString(sum(length(data))), toString(sum(reinterpretAsUInt8(substring(data, 1000, 1)))) FROM %s.%s FINAL WHERE _is_deleted = 0", e.chDB, table)))
	}
	want := fmt.Sprint(testenv.Query(b, e.my, fmt.Sprintf(
		"SELECT COUNT(*), SUM(n), SUM(LENGTH(doc)), SUM(LENGTH(data)), SUM(ASCII(SUBSTRING(data, 1000, 1))) FROM %s", t)))

	rounds := shapeRounds(b)
	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		snap := phase{name: "snapshot", rows: n, bytes: binlogBytes(b, e.my, s0, s1)}
		file := e.etl("snapshot", binlogPos{}, fmt.Sprintf("CREATE PIPELINE large FROM binlog s.%s SNAPSHOT only TRANSFORM * INTO clickhouse dw.%s.snap;", t, e.chDB))
		for round := 0; round < rounds; round++ {
			testenv.ClickHouseExec(b, e.ch, "DROP TABLE IF EXISTS "+e.chDB+".snap", "DROP TABLE IF EXISTS "+e.chDB+".snap_current")
			snap.add(b, e.apply("snapshot", file, n))
			if got := sums("snap"); got != want {
				b.Fatalf("snapshot: ClickHouse %s, the source %s", got, want)
			}
		}
		stream := phase{name: "stream", rows: 2 * n, bytes: binlogBytes(b, e.my, s0, s2)}
		file = e.etl("stream", s0, fmt.Sprintf("CREATE PIPELINE large FROM binlog s.%s SNAPSHOT never TRANSFORM * INTO clickhouse dw.%s.stream;", t, e.chDB))
		for round := 0; round < rounds; round++ {
			testenv.ClickHouseExec(b, e.ch, "DROP TABLE IF EXISTS "+e.chDB+".stream", "DROP TABLE IF EXISTS "+e.chDB+".stream_current")
			stream.add(b, e.apply("stream", file, 2*n))
			if got := sums("stream"); got != want {
				b.Fatalf("stream: ClickHouse %s, the source %s", got, want)
			}
		}
		snap.report(b, e.ref)
		stream.report(b, e.ref)
	}
}
