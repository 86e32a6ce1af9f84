package clickhouse

import (
	"context"
	"fmt"
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
		{Name: "amount", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}},
		{Name: "qty", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
		{Name: "created_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
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
			rb.Field(2).(*array.Decimal128Builder).Append(decimal128.FromI64(cents))
			if qty[j] != nil {
				rb.Field(3).(*array.Uint32Builder).Append(qv[j])
			} else {
				rb.Field(3).AppendNull()
			}
			rb.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(tsI[j]))
			rb.Field(5).(*array.Uint64Builder).Append(ver[j])
			rb.Field(6).(*array.Uint8Builder).Append(0)
			rb.Field(7).(*array.StringBuilder).Append("read")
			rb.Field(8).(*array.TimestampBuilder).Append(arrow.Timestamp(base))
			rb.Field(9).(*array.StringBuilder).Append("binlog.000001:4")
		}
		d.batches = append(d.batches, &exec.Batch{Record: rb.NewRecordBatch(), DB: "shop", Table: "orders"})
		rb.Release()
		var ts any = tsT
		if tsAsInt {
			ts = tsI
		}
		d.raw = append(d.raw, []any{ids, cust, amt, qty, ts, ver, del})
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
	rawQuery := "INSERT INTO " + quote(e.db) + ".raw (`id`, `customer`, `amount`, `qty`, `created_at`, `_version`, `_is_deleted`)"

	var sinkTime, rawTime time.Duration
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		start := time.Now()
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

		start = time.Now()
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
	}
	b.StopTimer()
	total := float64(benchRows * b.N)
	sinkRate, rawRate := total/sinkTime.Seconds(), total/rawTime.Seconds()
	b.ReportMetric(sinkRate, "sink_rows/s")
	b.ReportMetric(rawRate, "raw_rows/s")
	b.ReportMetric(100*sinkRate/rawRate, "sink_vs_raw_%")
	if got := e.text("SELECT count() FROM " + quote(e.db) + ".orders"); got != fmt.Sprintf("%d\n", benchRows*b.N) {
		b.Errorf("sink wrote %s rows", got)
	}
}

// BenchmarkConvert measures the client side alone: Arrow columns of 100,000
// rows to the slices clickhouse-go appends, per column kind (no server).
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
	r := liveRows(batch)
	for i := range l.cols {
		c := &l.cols[i]
		idx := s.FieldIndices(c.src)[0]
		b.Run(c.name+"_"+c.chType(), func(b *testing.B) {
			for n := 0; n < b.N; n++ {
				if _, err := columnSlice(c, batch.Record.Column(idx), r); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/row")
		})
		if c.m.enc != encDecimal {
			continue
		}
		// The decimal fast path, into a clickhouse-go column built offline.
		b.Run(c.name+"_fast_path", func(b *testing.B) {
			col, err := column.Type(c.chType()).Column(c.name, nil)
			if err != nil {
				b.Fatal(err)
			}
			target, ok := findDecimalTarget(col)
			if !ok {
				b.Fatal("no fast path")
			}
			for n := 0; n < b.N; n++ {
				col.Reset()
				if err := appendDecimals(target, c, batch.Record.Column(idx), r); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/row")
		})
	}
}
