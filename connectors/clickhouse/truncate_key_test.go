package clickhouse

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
)

// TestTruncateOfOneTableUsesTheKey: the removal of one source table's rows
// from a target shared by a pattern (KEY (_table, id)) compares _table as
// it is, so ClickHouse reads that table's range of the primary key and not
// the whole target. It compared toString(_table), which no index serves: a
// first snapshot over a populated target of 1,000 tables scanned the whole
// target 1,000 times (~1–2 s each at load). ClickHouse's query_log says
// how many rows the removal read (force_primary_key does not tell: it
// takes toString of a key column for a use of the key).
func TestTruncateOfOneTableUsesTheKey(t *testing.T) {
	e := newEnv(t, nil)
	s := sinktest.SinkSchema([]arrow.Field{
		{Name: "_table", Type: arrow.BinaryTypes.String},
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	}, false)
	tg := e.target("shared", connectors.ModeUpsert, []string{"_table", "id"}, s, nil)
	w := e.open(tg)
	var a acks
	rows := [][]any{sysRow(1, false, "read", "t_a", 1, "x"), sysRow(2, false, "read", "t_a", 2, "y")}
	const many = 100000 // t_b: many granules (8,192 rows each) besides t_a's one
	for i := 0; i < many; i++ {
		rows = append(rows, sysRow(uint64(3+i), false, "read", "t_b", i, "z"))
	}
	write(t, w, e.build(s, rows...), a.done(0))
	flush(t, w)
	tr := connectors.Truncation{Table: connectors.TableRef{DB: "src", Table: "t_a"}, Version: 10, Where: map[string]string{"_table": "t_a"}, Older: true}
	ctx := clickhouse.Context(context.Background(), clickhouse.WithSettings(clickhouse.Settings{"log_queries": 1}))
	for i, wr := range []connectors.Writer{w, e.open(tg)} { // created by the writer, and found existing
		tri := tr
		tri.Version = uint64(20 + i) // (the query's own text in query_log)
		q := wr.(*writer).truncateQuery(tri)
		if err := e.conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
		// (the server logs a query's end a moment after the client has
		// its answer: flush until the entry is there)
		read := ""
		for try := 0; read == "" && try < 100; try++ {
			e.exec("SYSTEM FLUSH LOGS")
			read = e.text(fmt.Sprintf("SELECT read_rows FROM system.query_log WHERE type = 2 AND query LIKE 'INSERT INTO `%s`%%toUInt64(%d)%%'", e.db, tri.Version))
			if read == "" {
				time.Sleep(100 * time.Millisecond)
			}
		}
		if read == "" {
			t.Fatalf("query_log has no entry for %s", q)
		}
		if n, _ := strconv.Atoi(strings.TrimSpace(read)); n >= many/2 {
			t.Errorf("the removal of t_a's rows read %d rows of the target (t_b has %d): it does not use the primary key:\n%s", n, many, q)
		}
	}
	done := make(chan error, 1)
	if err := w.(connectors.Truncater).Truncate(context.Background(), tr, func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("truncate not acknowledged")
	}
	got := e.text("SELECT _table, count() FROM " + quote(e.db) + ".shared_current GROUP BY _table ORDER BY _table")
	if want := "t_b\t100000\n"; got != want {
		t.Errorf("after removing t_a's rows:\n%swant\n%s", got, want)
	}
}
