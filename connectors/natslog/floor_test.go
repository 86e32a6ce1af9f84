package natslog

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/nats-io/nats.go"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
	"github.com/etlq/etlq/exec"
)

// TestGroupFloor: the first worker of a group over targets holding
// versions above the stream's fixes one lift, which every later worker of
// the group takes whatever its own targets' floor has become; every
// version handed over is above the floor. Another group over empty
// targets is not lifted; a group that read the stream before floors were
// kept goes on unlifted; a stream made again (by hand) is lifted afresh.
func TestGroupFloor(t *testing.T) {
	url := testenv.NATSURL(t) + "/" + testenv.UniqueName(t)
	lg, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	defer lg.DeleteSource("s")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	publish := func() {
		src := &fakeSource{batches: func() []*exec.Batch {
			return []*exec.Batch{batch([]int64{1, 2, 3, 4, 5, 6, 7, 8}, exec.OpInsert, `{"pos":1}`)}
		}}
		if err := lg.Capture(ctx, "s", src, connectors.StreamRequest{Once: true}, CaptureOptions{Partitions: 2}); err != nil {
			t.Fatal(err)
		}
	}
	publish() // versions 1000 … 1007
	const floor = uint64(1) << 50
	open := func(group string, floor uint64) *workerStream {
		t.Helper()
		st, err := lg.Source("s", nil, WorkerOptions{Group: group, Lease: time.Second}).Open(ctx, connectors.StreamRequest{VersionFloor: floor})
		if err != nil {
			t.Fatal(err)
		}
		return st.(*workerStream)
	}
	a := open("apply", floor)
	if a.SnapshotFloor() != floor || a.floor.Lift != floor+liftMargin+1-1000 {
		t.Errorf("first worker: floor %d, lift %d; want %d, %d", a.SnapshotFloor(), a.floor.Lift, floor, floor+liftMargin+1-1000)
	}
	// Every version it hands over is above the floor, in the stream's order.
	for got := 0; got < 8; {
		b, err := a.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids, vs := b.Record.Column(0).(*array.Int64), b.Record.Column(3).(*array.Uint64)
		for i := 0; i < vs.Len(); i++ {
			if want := floor + liftMargin + 1 + uint64(ids.Value(i)-1); vs.Value(i) != want || vs.Value(i) <= floor {
				t.Errorf("key %d: version %d, want %d (above the floor %d)", ids.Value(i), vs.Value(i), want, floor)
			}
		}
		got += vs.Len()
		a.Acked(b.Mark)
		b.Release()
	}
	a.Close()
	b := open("apply", floor+5000) // the targets hold the lifted versions now
	if b.floor.Lift != a.floor.Lift || b.SnapshotFloor() != floor {
		t.Errorf("second worker: lift %d, floor %d; want the first's %d, %d", b.floor.Lift, b.SnapshotFloor(), a.floor.Lift, floor)
	}
	b.Close()
	if c := open("empty", 0); c.floor.Lift != 0 || c.SnapshotFloor() != 0 {
		t.Errorf("a group over empty targets: lift %d, floor %d", c.floor.Lift, c.SnapshotFloor())
	} else {
		c.Close()
	}
	// A group that read the stream before floors were kept.
	n := lg.names("s")
	if _, err := lg.js.AddConsumer(n.stream, &nats.ConsumerConfig{Durable: consumer("old", 1) + "_7", FilterSubject: n.partFilter(1),
		AckPolicy: nats.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	if d := open("old", floor); d.floor.Lift != 0 || d.SnapshotFloor() != 0 {
		t.Errorf("a group that read the stream before: lift %d, floor %d, want none", d.floor.Lift, d.SnapshotFloor())
	} else {
		d.Close()
	}
	// The stream made again by hand (the groups bucket left): lifted afresh.
	// (Its schemas go with it: a stream missing beside its schemas is one
	// the server did not load, which no capture makes again,
	// TestStreamNotLoaded.)
	if err := lg.js.DeleteStream(n.stream); err != nil {
		t.Fatal(err)
	}
	if err := lg.js.DeleteKeyValue(n.schemas); err != nil {
		t.Fatal(err)
	}
	lg.mu.Lock()
	delete(lg.schemaKV, n.schemas)
	for k := range lg.schemaCache {
		if strings.HasPrefix(k, n.schemas+"/") {
			delete(lg.schemaCache, k)
		}
	}
	lg.mu.Unlock()
	publish()
	if e := open("apply", 2*floor); e.SnapshotFloor() != 2*floor || e.floor.Lift != 2*floor+liftMargin+1-1000 {
		t.Errorf("a stream made again: floor %d, lift %d, want %d, %d", e.SnapshotFloor(), e.floor.Lift, 2*floor, 2*floor+liftMargin+1-1000)
	} else {
		e.Close()
	}
}
