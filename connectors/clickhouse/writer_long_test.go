package clickhouse

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/exec"
)

// waitCount polls f until it reaches n, failing after timeout.
func waitCount(t *testing.T, f func() int64, n int64, timeout time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for f() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d within %v", what, f(), n, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// insertParts counts the parts the inserts into db.table made (level 0,
// active or merged away).
func (e *chEnv) insertParts(table string) string {
	return e.text("SELECT count() FROM system.parts WHERE database = '" + e.db + "' AND table = '" + table + "' AND level = 0")
}

// TestLongInsertFewerParts: full batches of a busy stream go into one
// INSERT, a block each, which ClickHouse writes as one part; with
// insert_rows at batch_rows each batch is an INSERT and a part of its own,
// up to max_inflight at once. Either way done runs in the order of the
// writes, each once, and every row is there.
func TestLongInsertFewerParts(t *testing.T) {
	for _, c := range []struct {
		name       string
		insertRows int
		memory     int // insert_memory
		inserts    int64
		spilled    int64 // groups spilled
	}{
		{"long", 1000, 16 << 20, 1, 0}, // 500 rows: one INSERT (flush_interval 60 s does not end it)
		{"spilled", 1000, 0, 1, 50},    // the same INSERT, every batch spilled once sent
		{"off", 10, 16 << 20, 50, 0},   // one per batch of 10 rows
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("TMPDIR", t.TempDir())
			e := newEnv(t, nil)
			sch := kvSchema()
			w := e.open(e.target("kv", connectors.ModeAppend, []string{"id"}, sch, map[string]any{
				"batch_rows": 10, "max_inflight": 4, "insert_rows": c.insertRows, "flush_interval": "60s", "insert_memory": c.memory}))
			var a acks
			const batches, per = 100, 5
			for i := 0; i < batches; i++ {
				var rows [][]any
				for j := 0; j < per; j++ {
					id := i*per + j
					rows = append(rows, sysRow(uint64(id+1), false, "insert", id, "x"))
				}
				write(t, w, e.build(sch, rows...), a.done(i))
			}
			flush(t, w)
			order, errs := a.snapshot()
			if len(errs) != 0 || len(order) != batches {
				t.Fatalf("%d acks, errs %v", len(order), errs)
			}
			for i, v := range order {
				if v != i {
					t.Fatalf("done order %v", order)
				}
			}
			if got := e.text("SELECT count(), uniqExact(id) FROM " + quote(e.db) + ".kv"); got != "500\t500\n" {
				t.Errorf("got %q", got)
			}
			if n := w.(*writer).inserts.Load(); n != c.inserts {
				t.Errorf("%d inserts, want %d", n, c.inserts)
			}
			if got, want := strings.TrimSpace(e.insertParts("kv")), c.inserts; got != strconv.FormatInt(want, 10) {
				t.Errorf("%s parts made by the inserts, want %d", got, want)
			}
			if n := w.(*writer).spilledGroups.Load(); n != c.spilled {
				t.Errorf("%d groups spilled, want %d", n, c.spilled)
			}
			if n := spillFiles.Load(); n != 0 {
				t.Errorf("%d spill files open after the flush", n)
			}
		})
	}
}

// TestLongInsertCutMidway: the connection to ClickHouse is cut while an
// INSERT carrying twenty blocks is open. Nothing is acknowledged, nothing
// is in the table (ClickHouse writes the blocks of an INSERT at its end),
// and once the server is back the retry inserts all the batches again,
// once: the table ends exact, and done runs in order without an error.
// So too when every batch was spilled once sent (insert_memory 0): the
// retry reads them back from the spill file, which is unlinked while the
// INSERT is open and closed once it is over.
func TestLongInsertCutMidway(t *testing.T) {
	for _, c := range []struct {
		name    string
		memory  int // insert_memory
		spilled int64
	}{{"kept", 16 << 20, 0}, {"spilled", 0, 20}} {
		t.Run(c.name, func(t *testing.T) { testLongInsertCutMidway(t, c.memory, c.spilled) })
	}
}

func testLongInsertCutMidway(t *testing.T, memory int, spilled int64) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	logs := captureLogs(t)
	base := newEnv(t, nil)
	s, p := base.proxied(map[string]any{"dial_timeout": "500ms", "max_backoff": "200ms"})
	sch := kvSchema()
	tg := base.target("kv", connectors.ModeUpsert, []string{"id"}, sch, map[string]any{
		"batch_rows": 10, "insert_rows": 1000, "flush_interval": "60s", "insert_memory": memory})
	w, err := s.Open(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cw := w.(*writer)
	var a acks
	id := 0
	batch := func(i, n int) {
		var rows [][]any
		for j := 0; j < n; j++ {
			id++
			rows = append(rows, sysRow(uint64(id), false, "insert", id, "v"))
		}
		write(t, w, base.build(sch, rows...), a.done(i))
	}
	const full = 20
	for i := 0; i < full; i++ {
		batch(i, 10) // full: the INSERT stays open for the next
	}
	waitCount(t, cw.blocks.Load, full, 30*time.Second, "blocks sent")
	if order, _ := a.snapshot(); len(order) != 0 {
		t.Fatalf("acknowledged before the INSERT ended: %v", order)
	}
	if got := base.text("SELECT count() FROM " + quote(base.db) + ".kv"); got != "0\n" {
		t.Fatalf("%q rows in the table while the INSERT is open, want none", got)
	}
	if n := cw.spilledGroups.Load(); n != spilled {
		t.Errorf("%d groups spilled, want %d", n, spilled)
	}
	if names, _ := os.ReadDir(tmp); len(names) != 0 {
		t.Errorf("files in $TMPDIR while the INSERT is open: %v (a spill file must be unlinked)", names)
	}

	p.cut()
	batch(full, 3) // not full: sent, then the INSERT ends — on a cut connection
	flushed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		flushed <- w.Flush(ctx)
	}()
	waitCount(t, cw.retries.Load, 2, 30*time.Second, "retries while ClickHouse is away")
	if order, _ := a.snapshot(); len(order) != 0 {
		t.Fatalf("acknowledged while ClickHouse is away: %v", order)
	}
	// (ClickHouse 18.16 writes the blocks it has when the client's
	// connection drops: the first rows may be there, and come twice.)

	p.restore()
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	order, errs := a.snapshot()
	if len(errs) != 0 || len(order) != full+1 {
		t.Fatalf("acks %v errs %v", order, errs)
	}
	for i, v := range order {
		if v != i {
			t.Fatalf("done order %v", order)
		}
	}
	// Exact by the versions: every row, and the view holds each once.
	const total = full*10 + 3
	if got, want := base.text("SELECT uniqExact(id), min(id), max(id), count() IN ("+strconv.Itoa(total)+", "+strconv.Itoa(total+full*10)+") FROM "+quote(base.db)+".kv"),
		fmt.Sprintf("%d\t1\t%d\t1\n", total, total); got != want {
		t.Errorf("table: %q, want %q: ids 1–%d, each once or the full batches twice", got, want, total)
	}
	if got, want := base.text("SELECT count(), uniqExact(id), sum(id) FROM "+quote(base.db)+".kv_current"), fmt.Sprintf("%d\t%d\t%d\n", total, total, total*(total+1)/2); got != want {
		t.Errorf("view: %q, want %q", got, want)
	}
	if n := spillFiles.Load(); n != 0 {
		t.Errorf("%d spill files open after the flush", n)
	}
	wantBack(t, logs, base.db+".kv")
}

// TestLongInsertBadBatch: a batch the insert cannot take (a NULL key)
// among full batches fails alone, before any of it is sent: the INSERT
// carrying the batches before it goes on and ends with the batch after it,
// all of which are acknowledged and in the table.
func TestLongInsertBadBatch(t *testing.T) {
	e := newEnv(t, nil)
	sch := kvSchema()
	w := e.open(e.target("kv", connectors.ModeUpsert, []string{"id"}, sch, map[string]any{
		"batch_rows": 10, "insert_rows": 1000, "flush_interval": "60s"}))
	var a acks
	for i := 0; i < 5; i++ {
		var rows [][]any
		for j := 1; j <= 10; j++ {
			var id any = i*10 + j
			if i == 2 && j == 5 {
				id = nil
			}
			rows = append(rows, sysRow(uint64(i*10+j), false, "insert", id, "v"))
		}
		if i == 4 {
			rows = rows[:3] // not full: the INSERT ends after it
		}
		write(t, w, e.build(sch, rows...), a.done(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	err := w.Flush(ctx)
	cancel()
	if err == nil {
		t.Fatal("flush: no error for the batch with a NULL key")
	}
	order, errs := a.snapshot()
	if len(order) != 5 || len(errs) != 1 || errs[2] == nil {
		t.Fatalf("acks %v errs %v: only batch 2 must fail", order, errs)
	}
	t.Logf("batch 2: %v", errs[2])
	if got := e.text("SELECT count(), uniqExact(id), max(id) FROM " + quote(e.db) + ".kv"); got != "33\t33\t43\n" {
		t.Errorf("table: %q, want batches 0, 1, 3 and 4's three rows", got)
	}
	if n := w.(*writer).inserts.Load(); n != 1 {
		t.Errorf("%d inserts, want 1", n)
	}
}

// TestLongInsertSnapshotSpansIdle: the batches of a snapshot that goes on
// keep one INSERT open across the stream's idle moments (the engine calls
// Idle whenever the source is a few milliseconds behind the sink, as a
// snapshot's readers are) and past flush_interval since it began, as long
// as the next block comes within flush_interval: ClickHouse writes one
// part of the table's snapshot instead of one per pause (a 300-column
// table: 4–7 parts, each merged again). Such an INSERT ends after
// bulkSpan flush_intervals all the same, and the batch that ends the
// table's snapshot lets Idle end it at once. So too for a narrow table
// (one column besides id), whose Idles ended an INSERT each before: 30 or
// more parts, merged while the snapshot still wrote.
func TestLongInsertSnapshotSpansIdle(t *testing.T) {
	for _, c := range []struct {
		name          string
		cols          int // columns besides id
		flush         string
		inserts, most int64
	}{
		{"one", 40, "1s", 1, 1},        // ~2.4 s of writes: past flush_interval, within bulkSpan of it
		{"capped", 40, "100ms", 2, 59}, // past bulkSpan × 100 ms: ended on the way
		{"narrow", 1, "1s", 1, 1},      // the same for a narrow table
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil)
			fields := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}
			for i := 0; i < c.cols; i++ {
				fields = append(fields, arrow.Field{Name: fmt.Sprintf("c%02d", i), Type: arrow.PrimitiveTypes.Int64})
			}
			sch := sinktest.SinkSchema(fields, false)
			w := e.open(e.target("kv", connectors.ModeAppend, []string{"id"}, sch, map[string]any{
				"batch_rows": 10, "insert_rows": 100000, "flush_interval": c.flush, "idle_flush": "10ms"}))
			cw := w.(*writer)
			var a acks
			const batches, per = 60, 10
			start := time.Now()
			for i := 0; i < batches; i++ {
				var rows [][]any
				for j := 0; j < per; j++ {
					id := i*per + j
					user := []any{id}
					for k := 0; k < c.cols; k++ {
						user = append(user, id+k)
					}
					rows = append(rows, sysRow(uint64(id+1), false, "read", user...))
				}
				b := e.build(sch, rows...)
				b.Snapshot = true
				if i == batches-1 {
					b.SnapshotEnd = exec.SnapshotEdgeTable
				}
				write(t, w, b, a.done(i))
				cw.Idle()
				if i < batches-1 {
					time.Sleep(40 * time.Millisecond)
				}
			}
			if d := time.Since(start); d < 2*time.Second {
				t.Fatalf("the writes took %v, not past flush_interval", d)
			}
			// The last batch ended the snapshot: Idle ends the INSERT
			// (no Flush here).
			waitAcks(t, &a, batches, 30*time.Second, "the snapshot's batches")
			if n := cw.inserts.Load(); n < c.inserts || n > c.most {
				t.Errorf("%d inserts, want %d to %d", n, c.inserts, c.most)
			}
			if got := e.text("SELECT count(), uniqExact(id) FROM " + quote(e.db) + ".kv"); got != "600\t600\n" {
				t.Errorf("got %q", got)
			}
		})
	}
}

// A snapshot's long INSERT ends once it holds as many rows as the
// snapshot has still to read (exec.Batch.SnapshotLeft), so that the part
// ClickHouse writes after the last row is read is small: 600 rows in
// batches of 10 with the rows left told exactly go in INSERTs of 300,
// 150, 80, 40, 20 and 10 rows; without the hint, in one.
func TestLongInsertSnapshotLeft(t *testing.T) {
	for _, c := range []struct {
		name    string
		told    bool
		inserts int64
	}{{"told", true, 6}, {"unknown", false, 1}} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil)
			sch := sinktest.SinkSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, false)
			w := e.open(e.target("kv", connectors.ModeAppend, []string{"id"}, sch, map[string]any{
				"batch_rows": 10, "insert_rows": 100000, "flush_interval": "10s"}))
			cw := w.(*writer)
			var a acks
			const batches, per = 60, 10
			for i := 0; i < batches; i++ {
				var rows [][]any
				for j := 0; j < per; j++ {
					rows = append(rows, sysRow(uint64(i*per+j+1), false, "read", i*per+j))
				}
				b := e.build(sch, rows...)
				b.Snapshot = true
				if c.told {
					b.SnapshotLeft = int64((batches - i - 1) * per)
				}
				if i == batches-1 {
					b.SnapshotEnd = exec.SnapshotEdgeTable
				}
				write(t, w, b, a.done(i))
			}
			cw.Idle() // (the engine's, once the stream has nothing more)
			waitAcks(t, &a, batches, 30*time.Second, "the snapshot's batches")
			if n := cw.inserts.Load(); n != c.inserts {
				t.Errorf("%d inserts, want %d", n, c.inserts)
			}
			if got := e.text("SELECT count(), uniqExact(id) FROM " + quote(e.db) + ".kv"); got != "600\t600\n" {
				t.Errorf("got %q", got)
			}
		})
	}
}
