package natslog

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/nats-io/nats.go"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
	"github.com/etlq/etlq/exec"
)

// streamMsgs reads every message of a source's stream through an ordered
// consumer (with their stream sequences).
func streamMsgs(t *testing.T, lg *Log, n names) []*nats.Msg {
	t.Helper()
	info, err := lg.js.StreamInfo(n.stream)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := lg.js.SubscribeSync(n.prefix+".>", nats.OrderedConsumer(), nats.DeliverAll())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	var out []*nats.Msg
	for uint64(len(out)) < info.State.Msgs {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(out), info.State.Msgs, err)
		}
		out = append(out, m)
	}
	return out
}

// TestCodecSchemaOnce: the capture stores a table's schema once, in the
// schema bucket, and each message holds its record batch alone (smaller
// than the whole IPC stream of codec 1), compressed when large; workers
// decode them, a message of codec 1 (no codec header) still decodes, a
// message whose schema is missing from the bucket is an error naming the
// stream, sequence and schema, and a codec this etlq does not know is
// refused.
func TestCodecSchemaOnce(t *testing.T) {
	url := testenv.NATSURL(t) + "/" + testenv.UniqueName(t)
	lg, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	defer lg.DeleteSource("s")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	big := make([]int64, 2000)
	for i := range big {
		big[i] = int64(100 + i)
	}
	src := &fakeSource{batches: func() []*exec.Batch {
		var bs []*exec.Batch
		for i := int64(1); i <= 20; i++ {
			bs = append(bs, batch([]int64{i}, exec.OpInsert, fmt.Sprintf(`{"pos":%d}`, i)))
		}
		return append(bs, batch(big, exec.OpInsert, `{"pos":21}`))
	}}
	if err := lg.Capture(ctx, "s", src, connectors.StreamRequest{Once: true}, CaptureOptions{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	n := lg.names("s")
	kv, err := lg.js.KeyValue(n.schemas)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys()
	if err != nil || len(keys) != 1 {
		t.Fatalf("schema bucket keys %v (%v), want one schema", keys, err)
	}
	msgs := streamMsgs(t, lg, n)
	one := batch([]int64{1}, exec.OpInsert, "")
	defer one.Release()
	v1, err := encodeRecord(one.Record)
	if err != nil {
		t.Fatal(err)
	}
	oneSchema, _, err := schemaMessage(one.Record.Schema())
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	var last *nats.Msg
	for _, m := range msgs {
		if m.Subject == n.control {
			continue
		}
		if m.Header.Get(hdrCodec) != codec || m.Header.Get(hdrSchema) != keys[0] {
			t.Fatalf("message %s: codec %q schema %q, want %s %s", m.Subject, m.Header.Get(hdrCodec), m.Header.Get(hdrSchema), codec, keys[0])
		}
		b, err := lg.decode(n, m, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		if b.Record.NumRows() == 1 && len(m.Data) > len(v1)-len(oneSchema) {
			t.Errorf("a single-row message holds %d bytes, codec 1 %d of which %d of schema: the schema is still in it", len(m.Data), len(v1), len(oneSchema))
		}
		ids := b.Record.Column(0).(*array.Int64)
		vs := b.Record.Column(1).(*array.String)
		for i := 0; i < ids.Len(); i++ {
			if vs.Value(i) != fmt.Sprint("v", ids.Value(i)) {
				t.Errorf("row %d: v %q", ids.Value(i), vs.Value(i))
			}
		}
		rows += ids.Len()
		last = m
		b.Release()
	}
	if rows != 20+len(big) {
		t.Errorf("%d rows decoded, want %d", rows, 20+len(big))
	}
	bigBatch := batch(big, exec.OpInsert, "")
	defer bigBatch.Release()
	schema, _, _ := schemaMessage(bigBatch.Record.Schema())
	plain, err := stripSchema(bigBatch.Record, schema)
	if err != nil {
		t.Fatal(err)
	}
	if len(last.Data) >= len(plain) {
		t.Errorf("a 2,000-row message holds %d bytes, uncompressed %d: not compressed", len(last.Data), len(plain))
	}

	// A message of codec 1 decodes.
	old := nats.NewMsg(n.subject("d", "t", 0))
	old.Header.Set(hdrBatch, `{"db":"d","table":"t"}`)
	old.Data = v1
	if b, err := lg.decode(n, old, memory.DefaultAllocator); err != nil || b.Record.NumRows() != 1 {
		t.Errorf("codec 1 message: %v", err)
	} else {
		b.Release()
	}
	// A codec this etlq does not know is refused.
	future := nats.NewMsg(n.subject("d", "t", 0))
	for k, v := range last.Header {
		future.Header[k] = v
	}
	future.Header.Set(hdrCodec, "3")
	future.Data = last.Data
	if _, err := lg.decode(n, future, memory.DefaultAllocator); err == nil || !strings.Contains(err.Error(), `codec "3" is unknown`) {
		t.Errorf("codec 3 message: %v, want it refused", err)
	}
	// A schema missing from the bucket: an error naming the message.
	if err := kv.Delete(keys[0]); err != nil {
		t.Fatal(err)
	}
	fresh, err := Open(url) // no cached schema
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	md, _ := last.Metadata()
	_, err = fresh.decode(n, last, memory.DefaultAllocator)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%s sequence %d", n.stream, md.Sequence.Stream)) ||
		!strings.Contains(err.Error(), keys[0]) {
		t.Errorf("missing schema: %v, want an error naming stream %s sequence %d and schema %s", err, n.stream, md.Sequence.Stream, keys[0])
	}
}

// startStream is a source stream that sends nothing (its tables are
// empty) but says where it starts and where its versions start.
type startStream struct {
	fakeStream
	v uint64
}

func (s *startStream) StartMark() *exec.Mark {
	return &exec.Mark{Source: "s", State: []byte(`{"pos":0}`)}
}
func (s *startStream) FirstVersion() uint64 { return s.v }

type startSource struct {
	connectors.Source
	v uint64
}

func (f *startSource) Open(ctx context.Context, req connectors.StreamRequest) (connectors.Stream, error) {
	return &startStream{v: f.v}, nil
}
func (f *startSource) Close() error { return nil }

// TestFirstWorkerEmptyTables: the first worker of a group over targets
// holding rows, on a stream whose source tables are all empty (no message
// with rows), does not wait for rows: it fixes its lift from the version
// start the capture published.
func TestFirstWorkerEmptyTables(t *testing.T) {
	url := testenv.NATSURL(t) + "/" + testenv.UniqueName(t)
	lg, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	defer lg.DeleteSource("s")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const v0 = uint64(5000)
	if err := lg.Capture(ctx, "s", &startSource{v: v0}, connectors.StreamRequest{Once: true}, CaptureOptions{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	const floor = uint64(1) << 50
	octx, ocancel := context.WithTimeout(ctx, 10*time.Second)
	defer ocancel()
	st, err := lg.Source("s", nil, WorkerOptions{Group: "apply", Lease: time.Second}).Open(octx, connectors.StreamRequest{VersionFloor: floor})
	if err != nil {
		t.Fatalf("the first worker over empty source tables: %v", err)
	}
	defer st.Close()
	w := st.(*workerStream)
	if w.SnapshotFloor() != floor || w.floor.Lift != floor+liftMargin+1-v0 {
		t.Errorf("floor %d, lift %d; want %d, %d", w.SnapshotFloor(), w.floor.Lift, floor, floor+liftMargin+1-v0)
	}
}

// TestResumeCompressed: a large position goes compressed into its header
// and comes back whole; a small one, and one written before compression
// (plain base64), read as they were.
func TestResumeCompressed(t *testing.T) {
	large := []byte(`{"file":"bin.000001","pos":4,"schemas":[` + strings.Repeat(`{"db":"d","table":"t","columns":["id","name"]},`, 40) + `{}]}`)
	for _, state := range [][]byte{large, []byte(`{"pos":1}`)} {
		h := encodeResume(state)
		if len(state) > compressAbove && (!strings.HasPrefix(h, "zstd:") || len(h) >= len(state)) {
			t.Errorf("a %d-byte position takes %d bytes: not compressed", len(state), len(h))
		}
		got, err := decodeResume(h)
		if err != nil || string(got) != string(state) {
			t.Errorf("position %q came back as %q (%v)", state, got, err)
		}
	}
	if got, err := decodeResume("eyJwb3MiOjF9"); err != nil || string(got) != `{"pos":1}` {
		t.Errorf("a plain base64 position: %q, %v", got, err)
	}
}
