package engine_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/exec/engine"
)

// resnapSource is an in-memory source whose stream reads a table again on
// request (connectors.Resnapshotter): the rows of table, then the end of
// the resnapshot, after the script.
type resnapSource struct {
	*source
	rows   map[string][]change // table → the rows a resnapshot reads
	refuse error               // what Resnapshot returns
	endErr string              // the end batch's Err
	endVer uint64

	rmu    sync.Mutex
	asked  []connectors.Resnapshot
	queue  []*exec.Batch
	notify chan struct{}
	// idle is closed when the stream first waits for a request (the
	// apply has looked at the requests there when it started).
	idle     chan struct{}
	idleOnce sync.Once
}

func newResnapSource(mem memory.Allocator) *resnapSource {
	return &resnapSource{source: newSource(mem), rows: map[string][]change{}, endVer: 555, notify: make(chan struct{}, 1), idle: make(chan struct{})}
}

func (s *resnapSource) Open(ctx context.Context, req connectors.StreamRequest) (connectors.Stream, error) {
	st, err := s.source.Open(ctx, req)
	if err != nil {
		return nil, err
	}
	return &resnapStream{stream: st.(*stream), rs: s}, nil
}

// requests returns the resnapshots the stream was asked for.
func (s *resnapSource) requests() []connectors.Resnapshot {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	return append([]connectors.Resnapshot(nil), s.asked...)
}

type resnapStream struct {
	*stream
	rs *resnapSource
}

func (st *resnapStream) Resnapshot(_ context.Context, r connectors.Resnapshot) error {
	s := st.rs
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.asked = append(s.asked, r)
	if s.refuse != nil {
		return s.refuse
	}
	b := sourceBatch(s.mem, r.Table.Table, 90, 900, nil, s.rows[r.Table.Table]...)
	b.Only = r.Pipeline
	end := sourceBatch(s.mem, r.Table.Table, 91, 0, nil)
	end.Resnapshot = &exec.ResnapshotEnd{ID: r.ID, Pipeline: r.Pipeline, Where: r.Where, Version: s.endVer, Err: s.endErr}
	s.queue = append(s.queue, b, end)
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return nil
}

func (st *resnapStream) Next(ctx context.Context) (*exec.Batch, error) {
	if st.next < len(st.s.script) {
		return st.stream.Next(ctx)
	}
	s := st.rs
	for {
		s.rmu.Lock()
		if len(s.queue) > 0 {
			b := s.queue[0]
			s.queue = s.queue[1:]
			s.rmu.Unlock()
			return b, nil
		}
		s.rmu.Unlock()
		if st.once {
			return nil, io.EOF
		}
		s.idleOnce.Do(func() { close(s.idle) })
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.notify:
		}
	}
}

// release frees the batches a test left in the queue.
func (s *resnapSource) release() {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	for _, b := range s.queue {
		b.Release()
	}
	s.queue = nil
}

// resnapEnv is an env whose source reads tables again on request.
func resnapEnv(t *testing.T, etl string) (*env, *resnapSource) {
	e := newEnv(t, newCatalog(t, "orders", "orders_2024"), etl)
	rs := newResnapSource(e.mem)
	rs.source = e.src
	t.Cleanup(rs.release)
	e.snk.truncater = true
	return e, rs
}

func (e *env) runWith(rs *resnapSource) error {
	o := e.opts(true)
	o.Sources = map[string]connectors.Source{"shop": rs}
	return engine.Run(context.Background(), e.plan, o)
}

func request(t *testing.T, dir string, req engine.ResnapshotRequest) string {
	t.Helper()
	if _, err := engine.WriteResnapshotRequest(dir, &req); err != nil {
		t.Fatal(err)
	}
	return req.ID
}

// requestFiles lists the resnapshot folder.
func requestFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, engine.ResnapshotDir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func failedReason(t *testing.T, dir, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, engine.ResnapshotDir, id+".failed"))
	if err != nil {
		t.Fatalf("request %s did not fail: %v (files %v)", id, err, requestFiles(t, dir))
	}
	reason, rest, _ := strings.Cut(string(b), "\n")
	if !strings.Contains(rest, `"pipeline"`) {
		t.Errorf("the .failed file does not keep the request after its reason: %q", b)
	}
	return reason
}

// TestResnapshotRun: a request there when the apply starts is handed to
// the stream (table, WHERE, pipeline); the resnapshot's rows reach the
// pipeline that asked only, whatever its SNAPSHOT mode; at its end the
// upsert target loses the range's rows older than the resnapshot (the
// WHERE renamed to the target's columns) and the request file is removed.
// A request of another source is left alone; one of a pipeline the file
// does not have fails (it waited unseen, and the apply that added the
// pipeline carried it out over its first snapshot).
func TestResnapshotRun(t *testing.T) {
	e, rs := resnapEnv(t, `CREATE PIPELINE orders
  FROM binlog shop.shopdb.orders
  TRANSFORM id AS order_id, status, qty
  INTO clickhouse dw.analytics.orders MODE upsert KEY (order_id);
CREATE PIPELINE other
  FROM binlog shop.shopdb.orders SNAPSHOT never
  TRANSFORM id, status
  INTO clickhouse dw.analytics.other MODE upsert KEY (id);
`)
	e.src.add("orders", ins(1, "new", 1))
	rs.rows["orders"] = []change{read(7, "paid", 2), read(8, "new", 3)}
	id := request(t, e.dir, engine.ResnapshotRequest{Source: "shop", Pipeline: "orders", Table: "shopdb.orders", Where: "id > 5"})
	otherSrc := request(t, e.dir, engine.ResnapshotRequest{Source: "elsewhere", Pipeline: "orders", Table: "shopdb.orders"})
	notRun := request(t, e.dir, engine.ResnapshotRequest{Source: "shop", Pipeline: "gone", Table: "shopdb.orders"})
	if err := e.runWith(rs); err != nil {
		t.Fatal(err)
	}
	asked := rs.requests()
	if len(asked) != 1 || asked[0] != (connectors.Resnapshot{ID: id, Pipeline: "orders", Table: connectors.TableRef{DB: "shopdb", Table: "orders"}, Where: "id > 5"}) {
		t.Fatalf("the stream was asked for %+v", asked)
	}
	equal(t, "orders", e.snk.rows("orders", "order_id", "status"), []string{"1 new", "7 paid", "8 new"})
	equal(t, "other", e.snk.rows("other", "id", "status"), []string{"1 new"}) // the change, not the resnapshot's rows
	truncs := e.snk.writers["orders"].truncs
	if len(truncs) != 1 {
		t.Fatalf("truncations %+v", truncs)
	}
	tr := truncs[0]
	if !tr.Older || tr.Version != 555 || tr.Filter != "`order_id`>5" || len(tr.Where) != 0 || tr.Table.String() != "shopdb.orders" {
		t.Errorf("truncation %+v", tr)
	}
	if len(e.snk.writers["other"].truncs) != 0 {
		t.Errorf("the other pipeline's target was truncated")
	}
	equal(t, "files left", requestFiles(t, e.dir), []string{otherSrc + ".json", notRun + ".failed"})
	if r := failedReason(t, e.dir, notRun); !strings.HasPrefix(r, "the running etlq apply does not run pipeline gone (not in the file it started with)") {
		t.Errorf("the request of a pipeline not in the file: %q", r)
	}
	if n := e.pipeline("orders").Batches.Load(); n != 3 {
		t.Errorf("batches %d: the insert, the resnapshot's rows and the range's removal", n)
	}
}

// TestResnapshotRunTableColumns: a pipeline that writes several tables
// into one target removes only the resnapshot table's rows, by its _table
// and _db output columns.
func TestResnapshotRunTableColumns(t *testing.T) {
	e, rs := resnapEnv(t, `CREATE PIPELINE orders
  FROM binlog shop.shopdb.orders*
  TRANSFORM id, status, _table AS tbl, _db AS db
  INTO clickhouse dw.analytics.orders MODE upsert KEY (tbl, id);
`)
	rs.rows["orders_2024"] = []change{read(3, "new", 1)}
	request(t, e.dir, engine.ResnapshotRequest{Source: "shop", Pipeline: "orders", Table: "shopdb.orders_2024", Where: "status = 'new'"})
	if err := e.runWith(rs); err != nil {
		t.Fatal(err)
	}
	equal(t, "orders", e.snk.rows("orders", "tbl", "id"), []string{"orders_2024 3"})
	truncs := e.snk.writers["orders"].truncs
	if len(truncs) != 1 || truncs[0].Where["tbl"] != "orders_2024" || truncs[0].Where["db"] != "shopdb" || len(truncs[0].Where) != 2 ||
		truncs[0].Filter != "`status`='new'" {
		t.Fatalf("truncations %+v", truncs)
	}
	equal(t, "files left", requestFiles(t, e.dir), nil)
}

// TestResnapshotRunAppend: an append target gets the rows again and
// nothing removed; the request is done.
func TestResnapshotRunAppend(t *testing.T) {
	e, rs := resnapEnv(t, `CREATE PIPELINE orders
  FROM binlog shop.shopdb.orders
  TRANSFORM id, status
  INTO clickhouse dw.analytics.orders MODE append;
`)
	rs.rows["orders"] = []change{read(4, "new", 1)}
	request(t, e.dir, engine.ResnapshotRequest{Source: "shop", Pipeline: "orders", Table: "shopdb.orders", Where: "qty > 0"})
	if err := e.runWith(rs); err != nil {
		t.Fatal(err)
	}
	equal(t, "orders", e.snk.rows("orders", "id", "status"), []string{"4 new"})
	if n := len(e.snk.writers["orders"].truncs); n != 0 {
		t.Errorf("an append target was truncated %d times", n)
	}
	equal(t, "files left", requestFiles(t, e.dir), nil)
}

// TestResnapshotRunFails: a request that cannot be carried out is renamed
// to <id>.failed with the reason as its first line: refused by the engine
// (SNAPSHOT only, a WHERE the target cannot select), by the stream, or
// ended with an error.
func TestResnapshotRunFails(t *testing.T) {
	const etl = `CREATE PIPELINE orders
  FROM binlog shop.shopdb.orders
  TRANSFORM id, upper(status) AS status
  INTO clickhouse dw.analytics.orders MODE upsert KEY (id);
CREATE PIPELINE snap
  FROM binlog shop.shopdb.orders SNAPSHOT only
  TRANSFORM id
  INTO clickhouse dw.analytics.snap MODE upsert KEY (id);
`
	t.Run("engine", func(t *testing.T) {
		e, rs := resnapEnv(t, etl)
		snap := request(t, e.dir, engine.ResnapshotRequest{Source: "shop", Pipeline: "snap", Table: "shopdb.orders"})
		computed := request(t, e.dir, engine.ResnapshotRequest{Source: "shop", Pipeline: "orders", Table: "shopdb.orders", Where: "status = 'x'"})
		if err := e.runWith(rs); err != nil {
			t.Fatal(err)
		}
		if len(rs.requests()) != 0 {
			t.Errorf("refused requests reached the stream: %+v", rs.requests())
		}
		if r := failedReason(t, e.dir, snap); !strings.Contains(r, "pipeline snap is SNAPSHOT only") {
			t.Errorf("snap: %s", r)
		}
		if r := failedReason(t, e.dir, computed); !strings.Contains(r, "column status is not passed to the target as it is") {
			t.Errorf("computed: %s", r)
		}
		equal(t, "files", requestFiles(t, e.dir), []string{snap + ".failed", computed + ".failed"})
	})
	t.Run("stream", func(t *testing.T) {
		e, rs := resnapEnv(t, etl)
		rs.refuse = errors.New("no such table at the source")
		id := request(t, e.dir, engine.ResnapshotRequest{Source: "shop", Pipeline: "orders", Table: "shopdb.orders"})
		if err := e.runWith(rs); err != nil {
			t.Fatal(err)
		}
		if r := failedReason(t, e.dir, id); r != "no such table at the source" {
			t.Errorf("reason %q", r)
		}
	})
	t.Run("end", func(t *testing.T) {
		e, rs := resnapEnv(t, etl)
		rs.endErr = "the table was dropped"
		rs.rows["orders"] = []change{read(1, "new", 1)}
		id := request(t, e.dir, engine.ResnapshotRequest{Source: "shop", Pipeline: "orders", Table: "shopdb.orders"})
		if err := e.runWith(rs); err != nil {
			t.Fatal(err)
		}
		if r := failedReason(t, e.dir, id); r != "the table was dropped" {
			t.Errorf("reason %q", r)
		}
		if n := len(e.snk.writers["orders"].truncs); n != 0 {
			t.Errorf("a failed resnapshot removed rows (%d truncations)", n)
		}
	})
}

// TestResnapshotPoll: a running apply picks up a request written after it
// started (and after its first look at the folder); the state directory
// is in use while it runs, and free after.
func TestResnapshotPoll(t *testing.T) {
	defer func(d time.Duration) { engine.ResnapshotPoll = d }(engine.ResnapshotPoll)
	engine.ResnapshotPoll = time.Millisecond
	e, rs := resnapEnv(t, upsertPipeline)
	rs.rows["orders"] = []change{read(2, "new", 1)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := e.opts(false)
	o.Sources = map[string]connectors.Source{"shop": rs}
	done := make(chan error, 1)
	go func() { done <- engine.Run(ctx, e.plan, o) }()
	select {
	case <-rs.idle:
	case err := <-done:
		t.Fatalf("the run ended: %v", err)
	}
	if !engine.StateDirInUse(e.dir) {
		t.Error("the state directory is not in use while the apply runs")
	}
	id := request(t, e.dir, engine.ResnapshotRequest{Source: "shop", Pipeline: "orders", Table: "shopdb.orders"})
	path := filepath.Join(e.dir, engine.ResnapshotDir, id+".json")
	// A bound so that a request never carried out fails the test rather
	// than hanging it (not a speed assertion).
	giveUp := time.After(time.Minute)
	for {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the run ended before the request was done: %v", err)
		case <-giveUp:
			t.Fatalf("the request written while the apply runs was not carried out (files %v)", requestFiles(t, e.dir))
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if engine.StateDirInUse(e.dir) {
		t.Error("the state directory is still in use after the run")
	}
	equal(t, "orders", e.snk.rows("orders", "id", "status"), []string{"2 new"})
	if truncs := e.snk.writers["orders"].truncs; len(truncs) != 1 || truncs[0].Version != 555 {
		t.Errorf("truncations %+v", truncs)
	}
}

// TestResnapshotRequests: a request is written whole under a name made
// of its time, pipeline and table (characters unsafe in a file name
// replaced); pending requests are read oldest first, with their ID from
// the file name, skipping other files; a broken file is an error naming it.
func TestResnapshotRequests(t *testing.T) {
	dir := t.TempDir()
	if reqs, err := engine.PendingResnapshots(dir); err != nil || reqs != nil {
		t.Fatalf("no folder: %v, %v", reqs, err)
	}
	at := time.Date(2026, 12, 4, 10, 0, 0, 5, time.UTC)
	req := &engine.ResnapshotRequest{Source: "shop", Pipeline: "p/x", Table: "shop db.ö", Where: "id > 1", Requested: at}
	path, err := engine.WriteResnapshotRequest(dir, req)
	if err != nil {
		t.Fatal(err)
	}
	if want := "20261204T100000.000000005-p_x-shop_db._"; req.ID != want || path != filepath.Join(dir, engine.ResnapshotDir, want+".json") {
		t.Errorf("id %q, path %q", req.ID, path)
	}
	// A request may hold a --where with values from the tables: as
	// private as the checkpoint (security trial: it was 0644 in 0755).
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700 | os.ModeDir} {
		if st, err := os.Stat(p); err != nil || st.Mode() != want {
			t.Errorf("%s: mode %v (%v), want %v", p, st.Mode(), err, want)
		}
	}
	older := &engine.ResnapshotRequest{ID: "0-first", Source: "shop", Pipeline: "p", Table: "a.b"}
	if _, err := engine.WriteResnapshotRequest(dir, older); err != nil {
		t.Fatal(err)
	}
	if older.Requested.IsZero() {
		t.Error("the request time was not set")
	}
	rdir := filepath.Join(dir, engine.ResnapshotDir)
	for name, data := range map[string]string{"x.failed": "reason", ".y.tmp": "{", ".z.json": "{", "notes.txt": ""} {
		if err := os.WriteFile(filepath.Join(rdir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(rdir, "sub.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The file name, not the content, names the request.
	if err := os.Rename(path, filepath.Join(rdir, "1-renamed.json")); err != nil {
		t.Fatal(err)
	}
	reqs, err := engine.PendingResnapshots(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 || *reqs[0] != *older || reqs[1].ID != "1-renamed" || reqs[1].Where != "id > 1" || !reqs[1].Requested.Equal(at) || reqs[1].Table != "shop db.ö" {
		t.Errorf("pending %+v %+v", reqs[0], reqs[len(reqs)-1])
	}
	if err := os.WriteFile(filepath.Join(rdir, "2-bad.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := engine.PendingResnapshots(dir); err == nil || !strings.Contains(err.Error(), "resnapshot request 2-bad.json") {
		t.Errorf("a broken request: %v", err)
	}
	if _, err := engine.WriteResnapshotRequest(filepath.Join(rdir, "x.failed"), &engine.ResnapshotRequest{}); err == nil {
		t.Error("a request written under a file was not refused")
	}
}

// TestCheckResnapshotRefusals: what a request cannot ask of a pipeline.
func TestCheckResnapshotRefusals(t *testing.T) {
	p := plan(t, newCatalog(t, "orders", "orders_2024", "items"), `CREATE PIPELINE many
  FROM binlog shop.shopdb.orders*
  TRANSFORM id, status
  INTO clickhouse dw.analytics.many MODE upsert KEY (id)
  WITH (key_unique_across_tables = true);
CREATE PIPELINE log
  FROM binlog shop.shopdb.orders
  TRANSFORM id, status
  INTO clickhouse dw.analytics.log MODE append;
CREATE PIPELINE tagged
  FROM binlog shop.shopdb.orders*
  TRANSFORM id, _table AS t
  INTO clickhouse dw.analytics.tagged MODE upsert KEY (t, id);
`)
	pipes := map[string]int{}
	for i, pl := range p.Pipelines {
		pipes[pl.Name] = i
	}
	for _, c := range []struct {
		pipeline, table, where, want string
	}{
		{"many", "shopdb.orders_2024", "", "has no _table output column"},
		{"many", "shopdb.items", "", "does not read table shopdb.items"},
		{"many", "orders", "", "does not read table orders"},
		{"log", "shopdb.orders", "id >", "not an SQL condition"},
		{"log", "shopdb.orders", "x = 1 ORDER BY id", "not one SQL condition"},
		{"tagged", "otherdb.orders", "", "does not read table"},
	} {
		_, err := engine.CheckResnapshot(p.Pipelines[pipes[c.pipeline]], &engine.ResnapshotRequest{Table: c.table, Where: c.where})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	// An append target keeps every row: any condition will do, even on
	// a column it does not hold.
	if f, err := engine.CheckResnapshot(p.Pipelines[pipes["log"]], &engine.ResnapshotRequest{Table: "shopdb.orders", Where: "qty > 1"}); err != nil || f != "" {
		t.Errorf("append: %q, %v", f, err)
	}
	if f, err := engine.CheckResnapshot(p.Pipelines[pipes["tagged"]], &engine.ResnapshotRequest{Table: "shopdb.orders_2024", Where: "id = 1"}); err != nil || f != "`id`=1" {
		t.Errorf("tagged: %q, %v", f, err)
	}
}

// TestResnapshotRunBrokenRequest: a request file that is not a request
// fails (renamed to .failed with the reason) instead of keeping every
// other request from being carried out.
func TestResnapshotRunBrokenRequest(t *testing.T) {
	e, rs := resnapEnv(t, upsertPipeline)
	rs.rows["orders"] = []change{read(2, "new", 1)}
	id := request(t, e.dir, engine.ResnapshotRequest{Source: "shop", Pipeline: "orders", Table: "shopdb.orders"})
	if err := os.WriteFile(filepath.Join(e.dir, engine.ResnapshotDir, "0-broken.json"), []byte(`{"pipeline": `), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.runWith(rs); err != nil {
		t.Fatal(err)
	}
	if asked := rs.requests(); len(asked) != 1 || asked[0].ID != id {
		t.Errorf("the stream was asked for %+v", asked)
	}
	b, err := os.ReadFile(filepath.Join(e.dir, engine.ResnapshotDir, "0-broken.failed"))
	if err != nil {
		t.Fatalf("the broken request did not fail: %v (files %v)", err, requestFiles(t, e.dir))
	}
	if reason, rest, _ := strings.Cut(string(b), "\n"); !strings.Contains(reason, "resnapshot request 0-broken.json") || rest != `{"pipeline": ` {
		t.Errorf(".failed file %q", b)
	}
	equal(t, "files", requestFiles(t, e.dir), []string{"0-broken.failed"})
}

// TestResnapshotRunAppendKeptUntilAcknowledged (issue #12): the request
// of an append target is removed only once the sink acknowledged the rows
// it read again. The sink holds its acknowledgements; while it does, the
// request file stays (a kill -9 then leaves it for the next run), and it
// goes once they come. (Failed before: it was removed at the resnapshot's
// end, before the rows were acknowledged.)
func TestResnapshotRunAppendKeptUntilAcknowledged(t *testing.T) {
	e, rs := resnapEnv(t, `CREATE PIPELINE orders
  FROM binlog shop.shopdb.orders
  TRANSFORM id, status
  INTO clickhouse dw.analytics.orders MODE append;
`)
	rs.rows["orders"] = []change{read(4, "new", 1)}
	e.snk.holdAcks = true
	request(t, e.dir, engine.ResnapshotRequest{Source: "shop", Pipeline: "orders", Table: "shopdb.orders"})
	before := requestFiles(t, e.dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := e.opts(false)
	o.Sources = map[string]connectors.Source{"shop": rs}
	ran := make(chan error, 1)
	go func() { ran <- engine.Run(ctx, e.plan, o) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(e.snk.rows("orders", "id")) == 0 || len(rs.requests()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the rows read again did not reach the sink")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // the resnapshot's end dispatched
	equal(t, "request files while the sink holds the rows", requestFiles(t, e.dir), before)
	e.snk.writers["orders"].Flush(ctx) // the acknowledgements come
	for len(requestFiles(t, e.dir)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the request was not removed once acknowledged: %v", requestFiles(t, e.dir))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-ran
}
