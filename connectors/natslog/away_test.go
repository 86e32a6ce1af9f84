package natslog

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
	"github.com/etlq/etlq/exec"
)

// wideBatch is a batch of t with one column more than batch's: a schema
// the capture has not stored yet.
func wideBatch(id int64, mark string) *exec.Batch {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Metadata: arrow.NewMetadata([]string{exec.MetaPrimaryKey}, []string{"1"})},
		{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "w", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: exec.ColOp, Type: arrow.BinaryTypes.String},
		{Name: exec.ColVersion, Type: arrow.PrimitiveTypes.Uint64},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).Append(id)
	b.Field(1).(*array.StringBuilder).Append("v")
	b.Field(2).(*array.Int64Builder).Append(7)
	b.Field(3).(*array.StringBuilder).Append(exec.OpInsert)
	b.Field(4).(*array.Uint64Builder).Append(2000)
	return &exec.Batch{Record: b.NewRecordBatch(), DB: "d", Table: "t", Mark: &exec.Mark{Source: "s", State: []byte(mark)}}
}

// gatedStream hands over its batches, waiting before each for a token.
type gatedStream struct {
	bs   []*exec.Batch
	gate chan struct{}
}

func (s *gatedStream) Next(ctx context.Context) (*exec.Batch, error) {
	if len(s.bs) == 0 {
		<-ctx.Done()
		return nil, context.Cause(ctx)
	}
	select {
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	case <-s.gate:
	}
	b := s.bs[0]
	s.bs = s.bs[1:]
	return b, nil
}
func (s *gatedStream) Progress() []connectors.Progress { return nil }
func (s *gatedStream) Lag() float64                    { return 0 }
func (s *gatedStream) Close() error                    { return nil }

type gatedSource struct {
	connectors.Source
	st *gatedStream
}

func (g *gatedSource) Open(ctx context.Context, req connectors.StreamRequest) (connectors.Stream, error) {
	return g.st, nil
}
func (g *gatedSource) Close() error { return nil }

// TestCaptureSchemaWhileServerAway: a batch with a schema the capture has
// not stored yet (a table's first change, a schema change) met while the
// NATS server is away waits for the server, as a publish does. Before, the
// capture stopped at once with `log: store schema … not connected to the
// NATS server` (or `no response from stream`): a DDL during a nats-server
// restart stopped it.
func TestCaptureSchemaWhileServerAway(t *testing.T) {
	host := strings.TrimPrefix(testenv.NATSURL(t), "nats://")
	px := testenv.NewCutProxy(t, host)
	ns := testenv.UniqueName(t)
	lg, err := Open("nats://" + px.Addr() + "/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	direct, err := Open(testenv.NATSURL(t) + "/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	defer direct.DeleteSource("s")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := &gatedStream{bs: []*exec.Batch{batch([]int64{1}, exec.OpInsert, `{"pos":1}`), wideBatch(2, `{"pos":2}`)}, gate: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		errc <- lg.Capture(ctx, "s", &gatedSource{st: st}, connectors.StreamRequest{}, CaptureOptions{Partitions: 1})
	}()
	st.gate <- struct{}{}
	n := direct.names("s")
	waitMsgs := func(want uint64, d time.Duration) bool {
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			if info, err := direct.js.StreamInfo(n.stream); err == nil && info.State.Msgs >= want {
				return true
			}
			time.Sleep(50 * time.Millisecond)
		}
		return false
	}
	base := uint64(0)
	if !waitMsgs(1, 10*time.Second) { // the first batch
		info, err := direct.js.StreamInfo(n.stream)
		if err == nil {
			t.Logf("stream: %d messages", info.State.Msgs)
		}
		select {
		case err := <-errc:
			t.Fatalf("the first batch was not published: %v", err)
		default:
			t.Fatalf("the first batch was not published (%v)", err)
		}
	}
	if info, err := direct.js.StreamInfo(n.stream); err == nil {
		base = info.State.Msgs
	}
	px.Cut()
	st.gate <- struct{}{}
	time.Sleep(7 * time.Second)
	px.Restore()
	if !waitMsgs(base+1, 20*time.Second) {
		select {
		case err := <-errc:
			t.Fatalf("the capture stopped: %v", err)
		default:
			t.Fatal("the batch met while the server was away was not published")
		}
	}
	select {
	case err := <-errc:
		t.Fatalf("the capture stopped: %v", err)
	default:
	}
}
