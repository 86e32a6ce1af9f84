package clickhouse

import (
	"strings"
	"testing"
	"time"
)

// TestTargetOptionsLayers: a pipeline's WITH over its sink's over the
// spec's defaults, checked against the spec.
func TestTargetOptionsLayers(t *testing.T) {
	pipeline := map[string]any{"batch_rows": int64(10), "on_error": "skip"}
	sink := map[string]any{"batch_rows": int64(20), "flush_interval": 2 * time.Second, "out_of_range": "null"}
	o, err := resolveTargetOptions(pipeline, sink)
	if err != nil {
		t.Fatal(err)
	}
	if o.batchRows != 10 || o.flushInterval != 2*time.Second || o.outOfRange != "null" {
		t.Errorf("layers: %+v", o)
	}
	if o.maxInflight != 2 || o.batchBytes != 8<<20 || o.idleFlush != 200*time.Millisecond || o.schemaChanges != "evolve" || o.closeTimeout != 30*time.Second {
		t.Errorf("defaults: %+v", o)
	}
	for _, c := range []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"batch_rows": int64(0)}, `option "batch_rows": must be at least 1, got 0`},
		{map[string]any{"max_inflight": int64(1 << 20)}, `option "max_inflight": must be between 1 and 65536`},
		{map[string]any{"flush_interval": "0s"}, `option "flush_interval": must be positive`},
		{map[string]any{"schema_changes": "drop"}, `option "schema_changes": want one of 'evolve', 'ignore', 'fail', got drop`},
		{map[string]any{"engine": 7}, `option "engine": want a string, got 7`},
	} {
		if _, err := resolveTargetOptions(c.opts); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %s", c.opts, err, c.want)
		}
	}
}

func TestNewSinkOptions(t *testing.T) {
	s, err := NewSink("ch", "clickhouse://127.0.0.1:9000/db", map[string]any{"compression": "ZSTD", "batch_rows": int64(5)})
	if err != nil {
		t.Fatal(err)
	}
	if s.database != "db" || s.chOpts.Compression == nil || s.chOpts.MaxOpenConns != 16 || s.chOpts.DialTimeout != 10*time.Second {
		t.Errorf("sink: database %q compression %v conns %d dial %v", s.database, s.chOpts.Compression, s.chOpts.MaxOpenConns, s.chOpts.DialTimeout)
	}
	for _, c := range []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"bogus": 1}, `unknown option "bogus" for clickhouse sink "ch"`},
		{map[string]any{"max_open_conns": int64(0)}, `clickhouse sink "ch": option "max_open_conns": must be between 1 and 65536, got 0`},
		{map[string]any{"batch_rows": int64(0)}, `clickhouse sink "ch": option "batch_rows": must be at least 1, got 0`},
	} {
		if _, err := NewSink("ch", "clickhouse://127.0.0.1:9000/db", c.opts); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %s", c.opts, err, c.want)
		}
	}
}
