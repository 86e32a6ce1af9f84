package clickhouse

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/exec"
)

// ddlField is a field with what a source DDL says of it.
func ddlField(name string, t arrow.DataType, nullable bool, kv ...string) arrow.Field {
	var keys, vals []string
	for i := 0; i+1 < len(kv); i += 2 {
		keys, vals = append(keys, kv[i]), append(vals, kv[i+1])
	}
	return arrow.Field{Name: name, Type: t, Nullable: nullable, Metadata: arrow.NewMetadata(keys, vals)}
}

// TestEvolveFollowsDDL: the rows already in the table follow the source's
// DDL as MySQL's did: a column added with a DEFAULT holds it, a renamed
// column keeps its values, a widened type widens the column; a batch of
// rows from before the widening is written into the wider column.
func TestEvolveFollowsDDL(t *testing.T) {
	for _, mode := range []connectors.Mode{connectors.ModeUpsert, connectors.ModeAppend} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t, nil)
			f1 := []arrow.Field{
				{Name: "id", Type: arrow.PrimitiveTypes.Int64},
				{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
				{Name: "c", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
				{Name: "d", Type: &arrow.Decimal128Type{Precision: 8, Scale: 2}, Nullable: true},
			}
			s1 := sinktest.SinkSchema(f1, false)
			w := e.open(e.target("t", mode, []string{"id"}, s1, nil))
			write(t, w, e.build(s1, sysRow(1, false, "read", 1, "n1", 5, "1.25")), nil)
			flush(t, w)

			added := exec.MetaAddedByDDL
			f2 := []arrow.Field{
				{Name: "id", Type: arrow.PrimitiveTypes.Int64},
				ddlField("note2", arrow.BinaryTypes.String, true, exec.MetaRenamedFrom, "note", added, "true"),
				{Name: "c", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
				{Name: "d", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}, Nullable: true},
				ddlField("g", arrow.PrimitiveTypes.Int32, false, exec.MetaDefault, "42", added, "true"),
				ddlField("s", arrow.BinaryTypes.String, true, exec.MetaDefault, "'it''s'", added, "true"),
				ddlField("h", arrow.PrimitiveTypes.Int32, true, added, "true"),
				ddlField("dt", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, false,
					exec.MetaSourceType, "datetime(6)", exec.MetaDefault, "'2024-02-03 04:05:06.250000'", added, "true"),
				ddlField("day", arrow.FixedWidthTypes.Date32, true, exec.MetaSourceType, "date", exec.MetaDefault, "'2024-02-03'", added, "true"),
			}
			s2 := sinktest.SinkSchema(f2, false)
			write(t, w, e.build(s2, sysRow(2, false, "insert", 2, "n2", int64(25000000000), "123456.78", 7, "x", nil,
				time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), nil)), nil)
			// A row decoded before the widening (a replay) still fits.
			write(t, w, e.build(s1, sysRow(3, false, "insert", 3, "n3", 6, "2.50")), nil)
			flush(t, w)
			got := e.text("SELECT id, ifNull(note2, 'NULL'), toString(c), toString(d), g, ifNull(s, 'NULL'), ifNull(toString(h), 'NULL') FROM " + quote(e.db) + ".t ORDER BY id")
			want := "1\tn1\t5\t1.25\t42\tit's\tNULL\n" +
				"2\tn2\t25000000000\t123456.78\t7\tx\tNULL\n" +
				"3\tn3\t6\t2.50\t42\tit's\tNULL\n"
			if got != want {
				t.Errorf("got\n%swant\n%s", got, want)
			}
			// DATE and DATETIME defaults, in the type the server has
			// (DateTime64 or microseconds as Int64 before 20.1).
			got = e.text("SELECT id, toString(dt), ifNull(toString(day), 'NULL') FROM " + quote(e.db) + ".t ORDER BY id")
			dt1 := "2024-02-03 04:05:06.250000"
			if typ := e.text("SELECT type FROM system.columns WHERE database = '" + e.db + "' AND table = 't' AND name = 'dt'"); typ == "Int64\n" {
				dt1 = strconv.FormatInt(time.Date(2024, 2, 3, 4, 5, 6, 250000000, time.UTC).UnixMicro(), 10)
			}
			dt2 := "2025-01-01 00:00:00.000000"
			if !strings.HasPrefix(dt1, "2024") {
				dt2 = strconv.FormatInt(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro(), 10)
			}
			if want := "1\t" + dt1 + "\t2024-02-03\n2\t" + dt2 + "\tNULL\n3\t" + dt1 + "\t2024-02-03\n"; got != want {
				t.Errorf("temporal defaults: got\n%swant\n%s", got, want)
			}
			if typ := e.text("SELECT type FROM system.columns WHERE database = '" + e.db + "' AND table = 't' AND name = 'c'"); typ != "Nullable(Int64)\n" {
				t.Errorf("c is %s", typ)
			}
		})
	}
}

// TestEvolveRestartAfterDDL: the table was written by an earlier run, and
// the source changed while etlq was stopped. Opened with today's source
// schema, the writer leaves the differences to the batches: replayed rows
// from before the DDL go into the columns the table has (a column the
// source dropped is not added again, a column widened by hand takes the
// narrower values), and the DDL's rows bring the new columns with their
// defaults.
func TestEvolveRestartAfterDDL(t *testing.T) {
	e := newEnv(t, nil)
	old := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "c", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "k", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
	}
	s0 := sinktest.SinkSchema(old, false)
	w := e.open(e.target("t", connectors.ModeUpsert, []string{"id"}, s0, nil))
	write(t, w, e.build(s0, sysRow(1, false, "read", 1, 10, 100, "n1")), nil)
	flush(t, w)
	w.Close()
	// k widened by hand in the target after a failed run.
	e.exec("ALTER TABLE " + quote(e.db) + ".t MODIFY COLUMN k Nullable(Int64)")

	// Today: c dropped, k BIGINT, note renamed to note2, g added.
	today := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "note2", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "g", Type: arrow.PrimitiveTypes.Int32},
	}
	tg := e.target("t", connectors.ModeUpsert, []string{"id"}, sinktest.SinkSchema(today, false), nil)
	w = e.open(tg)
	// The replay: a row from before the DDLs, then the DDLs' schema.
	write(t, w, e.build(s0, sysRow(2, false, "insert", 2, 20, 200, "n2")), nil)
	after := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		ddlField("note2", arrow.BinaryTypes.String, true, exec.MetaRenamedFrom, "note", exec.MetaAddedByDDL, "true"),
		ddlField("g", arrow.PrimitiveTypes.Int32, false, exec.MetaDefault, "42", exec.MetaAddedByDDL, "true"),
	}
	s2 := sinktest.SinkSchema(after, false)
	write(t, w, e.build(s2, sysRow(3, false, "insert", 3, int64(3000000000), "n3", 3)), nil)
	flush(t, w)
	got := e.text("SELECT id, toString(k), ifNull(note2, 'NULL'), g FROM " + quote(e.db) + ".t_current ORDER BY id")
	want := "1\t100\tn1\t42\n2\t200\tn2\t42\n3\t3000000000\tn3\t3\n"
	if got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
}

// TestEvolveRefusesColumnDroppedByHand: a column dropped from a target
// that holds rows is not re-created empty for them: the write fails with a
// message naming the column and the fix, at Open's first batch.
func TestEvolveRefusesColumnDroppedByHand(t *testing.T) {
	e := newEnv(t, nil)
	s := sinktest.SinkSchema(orderFields(), false)
	w := e.open(e.target("orders", connectors.ModeUpsert, []string{"id"}, s, nil))
	write(t, w, e.build(s, sysRow(1, false, "read", 1, "a", "9.99")), nil)
	flush(t, w)
	w.Close()
	e.exec("DROP TABLE " + quote(e.db) + ".orders_current")
	e.exec("ALTER TABLE " + quote(e.db) + ".orders DROP COLUMN amount")

	// etlq check says so before anything runs.
	_, problems, err := e.sink.Plan(context.Background(), e.target("orders", connectors.ModeUpsert, []string{"id"}, s, nil))
	if err != nil || len(problems) != 1 || !strings.Contains(problems[0].Msg, "lacks column(s) amount") || !strings.Contains(problems[0].Msg, "re-snapshot") || !problems[0].ApplyActs {
		t.Errorf("plan: %v %+v", err, problems)
	}
	w2, err := e.sink.Open(context.Background(), e.target("orders", connectors.ModeUpsert, []string{"id"}, s, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	err = w2.Write(context.Background(), e.build(s, sysRow(2, false, "insert", 2, "b", "1.00")), nil)
	if err == nil {
		flush(t, w2)
		t.Fatalf("amount re-created: %s", e.text("SELECT * FROM "+quote(e.db)+".orders"))
	}
	for _, want := range []string{`amount`, "dropped outside etlq", "re-snapshot"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if n := e.text("SELECT count() FROM system.columns WHERE database = '" + e.db + "' AND table = 'orders' AND name = 'amount'"); n != "0\n" {
		t.Errorf("amount re-created")
	}
}

// TestEvolveTimestampDefault: a TIMESTAMP column added with a default the
// source converted to UTC ("…+00:00") gives the rows already there that
// instant; one in an unknown time zone is not guessed (no default).
func TestEvolveTimestampDefault(t *testing.T) {
	e := newEnv(t, nil)
	f1 := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}
	s1 := sinktest.SinkSchema(f1, false)
	w := e.open(e.target("t", connectors.ModeAppend, []string{"id"}, s1, nil))
	write(t, w, e.build(s1, sysRow(1, false, "read", 1)), nil)
	flush(t, w)
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	added := exec.MetaAddedByDDL
	f2 := append(f1,
		ddlField("utc", ts, true, exec.MetaSourceType, "timestamp(3)", exec.MetaDefault, "'2020-01-01 21:34:05.25+00:00'", added, "true"),
		ddlField("local", ts, true, exec.MetaSourceType, "timestamp", exec.MetaDefault, "'2020-01-02 03:04:05'", added, "true"))
	s2 := sinktest.SinkSchema(f2, false)
	write(t, w, e.build(s2, sysRow(2, false, "insert", 2, nil, nil)), nil)
	flush(t, w)
	col := "toString(utc)"
	if typ := e.text("SELECT type FROM system.columns WHERE database = '" + e.db + "' AND table = 't' AND name = 'utc'"); typ != "Nullable(Int64)\n" {
		col = "toString(toUnixTimestamp64Micro(utc))"
	}
	got := e.text("SELECT id, ifNull(" + col + ", 'NULL'), isNull(local) FROM " + quote(e.db) + ".t ORDER BY id")
	want := "1\t" + strconv.FormatInt(time.Date(2020, 1, 1, 21, 34, 5, 250000000, time.UTC).UnixMicro(), 10) + "\t1\n2\tNULL\t1\n"
	if got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
}

// TestEvolveColumnBecomesNullable: `ALTER TABLE t MODIFY g INT` (NOT NULL
// dropped) makes the column nullable in the source; the target column
// follows (Nullable), so a NULL after the ALTER is written — while the
// writer runs, and in a new run over the table an earlier one made.
func TestEvolveColumnBecomesNullable(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(map[bool]string{false: "streaming", true: "restart"}[restart], func(t *testing.T) {
			e := newEnv(t, nil)
			before := []arrow.Field{
				{Name: "id", Type: arrow.PrimitiveTypes.Int64},
				{Name: "g", Type: arrow.PrimitiveTypes.Int32},
			}
			s1 := sinktest.SinkSchema(before, false)
			w := e.open(e.target("t", connectors.ModeUpsert, []string{"id"}, s1, nil))
			write(t, w, e.build(s1, sysRow(1, false, "read", 1, 5)), nil)
			flush(t, w)
			after := []arrow.Field{
				{Name: "id", Type: arrow.PrimitiveTypes.Int64},
				{Name: "g", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
			}
			s2 := sinktest.SinkSchema(after, false)
			if restart {
				w.Close()
				// Opened with today's source schema; the replay
				// brings a row from before the ALTER first.
				w = e.open(e.target("t", connectors.ModeUpsert, []string{"id"}, s2, nil))
				write(t, w, e.build(s1, sysRow(2, false, "insert", 2, 6)), nil)
			}
			write(t, w, e.build(s2, sysRow(3, false, "insert", 3, nil)), nil)
			flush(t, w)
			got := e.text("SELECT id, ifNull(toString(g), 'NULL') FROM " + quote(e.db) + ".t_current ORDER BY id")
			want := "1\t5\n3\tNULL\n"
			if restart {
				want = "1\t5\n2\t6\n3\tNULL\n"
			}
			if got != want {
				t.Errorf("got\n%swant\n%s", got, want)
			}
			if typ := e.text("SELECT type FROM system.columns WHERE database = '" + e.db + "' AND table = 't' AND name = 'g'"); typ != "Nullable(Int32)\n" {
				t.Errorf("g is %s", typ)
			}
		})
	}
}

// TestEvolveLostDefaultWarnsOnlyForLiveRows: a column added with a source
// DEFAULT the table cannot carry (BIT) leaves the rows already there with
// the type's default — a WARN naming how many, where live rows exist; none
// when every row of the table is deleted, nor for a column that came with
// a table created at the source (exec.AddedByJoin: dropped and created
// again, its old rows are not its rows). The WARN used to come in every
// case.
func TestEvolveLostDefaultWarnsOnlyForLiveRows(t *testing.T) {
	for _, c := range []struct {
		name    string
		deleted bool   // the rows already there are tombstones
		added   string // MetaAddedByDDL
		warn    bool
		info    string
	}{
		{name: "alter", added: "true", warn: true},
		{name: "alter, rows deleted", deleted: true, added: "true", info: "the table holds no live row"},
		{name: "created", added: exec.AddedByJoin, info: "the column came with a table created at the source"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			prev := slog.Default()
			slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
			t.Cleanup(func() { slog.SetDefault(prev) })
			e := newEnv(t, nil)
			f1 := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}
			s1 := sinktest.SinkSchema(f1, false)
			w := e.open(e.target("t", connectors.ModeUpsert, []string{"id"}, s1, nil))
			write(t, w, e.build(s1, sysRow(1, false, "read", 1), sysRow(2, false, "read", 2)), nil)
			flush(t, w)
			if c.deleted {
				write(t, w, e.build(s1, sysRow(3, true, "delete", 1), sysRow(3, true, "delete", 2)), nil)
				flush(t, w)
			}
			f2 := append(f1, ddlField("vip", arrow.PrimitiveTypes.Uint64, true, exec.MetaSourceType, "bit(3)", exec.MetaLogicalType, "bit",
				exec.MetaDefault, "5", exec.MetaAddedByDDL, c.added))
			s2 := sinktest.SinkSchema(f2, false)
			write(t, w, e.build(s2, sysRow(4, false, "insert", 7, uint64(5))), nil)
			flush(t, w)
			text := logs.String()
			warned := strings.Contains(text, "level=WARN msg=\"clickhouse: the source's DEFAULT of a new column cannot be carried: the 2 rows already in the table hold the type's default")
			if c.warn != warned || (!c.warn && strings.Contains(text, "level=WARN")) {
				t.Errorf("want a WARN naming 2 rows: %v, got:\n%s", c.warn, text)
			}
			if c.info != "" && !strings.Contains(text, "level=INFO msg=\"clickhouse: the source's DEFAULT of a new column cannot be carried; no row in the table needs it ("+c.info) {
				t.Errorf("want an INFO saying %q, got:\n%s", c.info, text)
			}
		})
	}
}

// TestEvolveWideningKeepsDefault: a column added with a DEFAULT (or
// renamed: DEFAULT old_name) and then widened. ClickHouse 18.16 drops a
// column's DEFAULT on `MODIFY COLUMN c Int64` without one, and the rows
// of parts written before the ADD, which never held the column, read 0
// from then on: in the live-tables trial `ADD COLUMN mid_snap INT NOT NULL
// DEFAULT 7` then `MODIFY mid_snap BIGINT` left 138302 of 205710 rows
// with 0 in the target, 7 at the source, nothing said. The MODIFY keeps
// the table's DEFAULT, also in a writer opened after a restart (which
// knows the column only from the table).
func TestEvolveWideningKeepsDefault(t *testing.T) {
	e := newEnv(t, nil)
	added := exec.MetaAddedByDDL
	f1 := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "note", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
	}
	s1 := sinktest.SinkSchema(f1, false)
	w := e.open(e.target("t", connectors.ModeUpsert, []string{"id"}, s1, nil))
	write(t, w, e.build(s1, sysRow(1, false, "read", 1, 11)), nil)
	flush(t, w)
	// ADD COLUMN g INT NOT NULL DEFAULT 7, RENAME COLUMN note TO n2.
	f2 := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		ddlField("n2", arrow.PrimitiveTypes.Int16, true, exec.MetaRenamedFrom, "note", added, "true"),
		ddlField("g", arrow.PrimitiveTypes.Int32, false, exec.MetaDefault, "7", added, "true"),
		ddlField("d", &arrow.Decimal128Type{Precision: 8, Scale: 2}, false, exec.MetaDefault, "1.50", added, "true"),
	}
	s2 := sinktest.SinkSchema(f2, false)
	write(t, w, e.build(s2, sysRow(2, false, "insert", 2, 22, 5, "2.25")), nil)
	flush(t, w)
	// MODIFY g BIGINT NOT NULL DEFAULT 7.
	f3 := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "n2", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
		{Name: "g", Type: arrow.PrimitiveTypes.Int64},
		{Name: "d", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}},
	}
	s3 := sinktest.SinkSchema(f3, false)
	write(t, w, e.build(s3, sysRow(3, false, "insert", 3, 33, int64(8), "3.25")), nil)
	flush(t, w)
	w.Close()
	// A restart, then MODIFY n2 INT.
	f4 := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "n2", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "g", Type: arrow.PrimitiveTypes.Int64},
		{Name: "d", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}},
	}
	s4 := sinktest.SinkSchema(f4, false)
	w = e.open(e.target("t", connectors.ModeUpsert, []string{"id"}, s3, nil))
	write(t, w, e.build(s4, sysRow(4, false, "insert", 4, int32(44), int64(9), "4.25")), nil)
	flush(t, w)
	w.Close()
	got := e.text("SELECT id, ifNull(toString(n2), 'NULL'), toString(g), toString(d) FROM " + quote(e.db) + ".t_current ORDER BY id")
	if want := "1\t11\t7\t1.50\n2\t22\t5\t2.25\n3\t33\t8\t3.25\n4\t44\t9\t4.25\n"; got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
}
