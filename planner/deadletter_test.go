package planner_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/etlq/etlq/lang"
)

// TestDeadLetterTarget: the dead_letter option is resolved like an INTO
// target, and a wrong one is an error at its place in the file.
func TestDeadLetterTarget(t *testing.T) {
	const pipe = `CREATE PIPELINE p FROM binlog shopdb.orders INTO clickhouse a.b WITH (on_error = 'dead_letter', dead_letter = %s);`
	for _, tc := range []struct{ value, target, sink string }{
		{`'clickhouse dw.audit.rejects'`, "audit.rejects", "dw"},
		{`'clickhouse audit.rejects'`, "audit.rejects", "dw"},
		{`'clickhouse rejects'`, "default.rejects", "dw"}, // the sink's database, as INTO takes a table alone
		{`'file /tmp/rejects.jsonl'`, "/tmp/rejects.jsonl", "file:/tmp/rejects.jsonl"},
		{`'http https://hooks.example.com/rejects'`, "https://hooks.example.com/rejects", "http:https://hooks.example.com/rejects"},
		{`'stdout'`, "", "stdout"},
	} {
		plan, err := build(t, header+fmt.Sprintf(pipe, tc.value)+"\n")
		if err != nil {
			t.Fatalf("%s: %v", tc.value, err)
		}
		dl := plan.Pipelines[0].DeadLetter
		if dl == nil || dl.Target.Name != tc.target || dl.Sink != tc.sink {
			t.Errorf("%s: got %+v", tc.value, dl)
			continue
		}
		found := false
		for _, s := range plan.Sinks {
			found = found || s.Name == dl.Sink
		}
		if !found {
			t.Errorf("%s: sink %q is not in the plan", tc.value, dl.Sink)
		}
	}
	for _, tc := range []struct{ body, want string }{
		{`CREATE PIPELINE p FROM binlog shopdb.orders INTO clickhouse a.b WITH (dead_letter = 'stdout');`,
			`3:71: option "dead_letter" needs on_error = 'dead_letter'`},
		{fmt.Sprintf(pipe, `'clikhouse a.b'`),
			`3:111: option "dead_letter" names an unknown sink kind "clikhouse" (did you mean "clickhouse"?): write 'clickhouse [sink.]database.table', 'file PATH', 'http URL' or 'stdout'`},
		{fmt.Sprintf(pipe, `'clickhouse wd.a.b'`),
			`3:111: option "dead_letter": no clickhouse sink is declared for "wd.a.b": add CREATE SINK … INTO clickhouse '…'`},
		{fmt.Sprintf(pipe, `'file'`),
			`3:111: option "dead_letter": write 'clickhouse [sink.]database.table', 'file PATH', 'http URL' or 'stdout'`},
	} {
		_, err := build(t, header+tc.body+"\n")
		var errs lang.Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Errorf("want an error %q, got %v", tc.want, err)
			continue
		}
		if got := fmt.Sprintf("%d:%d: %s", errs[0].Pos.Line, errs[0].Pos.Column, errs[0].Msg); got != tc.want {
			t.Errorf("\n got %s\nwant %s", got, tc.want)
		}
	}
}
