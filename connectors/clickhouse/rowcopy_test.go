package clickhouse

import (
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors"
)

// TestCopyTargetNames: the copy of a target is a table next to it, its
// name read back as written (back quotes), and a target of a Replicated
// engine takes no copy.
func TestCopyTargetNames(t *testing.T) {
	s, err := NewSink("dw", "clickhouse://h:9000/dflt", nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"db.t":         "db|t__etlq_copy",
		"t":            "dflt|t__etlq_copy",
		"`a.b`.`c``d`": "a.b|c`d__etlq_copy",
	} {
		c := s.CopyTarget(connectors.Target{Name: name})
		db, table, err := s.splitName(c.Name)
		if got := db + "|" + table; err != nil || got != want {
			t.Errorf("%s: copy %q = %q (%v), want %q", name, c.Name, got, err, want)
		}
	}
	if why := s.CanCopy(connectors.Target{Name: "db.t"}); why != "" {
		t.Errorf("default engine: %s", why)
	}
	why := s.CanCopy(connectors.Target{Name: "db.t", Options: map[string]any{"engine": "ReplicatedReplacingMergeTree('/ch/{shard}/t', '{replica}', _version)"}})
	if !strings.Contains(why, "ZooKeeper") {
		t.Errorf("replicated engine: %q", why)
	}
}
