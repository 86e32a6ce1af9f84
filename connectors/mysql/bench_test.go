package mysql

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	gm "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/etlq/etlq/connectors"
)

// BenchmarkBinlogDecode decodes the same binlog window (200k row changes of
// a table with common column types, fetched once as raw events) with
// go-mysql's own row decoding (boxed values) and with this source's path
// (raw row images straight into Arrow batches, versions, marks), and
// reports rows/s for both and their ratio.
func BenchmarkBinlogDecode(b *testing.B) {
	const n = 200000
	s := server{"full", envOr("ETLQ_TEST_MYSQL_DSN", "mysql://root@127.0.0.1:3316")}
	db, start, end := binlogWindow(b, s, "bench_binlog_decode", n)
	defer run(b, s, "DROP DATABASE "+db)
	raw := fetchRaw(b, s, start, end)

	src := newSrc(b, s, nil)
	src.cfg.Flavor = "mariadb"
	tc, err := src.connect(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	tbl, err := readTable(tc, connectors.TableRef{DB: db, Table: "ev"})
	tc.Close()
	if err != nil {
		b.Fatal(err)
	}

	var goRows, ourRows float64
	var goDur, ourDur time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		p := replication.NewBinlogParser()
		p.SetFlavor("mariadb")
		p.SetUseDecimal(true)
		rows := 0
		for _, e := range raw {
			ev, err := p.Parse(e)
			if err != nil {
				b.Fatal(err)
			}
			// only the window's table: other sessions may write meanwhile
			if re, ok := ev.Event.(*replication.RowsEvent); ok && re.Table != nil &&
				string(re.Table.Schema) == db && string(re.Table.Table) == "ev" {
				rows += len(re.Rows)
			}
		}
		goDur += time.Since(t0)
		goRows += float64(rows)

		t0 = time.Now()
		got := decodeOurs(b, src, tbl, start, raw)
		ourDur += time.Since(t0)
		ourRows += float64(got)
		if got != n || rows != n {
			b.Fatalf("rows: go-mysql %d, etlq %d, want %d", rows, got, n)
		}
	}
	goRate := goRows / goDur.Seconds()
	ourRate := ourRows / ourDur.Seconds()
	b.ReportMetric(goRate, "go-mysql-rows/s")
	b.ReportMetric(ourRate, "etlq-rows/s")
	b.ReportMetric(ourRate/goRate, "speedup")
}

// fetchRaw reads the raw events of [start, end) once.
func fetchRaw(b *testing.B, s server, start, end binlogPos) [][]byte {
	cfg, _ := ParseDSN(s.dsn)
	sy := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{ServerID: 4000 + uint32(time.Now().UnixNano()%1000), Flavor: "mariadb",
		Host: cfg.Host, Port: cfg.Port, User: cfg.User, Password: cfg.Password, RawModeEnabled: true, Logger: slog.New(slog.DiscardHandler)})
	defer sy.Close()
	bs, err := sy.StartSync(gm.Position{Name: start.File, Pos: 4})
	if err != nil {
		b.Fatal(err)
	}
	var out [][]byte
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	file := start.File
	for {
		ev, err := bs.GetEvent(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if re, ok := ev.Event.(*replication.RotateEvent); ok {
			if ev.Header.Timestamp != 0 && ev.Header.LogPos != 0 {
				out = append(out, append([]byte(nil), ev.RawData...))
			}
			file = string(re.NextLogName)
			continue
		}
		// Keep each file's FORMAT_DESCRIPTION and everything from start on.
		if ev.Header.EventType == replication.FORMAT_DESCRIPTION_EVENT || file != start.File || ev.Header.LogPos > start.Pos {
			out = append(out, append([]byte(nil), ev.RawData...))
		}
		if (binlogPos{File: file, Pos: ev.Header.LogPos}).cmp(end) >= 0 {
			return out
		}
	}
}

// decodeOurs runs the source's binlog path over the raw events and
// returns the rows it produced.
func decodeOurs(b *testing.B, src *Source, t *table, start binlogPos, raw [][]byte) int {
	st := &stream{name: "bench",
		streamConfig: streamConfig{src: src, mem: memory.DefaultAllocator, log: slog.New(slog.DiscardHandler), maxRows: 8192, maxBytes: defaultBatchBytes, flavor: "mariadb", needBinlog: true},
		streamTables: streamTables{byRef: map[connectors.TableRef]*tableState{}}}
	ts := &tableState{ref: t.Ref, mode: connectors.SnapshotNever, key: t.Ref.String(), cur: t, out: t}
	ts.snapDone.Store(true)
	st.tables = []*tableState{ts}
	st.byRef[t.Ref] = ts
	st.snap = newSnapshotter(st)
	r := newBinlogReader(st, st.snap, binlogPos{File: start.File, Pos: 4}, "")
	st.bin = r
	p := replication.NewBinlogParser()
	p.SetFlavor("mariadb")
	p.SetRowsEventDecodeFunc(decodeRowsHook)
	rows := 0
	for _, e := range raw {
		ev, err := p.Parse(e)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.handle(ev); err != nil {
			b.Fatal(err)
		}
		for _, bt := range st.out {
			rows += bt.NumRows()
			bt.Release()
		}
		st.out = st.out[:0]
	}
	return rows
}

// binlogWindow writes n rows of the benchmarks' event table (common column
// types) into a new database named after prefix and returns it with the
// binlog positions before and after them (the caller drops the database).
func binlogWindow(b *testing.B, s server, prefix string, n int) (db string, start, end binlogPos) {
	b.Helper()
	db = fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano()%100000)
	run(b, s, "CREATE DATABASE "+db)
	run(b, s, "CREATE TABLE "+db+`.ev (id BIGINT UNSIGNED PRIMARY KEY, customer VARCHAR(64), status ENUM('new','paid','shipped'),
		amount DECIMAL(12,2), qty INT, created DATETIME(6), note TEXT, score DOUBLE)`)
	c := conn(b, s)
	defer c.Close()
	start, _, err := masterStatus(c, "")
	if err != nil {
		b.Fatal(err)
	}
	for lo := 0; lo < n; lo += 1000 {
		var sb strings.Builder
		for i := lo; i < lo+1000; i++ {
			if i > lo {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "(%d,'customer-%d','paid',%d.%02d,%d,'2026-01-02 03:04:05.%06d','note %d',%d.5)", i, i%1000, i, i%100, i%7, i%1000000, i, i)
		}
		if _, err := c.Execute("INSERT INTO " + db + ".ev VALUES " + sb.String()); err != nil {
			b.Fatal(err)
		}
	}
	end, _, err = masterStatus(c, "")
	if err != nil {
		b.Fatal(err)
	}
	return db, start, end
}
