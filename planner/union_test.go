package planner_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/planner"
)

// driftShards is a rolling migration half done: sh_2 gained p (before s), and
// widened s to BIGINT; sh_3 lost a.
var driftShards = fixedCatalog{
	"db.sh_1": {Ref: connectors.TableRef{DB: "db", Table: "sh_1"}, PrimaryKey: []string{"id"}, Fields: []arrow.Field{
		notNull(field("id", arrow.PrimitiveTypes.Int32, "int(11)")),
		field("a", arrow.BinaryTypes.String, "varchar(10)"),
		field("s", arrow.PrimitiveTypes.Int32, "int(11)"),
	}},
	"db.sh_2": {Ref: connectors.TableRef{DB: "db", Table: "sh_2"}, PrimaryKey: []string{"id"}, Fields: []arrow.Field{
		notNull(field("id", arrow.PrimitiveTypes.Int32, "int(11)")),
		field("a", arrow.BinaryTypes.String, "varchar(10)"),
		field("p", arrow.PrimitiveTypes.Int32, "int(11)"),
		field("s", arrow.PrimitiveTypes.Int64, "bigint(20)"),
	}},
	"db.sh_3": {Ref: connectors.TableRef{DB: "db", Table: "sh_3"}, PrimaryKey: []string{"id"}, Fields: []arrow.Field{
		notNull(field("id", arrow.PrimitiveTypes.Int32, "int(11)")),
		field("s", arrow.PrimitiveTypes.Int32, "int(11)"),
	}},
	"db.bad_1": {Ref: connectors.TableRef{DB: "db", Table: "bad_1"}, PrimaryKey: []string{"id"}, Fields: []arrow.Field{
		notNull(field("id", arrow.PrimitiveTypes.Int32, "int(11)")),
		field("s", arrow.PrimitiveTypes.Int32, "int(11)"),
	}},
	"db.bad_2": {Ref: connectors.TableRef{DB: "db", Table: "bad_2"}, PrimaryKey: []string{"id"}, Fields: []arrow.Field{
		notNull(field("id", arrow.PrimitiveTypes.Int32, "int(11)")),
		field("s", arrow.BinaryTypes.String, "varchar(10)"),
	}},
	"db.bad_3": {Ref: connectors.TableRef{DB: "db", Table: "bad_3"}, PrimaryKey: []string{"id"}, Fields: []arrow.Field{
		notNull(field("id", arrow.PrimitiveTypes.Int32, "int(11)")),
		field("s", arrow.FixedWidthTypes.Date32, "date"),
	}},
}

// sortedCatalog lists tables by name, as the mysql source does: the union
// output follows the first table's column order.
type sortedCatalog struct{ fixedCatalog }

func (c sortedCatalog) Tables(ctx context.Context, d *planner.SourceDecl, db, pattern string) ([]connectors.TableRef, error) {
	refs, err := c.fixedCatalog.Tables(ctx, d, db, pattern)
	sort.Slice(refs, func(i, j int) bool { return refs[i].Table < refs[j].Table })
	return refs, err
}

// TestShardUnion: `*` over tables that drifted apart matches columns by
// name: the output is the union (first table's order, then the others'
// new columns), NULL-able where a table lacks a column, widened where the
// types differ (the text for a number and text); every table's plan gives
// that output. Types no type holds both of are refused, and explicit expressions still type-check per
// table.
func TestShardUnion(t *testing.T) {
	p, err := buildWith(t, sortedCatalog{driftShards}, header+`CREATE PIPELINE p FROM binlog db.sh_* TRANSFORM _table, * INTO clickhouse dw.db.all KEY (_table, id);`)
	if err != nil {
		t.Fatal(err)
	}
	pl := p.Pipelines[0]
	var got []string
	for _, c := range pl.Output {
		got = append(got, c.Name+" "+c.Type.String()+map[bool]string{true: " null", false: ""}[c.Nullable])
	}
	want := "_table utf8|id int32|a utf8 null|s int64 null|p int32 null"
	if strings.Join(got, "|") != want {
		t.Errorf("output %s, want %s", strings.Join(got, "|"), want)
	}
	if len(pl.Tables) != 3 {
		t.Fatalf("%d tables planned, want 3", len(pl.Tables))
	}
	for _, tp := range pl.Tables {
		if len(tp.Outputs) != len(pl.Output) {
			t.Errorf("%s: %d outputs, want %d", tp.Ref, len(tp.Outputs), len(pl.Output))
			continue
		}
		for i, e := range tp.Outputs {
			if !arrow.TypeEqual(e.Type().Arrow(), pl.Output[i].Type) {
				t.Errorf("%s: output %d (%s) is %s, want %s", tp.Ref, i, pl.Output[i].Name, e.Type(), pl.Output[i].Type)
			}
		}
		if tp.Ref.Table == "sh_3" && tp.Outputs[2].String() != "NULL" {
			t.Errorf("sh_3 lacks a: its output is %s, want NULL", tp.Outputs[2])
		}
	}
	// * EXCEPT too.
	if _, err := buildWith(t, sortedCatalog{driftShards}, header+`CREATE PIPELINE p FROM binlog db.sh_1, db.sh_2 TRANSFORM * EXCEPT (a) INTO stdout;`); err != nil {
		t.Errorf("* EXCEPT over drifted driftShards: %v", err)
	}
	// INT and VARCHAR: the text (a shard whose column changed type so).
	p, err = buildWith(t, sortedCatalog{driftShards}, header+`CREATE PIPELINE p FROM binlog db.bad_1, db.bad_2 TRANSFORM * INTO stdout;`)
	if err != nil {
		t.Fatalf("INT32 and STRING: %v", err)
	}
	if s := p.Pipelines[0].Output[1]; !arrow.TypeEqual(s.Type, arrow.BinaryTypes.String) {
		t.Errorf("INT32 and STRING give %s, want utf8", s.Type)
	}
	// Refused: a DATE and the others.
	_, err = buildWith(t, sortedCatalog{driftShards}, header+`CREATE PIPELINE p FROM binlog db.bad_* TRANSFORM * INTO stdout;`)
	if err == nil || !strings.Contains(err.Error(), `output column "s" is DATE in db.bad_3 but STRING in another table of the pipeline: no type holds both`) {
		t.Errorf("want the refusal of DATE and STRING, got %v", err)
	}
	// Explicit expressions: per table, as before.
	_, err = buildWith(t, sortedCatalog{driftShards}, header+`CREATE PIPELINE p FROM binlog db.sh_1, db.sh_2 TRANSFORM id, s INTO stdout;`)
	if err == nil || !strings.Contains(err.Error(), "output column 2") {
		t.Errorf("explicit columns of other types must still be refused, got %v", err)
	}
}
