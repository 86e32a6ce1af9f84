package natslog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cespare/xxhash/v2"
	"github.com/nats-io/nats.go"

	"github.com/etlq/etlq/connectors"
)

// The own scan of a SNAPSHOT only pipeline through the log
// (docs/scale-out.md, "A pipeline added to the file later"). A SNAPSHOT
// only pipeline added to the file after the log's position read its
// tables takes no resnapshot (one is placed in the changes, which it does
// not follow), so the capture reads its tables with a scan of its own — a
// second stream of the source, SNAPSHOT only, no binlog, beside the one
// it publishes — and publishes the scan's batches into the log like any
// batch, split by key over the partitions, each message for that pipeline
// only (Only, in the batch header) and marked as the scan's (the header
// Etlq-Scan, its pipeline): the workers hand them to that pipeline alone,
// outside the order of the table's layouts (order.go), which is the main
// stream's. A scan message carries no position (Etlq-Resume): the log's
// position stays the main stream's. The scan's own checkpoint is a key of
// the resnapshots bucket, scan.<pipeline>, whose value the engine writes
// (the scan's record: its tables and the mark of its last batch that
// JetStream acknowledged); the capture resumes a scan from it, and deletes
// it once the scan's last batch is in the log.

// hdrScan marks a message of an own scan: its value is the pipeline.
const hdrScan = "Etlq-Scan"

// scanPrefix is the prefix of the scans' keys in the resnapshots bucket.
const scanPrefix = "scan."

// ScanOptions configure Log.Scan.
type ScanOptions struct {
	Log *slog.Logger
	// Published, Rows and Waiting count as CaptureOptions' do.
	Published *atomic.Int64
	Rows      *atomic.Int64
	Waiting   *atomic.Int64
	// ID names the scan (a scan asked again is another): its message ids
	// are apart from those of an earlier scan of the pipeline, which
	// JetStream would otherwise drop as duplicates for two minutes.
	ID string
	// Checkpoint is told the mark of each batch once JetStream
	// acknowledged it and every message before it: where the scan
	// resumes.
	Checkpoint func(mark []byte) error
}

// Scan reads the stream req opens on src — the own scan of pipeline,
// resumed from req.Resume (its last checkpoint) — and publishes its
// batches to the log of source for that pipeline only, until the stream
// ends (nil) or ctx is done. The source's stream must exist (the
// capture made it).
func (l *Log) Scan(ctx context.Context, source, pipeline string, src connectors.Source, req connectors.StreamRequest, o ScanOptions) error {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	n := l.names(source)
	info, err := l.streamInfo(n)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	parts, err := partitionsOf(info.Config.Description)
	if err != nil {
		return err
	}
	stream, err := src.Open(ctx, req)
	if err != nil {
		return connectors.Named("source", source, err)
	}
	defer stream.Close()
	c := &capturer{log: l, n: n, parts: parts, o: CaptureOptions{Log: o.Log, Published: o.Published, Rows: o.Rows, Waiting: o.Waiting},
		source: source, mem: memory.DefaultAllocator, created: info.Created, scan: pipeline, scanID: o.ID}
	c.setResume(req.Resume)
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
		var mark []byte
		if b.Mark != nil {
			mark = b.Mark.Bytes()
		}
		rows := b.Record != nil
		if rows {
			b.Only = pipeline
			err = c.publish(ctx, b)
		}
		b.Release()
		if err != nil {
			return err
		}
		if mark != nil && o.Checkpoint != nil {
			if !rows {
				c.setResume(mark) // (publish does it for a batch with rows)
			}
			if err := o.Checkpoint(mark); err != nil {
				return err
			}
		}
	}
}

// scanIDBase is the base of a scan's message ids: the hash of its
// pipeline, its id and the position it resumed from, apart from the main
// stream's ids.
func scanIDBase(pipeline, id string, state []byte) string {
	h := xxhash.New()
	_, _ = h.WriteString(pipeline + "\x00" + id + "\x00")
	_, _ = h.Write(state)
	return "scan-" + strconv.FormatUint(h.Sum64(), 36)
}

// ScanEntry is an own scan's record in the log and its revision.
type ScanEntry struct {
	Value    []byte
	Revision uint64
}

// ErrScanReplaced is returned to a scan whose record was replaced
// meanwhile (the scan asked again, from its start, by a group of workers)
// or removed: the scan under way stops, the new record is another scan.
var ErrScanReplaced = errors.New("log: the own scan's record was replaced or removed meanwhile")

// Scans returns the records of the own scans under way in the log of
// source, by the key's pipeline (none: nil).
func (l *Log) Scans(source string) (map[string]ScanEntry, error) {
	kv, err := l.resnapshots(source, false)
	if errors.Is(err, nats.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	keys, err := l.keys(kv)
	if err != nil {
		return nil, fmt.Errorf("log: own scans: %w", err)
	}
	var out map[string]ScanEntry
	for _, k := range keys {
		if !strings.HasPrefix(k, scanPrefix) {
			continue
		}
		e, err := l.get(kv, k)
		if errors.Is(err, nats.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("log: own scan: %w", err)
		}
		if out == nil {
			out = map[string]ScanEntry{}
		}
		out[k[len(scanPrefix):]] = ScanEntry{Value: e.Value(), Revision: e.Revision()}
	}
	return out, nil
}

// PutScan stores a new record of pipeline's own scan, in place of any.
func (l *Log) PutScan(source, pipeline string, record []byte) error {
	kv, err := l.resnapshots(source, true)
	if err != nil {
		return err
	}
	if err := l.put(kv, scanPrefix+token(pipeline), record); err != nil {
		return fmt.Errorf("log: own scan of pipeline %s: %w", pipeline, err)
	}
	return nil
}

// UpdateScan stores the record of pipeline's own scan (its checkpoint
// moved) if the key is still at revision last, and returns its new
// revision; ErrScanReplaced if the record was replaced or removed.
func (l *Log) UpdateScan(source, pipeline string, record []byte, last uint64) (uint64, error) {
	kv, err := l.resnapshots(source, true)
	if err != nil {
		return 0, err
	}
	key := scanPrefix + token(pipeline)
	rev, err := waitFor(l, fmt.Sprintf("storing key %q in the KV bucket %q", key, kv.Bucket()), func() (uint64, error) {
		return kv.Update(key, record, last)
	})
	if err == nil {
		return rev, nil
	}
	e, gerr := l.get(kv, key)
	switch {
	case errors.Is(gerr, nats.ErrKeyNotFound):
		return 0, ErrScanReplaced
	case gerr != nil:
		return 0, fmt.Errorf("log: own scan of pipeline %s: %w", pipeline, err)
	case bytes.Equal(e.Value(), record):
		// An update the server made whose answer was lost, tried again.
		return e.Revision(), nil
	case e.Revision() != last:
		return 0, ErrScanReplaced
	}
	return 0, fmt.Errorf("log: own scan of pipeline %s: %w", pipeline, err)
}

// LastSeq returns the sequence of the last message in the stream of
// source (0: none).
func (l *Log) LastSeq(source string) (uint64, error) {
	info, err := l.streamInfo(l.names(source))
	if err != nil {
		return 0, fmt.Errorf("log: %w", err)
	}
	return info.State.LastSeq, nil
}

// GroupAckedAfter reports whether the workers of group acknowledged, in
// some partition of the stream of source, a message after stream
// sequence since.
func (l *Log) GroupAckedAfter(source, group string, since uint64) (bool, error) {
	n := l.names(source)
	info, err := l.streamInfo(n)
	if err != nil {
		return false, fmt.Errorf("log: %w", err)
	}
	parts, err := partitionsOf(info.Config.Description)
	if err != nil {
		return false, err
	}
	acked, err := l.groupAcked(n, group, parts)
	if err != nil {
		return false, err
	}
	for _, a := range acked {
		if a > since {
			return true, nil
		}
	}
	return false, nil
}
