package file_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/etlq/etlq/connectors"
	etlqfile "github.com/etlq/etlq/connectors/file"
	"github.com/etlq/etlq/connectors/sinktest"
)

// readParquet reads every completed parquet file in dir, in name order.
func readParquet(t *testing.T, dir string) (rows []map[string]any, files []string, schemas []*arrow.Schema) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".parquet") && !strings.HasPrefix(e.Name(), ".") {
			files = append(files, e.Name())
		}
	}
	sort.Strings(files)
	for _, name := range files {
		rdr, err := file.OpenParquetFile(filepath.Join(dir, name), false)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 1 << 16}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := fr.ReadTable(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		schemas = append(schemas, tbl.Schema())
		tr := array.NewTableReader(tbl, -1)
		for tr.Next() {
			rows = append(rows, sinktest.RowsOf(tr.RecordBatch())...)
		}
		tr.Release()
		tbl.Release()
		rdr.Close()
	}
	return rows, files, schemas
}

func TestParquetConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) (connectors.Sink, connectors.Target, sinktest.Reader) {
		dir := t.TempDir()
		target := connectors.Target{Name: "out/rows.parquet", Options: map[string]any{"rotate_rows": int64(40)}}
		return etlqfile.New(dir), target, func(t *testing.T) []map[string]any {
			rows, _, _ := readParquet(t, filepath.Join(dir, "out"))
			return rows
		}
	})
}

func TestParquetRotationAndAcks(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	s := etlqfile.New(dir)
	s.Now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	w, err := s.Open(context.Background(), connectors.Target{Name: "orders.parquet", Schema: schema, Mode: connectors.ModeChangelog,
		Options: map[string]any{"rotate_rows": int64(3)}})
	if err != nil {
		t.Fatal(err)
	}
	var acks atomic.Int32
	write := func(rows ...[]any) {
		t.Helper()
		if err := w.Write(context.Background(), sinktest.Build(mem, schema, "d", "t", rows...), func(err error) {
			if err != nil {
				t.Error(err)
			}
			acks.Add(1)
		}); err != nil {
			t.Fatal(err)
		}
	}
	write(row(1, "a"), row(2, nil))
	if acks.Load() != 0 {
		t.Fatal("acknowledged before the file was complete")
	}
	if _, files, _ := readParquet(t, dir); len(files) != 0 {
		t.Fatalf("a partial file is visible: %v", files)
	}
	write(row(3, "c")) // 3 rows: the file is complete
	if acks.Load() != 2 {
		t.Fatalf("acks = %d after rotation, want 2", acks.Load())
	}
	write(row(4, "d"))
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if acks.Load() != 3 {
		t.Fatalf("acks = %d after Flush, want 3", acks.Load())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rows, files, schemas := readParquet(t, dir)
	want := []string{"orders-20260102T030405Z-0001.parquet", "orders-20260102T030405Z-0002.parquet"}
	if strings.Join(files, ",") != strings.Join(want, ",") {
		t.Errorf("files = %v, want %v", files, want)
	}
	if len(rows) != 4 || rows[1]["name"] != nil || rows[2]["name"] != "c" || rows[0]["_op"] != "insert" || rows[3]["_version"] != uint64(4) {
		t.Errorf("rows = %v", rows)
	}
	// Changelog mode adds _op, _ts, _pos and _version.
	if got := schemas[0].String(); !strings.Contains(got, "_op: type=utf8") || !strings.Contains(got, "_version: type=uint64") ||
		!strings.Contains(got, "_ts: type=timestamp") || !strings.Contains(got, "_pos: type=utf8") || strings.Contains(got, "__") {
		t.Errorf("schema = %s", got)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestParquetKeepsTypes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	sch := sinktest.SinkSchema(sinktest.AllTypes(), false)
	w, err := etlqfile.New(dir).Open(context.Background(), connectors.Target{Name: "all.parquet", Schema: sch})
	if err != nil {
		t.Fatal(err)
	}
	vals := []any{1, -1, -2, -3, -4, 5, 6, 7, uint64(1<<64 - 1), float32(1.5), 2.25, "-12.34", "1.0000000001",
		"s", `{"a":1}`, []byte{0, 255}, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), -90 * time.Minute, true,
		uint64(9), uint8(0), "update", time.Unix(0, 0), "p"}
	b := sinktest.Build(mem, sch, "d", "t", vals)
	if err := w.Write(context.Background(), b, func(error) {}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rows, _, schemas := readParquet(t, dir)
	for k, f := range sinktest.AllTypes() {
		got := schemas[0].Field(k)
		if f.Name == "tm" {
			f.Type = arrow.PrimitiveTypes.Int64 // microseconds: parquet has no duration
		}
		if !arrow.TypeEqual(got.Type, f.Type) {
			t.Errorf("column %q reads back as %s, want %s", f.Name, got.Type, f.Type)
		}
	}
	r := rows[0]
	if schemas[0].NumFields() != len(sinktest.AllTypes()) {
		t.Errorf("append mode writes the output columns only, got %s", schemas[0])
	}
	if r["u64"] != uint64(1<<64-1) || r["dec"] != "-12.34" || r["tm"] != (-90*time.Minute).Microseconds() ||
		!r["ts"].(time.Time).Equal(time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)) {
		t.Errorf("row = %v", r)
	}
}

// A run that starts within the second the previous run's file was named
// (apply --once back to back, a restart after a crash) takes the next
// free number: it used to rename its file over the earlier one, whose rows
// were lost though they had been acknowledged.
func TestParquetNeverReplacesAFile(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	for run := 1; run <= 3; run++ {
		s := etlqfile.New(dir)
		s.Now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
		w, err := s.Open(context.Background(), connectors.Target{Name: "orders.parquet", Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(context.Background(), sinktest.Build(mem, schema, "d", "t", row(run, "r")), func(err error) {
			if err != nil {
				t.Error(err)
			}
		}); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	rows, files, _ := readParquet(t, dir)
	want := []string{"orders-20260102T030405Z-0001.parquet", "orders-20260102T030405Z-0002.parquet", "orders-20260102T030405Z-0003.parquet"}
	if strings.Join(files, ",") != strings.Join(want, ",") {
		t.Errorf("files = %v, want %v", files, want)
	}
	if len(rows) != 3 {
		t.Errorf("%d rows in the files, want the 3 written: %v", len(rows), rows)
	}
}

// A file a run was writing when it was killed (its hidden .tmp: rows never
// acknowledged, sent again by the next run) is removed when the next run
// opens the target; it used to stay, hidden, as large as it had grown.
func TestParquetRemovesAKilledRunsTemporaryFile(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	stale := filepath.Join(dir, ".orders-20260102T030404Z-0001.parquet.tmp")
	other := filepath.Join(dir, ".other-20260102T030404Z-0001.parquet.tmp")
	for _, p := range []string{stale, other} {
		if err := os.WriteFile(p, []byte("PAR1 partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := etlqfile.New(dir)
	w, err := s.Open(context.Background(), connectors.Target{Name: "orders.parquet", Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(context.Background(), sinktest.Build(mem, schema, "d", "t", row(1, "a")), func(error) {}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Errorf("the killed run's %s is still there", filepath.Base(stale))
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another target's temporary file was removed: %v", err)
	}
}
