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

// resumedCatalog is shop whose checkpoints (per pipeline) recorded other
// schemas: the tables as the resumed stream will decode them.
type resumedCatalog struct {
	fixedCatalog
	at map[string]*connectors.TableSchema // "pipeline table" → schema
}

func (c resumedCatalog) DescribeResumed(_ context.Context, _ *planner.SourceDecl, pipeline string, ref connectors.TableRef) (*connectors.TableSchema, error) {
	return c.at[pipeline+" "+ref.String()], nil
}

// TestPlanKeyFromCheckpoint: a table without a primary key today, whose
// key a pipeline's checkpoint still has (DROP PRIMARY KEY while etlq was
// stopped), is planned as the checkpoint has it, upsert by that key, and
// planning it again without the key (the DDL met in the stream) stops the
// pipeline. Without a checkpoint, or with a KEY in the file, today's
// schema plans it.
func TestPlanKeyFromCheckpoint(t *testing.T) {
	keyed := &connectors.TableSchema{Ref: connectors.TableRef{DB: "shopdb", Table: "events"},
		Fields:     []arrow.Field{notNull(field("name", arrow.BinaryTypes.String, "varchar(64)"))},
		PrimaryKey: []string{"name"}}
	keyed.Fields[0].Metadata = arrow.NewMetadata([]string{exec.MetaSourceType, exec.MetaPrimaryKey}, []string{"varchar(64)", "1"})
	cat := resumedCatalog{shop, map[string]*connectors.TableSchema{"p shopdb.events": keyed}}
	f, err := lang.ParseFile("test.etl", []byte(header+`CREATE PIPELINE p FROM binlog shopdb.events INTO clickhouse a.b;
CREATE PIPELINE q FROM binlog shopdb.events INTO clickhouse a.c;
`))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := planner.Build(context.Background(), f, planner.Options{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	p, q := plan.Pipelines[0], plan.Pipelines[1]
	if p.Target.Mode != connectors.ModeUpsert || strings.Join(p.Target.Key, ",") != "name" {
		t.Errorf("p: mode %v key %v, want upsert by the checkpoint's key (name)", p.Target.Mode, p.Target.Key)
	}
	if q.Target.Mode != connectors.ModeAppend || len(q.Target.Key) != 0 {
		t.Errorf("q (no checkpoint): mode %v key %v, want append without a key", q.Target.Mode, q.Target.Key)
	}
	_, err = p.Rebind(context.Background(), shop["shopdb.events"])
	if err == nil || !strings.Contains(err.Error(), "shopdb.events no longer has a primary key (its upsert key (name) came from it)") {
		t.Errorf("p planned again without the key: %v", err)
	}
}

// TestPlanResumedEveryTable: with Options.Resumed (an apply --log
// worker), a single table is planned as the stream resumes with it (the
// log's position where the group starts: before an ADD COLUMN), not as the
// server has it now; a pipeline that names the column only the table of
// now has is planned from it. Without Resumed, a single table is planned
// from the server's (a plain apply).
func TestPlanResumedEveryTable(t *testing.T) {
	now := shop["shopdb.orders"]
	at := &connectors.TableSchema{Ref: now.Ref, Fields: now.Fields[:4], PrimaryKey: now.PrimaryKey} // without created_at
	cat := resumedCatalog{shop, map[string]*connectors.TableSchema{"p shopdb.orders": at, "q shopdb.orders": at}}
	f, err := lang.ParseFile("test.etl", []byte(header+`CREATE PIPELINE p FROM binlog shopdb.orders INTO clickhouse a.b;
CREATE PIPELINE q FROM binlog shopdb.orders TRANSFORM id, created_at INTO clickhouse a.c;
`))
	if err != nil {
		t.Fatal(err)
	}
	cols := func(pl *planner.Pipeline) string {
		var names []string
		for _, c := range pl.Output {
			names = append(names, c.Name)
		}
		return strings.Join(names, ",")
	}
	for _, resumed := range []bool{true, false} {
		plan, err := planner.Build(context.Background(), f, planner.Options{Catalog: cat, Resumed: resumed})
		if err != nil {
			t.Fatalf("resumed %v: %v", resumed, err)
		}
		p, q := plan.Pipelines[0], plan.Pipelines[1]
		want := "id,customer,status,amount"
		if !resumed {
			want += ",created_at"
		}
		if got := cols(p); got != want {
			t.Errorf("p (resumed %v): output %s, want %s", resumed, got, want)
		}
		if got := cols(q); got != "id,created_at" {
			t.Errorf("q (resumed %v): output %s, want id,created_at (the table of now)", resumed, got)
		}
	}
}
