package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestUUIDInetEndToEnd (new-user trial "every column type, end to end"):
// a table with MariaDB's UUID, INET6 and INET4 columns, a UUID primary
// key, is snapshotted and then followed into a ClickHouse upsert target —
// inserts, updates to and from NULL, deletes, and an ALTER TABLE that adds
// such columns with DEFAULTs and an INVISIBLE column — and the target holds
// the server's text of every value, the rows already there the DEFAULTs;
// verify agrees. The table used to be refused ("has type uuid, which etlq
// does not support") and the ALTER stopped the run under the default
// binlog_row_metadata.
func TestUUIDInetEndToEnd(t *testing.T) {
	t.Parallel()
	onBothServers(t, testUUIDInetEndToEnd)
}

func testUUIDInetEndToEnd(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (u UUID PRIMARY KEY, i6 INET6, i4 INET4, v INT)",
		"INSERT INTO "+db+".t VALUES ('123e4567-e89b-12d3-a456-426614174000', '2001:db8::ff00:42:8329', '192.168.0.1', 1), "+
			"('f47ac10b-58cc-4372-0567-0e02b2c3d400', '::ffff:1.2.3.4', '10.0.0.0', 2), "+
			"('00000000-0000-0000-0000-000000000000', NULL, NULL, 3)")
	myExec(t, my, "INSERT INTO "+db+".t SELECT UUID(), CONCAT('fe80::', HEX(seq)), CONCAT('10.0.0.', seq), seq + 100 FROM "+db+".seq_1_to_50")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "u.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d, chunk_rows = 7);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t MODE upsert;
`, myDSN, s.chDSN, db, testServerID()))
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	myExec(t, my,
		"UPDATE "+db+".t SET i6 = '1:0:0:2::', i4 = NULL WHERE v = 1",
		"UPDATE "+db+".t SET i6 = '::1.2.3.4', i4 = '255.255.255.255' WHERE v = 3",
		"UPDATE "+db+".t SET u = 'ffffffff-ffff-ffff-ffff-ffffffffffff' WHERE v = 2",
		"DELETE FROM "+db+".t WHERE v BETWEEN 110 AND 120",
		"ALTER TABLE "+db+".t ADD COLUMN u2 UUID NOT NULL DEFAULT 'AAAAAAAA-bbbb-cccc-dddd-eeeeeeeeeeee', ADD n6 INET6 DEFAULT '::0001', ADD x INT INVISIBLE DEFAULT 5",
		"INSERT INTO "+db+".t (u, u2, n6, x, v) VALUES (UUID(), UUID(), '::', 7, 1000)")
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	want := myRows(t, my, "SELECT CAST(u AS CHAR), IFNULL(CAST(i6 AS CHAR), 'NULL'), IFNULL(CAST(i4 AS CHAR), 'NULL'), v, CAST(u2 AS CHAR), IFNULL(CAST(n6 AS CHAR), 'NULL'), x FROM "+db+".t ORDER BY v")
	got := chRows(t, ch, "SELECT u, ifNull(i6, 'NULL'), ifNull(i4, 'NULL'), toString(v), u2, ifNull(n6, 'NULL'), toString(x) FROM "+db+".t_current ORDER BY v")
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Errorf("target differs from the source:\nsource:\n%s\ntarget:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
	if v, code, out := runVerify(t, "--state-dir", state, file); code != 0 || !v.OK {
		t.Errorf("verify: exit %d\n%s", code, out)
	}
}
