package format_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
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
	out := encodeTwice(t, format.Table, format.Options{Color: true, OpColumn: true}, nil)
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

// TestCSVAppendAfterHeader: appended to a file whose last header names the
// same columns, no header; other columns (one added while etlq was
// stopped), a header line first.
func TestCSVAppendAfterHeader(t *testing.T) {
	plain := encodeTwice(t, format.CSV, format.Options{}, nil)
	header, _, _ := strings.Cut(string(plain), "\r\n")
	names := strings.Split(header, ",")
	out := encodeTwice(t, format.CSV, format.Options{AppendAfterHeader: names}, nil)
	if bytes.HasPrefix(out, []byte("id,")) || bytes.Count(out, []byte("\r\n")) != 7 {
		t.Errorf("want 7 data lines and no header, got\n%s", out)
	}
	out = encodeTwice(t, format.CSV, format.Options{AppendAfterHeader: names[:len(names)-1]}, nil)
	if !bytes.HasPrefix(out, []byte(header+"\r\n")) || bytes.Count(out, []byte("\r\n")) != 8 {
		t.Errorf("after a header of other columns: want the header, then 7 data lines, got\n%s", out)
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
		format.CSV: {"1,0000-00-00,0000-00-00 00:00:00\r\n", "2,2024-00-15,2024-02-00 10:11:12.500000\r\n", "3,2024-02-29,2024-02-29 23:59:59\r\n"},
		format.JSONL: {`"id":1,"d":"0000-00-00","dt":"0000-00-00T00:00:00.000000Z"`, `"id":2,"d":"2024-00-15","dt":"2024-02-00T10:11:12.500000Z"`,
			`"id":3,"d":"2024-02-29","dt":"2024-02-29T23:59:59.000000Z"`},
		// dt has no source column: canal's mysqlType says datetime(6), and
		// every value has the 6 digits it promises, whole seconds too.
		format.CanalJSON: {`"d":"0000-00-00","dt":"0000-00-00 00:00:00.000000"`, `"d":"2024-00-15","dt":"2024-02-00 10:11:12.500000"`,
			`"d":"2024-02-29","dt":"2024-02-29 23:59:59.000000"`},
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
	want := "id,dt0,dt3,ts6,any,tm2\r\n" +
		"1,0000-00-00 00:00:00,0000-00-00 00:00:00.000,0000-00-00 00:00:00.000000,0000-00-00 00:00:00,00:00:00.00\r\n" +
		"2,2024-02-00 10:11:12,2024-02-29 01:02:03.456,2024-02-29 23:59:59.123456,2024-02-29 23:59:59,-01:00:00.50\r\n"
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

// modeBatch is an update and a delete of (id, name), with before columns.
func modeBatch(mem memory.Allocator) *exec.Batch {
	s := sinktest.SinkSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "name", Type: arrow.BinaryTypes.String, Nullable: true}}, true)
	return sinktest.Build(mem, s, "d", "t",
		[]any{1, "new", 1, "old", uint64(7), uint8(0), exec.OpUpdate, tCom, "f.000001:10"},
		[]any{2, nil, nil, nil, uint64(8), uint8(1), exec.OpDelete, tCom, "f.000001:20"})
}

// TestModeColumns: the row formats write the TRANSFORM's columns and what
// the mode defines, nothing else (no _op the TRANSFORM did not ask for).
func TestModeColumns(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := modeBatch(mem)
	defer b.Release()
	for _, tc := range []struct {
		format string
		opts   format.Options
		want   string
	}{
		{format.JSONL, format.Options{}, "{\"id\":1,\"name\":\"new\"}\n{\"id\":2,\"name\":null}\n"},
		{format.CSV, format.Options{}, "id,name\r\n1,new\r\n2,\r\n"},
		{format.Table, format.Options{}, " id | name\n----+------\n  1 | new\n  2 | NULL\n"},
		{format.JSONL, format.Options{Mode: connectors.ModeUpsert},
			"{\"id\":1,\"name\":\"new\",\"_version\":7,\"_is_deleted\":0}\n{\"id\":2,\"name\":null,\"_version\":8,\"_is_deleted\":1}\n"},
		{format.CSV, format.Options{Mode: connectors.ModeChangelog},
			"id,name,_op,_ts,_pos,_version,_before_id,_before_name\r\n" +
				"1,new,update,2026-01-02 03:04:05,f.000001:10,7,1,old\r\n" +
				"2,,delete,2026-01-02 03:04:05,f.000001:20,8,,\r\n"},
		{format.JSONL, format.Options{Mode: connectors.ModeChangelog},
			"{\"id\":1,\"name\":\"new\",\"_op\":\"update\",\"_ts\":\"2026-01-02T03:04:05.000000Z\",\"_pos\":\"f.000001:10\",\"_version\":7,\"_before_id\":1,\"_before_name\":\"old\"}\n" +
				"{\"id\":2,\"name\":null,\"_op\":\"delete\",\"_ts\":\"2026-01-02T03:04:05.000000Z\",\"_pos\":\"f.000001:20\",\"_version\":8,\"_before_id\":null,\"_before_name\":null}\n"},
		{format.Table, format.Options{OpColumn: true}, " _op    | id | name\n--------+----+------\n update |  1 | new\n delete |  2 | NULL\n"},
		{format.CSV, format.Options{OpColumn: true, Mode: connectors.ModeChangelog},
			"_op,id,name,_ts,_pos,_version,_before_id,_before_name\r\n" +
				"update,1,new,2026-01-02 03:04:05,f.000001:10,7,1,old\r\n" +
				"delete,2,,2026-01-02 03:04:05,f.000001:20,8,,\r\n"},
	} {
		enc, err := format.New(tc.format, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		out, err := enc.Encode(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != tc.want {
			t.Errorf("%s, mode %v, op column %v:\ngot\n%q\nwant\n%q", tc.format, tc.opts.Mode, tc.opts.OpColumn, out, tc.want)
		}
	}
}

// TestTableWidthsStable: later batches line up under the header of the
// first; a wider value widens its column and brings a new header, under
// which its rows line up.
func TestTableWidthsStable(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := sinktest.SinkSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int32},
		{Name: "amount", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "who", Type: arrow.BinaryTypes.String},
	}, false)
	row := func(id int, amount string, at time.Time, who string) []any {
		return []any{id, amount, at, who, uint64(id), uint8(0), exec.OpInsert, tCom, "f.000001:4"}
	}
	enc, _ := format.New(format.Table, format.Options{OpColumn: true})
	var out []byte
	for _, rows := range [][][]any{
		{row(1, "1.00", tCom, "ann")},
		{row(22222, "-1234567890.12", t0, "bob")},
		{row(3, "3.00", tCom, "cy")},
		{row(4, "4.00", tCom, "a much longer name")},
		{row(5, "5.00", tCom, "dee")},
	} {
		b := sinktest.Build(mem, s, "d", "t", rows...)
		var err error
		out, err = enc.Encode(out, b)
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	blocks := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n\n")
	if len(blocks) != 2 {
		t.Fatalf("want the header twice (again for the wider name only), got\n%s", out)
	}
	for _, blk := range blocks {
		lines := strings.Split(blk, "\n")
		bars := func(l string) []int {
			var at []int
			for i, r := range []rune(l) {
				if r == '|' || r == '+' {
					at = append(at, i)
				}
			}
			return at
		}
		want := fmt.Sprint(bars(lines[1]))
		for _, l := range lines {
			if l != lines[1] && fmt.Sprint(bars(l)) != want {
				t.Errorf("line %q is not aligned with its header:\n%s", l, blk)
			}
		}
	}
	if !strings.Contains(blocks[0], " 22222 | -1234567890.12 | 2026-01-02 03:04:05.123456 | bob\n") ||
		!strings.Contains(blocks[1], "| a much longer name\n") {
		t.Errorf("unexpected table:\n%s", out)
	}
}

// TestTableWideCharacters: columns line up by the width a terminal gives
// text, not by its runes — East Asian wide characters and emoji take two
// columns, a combining accent and an emoji's joiner none — and a long value
// of wide characters is clipped within the cell's 60 columns. Counting
// runes put the bars after 日本語 and 👩‍💻 three and two columns too early.
func TestTableWideCharacters(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := sinktest.SinkSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int32},
		{Name: "who", Type: arrow.BinaryTypes.String},
		{Name: "n", Type: arrow.PrimitiveTypes.Int32},
	}, false)
	row := func(id int, who string) []any {
		return []any{id, who, 7, uint64(id), uint8(0), exec.OpInsert, tCom, "f.000001:4"}
	}
	enc, _ := format.New(format.Table, format.Options{})
	b := sinktest.Build(mem, s, "d", "t", row(1, "ann"), row(2, "日本語"), row(3, "👩\u200d💻 dev"), row(4, "Jose\u0301"),
		row(5, strings.Repeat("字", 40)))
	out, err := enc.Encode(nil, b)
	b.Release()
	if err != nil {
		t.Fatal(err)
	}
	// Each who and the columns a terminal gives it, by hand; the widest is
	// the clipped one (29 wide characters and the ellipsis: 59 columns).
	line := func(id, who string, width int) string {
		return fmt.Sprintf(" %11s | %s%s | %11d\n", id, who, strings.Repeat(" ", 59-width), 7)
	}
	want := fmt.Sprintf(" %-11s | %-59s | n\n", "id", "who") +
		strings.Repeat("-", 13) + "+" + strings.Repeat("-", 61) + "+" + strings.Repeat("-", 13) + "\n" +
		line("1", "ann", 3) + line("2", "日本語", 6) + line("3", "👩\u200d💻 dev", 6) + line("4", "Jose\u0301", 4) +
		line("5", strings.Repeat("字", 29)+"…", 59)
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

// TestDebeziumSource: source.server_id and gtid come from the binlog
// batch, source.snapshot marks the row that ends a snapshot (the batch's
// last live row), BIT(1) is a boolean and BIT(n) little-endian bytes.
func TestDebeziumSource(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	bitField := func(name, st string) arrow.Field {
		return arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Uint64, Nullable: true,
			Metadata: arrow.NewMetadata([]string{exec.MetaLogicalType, exec.MetaSourceType}, []string{"bit", st})}
	}
	s := sinktest.SinkSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, bitField("f", "bit(1)"), bitField("b", "bit(12)")}, false)
	rows := func(op string) [][]any {
		return [][]any{
			{1, 1, 0x801, uint64(1), uint8(0), op, tCom, "f.000001:10"},
			{2, 0, 0, uint64(2), uint8(0), op, tCom, "f.000001:10"},
			{3, nil, nil, uint64(3), uint8(0), op, tCom, "f.000001:10"},
		}
	}
	enc, _ := format.New(format.DebeziumJSON, format.Options{Now: now})
	encode := func(b *exec.Batch) []string {
		t.Helper()
		out, err := enc.Encode(nil, b)
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	snap := sinktest.Build(mem, s, "d", "t", rows(exec.OpRead)...)
	snap.SnapshotEnd, snap.Sel = exec.SnapshotEdgeAll, []int32{0, 1} // row 3 filtered out
	lines := encode(snap)
	for i, want := range []string{`"snapshot":"true"`, `"snapshot":"last"`} {
		if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], `"server_id":0,"gtid":null`) {
			t.Errorf("snapshot row %d: want %s, server_id 0, gtid null:\n%s", i, want, lines[i])
		}
	}
	if !strings.Contains(lines[0], `"after":{"id":1,"f":true,"b":"AQg="}`) || !strings.Contains(lines[1], `"after":{"id":2,"f":false,"b":"AAA="}`) {
		t.Errorf("BIT values:\n%s", strings.Join(lines, "\n"))
	}
	tbl := sinktest.Build(mem, s, "d", "t", rows(exec.OpRead)...)
	tbl.SnapshotStart, tbl.SnapshotEnd = exec.SnapshotEdgeAll, exec.SnapshotEdgeTable
	if lines := encode(tbl); !strings.Contains(lines[0], `"snapshot":"first"`) || !strings.Contains(lines[1], `"snapshot":"true"`) ||
		!strings.Contains(lines[2], `"snapshot":"last_in_data_collection"`) {
		t.Errorf("want the first row to begin the snapshot, the last to end its table's:\n%s", strings.Join(lines, "\n"))
	}
	one := sinktest.Build(mem, s, "d", "t", rows(exec.OpRead)...)
	one.SnapshotStart, one.SnapshotEnd, one.Sel = exec.SnapshotEdgeTable, exec.SnapshotEdgeAll, []int32{1}
	if lines := encode(one); len(lines) != 1 || !strings.Contains(lines[0], `"snapshot":"last"`) {
		t.Errorf("a row that begins and ends a snapshot: want last, got\n%s", strings.Join(lines, "\n"))
	}
	first := sinktest.Build(mem, s, "d", "t", rows(exec.OpRead)...)
	first.SnapshotStart, first.Sel = exec.SnapshotEdgeTable, []int32{1, 2}
	if lines := encode(first); !strings.Contains(lines[0], `"snapshot":"first_in_data_collection"`) || !strings.Contains(lines[1], `"snapshot":"true"`) {
		t.Errorf("want the first live row to begin its table's snapshot:\n%s", strings.Join(lines, "\n"))
	}
	bin := sinktest.Build(mem, s, "d", "t", rows(exec.OpInsert)...)
	bin.ServerID, bin.GTID = 1, "0-1-42"
	for _, l := range encode(bin) {
		if !strings.Contains(l, `"snapshot":"false","db":"d","sequence":null,"ts_us":1767323045000000,"ts_ns":1767323045000000000,"table":"t","server_id":1,"gtid":"0-1-42","file":"f.000001","pos":10`) ||
			!strings.Contains(l, `"thread":null,"query":null}`) {
			t.Errorf("binlog row: %s", l)
		}
	}
}

// TestDebeziumSourceAsDebezium2: the source block and the envelope carry
// the fields of Debezium's MySQL connector 2.6 and later, in its order:
// source.version is etlq's own (it was "etlq", whatever the build),
// ts_us and ts_ns beside each ts_ms (the source's: the commit time, to the
// microsecond a snapshot's read time has; the envelope's: the time the
// event was built), sequence null, thread the session that ran the
// transaction when the binlog says (it was always null), and the
// transaction block null, as Debezium's default.
func TestDebeziumSourceAsDebezium2(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	prev := connectors.Version
	connectors.Version = "1.4.2"
	defer func() { connectors.Version = prev }()
	s := sinktest.SinkSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, false)
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	built := time.Date(2026, 1, 2, 3, 4, 6, 987654321, time.UTC)
	enc, _ := format.New(format.DebeziumJSON, format.Options{Pipeline: "p", Now: func() time.Time { return built }})
	for _, tc := range []struct {
		op, want string
	}{
		{exec.OpInsert, `"source":{"version":"1.4.2","connector":"mysql","name":"p","ts_ms":1767323045123,"snapshot":"false","db":"d","sequence":null,` +
			`"ts_us":1767323045123456,"ts_ns":1767323045123456000,"table":"t","server_id":7,"gtid":"0-7-9","file":"binlog.000003","pos":42,"row":0,` +
			`"thread":1234,"query":null},"transaction":null,"op":"c","ts_ms":1767323046987,"ts_us":1767323046987654,"ts_ns":1767323046987654321}`},
		// A snapshot row: no server, GTID nor thread, as Debezium's.
		{exec.OpRead, `"server_id":0,"gtid":null,"file":"binlog.000003","pos":42,"row":0,"thread":null,"query":null},"transaction":null,"op":"r"`},
	} {
		b := sinktest.Build(mem, s, "d", "t", []any{1, uint64(1), uint8(0), tc.op, at, "binlog.000003:42"})
		b.ServerID, b.GTID, b.Thread = 7, "0-7-9", 1234
		out, err := enc.Encode(nil, b)
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%s:\n got %s\nwant …%s", tc.op, out, tc.want)
		}
	}
}

// TestYearZeroText: csv, table and canal_json write a YEAR column (logical
// type "year") as MariaDB shows it, four digits: "0000" for YEAR 0, not
// "0" (TestYearTextAsServer compares with the servers).
func TestYearZeroText(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	user := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int32},
		{Name: "y", Type: arrow.PrimitiveTypes.Uint16, Nullable: true,
			Metadata: arrow.NewMetadata([]string{exec.MetaLogicalType, exec.MetaSourceType}, []string{"year", "year"})},
	}
	s := sinktest.SinkSchema(user, false)
	rb := array.NewRecordBuilder(mem, s)
	defer rb.Release()
	for id, y := range []uint16{0, 2024} {
		rb.Field(0).(*array.Int32Builder).Append(int32(id + 1))
		rb.Field(1).(*array.Uint16Builder).Append(y)
		rb.Field(2).(*array.Uint64Builder).Append(uint64(id))
		rb.Field(3).(*array.Uint8Builder).Append(0)
		rb.Field(4).(*array.StringBuilder).Append(exec.OpRead)
		rb.Field(5).(*array.TimestampBuilder).Append(0)
		rb.Field(6).(*array.StringBuilder).Append("binlog.000001:4")
	}
	b := &exec.Batch{Record: rb.NewRecordBatch(), DB: "d", Table: "t"}
	defer b.Release()
	for name, want := range map[string][]string{
		format.CSV:       {"1,0000\r\n", "2,2024\r\n"},
		format.Table:     {" 0000\n", " 2024\n"},
		format.CanalJSON: {`"y":"0000"`, `"y":"2024"`},
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
				t.Errorf("%s: no %q in\n%s", name, w, out)
			}
		}
	}
}
