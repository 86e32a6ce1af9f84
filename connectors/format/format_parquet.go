package format

import (
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/etlq/etlq/exec"
)

// parquetRowGroupRows caps a parquet row group (rows are buffered in memory
// until their row group is written).
const parquetRowGroupRows = 64 * 1024

// metaDurationUnit is the field metadata key naming the unit ("us") of a
// Duration column stored in parquet as Int64.
const metaDurationUnit = "etlq.duration_unit"

// noCloser hides an io.Writer's Close from pqarrow, which closes closers.
type noCloser struct{ io.Writer }

// ParquetWriter writes sink batches of one schema to one parquet file: the
// output columns (Arrow types and field metadata kept; the Arrow schema is
// stored in the file, so a Duration "time" column reads back as one), then
// the columns the mode adds (see the package doc). Parquet has no duration type: a Duration column (logical "time")
// is stored as Int64 in its unit, named by the field metadata
// "etlq.duration_unit" ("us"). Compression is zstd.
type ParquetWriter struct {
	sink   *arrow.Schema
	out    *arrow.Schema
	l      *layout
	fw     *pqarrow.FileWriter
	mem    memory.Allocator
	rows   int64
	closed bool
}

// NewParquetWriter starts a parquet file on w for batches of sinkSchema;
// opts.Mode and opts.OpColumn choose the columns, as for the other row
// formats.
func NewParquetWriter(w io.Writer, sinkSchema *arrow.Schema, mem memory.Allocator, opts Options) (*ParquetWriter, error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	l := newLayout(sinkSchema, &opts)
	var fields []arrow.Field
	for _, c := range l.rows {
		f := sinkSchema.Field(c.col)
		f.Name = c.name
		if dt, ok := f.Type.(*arrow.DurationType); ok {
			// Parquet has no duration: store the count, unit in metadata.
			keys := append(f.Metadata.Keys(), metaDurationUnit)
			vals := append(f.Metadata.Values(), dt.Unit.String())
			f = arrow.Field{Name: f.Name, Type: arrow.PrimitiveTypes.Int64, Nullable: f.Nullable,
				Metadata: arrow.NewMetadata(keys, vals)}
		}
		fields = append(fields, f)
	}
	out := arrow.NewSchema(fields, nil)
	props := parquet.NewWriterProperties(
		parquet.WithAllocator(mem),
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithMaxRowGroupLength(parquetRowGroupRows),
		parquet.WithCreatedBy("etlq"),
	)
	fw, err := pqarrow.NewFileWriter(out, noCloser{w}, props, pqarrow.NewArrowWriterProperties(
		pqarrow.WithAllocator(mem), pqarrow.WithStoreSchema()))
	if err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	return &ParquetWriter{sink: sinkSchema, out: out, l: l, fw: fw, mem: mem}, nil
}

// Accepts reports whether batches of schema s can go to this file.
func (p *ParquetWriter) Accepts(s *arrow.Schema) bool { return p.sink.Equal(s) }

// Rows returns the number of rows written so far.
func (p *ParquetWriter) Rows() int64 { return p.rows }

// Write appends b's live rows. It neither retains nor releases b.
func (p *ParquetWriter) Write(b *exec.Batch) error {
	if b.Record == nil || b.NumRows() == 0 {
		return nil
	}
	if !p.Accepts(b.Record.Schema()) {
		return fmt.Errorf("parquet: batch schema differs from the file's")
	}
	cols := make([]arrow.Array, 0, p.out.NumFields())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for _, rc := range p.l.rows {
		a, err := takeRows(p.mem, b.Record.Column(rc.col), b.Sel)
		if err != nil {
			return fmt.Errorf("parquet: %w", err)
		}
		if want := p.out.Field(len(cols)).Type; !arrow.TypeEqual(a.DataType(), want) {
			// A Duration stored as Int64: the same buffers, another type.
			d := array.NewData(want, a.Len(), a.Data().Buffers(), nil, a.NullN(), a.Data().Offset())
			a.Release()
			a = array.MakeFromData(d)
			d.Release()
		}
		cols = append(cols, a)
	}
	rec := array.NewRecordBatch(p.out, cols, int64(b.NumRows()))
	defer rec.Release()
	if err := p.fw.WriteBuffered(rec); err != nil {
		return fmt.Errorf("parquet: %w", err)
	}
	p.rows += int64(b.NumRows())
	return nil
}

// Close writes the footer. It does not close the underlying writer. It is
// idempotent.
func (p *ParquetWriter) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	if err := p.fw.Close(); err != nil {
		return fmt.Errorf("parquet: %w", err)
	}
	return nil
}

// takeRows returns the rows of a listed in sel (all when sel is nil) as a
// new array; runs of consecutive rows are copied as slices.
func takeRows(mem memory.Allocator, a arrow.Array, sel []int32) (arrow.Array, error) {
	if sel == nil {
		a.Retain()
		return a, nil
	}
	var parts []arrow.Array
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	for i := 0; i < len(sel); {
		j := i + 1
		for j < len(sel) && sel[j] == sel[j-1]+1 {
			j++
		}
		parts = append(parts, array.NewSlice(a, int64(sel[i]), int64(sel[j-1])+1))
		i = j
	}
	if len(parts) == 0 {
		return array.MakeArrayOfNull(mem, a.DataType(), 0), nil
	}
	if len(parts) == 1 {
		parts[0].Retain()
		return parts[0], nil
	}
	return array.Concatenate(parts, mem)
}
