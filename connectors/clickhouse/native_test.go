package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
)

// fakeServer is a ClickHouse speaking the native protocol at revision rev
// (and compressing its Data packets when the client's query asks), read
// and written with ch-go's own decoders and encoders: the only server
// installable here is 18.16, and this checks what nativeConn sends a
// current one. It takes one INSERT per connection and hands the decoded
// query and data block to got.
type fakeServer struct {
	t    *testing.T
	rev  int
	cols []proto.ColInfo // the table's columns, sent as the sample block
	got  chan fakeInsert
}

type fakeInsert struct {
	q    proto.Query
	data proto.Results
	err  error
}

func newFakeServer(t *testing.T, rev int, cols []proto.ColInfo) (*fakeServer, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &fakeServer{t: t, rev: rev, cols: cols, got: make(chan fakeInsert, 4)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				ins, err := f.serve(c)
				ins.err = err
				f.got <- ins
			}()
		}
	}()
	return f, ln.Addr().String()
}

func (f *fakeServer) serve(conn net.Conn) (fakeInsert, error) {
	var ins fakeInsert
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := proto.NewReader(conn)
	var b proto.Buffer
	code := func(want proto.ClientCode) error {
		n, err := r.UVarInt()
		if err != nil {
			return err
		}
		if proto.ClientCode(n) != want {
			return fmt.Errorf("client packet %d, want %s", n, want)
		}
		return nil
	}
	send := func() error {
		_, err := conn.Write(b.Buf)
		b.Reset()
		return err
	}
	if err := code(proto.ClientCodeHello); err != nil {
		return ins, err
	}
	var hello proto.ClientHello
	if err := hello.Decode(r); err != nil {
		return ins, fmt.Errorf("client hello: %w", err)
	}
	sh := proto.ServerHello{Name: "ClickHouse", Major: 24, Minor: 3, Revision: f.rev, Timezone: "UTC", DisplayName: "fake", Patch: 1}
	sh.EncodeAware(&b, min(f.rev, hello.ProtocolVersion)) // the fields both know
	if err := send(); err != nil {
		return ins, err
	}
	v := min(f.rev, hello.ProtocolVersion)
	if proto.FeatureAddendum.In(v) {
		if _, err := r.Str(); err != nil { // quota key
			return ins, fmt.Errorf("addendum: %w", err)
		}
	}
	if err := code(proto.ClientCodeQuery); err != nil {
		return ins, err
	}
	if err := ins.q.DecodeAware(r, v); err != nil {
		return ins, fmt.Errorf("query: %w", err)
	}
	compressed := ins.q.Compression == proto.CompressionEnabled
	block := func(res proto.Result) (proto.Block, error) {
		var blk proto.Block
		if err := code(proto.ClientCodeData); err != nil {
			return blk, err
		}
		var d proto.ClientData
		if err := d.DecodeAware(r, v); err != nil {
			return blk, err
		}
		if compressed {
			r.EnableCompression()
			defer r.DisableCompression()
		}
		err := blk.DecodeBlock(r, v, res)
		return blk, err
	}
	if blk, err := block(nil); err != nil || !blk.End() {
		return ins, fmt.Errorf("end of external data: %v %+v", err, blk)
	}
	// What a server sends before the sample block.
	proto.TableColumns{First: "", Second: "columns format version: 1\n0 columns:\n"}.EncodeAware(&b, v)
	proto.ServerCodeData.Encode(&b)
	proto.ClientData{}.EncodeAware(&b, v)
	start := len(b.Buf)
	if proto.FeatureBlockInfo.In(v) {
		proto.BlockInfo{BucketNum: -1}.Encode(&b)
	}
	b.PutInt(len(f.cols))
	b.PutInt(0)
	for _, c := range f.cols {
		b.PutString(c.Name)
		b.PutString(string(c.Type))
		if proto.FeatureCustomSerialization.In(v) {
			b.PutBool(false)
		}
	}
	if compressed {
		zw := compress.NewWriter(compress.LevelZero, compress.LZ4)
		if err := zw.Compress(b.Buf[start:]); err != nil {
			return ins, err
		}
		b.Buf = append(b.Buf[:start], zw.Data...)
	}
	if err := send(); err != nil {
		return ins, err
	}
	if _, err := block(ins.data.Auto()); err != nil {
		return ins, fmt.Errorf("data block: %w", err)
	}
	if blk, err := block(nil); err != nil || !blk.End() {
		return ins, fmt.Errorf("end of data: %v %+v", err, blk)
	}
	// What a current server sends after an insert.
	proto.ServerCodeProgress.Encode(&b)
	proto.Progress{WroteRows: uint64(ins.data.Rows())}.EncodeAware(&b, v)
	if proto.FeatureProfileEvents.In(v) {
		proto.ServerProfileEvents.Encode(&b)
		proto.ClientData{}.EncodeAware(&b, v)
		ev := proto.ProfileEvents{Value: proto.ColAuto{Data: new(proto.ColInt64), DataType: proto.ColumnTypeInt64}}
		ev.Host.Append("fake")
		ev.Time.Append(time.Unix(1_700_000_000, 0))
		ev.ThreadID.Append(1)
		ev.Type.Append(int8(proto.ProfileIncrement))
		ev.Name.Append("InsertedRows")
		ev.Value.Data.(*proto.ColInt64).Append(int64(ins.data.Rows()))
		var input proto.Input
		for _, c := range ev.Result() {
			input = append(input, proto.InputColumn{Name: c.Name, Data: c.Data.(proto.ColInput)})
		}
		if err := (proto.Block{Columns: len(input), Rows: 1}).EncodeBlock(&b, v, input); err != nil {
			return ins, err
		}
	}
	proto.ServerCodeEndOfStream.Encode(&b)
	return ins, send()
}

// nativeCols are the columns of the insert the native tests send: one the
// fast path writes, a Nullable one, and two through clickhouse-go's
// columns, one with a state prefix (LowCardinality).
var nativeCols = []proto.ColInfo{
	{Name: "s", Type: "String"},
	{Name: "n", Type: "Nullable(Int64)"},
	{Name: "ts", Type: "DateTime64(3, 'UTC')"},
	{Name: "lc", Type: "LowCardinality(String)"},
}

// nativeFill fills the columns of nativeCols with three rows.
func nativeFill(t *testing.T, sc *column.ServerContext) func(proto.ColInfoInput) ([]proto.InputColumn, error) {
	return func(info proto.ColInfoInput) ([]proto.InputColumn, error) {
		if fmt.Sprint(info) != fmt.Sprint(proto.ColInfoInput(nativeCols)) {
			t.Errorf("sample block %v, want %v", info, nativeCols)
		}
		s := new(proto.ColStr)
		s.Append("a")
		s.Append("")
		s.Append("日本")
		n := chTarget{col: new(proto.ColInt64), nulls: new(proto.ColUInt8)}
		*n.col.(*proto.ColInt64) = proto.ColInt64{7, 0, -9}
		*n.nulls = proto.ColUInt8{0, 1, 0}
		ts, err := column.Type("DateTime64(3, 'UTC')").Column("ts", sc)
		if err != nil {
			return nil, err
		}
		t0 := time.Date(2026, 12, 4, 1, 2, 3, 4_000_000, time.UTC)
		if _, err := ts.Append([]time.Time{t0, t0.Add(time.Second), t0.Add(time.Hour)}); err != nil {
			return nil, err
		}
		lc, err := column.Type("LowCardinality(String)").Column("lc", sc)
		if err != nil {
			return nil, err
		}
		if _, err := lc.Append([]string{"x", "y", "x"}); err != nil {
			return nil, err
		}
		return []proto.InputColumn{
			{Name: "s", Data: &fastCol{typ: "String", chTarget: chTarget{col: s}}},
			{Name: "n", Data: &fastCol{typ: "Nullable(Int64)", chTarget: n}},
			{Name: "ts", Data: &driverCol{Interface: ts}},
			{Name: "lc", Data: &driverCol{Interface: lc}},
		}, nil
	}
}

// TestNativeCurrentRevision inserts through nativeConn into a fake server
// of a current revision (54460, the newest ch-go knows, and a newer one the
// connection must negotiate down from), with and without compression: the
// query and the data block decode with ch-go's own server-side decoders
// to what was sent. ClickHouse 18.16 (revision 54412) is covered by every
// test against the real server.
func TestNativeCurrentRevision(t *testing.T) {
	for _, rev := range []int{proto.Version, proto.Version + 15} {
		for _, comp := range []bool{false, true} {
			t.Run(fmt.Sprintf("rev%d_compress%v", rev, comp), func(t *testing.T) {
				f, addr := newFakeServer(t, rev, nativeCols)
				o := &clickhouse.Options{Addr: []string{addr}, DialTimeout: 5 * time.Second}
				if comp {
					o.Compression = &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				var next atomic.Uint64
				c, err := dialNative(ctx, o, &next)
				if err != nil {
					t.Fatal(err)
				}
				defer c.close()
				if c.revision != proto.Version {
					t.Errorf("negotiated revision %d, want %d", c.revision, proto.Version)
				}
				body := "INSERT INTO `d`.`t` (`s`, `n`, `ts`, `lc`) VALUES"
				if err := c.insert(ctx, body, 5*time.Second, nativeFill(t, c.serverContext())); err != nil {
					t.Fatal(err)
				}
				got := <-f.got
				if got.err != nil {
					t.Fatalf("server: %v", got.err)
				}
				if got.q.Body != body || got.q.Info.ClientName != nativeClientName || got.q.Stage != proto.StageComplete || len(got.q.Settings) != 0 {
					t.Errorf("query %+v", got.q)
				}
				var rows []string
				for i := 0; i < got.data.Rows(); i++ {
					var vals []string
					for _, col := range got.data {
						var v any
						switch d := col.Data.(type) {
						case *proto.ColStr:
							v = d.Row(i)
						case *proto.ColNullable[int64]:
							if n := d.Row(i); n.Set {
								v = n.Value
							}
						case *proto.ColDateTime64:
							v = d.Row(i).UTC()
						case *proto.ColLowCardinality[string]:
							v = d.Row(i)
						default:
							t.Fatalf("column %s decoded as %T", col.Name, d)
						}
						vals = append(vals, fmt.Sprint(v))
					}
					rows = append(rows, strings.Join(vals, " "))
				}
				want := "a 7 2026-12-04 01:02:03.004 +0000 UTC x| <nil> 2026-12-04 01:02:04.004 +0000 UTC y|日本 -9 2026-12-04 02:02:03.004 +0000 UTC x"
				if g := strings.Join(rows, "|"); g != want {
					t.Errorf("server read\n%s\nwant\n%s", g, want)
				}
			})
		}
	}
}

// TestNativeOldServerHello: the hello of a server older than a field of
// ch-go's revision (the version patch, 54401) lacks it, and the connection
// does not wait for it.
func TestNativeOldServerHello(t *testing.T) {
	_, addr := newFakeServer(t, 54380, nativeCols)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var next atomic.Uint64
	c, err := dialNative(ctx, &clickhouse.Options{Addr: []string{addr}, DialTimeout: 5 * time.Second}, &next)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if c.revision != 54380 || c.server.Timezone != "UTC" || c.server.DisplayName != "fake" || c.server.Patch != 0 {
		t.Errorf("revision %d, hello %+v", c.revision, c.server)
	}
}

// TestIdleConnectionClosed: an idle insert connection the server (here a
// proxy in between) closed is not used for the next insert, which goes
// through at once instead of failing and being retried.
func TestIdleConnectionClosed(t *testing.T) {
	base := newEnv(t, nil)
	u, _ := url.Parse(base.dsn)
	p := newProxy(t, u.Host)
	s, err := NewSink("dw", withAddr(t, base.dsn, p.addr), map[string]any{"max_backoff": "50ms"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sch := kvSchema()
	w, err := s.Open(context.Background(), base.target("kv", connectors.ModeAppend, []string{"id"}, sch, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	write(t, w, base.build(sch, sysRow(1, false, "insert", 1, "a")), nil)
	flush(t, w)
	p.cut()
	p.restore()
	write(t, w, base.build(sch, sysRow(2, false, "insert", 2, "b")), nil)
	flush(t, w)
	if n := w.(*writer).retries.Load(); n != 0 {
		t.Errorf("%d retries after the idle connection was closed, want none", n)
	}
	if got := base.text("SELECT id, v FROM " + quote(base.db) + ".kv ORDER BY id"); got != "1\ta\n2\tb\n" {
		t.Errorf("got %q", got)
	}
}

// TestCompressedLargeBlock: a block of several MiB, compressed and written
// a chunk at a time (chunkBytes), arrives whole with lz4 and zstd.
func TestCompressedLargeBlock(t *testing.T) {
	for _, comp := range []string{"lz4", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			e := newEnv(t, map[string]any{"compression": comp})
			s := sinktest.SinkSchema(orderFields(), false)
			w := e.open(e.target("events", connectors.ModeAppend, nil, s, map[string]any{"batch_rows": 1_000_000}))
			const n = 120_000
			rows := make([][]any, n)
			for i := range rows {
				rows[i] = sysRow(uint64(i+1), false, "insert", int64(i), fmt.Sprintf("name %d %s", i%7, strings.Repeat("x", i%40)), fmt.Sprintf("%d.25", i))
			}
			write(t, w, e.build(s, rows...), nil)
			flush(t, w)
			if ins := w.(*writer).inserts.Load(); ins != 1 {
				t.Errorf("%d inserts, want 1", ins)
			}
			got := e.text("SELECT count(), sum(id), toString(sum(amount)), uniqExact(name), sum(length(name)) FROM " + quote(e.db) + ".events")
			var names int
			for i := 0; i < n; i++ {
				names += len(fmt.Sprintf("name %d ", i%7)) + i%40
			}
			if want := fmt.Sprintf("%d\t%d\t%d.00\t%d\t%d\n", n, n*(n-1)/2, n*(n-1)/2+n/4, 7*40/gcd(7, 40), names); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// TestNativeServerException: an error of the server during an insert is
// clickhouse-go's Exception (retryable reads its code) and leaves no
// connection behind in the pool.
func TestNativeServerException(t *testing.T) {
	e := newEnv(t, nil)
	sch := kvSchema()
	w := e.open(e.target("kv", connectors.ModeAppend, []string{"id"}, sch, nil))
	write(t, w, e.build(sch, sysRow(1, false, "insert", 1, "a")), nil)
	flush(t, w)
	e.exec("DROP TABLE " + quote(e.db) + ".kv")
	var got error
	write(t, w, e.build(sch, sysRow(2, false, "insert", 2, "b")), func(err error) { got = err })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = w.Flush(ctx)
	var ex *clickhouse.Exception
	if !errors.As(got, &ex) || ex.Code != 60 { // UNKNOWN_TABLE
		t.Fatalf("insert into a dropped table: %v, want exception 60", got)
	}
	s := w.(*writer).s
	s.mu.Lock()
	idle := len(s.idle)
	s.mu.Unlock()
	if idle != 0 {
		t.Errorf("%d idle connections after a failed insert, want 0", idle)
	}
}

// TestCloseWhileServerSilent: a server that accepts the insert connection
// and then answers nothing does not hold Close past close_timeout (the
// dial timeout and read_timeout are an hour here): the write fails as not
// made durable.
func TestCloseWhileServerSilent(t *testing.T) {
	base := newEnv(t, nil)
	u, _ := url.Parse(base.dsn)
	p := newProxy(t, u.Host)
	dsn := withAddr(t, base.dsn, p.addr) + "?read_timeout=1h"
	s, err := NewSink("dw", dsn, map[string]any{"dial_timeout": "1h"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sch := kvSchema()
	w, err := s.Open(context.Background(), base.target("kv", connectors.ModeAppend, []string{"id"}, sch, map[string]any{"close_timeout": "200ms"}))
	if err != nil {
		t.Fatal(err)
	}
	// From now on the address accepts connections and says nothing.
	p.cut()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var (
		mu   sync.Mutex
		held []net.Conn
	)
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	done := make(chan error, 1)
	write(t, w, base.build(sch, sysRow(1, false, "insert", 1, "a")), func(err error) { done <- err })
	closed := make(chan struct{})
	go func() { w.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second): // a liveness bound, not a measurement
		t.Fatal("Close still waits for a silent server after 30s (close_timeout 200ms)")
	}
	if err := <-done; !errors.Is(err, errClosed) {
		t.Errorf("write to a silent server: %v, want %v", err, errClosed)
	}
}
