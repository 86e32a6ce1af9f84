package natslog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/nats-io/nats.go"

	"github.com/etlq/etlq/exec"
)

// A group's version floor (docs/scale-out.md, "Versions over existing
// targets"). The capture opens no sink: the versions it stamps come from
// its own counter, and a new stream's counter starts at the wall clock,
// which may be below the versions targets already hold (written by a
// machine whose clock is ahead, or by a stream whose counter ran ahead).
// ReplacingMergeTree would then keep the older rows over the stream's
// changes. The floor is a property of the targets, which the workers know
// and the capture does not — and a log may be read by several groups into
// different targets — so each group fixes, when its first worker opens
// the stream, one lift that every worker of the group adds to every
// version it hands over: the same for all of them, for good, so that the
// order of the stream's versions is kept whoever reads a partition.

// liftMargin is how far below the first message's smallest version the
// stream's versions may go (the other pieces of the first batch): a batch
// holds far fewer rows than this.
const liftMargin = 1 << 32

// groupFloor is what a group keeps in the groups bucket.
type groupFloor struct {
	// Created is the stream's creation time: a stream made again (by
	// hand) is read afresh.
	Created time.Time `json:"created"`
	// Floor is one more than the largest version the group's targets held
	// when its first worker started (0: none, or the group read the stream
	// before floors were kept). Every version handed over is above it;
	// every row the targets held then is below it.
	Floor uint64 `json:"floor"`
	// Lift is added to every version the group's workers hand over.
	Lift uint64 `json:"lift"`
}

// groupFloor returns the group's floor and lift, fixing them from floor
// (the targets', connectors.StreamRequest.VersionFloor) if the group has
// none for this stream yet.
func (l *Log) groupFloor(ctx context.Context, n names, group string, parts int, created time.Time, floor uint64, log func(msg string, args ...any)) (groupFloor, error) {
	kv, err := l.keyValue(n.groups, &nats.KeyValueConfig{Bucket: n.groups, History: 1, Storage: nats.FileStorage,
		Description: "etlq version floors of the groups reading " + n.stream})
	if err != nil {
		return groupFloor{}, fmt.Errorf("log: group %s's version floor: %w", group, err)
	}
	key := token(group)
	for attempt := 0; ; attempt++ {
		var rev uint64
		e, err := l.get(kv, key)
		switch {
		case err == nil:
			var g groupFloor
			if json.Unmarshal(e.Value(), &g) == nil && g.Created.Equal(created) {
				return g, nil
			}
			rev = e.Revision()
		case !errors.Is(err, nats.ErrKeyNotFound):
			return groupFloor{}, fmt.Errorf("log: group %s's version floor: %w", group, err)
		}
		g := groupFloor{Created: created}
		if floor > 0 {
			read, err := l.groupRead(n, group, parts)
			if err != nil {
				return groupFloor{}, err
			}
			if !read {
				v0, err := l.firstVersion(ctx, n, log)
				if err != nil {
					return groupFloor{}, err
				}
				g.Floor = floor
				if v0 < floor+liftMargin+1 {
					g.Lift = floor + liftMargin + 1 - v0
				}
			}
		}
		b, _ := json.Marshal(g)
		// Tried again while the server does not answer; a write the
		// server made whose answer was lost fails the next try, and the
		// next round reads it back (the group's, so the same).
		err = l.wait(fmt.Sprintf("storing key %q in the KV bucket %q", key, n.groups), func() error {
			var err error
			if rev == 0 {
				_, err = kv.Create(key, b)
			} else {
				_, err = kv.Update(key, b, rev)
			}
			return err
		})
		if err == nil {
			if g.Floor > 0 {
				log("log: the group's targets hold rows: every version is lifted above them, and each table's snapshot end removes the older rows the source no longer has",
					"group", group, "floor", g.Floor, "lift", g.Lift)
			}
			return g, nil
		}
		if attempt >= 3 {
			return groupFloor{}, fmt.Errorf("log: group %s's version floor: %w", group, err)
		}
		// Another worker of the group fixed it first: read it.
	}
}

// groupRead says whether the group has consumers on the stream: it read
// the stream before version floors were kept, and its versions go on as
// they were.
func (l *Log) groupRead(n names, group string, parts int) (bool, error) {
	for p := range parts {
		cs, err := l.waitConsumers(n, group, p)
		if err != nil {
			return false, fmt.Errorf("log: group %s's version floor: %w", group, err)
		}
		if len(cs) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// firstVersion is where the stream's versions start: the version start
// the capture published before its first row (hdrVersionStart), or, in a
// stream without one (a capture before it, a source that cannot say), the
// smallest version of the first message that holds rows, waiting for the
// capture to publish one.
func (l *Log) firstVersion(ctx context.Context, n names, log func(msg string, args ...any)) (uint64, error) {
	sub, err := waitFor(l, fmt.Sprintf("reading the first versions of the JetStream stream %q", n.stream), func() (*nats.Subscription, error) {
		return l.js.SubscribeSync(n.prefix+".>", nats.OrderedConsumer(), nats.DeliverAll())
	})
	if err != nil {
		return 0, fmt.Errorf("log: %w", err)
	}
	defer sub.Unsubscribe()
	waited := false
	for {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := sub.NextMsgWithContext(wctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return 0, context.Cause(ctx)
			}
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
				if !waited {
					log("log: waiting for the capture's first rows (the group's version floor is taken from them)", "stream", n.stream)
					waited = true
				}
				continue
			}
			return 0, fmt.Errorf("log: reading the first versions of %s: %w", n.stream, err)
		}
		if m.Subject == n.control {
			if h := m.Header.Get(hdrVersionStart); h != "" {
				v, err := strconv.ParseUint(h, 10, 64)
				if err != nil {
					return 0, fmt.Errorf("%s: bad %s header %q", where(m), hdrVersionStart, h)
				}
				return v, nil
			}
			continue
		}
		if !strings.HasPrefix(m.Subject, n.prefix+".t.") {
			continue
		}
		b, err := l.decode(n, m, memory.DefaultAllocator)
		if err != nil {
			return 0, err
		}
		v, ok := minVersion(b.Record)
		b.Release()
		if ok {
			return v, nil
		}
	}
}

func versionColumn(rec arrow.RecordBatch) (int, *array.Uint64) {
	idx := rec.Schema().FieldIndices(exec.ColVersion)
	if len(idx) == 0 {
		return -1, nil
	}
	col, _ := rec.Column(idx[0]).(*array.Uint64)
	return idx[0], col
}

func minVersion(rec arrow.RecordBatch) (uint64, bool) {
	_, col := versionColumn(rec)
	if col == nil {
		return 0, false
	}
	var v uint64
	ok := false
	for i := 0; i < col.Len(); i++ {
		if col.IsValid(i) && (!ok || col.Value(i) < v) {
			v, ok = col.Value(i), true
		}
	}
	return v, ok
}

// liftVersions adds lift to every _version of b's rows, and to the
// version of a resnapshot's end.
func liftVersions(b *exec.Batch, lift uint64, mem memory.Allocator) {
	if lift == 0 || b == nil || b.Record == nil {
		return
	}
	if b.Resnapshot != nil {
		e := *b.Resnapshot
		e.Version += lift
		b.Resnapshot = &e
	}
	rec := b.Record
	if schema := liftSchema(rec.Schema(), lift); schema != rec.Schema() {
		// A column a DDL added names the version it was added at: the
		// sink fills the rows older than it (exec.MetaAddedAt), which
		// are lifted too. (The DDL's own batch has no rows.)
		b.Record = array.NewRecordBatch(schema, rec.Columns(), rec.NumRows())
		rec.Release()
		rec = b.Record
	}
	idx, col := versionColumn(rec)
	if col == nil || col.Len() == 0 {
		return
	}
	bld := array.NewUint64Builder(mem)
	defer bld.Release()
	bld.Reserve(col.Len())
	for i := 0; i < col.Len(); i++ {
		if col.IsValid(i) {
			bld.UnsafeAppend(col.Value(i) + lift)
		} else {
			bld.UnsafeAppendBoolToBitmap(false)
		}
	}
	arr := bld.NewUint64Array()
	defer arr.Release()
	cols := append([]arrow.Array(nil), rec.Columns()...)
	cols[idx] = arr
	b.Record = array.NewRecordBatch(rec.Schema(), cols, rec.NumRows())
	rec.Release()
}

// liftSchema returns s with lift added to the version each column a DDL
// added names (exec.MetaAddedAt); s itself when none does.
func liftSchema(s *arrow.Schema, lift uint64) *arrow.Schema {
	var fields []arrow.Field
	for i, f := range s.Fields() {
		j := f.Metadata.FindKey(exec.MetaAddedAt)
		if j < 0 {
			continue
		}
		n, err := strconv.ParseUint(f.Metadata.Values()[j], 10, 64)
		if err != nil || n == 0 {
			continue
		}
		if fields == nil {
			fields = append([]arrow.Field(nil), s.Fields()...)
		}
		vals := append([]string(nil), f.Metadata.Values()...)
		vals[j] = strconv.FormatUint(n+lift, 10)
		fields[i].Metadata = arrow.NewMetadata(f.Metadata.Keys(), vals)
	}
	if fields == nil {
		return s
	}
	md := s.Metadata()
	return arrow.NewSchema(fields, &md)
}
