package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	etlqfile "github.com/etlq/etlq/connectors/file"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/planner"
)

// TestDeadLetterValuesReplayExactly: every value a dead letter writes as
// text (valueText) is read back by replay (rowsOf) to the same value, NULLs
// included, and nothing is left allocated.
func TestDeadLetterValuesReplayExactly(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "u64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "d", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}, Nullable: true},
		{Name: "d256", Type: &arrow.Decimal256Type{Precision: 65, Scale: 10}, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "tm", Type: &arrow.DurationType{Unit: arrow.Microsecond}, Nullable: true},
		{Name: exec.ColOp, Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	const js = `[
	 {"b": true, "i8": -128, "i64": -9223372036854775808, "u64": 18446744073709551615, "f32": 0.1, "f64": 1e-300,
	  "d": "-1234567890.12", "d256": "12345678901234567890123456789012345678901234567890.0123456789",
	  "s": "quote \" and\nnewline", "bin": "AAH/", "day": "2026-02-28", "ts": "2026-01-02T03:04:05.123456Z",
	  "tm": 3020123456789, "_op": "update"},
	 {"b": null, "i8": null, "i64": null, "u64": null, "f32": null, "f64": null, "d": null, "d256": null,
	  "s": null, "bin": null, "day": null, "ts": null, "tm": null, "_op": "insert"}
	]`
	want, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	defer want.Release()
	d := &deadLetters{pipeline: "p"}
	b := &exec.Batch{Record: want, DB: "db", Table: "t"}
	letters := d.letters(b, []exec.RowError{{Row: 0, Column: "d", Reason: "r"}, {Row: 1, Column: "WHERE", Reason: "r"}}, nil)
	if v, ok := letters[1].Row["s"]; !ok || v != nil {
		t.Errorf("a NULL is not kept as null: %v", letters[1].Row)
	}
	got, err := rowsOf(mem, schema, letters)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	for c := range schema.NumFields() {
		if !array.Equal(want.Column(c), got.Column(c)) {
			t.Errorf("column %s: wrote %v, replayed %v", schema.Field(c).Name, want.Column(c), got.Column(c))
		}
	}
}

// TestDeadLetterFileMode: a dead-letter file holds rows of the source's
// tables, as sensitive as the tables; it was created 0644, readable by
// every local user, while the checkpoints (which hold no row) are 0600
// (new-user trial). It is now 0600, in a directory of mode 0700 that
// etlq creates.
func TestDeadLetterFileMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "deadletter")
	d := &deadLetters{pipeline: "p", path: filepath.Join(dir, "p.jsonl")}
	if err := d.writeFile([]DeadLetter{{Pipeline: "p", Reason: "r"}}); err != nil {
		t.Fatal(err)
	}
	d.f.Close()
	for path, want := range map[string]os.FileMode{d.path: 0o600, dir: 0o700 | os.ModeDir} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode(), want)
		}
	}
}

// TestDeadLetterRowAsCSVWritesIt: a dead letter's row holds each value as
// the csv format writes it (docs/language.md), the fractional digits a
// DATETIME(3), TIMESTAMP(0) or TIME(2) column declares included; they were
// written with six digits or none ("-838:59:59" for a TIME(2),
// "…00.123000" for a DATETIME(3)), which replay reads back the same.
func TestDeadLetterRowAsCSVWritesIt(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	src := func(typ string) arrow.Metadata {
		return arrow.NewMetadata([]string{exec.MetaSourceType}, []string{typ})
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "dt3", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true, Metadata: src("datetime(3)")},
		{Name: "ts0", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true, Metadata: src("timestamp")},
		{Name: "tm2", Type: &arrow.DurationType{Unit: arrow.Microsecond}, Nullable: true, Metadata: src("time(2)")},
		{Name: "tm", Type: &arrow.DurationType{Unit: arrow.Microsecond}, Nullable: true},
	}, nil)
	const js = `[{"dt3": "2024-03-30T20:00:00.123Z", "ts0": "1970-01-01T00:00:01Z", "tm2": -3020399000000, "tm": 1500000}]`
	rec, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	d := &deadLetters{pipeline: "p"}
	letters := d.letters(&exec.Batch{Record: rec, DB: "db", Table: "t"}, []exec.RowError{{Row: 0, Column: "WHERE", Reason: "r"}}, nil)
	for col, want := range map[string]string{"dt3": "2024-03-30 20:00:00.123", "ts0": "1970-01-01 00:00:01", "tm2": "-838:59:59.00", "tm": "00:00:01.500000"} {
		if v := letters[0].Row[col]; v == nil || *v != want {
			t.Errorf("%s: %v, want %q (as csv writes it)", col, deref(v), want)
		}
	}
	got, err := rowsOf(mem, schema, letters)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	for c := range schema.NumFields() {
		if !array.Equal(rec.Column(c), got.Column(c)) {
			t.Errorf("column %s: wrote %v, replayed %v", schema.Field(c).Name, rec.Column(c), got.Column(c))
		}
	}
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// TestDeadLetterFileTargetMode: dead letters sent to a file target
// (dead_letter = 'file PATH') are created 0600, as those of the state
// directory: they are source rows. The file sink created them 0644,
// readable by every local user (a security trial).
func TestDeadLetterFileTargetMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dl", "dead.jsonl")
	p := &planner.Pipeline{Name: "p", DeadLetter: &planner.DeadLetterTarget{Sink: "f", Kind: "file", Text: "file " + path,
		Target: connectors.Target{Pipeline: "p", Name: path, Schema: planner.DeadLetterSchema(), Mode: connectors.ModeAppend, Format: "jsonl"}}}
	d, err := newDeadLetters(context.Background(), p, map[string]connectors.Sink{"f": etlqfile.New("")},
		Options{StateDir: dir, Alloc: memory.DefaultAllocator, writers: &openWriters{}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.writer.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", path, st.Mode().Perm())
	}
}
