package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestVerifyRepairManyExtraKeys: --repair tombstones 24,000 extra keys,
// half of them strings of 300 bytes, in a ClickHouse upsert target. It
// wrote them in one INSERT … IN (…) statement, which the server refused
// past its max_query_size ("Syntax error: failed at position 262143",
// new-user trial with 12,000 and with 8,303 extra keys); the keys now go
// in statements of bounded size.
func TestVerifyRepairManyExtraKeys(t *testing.T) {
	t.Parallel()
	s, file, state := snapshotOnlyTarget(t, testenv.MySQLDSN(t), "k VARCHAR(400) PRIMARY KEY, v VARCHAR(16) NOT NULL", "('a', 'x'), ('b', 'y')", "k, v", "k")
	long := strings.Repeat("L", 300)
	for _, q := range []string{
		fmt.Sprintf("INSERT INTO %s.t (k, v, _version, _is_deleted) SELECT concat('extra-', toString(number)), 'e', toUInt64(1), toUInt8(0) FROM system.numbers LIMIT 12000", s.db),
		fmt.Sprintf("INSERT INTO %s.t (k, v, _version, _is_deleted) SELECT concat('%s', toString(number)), 'e', toUInt64(1), toUInt8(0) FROM system.numbers LIMIT 12000", s.db, long),
	} {
		if err := s.ch.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	v, code, out := runVerify(t, "--state-dir", state, "--show", "0", "--repair", file)
	if code != 0 || v.Pipelines[0].Repaired != 24000 {
		t.Fatalf("verify --repair: exit %d, want 24000 keys repaired:\n%.3000s", code, out)
	}
	if v, code, out := runVerify(t, "--state-dir", state, file); code != 0 || !v.OK {
		t.Fatalf("verify after the repair: exit %d:\n%.3000s", code, out)
	}
	got, err := chTry(s.ch, fmt.Sprintf("SELECT k, v FROM %s.t FINAL WHERE _is_deleted = 0 ORDER BY k", s.db))
	if err != nil || strings.Join(got, ",") != "a|x,b|y" {
		t.Fatalf("target after the repair: %.300v %v", got, err)
	}
}
