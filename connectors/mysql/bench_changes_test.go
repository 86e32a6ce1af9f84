package mysql

import (
	"context"
	"fmt"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/etlq/etlq/connectors"
)

// BenchmarkBinlogDecodeChanges decodes a binlog window shaped like the
// catch-up benchmark's (cmd/etlq BenchmarkCatchUpVsNaiveLoader): 200,000
// row changes of the orders table in 5,000-row transactions, 100,000
// inserts, 70,000 updates, 30,000 deletes, with the before.* columns
// (what an upsert pipeline asks for). The raw events are fetched once; each
// iteration runs them through the source's binlog path (raw row images →
// Arrow batches, metadata, marks), nothing else: the CPU the source costs
// per change, steady across runs on a loaded machine (cpu_ns/row is the
// process's user + system time).
func BenchmarkBinlogDecodeChanges(b *testing.B) {
	s := server{"full", envOr("ETLQ_TEST_MYSQL_DSN", "mysql://root@127.0.0.1:3316")}
	w := changesWindowOnce(b, s)
	src := newSrc(b, s, nil)
	src.cfg.Flavor = "mariadb"
	tbl, start, raw, changes := w.tbl, w.start, w.raw, w.changes
	benchBeforeModes(b, src, tbl, start, raw, changes)
}

// benchBeforeModes decodes the window raw once per iteration as two
// sub-benchmarks: before=all, every before.* value (a changelog's,
// canal_json's); before=key, only the primary key's (an upsert's:
// connectors.BeforeCols). cpu_ns/row is the process's CPU per change.
func benchBeforeModes(b *testing.B, src *Source, tbl *table, start binlogPos, raw [][]byte, changes int) {
	for _, c := range []struct {
		name   string
		before connectors.BeforeCols
	}{{"before=all", connectors.BeforeCols{}}, {"before=key", connectors.BeforeCols{Some: true}}} {
		b.Run(c.name, func(b *testing.B) {
			cpu0 := processCPU()
			for i := 0; i < b.N; i++ {
				if got := decodeChanges(b, src, tbl, start, raw, c.before); got != changes {
					b.Fatalf("decoded %d changes, want %d", got, changes)
				}
			}
			cpu := processCPU() - cpu0
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*changes), "cpu_ns/row")
			b.ReportMetric(float64(b.N*changes)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// decodeChanges runs the source's binlog path, with the before.* values
// asked for and 50,000-row batches (the defaults), over the raw events and
// returns the rows it produced.
func decodeChanges(b *testing.B, src *Source, t *table, start binlogPos, raw [][]byte, before connectors.BeforeCols) int {
	st := &stream{name: "bench",
		streamConfig: streamConfig{src: src, mem: memory.DefaultAllocator, log: slog.New(slog.DiscardHandler), maxRows: 50000, maxBytes: defaultBatchBytes, flavor: "mariadb", needBinlog: true,
			req: connectors.StreamRequest{Before: true, Tables: []connectors.StreamTable{{Ref: t.Ref, Before: before}}}},
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

// processCPU returns the user + system CPU time of this process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// changesWindow is the raw binlog window of BenchmarkBinlogDecodeChanges,
// written and fetched once per test binary: the benchmark function runs
// several times (growing b.N), and the writing is the slow part.
type changesWindow struct {
	tbl     *table
	start   binlogPos
	raw     [][]byte
	changes int
}

var changesWin *changesWindow

func changesWindowOnce(b *testing.B, s server) *changesWindow {
	if changesWin != nil {
		return changesWin
	}
	const chunk, chunks = 5000, 20
	db := fmt.Sprintf("bench_decode_changes_%d", time.Now().UnixNano()%100000)
	run(b, s, "CREATE DATABASE "+db)
	defer run(b, s, "DROP DATABASE "+db)
	run(b, s, "CREATE TABLE "+db+`.orders (id BIGINT NOT NULL PRIMARY KEY, customer VARCHAR(64) NOT NULL, email VARCHAR(128) NULL,
		amount DECIMAL(12,2) NOT NULL, created_at DATETIME(6) NOT NULL, qty INT NOT NULL,
		status ENUM('new','paid','shipped','cancelled') NOT NULL, score DOUBLE NOT NULL)`)
	c := conn(b, s)
	defer c.Close()
	start, _, err := masterStatus(c, "")
	if err != nil {
		b.Fatal(err)
	}
	t := db + ".orders"
	changes := 0
	for k := 0; k < chunks; k++ {
		lo, hi := k*chunk+1, (k+1)*chunk
		run(b, s, fmt.Sprintf(`INSERT INTO %s SELECT seq, CONCAT('customer-', seq %% 50000),
  IF(seq %% 10 = 0, NULL, CONCAT('user', seq, '@example.com')), (seq * 37 %% 10000000) / 100,
  TIMESTAMPADD(MICROSECOND, seq * 7919123, '2025-01-01 00:00:00'), seq %% 1000,
  ELT(1 + seq %% 4, 'new', 'paid', 'shipped', 'cancelled'), seq / 7 FROM %s.seq_%d_to_%d`, t, db, lo, hi))
		changes += chunk
		if k%10 < 7 {
			run(b, s, fmt.Sprintf("UPDATE %s SET qty = qty + 1, amount = amount + 1.25, status = 'paid', created_at = created_at + INTERVAL 1 SECOND, email = CONCAT('new-', id, '@example.com') WHERE id BETWEEN %d AND %d", t, lo, hi))
			changes += chunk
		}
		if k%10 < 3 {
			run(b, s, fmt.Sprintf("DELETE FROM %s WHERE id BETWEEN %d AND %d", t, lo, hi))
			changes += chunk
		}
	}
	end, _, err := masterStatus(c, "")
	if err != nil {
		b.Fatal(err)
	}
	raw := fetchRaw(b, s, start, end)
	src := newSrc(b, s, nil)
	src.cfg.Flavor = "mariadb"
	tc, err := src.connect(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	tbl, err := readTable(tc, connectors.TableRef{DB: db, Table: "orders"})
	tc.Close()
	if err != nil {
		b.Fatal(err)
	}
	changesWin = &changesWindow{tbl: tbl, start: start, raw: raw, changes: changes}
	return changesWin
}
