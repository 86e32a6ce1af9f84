package engine

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors/format"
	"github.com/etlq/etlq/connectors/mysql"
	"github.com/etlq/etlq/exec"
)

// TestReplayReadsZeroDates (new-user trial "trialops2"): the dead letters
// of a zero or invalid date — the rows a ClickHouse Date dead-letters,
// `0000-00-00` — are read back by `deadletter replay` as the sentinels the
// source gave them (docs/types.md), every DATE and DATETIME/TIMESTAMP of
// the row included, and written as the same text again. (Replay refused
// them all: `column "dt": "0000-00-00 00:00:00.000000": not a timestamp (a
// zero date cannot be replayed)`, so that a fixed pipeline, with
// out_of_range = 'null' say, could never take them.)
func TestReplayReadsZeroDates(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "dt", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	}, nil)
	str := func(s string) *string { return &s }
	cases := []struct {
		d, dt string
		wd    int32
		wdt   int64
	}{
		{"0000-00-00", "0000-00-00 00:00:00.000000", mysql.EncodeDate(0, 0, 0), mysql.EncodeDatetime(0, 0, 0, 0, 0, 0, 0)},
		{"2024-02-00", "2024-02-00 10:11:12.500000", mysql.EncodeDate(2024, 2, 0), mysql.EncodeDatetime(2024, 2, 0, 10, 11, 12, 500000)},
		{"2024-00-15", "2024-00-15 23:59:59.999999", mysql.EncodeDate(2024, 0, 15), mysql.EncodeDatetime(2024, 0, 15, 23, 59, 59, 999999)},
		{"2024-03-10", "2024-03-10 02:30:00.123456", mysql.EncodeDate(2024, 3, 10), mysql.EncodeDatetime(2024, 3, 10, 2, 30, 0, 123456)},
	}
	var letters []DeadLetter
	for _, c := range cases {
		letters = append(letters, DeadLetter{Table: "db.t", Pos: "binlog.000001:4", Row: map[string]*string{"d": str(c.d), "dt": str(c.dt)}})
	}
	rec, err := rowsOf(memory.DefaultAllocator, schema, letters)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	d, dt := rec.Column(0).(*array.Date32), rec.Column(1).(*array.Timestamp)
	for i, c := range cases {
		if got := int32(d.Value(i)); got != c.wd {
			t.Errorf("%s: Date32 %d, want %d", c.d, got, c.wd)
		}
		if got := int64(dt.Value(i)); got != c.wdt {
			t.Errorf("%s: Timestamp %d, want %d", c.dt, got, c.wdt)
		}
		if got, err := format.Text(d, i); err != nil || got != c.d {
			t.Errorf("%s written back as %q, %v", c.d, got, err)
		}
	}
	// A letter of a row the sink could not take holds the sink batch's
	// system columns: replayed, its row keeps the letter's _version, _pos
	// and _op (they were NULL).
	src := exec.SourceSchema([]arrow.Field{{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true}}, false)
	rec2, err := rowsOf(memory.DefaultAllocator, src, []DeadLetter{{Table: "db.t", Pos: "binlog.000001:4", Op: "read", Version: 42,
		Row: map[string]*string{"d": str("0000-00-00"), "__op": str("update"), "__pos": str("binlog.000001:99"), "__version": str("77"), "__ts": str("2026-12-07 13:01:29.654526")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer rec2.Release()
	for name, want := range map[string]string{exec.ColOp: "update", exec.ColPos: "binlog.000001:99", exec.ColVersion: "77", exec.ColDB: "db", exec.ColTable: "t", exec.ColTs: "2026-12-07 13:01:29.654526"} {
		i := src.FieldIndices(name)[0]
		if got, err := format.Text(rec2.Column(i), 0); err != nil || rec2.Column(i).IsNull(0) || got != want {
			t.Errorf("replayed %s = %q (null %v), want %q", name, got, rec2.Column(i).IsNull(0), want)
		}
	}
	for _, bad := range []string{"2024-13-01", "yesterday", "2024-02-30 25:00:00"} {
		_, err := rowsOf(memory.DefaultAllocator, schema, []DeadLetter{{Table: "db.t", Row: map[string]*string{"dt": str(bad)}}})
		if err == nil {
			t.Errorf("%q read as a timestamp", bad)
		}
	}
}
