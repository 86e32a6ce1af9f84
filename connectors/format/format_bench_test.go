package format_test

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors/format"
	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/exec"
)

// benchBatch is 8192 rows of every type (the allRows pattern repeated).
func benchBatch(mem memory.Allocator) *exec.Batch {
	base := allRows()
	rows := make([][]any, 0, 8192)
	for len(rows) < 8192 {
		rows = append(rows, base...)
	}
	return sinktest.Build(mem, sinktest.SinkSchema(sinktest.AllTypes(), true), "shop", "orders", rows[:8192]...)
}

func BenchmarkEncode(b *testing.B) {
	mem := memory.NewGoAllocator()
	batch := benchBatch(mem)
	defer batch.Release()
	for _, name := range format.StreamNames() {
		b.Run(name, func(b *testing.B) {
			enc, _ := format.New(name, format.Options{Now: now})
			var out []byte
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if out, err = enc.Encode(out[:0], batch); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(out)))
			b.ReportMetric(float64(b.N)*8192/b.Elapsed().Seconds(), "rows/s")
		})
	}
	b.Run("parquet", func(b *testing.B) {
		var buf bytes.Buffer
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			pw, err := format.NewParquetWriter(&buf, batch.Record.Schema(), mem, format.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if err := pw.Write(batch); err != nil {
				b.Fatal(err)
			}
			if err := pw.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(buf.Len()))
		b.ReportMetric(float64(b.N)*8192/b.Elapsed().Seconds(), "rows/s")
	})
}
