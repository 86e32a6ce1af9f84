package file_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/file"
	"github.com/etlq/etlq/connectors/sinktest"
)

func TestConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) (connectors.Sink, connectors.Target, sinktest.Reader) {
		dir := t.TempDir()
		s := file.New(dir)
		target := connectors.Target{Name: "out/rows.jsonl", Options: map[string]any{"flush_interval": "20ms"}}
		return s, target, func(t *testing.T) []map[string]any {
			data, err := os.ReadFile(filepath.Join(dir, "out/rows.jsonl"))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			rows, err := sinktest.DecodeJSONL(data, sinktest.SinkSchema(sinktest.Columns(), false))
			if err != nil {
				t.Fatal(err)
			}
			return rows
		}
	})
}

var schema = sinktest.SinkSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
}, false)

func row(id int, name any) []any {
	return []any{id, name, uint64(id), uint8(0), "insert", time.Unix(0, 0), "binlog.000001:4"}
}

// writeRows opens path in a new sink, writes one batch and closes.
func writeRows(t *testing.T, mem memory.Allocator, dir string, target connectors.Target, rows ...[]any) {
	t.Helper()
	target.Schema = schema
	w, err := file.New(dir).Open(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	var acks atomic.Int32
	if err := w.Write(context.Background(), sinktest.Build(mem, schema, "d", "t", rows...), func(err error) {
		if err != nil {
			t.Error(err)
		}
		acks.Add(1)
	}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if acks.Load() != 1 {
		t.Fatalf("acks = %d, want 1", acks.Load())
	}
}

func TestAppendsAcrossOpens(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	writeRows(t, mem, dir, connectors.Target{Name: "a/b/rows.csv"}, row(1, "x"))
	writeRows(t, mem, dir, connectors.Target{Name: "a/b/rows.csv"}, row(2, nil), row(3, ""))
	got, err := os.ReadFile(filepath.Join(dir, "a/b/rows.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := "id,name\r\n1,x\r\n2,\r\n3,\"\"\r\n"
	if string(got) != want {
		t.Errorf("got %q, want %q (one header, appended rows)", got, want)
	}
}

// TestHeaderAgainWhenColumnsChanged: appended to with other columns (one
// added while etlq was stopped), the file gets a header line before the
// rows, and only then; a last line cut by a crash does not stop the open.
func TestHeaderAgainWhenColumnsChanged(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	wide := sinktest.SinkSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
	}, false)
	write := func(s *arrow.Schema, rows ...[]any) {
		t.Helper()
		w, err := file.New(dir).Open(context.Background(), connectors.Target{Name: "rows.csv", Schema: s})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		if err := w.Write(context.Background(), sinktest.Build(mem, s, "d", "t", rows...), func(err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	wideRow := func(id int, name, note any) []any {
		return []any{id, name, note, uint64(id), uint8(0), "insert", time.Unix(0, 0), "binlog.000001:4"}
	}
	write(schema, row(1, "x"))
	write(wide, wideRow(2, "y", "n,2"))
	write(wide, wideRow(3, "z", nil))
	path := filepath.Join(dir, "rows.csv")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "id,name\r\n1,x\r\nid,name,note\r\n2,y,\"n,2\"\r\n3,z,\r\n"
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// a crash cut the last line inside a quoted field
	if err := os.WriteFile(path, append(got, "4,\"a"...), 0o644); err != nil {
		t.Fatal(err)
	}
	// The cut record goes before the rows are written again: appended
	// after it, row 4 fused with it into one record no reader can parse.
	write(wide, wideRow(4, "a", nil))
	got, _ = os.ReadFile(path)
	if want := want + "4,a,\r\n"; string(got) != want {
		t.Fatalf("after a line cut inside a quoted field: got %q, want %q", got, want)
	}
	// cut before its line end, outside quotes: a record of fewer fields,
	// which must not be taken for a header line either
	if err := os.WriteFile(path, append(got, "5,b"...), 0o644); err != nil {
		t.Fatal(err)
	}
	write(wide, wideRow(5, "b", nil))
	got, _ = os.ReadFile(path)
	if want := want + "4,a,\r\n5,b,\r\n"; string(got) != want {
		t.Fatalf("after a line cut before its end: got %q, want %q", got, want)
	}
	// a file holding only a cut line starts again with its header
	if err := os.WriteFile(path, []byte("id,na"), 0o644); err != nil {
		t.Fatal(err)
	}
	write(wide, wideRow(6, "c", nil))
	got, _ = os.ReadFile(path)
	if want := "id,name,note\r\n6,c,\r\n"; string(got) != want {
		t.Fatalf("after a cut header line: got %q, want %q", got, want)
	}
}

// TestCutLastLineRemoved: a run stopped in the middle of a write (kill -9,
// a disk that filled up) left a last line cut short. The next run writes
// those rows again; appended after the cut line, the first of them fused
// with it into one line no JSON reader could parse — a row as good as
// lost (seen after "no space left on device" in a jsonl changelog file).
// The open now removes the cut line first, in each line format.
func TestCutLastLineRemoved(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, name := range []string{"rows.jsonl", "rows.ndjson"} {
		dir := t.TempDir()
		target := connectors.Target{Name: name, Options: map[string]any{"flush_interval": "0s"}}
		writeRows(t, mem, dir, target, row(1, "x"), row(2, "y"))
		path := filepath.Join(dir, name)
		whole, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		line := strings.SplitAfter(string(whole), "\n")[1] // row 2
		if err := os.WriteFile(path, append(whole, line[:len(line)/2]...), 0o644); err != nil {
			t.Fatal(err)
		}
		writeRows(t, mem, dir, target, row(3, "z"))
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := sinktest.DecodeJSONL(got, schema)
		if err != nil {
			t.Fatalf("%s: %v in %q", name, err, got)
		}
		if len(rows) != 3 {
			t.Fatalf("%s: %d rows, want 3: %q", name, len(rows), got)
		}
		// a file holding nothing but a cut line is emptied
		if err := os.WriteFile(path, []byte(`{"id":7,"na`), 0o644); err != nil {
			t.Fatal(err)
		}
		writeRows(t, mem, dir, target, row(8, "w"))
		got, _ = os.ReadFile(path)
		if rows, err := sinktest.DecodeJSONL(got, schema); err != nil || len(rows) != 1 {
			t.Fatalf("%s: after a file of one cut line: %d rows, %v in %q", name, len(rows), err, got)
		}
	}
}

func TestAckAfterSync(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	for _, tc := range []struct {
		interval   string
		wantAtOnce bool
	}{{"0s", true}, {"1h", false}} {
		s := file.New(t.TempDir())
		w, err := s.Open(ctx, connectors.Target{Name: "rows.jsonl", Schema: schema,
			Options: map[string]any{"flush_interval": tc.interval}})
		if err != nil {
			t.Fatal(err)
		}
		var acks atomic.Int32
		for i := 0; i < 3; i++ {
			if err := w.Write(ctx, sinktest.Build(mem, schema, "d", "t", row(i, "n")), func(error) { acks.Add(1) }); err != nil {
				t.Fatal(err)
			}
		}
		if got := acks.Load() == 3; got != tc.wantAtOnce {
			t.Errorf("flush_interval %s: acks before Flush = %d", tc.interval, acks.Load())
		}
		// The data is written (visible to readers) before it is acknowledged.
		data, _ := os.ReadFile(filepath.Join(s.Path(connectors.Target{Name: "rows.jsonl"})))
		if n := strings.Count(string(data), "\n"); n != 3 {
			t.Errorf("flush_interval %s: %d lines written before Flush, want 3", tc.interval, n)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if acks.Load() != 3 {
			t.Errorf("flush_interval %s: acks after Flush = %d, want 3", tc.interval, acks.Load())
		}
		w.Close()
	}
}

func TestSyncsWithoutFlush(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	w, err := file.New(t.TempDir()).Open(ctx, connectors.Target{Name: "rows.jsonl", Schema: schema,
		Options: map[string]any{"flush_interval": "10ms"}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	acked := make(chan error, 1)
	if err := w.Write(ctx, sinktest.Build(mem, schema, "d", "t", row(1, "n")), func(err error) { acked <- err }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-acked:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no acknowledgement without Flush")
	}
}

func TestOnePathOneWriter(t *testing.T) {
	s := file.New(t.TempDir())
	target := connectors.Target{Name: "rows.jsonl", Schema: schema}
	w, err := s.Open(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(context.Background(), target); err == nil {
		t.Error("a second writer of the same path was opened")
	}
	w.Close()
	w2, err := s.Open(context.Background(), target)
	if err != nil {
		t.Fatalf("reopen after close: %v", err)
	}
	w2.Close()
}

// TestPlanRefusesBadTargets: a target Open would refuse fails Plan (and so
// etlq check) instead of being a warning.
func TestPlanRefusesBadTargets(t *testing.T) {
	s := file.New("")
	for _, target := range []connectors.Target{
		{Name: ""},
		{Name: "x.out", Format: "xml"},
		{Name: "x.jsonl", Options: map[string]any{"flush_interval": "soon"}},
	} {
		if _, problems, err := s.Plan(context.Background(), target); err == nil || len(problems) != 0 {
			t.Errorf("%+v: want an error, got %v, %v", target, problems, err)
		}
	}
	if f := file.FormatOf(connectors.Target{Name: "a/x.parquet"}); f != "parquet" {
		t.Errorf("format of x.parquet = %q", f)
	}
}

func TestImplicitSinkPath(t *testing.T) {
	// The planner gives INTO file 'out/x.jsonl' as both DSN and target.
	s, err := connectors.NewSink("file", "file:out/x.jsonl", "out/x.jsonl", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := s.(*file.Sink).Path(connectors.Target{Name: "out/x.jsonl"}); p != "out/x.jsonl" {
		t.Errorf("path = %q, want out/x.jsonl", p)
	}
	if p := file.New("/data").Path(connectors.Target{Name: "x.jsonl"}); p != "/data/x.jsonl" {
		t.Errorf("path = %q, want /data/x.jsonl", p)
	}
}

// TestEmptyCSVHasHeader: a csv file no row reached (a pipeline whose
// source table is empty, say) still starts with its header line, and the
// rows written after it are not preceded by a second one.
func TestEmptyCSVHasHeader(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	w, err := file.New(dir).Open(context.Background(), connectors.Target{Name: "empty.csv", Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "empty.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "id,name\r\n"; string(got) != want {
		t.Errorf("empty csv file: got %q, want %q", got, want)
	}
	writeRows(t, mem, dir, connectors.Target{Name: "empty.csv"}, row(1, "x"))
	writeRows(t, mem, dir, connectors.Target{Name: "new.csv"}, row(2, "y"))
	for name, want := range map[string]string{"empty.csv": "id,name\r\n1,x\r\n", "new.csv": "id,name\r\n2,y\r\n"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s: got %q, want %q (one header)", name, got, want)
		}
	}
}
