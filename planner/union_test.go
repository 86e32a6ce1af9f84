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
// that output. Types no type holds both of are refused.
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
	// A name of the union that some tables lack (sh_3 dropped a, the
	// rolling migration's drift) is left out of the others: before, each
	// table without it was an error, "unknown column "a" in db.sh_3".
	p, err = buildWith(t, sortedCatalog{driftShards}, header+`CREATE PIPELINE p FROM binlog db.sh_* TRANSFORM _table, * EXCEPT (a) INTO stdout;`)
	if err != nil {
		t.Fatalf("* EXCEPT (a) over shards of which one lacks a: %v", err)
	}
	var names []string
	for _, c := range p.Pipelines[0].Output {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "_table,id,s,p" {
		t.Errorf("* EXCEPT (a) over the shards gives %s, want _table,id,s,p", got)
	}
	// A name no table has is still an error, at the name, with a suggestion.
	_, err = buildWith(t, sortedCatalog{driftShards}, header+`CREATE PIPELINE p FROM binlog db.sh_* TRANSFORM * EXCEPT (aa) INTO stdout;`)
	if err == nil || !strings.Contains(err.Error(), `unknown column "aa" in any of the pipeline's tables (db.sh_1, db.sh_2, db.sh_3) (did you mean "a"?)`) {
		t.Errorf("want the unknown column aa refused once, got %v", err)
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
	// Explicit expressions: type-checked per table, widened as `*` is
	// (TestExplicitOutputsWiden).
	p, err = buildWith(t, sortedCatalog{driftShards}, header+`CREATE PIPELINE p FROM binlog db.sh_1, db.sh_2 TRANSFORM id, s INTO stdout;`)
	if err != nil {
		t.Fatalf("explicit INT32 and INT64: %v", err)
	}
	if s := p.Pipelines[0].Output[1]; !arrow.TypeEqual(s.Type, arrow.PrimitiveTypes.Int64) {
		t.Errorf("explicit INT32 and INT64 give %s, want int64", s.Type)
	}
}

// typeChanged is a pattern whose shard 2 had type changes that are no
// widening, followed by etlq while it ran (issue #12): v INT → VARCHAR,
// d DECIMAL(10,4) → DECIMAL(10,2), e INT → DECIMAL(10,2); shard 3 has a
// DATE no type joins with a number.
var typeChanged = fixedCatalog{
	"db.tc_1": {Ref: connectors.TableRef{DB: "db", Table: "tc_1"}, PrimaryKey: []string{"id"}, Fields: []arrow.Field{
		notNull(field("id", arrow.PrimitiveTypes.Int32, "int(11)")),
		field("v", arrow.PrimitiveTypes.Int32, "int(11)"),
		field("d", &arrow.Decimal128Type{Precision: 10, Scale: 4}, "decimal(10,4)"),
		field("e", arrow.PrimitiveTypes.Int32, "int(11)"),
	}},
	"db.tc_2": {Ref: connectors.TableRef{DB: "db", Table: "tc_2"}, PrimaryKey: []string{"id"}, Fields: []arrow.Field{
		notNull(field("id", arrow.PrimitiveTypes.Int32, "int(11)")),
		field("v", arrow.BinaryTypes.String, "varchar(20)"),
		field("d", &arrow.Decimal128Type{Precision: 10, Scale: 2}, "decimal(10,2)"),
		field("e", &arrow.Decimal128Type{Precision: 10, Scale: 2}, "decimal(10,2)"),
	}},
	"db.td_3": {Ref: connectors.TableRef{DB: "db", Table: "td_3"}, PrimaryKey: []string{"id"}, Fields: []arrow.Field{
		notNull(field("id", arrow.PrimitiveTypes.Int32, "int(11)")),
		field("v", arrow.FixedWidthTypes.Date32, "date"),
		field("d", &arrow.Decimal128Type{Precision: 10, Scale: 2}, "decimal(10,2)"),
		field("e", &arrow.Decimal128Type{Precision: 10, Scale: 2}, "decimal(10,2)"),
	}},
}

// TestExplicitOutputsWiden (issue #12): explicit TRANSFORM expressions of
// a pattern type-check per table, and each output column takes the type
// that holds every table's (the supertype `*` takes): a restart after a
// type change etlq followed in one shard plans again. Every table's plan
// gives that type (cast where its own is narrower), Rebind too; a DATE
// and a number are refused at the expression, with its position.
// (Failed before: `output column 2 is v STRING for db.tc_2 but v INT32
// for the pipeline's first table`.)
func TestExplicitOutputsWiden(t *testing.T) {
	p, err := buildWith(t, sortedCatalog{typeChanged}, header+`CREATE PIPELINE p FROM binlog db.tc_* TRANSFORM _table, id, v, d, e, v AS w INTO clickhouse dw.db.all KEY (_table, id);`)
	if err != nil {
		t.Fatal(err)
	}
	pl := p.Pipelines[0]
	want := "_table utf8|id int32|v utf8 null|d decimal(12, 4) null|e decimal(12, 2) null|w utf8 null"
	check := func(when string) {
		t.Helper()
		var got []string
		for _, c := range pl.Output {
			got = append(got, c.Name+" "+c.Type.String()+map[bool]string{true: " null", false: ""}[c.Nullable])
		}
		if strings.Join(got, "|") != want {
			t.Errorf("%s: output %s, want %s", when, strings.Join(got, "|"), want)
		}
	}
	check("build")
	if len(pl.Tables) != 2 {
		t.Fatalf("%d tables planned, want 2", len(pl.Tables))
	}
	checkTable := func(tp *planner.TablePlan) {
		t.Helper()
		if len(tp.Outputs) != len(pl.Output) {
			t.Fatalf("%s: %d outputs, want %d", tp.Ref, len(tp.Outputs), len(pl.Output))
		}
		for i, e := range tp.Outputs {
			if !arrow.TypeEqual(e.Type().Arrow(), pl.Output[i].Type) {
				t.Errorf("%s: output %d (%s) is %s, want %s", tp.Ref, i, pl.Output[i].Name, e.Type(), pl.Output[i].Type)
			}
			if !arrow.TypeEqual(tp.Sink.Field(i).Type, pl.Output[i].Type) {
				t.Errorf("%s: sink field %d (%s) is %s, want %s", tp.Ref, i, pl.Output[i].Name, tp.Sink.Field(i).Type, pl.Output[i].Type)
			}
		}
	}
	for _, tp := range pl.Tables {
		checkTable(tp)
	}
	// While etlq runs: both shards of the old types, then tc_2's type
	// changes: the output takes the types that hold both.
	ts1 := typeChanged["db.tc_1"]
	old2 := *ts1
	old2.Ref = connectors.TableRef{DB: "db", Table: "tc_2"}
	p, err = buildWith(t, sortedCatalog{fixedCatalog{"db.tc_1": ts1, "db.tc_2": &old2}}, header+`CREATE PIPELINE p FROM binlog db.tc_* TRANSFORM _table, id, v, d, e, v AS w INTO clickhouse dw.db.all KEY (_table, id);`)
	if err != nil {
		t.Fatal(err)
	}
	pl = p.Pipelines[0]
	if c := pl.Output[2]; !arrow.TypeEqual(c.Type, arrow.PrimitiveTypes.Int32) {
		t.Fatalf("before the change v is %s, want int32", c.Type)
	}
	tp, err := pl.Rebind(context.Background(), typeChanged["db.tc_2"])
	if err != nil {
		t.Fatalf("rebind: %v", err)
	}
	check("rebind")
	checkTable(tp)

	// No type holds a DATE and a number: refused at the expression.
	_, err = buildWith(t, sortedCatalog{typeChanged}, header+`CREATE PIPELINE p FROM binlog db.tc_1, db.td_3
  TRANSFORM id, d, v INTO stdout;`)
	if err == nil || !strings.Contains(err.Error(), `test.etl:4:20: output column 3 (v) is DATE for db.td_3 but INT32 for the pipeline's first table: no type holds both (CAST it in TRANSFORM)`) {
		t.Errorf("want the refusal of DATE and INT32 at 4:20, got %v", err)
	}
}
