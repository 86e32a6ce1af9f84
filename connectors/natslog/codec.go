package natslog

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cespare/xxhash/v2"
	"github.com/nats-io/nats.go"

	"github.com/etlq/etlq/exec"
)

// Message headers of the log.
const (
	hdrBatch  = "Etlq-Batch"  // JSON batchMeta
	hdrResume = "Etlq-Resume" // base64 of the source position to resume after this message
)

// batchMeta is what an exec.Batch holds besides its record.
type batchMeta struct {
	DB       string            `json:"db"`
	Table    string            `json:"table"`
	Snapshot bool              `json:"snap,omitempty"`
	Start    exec.SnapshotEdge `json:"ss,omitempty"`
	End      exec.SnapshotEdge `json:"se,omitempty"`
	ServerID uint32            `json:"sid,omitempty"`
	GTID     string            `json:"gtid,omitempty"`
	Sel      []int32           `json:"sel,omitempty"`
	HasSel   bool              `json:"hassel,omitempty"` // Sel is set, maybe empty (no live row)
	Copy     bool              `json:"copy,omitempty"`
	// Only and Resnapshot: a resnapshot's rows and its end (etlq
	// resnapshot through the log).
	Only       string              `json:"only,omitempty"`
	Resnapshot *exec.ResnapshotEnd `json:"resnap,omitempty"`
}

// encodeRecord writes a record as an Arrow IPC stream (schema, then the
// batch): every message is decodable alone, whatever came before it.
func encodeRecord(rec arrow.RecordBatch) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
	if err := w.Write(rec); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decode rebuilds the batch of a log message; its Mark is left to the
// caller.
func decode(m *nats.Msg, mem memory.Allocator) (*exec.Batch, error) {
	var meta batchMeta
	if err := json.Unmarshal([]byte(m.Header.Get(hdrBatch)), &meta); err != nil {
		return nil, fmt.Errorf("log message %s: bad %s header: %w", m.Subject, hdrBatch, err)
	}
	r, err := ipc.NewReader(bytes.NewReader(m.Data), ipc.WithAllocator(mem))
	if err != nil {
		return nil, fmt.Errorf("log message %s: %w", m.Subject, err)
	}
	defer r.Release()
	if !r.Next() {
		if err := r.Err(); err != nil {
			return nil, fmt.Errorf("log message %s: %w", m.Subject, err)
		}
		return nil, fmt.Errorf("log message %s: no record", m.Subject)
	}
	rec := r.RecordBatch()
	rec.Retain()
	if meta.HasSel && meta.Sel == nil {
		meta.Sel = []int32{}
	}
	return &exec.Batch{Record: rec, Sel: meta.Sel, DB: meta.DB, Table: meta.Table, Snapshot: meta.Snapshot,
		SnapshotStart: meta.Start, SnapshotEnd: meta.End, ServerID: meta.ServerID, GTID: meta.GTID, Copy: meta.Copy,
		Only: meta.Only, Resnapshot: meta.Resnapshot}, nil
}

// piece is one message's worth of a batch: the rows of one partition.
type piece struct {
	part int
	rows []int32 // nil: every row of the record
	copy bool    // a copy of a truncate (exec.Batch.Copy)
}

// partition splits a batch's rows by the hash of their primary key modulo
// parts, so that every change of a key goes to the same partition, in
// order. A table without a key goes whole to one partition (its order is
// the table's); a batch of no rows (a schema change) or a truncate is a
// table-wide event and goes to every partition, in order with each one's
// rows.
func partition(b *exec.Batch, parts int) []piece {
	rec := b.Record
	n := int(rec.NumRows())
	if n == 0 || isTruncate(b) {
		trunc := n > 0
		out := make([]piece, parts)
		for i := range out {
			out[i].part = i
			out[i].copy = trunc && i > 0
		}
		return out
	}
	keys := keyColumns(rec.Schema())
	if len(keys) == 0 || parts == 1 {
		p := 0
		if parts > 1 {
			p = int(xxhash.Sum64String(b.DB+"."+b.Table) % uint64(parts))
		}
		return []piece{{part: p}}
	}
	rows := make([][]int32, parts)
	var scratch [8]byte
	h := xxhash.New() // one digest, reset per row: no allocation per row
	for i := 0; i < n; i++ {
		h.Reset()
		for _, k := range keys {
			hashValue(h, rec.Column(k), i, scratch[:])
		}
		p := int(h.Sum64() % uint64(parts))
		rows[p] = append(rows[p], int32(i))
	}
	var out []piece
	for p, r := range rows {
		if len(r) == 0 {
			continue
		}
		if len(r) == n {
			return []piece{{part: p}}
		}
		out = append(out, piece{part: p, rows: r})
	}
	return out
}

func isTruncate(b *exec.Batch) bool {
	if b.Record.NumRows() != 1 {
		return false
	}
	idx := b.Record.Schema().FieldIndices(exec.ColOp)
	if len(idx) == 0 {
		return false
	}
	ops, ok := b.Record.Column(idx[0]).(*array.String)
	return ok && ops.IsValid(0) && ops.Value(0) == exec.OpTruncate
}

// keyColumns returns the indices of the primary key columns, in key order.
func keyColumns(s *arrow.Schema) []int {
	var keys []int
	pos := map[int]int{}
	for i, f := range s.Fields() {
		if v, ok := f.Metadata.GetValue(exec.MetaPrimaryKey); ok {
			var k int
			fmt.Sscan(v, &k)
			pos[i] = k
			keys = append(keys, i)
		}
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && pos[keys[j]] < pos[keys[j-1]]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// hashValue adds row i of a key column to h. Integers hash as 64-bit
// values whatever their width, so that a key column widened by a DDL keeps
// its keys' partitions.
func hashValue(h *xxhash.Digest, a arrow.Array, i int, scratch []byte) {
	if a.IsNull(i) {
		h.Write([]byte{0})
		return
	}
	u := func(v uint64) {
		binary.LittleEndian.PutUint64(scratch, v)
		h.Write(scratch[:8])
	}
	switch c := a.(type) {
	case *array.Int8:
		u(uint64(int64(c.Value(i))))
	case *array.Int16:
		u(uint64(int64(c.Value(i))))
	case *array.Int32:
		u(uint64(int64(c.Value(i))))
	case *array.Int64:
		u(uint64(c.Value(i)))
	case *array.Uint8:
		u(uint64(c.Value(i)))
	case *array.Uint16:
		u(uint64(c.Value(i)))
	case *array.Uint32:
		u(uint64(c.Value(i)))
	case *array.Uint64:
		u(c.Value(i))
	case *array.Float64:
		u(math.Float64bits(c.Value(i)))
	case *array.String:
		h.WriteString(c.Value(i))
	case *array.Binary:
		h.Write(c.Value(i))
	default:
		h.WriteString(a.ValueStr(i))
	}
	h.Write([]byte{1})
}

// take returns the rows of rec (ascending indices) as a new record.
func take(ctx context.Context, mem memory.Allocator, rec arrow.RecordBatch, rows []int32) (arrow.RecordBatch, error) {
	bld := array.NewInt32Builder(mem)
	defer bld.Release()
	bld.AppendValues(rows, nil)
	idx := bld.NewArray()
	defer idx.Release()
	ctx = compute.WithAllocator(ctx, mem)
	out, err := compute.Take(ctx, *compute.DefaultTakeOptions(), compute.NewDatum(rec), compute.NewDatum(idx))
	if err != nil {
		return nil, err
	}
	return out.(*compute.RecordDatum).Value, nil
}

// subSel maps a batch's selection onto the rows of one piece: the
// positions, in the piece, of its rows that are live.
func subSel(sel []int32, rows []int32) []int32 {
	if sel == nil {
		return nil
	}
	out := []int32{}
	j := 0
	for k, r := range rows {
		for j < len(sel) && sel[j] < r {
			j++
		}
		if j < len(sel) && sel[j] == r {
			out = append(out, int32(k))
		}
	}
	return out
}

func encodeResume(state []byte) string { return base64.StdEncoding.EncodeToString(state) }

func decodeResume(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	return base64.StdEncoding.DecodeString(s)
}
