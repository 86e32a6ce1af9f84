package mysql

import (
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

// TestSourceOptions: NewSource reads its WITH options through the spec:
// defaults, bounds, enums and unknown names.
func TestSourceOptions(t *testing.T) {
	s, err := NewSource("s", "mysql://u@h", map[string]any{"server_id": int64(42), "flavor": "MariaDB"})
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.ServerID != 42 || s.cfg.Flavor != "mariadb" || s.cfg.Heartbeat != time.Second || !s.explicitID {
		t.Errorf("cfg: server_id %d flavor %q heartbeat %v explicit %v", s.cfg.ServerID, s.cfg.Flavor, s.cfg.Heartbeat, s.explicitID)
	}
	if s, err = NewSource("s", "mysql://u@h", nil); err != nil || s.cfg.ServerID != DeriveServerID("s", "") || s.cfg.Flavor != "" || s.explicitID {
		t.Errorf("no options: %v %+v", err, s.cfg)
	}
	for _, c := range []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"server_idd": int64(1)}, `unknown option "server_idd" for source "s"`},
		{map[string]any{"server_id": int64(0)}, `source "s": option "server_id": must be between 1 and 4294967295, got 0`},
		{map[string]any{"flavor": "oracle"}, `source "s": option "flavor": want one of 'mysql', 'mariadb', got oracle`},
		{map[string]any{"heartbeat": "often"}, `source "s": option "heartbeat": want a duration`},
		{map[string]any{"chunk_rows": int64(0)}, `source "s": option "chunk_rows": must be at least 1, got 0`},
	} {
		if _, err := NewSource("s", "mysql://u@h", c.opts); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %s", c.opts, err, c.want)
		}
	}
}

// TestStreamOptionsLayers: a stream's options are the pipeline's WITH over
// the source's over the spec's defaults (4, 50000, 'evolve', …).
func TestStreamOptionsLayers(t *testing.T) {
	src, err := NewSource("s", "mysql://u@h", map[string]any{"chunk_rows": int64(1000), "snapshot_parallelism": int64(2), "snapshot_on_purge": true})
	if err != nil {
		t.Fatal(err)
	}
	st := &stream{streamConfig: streamConfig{src: src, req: connectors.StreamRequest{Options: map[string]any{"chunk_rows": int64(10), "on_error": "skip"}}}}
	if err := st.parseOpts(); err != nil {
		t.Fatal(err)
	}
	want := streamOpts{parallelism: 2, chunkRows: 10, schemaChanges: "evolve", onPurge: true, position: "auto", watermarkTbl: defaultWatermarkTable}
	if st.opts != want {
		t.Errorf("got %+v, want %+v", st.opts, want)
	}
	st.req.Options = map[string]any{"snapshot_protocol": "text", "start_at": "earliest", "schema_changes": "ignore", "on_binlog_gap": "resnapshot"}
	if err := st.parseOpts(); err != nil || !st.opts.textProtocol || st.opts.startAt != "earliest" || st.opts.schemaChanges != "ignore" || !st.opts.onPurge {
		t.Errorf("got %+v, %v", st.opts, err)
	}
	for _, c := range []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"snapshot_parallelism": int64(0)}, `option "snapshot_parallelism": must be between 1 and 1024, got 0`},
		{map[string]any{"schema_changes": "drop"}, `option "schema_changes": want one of 'evolve', 'ignore', 'fail', got drop`},
		{map[string]any{"on_binlog_gap": "fail"}, `options "on_binlog_gap" = 'fail' and "snapshot_on_purge" = true disagree`},
		{map[string]any{"watermark_table": "nodot"}, `watermark_table`},
	} {
		st.req.Options = c.opts
		if err := st.parseOpts(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %s", c.opts, err, c.want)
		}
	}
}
