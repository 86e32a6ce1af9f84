package natslog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cespare/xxhash/v2"
	"github.com/nats-io/nats.go"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// CaptureOptions configure a capture.
type CaptureOptions struct {
	// Partitions of a new stream (0: DefaultPartitions); an existing
	// stream keeps its own.
	Partitions int
	Retention  Retention
	Log        *slog.Logger
	// Published counts the messages JetStream acknowledged.
	Published *atomic.Int64
	// Rows, when set, counts the rows of the batches JetStream
	// acknowledged (every message of the batch).
	Rows *atomic.Int64
	// Waiting, when set, holds while a publish waits for JetStream's
	// acknowledgement (retries included) when it started, in Unix
	// nanoseconds; 0 otherwise.
	Waiting *atomic.Int64
	// Opened, when set, is told of the source's stream once open (its
	// lag, reconnects and snapshot progress feed the metrics).
	Opened func(connectors.Stream)
	// Resnapshots, when set, runs while the source's stream is open with
	// the stream (when it can read tables again): it hands the
	// stream the requests of etlq resnapshot (connectors.Resnapshotter)
	// until ctx ends.
	Resnapshots func(ctx context.Context, rs connectors.Resnapshotter)
	// ResnapshotEnded, when set, is told of each resnapshot's end once
	// JetStream acknowledged it: every row of the resnapshot is in the log.
	ResnapshotEnded func(e *exec.ResnapshotEnd)
	// Resuming, when set, is told before the source's stream opens
	// where it resumes: the position of the last message that has one,
	// nil for a stream that holds none (a new one).
	Resuming func(resume []byte) error
}

// Capture reads a source's change stream and publishes it to the log until
// ctx is done or (req.Once) the stream is complete. It resumes after the
// position of the last message in the stream, unless req.Resume says
// otherwise: the capture's checkpoint is what JetStream acknowledged.
func (l *Log) Capture(ctx context.Context, source string, src connectors.Source, req connectors.StreamRequest, o CaptureOptions) error {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	parts, err := l.ensureStream(source, o.Partitions, o.Retention)
	if err != nil {
		return err
	}
	n := l.names(source)
	info, err := l.streamInfo(n)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	resume, err := l.lastResume(n)
	if err != nil {
		return err
	}
	if req.Resume == nil && resume != nil {
		req.Resume = resume
		o.Log.Info("resuming from the log", "source", source, "stream", n.stream)
	}
	if o.Resuming != nil {
		if err := o.Resuming(req.Resume); err != nil {
			return err
		}
	}
	stream, err := src.Open(ctx, req)
	if err != nil {
		return connectors.Named("source", source, err)
	}
	defer stream.Close()
	if o.Opened != nil {
		o.Opened(stream)
	}
	if rs, ok := stream.(connectors.Resnapshotter); ok && o.Resnapshots != nil {
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			o.Resnapshots(rctx, rs)
		}()
		defer func() { stop(); <-done }()
	}
	c := &capturer{log: l, n: n, parts: parts, o: o, source: source, mem: memory.DefaultAllocator, created: info.Created}
	c.setResume(req.Resume)
	if req.Resume == nil {
		// A fresh start: its position, and where its versions start (a
		// group's first worker fixes its version lift from it, floor.go).
		var state []byte
		var vstart uint64
		if s, ok := stream.(connectors.Starter); ok {
			if m := s.StartMark(); m != nil {
				state = m.Bytes()
			}
		}
		if s, ok := stream.(connectors.VersionStarter); ok {
			vstart = s.FirstVersion()
		}
		if state != nil || vstart > 0 {
			if err := c.publishControl(ctx, state, vstart); err != nil {
				return err
			}
		}
	}
	for {
		b, err := stream.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return connectors.Named("source", source, err)
		}
		err = c.publish(ctx, b)
		b.Release()
		if err != nil {
			return err
		}
	}
}

// LastResume is the position a capture of source resumes from: that of
// the last message of its stream that carries one (nil: no stream, or
// none yet). It holds the source's tables' schemas, those of tables that
// left the source included: planning takes them from it
// (connectors.CheckpointDescriber), as apply takes them from its
// checkpoints.
func (l *Log) LastResume(source string) ([]byte, error) {
	n := l.names(source)
	if _, err := l.streamInfo(n); errors.Is(err, nats.ErrStreamNotFound) {
		return nil, nil
	}
	return l.lastResume(n)
}

// lastResume is the resume position of the last message in the stream
// that carries one (nil: the stream is empty, or holds no position yet).
// Only a batch's last message carries its position: messages after it
// are pieces of a batch whose last piece the capture did not publish (it
// stopped), which the position covers again.
func (l *Log) lastResume(n names) ([]byte, error) {
	info, err := l.streamInfo(n)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	for seq := info.State.LastSeq; seq >= info.State.FirstSeq && seq > 0; seq-- {
		m, err := l.msg(n, seq)
		if errors.Is(err, nats.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("log: %w", err)
		}
		if h := m.Header.Get(hdrResume); h != "" {
			return decodeResume(h)
		}
	}
	return nil, nil
}

type capturer struct {
	log    *Log
	n      names
	parts  int
	o      CaptureOptions
	source string
	mem    memory.Allocator
	// created is when the stream was made: a stream gone or made again
	// under the capture stops it (Log.gone).
	created time.Time

	// The last schema encoded (schemaMessage): batches of a table share
	// their schema's pointer until it changes.
	lastSchema *arrow.Schema
	lastMsg    []byte
	lastHash   string

	// scan, when set, is the pipeline whose own scan this capturer
	// publishes (scan.go): its messages carry no position.
	scan   string
	scanID string

	resume []byte // the position after the last published batch with a mark
	idBase string // hash of resume: message ids are idBase-seq-part
	seq    int    // batches published since resume
}

func (c *capturer) setResume(state []byte) {
	c.resume = state
	c.idBase = strconv.FormatUint(xxhash.Sum64(state), 36)
	if c.scan != "" {
		c.idBase = scanIDBase(c.scan, c.scanID, state)
	}
	c.seq = 0
}

// schemaMessage is schemaMessage(s), remembered for the last schema.
func (c *capturer) schemaMessage(s *arrow.Schema) ([]byte, string, error) {
	if s == c.lastSchema {
		return c.lastMsg, c.lastHash, nil
	}
	msg, hash, err := schemaMessage(s)
	if err == nil {
		c.lastSchema, c.lastMsg, c.lastHash = s, msg, hash
	}
	return msg, hash, err
}

// publishControl records a position alone, on the control subject that no
// worker reads.
func (c *capturer) publishControl(ctx context.Context, state []byte, vstart uint64) error {
	m := nats.NewMsg(c.n.control)
	if state != nil {
		m.Header.Set(hdrResume, encodeResume(state))
	}
	if vstart > 0 {
		m.Header.Set(hdrVersionStart, strconv.FormatUint(vstart, 10))
	}
	m.Header.Set(nats.MsgIdHdr, c.idBase+"-"+strconv.Itoa(c.seq)+"-ctl-"+contentID(m))
	if err := c.send(ctx, []*nats.Msg{m}); err != nil {
		return err
	}
	if state != nil {
		c.setResume(state)
	}
	return nil
}

// publish sends a batch as one message per partition it has rows in (a
// table-wide event to every partition), all but the last first, then the
// last, which alone carries the batch's mark: the last message in the
// stream names a position every message before it covers.
func (c *capturer) publish(ctx context.Context, b *exec.Batch) error {
	if b.Record == nil {
		if b.Mark != nil {
			return c.publishControl(ctx, b.Mark.Bytes(), 0)
		}
		return nil
	}
	meta := batchMeta{DB: b.DB, Table: b.Table, Snapshot: b.Snapshot, Start: b.SnapshotStart, End: b.SnapshotEnd,
		ServerID: b.ServerID, GTID: b.GTID, Thread: b.Thread, Only: b.Only, Resnapshot: b.Resnapshot, Gap: b.Gap}
	limit := int(c.log.nc.MaxPayload()) - 4096
	var msgs []*nats.Msg
	for _, pc := range partition(b, c.parts) {
		ms, err := c.messages(ctx, b, meta, pc, limit)
		if err != nil {
			return fmt.Errorf("log: %s.%s: %w", b.DB, b.Table, err)
		}
		msgs = append(msgs, ms...)
	}
	if b.Mark != nil && c.scan == "" {
		msgs[len(msgs)-1].Header.Set(hdrResume, encodeResume(b.Mark.Bytes()))
	}
	for i, m := range msgs {
		if c.scan != "" {
			m.Header.Set(hdrScan, c.scan)
		}
		m.Header.Set(nats.MsgIdHdr, c.idBase+"-"+strconv.Itoa(c.seq)+"-"+strconv.Itoa(i)+"-"+contentID(m))
	}
	if len(msgs) > 1 {
		if err := c.send(ctx, msgs[:len(msgs)-1]); err != nil {
			return err
		}
	}
	if err := c.send(ctx, msgs[len(msgs)-1:]); err != nil {
		return err
	}
	if c.o.Rows != nil {
		c.o.Rows.Add(int64(b.NumRows()))
	}
	if b.Mark != nil {
		c.setResume(b.Mark.Bytes())
	} else {
		c.seq++
	}
	if b.Resnapshot != nil && c.o.ResnapshotEnded != nil {
		c.o.ResnapshotEnded(b.Resnapshot)
	}
	return nil
}

// contentID is a hash of what a message holds. A capture replaying from a
// position may cut the changes into batches differently than before (the
// source's batches follow timers and row limits, not the position): the
// position and a batch's number since it do not name one content, and an
// id naming two would make JetStream drop the second as a duplicate, its
// rows lost (TestCaptureReplayCutDifferently). With the content in the id,
// a replay cut the same way is dropped, one cut differently is stored
// again (its rows twice, with the same versions).
func contentID(m *nats.Msg) string {
	h := xxhash.New()
	_, _ = h.WriteString(m.Subject)
	_, _ = h.WriteString("\x00" + m.Header.Get(hdrBatch) + "\x00" + m.Header.Get(hdrResume) + "\x00")
	_, _ = h.WriteString(m.Header.Get(hdrSchema) + "\x00" + m.Header.Get(hdrCompression) + "\x00" + m.Header.Get(hdrVersionStart) + "\x00")
	_, _ = h.Write(m.Data)
	return strconv.FormatUint(h.Sum64(), 36)
}

// messages encodes one piece, split in halves until each message fits the
// server's payload limit.
func (c *capturer) messages(ctx context.Context, b *exec.Batch, meta batchMeta, pc piece, limit int) ([]*nats.Msg, error) {
	rec := b.Record
	meta.Copy = pc.copy
	if pc.rows != nil {
		r, err := take(ctx, c.mem, b.Record, pc.rows)
		if err != nil {
			return nil, err
		}
		defer r.Release()
		rec = r
		meta.Sel = subSel(b.Sel, pc.rows)
	} else {
		meta.Sel = b.Sel
	}
	meta.Rows = pieceEventRows(b, pc.rows, rec)
	meta.HasSel = meta.Sel != nil
	var data []byte
	var hash string
	var err error
	if hasDictionary(rec.Schema()) {
		data, err = encodeRecord(rec)
	} else {
		var schema []byte
		if schema, hash, err = c.schemaMessage(rec.Schema()); err == nil {
			if err = c.putSchema(ctx, hash, schema); err == nil {
				data, err = encodeBody(rec, schema)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	hdr, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	if len(data)+len(hdr) > limit && rec.NumRows() > 1 {
		rows := pc.rows
		if rows == nil {
			rows = make([]int32, b.Record.NumRows())
			for i := range rows {
				rows[i] = int32(i)
			}
		}
		half := len(rows) / 2
		a, err := c.messages(ctx, b, meta, piece{part: pc.part, rows: rows[:half]}, limit)
		if err != nil {
			return nil, err
		}
		z, err := c.messages(ctx, b, meta, piece{part: pc.part, rows: rows[half:]}, limit)
		return append(a, z...), err
	}
	m := nats.NewMsg(c.n.subject(b.DB, b.Table, pc.part))
	m.Header.Set(hdrBatch, string(hdr))
	if hash != "" {
		m.Header.Set(hdrCodec, codec)
		m.Header.Set(hdrSchema, hash)
		if z, ok := compress(data); ok {
			m.Header.Set(hdrCompression, "zstd")
			data = z
		}
	}
	m.Data = data
	return []*nats.Msg{m}, nil
}

// putSchema stores a schema before the first message that names it. While
// the server cannot be reached it tries again, as send does: a table's
// first change or a schema change met while the server restarts waits for
// it instead of stopping the capture (TestCaptureSchemaWhileServerAway).
func (c *capturer) putSchema(ctx context.Context, hash string, schema []byte) error {
	wait := 100 * time.Millisecond
	for {
		err := c.log.putSchema(c.n, hash, schema)
		if err == nil || !transient(err) {
			return err
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if err := c.log.gone(c.n, c.created, "start etlq capture again: it makes a new stream, beginning with a snapshot"); err != nil {
			return err
		}
		if storageFull(err) {
			c.o.Log.Warn(storageFullMsg+", storing the schema again until it has room", "stream", c.n.stream, "error", err.Error(), "in", wait)
		} else {
			c.o.Log.Warn("log unavailable, storing the schema again", "stream", c.n.stream, "error", err.Error(), "in", wait)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// send publishes msgs and waits until JetStream acknowledged every one.
// While the server cannot be reached it tries again, with the same message
// ids: what was stored before is not stored twice.
func (c *capturer) send(ctx context.Context, msgs []*nats.Msg) error {
	if c.o.Waiting != nil {
		c.o.Waiting.Store(time.Now().UnixNano())
		defer c.o.Waiting.Store(0)
	}
	wait := 100 * time.Millisecond
	for {
		err := c.sendOnce(ctx, msgs)
		if err == nil {
			if c.o.Published != nil {
				c.o.Published.Add(int64(len(msgs)))
			}
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if !transient(err) {
			return fmt.Errorf("log: publish to %s: %w", c.n.stream, err)
		}
		// The server answers but has no such stream (no responders):
		// publishing again would never end.
		if err := c.log.gone(c.n, c.created, "start etlq capture again: it makes a new stream, beginning with a snapshot"); err != nil {
			return err
		}
		if storageFull(err) {
			c.o.Log.Warn(storageFullMsg+", publishing again until it has room", "stream", c.n.stream, "error", err.Error(), "in", wait)
		} else {
			c.o.Log.Warn("log unavailable, publishing again", "stream", c.n.stream, "error", err.Error(), "in", wait)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func (c *capturer) sendOnce(ctx context.Context, msgs []*nats.Msg) error {
	futs := make([]nats.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := c.log.js.PublishMsgAsync(m)
		if err != nil {
			return err
		}
		futs = append(futs, f)
	}
	timeout := time.After(5 * time.Second)
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-timeout:
			return nats.ErrTimeout
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// transient says whether an error is the server being away for a while.
// storageFull reports whether err is JetStream refusing a message for
// want of storage: the server's max_file_store (or the account's) is used
// up — by streams made without a size limit (--max-bytes 0), or by other
// streams.
func storageFull(err error) bool {
	var apiErr *nats.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == nats.JSErrCodeInsufficientResourcesErr {
		return true
	}
	return err != nil && strings.Contains(err.Error(), "insufficient resources")
}

// storageFullMsg is what the capture logs while storageFull.
const storageFullMsg = "log: the NATS server's JetStream storage is full and it refuses new messages (nothing is lost: the capture waits, the source keeps its binlog); give the server more storage (max_file_store, then restart it) or free some (limits on its streams: nats stream edit --max-bytes; a stream made with --max-bytes 0 grows until the storage is full)"

func transient(err error) bool {
	for _, e := range []error{nats.ErrTimeout, nats.ErrNoResponders, nats.ErrNoStreamResponse, nats.ErrDisconnected,
		nats.ErrConnectionReconnecting, nats.ErrConnectionClosed, nats.ErrJetStreamNotEnabled, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			return true
		}
	}
	var apiErr *nats.APIError
	if errors.As(err, &apiErr) && apiErr.Code == 503 {
		return true
	}
	return false
}

// pieceEventRows returns the places among the rows of their binlog events
// (exec.Batch.EventRows) of the rows of b that piece record rec holds
// (rows; nil: every row), or nil when counting rec's rows gives them — a
// worker counted the rows of the message it read, so that an event whose
// rows went to two partitions, or two messages, repeated Debezium's
// source.row.
func pieceEventRows(b *exec.Batch, rows []int32, rec arrow.RecordBatch) []int32 {
	if b.Snapshot || b.Record == nil {
		return nil
	}
	col := -1
	for i, f := range b.Record.Schema().Fields() {
		if f.Name == exec.ColPos {
			col = i
		}
	}
	if col < 0 {
		return nil
	}
	src := b.EventRows
	if src == nil {
		if rows == nil {
			return nil
		}
		pos := b.Record.Column(col).(*array.String)
		src = exec.CountEventRows(make([]int32, 0, b.Record.NumRows()), int(b.Record.NumRows()), pos.Value)
	}
	out := src
	if rows != nil {
		out = make([]int32, len(rows))
		for j, r := range rows {
			out[j] = src[r]
		}
	}
	pos := rec.Column(col).(*array.String)
	counted := exec.CountEventRows(make([]int32, 0, len(out)), int(rec.NumRows()), pos.Value)
	if slices.Equal(out, counted) {
		return nil
	}
	return out
}
