package mysql

import (
	"strings"
	"testing"
)

// TestGapMode: on_binlog_gap decides, snapshot_on_purge = true is its
// old name for 'resnapshot', and the two disagreeing is an error.
func TestGapMode(t *testing.T) {
	for _, c := range []struct {
		opts map[string]any
		on   bool
		err  string
	}{
		{map[string]any{}, false, ""},
		{map[string]any{"snapshot_on_purge": true}, true, ""},
		{map[string]any{"snapshot_on_purge": false}, false, ""},
		{map[string]any{"on_binlog_gap": "resnapshot"}, true, ""},
		{map[string]any{"on_binlog_gap": "fail"}, false, ""},
		{map[string]any{"on_binlog_gap": "resnapshot", "snapshot_on_purge": true}, true, ""},
		{map[string]any{"on_binlog_gap": "fail", "snapshot_on_purge": true}, false, `options "on_binlog_gap" = 'fail' and "snapshot_on_purge" = true disagree`},
		{map[string]any{"on_binlog_gap": "skip"}, false, `option "on_binlog_gap": want 'fail' or 'resnapshot', got skip`},
	} {
		on, err := gapMode(func(k string) (any, bool) { v, ok := c.opts[k]; return v, ok })
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: want error %q, got %v", c.opts, c.err, err)
			}
			continue
		}
		if err != nil || on != c.on {
			t.Errorf("%v: got %v, %v; want %v", c.opts, on, err, c.on)
		}
	}
}
