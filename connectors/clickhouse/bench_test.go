package clickhouse

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/shopspring/decimal"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/exec"
)

const (
	benchRows  = 1_000_000
	benchBatch = 100_000
)

func benchFields() []arrow.Field {
	return []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "customer", Type: arrow.BinaryTypes.String},
		{Name: "email", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "amount", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}},
		{Name: "qty", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
		{Name: "created_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "score", Type: arrow.PrimitiveTypes.Float64},
	}
}

// benchData is the same rows as Arrow batches (for the sink) and as the
// typed slices a hand-written clickhouse-go insert would append.
type benchData struct {
	batches []*exec.Batch
	raw     [][]any // per batch, per insert column
}

func makeBenchData(e *chEnv, s *arrow.Schema, tsAsInt bool) *benchData {
	d := &benchData{}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	for start := 0; start < benchRows; start += benchBatch {
		rb := array.NewRecordBuilder(e.mem, s)
		ids := make([]int64, benchBatch)
		cust := make([]string, benchBatch)
		email := make([]*string, benchBatch)
		ev := make([]string, benchBatch)
		score := make([]float64, benchBatch)
		amt := make([]decimal.Decimal, benchBatch)
		qty := make([]*uint32, benchBatch)
		qv := make([]uint32, benchBatch)
		tsI := make([]int64, benchBatch)
		tsT := make([]time.Time, benchBatch)
		ver := make([]uint64, benchBatch)
		del := make([]uint8, benchBatch)
		for j := 0; j < benchBatch; j++ {
			i := start + j
			ids[j] = int64(i)
			cust[j] = fmt.Sprintf("customer-%d", i%5000)
			if i%10 != 3 {
				ev[j] = fmt.Sprintf("user%d@example.com", i)
				email[j] = &ev[j]
			}
			score[j] = float64(i) / 7
			cents := int64(i%1000000) * 7
			amt[j] = decimal.New(cents, -2)
			if i%10 != 0 {
				qv[j] = uint32(i % 100)
				qty[j] = &qv[j]
			}
			tsI[j] = base + int64(i)*1000 + 123
			tsT[j] = time.UnixMicro(tsI[j]).UTC()
			ver[j] = uint64(i + 1)
			rb.Field(0).(*array.Int64Builder).Append(ids[j])
			rb.Field(1).(*array.StringBuilder).Append(cust[j])
			if email[j] != nil {
				rb.Field(2).(*array.StringBuilder).Append(ev[j])
			} else {
				rb.Field(2).AppendNull()
			}
			rb.Field(3).(*array.Decimal128Builder).Append(decimal128.FromI64(cents))
			if qty[j] != nil {
				rb.Field(4).(*array.Uint32Builder).Append(qv[j])
			} else {
				rb.Field(4).AppendNull()
			}
			rb.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(tsI[j]))
			rb.Field(6).(*array.Float64Builder).Append(score[j])
			rb.Field(7).(*array.Uint64Builder).Append(ver[j])
			rb.Field(8).(*array.Uint8Builder).Append(0)
			rb.Field(9).(*array.StringBuilder).Append("read")
			rb.Field(10).(*array.TimestampBuilder).Append(arrow.Timestamp(base))
			rb.Field(11).(*array.StringBuilder).Append("binlog.000001:4")
		}
		d.batches = append(d.batches, &exec.Batch{Record: rb.NewRecordBatch(), DB: "shop", Table: "orders"})
		rb.Release()
		var ts any = tsT
		if tsAsInt {
			ts = tsI
		}
		d.raw = append(d.raw, []any{ids, cust, email, amt, qty, ts, score, ver, del})
	}
	return d
}

func (d *benchData) release() {
	for _, b := range d.batches {
		b.Release()
	}
}

// BenchmarkSinkWrite loads 1,000,000 rows through the sink (upsert mode,
// Arrow → columnar insert, default batch_rows and max_inflight) and through
// a hand-written clickhouse-go columnar insert of the same rows from
// prebuilt Go slices, in the same run, into identical tables.
func BenchmarkSinkWrite(b *testing.B) {
	e := newEnv(b, nil)
	ctx := context.Background()
	s := sinktest.SinkSchema(benchFields(), false)
	tg := e.target("orders", connectors.ModeUpsert, []string{"id"}, s, nil)
	w, err := e.sink.Open(ctx, tg)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	e.exec("CREATE TABLE " + quote(e.db) + ".raw AS " + quote(e.db) + ".orders")
	d := makeBenchData(e, s, !e.sink.version.hasDateTime64())
	defer d.release()
	rawQuery := "INSERT INTO " + quote(e.db) + ".raw (`id`, `customer`, `email`, `amount`, `qty`, `created_at`, `score`, `_version`, `_is_deleted`)"

	var sinkTime, rawTime, sinkCPU, rawCPU time.Duration
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		start, cpu := time.Now(), cpuTime(b)
		for _, cols := range d.raw {
			ins, err := e.sink.conn.PrepareBatch(ctx, rawQuery) // same pool and options
			if err != nil {
				b.Fatal(err)
			}
			for i, c := range cols {
				if err := ins.Column(i).Append(c); err != nil {
					b.Fatal(err)
				}
			}
			if err := ins.Send(); err != nil {
				b.Fatal(err)
			}
		}
		rawTime += time.Since(start)
		rawCPU += cpuTime(b) - cpu

		start, cpu = time.Now(), cpuTime(b)
		for _, bt := range d.batches {
			bt.Record.Retain()
			if err := w.Write(ctx, &exec.Batch{Record: bt.Record}, nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		sinkTime += time.Since(start)
		sinkCPU += cpuTime(b) - cpu
	}
	b.StopTimer()
	total := float64(benchRows * b.N)
	sinkRate, rawRate := total/sinkTime.Seconds(), total/rawTime.Seconds()
	b.ReportMetric(sinkRate, "sink_rows/s")
	b.ReportMetric(rawRate, "raw_rows/s")
	b.ReportMetric(100*sinkRate/rawRate, "sink_vs_raw_%")
	b.ReportMetric(float64(sinkCPU.Nanoseconds())/total, "sink_cpu_ns/row")
	b.ReportMetric(float64(rawCPU.Nanoseconds())/total, "raw_cpu_ns/row")
	if got := e.text("SELECT count() FROM " + quote(e.db) + ".orders"); got != fmt.Sprintf("%d\n", benchRows*b.N) {
		b.Errorf("sink wrote %s rows", got)
	}
}

// cpuTime is the CPU time (user + system) this process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkConvert measures the client side alone, per column kind (no
// server): the live rows of an Arrow column of 100,000 rows appended to a
// fresh column, as an insert does. <column>_<type> takes the writer's path
// (a ch-go column where the fast path covers the column), <column>_<type>_driver the slices columnSlice makes
// appended through clickhouse-go, <column>_<type>_sel the writer's path
// with a selection of every other row.
func BenchmarkConvert(b *testing.B) {
	e := &chEnv{t: b, mem: memory.NewCheckedAllocator(memory.NewGoAllocator())}
	s := sinktest.SinkSchema(benchFields(), false)
	d := makeBenchData(e, s, true)
	defer d.release()
	l, err := buildLayout("d", "t", connectors.ModeUpsert, []string{"id"}, s, serverVersion{18, 16, 1}, targetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	batch := d.batches[0]
	all := liveRows(batch)
	half := all
	half.sel = make([]int32, 0, benchBatch/2)
	for i := 0; i < benchBatch; i += 2 {
		half.sel = append(half.sel, int32(i))
	}
	sc := &column.ServerContext{Timezone: time.UTC}
	for i := range l.cols {
		c := &l.cols[i]
		arr := batch.Record.Column(s.FieldIndices(c.src)[0])
		run := func(name string, r rows, writer bool) {
			b.Run(name, func(b *testing.B) {
				for n := 0; n < b.N; n++ {
					col, err := column.Type(c.chType()).Column(c.name, sc)
					if err != nil {
						b.Fatal(err)
					}
					var t chTarget
					if writer {
						if t, _ = newTarget(c, c.chType()); t.col != nil {
							t.reserve(r.len(), stringBytes(arr, r))
						}
					}
					if err := appendColumn(c, t, columnAppender{col}, arr, r); err != nil {
						b.Fatal(err)
					}
					n := col.Rows()
					if t.col != nil {
						n = t.col.Rows()
					}
					if n != r.len() {
						b.Fatalf("%d rows appended, want %d", n, r.len())
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*r.len()), "ns/row")
			})
		}
		name := c.name + "_" + c.chType()
		run(name, all, true)
		run(name+"_driver", all, false)
		run(name+"_sel", half, true)
	}
}

// columnAppender appends to a clickhouse-go column as a batch column does.
type columnAppender struct{ column.Interface }

func (a columnAppender) Append(v any) error {
	_, err := a.Interface.Append(v)
	return err
}
