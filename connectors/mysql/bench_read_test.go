package mysql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	gm "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

var errWindowEnd = errors.New("end of the window")

// BenchmarkBinlogRead receives a 200,000-row window of the catch-up's
// row size over the network and parses its events (rows kept raw, as the
// source does; nothing decoded into Arrow), once with go-mysql's
// BinlogSyncer as the source used it and once with its own dump reader
// (binlog_dump.go), alternating in each iteration. It reports each one's
// CPU (this process: user + system) and bytes allocated per million rows
// of the window (which also holds the other clients' events of the moment).
func BenchmarkBinlogRead(b *testing.B) {
	const n = 200000
	s := server{"full", envOr("ETLQ_TEST_MYSQL_DSN", "mysql://root@127.0.0.1:3316")}
	db, start, end := binlogWindow(b, s, "bench_binlog_read", n)
	defer run(b, s, "DROP DATABASE "+db)
	cfg, _ := ParseDSN(s.dsn)
	sc := func() replication.BinlogSyncerConfig {
		return replication.BinlogSyncerConfig{ServerID: 5000 + uint32(time.Now().UnixNano()%1000), Flavor: "mariadb",
			Host: cfg.Host, Port: cfg.Port, User: cfg.User, Password: cfg.Password, Charset: "utf8mb4",
			TimestampStringLocation: time.UTC, RenderJSONAsMySQLText: true, HeartbeatPeriod: time.Second,
			ReadTimeout: 8 * time.Second, Dialer: coarseDeadlineDialer, DisableRetrySync: true,
			Logger: slog.New(slog.DiscardHandler), RowsEventDecodeFunc: decodeRowsHook}
	}
	// atEnd counts the rows of an event and reports whether the window ends there.
	file := start.File
	var rows int
	atEnd := func(ev *replication.BinlogEvent) bool {
		switch e := ev.Event.(type) {
		case *replication.RotateEvent:
			file = string(e.NextLogName)
		case *replication.RowsEvent:
			if len(e.Rows) > 0 {
				if raw, ok := e.Rows[len(e.Rows)-1][0].(rawRows); ok && len(raw) > 0 {
					rows++
				}
			}
		}
		return ev.Header.LogPos > 0 && (binlogPos{File: file, Pos: ev.Header.LogPos}).cmp(end) >= 0
	}
	syncer := func() {
		c := sc()
		c.SynchronousEventHandler = handlerFunc(func(ev *replication.BinlogEvent) error {
			if atEnd(ev) {
				return errWindowEnd
			}
			return nil
		})
		sy := replication.NewBinlogSyncer(c)
		defer sy.Close()
		bs, err := sy.StartSync(gm.Position{Name: start.File, Pos: start.Pos})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := bs.GetEvent(context.Background()); !errors.Is(err, errWindowEnd) && !strings.Contains(fmt.Sprint(err), errWindowEnd.Error()) {
			b.Fatal(err)
		}
	}
	dump := func() {
		d, err := startDump(context.Background(), sc(), gm.Position{Name: start.File, Pos: start.Pos})
		if err != nil {
			b.Fatal(err)
		}
		err = d.run(func(it binlogItem) error {
			stop := atEnd(it.ev)
			it.release()
			if stop {
				return errWindowEnd
			}
			return nil
		})
		d.close(false)
		if !errors.Is(err, errWindowEnd) {
			b.Fatal(err)
		}
	}
	var cpu, alloc [2]float64
	want := -1
	measure := func(i int, f func()) {
		file, rows = start.File, 0
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		c0 := cpuNow()
		f()
		cpu[i] += (cpuNow() - c0).Seconds()
		runtime.ReadMemStats(&m1)
		alloc[i] += float64(m1.TotalAlloc - m0.TotalAlloc)
		if want < 0 {
			want = rows
		}
		if rows < n/1000 || rows != want {
			b.Fatalf("rows events: %d, want %d (at least %d)", rows, want, n/1000)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		measure(0, syncer)
		measure(1, dump)
	}
	m := float64(b.N) * n / 1e6
	b.ReportMetric(cpu[0]/m, "gomysql_cpu_s/M")
	b.ReportMetric(cpu[1]/m, "dump_cpu_s/M")
	b.ReportMetric(alloc[0]/m/(1<<20), "gomysql_MiB/M")
	b.ReportMetric(alloc[1]/m/(1<<20), "dump_MiB/M")
}

// handlerFunc adapts a function to go-mysql's EventHandler.
type handlerFunc func(e *replication.BinlogEvent) error

func (f handlerFunc) HandleEvent(e *replication.BinlogEvent) error { return f(e) }

// cpuNow is this process's user + system time.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
