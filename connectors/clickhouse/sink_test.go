package clickhouse

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/exec"
)

func orderFields() []arrow.Field {
	return []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "amount", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}, Nullable: true},
	}
}

func TestUpsertVersionsTombstonesAndView(t *testing.T) {
	e := newEnv(t, nil)
	s := sinktest.SinkSchema(orderFields(), false)
	w := e.open(e.target("orders", connectors.ModeUpsert, []string{"id"}, s, nil))
	var a acks
	write(t, w, e.build(s,
		sysRow(1, false, "read", 1, "a", "1.00"),
		sysRow(2, false, "read", 2, "b", "2.00"),
		sysRow(3, false, "read", 3, "c", nil),
	), a.done(0))
	flush(t, w)
	write(t, w, e.build(s,
		sysRow(5, false, "update", 1, "a2", "1.50"),
		sysRow(6, true, "delete", 2, "b", "2.00"),
	), a.done(1))
	// At-least-once: a replay of older changes after newer ones.
	write(t, w, e.build(s,
		sysRow(1, false, "read", 1, "a", "1.00"),
		sysRow(2, false, "read", 2, "b", "2.00"),
	), a.done(2))
	flush(t, w)
	order, errs := a.snapshot()
	if len(errs) > 0 || len(order) != 3 || order[0] != 0 || order[2] != 2 {
		t.Fatalf("acks %v errs %v", order, errs)
	}
	got := e.text("SELECT id, name, toString(amount), _version FROM " + quote(e.db) + ".orders_current ORDER BY id")
	want := "1\ta2\t1.50\t5\n3\tc\tNULL\t3\n"
	if got != want {
		t.Errorf("view:\n%swant\n%s", got, want)
	}
	got = e.text("SELECT id, _version, _is_deleted FROM " + quote(e.db) + ".orders FINAL ORDER BY id")
	if want := "1\t5\t0\n2\t6\t1\n3\t3\t0\n"; got != want {
		t.Errorf("final:\n%swant\n%s", got, want)
	}
	engine := e.text("SELECT engine_full FROM system.tables WHERE database = '" + e.db + "' AND name = 'orders'")
	if !strings.Contains(engine, "ReplacingMergeTree(_version)") || !strings.Contains(engine, "ORDER BY id") {
		t.Errorf("engine: %s", engine)
	}
}

func TestAppendMode(t *testing.T) {
	e := newEnv(t, nil)
	s := sinktest.SinkSchema(orderFields(), false)
	w := e.open(e.target("events", connectors.ModeAppend, nil, s, nil))
	write(t, w, e.build(s, sysRow(1, false, "insert", 1, "a", "1.00"), sysRow(2, false, "update", 1, "b", "2.00")), nil)
	flush(t, w)
	got := e.text("SELECT id, name, toString(amount) FROM " + quote(e.db) + ".events ORDER BY name")
	if want := "1\ta\t1.00\n1\tb\t2.00\n"; got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
	cols := e.text("SELECT name FROM system.columns WHERE database = '" + e.db + "' AND table = 'events'")
	if cols != "id\nname\namount\n" {
		t.Errorf("append table has system columns: %s", cols)
	}
}

func TestChangelogMode(t *testing.T) {
	e := newEnv(t, nil)
	s := sinktest.SinkSchema(orderFields(), true)
	w := e.open(e.target("audit", connectors.ModeChangelog, []string{"id"}, s, nil))
	write(t, w, e.build(s), nil) // an empty batch is acked like any other
	rows := [][]any{
		{int64(1), "a", "1.00", nil, nil, nil},
		{int64(1), "b", "2.00", int64(1), "a", "1.00"},
		{int64(1), "b", "2.00", nil, nil, nil},
	}
	ops := []string{"insert", "update", "delete"}
	var built [][]any
	for i, r := range rows {
		built = append(built, sysRow(uint64(i+1), ops[i] == "delete", ops[i], r...))
	}
	write(t, w, e.build(s, built...), nil)
	flush(t, w)
	got := e.text("SELECT _version, _op, id, name, toString(amount), _before_name, toString(_before_amount), _pos, toString(_ts) FROM " + quote(e.db) + ".audit ORDER BY _version")
	want := "1\tinsert\t1\ta\t1.00\tNULL\tNULL\tbinlog.000001:1\t1767323045123456\n" +
		"2\tupdate\t1\tb\t2.00\ta\t1.00\tbinlog.000001:2\t1767323045123456\n" +
		"3\tdelete\t1\tb\t2.00\tNULL\tNULL\tbinlog.000001:3\t1767323045123456\n"
	if e.sink.version.hasDateTime64() {
		want = strings.ReplaceAll(want, "1767323045123456", "2026-01-02 03:04:05.123456")
	}
	if got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
}

func TestExistingIncompatibleTable(t *testing.T) {
	e := newEnv(t, nil)
	e.exec("CREATE DATABASE " + quote(e.db))
	e.exec("CREATE TABLE " + quote(e.db) + ".orders (id String, name Nullable(String), amount Float64, _version UInt64, _is_deleted UInt8) ENGINE = ReplacingMergeTree(_version) ORDER BY id")
	s := sinktest.SinkSchema(orderFields(), false)
	tg := e.target("orders", connectors.ModeUpsert, []string{"id"}, s, nil)
	_, err := e.sink.Open(context.Background(), tg)
	if err == nil {
		t.Fatal("Open must refuse an incompatible table")
	}
	if want := `column "id" is String, etlq writes Int64`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
	if strings.Contains(err.Error(), `"name"`) {
		t.Errorf("error names a matching column: %v", err)
	}
	// etlq check reports what Open refuses as an error, not a warning.
	_, problems, err := e.sink.Plan(context.Background(), tg)
	if err == nil || !strings.Contains(err.Error(), `column "id" is String`) {
		t.Errorf("plan: want the error Open gives, got %v", err)
	}
	// A non-key column of another type may hold the rows from before a
	// source type change made since the checkpoint (the change rebuilds
	// the table when the stream reaches it; rows of the source's type
	// into it are refused at the first insert): check says so.
	// apply acts on it (rebuilds the table when the stream reaches the
	// change): apply's start does not log it as a warning.
	retyped := false
	for _, p := range problems {
		if strings.Contains(p.Msg, `column "amount" is Float64 in the existing table`) {
			retyped = true
			if !p.ApplyActs {
				t.Errorf("plan: the retyped column's problem is not one apply acts on: %q", p.Msg)
			}
		}
	}
	if !retyped {
		t.Errorf("plan: problems lack the retyped column: %+v", problems)
	}
	if n := e.text("SELECT count() FROM " + quote(e.db) + ".orders"); n != "0\n" {
		t.Errorf("rows written: %s", n)
	}
	if v := e.text("SELECT count() FROM system.tables WHERE database = '" + e.db + "' AND name = 'orders_current'"); v != "0\n" {
		t.Error("view created for a refused table")
	}
}

func TestExistingCompatibleTableAddsMissingColumns(t *testing.T) {
	e := newEnv(t, nil)
	e.exec("CREATE DATABASE " + quote(e.db))
	// name is Nullable already, amount is missing; a column etlq does not know is kept.
	e.exec("CREATE TABLE " + quote(e.db) + ".orders (id Int64, name Nullable(String), extra String DEFAULT 'x', _version UInt64, _is_deleted UInt8) ENGINE = ReplacingMergeTree(_version) ORDER BY id")
	s := sinktest.SinkSchema(orderFields(), false)
	tg := e.target("orders", connectors.ModeUpsert, []string{"id"}, s, nil)
	ddl, problems, err := e.sink.Plan(context.Background(), tg)
	// (No view yet: it is created, with the table's columns once the ALTER ran.)
	if err != nil || len(problems) != 0 || len(ddl) != 2 || !strings.Contains(ddl[0], "ADD COLUMN `amount` Nullable(Decimal(12, 2))") ||
		!strings.Contains(ddl[1], "CREATE VIEW IF NOT EXISTS "+quote(e.db)+".`orders_current` AS SELECT `id`, `name`, `extra`, `_version`, `amount` FROM") {
		t.Fatalf("plan: %v %+v %q", err, problems, ddl)
	}
	w := e.open(tg)
	write(t, w, e.build(s, sysRow(1, false, "read", 1, "a", "9.99")), nil)
	flush(t, w)
	if got := e.text("SELECT id, name, toString(amount), extra FROM " + quote(e.db) + ".orders FINAL"); got != "1\ta\t9.99\tx\n" {
		t.Errorf("got %q", got)
	}
}

func TestEvolutionAddsColumnsAndView(t *testing.T) {
	e := newEnv(t, nil)
	s1 := sinktest.SinkSchema(orderFields()[:2], false)
	w := e.open(e.target("orders", connectors.ModeUpsert, []string{"id"}, s1, nil))
	var a acks
	write(t, w, e.build(s1, sysRow(1, false, "read", 1, "a")), a.done(0))
	// The source added amount: its DDL marks the column so (a column
	// without the mark, the table having rows, is one the table lost).
	added := orderFields()
	added[2].Metadata = arrow.NewMetadata([]string{exec.MetaAddedByDDL}, []string{"true"})
	s2 := sinktest.SinkSchema(added, false)
	write(t, w, e.build(s2, sysRow(2, false, "insert", 2, "b", "2.50")), a.done(1))
	flush(t, w)
	if order, errs := a.snapshot(); len(order) != 2 || len(errs) != 0 {
		t.Fatalf("acks %v %v", order, errs)
	}
	got := e.text("SELECT id, name, toString(amount) FROM " + quote(e.db) + ".orders_current ORDER BY id")
	if want := "1\ta\tNULL\n2\tb\t2.50\n"; got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
}

func TestSchemaChangesFail(t *testing.T) {
	e := newEnv(t, nil)
	s1 := sinktest.SinkSchema(orderFields()[:2], false)
	w := e.open(e.target("orders", connectors.ModeAppend, nil, s1, map[string]any{"schema_changes": "fail"}))
	s2 := sinktest.SinkSchema(orderFields(), false)
	err := w.Write(context.Background(), e.build(s2, sysRow(2, false, "insert", 2, "b", "2.50")), nil)
	if err == nil || !strings.Contains(err.Error(), "new columns amount") {
		t.Fatalf("want a schema change error, got %v", err)
	}
}

func TestPlanChangesNothing(t *testing.T) {
	e := newEnv(t, nil)
	fields := append(orderFields(), arrow.Field{Name: "big", Type: &arrow.Decimal256Type{Precision: 65, Scale: 30}, Nullable: true})
	s := sinktest.SinkSchema(fields, false)
	ddl, problems, err := e.sink.Plan(context.Background(), e.target("orders", connectors.ModeUpsert, []string{"id"}, s, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(ddl) != 3 || !strings.HasPrefix(ddl[1], "CREATE TABLE IF NOT EXISTS") {
		t.Errorf("ddl: %q", ddl)
	}
	if e.sink.version.maxDecimalPrecision() < 65 {
		if len(problems) != 1 || !strings.Contains(problems[0].Msg, `column "big": DECIMAL(65,30) cannot be held exactly by ClickHouse`) || problems[0].ApplyActs {
			t.Errorf("problems: %+v", problems)
		}
	}
	if n := e.text("SELECT count() FROM system.databases WHERE name = '" + e.db + "'"); n != "0\n" {
		t.Error("Plan created the database")
	}
}

func TestDataErrorFailsOnlyItsGroup(t *testing.T) {
	e := newEnv(t, nil)
	fields := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "name", Type: arrow.BinaryTypes.String}}
	s := sinktest.SinkSchema(fields, false)
	w := e.open(e.target("t", connectors.ModeUpsert, []string{"id"}, s, nil))
	var a acks
	write(t, w, e.build(s, sysRow(1, false, "read", 1, "a")), a.done(0))
	flush(t, w)
	// name is not nullable: a NULL in a live row cannot be written.
	write(t, w, e.build(s, sysRow(2, false, "insert", 2, nil)), a.done(1))
	if err := w.Flush(context.Background()); err == nil || !strings.Contains(err.Error(), `column "name": NULL`) || !strings.Contains(err.Error(), e.db+".t") {
		t.Errorf("flush error: %v", err)
	}
	// A tombstone's NULLs are written as zero values: only its key matters.
	write(t, w, e.build(s, sysRow(3, true, "delete", 1, nil)), a.done(2))
	flush(t, w)
	order, errs := a.snapshot()
	if len(order) != 3 || errs[1] == nil || errs[0] != nil || errs[2] != nil {
		t.Errorf("acks %v errs %v", order, errs)
	}
	if got := e.text("SELECT count() FROM " + quote(e.db) + ".t_current"); got != "0\n" {
		t.Errorf("live rows: %s", got)
	}
}

func TestSelectionWritesLiveRowsOnly(t *testing.T) {
	e := newEnv(t, nil)
	s := sinktest.SinkSchema(orderFields(), false)
	w := e.open(e.target("t", connectors.ModeAppend, []string{"id"}, s, nil))
	b := e.build(s, sysRow(1, false, "insert", 1, "a", "1"), sysRow(2, false, "insert", 2, nil, nil), sysRow(3, false, "insert", 3, "c", "3"))
	b.Sel = []int32{1, 2}
	write(t, w, b, nil)
	flush(t, w)
	if got := e.text("SELECT id, name, toString(amount) FROM " + quote(e.db) + ".t ORDER BY id"); got != "2\tNULL\tNULL\n3\tc\t3.00\n" {
		t.Errorf("got %q", got)
	}
}

func TestDecimalWiderThanDeclaredFails(t *testing.T) {
	e := newEnv(t, nil)
	fields := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "d", Type: &arrow.Decimal128Type{Precision: 5, Scale: 2}}}
	s := sinktest.SinkSchema(fields, false)
	w := e.open(e.target("dec", connectors.ModeAppend, nil, s, nil))
	// Arrow keeps 1234.56 in a Decimal(5,2) array; ClickHouse Decimal(5, 2) cannot.
	b := e.build(s, sysRow(1, false, "insert", 1, "1.00"))
	db := array.NewDecimal128Builder(e.mem, &arrow.Decimal128Type{Precision: 5, Scale: 2})
	db.Append(decimal128.FromI64(123456))
	wide := db.NewArray()
	db.Release()
	rec := b.Record
	cols := append([]arrow.Array(nil), rec.Columns()...)
	cols[1] = wide
	b.Record = array.NewRecordBatch(s, cols, rec.NumRows())
	rec.Release()
	wide.Release()
	write(t, w, b, nil)
	err := w.Flush(context.Background())
	if err == nil || !strings.Contains(err.Error(), `row of src.t at binlog.000001:1 (insert, id = 1, d = 1234.56): column "d" = '1234.56': 1234.56 has more digits than DECIMAL(5,2) holds`) {
		t.Errorf("got %v", err)
	}
}

func TestBatchWithoutRecordIsAckedInOrder(t *testing.T) {
	e := newEnv(t, nil)
	s := kvSchema()
	w := e.open(e.target("kv", connectors.ModeAppend, nil, s, nil))
	var a acks
	write(t, w, e.build(s, sysRow(1, false, "insert", 1, "a")), a.done(0))
	write(t, w, &exec.Batch{Mark: &exec.Mark{Source: "src"}}, a.done(1))
	flush(t, w)
	write(t, w, &exec.Batch{}, a.done(2))
	flush(t, w)
	if order, errs := a.snapshot(); len(order) != 3 || order[0] != 0 || order[1] != 1 || order[2] != 2 || len(errs) != 0 {
		t.Errorf("acks %v errs %v", order, errs)
	}
}

func TestSchemaChangesIgnoreOnExistingTable(t *testing.T) {
	e := newEnv(t, nil)
	e.exec("CREATE DATABASE " + quote(e.db))
	e.exec("CREATE TABLE " + quote(e.db) + ".t (id Int64, name Nullable(String)) ENGINE = MergeTree ORDER BY id")
	s := sinktest.SinkSchema(orderFields(), false)
	w := e.open(e.target("t", connectors.ModeAppend, []string{"id"}, s, map[string]any{"schema_changes": "ignore"}))
	write(t, w, e.build(s, sysRow(1, false, "insert", 1, "a", "1.00")), nil)
	flush(t, w)
	if got := e.text("SELECT id, name FROM " + quote(e.db) + ".t"); got != "1\ta\n" {
		t.Errorf("got %q", got)
	}
	if got := e.text("SELECT count() FROM system.columns WHERE database = '" + e.db + "' AND table = 't'"); got != "2\n" {
		t.Errorf("columns: %s", got)
	}
}
