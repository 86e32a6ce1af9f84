package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/exec/engine"
)

const upsertPipeline = `CREATE PIPELINE orders
  FROM binlog shop.shopdb.orders
  WHERE status <> 'cancelled'
  TRANSFORM id, status, qty
  INTO clickhouse dw.analytics.orders MODE upsert KEY (id);
`

// TestRunUpsert: an upsert target gets the rows that pass WHERE, and a
// tombstone for a delete, for an update that leaves WHERE and for the old
// key of an update that changed it; the checkpoint is the last batch's
// mark, committed after every write was acknowledged.
func TestRunUpsert(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), upsertPipeline)
	e.snk.holdAcks = true // acknowledged at the flush only
	e.src.add("orders", read(1, "new", 1), read(2, "new", 2)).
		add("orders", ins(3, "new", 3), upd(4, "paid", 3, 3)).
		add("orders", del(1, "new", 1), upd(2, "cancelled", 2, 2), ins(5, "cancelled", 1))
	if err := e.run(); err != nil {
		t.Fatal(err)
	}
	equal(t, "rows", e.snk.rows("orders", "id", "status", exec.SysDeleted, exec.SysOp, exec.SysVersion), []string{
		"1 new 0 read 100",
		"2 new 0 read 101",
		"3 new 0 insert 102",
		"4 paid 0 update 103",
		"3 paid 1 update 103",      // the old key of the update
		"2 cancelled 1 update 105", // left WHERE
		"1 new 1 delete 104",
	})
	if got := e.checkpoint(); got != `{"pos":3}` {
		t.Errorf("checkpoint %s, want the last batch's mark", got)
	}
	st := e.pipeline("orders")
	// The 7 rows written are 4 rows out and 3 tombstones; WHERE left out
	// 2 source rows (one of them an update: a tombstone too).
	if st.RowsIn.Load() != 7 || st.RowsOut.Load() != 4 || st.Tombstones.Load() != 3 || st.RowsFiltered.Load() != 2 || st.Batches.Load() != 3 || st.Source != "shop" {
		t.Errorf("stats: in %d out %d tombstones %d filtered %d batches %d source %q", st.RowsIn.Load(), st.RowsOut.Load(), st.Tombstones.Load(), st.RowsFiltered.Load(), st.Batches.Load(), st.Source)
	}
	req := e.src.request(t)
	if !req.Before || !req.Once || len(req.Tables) != 1 || req.Tables[0].Ref.String() != "shopdb.orders" || req.Tables[0].Snapshot != connectors.SnapshotInitial {
		t.Errorf("stream request: %+v", req)
	}
	if !e.src.closed || !e.snk.closed || !e.snk.writers["orders"].closed {
		t.Error("the source, the sink and the writer are closed at the end of the run")
	}
}

// TestRunResumes: a second run resumes from the checkpoint, and asks the
// targets for the largest version they hold (the stream's version floor).
func TestRunResumes(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), upsertPipeline)
	e.src.add("orders", ins(1, "new", 1))
	if err := e.run(); err != nil {
		t.Fatal(err)
	}
	if req := e.src.request(t); req.Resume != nil || req.VersionFloor != 0 {
		t.Errorf("first run: resume %s floor %d", req.Resume, req.VersionFloor)
	}
	e.snk.maxVer = 41
	if err := e.run(); err != nil {
		t.Fatal(err)
	}
	req := e.src.request(t)
	if compact(req.Resume) != `{"pos":1}` || req.VersionFloor != 42 {
		t.Errorf("second run: resume %s floor %d, want the checkpoint and 42", req.Resume, req.VersionFloor)
	}
	if !strings.Contains(req.Instance, e.dir) {
		t.Errorf("instance %q does not name the state directory", req.Instance)
	}
}

// TestRunStartMark: a stream that knows where it starts has its start
// checkpointed before any row is written.
func TestRunStartMark(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), upsertPipeline)
	e.src.start = &exec.Mark{Source: "shop", State: []byte(`{"pos":0}`)}
	e.src.fail(errors.New("connection lost"))
	err := e.run()
	if err == nil || !strings.Contains(err.Error(), "source shop: connection lost") {
		t.Fatalf("run: %v, want the stream's error", err)
	}
	if got := e.checkpoint(); got != `{"pos":0}` {
		t.Errorf("checkpoint %q, want the stream's start", got)
	}
}

// TestRunRaisedMark: a stream resumed from a checkpoint that started its
// version counter above the checkpoint's has that mark (the checkpoint's
// position, the raised counter) checkpointed before any row is written,
// with the checkpoint's own pipelines; without a checkpoint nothing is
// resumed, and a stream's raised mark is not asked for.
func TestRunRaisedMark(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), upsertPipeline)
	e.src.raised = &exec.Mark{Source: "shop", State: []byte(`{"pos":7,"version":9}`)}
	e.src.fail(errors.New("connection lost"))
	if err := e.run(); err == nil {
		t.Fatal("run: no error, want the stream's")
	}
	if got := e.checkpoint(); got != "" {
		t.Fatalf("checkpoint %q of a first run (no checkpoint to raise), want none", got)
	}
	e.src.raised = nil
	e.src.script = nil
	e.src.add("orders", ins(1, "new", 1))
	if err := e.run(); err != nil {
		t.Fatal(err)
	}
	if got := e.checkpoint(); got != `{"pos":1}` {
		t.Fatalf("checkpoint %q, want the first batch's", got)
	}
	e.src.raised = &exec.Mark{Source: "shop", State: []byte(`{"pos":1,"version":4242}`)}
	e.src.script = nil
	e.src.fail(errors.New("connection lost"))
	err := e.run()
	if err == nil || !strings.Contains(err.Error(), "source shop: connection lost") {
		t.Fatalf("run: %v, want the stream's error", err)
	}
	if got := e.checkpoint(); got != `{"pos":1,"version":4242}` {
		t.Errorf("checkpoint %q, want the raised counter at the checkpoint's position", got)
	}
	data, _ := os.ReadFile(e.dir + "/source-shop.json")
	if !strings.Contains(string(data), `"pipelines": [
    "orders"
  ]`) {
		t.Errorf("the checkpoint's pipelines are not kept:\n%s", data)
	}
}

// TestRunFailedWriteStopsCheckpoints: a write the sink fails stops the run;
// the checkpoint stays at the last batch before it whose every write was
// acknowledged.
func TestRunFailedWriteStopsCheckpoints(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), upsertPipeline)
	e.snk.failAfter["orders"] = 1
	e.snk.failErr = errors.New("disk full")
	e.src.add("orders", ins(1, "new", 1)).add("orders", ins(2, "new", 1)).add("orders", ins(3, "new", 1))
	err := e.run()
	if err == nil || !strings.Contains(err.Error(), "pipeline orders: disk full") {
		t.Fatalf("run: %v, want the write's error", err)
	}
	if got := e.checkpoint(); got != `{"pos":1}` {
		t.Errorf("checkpoint %q, want the first batch's mark only", got)
	}
	if e.pipeline("orders").WriteFailures.Load() == 0 {
		t.Error("no write failure counted")
	}
}

// TestRunRefusedWrite: a write the writer refuses at once stops the run
// without a checkpoint past it.
func TestRunRefusedWrite(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), upsertPipeline)
	e.snk.refuse = errors.New("writer closed")
	e.src.add("orders", ins(1, "new", 1))
	err := e.run()
	if err == nil || !strings.Contains(err.Error(), "pipeline orders: writer closed") {
		t.Fatalf("run: %v", err)
	}
	if got := e.checkpoint(); got != "" {
		t.Errorf("checkpoint %q after a refused write", got)
	}
	if e.pipeline("orders").WriteFailures.Load() != 1 {
		t.Error("the refused write is a write failure")
	}
}

// TestRunRowErrorFails: under on_error = 'fail' a row that fails stops the
// pipeline with the row's table, position, operation and key.
func TestRunRowErrorFails(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE orders
  FROM binlog shop.shopdb.orders
  WHERE assert(qty > 0, 'qty must be positive')
  TRANSFORM id, status, qty
  INTO clickhouse dw.analytics.orders MODE upsert KEY (id);
`)
	e.src.add("orders", ins(1, "new", 1)).add("orders", ins(2, "new", 0))
	err := e.run()
	want := `row of shopdb.orders at bin.000001:2000 (insert, id = 2): column "WHERE": assert: qty must be positive`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("run: %v, want %q", err, want)
	}
	if got := e.checkpoint(); got != `{"pos":1}` {
		t.Errorf("checkpoint %q, want the batch before the bad row", got)
	}
	if e.pipeline("orders").RowErrors.Load() != 1 {
		t.Error("the row that stopped the pipeline is a row error")
	}
}

// TestRunRowErrorValue: a failing cast names the row by its key and
// quotes the value of the source column it failed on.
func TestRunRowErrorValue(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE orders
  FROM binlog shop.shopdb.orders
  TRANSFORM id, CAST(status AS INT64) AS status, qty
  INTO clickhouse dw.analytics.orders MODE upsert KEY (id);
`)
	e.src.add("orders", ins(7, "n'ew", 1))
	err := e.run()
	want := `row of shopdb.orders at bin.000001:1000 (insert, id = 7): column "status" = 'n''ew': `
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("run: %v, want %q", err, want)
	}
}

// TestRunSinkRowErrors: under on_error = 'dead_letter' a row the sink says
// it cannot take (connectors.RowChecker) is left out of the write and
// dead-lettered, naming the row as the sink did; the other rows are
// written. Under 'fail' the sink is not asked.
func TestRunSinkRowErrors(t *testing.T) {
	const p = `CREATE PIPELINE orders
  FROM binlog shop.shopdb.orders
  TRANSFORM id, status, qty
  INTO clickhouse dw.analytics.orders
  WITH (on_error = '%s');
`
	e := newEnv(t, newCatalog(t, "orders"), fmt.Sprintf(p, "dead_letter"))
	e.snk.negativeQty = true
	e.src.add("orders", ins(1, "new", 1), ins(2, "new", -5), ins(3, "new", 3))
	if err := e.run(); err != nil {
		t.Fatal(err)
	}
	equal(t, "rows", e.snk.rows("orders", "id", "qty"), []string{"1 1", "3 3"})
	st := e.pipeline("orders")
	if st.RowErrors.Load() != 1 || st.DeadLetters.Load() != 1 {
		t.Errorf("row errors %d dead letters %d", st.RowErrors.Load(), st.DeadLetters.Load())
	}
	f, err := os.Open(engine.DeadLetterFile(e.dir, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	letters, err := engine.ReadDeadLetters(f, "orders.jsonl")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 1 || letters[0].Key != "id = 2" || letters[0].Value != "'-5'" || letters[0].Column != "qty" ||
		letters[0].Error != `pipeline orders: row of shopdb.orders at p (insert, id = 2): column "qty" = '-5': negative` ||
		letters[0].Row["qty"] == nil || *letters[0].Row["qty"] != "-5" || letters[0].Version == 0 {
		t.Errorf("dead letters: %+v", letters)
	}
}

// TestRunDeadLetters: under on_error = 'dead_letter' a failing row goes to
// the state directory's file (and its key is removed from the upsert
// target); a replay with the rule fixed writes it with its own version.
func TestRunDeadLetters(t *testing.T) {
	const rule = `CREATE PIPELINE orders
  FROM binlog shop.shopdb.orders
  WHERE assert(qty > %s, 'qty must be positive')
  TRANSFORM id, status, qty
  INTO clickhouse dw.analytics.orders MODE upsert KEY (id)
  WITH (on_error = 'dead_letter');
`
	cat := newCatalog(t, "orders")
	e := newEnv(t, cat, strings.Replace(rule, "%s", "0", 1))
	e.src.add("orders", ins(1, "new", 1), ins(2, "new", -5), upd(3, "paid", 2, 3))
	if err := e.run(); err != nil {
		t.Fatal(err)
	}
	equal(t, "rows", e.snk.rows("orders", "id", "qty", exec.SysDeleted), []string{
		"1 1 0",
		"3 2 0",
		"2 -5 1", // failed the rule: its key goes
	})
	st := e.pipeline("orders")
	if st.RowErrors.Load() != 1 || st.DeadLetters.Load() != 1 {
		t.Errorf("row errors %d dead letters %d", st.RowErrors.Load(), st.DeadLetters.Load())
	}
	f, err := os.Open(engine.DeadLetterFile(e.dir, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	letters, err := engine.ReadDeadLetters(f, "orders.jsonl")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 1 || letters[0].Reason != "assert: qty must be positive" || letters[0].Row["id"] == nil || *letters[0].Row["id"] != "2" ||
		letters[0].Version != 101 || letters[0].Table != "shopdb.orders" || letters[0].Op != exec.OpInsert {
		t.Fatalf("dead letters: %+v", letters)
	}
	// The letter names the row as on_error = 'fail' would.
	if l := letters[0]; l.Key != "id = 2" || l.Error != `pipeline orders: row of shopdb.orders at bin.000001:1001 (insert, id = 2): column "WHERE": assert: qty must be positive` {
		t.Errorf("dead letter key %q error %q", l.Key, l.Error)
	}

	// The rule fixed (qty > -10): the replay writes the row, version kept.
	fixed := plan(t, cat, strings.Replace(rule, "%s", "-10", 1))
	snk := newSink()
	opts := e.opts(true)
	opts.Sinks = map[string]connectors.Sink{"dw": snk}
	opts.Stats = nil // the replay's own counts
	res, err := engine.Replay(context.Background(), fixed, "orders", letters, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Letters != 1 || res.Written != 1 || res.Dead != 0 {
		t.Errorf("replay: %+v", res)
	}
	equal(t, "replayed", snk.rows("orders", "id", "qty", exec.SysDeleted, exec.SysVersion, exec.SysOp), []string{"2 -5 0 101 insert"})
	if _, err := engine.Replay(context.Background(), fixed, "nope", letters, opts); err == nil || !strings.Contains(err.Error(), `no pipeline "nope" in the file (it has orders)`) {
		t.Errorf("replay of an unknown pipeline: %v", err)
	}
}

// deadLetterTargetPipeline keeps the rows its rule fails in the target
// analytics.orders_dead.
const deadLetterTargetPipeline = `CREATE PIPELINE orders
  FROM binlog shop.shopdb.orders
  WHERE assert(qty > 0, 'qty must be positive')
  TRANSFORM id, status, qty
  INTO clickhouse dw.analytics.orders MODE append
  WITH (on_error = 'dead_letter', dead_letter = 'clickhouse dw.analytics.orders_dead');
`

// TestRunDeadLetterTarget: the dead_letter option names a target: the
// letters are rows written there, acknowledged before the batch goes on.
func TestRunDeadLetterTarget(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), deadLetterTargetPipeline)
	e.src.add("orders", ins(1, "new", 1), ins(2, "new", 0))
	if err := e.run(); err != nil {
		t.Fatal(err)
	}
	equal(t, "rows", e.snk.rows("orders", "id", exec.SysDeleted), []string{"1 0"})
	var dead *writer
	for _, w := range e.snk.writers {
		if w.t.Name == "analytics.orders_dead" {
			dead = w
		}
	}
	if dead == nil {
		t.Fatalf("no dead-letter target opened: %+v", e.snk.opened)
	}
	if len(dead.got) != 1 || dead.got[0]["reason"] != "assert: qty must be positive" || !strings.Contains(dead.got[0]["row"], `"id":"2"`) {
		t.Errorf("dead letters written: %v", dead.got)
	}
	if _, err := os.Stat(engine.DeadLetterFile(e.dir, "orders")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a dead-letter file beside the target: %v", err)
	}
}

// TestRunChangelogBefore: a changelog target gets every change that passes
// WHERE, deletes included, with the outputs over the before image.
func TestRunChangelogBefore(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE orders
  FROM binlog shop.shopdb.orders
  TRANSFORM id, upper(status) AS status, _op AS op
  INTO clickhouse dw.analytics.orders MODE changelog;
`)
	e.src.add("orders", ins(1, "new", 1), upd(2, "paid", 1, 1), del(2, "paid", 1))
	if err := e.run(); err != nil {
		t.Fatal(err)
	}
	equal(t, "rows", e.snk.rows("orders", "id", "status", "op", exec.SysDeleted, exec.SysBeforePrefix+"id", exec.SysBeforePrefix+"status", exec.SysBeforePrefix+"op"), []string{
		"1 NEW insert 0 (null) (null) -",
		"2 PAID update 0 1 PAID -",
		"2 PAID delete 0 (null) (null) -",
	})
}

// TestRunSnapshotModes: two pipelines read one table, one the snapshot
// only and one the binlog only: the source is asked for both, and each
// pipeline keeps its part.
func TestRunSnapshotModes(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE snap
  FROM binlog shop.shopdb.orders SNAPSHOT only
  TRANSFORM id
  INTO clickhouse dw.analytics.snap MODE append;
CREATE PIPELINE live
  FROM binlog shop.shopdb.orders SNAPSHOT never
  TRANSFORM id
  INTO clickhouse dw.analytics.live MODE append;
`)
	e.src.add("orders", read(1, "a", 1), read(2, "b", 1)).add("orders", ins(3, "c", 1))
	if err := e.run(); err != nil {
		t.Fatal(err)
	}
	equal(t, "snapshot only", e.snk.rows("snap", "id", exec.SysOp), []string{"1 read", "2 read"})
	equal(t, "never", e.snk.rows("live", "id", exec.SysOp), []string{"3 insert"})
	if req := e.src.request(t); len(req.Tables) != 1 || req.Tables[0].Snapshot != connectors.SnapshotInitial {
		t.Errorf("tables asked for: %+v", req.Tables)
	}
}

// TestRunWindowedSnapshotChunk: the rows a windowed snapshot placement
// leaves out of a chunk (its selection) are not the binlog pipeline's, but
// a SNAPSHOT only pipeline takes the whole chunk.
func TestRunWindowedSnapshotChunk(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE snap
  FROM binlog shop.shopdb.orders SNAPSHOT only
  TRANSFORM id
  INTO clickhouse dw.analytics.snap MODE append;
CREATE PIPELINE both
  FROM binlog shop.shopdb.orders
  TRANSFORM id
  INTO clickhouse dw.analytics.both MODE append;
`)
	e.src.add("orders", read(1, "a", 1), read(2, "b", 1), read(3, "c", 1))
	inner := e.src.script[0].b
	e.src.script[0].b = func(mem memory.Allocator) *exec.Batch {
		b := inner(mem)
		b.Sel = []int32{0, 2}
		return b
	}
	if err := e.run(); err != nil {
		t.Fatal(err)
	}
	equal(t, "snapshot only", e.snk.rows("snap", "id"), []string{"1", "2", "3"})
	equal(t, "initial", e.snk.rows("both", "id"), []string{"1", "3"})
}

// TestRunRoutesTables: a batch goes to the pipelines that read its table
// only; a table no pattern matches is left alone, and a table created
// under a pattern while the stream runs joins the pipeline, planned for
// its schema.
func TestRunRoutesTables(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), "CREATE PIPELINE orders\n  FROM binlog shop.shopdb.orders*\n  TRANSFORM id, _table AS tbl\n  INTO clickhouse dw.analytics.orders MODE append;\n")
	e.src.add("orders", ins(1, "a", 1)).
		add("customers", ins(7, "x", 1)).
		add("orders_2024", ins(2, "b", 1)).
		add("orders_2024", ins(3, "c", 1))
	if err := e.run(); err != nil {
		t.Fatal(err)
	}
	equal(t, "rows", e.snk.rows("orders", "id", "tbl"), []string{"1 orders", "2 orders_2024", "3 orders_2024"})
	if req := e.src.request(t); len(req.Patterns) != 1 || req.Patterns[0].Table != "orders*" {
		t.Errorf("patterns asked for: %+v", req.Patterns)
	}
	if got := e.checkpoint(); got != `{"pos":4}` {
		t.Errorf("checkpoint %q: a batch of a table nobody reads still moves it", got)
	}
}

// TestRunSchemaChange: a batch with another layout (schema_changes =
// 'evolve' added a column) plans the table again; TRANSFORM * takes the
// new column, and an announcement without rows reaches the sink too.
func TestRunSchemaChange(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE orders
  FROM binlog shop.shopdb.orders
  TRANSFORM *
  INTO clickhouse dw.analytics.orders MODE upsert KEY (id);
`)
	cols := append(ordersSchema(t, connectors.TableRef{}).Fields, field(t, "note", "varchar(10)", true, 0))
	cols[3].Metadata = arrow.MetadataFrom(map[string]string{exec.MetaAddedByDDL: "true"})
	e.src.add("orders", ins(1, "a", 1)).
		addWith("orders", cols).
		addWith("orders", cols, change{op: exec.OpInsert, after: []any{int64(2), "b", 1, "hi"}})
	if err := e.run(); err != nil {
		t.Fatal(err)
	}
	equal(t, "rows", e.snk.rows("orders", "id", "note"), []string{"1 -", "2 hi"})
	w := e.snk.writers["orders"]
	if len(w.schemas) != 3 || w.schemas[1].NumFields() != w.schemas[2].NumFields() || w.schemas[0].NumFields()+1 != w.schemas[1].NumFields() {
		t.Errorf("the batch announcing the change did not reach the sink: %d writes", len(w.schemas))
	}
	if n := e.pipeline("orders").SchemaChanges.Load(); n != 1 {
		t.Errorf("schema changes %d", n)
	}
}

// TestRunSchemaChangeBreaksPipeline: a column the pipeline names that a
// DDL dropped stops it, naming the table.
func TestRunSchemaChangeBreaksPipeline(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE orders
  FROM binlog shop.shopdb.orders
  TRANSFORM id, qty
  INTO clickhouse dw.analytics.orders MODE upsert KEY (id);
`)
	cols := ordersSchema(t, connectors.TableRef{}).Fields[:2]
	e.src.addWith("orders", cols, change{op: exec.OpInsert, after: []any{int64(2), "b"}})
	err := e.run()
	if err == nil || !strings.Contains(err.Error(), "shopdb.orders changed while streaming") {
		t.Fatalf("run: %v", err)
	}
}

// TestRunTruncate: an upsert target that can empty a table does; another
// target gets the change as a row of NULLs with _op = 'truncate'.
func TestRunTruncate(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE up
  FROM binlog shop.shopdb.orders
  TRANSFORM id, status
  INTO clickhouse dw.analytics.up MODE upsert KEY (id);
CREATE PIPELINE log
  FROM binlog shop.shopdb.orders
  TRANSFORM id, status, _op AS op
  INTO clickhouse dw.analytics.log MODE append;
`)
	e.snk.truncater = true
	e.src.add("orders", ins(1, "a", 1)).add("orders", change{op: exec.OpTruncate, after: []any{nil, nil, nil}})
	if err := e.run(); err != nil {
		t.Fatal(err)
	}
	up := e.snk.writers["up"]
	if len(up.truncs) != 1 || up.truncs[0].Table.String() != "shopdb.orders" || up.truncs[0].Version != 101 {
		t.Errorf("truncations: %+v", up.truncs)
	}
	equal(t, "upsert rows", e.snk.rows("up", "id"), []string{"1"})
	equal(t, "append rows", e.snk.rows("log", "id", "status", "op", exec.SysOp, exec.SysDeleted), []string{
		"1 a insert insert 0",
		"0 (null) truncate truncate 0", // id cannot be NULL: its zero
	})
	if got := e.checkpoint(); got != `{"pos":2}` {
		t.Errorf("checkpoint %q", got)
	}
}

// TestRunTruncateSharedTarget: a pipeline writing several tables into one
// upsert target without a _table column keeps the rows of a truncated one
// (it cannot tell them apart), and says so; with _table it removes that
// table's rows only.
func TestRunTruncateSharedTarget(t *testing.T) {
	cat := newCatalog(t, "orders", "orders_2024")
	for _, c := range []struct {
		transform string
		where     map[string]string
	}{
		{"id\n  INTO clickhouse dw.analytics.up MODE upsert KEY (id) WITH (key_unique_across_tables = true);\n", nil},
		{"id, _table AS tbl\n  INTO clickhouse dw.analytics.up MODE upsert KEY (tbl, id);\n", map[string]string{"tbl": "orders"}},
	} {
		e := newEnv(t, cat, "CREATE PIPELINE up\n  FROM binlog shop.shopdb.orders*\n  TRANSFORM "+c.transform)
		e.snk.truncater = true
		e.src.add("orders", change{op: exec.OpTruncate, after: []any{nil, nil, nil}})
		if err := e.run(); err != nil {
			t.Fatal(err)
		}
		truncs := e.snk.writers["up"].truncs
		if c.where == nil && len(truncs) != 0 {
			t.Errorf("%s: truncated %+v", c.transform, truncs)
		}
		if c.where != nil && (len(truncs) != 1 || truncs[0].Where["tbl"] != "orders") {
			t.Errorf("%s: truncations %+v", c.transform, truncs)
		}
	}
}

// TestRunIdleAndStop: a stream that has nothing to read tells the writers
// (connectors.Idler); a run stopped by its context flushes, commits what
// was acknowledged and returns without an error.
func TestRunIdleAndStop(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), upsertPipeline)
	e.src.add("orders", ins(1, "a", 1))
	e.snk.retries = 3
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- engine.Run(ctx, e.plan, e.opts(false)) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		e.snk.mu.Lock()
		w := e.snk.writers["orders"]
		idle := w != nil && w.idles > 0 && len(w.got) == 1
		e.snk.mu.Unlock()
		if idle && e.checkpoint() == `{"pos":1}` {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer was never told the stream is idle, or nothing was committed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	srcs := e.st.Sources()
	if len(srcs) != 1 || srcs[0].Source != "shop" || srcs[0].Lag != 0.5 || len(srcs[0].Progress) != 1 {
		t.Errorf("source status: %+v", srcs)
	}
	if names, _ := e.st.Pipelines(); len(names) != 1 || names[0] != "orders" {
		t.Errorf("pipelines: %v", names)
	}
	if n := e.pipeline("orders").WriteRetries(); n != 3 {
		t.Errorf("write retries %d, want the writer's", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("a stopped run: %v", err)
	}
	if e.st.Commits.Load() == 0 {
		t.Error("no commit counted")
	}
}

// TestRunStateDirInUse: a second run on a state directory in use is
// refused at once.
func TestRunStateDirInUse(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), upsertPipeline)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- engine.Run(ctx, e.plan, e.opts(false)) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		e.src.mu.Lock()
		n := len(e.src.reqs)
		e.src.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	err := engine.Run(context.Background(), e.plan, e.opts(true))
	cancel()
	<-done
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second run: %v", err)
	}
	if err := engine.Run(context.Background(), e.plan, engine.Options{}); err == nil {
		t.Error("a run without a state directory")
	}
}
