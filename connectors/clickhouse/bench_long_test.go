package clickhouse

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/exec"
)

// BenchmarkLongInsertWide: a busy stream of 300-column rows (100 Int64,
// 100 strings of 24 bytes, 100 Float64; ~3.4 KB of Arrow a row), 20,000
// rows a round in batches of 500, written as fast as the writer takes
// them into an upsert table with the default options but flush_interval
// 60 s (so that only the INSERTs' own bounds end them, whatever the
// machine's load). It reports the level-0 parts the inserts made, the
// Go heap's peak while writing (sampled every 5 ms), the wall and CPU
// time of the process per round.
func BenchmarkLongInsertWide(b *testing.B) {
	e := newEnv(b, nil)
	ctx := context.Background()
	var fields []arrow.Field
	fields = append(fields, arrow.Field{Name: "id", Type: arrow.PrimitiveTypes.Int64})
	for i := 0; i < 99; i++ {
		fields = append(fields, arrow.Field{Name: "i" + strconv.Itoa(i), Type: arrow.PrimitiveTypes.Int64, Nullable: true})
	}
	for i := 0; i < 100; i++ {
		fields = append(fields, arrow.Field{Name: "s" + strconv.Itoa(i), Type: arrow.BinaryTypes.String, Nullable: true})
	}
	for i := 0; i < 100; i++ {
		fields = append(fields, arrow.Field{Name: "f" + strconv.Itoa(i), Type: arrow.PrimitiveTypes.Float64, Nullable: true})
	}
	s := sinktest.SinkSchema(fields, false)
	const rows, per = 20000, 500
	// batch builds the rows from..from+per of a round.
	batch := func(round, from int) *exec.Batch {
		rb := array.NewRecordBuilder(memory.DefaultAllocator, s)
		defer rb.Release()
		pad := strings.Repeat("x", 16)
		for r := from; r < from+per; r++ {
			id := int64(r)
			for k, f := range s.Fields() {
				bl := rb.Field(k)
				switch {
				case f.Name == "id":
					bl.(*array.Int64Builder).Append(id)
				case f.Name == exec.SysVersion:
					bl.(*array.Uint64Builder).Append(uint64(round*rows + r + 1))
				case f.Name == exec.SysDeleted:
					bl.(*array.Uint8Builder).Append(0)
				case f.Name == exec.SysOp:
					bl.(*array.StringBuilder).Append("insert")
				case f.Name == exec.SysPos:
					bl.(*array.StringBuilder).Append("binlog.000001:" + strconv.Itoa(r))
				case f.Name == exec.SysTs:
					bl.(*array.TimestampBuilder).Append(arrow.Timestamp(time.Now().UnixMicro()))
				default:
					switch bb := bl.(type) {
					case *array.Int64Builder:
						bb.Append(id * int64(k))
					case *array.StringBuilder:
						bb.Append(fmt.Sprintf("%s%08d", pad, r+k))
					case *array.Float64Builder:
						bb.Append(float64(id) / float64(k+1))
					default:
						b.Fatalf("column %s: %T", f.Name, bl)
					}
				}
			}
		}
		return &exec.Batch{Record: rb.NewRecordBatch(), DB: "src", Table: "t"}
	}
	var parts, peak float64
	var wall, cpu time.Duration
	for n := 0; n < b.N; n++ {
		table := "wide" + strconv.Itoa(n)
		w, err := e.sink.Open(ctx, e.target(table, connectors.ModeUpsert, []string{"id"}, s, map[string]any{"flush_interval": "60s"}))
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var mu sync.Mutex
		var top uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			var ms runtime.MemStats
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				runtime.ReadMemStats(&ms)
				mu.Lock()
				top = max(top, ms.HeapInuse)
				mu.Unlock()
			}
		}()
		start, c0 := time.Now(), cpuTime(b)
		for from := 0; from < rows; from += per {
			if err := w.Write(ctx, batch(n, from), nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		wall += time.Since(start)
		cpu += cpuTime(b) - c0
		close(stop)
		<-sampled
		peak += float64(top) / (1 << 20)
		w.Close()
		p, err := strconv.Atoi(strings.TrimSpace(e.insertParts(table)))
		if err != nil {
			b.Fatal(err)
		}
		parts += float64(p)
	}
	b.ReportMetric(parts/float64(b.N), "parts")
	b.ReportMetric(peak/float64(b.N), "heap_peak_MiB")
	b.ReportMetric(wall.Seconds()/float64(b.N), "wall_s")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu_s")
}
