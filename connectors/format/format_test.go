package format_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors/format"
	"github.com/etlq/etlq/connectors/mysql"
	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/exec"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var (
	t0   = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	tCom = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now  = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC) }
)

func day(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC) }

// allRows is a batch of every type: an insert of extreme values, two
// updates in one rows event, a delete whose columns are all NULL, and a
// snapshot read.
func allRows() [][]any {
	nulls := func(n int) []any { return make([]any, n) }
	sys := func(v uint64, op string, ts time.Time, pos string) []any {
		return []any{v, uint8(0), op, ts, pos}
	}
	row := func(user, before, s []any) []any {
		return append(append(append([]any(nil), user...), before...), s...)
	}
	ins := []any{1, -128, -32768, -2147483648, int64(math.MinInt64), 255, 65535, uint32(4294967295), uint64(math.MaxUint64),
		float32(1.5), 0.1, "-1234567890.12", "123456789012345678901234567890.0123456789",
		"héllo, \"world\"\n\ttab", `{"a":[1,2]}`, []byte{0, 1, 2, 255}, day(2026, 1, 2), t0,
		838*time.Hour + 59*time.Minute + 59*time.Second, true}
	upd := []any{2, 1, 2, 3, 4, 5, 6, 7, 8, float32(0.25), 1e21, "0.50", "1.0000000001",
		"new", `[]`, []byte("hi"), day(1970, 1, 1), time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC), 90 * time.Minute, false}
	updBefore := []any{2, 1, 2, 3, 4, 5, 6, 7, 8, float32(0.25), 1e21, "0.40", "1.0000000001",
		"old", `[]`, []byte("hi"), day(1970, 1, 1), time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC), 90 * time.Minute, nil}
	upd2 := append([]any{3}, upd[1:]...)
	upd2Before := append([]any{3}, upd[1:]...)
	upd2Before[13] = nil // str was NULL
	del := append([]any{4}, nulls(19)...)
	read := []any{5, 0, 0, 0, 0, 0, 0, 0, 0, float32(math.Inf(-1)), math.NaN(), "0.00", "-0.0000000001",
		"", `not json`, []byte{}, day(1, 1, 1), tCom, -(time.Hour + 2*time.Minute + 3*time.Second + 4*time.Microsecond), false}
	return [][]any{
		row(ins, nulls(20), sys(10, exec.OpInsert, tCom, "binlog.000042:1337")),
		row(upd, updBefore, sys(11, exec.OpUpdate, tCom, "binlog.000042:2000")),
		row(upd2, upd2Before, sys(12, exec.OpUpdate, tCom, "binlog.000042:2000")),
		row(del, nulls(20), sys(13, exec.OpDelete, tCom.Add(time.Second), "0-1-100")),
		row(read, nulls(20), sys(14, exec.OpRead, tCom.Add(2*time.Second), "mysql-bin.000003:4")),
	}
}

func allBatch(mem memory.Allocator) *exec.Batch {
	s := sinktest.SinkSchema(sinktest.AllTypes(), true)
	return sinktest.Build(mem, s, "shop", "orders", allRows()...)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func encodeTwice(t *testing.T, name string, opts format.Options, second *exec.Batch) []byte {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	enc, err := format.New(name, opts)
	if err != nil {
		t.Fatal(err)
	}
	b := allBatch(mem)
	defer b.Release()
	out, err := enc.Encode(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	if second == nil {
		b.Sel = []int32{0, 3}
		second = b
	}
	out, err = enc.Encode(out, second)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGolden(t *testing.T) {
	for _, name := range format.StreamNames() {
		t.Run(name, func(t *testing.T) {
			out := encodeTwice(t, name, format.Options{Pipeline: "orders_out", Now: now}, nil)
			golden(t, "all."+name, out)
			if strings.HasSuffix(name, "json") {
				for i, line := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
					if !json.Valid(line) {
						t.Errorf("line %d is not valid JSON: %s", i+1, line)
					}
				}
			}
		})
	}
}

func TestTableColor(t *testing.T) {
	out := encodeTwice(t, format.Table, format.Options{Color: true}, nil)
	golden(t, "color.table", out)
	for _, c := range []string{"\x1b[32m", "\x1b[33m", "\x1b[31m"} {
		if !bytes.Contains(out, []byte(c)) {
			t.Errorf("no %q in the coloured table", c)
		}
	}
}

func TestSelectionOnly(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, name := range []string{format.JSONL, format.DebeziumJSON} {
		enc, _ := format.New(name, format.Options{Now: now})
		b := allBatch(mem)
		b.Sel = []int32{1, 4}
		out, err := enc.Encode(nil, b)
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 2 || !strings.Contains(lines[0], `"id":2`) || !strings.Contains(lines[1], `"id":5`) {
			t.Errorf("%s: want rows 2 and 5 only, got\n%s", name, out)
		}
	}
}

func TestCSVSkipFirstHeader(t *testing.T) {
	out := encodeTwice(t, format.CSV, format.Options{SkipFirstHeader: true}, nil)
	if bytes.HasPrefix(out, []byte("id,")) || bytes.Count(out, []byte("\r\n")) != 7 {
		t.Errorf("want 7 data lines and no header, got\n%s", out)
	}
}

func TestUserOpColumn(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := sinktest.SinkSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "_op", Type: arrow.BinaryTypes.String}}, false)
	b := sinktest.Build(mem, s, "d", "t",
		[]any{1, "insert", uint64(1), uint8(0), "insert", tCom, "f.1:1"},
		[]any{2, "delete", uint64(2), uint8(1), "delete", tCom, "f.1:2"})
	defer b.Release()
	for name, want := range map[string]string{
		format.JSONL: "{\"id\":1,\"_op\":\"insert\"}\n{\"id\":2,\"_op\":\"delete\"}\n",
		format.CSV:   "id,_op\r\n1,insert\r\n2,delete\r\n",
	} {
		enc, _ := format.New(name, format.Options{})
		out, err := enc.Encode(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != want {
			t.Errorf("%s: got %q, want %q", name, out, want)
		}
	}
}

func TestUnknownFormat(t *testing.T) {
	if _, err := format.New("xml", format.Options{}); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("want an error naming \"xml\", got %v", err)
	}
	if _, err := format.New(format.Parquet, format.Options{}); err == nil {
		t.Error("parquet has no stream encoder")
	}
}

// TestZeroDates: MySQL zero and invalid dates arrive as the source's
// sentinels (docs/types.md); the text formats write them as MySQL does, not
// as far-away calendar dates ("-5877641-06-23"), and Debezium, like
// Debezium, as null.
func TestZeroDates(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	user := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int32},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "dt", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	}
	s := sinktest.SinkSchema(user, false)
	rb := array.NewRecordBuilder(mem, s)
	defer rb.Release()
	add := func(id int32, d int32, dt int64) {
		rb.Field(0).(*array.Int32Builder).Append(id)
		rb.Field(1).(*array.Date32Builder).Append(arrow.Date32(d))
		rb.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(dt))
		rb.Field(3).(*array.Uint64Builder).Append(uint64(id))
		rb.Field(4).(*array.Uint8Builder).Append(0)
		rb.Field(5).(*array.StringBuilder).Append(exec.OpRead)
		rb.Field(6).(*array.TimestampBuilder).Append(0)
		rb.Field(7).(*array.StringBuilder).Append("binlog.000001:4")
	}
	add(1, mysql.EncodeDate(0, 0, 0), mysql.EncodeDatetime(0, 0, 0, 0, 0, 0, 0))
	add(2, mysql.EncodeDate(2024, 0, 15), mysql.EncodeDatetime(2024, 2, 0, 10, 11, 12, 500000))
	add(3, mysql.EncodeDate(2024, 2, 29), mysql.EncodeDatetime(2024, 2, 29, 23, 59, 59, 0))
	b := &exec.Batch{Record: rb.NewRecordBatch(), DB: "d", Table: "t"}
	defer b.Release()
	for name, want := range map[string][]string{
		format.CSV: {"1,0000-00-00,0000-00-00 00:00:00,", "2,2024-00-15,2024-02-00 10:11:12.500000,", "3,2024-02-29,2024-02-29 23:59:59,"},
		format.JSONL: {`"id":1,"d":"0000-00-00","dt":"0000-00-00T00:00:00.000000Z"`, `"id":2,"d":"2024-00-15","dt":"2024-02-00T10:11:12.500000Z"`,
			`"id":3,"d":"2024-02-29","dt":"2024-02-29T23:59:59.000000Z"`},
		format.CanalJSON:    {`"d":"0000-00-00","dt":"0000-00-00 00:00:00"`, `"d":"2024-00-15","dt":"2024-02-00 10:11:12.500000"`},
		format.DebeziumJSON: {`"id":1,"d":null,"dt":null`, `"id":2,"d":null,"dt":null`, `"id":3,"d":19782,"dt":"2024-02-29T23:59:59.000000Z"`},
	} {
		enc, err := format.New(name, format.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		out, err := enc.Encode(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: no %s in\n%s", name, w, out)
			}
		}
	}
}

// TestDebeziumDatetimeIsEpochNumber: Debezium's MySQL connector writes a
// DATETIME as a number since the epoch (milliseconds up to DATETIME(3),
// microseconds beyond), a TIMESTAMP as an ISO string in UTC; a DATETIME
// before 1970 rounds down, as Java's Instant.toEpochMilli does.
func TestDebeziumDatetimeIsEpochNumber(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	src := func(typ string) arrow.Metadata {
		return arrow.NewMetadata([]string{exec.MetaSourceType}, []string{typ})
	}
	user := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int32},
		{Name: "dt0", Type: ts, Nullable: true, Metadata: src("datetime")},
		{Name: "dt3", Type: ts, Nullable: true, Metadata: src("datetime(3)")},
		{Name: "dt6", Type: ts, Nullable: true, Metadata: src("datetime(6)")},
		{Name: "tsz", Type: ts, Nullable: true, Metadata: src("timestamp(6)")},
	}
	s := sinktest.SinkSchema(user, false)
	rb := array.NewRecordBuilder(mem, s)
	defer rb.Release()
	add := func(id int32, us ...int64) {
		rb.Field(0).(*array.Int32Builder).Append(id)
		for k, v := range us {
			rb.Field(1 + k).(*array.TimestampBuilder).Append(arrow.Timestamp(v))
		}
		rb.Field(5).(*array.Uint64Builder).Append(uint64(id))
		rb.Field(6).(*array.Uint8Builder).Append(0)
		rb.Field(7).(*array.StringBuilder).Append(exec.OpRead)
		rb.Field(8).(*array.TimestampBuilder).Append(0)
		rb.Field(9).(*array.StringBuilder).Append("binlog.000001:4")
	}
	// 2024-02-29 23:59:59.123456 and 1969-12-31 23:59:59.999500 (UTC wall clock).
	add(1, 1709251199000000, 1709251199123000, 1709251199123456, 1709251199123456)
	add(2, -1000000, -500, -500, -500)
	b := &exec.Batch{Record: rb.NewRecordBatch(), DB: "d", Table: "t"}
	defer b.Release()
	enc, err := format.New(format.DebeziumJSON, format.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	out, err := enc.Encode(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		`"dt0":1709251199000,"dt3":1709251199123,"dt6":1709251199123456,"tsz":"2024-02-29T23:59:59.123456Z"`,
		`"dt0":-1000,"dt3":-1,"dt6":-500,"tsz":"1969-12-31T23:59:59.999500Z"`,
	} {
		if !strings.Contains(string(out), w) {
			t.Errorf("no %s in\n%s", w, out)
		}
	}
}

// TestCSVKeepsSourceFSP: a MySQL DATETIME(n), TIMESTAMP(n) or TIME(n)
// column is written with exactly n fractional digits, zero dates included,
// as MySQL's CAST(col AS CHAR) shows it; a timestamp of no known source
// column keeps the fraction only when it has one.
func TestCSVKeepsSourceFSP(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	src := func(typ string) arrow.Metadata {
		return arrow.NewMetadata([]string{exec.MetaSourceType}, []string{typ})
	}
	user := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int32},
		{Name: "dt0", Type: ts, Nullable: true, Metadata: src("datetime")},
		{Name: "dt3", Type: ts, Nullable: true, Metadata: src("datetime(3)")},
		{Name: "ts6", Type: ts, Nullable: true, Metadata: src("timestamp(6)")},
		{Name: "any", Type: ts, Nullable: true},
		{Name: "tm2", Type: arrow.FixedWidthTypes.Duration_us, Nullable: true, Metadata: src("time(2)")},
	}
	s := sinktest.SinkSchema(user, false)
	rb := array.NewRecordBuilder(mem, s)
	defer rb.Release()
	add := func(id int32, tm int64, us ...int64) {
		rb.Field(0).(*array.Int32Builder).Append(id)
		for k, v := range us {
			rb.Field(1 + k).(*array.TimestampBuilder).Append(arrow.Timestamp(v))
		}
		rb.Field(5).(*array.DurationBuilder).Append(arrow.Duration(tm))
		rb.Field(6).(*array.Uint64Builder).Append(uint64(id))
		rb.Field(7).(*array.Uint8Builder).Append(0)
		rb.Field(8).(*array.StringBuilder).Append(exec.OpRead)
		rb.Field(9).(*array.TimestampBuilder).Append(0)
		rb.Field(10).(*array.StringBuilder).Append("binlog.000001:4")
	}
	zero := mysql.EncodeDatetime(0, 0, 0, 0, 0, 0, 0)
	add(1, 0, zero, zero, zero, zero)
	add(2, -(3600e6 + 500000), mysql.EncodeDatetime(2024, 2, 0, 10, 11, 12, 0), mysql.EncodeDatetime(2024, 2, 29, 1, 2, 3, 456000),
		1709251199123456, 1709251199000000)
	b := &exec.Batch{Record: rb.NewRecordBatch(), DB: "d", Table: "t"}
	defer b.Release()
	enc, err := format.New(format.CSV, format.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	out, err := enc.Encode(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	want := "id,dt0,dt3,ts6,any,tm2,_op\r\n" +
		"1,0000-00-00 00:00:00,0000-00-00 00:00:00.000,0000-00-00 00:00:00.000000,0000-00-00 00:00:00,00:00:00.00,read\r\n" +
		"2,2024-02-00 10:11:12,2024-02-29 01:02:03.456,2024-02-29 23:59:59.123456,2024-02-29 23:59:59,-01:00:00.50,read\r\n"
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}
