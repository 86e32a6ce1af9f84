package planner_test

import (
	"strings"
	"testing"
)

// TestSharedTargetConflicts: two pipelines writing one ClickHouse table
// (the same server and database.table, through any sink) in ways that
// cannot both be right are refused at the later INTO, naming the other
// pipeline and why; the sharing that is right (one mode into an append or
// changelog table, upsert pipelines of one KEY) is planned. Before, all
// were planned, and two upsert pipelines of different keys collapsed 598
// of 599 customers into one row (a new-user trial).
func TestSharedTargetConflicts(t *testing.T) {
	const wh = "CREATE SINK wh INTO clickhouse 'clickhouse://u:pw@127.0.0.1:9000/other?secure=false';\n"
	for _, c := range []struct {
		name, a, b string
		want       string // "" planned
	}{
		{"upsert, other key", "TRANSFORM id, coalesce(customer, '') AS customer INTO clickhouse dw.a.t MODE upsert KEY (id)",
			"TRANSFORM id, coalesce(customer, '') AS customer INTO clickhouse dw.a.t MODE upsert KEY (customer)",
			"5:94: pipeline b writes into clickhouse dw.a.t, which pipeline a (line 4) writes as well: an upsert table has one key, its ORDER BY, and keeps one row per value of it: KEY (id) for pipeline a, (customer) for b"},
		{"upsert, default key against another", "TRANSFORM id, coalesce(customer, '') AS customer INTO clickhouse dw.a.t",
			"TRANSFORM id, coalesce(customer, '') AS customer INTO clickhouse dw.a.t KEY (customer, id)",
			"KEY (id) for pipeline a, (customer, id) for b"},
		{"upsert and append", "TRANSFORM id INTO clickhouse dw.a.t", "TRANSFORM id INTO clickhouse dw.a.t MODE append",
			"pipeline a is MODE upsert and b MODE append, and a table has one engine"},
		{"changelog and upsert", "TRANSFORM id INTO clickhouse dw.a.t MODE changelog", "TRANSFORM id INTO clickhouse dw.a.t",
			"pipeline a is MODE changelog and b MODE upsert, and a table has one engine"},
		{"append and changelog", "TRANSFORM id INTO clickhouse dw.a.t MODE append", "TRANSFORM id INTO clickhouse dw.a.t MODE changelog",
			"pipeline a is MODE append and b MODE changelog: a changelog table's rows are changes"},
		{"another sink, the same server", "TRANSFORM id INTO clickhouse dw.a.t MODE upsert KEY (id)",
			"TRANSFORM id, coalesce(customer, '') AS customer INTO clickhouse wh.a.t MODE upsert KEY (customer)",
			"pipeline b writes into clickhouse wh.a.t, which pipeline a (line 4) writes as well (sink wh reaches the server of sink dw)"},
		{"same key", "TRANSFORM _table, id INTO clickhouse dw.a.t KEY (_table, id)", "TRANSFORM _table, id, coalesce(customer, '') AS customer INTO clickhouse wh.a.t KEY (_table, id)", ""},
		{"append twice", "TRANSFORM id INTO clickhouse dw.a.t MODE append", "TRANSFORM id, coalesce(status, '') AS status INTO clickhouse dw.a.t MODE append KEY (status)", ""},
		{"changelog twice", "TRANSFORM id INTO clickhouse dw.a.t MODE changelog", "TRANSFORM id INTO clickhouse dw.a.t MODE changelog", ""},
		{"other tables", "TRANSFORM id INTO clickhouse dw.a.t", "TRANSFORM id INTO clickhouse dw.a.u MODE append", ""},
		{"other databases", "TRANSFORM id INTO clickhouse dw.a.t", "TRANSFORM id, coalesce(customer, '') AS customer INTO clickhouse dw.b.t KEY (customer)", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := header + wh + "CREATE PIPELINE a FROM binlog shopdb.orders " + c.a + ";\n" +
				"CREATE PIPELINE b FROM binlog shopdb.orders " + c.b + ";\n"
			p, err := build(t, src)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want == "":
			case err == nil:
				t.Fatalf("planned, want refused with %q", c.want)
			case !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "write pipeline b INTO a table of its own"):
				t.Fatalf("want %q and the way out, got:\n%v", c.want, err)
			case strings.Contains(err.Error(), "pw"):
				t.Fatalf("the error shows the sink's password: %v", err)
			case !p.Failed["b"] || p.Failed["a"]:
				t.Fatalf("want pipeline b, not a, failed: %v", p.Failed)
			}
		})
	}
}

// TestTargetAtIsPhysical: a pipeline's TargetAt names the server and
// table, not the sink's name, without secrets.
func TestTargetAtIsPhysical(t *testing.T) {
	src := header + "CREATE SINK wh INTO clickhouse 'clickhouse://u:pw@LOCALHOST:9000/x?secure=false';\n" +
		"CREATE SINK tls INTO clickhouse 'clickhouse://localhost?secure=true';\n" +
		"CREATE PIPELINE a FROM binlog shopdb.orders TRANSFORM id INTO clickhouse dw.a.t;\n" +
		"CREATE PIPELINE b FROM binlog shopdb.orders TRANSFORM id INTO clickhouse wh.a.u;\n" +
		"CREATE PIPELINE c FROM binlog shopdb.orders TRANSFORM id INTO clickhouse tls.a.t;\n"
	p, err := build(t, src)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"clickhouse 127.0.0.1:9000 a.t", "clickhouse localhost:9000 a.u", "clickhouse localhost:9440 a.t"} {
		if got := p.Pipelines[i].TargetAt; got != want {
			t.Errorf("pipeline %s: TargetAt %q, want %q", p.Pipelines[i].Name, got, want)
		}
	}
}
