package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/format"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/planner"
)

// deadLetters keeps the rows a pipeline could not process, with the reason:
// as JSON lines in <state-dir>/deadletter/<pipeline>.jsonl, or, when the
// pipeline's dead_letter option names a target, as rows of
// planner.DeadLetterSchema written to that target.
type deadLetters struct {
	// mu serializes write: the rows a transform fails come from the
	// source's goroutine, those a sink refused after the write from the
	// writer's (connectors.RowRefuser).
	mu       sync.Mutex
	pipeline string
	path     string
	f        *os.File
	w        *bufio.Writer

	writer connectors.Writer // the named target; nil: the file
	// writers lists writer among the source run's (stop.go).
	writers *openWriters
	where   string // where they go, for the log
	alloc   memory.Allocator
	log     *slog.Logger
	logged  bool
}

func newDeadLetters(ctx context.Context, p *planner.Pipeline, sinks map[string]connectors.Sink, opts Options) (*deadLetters, error) {
	d := &deadLetters{pipeline: p.Name, path: filepath.Join(opts.StateDir, "deadletter", p.Name+".jsonl"), alloc: opts.Alloc, log: opts.Log}
	d.where = d.path
	if p.DeadLetter == nil {
		return d, nil
	}
	s := sinks[p.DeadLetter.Sink]
	if s == nil {
		return nil, fmt.Errorf("pipeline %s: dead-letter sink %q is not declared", p.Name, p.DeadLetter.Sink)
	}
	t := p.DeadLetter.Target
	t.Private = true // source rows: a file target is created 0600
	w, err := s.Open(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: dead letters: %w", p.Name, err)
	}
	d.writer, d.where, d.writers = w, p.DeadLetter.Text, opts.writers
	opts.writers.add(w)
	return d, nil
}

// DeadLetter is one rejected row as the dead-letter file holds it (and as
// `etlq deadletter replay` reads it back). Row holds every column of the
// source row as text, NULLs as nil: the table's columns, before.* and the
// metadata columns (_op, _ts, _pos, _version, …).
type DeadLetter struct {
	Time     time.Time `json:"time"`
	Pipeline string    `json:"pipeline"`
	Table    string    `json:"table"`
	Pos      string    `json:"pos,omitempty"`
	Op       string    `json:"op,omitempty"`
	Version  uint64    `json:"version,omitempty"`
	Column   string    `json:"column,omitempty"`
	// Key names the row by its key values ("id = 42"; every value,
	// shortened, for a table without a key), Value is the failing value
	// quoted and shortened, Error the whole message the row failed with
	// under on_error = 'fail' (exec.RowError).
	Key    string             `json:"key,omitempty"`
	Value  string             `json:"value,omitempty"`
	Reason string             `json:"reason"`
	Error  string             `json:"error,omitempty"`
	Row    map[string]*string `json:"row"`
}

// letters makes the dead letters of b's failed rows. b is a source batch
// (a rule or a cast failed), or a sink batch whose rows the sink named
// (RowError.Table set: a value it cannot take, a row an endpoint
// refused); then origin, when not nil, is the source batch b was made
// from, whose row of the same _version the letter keeps.
func (d *deadLetters) letters(b *exec.Batch, errs []exec.RowError, origin arrow.RecordBatch) []DeadLetter {
	now := time.Now().UTC()
	out := make([]DeadLetter, 0, len(errs))
	var from *originRows
	for _, e := range errs {
		rec, r := b.Record, e.Row
		if e.Table != "" && origin != nil {
			// The source row, not the sink's: the outputs of a TRANSFORM
			// (amount * 100 AS cents) are no source columns, and replayed
			// as such they were NULL (the letter held cents, not amount).
			if from == nil {
				from = newOriginRows(origin)
			}
			if i, ok := from.row(b.Record, e.Row); ok {
				rec, r = origin, i
			}
		}
		meta := func(name string) string {
			if i := rec.Schema().FieldIndices(name); len(i) == 1 && !rec.Column(i[0]).IsNull(r) {
				return valueText(rec.Column(i[0]), r)
			}
			return ""
		}
		row := map[string]*string{}
		for c := 0; c < int(rec.NumCols()); c++ {
			col := rec.Column(c)
			if col.IsNull(r) {
				row[rec.ColumnName(c)] = nil // NULLs are kept, as null
				continue
			}
			v := fieldText(rec.Schema().Field(c), col, r)
			row[rec.ColumnName(c)] = &v
		}
		dl := DeadLetter{Time: now, Pipeline: d.pipeline, Table: b.DB + "." + b.Table, Column: e.Column, Reason: e.Reason, Row: row,
			Pos: meta(exec.ColPos), Op: meta(exec.ColOp)}
		e.Pipeline = d.pipeline
		if e.Table != "" {
			// A row of a sink batch the sink named: Row holds its source
			// row (above), or when that is not known the sink batch's
			// columns, the outputs and the system columns (__pos, …).
			dl.Table, dl.Pos, dl.Op = e.Table, e.Pos, e.Op
			dl.Key, dl.Value, dl.Error = e.Key, e.Value, e.Error()
		} else if m, err := exec.LayoutOf(rec.Schema()); err == nil {
			describeRow(&e, b, m)
			dl.Key, dl.Value, dl.Error = e.Key, e.Value, e.Error()
		}
		for _, name := range []string{exec.ColVersion, exec.SysVersion} { // (a source row's, a sink row's)
			if i := rec.Schema().FieldIndices(name); len(i) == 1 {
				if v, ok := rec.Column(i[0]).(*array.Uint64); ok && !v.IsNull(r) {
					dl.Version = v.Value(r)
					break
				}
			}
		}
		out = append(out, dl)
	}
	return out
}

// originRows finds the row of a source batch that a sink batch's row was
// made from: the one of the same version (the sink's __version is the
// source row's _version; each source row has its own).
type originRows struct {
	byVersion map[uint64]int // -1: several rows have it
}

func newOriginRows(origin arrow.RecordBatch) *originRows {
	o := &originRows{byVersion: map[uint64]int{}}
	m, err := exec.LayoutOf(origin.Schema())
	if err != nil {
		return o
	}
	v, ok := origin.Column(m.Version).(*array.Uint64)
	if !ok {
		return o
	}
	for i := 0; i < v.Len(); i++ {
		if v.IsNull(i) {
			continue
		}
		if _, dup := o.byVersion[v.Value(i)]; dup {
			o.byVersion[v.Value(i)] = -1
		} else {
			o.byVersion[v.Value(i)] = i
		}
	}
	return o
}

// row returns the source row of row i of sink record rec.
func (o *originRows) row(rec arrow.RecordBatch, i int) (int, bool) {
	idx := rec.Schema().FieldIndices(exec.SysVersion)
	if len(idx) != 1 {
		return 0, false
	}
	v, ok := rec.Column(idx[0]).(*array.Uint64)
	if !ok || v.IsNull(i) {
		return 0, false
	}
	r, ok := o.byVersion[v.Value(i)]
	return r, ok && r >= 0
}

// write keeps the failed rows of b and returns when they are durable (the
// file synced, the target's write acknowledged): a dead letter is durable
// before the batch it came from can be checkpointed.
func (d *deadLetters) write(ctx context.Context, b *exec.Batch, errs []exec.RowError) error {
	return d.writeFrom(ctx, b, errs, nil)
}

// writeFrom is write of the rows of sink batch b that the sink named,
// made from source batch origin (nil: not known): each letter keeps its
// source row (letters).
func (d *deadLetters) writeFrom(ctx context.Context, b *exec.Batch, errs []exec.RowError, origin arrow.RecordBatch) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	letters := d.letters(b, errs, origin)
	var err error
	if d.writer != nil {
		err = d.writeTarget(ctx, b, letters)
	} else {
		err = d.writeFile(letters)
	}
	if err != nil {
		return fmt.Errorf("dead letters to %s: %w", d.where, err)
	}
	if !d.logged {
		// Once per run: the log says where the rejected rows are.
		d.logged = true
		d.log.Warn("rows dead-lettered", "pipeline", d.pipeline, "to", d.where, "rows", len(letters), "first_reason", letters[0].Reason)
	}
	return nil
}

func (d *deadLetters) writeFile(letters []DeadLetter) error {
	if d.f == nil {
		// Rows of the source's tables: readable by the owner only, as the
		// checkpoints are.
		if err := os.MkdirAll(filepath.Dir(d.path), 0o700); err != nil {
			return err
		}
		f, err := os.OpenFile(d.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		d.f, d.w = f, bufio.NewWriter(f)
	}
	enc := json.NewEncoder(d.w)
	for _, dl := range letters {
		if err := enc.Encode(dl); err != nil {
			return err
		}
	}
	if err := d.w.Flush(); err != nil {
		return err
	}
	return d.f.Sync()
}

// writeTarget writes the letters as one batch of planner.DeadLetterSchema
// and waits for its acknowledgement.
func (d *deadLetters) writeTarget(ctx context.Context, b *exec.Batch, letters []DeadLetter) error {
	schema := planner.DeadLetterSchema()
	rb := array.NewRecordBuilder(d.alloc, schema)
	defer rb.Release()
	for _, dl := range letters {
		rowJSON, err := json.Marshal(dl.Row)
		if err != nil {
			return err
		}
		ts := arrow.Timestamp(dl.Time.UnixMicro())
		rb.Field(0).(*array.TimestampBuilder).Append(ts)
		for i, s := range []string{dl.Pipeline, dl.Table, dl.Pos, dl.Op} {
			rb.Field(1 + i).(*array.StringBuilder).Append(s)
		}
		rb.Field(5).(*array.Uint64Builder).Append(dl.Version)
		rb.Field(6).(*array.StringBuilder).Append(dl.Column)
		rb.Field(7).(*array.StringBuilder).Append(dl.Reason)
		rb.Field(8).(*array.StringBuilder).Append(string(rowJSON))
		// System columns: __version __deleted __op __ts __pos.
		rb.Field(9).(*array.Uint64Builder).Append(dl.Version)
		rb.Field(10).(*array.Uint8Builder).Append(0)
		rb.Field(11).(*array.StringBuilder).Append(dl.Op)
		rb.Field(12).(*array.TimestampBuilder).Append(ts)
		rb.Field(13).(*array.StringBuilder).Append(dl.Pos)
	}
	rec := rb.NewRecordBatch()
	ack := make(chan error, 1)
	out := &exec.Batch{Record: rec, DB: b.DB, Table: b.Table}
	if err := d.writer.Write(ctx, out, func(err error) { ack <- err }); err != nil {
		return err
	}
	if err := d.writer.Flush(ctx); err != nil {
		return err
	}
	select {
	case err := <-ack:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// valueText is the text of non-NULL a[i] as the formats write it: a
// decimal keeps its scale (DECIMAL(12,2) 2000.00 is "2000.00", never
// "2000"), dates and times read as MySQL writes them.
// fieldText is valueText with the fractional digits column f declares,
// as the csv format writes it (docs/language.md: a dead letter's row is
// "every value of the source row as text (as the csv format writes it)";
// a TIME(2) was "-838:59:59" there and "-838:59:59.00" in csv).
func fieldText(f arrow.Field, a arrow.Array, i int) string {
	s, err := format.TextOf(f, a, i)
	if err != nil {
		return a.ValueStr(i)
	}
	return s
}

func valueText(a arrow.Array, i int) string {
	s, err := format.Text(a, i)
	if err != nil {
		return a.ValueStr(i)
	}
	return s
}

func (d *deadLetters) close() {
	d.mu.Lock()
	if d.f != nil {
		d.w.Flush()
		d.f.Close()
	}
	d.mu.Unlock()
	// (The target's writer is closed outside mu: a write that waits for
	// it holds mu, and the close makes it return.)
	if d.writer != nil {
		d.writers.close(d.writer)
	}
}
