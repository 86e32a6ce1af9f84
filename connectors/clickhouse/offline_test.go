package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
)

// TestCheckerAsTheWriter: the Checker `etlq test` uses, given the server's
// version, finds what the writer finds on the shared server: the same rows
// refused before an insert (CheckRows: a zero date, a date before the
// type's range, a NULL in the key), the same error when the insert of the
// batch fails, and under out_of_range = 'null' the same values written as
// NULL.
func TestCheckerAsTheWriter(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	_, v, err := e.sink.connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fields := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, {Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true}}
	s := sinktest.SinkSchema(fields, false)
	zero := time.Unix(int64(zeroDateDays-1)*86400, 0).UTC()
	early := time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC) // before every server's range
	ok := time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)
	rows := [][]any{
		sysRow(1, false, "insert", int64(1), ok),
		sysRow(2, false, "insert", int64(2), zero),
		sysRow(3, false, "insert", nil, ok),
		sysRow(4, false, "insert", int64(4), early),
		sysRow(5, false, "insert", int64(5), nil),
	}
	show := func(w connectors.RowChecker) string {
		b := e.build(s, rows...)
		defer b.Release()
		var out []string
		for _, re := range w.CheckRows(b) {
			out = append(out, fmt.Sprintf("%d|%s|%s|%s", re.Row, re.Column, re.Key, re.Reason))
		}
		return strings.Join(out, "\n")
	}

	tg := e.target("t", connectors.ModeUpsert, []string{"id"}, s, nil)
	chk, err := NewChecker(tg, nil, v.String())
	if err != nil {
		t.Fatal(err)
	}
	w := e.open(tg)
	want := show(w.(connectors.RowChecker))
	if got := show(chk); got != want || want == "" {
		t.Errorf("CheckRows:\nchecker %s\nwriter  %s", got, want)
	}
	b := e.build(s, rows...)
	_, cerr := chk.Convert(b)
	write(t, w, b, nil)
	werr := w.Flush(ctx)
	if werr == nil || cerr == nil || cerr.Error() != werr.Error() {
		t.Errorf("the insert fails with\n%v\nthe checker says\n%v", werr, cerr)
	}

	// out_of_range = 'null': the values the server holds as NULL.
	opts := map[string]any{"out_of_range": "null"}
	fields[0].Nullable = false
	tg = e.target("n", connectors.ModeAppend, nil, sinktest.SinkSchema(fields, false), opts)
	chk, err = NewChecker(tg, nil, v.String())
	if err != nil {
		t.Fatal(err)
	}
	w = e.open(tg)
	nrows := [][]any{sysRow(1, false, "insert", int64(1), ok), sysRow(2, false, "insert", int64(2), zero),
		sysRow(3, false, "insert", int64(3), early), sysRow(4, false, "insert", int64(4), nil)}
	b = e.build(tg.Schema, nrows...)
	nulls, err := chk.Convert(b)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, b, nil)
	flush(t, w)
	var held []string
	for _, r := range e.query("SELECT id, d IS NULL FROM " + quote(e.db) + ".n ORDER BY id") {
		held = append(held, fmt.Sprint(r...))
	}
	var said []string
	for i := range nrows {
		said = append(said, fmt.Sprintf("%d %d", i+1, map[bool]int{false: 0, true: 1}[len(nulls[i]) > 0 || i == 3]))
	}
	if strings.Join(held, " ") != strings.Join(said, " ") {
		t.Errorf("NULL on the server (id, is null): %v; the checker says %v", held, said)
	}
}
