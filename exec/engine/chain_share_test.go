package engine

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/mysql"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

// layoutCatalog is a planner catalog of tables by name, each with its
// columns (name, MySQL type).
type layoutCatalog map[string][][2]string

func (c layoutCatalog) Tables(_ context.Context, _ *planner.SourceDecl, db, pattern string) ([]connectors.TableRef, error) {
	var out []connectors.TableRef
	for name := range c {
		if ok, _ := connectors.MatchTable(pattern, name); ok && db == "shopdb" {
			out = append(out, connectors.TableRef{DB: db, Table: name})
		}
	}
	return out, nil
}

func (c layoutCatalog) Describe(_ context.Context, _ *planner.SourceDecl, ref connectors.TableRef) (*connectors.TableSchema, error) {
	cols, ok := c[ref.Table]
	if !ok {
		return nil, fmt.Errorf("no table %s", ref)
	}
	ts := &connectors.TableSchema{Ref: ref, PrimaryKey: []string{"id"}}
	for i, col := range cols {
		pk := 0
		if i == 0 {
			pk = 1
		}
		f, err := mysql.FieldOf(col[0], col[1], "", i > 0, pk)
		if err != nil {
			return nil, err
		}
		ts.Fields = append(ts.Fields, f)
	}
	return ts, nil
}

// nullSink opens writers that take nothing (the test writes no batch).
type nullSink struct{}

func (nullSink) Plan(context.Context, connectors.Target) ([]string, []connectors.Problem, error) {
	return nil, nil, nil
}
func (nullSink) Open(context.Context, connectors.Target) (connectors.Writer, error) {
	return nullWriter{}, nil
}
func (nullSink) Close() error { return nil }

type nullWriter struct{}

func (nullWriter) Write(_ context.Context, b *exec.Batch, done func(error)) error {
	b.Release()
	done(nil)
	return nil
}
func (nullWriter) Flush(context.Context) error { return nil }
func (nullWriter) Close() error                { return nil }

// TestTablesOfOneLayoutShareAChain: the tables of a pattern whose plans
// differ in their names alone run through one chain (its programs, its
// operators); a table with another column, or another type, has its own.
// (Before: one chain per table — 1,000 of them for the 1,000-table
// stream, docs/benchmarks.md.)
func TestTablesOfOneLayoutShareAChain(t *testing.T) {
	same := [][2]string{{"id", "bigint(20)"}, {"v", "int(11)"}, {"s", "varchar(32)"}}
	cat := layoutCatalog{
		"t_1": same, "t_2": same, "t_3": same,
		"t_wide":  {{"id", "bigint(20)"}, {"v", "int(11)"}, {"s", "varchar(32)"}, {"extra", "int(11)"}},
		"t_other": {{"id", "bigint(20)"}, {"s", "varchar(32)"}, {"v", "int(11)"}},
	}
	src := `CREATE SOURCE shop FROM mysql 'mysql://etl:secret@127.0.0.1:1/';
CREATE SINK dw INTO clickhouse 'clickhouse://127.0.0.1:1';
CREATE PIPELINE many FROM binlog shop.shopdb.t_* TRANSFORM _table, * INTO clickhouse dw.a.t KEY (_table, id);
`
	f, err := lang.ParseFile("test.etl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := planner.Build(context.Background(), f, planner.Options{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := newPipeRun(context.Background(), plan.Pipelines[0], nullSink{},
		Options{Alloc: memory.NewGoAllocator(), Stats: NewStats(), writers: &openWriters{}})
	if err != nil {
		t.Fatal(err)
	}
	defer pr.close()
	run := func(name string) *tableRun {
		tr := pr.tables["shopdb."+name]
		if tr == nil {
			t.Fatalf("no run of table %s", name)
		}
		return tr
	}
	for _, name := range []string{"t_2", "t_3"} {
		if run(name).prog != run("t_1").prog {
			t.Errorf("%s and t_1 (the same columns) have programs of their own", name)
		}
	}
	for _, name := range []string{"t_wide", "t_other"} {
		if run(name).prog == run("t_1").prog {
			t.Errorf("%s (other columns) shares t_1's program", name)
		}
	}
	if run("t_wide").prog == run("t_other").prog {
		t.Error("t_wide and t_other share a program")
	}
	// Each table keeps its own plan (its name) and state.
	if got := run("t_2").plan.Ref.Table; got != "t_2" {
		t.Errorf("t_2's run has the plan of %s", got)
	}
	// The shared chain is built once: t_1's first batch builds it, t_2's
	// finds it.
	if err := run("t_1").start(context.Background(), pr); err != nil {
		t.Fatal(err)
	}
	if run("t_2").sink == nil || run("t_2").sink != run("t_1").sink {
		t.Error("t_2 does not run through the chain t_1 started")
	}
	if run("t_wide").sink != nil {
		t.Error("t_wide's chain started with t_1's")
	}
	// Their plans' schemas are one (exec.InternSchema), a pointer
	// comparison finds the alike plans.
	if run("t_2").plan.Input != run("t_1").plan.Input || run("t_2").plan.Sink != run("t_1").plan.Sink {
		t.Error("t_1 and t_2 have schemas of their own")
	}
}
