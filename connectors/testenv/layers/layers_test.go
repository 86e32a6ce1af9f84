package layers

import "testing"

func TestLayerOf(t *testing.T) {
	for p, want := range map[string]string{
		"lang":                      "lang",
		"exec":                      "exec",
		"exec/engine":               "exec/engine",
		"exec/engine/x":             "exec/engine",
		"connectors":                "connectors",
		"connectors/mysql":          "connectors/mysql",
		"connectors/testenv/layers": "connectors/testenv",
		"cmd/etlq":                  "cmd",
	} {
		if got := layerOf(p); got != want {
			t.Errorf("layerOf(%q) = %q, want %q", p, got, want)
		}
	}
	if allows("connectors/mysql", []string{"exec", "connectors"}, "exec/engine") {
		t.Error("a connector may not import the runtime")
	}
	if !allows("connectors/mysql", []string{"exec", "connectors"}, "connectors") {
		t.Error("a connector may import the contracts")
	}
	if allows("planner", []string{"connectors"}, "connectors/mysql") {
		t.Error("the planner may not import a concrete connector")
	}
	if !allows("exec/engine", []string{"connectors/*"}, "connectors/format") {
		t.Error(`"connectors/*" allows every connector`)
	}
	for p, want := range map[string]bool{
		"github.com/go-mysql-org/go-mysql/client":   true,
		"github.com/ClickHouse/clickhouse-go/v2":    true,
		"github.com/ClickHouse/ch-go/proto":         true,
		"github.com/nats-io/nats.go":                true,
		"github.com/apache/arrow-go/v18/arrow":      false,
		"github.com/go-mysql-org/go-mysqlx":         false,
		"github.com/etlq/etlq/connectors/specstest": false,
	} {
		if isDriver(p) != want {
			t.Errorf("isDriver(%q) = %v, want %v", p, !want, want)
		}
	}
}

func TestInLayer(t *testing.T) {
	for _, c := range []struct {
		layer, own string
		want       bool
	}{
		{"connectors", "connectors", true},
		{"connectors", "connectors/mysql", false},
		{"connectors/*", "connectors/mysql", true},
		{"connectors/*", "connectors", false},
		{"exec", "exec/engine", false},
		{"exec/engine", "exec/engine", true},
	} {
		if got := inLayer(c.layer, c.own); got != c.want {
			t.Errorf("inLayer(%q, %q) = %v, want %v", c.layer, c.own, got, c.want)
		}
	}
}
