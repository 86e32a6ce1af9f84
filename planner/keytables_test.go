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
		// Tables of one name in several databases differ by _db alone
		// (FROM tenant_*.orders): _table is not needed (trial: it was
		// refused without it).
		"CREATE PIPELINE p FROM binlog s?.t_eu TRANSFORM _db AS tenant, * INTO clickhouse dw.x.shards;":     "tenant,id",
		"CREATE PIPELINE p FROM binlog s1.t_eu, s2.t_eu TRANSFORM _db, * INTO clickhouse dw.x.shards;":      "_db,id",
		"CREATE PIPELINE p FROM binlog s?.t_eu TRANSFORM _db, * INTO clickhouse dw.x.shards KEY (_db, id);": "_db,id",
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
		{"CREATE PIPELINE p FROM binlog s?.t_eu INTO clickhouse dw.x.shards;", "test.etl:3:31:",
			"add _db to TRANSFORM (the key becomes (_db, id))"},
		{"CREATE PIPELINE p FROM binlog s?.t_eu TRANSFORM _db, * INTO clickhouse dw.x.shards KEY (id);", "test.etl:3:89:",
			"KEY (id) does not say which table a row comes from, so a row of one table would overwrite the row of another with the same key: add _db to KEY"},
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

// sakilaFilm holds tables of a pattern whose primary keys differ, as
// Sakila's film (film_id), film_actor (actor_id, film_id) and a table
// without a key.
var sakilaFilm = func() fixedCatalog {
	c := fixedCatalog{}
	for _, t := range []struct {
		table string
		pk    []string
	}{{"film", []string{"film_id"}}, {"film_actor", []string{"actor_id", "film_id"}}, {"film_event", nil}} {
		ref := connectors.TableRef{DB: "sakila", Table: t.table}
		c[ref.String()] = &connectors.TableSchema{Ref: ref, PrimaryKey: t.pk, Fields: []arrow.Field{
			notNull(field("film_id", arrow.PrimitiveTypes.Uint16, "smallint(5) unsigned")),
			notNull(field("actor_id", arrow.PrimitiveTypes.Uint16, "smallint(5) unsigned")),
		}}
	}
	return c
}()

// TestUpsertOverTablesWithOtherKeys: the default key of an upsert over
// several tables is made of a primary key, so the tables must all have
// the same one. The key was the first table's: over Sakila's film* tables
// it was (_db, _table, film_id), and film_actor's 5462 rows collapsed to
// one per film in the target, without an error (new-user trial).
func TestUpsertOverTablesWithOtherKeys(t *testing.T) {
	for _, c := range []struct{ src, msg string }{
		{"CREATE PIPELINE p FROM binlog sakila.film, sakila.film_actor TRANSFORM _table, * INTO clickhouse dw.x.films;",
			"test.etl:3:31: pipeline p upserts several tables into one target, and their primary keys differ (sakila.film (film_id), sakila.film_actor (actor_id, film_id)): a key made of one table's would let rows of another that share it overwrite each other"},
		{"CREATE PIPELINE p FROM binlog sakila.film_actor, sakila.film INTO clickhouse dw.x.films WITH (key_unique_across_tables = true);",
			"their primary keys differ (sakila.film_actor (actor_id, film_id), sakila.film (film_id))"},
		{"CREATE PIPELINE p FROM binlog sakila.film, sakila.film_event TRANSFORM _table, * INTO clickhouse dw.x.films MODE upsert;",
			"test.etl:3:17: MODE upsert needs a key: sakila.film_event has no primary key, add KEY (…)"},
	} {
		_, err := buildWith(t, sakilaFilm, header+c.src)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s\nwant … %s, got %v", c.src, c.msg, err)
		}
	}
	// Its own KEY is the user's word, as for one table.
	if _, err := buildWith(t, sakilaFilm, header+"CREATE PIPELINE p FROM binlog sakila.film, sakila.film_actor TRANSFORM _table, * INTO clickhouse dw.x.films KEY (_table, film_id, actor_id);"); err != nil {
		t.Errorf("an explicit KEY: %v", err)
	}

	// A table that joins the pattern later with another key stops the
	// pipeline (alone) instead of collapsing its rows.
	cat := fixedCatalog{"sakila.film": sakilaFilm["sakila.film"]}
	p, err := buildWith(t, cat, header+"CREATE PIPELINE p FROM binlog sakila.film* TRANSFORM _table, * INTO clickhouse dw.x.films;")
	if err != nil {
		t.Fatal(err)
	}
	pl := p.Pipelines[0]
	if got := strings.Join(pl.Target.Key, ","); got != "_table,film_id" {
		t.Fatalf("key (%s)", got)
	}
	for _, tb := range []string{"sakila.film_actor", "sakila.film_event"} {
		_, err = pl.Rebind(context.Background(), sakilaFilm[tb])
		if err == nil || !strings.Contains(err.Error(), "pipeline p: "+tb+" joins the pipeline with ") || !strings.Contains(err.Error(), "the pipeline's key (_table, film_id) comes from the primary key (film_id) of its other tables") {
			t.Errorf("%s joining: %v", tb, err)
		}
	}
	same := *sakilaFilm["sakila.film"]
	same.Ref.Table = "film_2"
	if _, err := pl.Rebind(context.Background(), &same); err != nil {
		t.Errorf("a table with the same key joining: %v", err)
	}
}

// TestKeyColumnLackedByJoiningTable: the key of a ClickHouse target is its
// ORDER BY, which cannot hold NULL. A table that joins a pattern while
// streaming without a key column (NULL for every row of it) was planned,
// and the pipeline stopped at its first row with an insert error
// (`column "order_id": NULL but ClickHouse column is UInt64`), the same
// file that `apply` refuses at a start with a planner error (live-tables
// trial: shop.order_notes (id) joining shop.order_* keyed by (order_id,
// line)). Rebind now refuses it so, naming the table and the column. An
// append or changelog target, which keys on the primary key only to order
// its rows, is not ordered by a key that some of its tables lack: `check`
// said ok and the first row of such a table stopped the pipeline.
func TestKeyColumnLackedByJoiningTable(t *testing.T) {
	note := &connectors.TableSchema{Ref: connectors.TableRef{DB: "sakila", Table: "film_note"}, PrimaryKey: []string{"note_id"}, Fields: []arrow.Field{
		notNull(field("note_id", arrow.PrimitiveTypes.Int32, "int(11)")),
		field("txt", arrow.BinaryTypes.String, "text"),
	}}
	cat := fixedCatalog{"sakila.film": sakilaFilm["sakila.film"]}
	for _, c := range []struct{ name, src, key string }{
		{"upsert with KEY", "CREATE PIPELINE p FROM binlog sakila.film* TRANSFORM _table, * INTO clickhouse dw.x.films KEY (_table, film_id);", "_table,film_id"},
		{"changelog", "CREATE PIPELINE p FROM binlog sakila.film* TRANSFORM _table, * INTO clickhouse dw.x.films MODE changelog;", "film_id"},
		{"append", "CREATE PIPELINE p FROM binlog sakila.film* TRANSFORM _table, * INTO clickhouse dw.x.films MODE append;", "film_id"},
	} {
		p, err := buildWith(t, cat, header+c.src)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		pl := p.Pipelines[0]
		if got := strings.Join(pl.Target.Key, ","); got != c.key {
			t.Fatalf("%s: key (%s)", c.name, got)
		}
		_, err = pl.Rebind(context.Background(), note)
		if err == nil || !strings.Contains(err.Error(), "pipeline p: sakila.film_note joins the pipeline, but the column film_id of the target's key (") {
			t.Errorf("%s: sakila.film_note joining: %v", c.name, err)
		}
		// A table that has the key's columns NOT NULL joins.
		if _, err := pl.Rebind(context.Background(), sakilaFilm["sakila.film_actor"]); c.name != "upsert with KEY" && err != nil {
			t.Errorf("%s: sakila.film_actor joining: %v", c.name, err)
		}
	}

	// At the start, an append or changelog target over tables of which one
	// lacks the first table's primary key is ordered by no key.
	cat["sakila.film_note"] = note
	msg := `test.etl:3:104: KEY column "film_id" is NULL for every row of sakila.film_note, which has no such column`
	if _, err := buildWith(t, cat, header+"CREATE PIPELINE p FROM binlog sakila.film* TRANSFORM _table, * INTO clickhouse dw.x.films KEY (_table, film_id);"); err == nil || !strings.Contains(err.Error(), msg) {
		t.Errorf("upsert KEY (_table, film_id) over sakila.film and sakila.film_note: want … %s, got %v", msg, err)
	}
	for _, mode := range []string{"changelog", "append"} {
		p, err := buildWith(t, cat, header+"CREATE PIPELINE p FROM binlog sakila.film* TRANSFORM _table, * INTO clickhouse dw.x.films MODE "+mode+";")
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if got := p.Pipelines[0].Target.Key; len(got) != 0 {
			t.Errorf("%s over sakila.film and sakila.film_note: key %v, which film_note's rows would hold NULL in", mode, got)
		}
	}
}
