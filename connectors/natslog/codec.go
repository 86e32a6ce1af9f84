package natslog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"

	"github.com/etlq/etlq/exec"
)

// Message headers of the log.
const (
	hdrBatch  = "Etlq-Batch"  // JSON batchMeta
	hdrResume = "Etlq-Resume" // base64 of the source position to resume after this message
	// hdrCodec is the body's format: absent, an Arrow IPC stream (schema
	// and record batch: etlq before codec 2); "2", the record batch
	// message alone, its schema in the stream's schema bucket under the
	// hash hdrSchema names.
	hdrCodec  = "Etlq-Codec"
	hdrSchema = "Etlq-Schema"
	// hdrCompression "zstd": the body is a zstd frame of the above.
	hdrCompression = "Etlq-Compression"
	// hdrVersionStart, on a control message the capture publishes before
	// any row of a new stream, is the smallest _version its source will
	// stamp (connectors.VersionStarter): a group's first worker fixes its
	// version lift from it without waiting for rows (floor.go).
	hdrVersionStart = "Etlq-Version-Start"
)

// codec is the body format this etlq writes; it reads it and the one
// before (no hdrCodec header).
const codec = "2"

// compressAbove is the body size from which the capture tries zstd: below
// it the frame outweighs the saving.
const compressAbove = 256

// maxBody bounds what a compressed body may decompress to (the server's
// payload limit is far below it).
const maxBody = 256 << 20

var (
	zenc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	zdec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxBody))
)

// compress returns data as a zstd frame when that is smaller.
func compress(data []byte) ([]byte, bool) {
	if len(data) <= compressAbove {
		return data, false
	}
	z := zenc.EncodeAll(data, make([]byte, 0, len(data)/2))
	if len(z) >= len(data) {
		return data, false
	}
	return z, true
}

// batchMeta is what an exec.Batch holds besides its record.
type batchMeta struct {
	DB       string            `json:"db"`
	Table    string            `json:"table"`
	Snapshot bool              `json:"snap,omitempty"`
	Start    exec.SnapshotEdge `json:"ss,omitempty"`
	End      exec.SnapshotEdge `json:"se,omitempty"`
	ServerID uint32            `json:"sid,omitempty"`
	GTID     string            `json:"gtid,omitempty"`
	Thread   uint32            `json:"thread,omitempty"`
	Sel      []int32           `json:"sel,omitempty"`
	HasSel   bool              `json:"hassel,omitempty"` // Sel is set, maybe empty (no live row)
	Copy     bool              `json:"copy,omitempty"`
	Gap      bool              `json:"gap,omitempty"`
	// Only and Resnapshot: a resnapshot's rows and its end (etlq
	// resnapshot through the log).
	Only       string              `json:"only,omitempty"`
	Resnapshot *exec.ResnapshotEnd `json:"resnap,omitempty"`
	// Rows: exec.Batch.EventRows of the message's rows, when counting
	// them in the message does not give them (an event's rows in several
	// partitions or messages, a batch cut in an event).
	Rows []int32 `json:"erows,omitempty"`
}

// eos is the end-of-stream marker of an Arrow IPC stream.
var eos = []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}

// encodeRecord writes a record as an Arrow IPC stream (schema, then the
// batch): every message is decodable alone, whatever came before it. The
// format of codec 1, kept for schemas with dictionaries, which codec 2
// does not carry.
func encodeRecord(rec arrow.RecordBatch, opts ...ipc.Option) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, append([]ipc.Option{ipc.WithSchema(rec.Schema())}, opts...)...)
	if err := w.Write(rec); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// schemaMessage returns the IPC stream's schema message of s (an IPC
// stream's prefix) and its hash, the name it is stored under.
func schemaMessage(s *arrow.Schema) ([]byte, string, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(s))
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	b := buf.Bytes()
	if !bytes.HasSuffix(b, eos) {
		return nil, "", fmt.Errorf("arrow schema message without its end of stream")
	}
	b = b[:len(b)-len(eos)]
	return b, schemaHash(b), nil
}

func schemaHash(msg []byte) string {
	sum := sha256.Sum256(msg)
	return hex.EncodeToString(sum[:16])
}

// encodeBody writes the record batch message of rec alone, without the
// schema message before it (schema, from schemaMessage) nor the end of
// stream after it.
func encodeBody(rec arrow.RecordBatch, schema []byte) ([]byte, error) {
	return stripSchema(rec, schema)
}

func stripSchema(rec arrow.RecordBatch, schema []byte, opts ...ipc.Option) ([]byte, error) {
	full, err := encodeRecord(rec, opts...)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(full, schema) || !bytes.HasSuffix(full, eos) || len(full) < len(schema)+len(eos) {
		return nil, fmt.Errorf("arrow IPC stream does not start with its schema message")
	}
	return full[len(schema) : len(full)-len(eos)], nil
}

// hasDictionary says whether a schema holds a dictionary-encoded column,
// whose dictionaries come between the schema and the batch.
func hasDictionary(s *arrow.Schema) bool {
	var dict func(t arrow.DataType) bool
	dict = func(t arrow.DataType) bool {
		if t.ID() == arrow.DICTIONARY {
			return true
		}
		if n, ok := t.(arrow.NestedType); ok {
			for _, f := range n.Fields() {
				if dict(f.Type) {
					return true
				}
			}
		}
		return false
	}
	for _, f := range s.Fields() {
		if dict(f.Type) {
			return true
		}
	}
	return false
}

// where names a message for errors: its stream and sequence when it came
// from a consumer, else its subject.
func where(m *nats.Msg) string {
	if md, err := m.Metadata(); err == nil {
		return fmt.Sprintf("log message %s sequence %d (%s)", md.Stream, md.Sequence.Stream, m.Subject)
	}
	return "log message " + m.Subject
}

// decode rebuilds the batch of a log message; its Mark is left to the
// caller. A codec 2 message's schema comes from the stream's schema
// bucket (cached): a schema missing there is an error naming the message,
// never a decode with another schema.
func (l *Log) decode(n names, m *nats.Msg, mem memory.Allocator) (*exec.Batch, error) {
	var meta batchMeta
	if err := json.Unmarshal([]byte(m.Header.Get(hdrBatch)), &meta); err != nil {
		return nil, fmt.Errorf("%s: bad %s header: %w", where(m), hdrBatch, err)
	}
	data := m.Data
	switch c := m.Header.Get(hdrCompression); c {
	case "":
	case "zstd":
		var err error
		if data, err = zdec.DecodeAll(m.Data, nil); err != nil {
			return nil, fmt.Errorf("%s: zstd body: %w", where(m), err)
		}
	default:
		return nil, fmt.Errorf("%s: compression %q is unknown to this etlq: upgrade the workers to the capture's version", where(m), c)
	}
	body := data
	switch v := m.Header.Get(hdrCodec); v {
	case "":
	case codec:
		hash := m.Header.Get(hdrSchema)
		schema, err := l.schema(n, hash)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where(m), err)
		}
		data = make([]byte, 0, len(schema)+len(body)+len(eos))
		data = append(append(append(data, schema...), body...), eos...)
	default:
		return nil, fmt.Errorf("%s: codec %q is unknown to this etlq (it reads codec %s and the one before): upgrade the workers to the capture's version", where(m), v, codec)
	}
	r, err := ipc.NewReader(bytes.NewReader(data), ipc.WithAllocator(mem))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where(m), err)
	}
	defer r.Release()
	if !r.Next() {
		if err := r.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", where(m), err)
		}
		return nil, fmt.Errorf("%s: no record", where(m))
	}
	rec := r.RecordBatch()
	rec.Retain()
	if meta.HasSel && meta.Sel == nil {
		meta.Sel = []int32{}
	}
	return &exec.Batch{Record: rec, Sel: meta.Sel, DB: meta.DB, Table: meta.Table, Snapshot: meta.Snapshot,
		SnapshotStart: meta.Start, SnapshotEnd: meta.End, ServerID: meta.ServerID, GTID: meta.GTID, Thread: meta.Thread, Copy: meta.Copy,
		Only: meta.Only, Resnapshot: meta.Resnapshot, Gap: meta.Gap, EventRows: meta.Rows}, nil
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

// encodeResume writes a position for hdrResume: base64, of a zstd frame
// when that is smaller, marked "zstd:" (a source's position may hold its
// tables' schemas: kilobytes on every batch's last message).
func encodeResume(state []byte) string {
	if z, ok := compress(state); ok {
		return "zstd:" + base64.StdEncoding.EncodeToString(z)
	}
	return base64.StdEncoding.EncodeToString(state)
}

func decodeResume(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	if z, ok := strings.CutPrefix(s, "zstd:"); ok {
		b, err := base64.StdEncoding.DecodeString(z)
		if err != nil {
			return nil, err
		}
		return zdec.DecodeAll(b, nil)
	}
	return base64.StdEncoding.DecodeString(s)
}
