package planner_test

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

// shards holds tables of one shape in two databases.
var shards = func() fixedCatalog {
	c := fixedCatalog{}
	for _, ref := range []connectors.TableRef{{DB: "s1", Table: "t_eu"}, {DB: "s1", Table: "t_us"}, {DB: "s2", Table: "t_eu"}} {
		c[ref.String()] = &connectors.TableSchema{Ref: ref, PrimaryKey: []string{"id"}, Fields: []arrow.Field{
			notNull(field("id", arrow.PrimitiveTypes.Int32, "int(11)")),
			field("v", arrow.PrimitiveTypes.Int32, "int(11)"),
		}}
	}
	return c
}()

func buildWith(t *testing.T, cat planner.Catalog, src string) (*planner.Plan, error) {
	t.Helper()
	f, err := lang.ParseFile("test.etl", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return planner.Build(context.Background(), f, planner.Options{Catalog: cat})
}

// TestUpsertOverSeveralTablesKeysOnTheTable: the default key of an upsert
// over several tables starts with the columns that copy _db and _table, so
// that id 1 of t_us does not overwrite id 1 of t_eu; without them, or with
// an explicit KEY that omits them, the plan is refused at the place to fix.
func TestUpsertOverSeveralTablesKeysOnTheTable(t *testing.T) {
	key := func(src string) string {
		t.Helper()
		p, err := buildWith(t, shards, header+src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		return strings.Join(p.Pipelines[0].Target.Key, ",")
	}
	for src, want := range map[string]string{
		"CREATE PIPELINE p FROM binlog s1.t_eu, s1.t_us TRANSFORM _table, * INTO clickhouse dw.x.shards;":                   "_table,id",
		"CREATE PIPELINE p FROM binlog s1.t_* TRANSFORM _table AS src, * INTO clickhouse dw.x.shards;":                      "src,id",
		"CREATE PIPELINE p FROM binlog s?.t_eu TRANSFORM _db, _table, * INTO clickhouse dw.x.shards;":                       "_db,_table,id",
		"CREATE PIPELINE p FROM binlog s1.t_eu, s1.t_us TRANSFORM _table, * INTO clickhouse dw.x.shards KEY (_table, id);":  "_table,id",
		"CREATE PIPELINE p FROM binlog s1.t_* INTO clickhouse dw.x.shards KEY (id) WITH (key_unique_across_tables = true);": "id",
		"CREATE PIPELINE p FROM binlog s1.t_* INTO clickhouse dw.x.shards WITH (key_unique_across_tables = true);":          "id",
		"CREATE PIPELINE p FROM binlog s1.t_eu INTO clickhouse dw.x.shards;":                                                "id",
		// Append and changelog keep every change: the key only orders them.
		"CREATE PIPELINE p FROM binlog s1.t_* INTO clickhouse dw.x.shards MODE changelog;": "id",
	} {
		if got := key(src); got != want {
			t.Errorf("%s\nkey (%s), want (%s)", src, got, want)
		}
	}

	for _, c := range []struct{ src, at, msg string }{
		{"CREATE PIPELINE p FROM binlog s1.t_eu, s1.t_us INTO clickhouse dw.x.shards;", "test.etl:3:31:",
			"their primary key (id) does not say which table a row comes from, so a row of one table would overwrite the row of another with the same key: add _table to TRANSFORM (the key becomes (_table, id))"},
		{"CREATE PIPELINE p FROM binlog s?.t_eu TRANSFORM _table, * INTO clickhouse dw.x.shards;", "test.etl:3:31:",
			"add _db to TRANSFORM (the key becomes (_db, _table, id))"},
		{"CREATE PIPELINE p FROM binlog s1.t_* TRANSFORM _table, * INTO clickhouse dw.x.shards KEY (id);", "test.etl:3:91:",
			"KEY (id) does not say which table a row comes from, so a row of one table would overwrite the row of another with the same key: add _table to KEY, or set WITH (key_unique_across_tables = true)"},
		{"CREATE PIPELINE p FROM binlog s1.t_* TRANSFORM * INTO clickhouse dw.x.shards MODE upsert KEY (id);", "test.etl:3:95:",
			"add _table to TRANSFORM, or set WITH (key_unique_across_tables = true)"},
	} {
		_, err := buildWith(t, shards, header+c.src)
		if err == nil || !strings.Contains(err.Error(), c.at+" pipeline p upserts several tables into one target") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s\nwant %s … %s, got %v", c.src, c.at, c.msg, err)
		}
	}
}

// TestKeyOverTablesOffline: an explicit KEY that cannot tell several tables
// apart is refused by check --offline too (from the FROM list and the
// TRANSFORM alone).
func TestKeyOverTablesOffline(t *testing.T) {
	err := buildOffline(t, header+"CREATE PIPELINE p FROM binlog s1.t_* TRANSFORM _table, * INTO clickhouse dw.x.shards KEY (id);\n")
	if err == nil || !strings.Contains(err.Error(), "test.etl:3:91: pipeline p upserts several tables into one target, but KEY (id)") {
		t.Errorf("want the KEY refused offline, got %v", err)
	}
	for _, src := range []string{
		"CREATE PIPELINE p FROM binlog s1.t_* TRANSFORM _table, * INTO clickhouse dw.x.shards KEY (_table, id);",
		"CREATE PIPELINE p FROM binlog s1.t_* INTO clickhouse dw.x.shards KEY (id) WITH (key_unique_across_tables = true);",
		"CREATE PIPELINE p FROM binlog s1.t_* INTO clickhouse dw.x.shards MODE append KEY (id);",
		"CREATE PIPELINE p FROM binlog s1.t_eu INTO clickhouse dw.x.shards KEY (id);",
	} {
		if err := buildOffline(t, header+src+"\n"); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}
