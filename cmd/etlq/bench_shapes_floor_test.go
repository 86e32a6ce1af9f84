package main

// The servers' floors for the hard shapes (issue #17): beside a shape
// phase's etlq runs, the same rounds time what MariaDB and ClickHouse
// alone do with that phase's data, as BenchmarkCatchUpFloor and
// BenchmarkSnapshotFloor do for the plain table: the ClickHouse insert of
// exactly the rows etlq inserted (clickhouse-client, from a Native file),
// and MariaDB's read of what etlq reads (the phase's binlog window, or the
// tables scanned over etlq's number of snapshot connections). A phase
// whose floor per byte is already under half the plain catch-up's cannot
// meet the "within 2× of the catch-up per byte" goal, however fast etlq
// gets. ETLQ_BENCH_NO_FLOORS=1 leaves the floors out.

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/etlq/etlq/connectors/testenv"
)

// shapeFloor is the floors of one shape phase, measured in the phase's
// rounds beside etlq.
type shapeFloor struct {
	e      *shapeEnv
	p      *phase
	target string                    // etlq's ClickHouse table in the phase
	etl    func(table string) string // the phase's .etl file, writing into table instead
	// inserted is the number of rows etlq inserts into ClickHouse in one
	// run (one per change or snapshot row), checked on the capture.
	inserted int
	// sourceName says what source reads (for the log); readSource
	// times it and fails the benchmark when it read the wrong amount.
	sourceName string
	readSource func() time.Duration

	cli                 []string // clickhouse-client and its connection flags
	native              string   // the Native file of etlq's rows, once captured
	nativeSize          int64
	sink, source, ratio []time.Duration // per round; ratio in millionths
	// parts, sinkParts: the level-0 parts etlq's inserts and the sink
	// floor's made, per round (Durations, for median).
	parts, sinkParts []time.Duration
	keep             bool // etlq's runs keep the target: count each run's own parts
}

// keepsTarget says that the phase's etlq runs write into a target kept
// from before (the delete after the update), so each run's parts are
// those it added.
func (f *shapeFloor) keepsTarget() *shapeFloor {
	if f != nil {
		f.keep = true
	}
	return f
}

// floorsWanted says whether the shape benchmarks measure the servers'
// floors: yes unless ETLQ_BENCH_NO_FLOORS is set.
func floorsWanted() bool { return os.Getenv("ETLQ_BENCH_NO_FLOORS") == "" }

// floor returns the floors of phase p, or nil when they are not measured
// (ETLQ_BENCH_NO_FLOORS, or no clickhouse-client: then skipped with a log
// line, failed under CI=true).
func (e *shapeEnv) floor(p *phase, target string, inserted int, etl func(string) string, sourceName string, readSource func() time.Duration) *shapeFloor {
	e.b.Helper()
	if !floorsWanted() {
		return nil
	}
	if e.cli == nil {
		e.cli = clickhouseClient(e.b, e.chDSN)
	}
	return &shapeFloor{e: e, p: p, target: target, etl: etl, inserted: inserted,
		sourceName: sourceName, readSource: readSource, cli: e.cli}
}

// round runs one round of the phase: etlq (run, which must add one run to
// the phase) and, when f is not nil, both floors, alternating who goes
// first as the floor benchmarks do (the servers' caches and merges favour
// whoever comes second). The first round runs etlq first: the floors'
// table schema is the one etlq creates.
func (f *shapeFloor) round(round int, run func()) {
	if f == nil {
		run()
		return
	}
	b := f.e.b
	etlq := func() {
		f.e.waitMerges()
		var before time.Duration // the parts of earlier runs still there
		if f.keep {
			before = insertParts(b, f.e.ch, f.e.chDB, f.target)
		}
		run()
		f.parts = append(f.parts, insertParts(b, f.e.ch, f.e.chDB, f.target)-before)
	}
	sides := []func(){etlq, f.runSink, f.runSource}
	if round%2 == 1 {
		slices.Reverse(sides)
	}
	for _, s := range sides {
		s()
	}
	sink, source := f.sink[len(f.sink)-1], f.source[len(f.source)-1]
	wall := f.p.walls[len(f.p.walls)-1]
	floor := max(sink, source)
	ratio := float64(wall) / float64(floor)
	f.ratio = append(f.ratio, time.Duration(ratio*1e6))
	b.Logf("%s round %d (load %s): etlq %s (%d parts inserted); sink floor (clickhouse-client, %d rows, %.1f MiB Native) %s (%d parts); source floor (%s) %s; etlq / max(floors) %.2f×",
		f.p.name, round+1, loadAverage(), wall.Round(time.Millisecond), f.parts[len(f.parts)-1], f.inserted, float64(f.nativeSize)/(1<<20),
		sink.Round(time.Millisecond), f.sinkParts[len(f.sinkParts)-1], f.sourceName, source.Round(time.Millisecond), ratio)
	if sch, _ := f.e.srv.last(f.p.name + "_sink"); f.e.srv.ch.pid != 0 && f.e.srv.my.pid != 0 {
		_, smy := f.e.srv.last(f.p.name + "_source")
		b.Logf("%s: servers' CPU: ClickHouse %s during the sink floor, MariaDB %s during the source floor",
			f.p.name, sch.Round(10*time.Millisecond), smy.Round(10*time.Millisecond))
	}
}

// capture writes the Native file of the rows one etlq run of the phase
// inserts: an untimed run into a fresh copy of etlq's target table (made
// by the phase's first run) that a materialized view mirrors, block for
// block, into a plain MergeTree (the ReplacingMergeTree would merge rows
// of one key away), dumped with SELECT * … FORMAT Native.
func (f *shapeFloor) capture() {
	b, e := f.e.b, f.e
	db, base := e.chDB, f.p.name+"_floor"
	tpl, in, cp := db+"."+base+"_tpl", db+"."+base+"_in", db+"."+base+"_cap"
	testenv.ClickHouseExec(b, e.ch,
		fmt.Sprintf("CREATE TABLE %s AS %s.%s", tpl, db, f.target),
		fmt.Sprintf("CREATE TABLE %s AS %s", in, tpl),
		fmt.Sprintf("CREATE TABLE %s AS %s ENGINE = MergeTree() ORDER BY tuple()", cp, tpl),
		fmt.Sprintf("CREATE MATERIALIZED VIEW %s_mv TO %s AS SELECT * FROM %s", cp, cp, in))
	state, err := os.MkdirTemp(e.dir, "state")
	if err != nil {
		b.Fatal(err)
	}
	runMeasured(b, nil, etlqBin, "apply", "--once", "--progress", "never", "--state-dir", state, f.etl(base+"_in"))
	testenv.ClickHouseExec(b, e.ch, "DROP TABLE "+cp+"_mv")
	if got := testenv.ClickHouseQuery(b, e.ch, "SELECT toString(count()) FROM "+cp); got[0][0] != strconv.Itoa(f.inserted) {
		b.Fatalf("%s: etlq inserted %s rows, want %d", f.p.name, got[0][0], f.inserted)
	}
	f.native = fmt.Sprintf("%s/%s.native", e.dir, base)
	clickhouseDump(b, f.cli, "SELECT * FROM "+cp, f.native)
	f.nativeSize = fileSize(b, f.native)
	// Gone before anything is timed: no background merges of them.
	testenv.ClickHouseExec(b, e.ch, "DROP TABLE "+cp, "DROP TABLE "+in, "DROP TABLE IF EXISTS "+in+"_current")
}

// runSink times clickhouse-client inserting the captured rows into a
// fresh table of etlq's schema, dropped again after the count.
func (f *shapeFloor) runSink() {
	if f.native == "" {
		f.capture()
	}
	b, e := f.e.b, f.e
	table := e.chDB + "." + f.p.name + "_floor_sink"
	testenv.ClickHouseExec(b, e.ch,
		"DROP TABLE IF EXISTS "+table,
		fmt.Sprintf("CREATE TABLE %s AS %s.%s_floor_tpl", table, e.chDB, f.p.name))
	e.waitMerges()
	var wall time.Duration
	e.srv.measure(f.p.name+"_sink", func() { wall, _ = clickhouseInsertFile(b, f.cli, table, f.native) })
	if got := testenv.ClickHouseQuery(b, e.ch, "SELECT toString(count()) FROM "+table); got[0][0] == "0" {
		b.Fatalf("%s: the sink floor inserted no rows", f.p.name)
	}
	f.sinkParts = append(f.sinkParts, insertParts(b, e.ch, e.chDB, f.p.name+"_floor_sink"))
	testenv.ClickHouseExec(b, e.ch, "DROP TABLE "+table)
	f.sink = append(f.sink, wall)
}

func (f *shapeFloor) runSource() {
	var wall time.Duration
	f.e.srv.measure(f.p.name+"_source", func() { wall = f.readSource() })
	f.source = append(f.source, wall)
}

// report gives the floors' medians: <phase>_sink_floor_s,
// <phase>_source_floor_s, <phase>_floor_s (the larger of a round's two),
// <phase>_of_floor (etlq's wall over the larger floor of the same round),
// <phase>_parts and <phase>_sink_floor_parts (the level-0 parts etlq's
// inserts and the sink floor's made), and <phase>_floor_of_catchup_per_byte: the larger floor's rate per byte
// as a fraction of the plain catch-up's — the best an etlq that cost
// nothing and overlapped both servers perfectly could reach on the
// goal's scale (goal ≥ 0.5).
func (f *shapeFloor) report(ref catchUpRef) {
	if f == nil || len(f.ratio) == 0 {
		return
	}
	b, name := f.e.b, f.p.name
	floors := make([]time.Duration, len(f.sink))
	for i := range floors {
		floors[i] = max(f.sink[i], f.source[i])
	}
	floor := median(floors).Seconds()
	b.ReportMetric(median(f.sink).Seconds(), name+"_sink_floor_s")
	b.ReportMetric(median(f.source).Seconds(), name+"_source_floor_s")
	b.ReportMetric(floor, name+"_floor_s")
	b.ReportMetric(float64(median(f.ratio))/1e6, name+"_of_floor")
	b.ReportMetric(float64(median(f.parts)), name+"_parts")
	b.ReportMetric(float64(median(f.sinkParts)), name+"_sink_floor_parts")
	if ref.bytesPerSec > 0 && f.p.bytes > 0 {
		b.ReportMetric(float64(f.p.bytes)/floor/ref.bytesPerSec, name+"_floor_of_catchup_per_byte")
	}
	lo, hi := slices.Min(f.ratio), slices.Max(f.ratio)
	b.Logf("%s: etlq / max(floors): median %.2f×, %.2f – %.2f× over %d rounds", name,
		float64(median(f.ratio))/1e6, float64(lo)/1e6, float64(hi)/1e6, len(f.ratio))
}

// binlogFloor returns a source floor reading the binlog window [from, to)
// with a replication client that only parses event headers
// (readBinlogOnly), under a server id of its own.
func (e *shapeEnv) binlogFloor(from, to binlogPos) func() time.Duration {
	return func() time.Duration {
		return readBinlogOnly(e.b, e.myDSN, uint32(e.serverID+2), from, to)
	}
}

// scanFloor returns a source floor scanning one table of rows rows as
// BenchmarkSnapshotFloor does (scanParallel: chunks of
// snapshotFloorChunk ids over snapshotFloorConns connections).
func (e *shapeEnv) scanFloor(table string, rows int) func() time.Duration {
	return func() time.Duration {
		cfg, err := testenv.ParseMySQLDSN(e.myDSN)
		if err != nil {
			e.b.Fatal(err)
		}
		wall, n := scanParallel(e.b, cfg.Addr, cfg.User, cfg.Password,
			"SELECT * FROM "+table+" WHERE id BETWEEN ? AND ?", rows)
		if n != rows {
			e.b.Fatalf("the source floor read %d rows of %s, want %d", n, table, rows)
		}
		return wall
	}
}

// tablesFloor returns a source floor reading whole tables over
// snapshotFloorConns connections, each taking the next table: a prepared
// SELECT * (the binary protocol, as etlq's snapshot), executed, its rows
// read and discarded, closed. It fails unless rows rows were read.
func (e *shapeEnv) tablesFloor(tables []string, rows int) func() time.Duration {
	return func() time.Duration {
		b := e.b
		cfg, err := testenv.ParseMySQLDSN(e.myDSN)
		if err != nil {
			b.Fatal(err)
		}
		wall, total, err := readParallel(cfg.Addr, cfg.User, cfg.Password, tables, func(c *client.Conn) (func(string) (int, error), error) {
			return func(t string) (int, error) {
				st, err := c.Prepare("SELECT * FROM " + t)
				if err != nil {
					return 0, fmt.Errorf("%s: %w", t, err)
				}
				n := 0
				var res gm.Result
				err = st.ExecuteSelectStreaming(&res, func([]gm.FieldValue) error { n++; return nil }, nil)
				if cerr := st.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return n, fmt.Errorf("%s: %w", t, err)
				}
				return n, nil
			}, nil
		})
		if err != nil {
			b.Fatalf("scanning: %v", err)
		}
		if total != rows {
			b.Fatalf("the source floor read %d rows, want %d", total, rows)
		}
		return wall
	}
}

// waitMerges waits (up to a minute) until ClickHouse merges no parts of
// the run's database: the merges an earlier run's parts started — etlq's
// target is kept across a phase's rounds when the phase keepsTarget — go on
// in the background on the cores the next timed run needs, and fell to
// whoever came next (etlq or the sink floor). Each side starts with
// ClickHouse idle; the merges its own parts start during it are its own.
func (e *shapeEnv) waitMerges() {
	e.b.Helper()
	start := time.Now()
	for {
		got := testenv.ClickHouseQuery(e.b, e.ch, fmt.Sprintf("SELECT toString(count()) FROM system.merges WHERE database = '%s'", e.chDB))
		if got[0][0] == "0" {
			if d := time.Since(start); d > time.Second {
				e.b.Logf("waited %s for ClickHouse's merges in %s", d.Round(100*time.Millisecond), e.chDB)
			}
			return
		}
		if time.Since(start) > time.Minute {
			e.b.Logf("ClickHouse still merging %s parts in %s after a minute: timing with them running", got[0][0], e.chDB)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// loadAverage returns the 1-minute load average (/proc/loadavg), or "?".
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	var one string
	fmt.Sscan(string(data), &one)
	return one
}
