package planner_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
	"github.com/etlq/etlq/stdlib"
)

// queryCatalog serves fixed schemas to the BuildQuery tests.
var queryShop = fixedCatalog{
	"shopdb.orders": {
		Ref: connectors.TableRef{DB: "shopdb", Table: "orders"},
		Fields: []arrow.Field{
			field("id", arrow.PrimitiveTypes.Int64, "bigint(20)"),
			field("status", arrow.BinaryTypes.String, "varchar(16)"),
			field("amount", &arrow.Decimal128Type{Precision: 12, Scale: 2}, "decimal(12,2)"),
		},
		PrimaryKey: []string{"id"},
	},
}

var querySource = &planner.SourceDecl{Name: "src", Kind: "mysql", DSN: "mysql://root@127.0.0.1:3316"}

func buildQuery(t *testing.T, text string, funcs ...*lang.CreateFunction) (*planner.Plan, error) {
	t.Helper()
	st, err := lang.ParseStatement("repl", text)
	if err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	if st.Query == nil {
		t.Fatalf("%q is not a query", text)
	}
	return planner.BuildQuery(context.Background(), st.Query, querySource, queryShop, funcs...)
}

func TestBuildQuery(t *testing.T) {
	p, err := buildQuery(t, "FROM binlog shopdb.orders WHERE amount > 100 TRANSFORM id, amount, _op LIMIT 20;")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Pipelines) != 1 || len(p.Sources) != 1 || len(p.Sinks) != 1 {
		t.Fatalf("want 1 pipeline, source and sink, got %d, %d, %d", len(p.Pipelines), len(p.Sources), len(p.Sinks))
	}
	pl := p.Pipelines[0]
	if pl.Name != planner.QueryPipeline || pl.Source != "src" || pl.SinkKind != "stdout" {
		t.Errorf("pipeline %q from %q into %q, want %q from src into stdout", pl.Name, pl.Source, pl.SinkKind, planner.QueryPipeline)
	}
	if pl.Snapshot != connectors.SnapshotNever {
		t.Errorf("snapshot %d, want never (%d): a REPL query tails live changes", pl.Snapshot, connectors.SnapshotNever)
	}
	if pl.Target.Format != "table" || pl.Target.Mode != connectors.ModeAppend {
		t.Errorf("format %q mode %s, want table append", pl.Target.Format, pl.Target.Mode)
	}
	if !p.Sinks[0].Implicit || p.Sinks[0].Kind != "stdout" {
		t.Errorf("sink %+v, want the implicit stdout sink", p.Sinks[0])
	}
	var names []string
	for _, c := range pl.Output {
		names = append(names, c.Name+" "+c.Source)
	}
	if got, want := strings.Join(names, ", "), "id INT64, amount DECIMAL(12,2), _op STRING"; got != want {
		t.Errorf("outputs %q, want %q", got, want)
	}
	if len(pl.Tables) != 1 || pl.Tables[0].Where == nil || pl.Tables[0].Ref.String() != "shopdb.orders" {
		t.Fatalf("tables %+v, want shopdb.orders with a WHERE", pl.Tables)
	}
	// The sink schema is the outputs then the system columns; append mode
	// needs no before values.
	if n := pl.Target.Schema.NumFields(); n != 3+5 {
		t.Errorf("sink schema has %d fields, want 8: %s", n, pl.Target.Schema)
	}
}

func TestBuildQueryDefaults(t *testing.T) {
	p, err := buildQuery(t, "FROM binlog src.shopdb.orders SNAPSHOT initial")
	if err != nil {
		t.Fatal(err)
	}
	pl := p.Pipelines[0]
	if pl.Snapshot != connectors.SnapshotInitial {
		t.Errorf("snapshot %d, want initial as written", pl.Snapshot)
	}
	if len(pl.Output) != 3 || pl.Output[0].Name != "id" || pl.Output[2].Name != "amount" {
		t.Errorf("no TRANSFORM must mean every column, got %+v", pl.Output)
	}
}

func TestBuildQueryFunction(t *testing.T) {
	f, err := lang.ParseFile("f.etl", []byte(`CREATE FUNCTION tier(amount DECIMAL(12,2)) RETURNS STRING AS EXPR 'amount > 1000 ? "gold" : "standard"';`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := buildQuery(t, "FROM binlog shopdb.orders TRANSFORM id, tier(amount) AS tier", f.Statements[0].Function)
	if err != nil {
		t.Fatal(err)
	}
	if out := p.Pipelines[0].Output; len(out) != 2 || out[1].Name != "tier" || out[1].Source != "STRING" {
		t.Errorf("outputs %+v, want id and tier STRING", out)
	}
}

func TestBuildQueryErrors(t *testing.T) {
	for _, tc := range []struct {
		query string
		col   int
		msg   string
	}{
		{"FROM binlog shopdb.orders WHERE amout > 1", 33, `unknown column "amout" in shopdb.orders (did you mean "amount"?)`},
		{"FROM binlog shop.shopdb.orders", 13, `unknown source "shop"`},
		{"FROM binlog shopdb.nothing", 13, "no table matches shopdb.nothing in source src"},
		{"FROM binlog shopdb.orders TRANSFORM id, amount + 1", 41, "this expression needs a name: add AS <name>"},
		{"FROM binlog shopdb.orders WHERE INTERVAL 1 DAY", 33, "WHERE must be a boolean condition, got INTERVAL"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			_, err := buildQuery(t, tc.query)
			var errs lang.Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("want lang.Errors, got %v", err)
			}
			e := errs[0]
			if !strings.HasPrefix(e.Msg, tc.msg) || e.Pos.Line != 1 || e.Pos.Column != tc.col {
				t.Errorf("got %d:%d %q, want 1:%d %q", e.Pos.Line, e.Pos.Column, e.Msg, tc.col, tc.msg)
			}
		})
	}
}

// TestWhereReadsAsMySQL: as in MySQL, a number, text or date is a WHERE
// condition (non-zero is TRUE; text by its numeric prefix).
func TestWhereReadsAsMySQL(t *testing.T) {
	for _, w := range []string{"id", "amount + 1", "status", "_ts", "NOT id", "id AND status"} {
		p, err := buildQuery(t, "FROM binlog shopdb.orders WHERE "+w)
		if err != nil {
			t.Errorf("WHERE %s: %v", w, err)
			continue
		}
		if where := p.Pipelines[0].Tables[0].Where; where == nil || where.Type() != stdlib.TBool {
			t.Errorf("WHERE %s: bound as %v", w, where)
		}
	}
}

func TestBuildQueryNoSource(t *testing.T) {
	st, err := lang.ParseStatement("repl", "FROM binlog shopdb.orders")
	if err != nil {
		t.Fatal(err)
	}
	_, err = planner.BuildQuery(context.Background(), st.Query, nil, queryShop)
	if err == nil || !strings.Contains(err.Error(), "no source to read from") {
		t.Errorf("want a no-source error, got %v", err)
	}
}
