package clickhouse

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/etlq/etlq/exec"
)

// Spilled batches: a long INSERT (writer_long.go) is made again with all
// its groups after a failure, so it keeps what a retry needs until it
// ended. It keeps a sent group's Arrow batches in memory while the open
// INSERT and the one being ended keep at most insert_memory together;
// past that, once a group's block is sent, the group's rows — the columns
// the INSERT takes and the source position and operation that a data
// error names (describe) — are written to the INSERT's spill file as an
// Arrow IPC stream, and its batches are released. A retry reads each
// spilled group back, one at a time, and makes its block again as the
// first send did (fill), so a data error of a retry names the row, column
// and reason as before.
//
// The spill file is made in os.TempDir ($TMPDIR) and unlinked at once
// where the system allows (an open file stays readable): a crash, kill -9
// included, leaves nothing behind; elsewhere it is removed when closed.
// It is closed when its INSERT is over (settle). It holds at most the
// INSERT's batches: insert_bytes of Arrow, and the columns not inserted
// are left out. Writes go to the page cache, which the process's RSS does
// not count.

// spillFiles counts the open spill files, for tests.
var spillFiles atomic.Int64

// spillFile is a long INSERT's spill file.
type spillFile struct {
	f      *os.File
	remove string // removed on close (it could not be unlinked at once)
	bw     *bufio.Writer
	off    int64 // bytes written
}

// spilled is where a group's rows are in a spill file: an IPC stream at
// off, n bytes long, of a record per item that had rows (items, their
// indices in the group), of the columns of idx (the group's insert
// columns are idx[k] in the records).
type spilled struct {
	f      *spillFile
	off, n int64
	items  []int
	idx    []int
}

func newSpillFile() (*spillFile, error) {
	f, err := os.CreateTemp("", "etlq-insert-*.arrows")
	if err != nil {
		return nil, err
	}
	s := &spillFile{f: f, bw: bufio.NewWriterSize(f, 256<<10)}
	if os.Remove(f.Name()) != nil {
		s.remove = f.Name()
	}
	spillFiles.Add(1)
	return s, nil
}

// Write appends to the file (through the buffer), counting the bytes.
func (s *spillFile) Write(p []byte) (int, error) {
	n, err := s.bw.Write(p)
	s.off += int64(n)
	return n, err
}

// close closes (and removes) the file.
func (s *spillFile) close() {
	if s == nil {
		return
	}
	_ = s.f.Close()
	if s.remove != "" {
		_ = os.Remove(s.remove)
	}
	spillFiles.Add(-1)
}

// spillGroup writes g's rows to s and releases its batches. On an error
// the batches are kept (g is as before).
func spillGroup(s *spillFile, g *group) (err error) {
	var first arrow.RecordBatch
	for _, it := range g.items {
		if it.b.Record != nil {
			first = it.b.Record
			break
		}
	}
	if first == nil {
		return nil
	}
	// The columns kept: the insert columns, and what describe names.
	schema := first.Schema()
	keep := slices.Clone(g.idx)
	for _, name := range []string{exec.SysPos, exec.SysOp} {
		keep = append(keep, schema.FieldIndices(name)...)
	}
	slices.Sort(keep)
	keep = slices.Compact(keep)
	fields := make([]arrow.Field, len(keep))
	for i, k := range keep {
		fields[i] = schema.Field(k)
	}
	md := schema.Metadata()
	proj := arrow.NewSchema(fields, &md)
	sp := &spilled{f: s, off: s.off, idx: make([]int, len(g.idx))}
	for k, i := range g.idx {
		sp.idx[k], _ = slices.BinarySearch(keep, i)
	}
	iw := ipc.NewWriter(s, ipc.WithSchema(proj))
	cols := make([]arrow.Array, len(keep))
	for n, it := range g.items {
		rec := it.b.Record
		if rec == nil {
			continue
		}
		for i, k := range keep {
			cols[i] = rec.Column(k)
		}
		r := array.NewRecordBatch(proj, cols, rec.NumRows())
		err := iw.Write(r)
		r.Release()
		if err != nil {
			return fmt.Errorf("spilling the batches of an insert: %w", err)
		}
		sp.items = append(sp.items, n)
	}
	if err := iw.Close(); err != nil {
		return fmt.Errorf("spilling the batches of an insert: %w", err)
	}
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("spilling the batches of an insert: %w", err)
	}
	sp.n = s.off - sp.off
	for _, it := range g.items {
		it.b.Release() // (done still runs: complete's Release is a no-op then)
	}
	g.spill = sp
	return nil
}

// restore returns g as a retry sends it: g itself when its batches are
// in memory, else a group of the batches read back from its spill file,
// with free to release them once sent. Its error is not retried (a file
// of this process that cannot be read back will not be read later).
func (g *group) restore() (*group, func(), error) {
	sp := g.spill
	if sp == nil {
		return g, func() {}, nil
	}
	r, err := ipc.NewReader(io.NewSectionReader(sp.f.f, sp.off, sp.n))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the spilled batches of an insert back: %v", err) // (not retried)
	}
	defer r.Release()
	rg := &group{rows: g.rows, bytes: g.bytes, schema: r.Schema(), cols: g.cols, idx: sp.idx}
	free := func() {
		for _, it := range rg.items {
			it.b.Release()
		}
	}
	for _, n := range sp.items {
		if !r.Next() {
			err := r.Err()
			if err == nil {
				err = errors.New("fewer records than were written")
			}
			free()
			return nil, nil, fmt.Errorf("reading the spilled batches of an insert back: %v", err) // (not retried)
		}
		rec := r.RecordBatch()
		rec.Retain()
		b := *g.items[n].b // (its Sel, DB, Table: what fill and describe read)
		b.Record = rec
		rg.items = append(rg.items, item{b: &b})
	}
	return rg, free, nil
}
