package planner_test

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

// TestComputedOutputNullability: a computed output column is planned NOT
// NULL exactly when it can never be NULL — over NOT NULL columns, through
// functions declared to give NULL only for NULL arguments (stdlib's
// NullFree), with NULL given a value (coalesce, CASE … ELSE) — and NULL-able
// when a NULL-able column reaches it unguarded or a function, a division, a
// date arithmetic or an implicit conversion may give NULL for values that
// are not NULL (json_value of an absent path, the weekday of a zero date,
// text that is no date).
func TestComputedOutputNullability(t *testing.T) {
	json := arrow.NewMetadata([]string{exec.MetaSourceType, exec.MetaLogicalType}, []string{"longtext", "json"})
	cat := fixedCatalog{"db.t": {
		Ref: connectors.TableRef{DB: "db", Table: "t"},
		Fields: []arrow.Field{
			notNull(field("id", arrow.PrimitiveTypes.Int32, "int(11)")),
			notNull(field("s", arrow.BinaryTypes.String, "varchar(20)")),
			notNull(field("d", arrow.FixedWidthTypes.Date32, "date")),
			notNull(field("ts", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, "datetime(6)")),
			notNull(field("amount", &arrow.Decimal128Type{Precision: 12, Scale: 2}, "decimal(12,2)")),
			notNull(arrow.Field{Name: "doc", Type: arrow.BinaryTypes.String, Metadata: json}),
			field("n", arrow.PrimitiveTypes.Int64, "bigint(20)"),
		},
		PrimaryKey: []string{"id"},
	}}
	notNullExprs := []string{
		"id * 2", "id + 1 - 3", "-id", "coalesce(n, -1)", "ifnull(n, 0) + id", "id / 2", "amount * 100",
		"lower(s)", "concat(s, '-', id)", "concat_ws(',', n, s)", "char_length(s)", "md5(s)", "substr(s, 2, 3)",
		"trim(s) || 'x'", "replace(s, 'a', 'b')", "left(s, 2)", "crc32(s)", "hex(id)", "round(amount, 1)",
		"abs(id)", "greatest(id, 3)", "date(ts)", "year(d)", "month(ts)", "hour(ts)", "CAST(id AS STRING)",
		"CAST(s AS INT64)", "id > 5", "s LIKE 'a%'", "id IN (1, 2)", "n IS NULL", "CASE WHEN id > 1 THEN 'a' ELSE 'b' END",
		"if(id > 1, s, 'none')", "coalesce(nullif(s, ''), 'none')", "_op", "_version", "json_unquote(s)", "d",
		"(id)", "assert(id > 0, 'positive')", "now()", "id DIV 2", "amount DIV 0.5",
	}
	nullableExprs := []string{
		"n", "n + 1", "upper(concat(s, n))", "before.id", "nullif(id, 5)", "id / (id - 1)", "id % n",
		"CASE WHEN id > 1 THEN 'a' END", "json_value(doc, '$.a')", "json_extract(doc, '$.a')", "dayofweek(d)",
		"datediff(d, ts)", "date_format(ts, '%Y')", "convert_tz(ts, 'UTC', s)", "unix_timestamp(ts)",
		"sqrt(id)", "ln(id)", "pow(id, 2)", "d + INTERVAL 1 DAY", "date_add(ts, INTERVAL 1 MONTH)",
		"lpad(s, id, 'x')", "regexp_substr(s, 'a+')", "unhex(s)", "from_base64(s)", "sha2(s, id)",
		"date(s)", "year(s)", "concat_ws(CAST(n AS STRING), 'a')", "mod(id, 0)", "from_unixtime(id)", "date_trunc(s, ts)",
		"timestampdiff('day', d, ts)", "id DIV (id - 1)", "id DIV 0", "n DIV 2",
	}
	var items []string
	want := map[string]bool{}
	for i, e := range notNullExprs {
		name := "nn" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		items = append(items, e+" AS "+name)
		want[name] = false
	}
	for i, e := range nullableExprs {
		name := "nu" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		items = append(items, e+" AS "+name)
		want[name] = true
	}
	src := header + "CREATE PIPELINE p FROM binlog shop.db.t TRANSFORM " + strings.Join(items, ", ") + " INTO clickhouse dw.a.t MODE changelog;\n"
	f, err := lang.ParseFile("test.etl", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	p, err := planner.Build(context.Background(), f, planner.Options{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	exprs := map[string]string{}
	for i, it := range items {
		e, name, _ := strings.Cut(it, " AS ")
		_ = i
		exprs[name] = e
	}
	seen := 0
	for _, c := range p.Pipelines[0].Output {
		w, ok := want[c.Name]
		if !ok {
			continue
		}
		seen++
		if c.Nullable != w {
			t.Errorf("%s: planned nullable %v, want %v", exprs[c.Name], c.Nullable, w)
		}
		if tf := p.Pipelines[0].Target.Schema.Field(p.Pipelines[0].Target.Schema.FieldIndices(c.Name)[0]); tf.Nullable != w {
			t.Errorf("%s: target field nullable %v, want %v", exprs[c.Name], tf.Nullable, w)
		}
	}
	if seen != len(want) {
		t.Errorf("%d of %d outputs planned", seen, len(want))
	}
}
