package engine_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/exec/engine"
)

// TestSchemaChangeLoggedOnce: a DDL that two pipelines of the table follow
// is logged once ("schema change: pipeline planned again"), naming the
// table, the change and the pipelines — not once per pipeline, and not
// again for the batches that follow it; a second DDL is a second line.
func TestSchemaChangeLoggedOnce(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE up
  FROM binlog shop.shopdb.orders
  INTO clickhouse dw.analytics.orders MODE upsert KEY (id);
CREATE PIPELINE log
  FROM binlog shop.shopdb.orders
  INTO clickhouse dw.analytics.orders_log MODE append;
`)
	added := append(ordersSchema(t, connectors.TableRef{}).Fields, field(t, "note", "varchar(10)", true, 0))
	added[3].Metadata = arrow.NewMetadata(append(append([]string(nil), added[3].Metadata.Keys()...), exec.MetaAddedByDDL),
		append(append([]string(nil), added[3].Metadata.Values()...), "true"))
	dropped := []arrow.Field{added[0], added[2], added[3]} // status dropped
	e.src.add("orders", ins(1, "a", 1)).
		addWith("orders", added).
		addWith("orders", added, change{op: exec.OpInsert, after: []any{int64(2), "b", 1, "hi"}}).
		addWith("orders", added, change{op: exec.OpInsert, after: []any{int64(3), "c", 1, "ho"}}).
		addWith("orders", dropped).
		addWith("orders", dropped, change{op: exec.OpInsert, after: []any{int64(4), 1, "hu"}})
	var buf bytes.Buffer // (slog's handler writes one record at a time)
	opts := e.opts(true)
	opts.Log = slog.New(slog.NewTextHandler(&buf, nil))
	if err := engine.Run(context.Background(), e.plan, opts); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, "planned again") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("%d log lines for 2 DDLs, want one each:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for i, want := range []string{`change="added note varchar(10)"`, `change="dropped status"`} {
		for _, w := range []string{"table=shopdb.orders", want, `pipelines="log, up"`} {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d does not say %s:\n%s", i+1, w, lines[i])
			}
		}
	}
}

// TestDeclaredTypeChangePlannedAgain: a DDL that changes a column's
// declared type but not its Arrow type (here VARCHAR(20) → VARCHAR(40),
// text either way; DATETIME → DATETIME(6) alike, µs timestamps either
// way) plans the table again, so the sink's fields carry the new source
// type (exec.MetaSourceType), from which the csv format takes a
// DATETIME's fractional digits: a stale DATETIME printed DATETIME(6)
// values without their microseconds. Logged once, naming the change.
// (Failed before: the sink kept varchar(20) and no line was logged.)
func TestDeclaredTypeChangePlannedAgain(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), `CREATE PIPELINE p
  FROM binlog shop.shopdb.orders
  INTO clickhouse dw.analytics.orders MODE append;
`)
	wider := append([]arrow.Field(nil), ordersSchema(t, connectors.TableRef{}).Fields...)
	wider[1] = field(t, "status", "varchar(40)", true, 0)
	e.src.add("orders", ins(1, "a", 1)).
		addWith("orders", wider).
		addWith("orders", wider, ins(2, "b", 2))
	var buf bytes.Buffer
	opts := e.opts(true)
	opts.Log = slog.New(slog.NewTextHandler(&buf, nil))
	if err := engine.Run(context.Background(), e.plan, opts); err != nil {
		t.Fatal(err)
	}
	w := e.snk.writers["orders"]
	if w == nil || len(w.schemas) == 0 {
		t.Fatal("nothing written")
	}
	s := w.schemas[len(w.schemas)-1]
	f := s.Field(s.FieldIndices("status")[0])
	if st, _ := f.Metadata.GetValue(exec.MetaSourceType); st != "varchar(40)" {
		t.Errorf("status reaches the sink as %q after the DDL, want varchar(40)", st)
	}
	var lines []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, "planned again") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], `change="status varchar(20) → varchar(40)"`) {
		t.Errorf("want one line saying status varchar(20) → varchar(40):\n%s", strings.Join(lines, "\n"))
	}
}
