package planner_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/etlq/etlq/planner"
)

// TestSinkTargetOptionsAreDefaults: a target option given on CREATE SINK
// is accepted (docs/connectors.md: "Target options given on the sink are
// defaults for every pipeline"), reaches every pipeline writing to the
// sink, is overridden by a pipeline's own WITH, and plan shows the
// effective value — for every sink kind that declares target options.
func TestSinkTargetOptionsAreDefaults(t *testing.T) {
	for _, c := range []struct {
		name, sink, into, name2, want, override string
		wantVal, overVal                        any
	}{
		{"clickhouse", `CREATE SINK dw2 INTO clickhouse 'clickhouse://127.0.0.1:9000' WITH (out_of_range = 'null', batch_rows = 7);`,
			`INTO clickhouse dw2.analytics.orders`, "out_of_range", "out_of_range = null", `out_of_range = 'fail'`, "null", "fail"},
		{"file", `CREATE SINK exports INTO file 'out' WITH (rotate_rows = 10);`,
			`INTO exports 'orders.parquet'`, "rotate_rows", "rotate_rows = 10", `rotate_rows = 20`, int64(10), int64(20)},
		{"stdout", `CREATE SINK screen INTO stdout '' WITH (color = false);`,
			`INTO screen`, "color", "color = false", `color = true`, false, true},
		{"http", `CREATE SINK hook INTO http 'https://example.com/hook' WITH (timeout = '3s');`,
			`INTO hook 'https://example.com/hook'`, "timeout", "timeout = 3s", `timeout = '4s'`, "3s", "4s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := header + c.sink + "\nCREATE PIPELINE a FROM binlog shopdb.orders TRANSFORM id " + c.into + ";\n" +
				"CREATE PIPELINE b FROM binlog shopdb.orders TRANSFORM id " + c.into + " WITH (" + c.override + ");\n"
			p, err := build(t, src)
			if err != nil {
				t.Fatalf("a target option on the sink is refused: %v", err)
			}
			a, b := p.Pipelines[0], p.Pipelines[1]
			if got := a.Target.Options[c.name2]; formatted(got) != formatted(c.wantVal) {
				t.Errorf("pipeline a: %s = %v, want the sink's %v", c.name2, got, c.wantVal)
			}
			if got := b.Target.Options[c.name2]; formatted(got) != formatted(c.overVal) {
				t.Errorf("pipeline b: %s = %v, want its own %v", c.name2, got, c.overVal)
			}
			var out bytes.Buffer
			planner.Explain(&out, p, nil)
			first := strings.SplitN(out.String(), "\npipeline b", 2)[0]
			if !strings.Contains(first, c.want) {
				t.Errorf("plan of pipeline a does not show %q:\n%s", c.want, first)
			}
		})
	}
}

func formatted(v any) string { return fmt.Sprint(v) }
