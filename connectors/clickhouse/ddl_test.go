package clickhouse

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

var (
	v1816 = serverVersion{18, 16, 1}
	v2403 = serverVersion{24, 3, 0}
)

func sysFields(before ...arrow.Field) []arrow.Field {
	out := append([]arrow.Field(nil), before...)
	return append(out, exec.SysFields()...)
}

func testSchema() *arrow.Schema {
	user := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Uint64},
		{Name: "amount", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}, Nullable: true},
		{Name: "big", Type: &arrow.Decimal256Type{Precision: 65, Scale: 30}, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "t", Type: &arrow.DurationType{Unit: arrow.Microsecond}, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	}
	return arrow.NewSchema(sysFields(user...), nil)
}

func TestMapTypeVersions(t *testing.T) {
	s := testSchema()
	cases := []struct {
		v    serverVersion
		want map[string]string
	}{
		{v1816, map[string]string{
			"id": "UInt64", "amount": "Decimal(12, 2)", "big": "String", "day": "Date",
			"at": "Int64", "t": "Int64", "ok": "UInt8", "name": "String",
		}},
		{v2403, map[string]string{
			"id": "UInt64", "amount": "Decimal(12, 2)", "big": "Decimal(65, 30)", "day": "Date32",
			"at": "DateTime64(6, 'UTC')", "t": "Int64", "ok": "UInt8", "name": "String",
		}},
	}
	for _, c := range cases {
		for _, f := range s.Fields() {
			want, ok := c.want[f.Name]
			if !ok {
				continue
			}
			m, err := mapType(f, c.v)
			if err != nil {
				t.Fatal(err)
			}
			if m.base != want {
				t.Errorf("%s on %s: got %s, want %s", f.Name, c.v, m.base, want)
			}
		}
	}
}

func TestUpsertDDL1816(t *testing.T) {
	l, err := buildLayout("shop", "orders", connectors.ModeUpsert, []string{"id"}, testSchema(), v1816, targetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ddl, err := l.ddl()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(ddl, ";\n")
	want := "CREATE DATABASE IF NOT EXISTS `shop`;\n" +
		"CREATE TABLE IF NOT EXISTS `shop`.`orders` (\n" +
		"    `id` UInt64,\n" +
		"    `amount` Nullable(Decimal(12, 2)),\n" +
		"    `big` Nullable(String) COMMENT 'DECIMAL(65,30) as exact decimal text',\n" +
		"    `day` Nullable(Date),\n" +
		"    `at` Nullable(Int64) COMMENT 'microseconds since 1970-01-01 00:00:00 UTC',\n" +
		"    `t` Nullable(Int64) COMMENT 'TIME as microseconds',\n" +
		"    `ok` UInt8,\n" +
		"    `name` Nullable(String),\n" +
		"    `_version` UInt64,\n" +
		"    `_is_deleted` UInt8\n" +
		")\nENGINE = ReplacingMergeTree(`_version`)\nORDER BY (`id`);\n" +
		"CREATE VIEW IF NOT EXISTS `shop`.`orders_current` AS SELECT `id`, `amount`, `big`, `day`, `at`, `t`, `ok`, `name`, `_version` FROM `shop`.`orders` FINAL WHERE `_is_deleted` = 0"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if len(l.problems) != 2 || !strings.Contains(l.problems[0].Msg, `column "big": DECIMAL(65,30) cannot be held exactly by ClickHouse 18.16.1`) ||
		!strings.Contains(l.problems[1].Msg, `column "day": DATE values outside 1970-01-01..2105-12-31`) {
		t.Errorf("problems: %+v", l.problems)
	}
}

func TestChangelogDDLCurrent(t *testing.T) {
	before := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "status", Type: arrow.BinaryTypes.String},
		{Name: exec.SysBeforePrefix + "status", Type: arrow.BinaryTypes.String, Nullable: true},
	}
	s := arrow.NewSchema(sysFields(before...), nil)
	opts := targetOptions{partitionBy: "toYYYYMM(_ts)", ttl: "_ts + INTERVAL 30 DAY"}
	l, err := buildLayout("audit", "log", connectors.ModeChangelog, []string{"id"}, s, v2403, opts)
	if err != nil {
		t.Fatal(err)
	}
	ddl, err := l.ddl()
	if err != nil {
		t.Fatal(err)
	}
	want := "CREATE TABLE IF NOT EXISTS `audit`.`log` (\n" +
		"    `id` Int64,\n" +
		"    `status` String,\n" +
		"    `_op` String,\n" +
		"    `_ts` DateTime64(6, 'UTC'),\n" +
		"    `_pos` String,\n" +
		"    `_version` UInt64,\n" +
		"    `_before_status` Nullable(String)\n" +
		")\nENGINE = MergeTree()\nPARTITION BY toYYYYMM(_ts)\nORDER BY (`id`, `_version`)\nTTL _ts + INTERVAL 30 DAY"
	if len(ddl) != 2 || ddl[1] != want {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(ddl, ";\n"), want)
	}
	if len(l.problems) != 0 {
		t.Errorf("problems: %+v", l.problems)
	}
	// TTL is refused on a server that has none.
	l.version = v1816
	if _, err := l.ddl(); err == nil || !strings.Contains(err.Error(), "ttl needs ClickHouse 19.6") {
		t.Errorf("ttl on 18.16: %v", err)
	}
}

func TestAppendDDLDefaults(t *testing.T) {
	s := arrow.NewSchema(sysFields(arrow.Field{Name: "msg", Type: arrow.BinaryTypes.String}), nil)
	l, err := buildLayout("d", "events", connectors.ModeAppend, nil, s, v1816, targetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := l.createTable()
	if err != nil {
		t.Fatal(err)
	}
	if want := "CREATE TABLE IF NOT EXISTS `d`.`events` (\n    `msg` String\n)\nENGINE = MergeTree()\nORDER BY tuple()"; ct != want {
		t.Errorf("got\n%s", ct)
	}
	if _, err := buildLayout("d", "events", connectors.ModeUpsert, nil, s, v1816, targetOptions{}); err == nil {
		t.Error("upsert without a key must fail")
	}
	l.opts.orderBy = "msg"
	l.mode = connectors.ModeUpsert
	l.key = []string{"msg"}
	if _, err := l.createTable(); err == nil {
		t.Error("order_by in upsert mode must fail")
	}
}

func TestReconcile(t *testing.T) {
	l, err := buildLayout("shop", "orders", connectors.ModeUpsert, []string{"id"}, testSchema(), v1816, targetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	existing := []existingColumn{
		{"id", "UInt64"}, {"amount", "Decimal(12, 2)"}, {"big", "Nullable(String)"}, {"day", "Nullable(Date)"},
		{"at", "Nullable(Int64)"}, {"ok", "Nullable(UInt8)"}, {"name", "Nullable(String)"},
		{"_version", "UInt64"}, {"_is_deleted", "UInt8"},
	}
	// A NOT NULL column whose source column became nullable is widened
	// (MODIFY COLUMN … Nullable), not refused.
	if _, err = l.reconcile(existing); err != nil {
		t.Fatal(err)
	}
	if len(l.retype) != 1 || l.retype[0].name != "amount" {
		t.Errorf("retype: %v", l.retype)
	}
	existing[1].typ = "String"
	_, err = l.reconcile(existing)
	if err == nil || !strings.Contains(err.Error(), `column "amount" is String, etlq writes Nullable(Decimal(12, 2))`) {
		t.Fatalf("want amount mismatch, got %v", err)
	}
	// The refusal says what the user can do (the chaos soak met one that
	// said only what did not match).
	if want := "stop etlq and run ALTER TABLE `shop`.`orders` MODIFY COLUMN `amount` Nullable(Decimal(12, 2)) in ClickHouse"; !strings.Contains(err.Error(), want) {
		t.Errorf("the refusal does not say %q: %v", want, err)
	}
	existing[1].typ = "Nullable(Decimal(12,2))"
	missing, err := l.reconcile(existing)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 || missing[0].name != "t" {
		t.Errorf("missing: %v", missing)
	}
	if !l.col("ok").nullable {
		t.Error("an existing Nullable column is adopted")
	}
	if got := l.addColumns(missing); got != "ALTER TABLE `shop`.`orders` ADD COLUMN `t` Nullable(Int64) COMMENT 'TIME as microseconds'" {
		t.Error(got)
	}
	l.version = v2403
	if got := l.addColumns(missing); got != "ALTER TABLE `shop`.`orders` ADD COLUMN IF NOT EXISTS `t` Nullable(Int64) COMMENT 'TIME as microseconds'" {
		t.Error(got)
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]serverVersion{
		"18.16.1": {18, 16, 1}, "24.3.2.23": {24, 3, 2}, "23.8.1.2992 (official build)": {23, 8, 1},
	} {
		got, err := parseVersion(in)
		if err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := parseVersion("x"); err == nil {
		t.Error("bad version must fail")
	}
}

func TestQuote(t *testing.T) {
	if got := quote("a`b\\c"); got != "`a\\`b\\\\c`" {
		t.Error(got)
	}
	if got := quoteString("it's"); got != `'it\'s'` {
		t.Error(got)
	}
}
