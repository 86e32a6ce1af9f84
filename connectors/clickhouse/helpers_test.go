package clickhouse

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/shopspring/decimal"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/connectors/testenv"
	"github.com/etlq/etlq/exec"
)

// chEnv is a test's sink, its database and a direct connection.
type chEnv struct {
	t    testing.TB
	dsn  string
	db   string
	sink *Sink
	conn driver.Conn
	mem  *memory.CheckedAllocator
}

func newEnv(t testing.TB, opts map[string]any) *chEnv {
	t.Helper()
	dsn := testenv.ClickHouseDSN(t)
	e := &chEnv{t: t, dsn: dsn, db: testenv.UniqueName(t), mem: memory.NewCheckedAllocator(memory.NewGoAllocator())}
	o, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if e.conn, err = clickhouse.Open(o); err != nil {
		t.Fatal(err)
	}
	s, err := NewSink("dw", dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.sink = s
	t.Cleanup(func() {
		s.Close()
		_ = e.conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+quote(e.db))
		e.conn.Close()
		e.mem.AssertSize(t, 0)
	})
	return e
}

// withAddr returns dsn pointing at addr instead.
func withAddr(t testing.TB, dsn, addr string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

func (e *chEnv) exec(q string) {
	e.t.Helper()
	if err := e.conn.Exec(context.Background(), q); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

// query returns the rows of q, each value as clickhouse-go scans it.
func (e *chEnv) query(q string) [][]any {
	e.t.Helper()
	rows, err := e.conn.Query(context.Background(), q)
	if err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out [][]any
	types := rows.ColumnTypes()
	for rows.Next() {
		vals := make([]any, len(types))
		for i, ct := range types {
			vals[i] = newScan(ct.ScanType())
		}
		if err := rows.Scan(vals...); err != nil {
			e.t.Fatal(err)
		}
		for i := range vals {
			vals[i] = deref(vals[i])
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// text returns the rows of q as tab-separated text lines, values formatted
// by the server (toString), which is exact for every type.
func (e *chEnv) text(q string) string {
	e.t.Helper()
	var b strings.Builder
	for _, r := range e.query(q) {
		for i, v := range r {
			if i > 0 {
				b.WriteByte('\t')
			}
			if d, ok := v.(decimal.Decimal); ok {
				b.WriteString(d.StringFixed(-d.Exponent()))
			} else if v == nil {
				b.WriteString("NULL")
			} else {
				fmt.Fprint(&b, v)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// target makes a Target into db.table.
func (e *chEnv) target(table string, mode connectors.Mode, key []string, schema *arrow.Schema, opts map[string]any) connectors.Target {
	return connectors.Target{Pipeline: "p", Name: e.db + "." + table, Schema: schema, Mode: mode, Key: key, Options: opts}
}

// open opens a writer and closes it at the end of the test.
func (e *chEnv) open(tg connectors.Target) connectors.Writer {
	e.t.Helper()
	w, err := e.sink.Open(context.Background(), tg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { w.Close() })
	return w
}

// acks records done callbacks.
type acks struct {
	mu    sync.Mutex
	order []int
	errs  map[int]error
}

func (a *acks) done(i int) func(error) {
	return func(err error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.order = append(a.order, i)
		if err != nil {
			if a.errs == nil {
				a.errs = map[int]error{}
			}
			a.errs[i] = err
		}
	}
}

func (a *acks) snapshot() ([]int, map[int]error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	errs := map[int]error{}
	for k, v := range a.errs {
		errs[k] = v
	}
	return append([]int(nil), a.order...), errs
}

// write writes b and fails the test on a Write error.
func write(t testing.TB, w connectors.Writer, b *exec.Batch, done func(error)) {
	t.Helper()
	if err := w.Write(context.Background(), b, done); err != nil {
		t.Fatal(err)
	}
}

func flush(t testing.TB, w connectors.Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// sysRow appends the system column values to a row of user values.
func sysRow(version uint64, deleted bool, op string, user ...any) []any {
	d := uint8(0)
	if deleted {
		d = 1
	}
	return append(user, version, d, op, time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), fmt.Sprintf("binlog.000001:%d", version))
}

// build makes a sink batch; see sinktest.Build for the values.
func (e *chEnv) build(s *arrow.Schema, rows ...[]any) *exec.Batch {
	return sinktest.Build(e.mem, s, "src", "t", rows...)
}

func newScan(t reflect.Type) any { return reflect.New(t).Interface() }

// deref returns what a scan pointer holds; nil for a NULL.
func deref(v any) any {
	rv := reflect.ValueOf(v).Elem()
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	return rv.Interface()
}

// readAll reads a table as the conformance suite wants it: one map per
// row; Int64 columns holding timestamps (servers without DateTime64) as
// time.Time.
func (e *chEnv) readAll(t *testing.T, table string) []map[string]any {
	t.Helper()
	kinds := map[string]arrow.DataType{}
	for _, f := range sinktest.AllTypes() {
		kinds[f.Name] = f.Type
	}
	rows, err := e.conn.Query(context.Background(), "SELECT * FROM "+quote(e.db)+"."+quote(table))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	var out []map[string]any
	for rows.Next() {
		vals := make([]any, len(types))
		for i, ct := range types {
			vals[i] = newScan(ct.ScanType())
		}
		if err := rows.Scan(vals...); err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		for i, ct := range types {
			v := deref(vals[i])
			if us, ok := v.(int64); ok && kinds[ct.Name()] != nil && kinds[ct.Name()].ID() == arrow.TIMESTAMP {
				v = time.UnixMicro(us).UTC()
			}
			m[ct.Name()] = v
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// proxied returns a sink of opts that reaches the test's ClickHouse
// through a proxy the test can cut, closed at the end of the test.
func (e *chEnv) proxied(opts map[string]any) (*Sink, *proxy) {
	e.t.Helper()
	t := e.t.(*testing.T)
	u, _ := url.Parse(e.dsn)
	p := newProxy(t, u.Host)
	s, err := NewSink("dw", withAddr(t, e.dsn, p.addr), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, p
}

// tables lists the tables of the test's database, one a line.
func (e *chEnv) tables() string {
	e.t.Helper()
	e.sink.awaitDrops(time.Minute) // a swap's old table, dropped in the background
	return e.text("SELECT name FROM system.tables WHERE database = '" + e.db + "' ORDER BY name")
}
