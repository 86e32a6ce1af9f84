package clickhouse

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/exec"
)

// TestColumnAddedByAnotherWriter: two writers of one table (two scale-out
// workers); one adds a column the source's ALTER added, then the other
// meets the column in a schema that no longer says a DDL added it (the
// capture restarted: the position's schemas have it from the start). It
// must take the column the table has now. Before, it judged by the columns
// it read when it opened, called the column "dropped outside etlq" and
// stopped the pipeline, and with it the worker (a trial under a writer).
func TestColumnAddedByAnotherWriter(t *testing.T) {
	for _, mode := range []connectors.Mode{connectors.ModeUpsert, connectors.ModeAppend} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t, nil)
			f1 := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "n", Type: arrow.BinaryTypes.String, Nullable: true}}
			s1 := sinktest.SinkSchema(f1, false)
			tg := e.target("t", mode, []string{"id"}, s1, nil)
			w1 := e.open(tg)
			write(t, w1, e.build(s1, sysRow(1, false, "read", int64(1), "a")), nil)
			flush(t, w1)
			w2 := e.openSecond(t, tg)
			write(t, w2, e.build(s1, sysRow(2, false, "read", int64(2), "b")), nil)
			flush(t, w2)

			byDDL := sinktest.SinkSchema(append(f1[:2:2], ddlField("e2", arrow.PrimitiveTypes.Int32, true, exec.MetaAddedByDDL, "true")), false)
			write(t, w1, e.build(byDDL, sysRow(3, false, "insert", int64(3), "c", int32(30))), nil)
			flush(t, w1)
			fromStart := sinktest.SinkSchema(append(f1[:2:2], arrow.Field{Name: "e2", Type: arrow.PrimitiveTypes.Int32, Nullable: true}), false)
			if err := w2.Write(context.Background(), e.build(fromStart, sysRow(4, false, "insert", int64(4), "d", int32(40))), nil); err != nil {
				t.Fatalf("the second writer refused the column the first added: %v", err)
			}
			flush(t, w2)
			if got := e.text("SELECT id, n, ifNull(toString(e2), 'NULL') FROM " + quote(e.db) + ".t ORDER BY id"); got != "1\ta\tNULL\n2\tb\tNULL\n3\tc\t30\n4\td\t40\n" {
				t.Errorf("rows:\n%s", got)
			}
		})
	}
}

// TestColumnAddedByAnotherWriterLogSaysSo: when another writer of the
// table (a scale-out worker) added the column first, the fill of the rows
// from before the ADD says so; before, its INFO said the column was "left
// from a DROP COLUMN", which no one had run (scale-out trial, ALTER TABLE
// … ADD COLUMN under two workers).
func TestColumnAddedByAnotherWriterLogSaysSo(t *testing.T) {
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	e := newEnv(t, nil)
	f1 := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "n", Type: arrow.BinaryTypes.String, Nullable: true}}
	s1 := sinktest.SinkSchema(f1, false)
	tg := e.target("t", connectors.ModeUpsert, []string{"id"}, s1, nil)
	w1 := e.open(tg)
	write(t, w1, e.build(s1, sysRow(1, false, "read", int64(1), "a")), nil)
	flush(t, w1)
	w2 := e.openSecond(t, tg)
	write(t, w2, e.build(s1, sysRow(2, false, "read", int64(2), "b")), nil)
	flush(t, w2)
	byDDL := sinktest.SinkSchema(append(f1[:2:2], ddlField("e2", arrow.PrimitiveTypes.Int32, true,
		exec.MetaAddedByDDL, "true", exec.MetaAddedAt, "3")), false)
	write(t, w1, e.build(byDDL, sysRow(3, false, "insert", int64(3), "c", int32(30))), nil)
	flush(t, w1)
	write(t, w2, e.build(byDDL, sysRow(4, false, "insert", int64(4), "d", int32(40))), nil)
	flush(t, w2)
	if got := e.text("SELECT id, n, ifNull(toString(e2), 'NULL') FROM " + quote(e.db) + ".t FINAL ORDER BY id"); got != "1\ta\tNULL\n2\tb\tNULL\n3\tc\t30\n4\td\t40\n" {
		t.Errorf("rows:\n%s", got)
	}
	out := logs.String()
	if !strings.Contains(out, "its rows from before the ADD take the column's DEFAULT") {
		t.Fatalf("no fill logged:\n%s", out)
	}
	if strings.Contains(out, "left from a DROP COLUMN") || !strings.Contains(out, "added by another writer of the table") {
		t.Errorf("the fill's log does not say another writer added the column:\n%s", out)
	}
}
