package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestUnixTimestampFollowsDeclaredDigits: unix_timestamp(ts) is MariaDB's
// DECIMAL with ts's DATETIME(n) digits, so an ALTER that changes n changes
// the output's type (INT64 for DATETIME, DECIMAL(19,3) for DATETIME(3),
// DECIMAL(18,2) for DATETIME(2), …): made while etlq runs, while it is
// stopped and while it is behind, the ClickHouse target keeps every row's
// value with its fraction, as MariaDB's unix_timestamp gives it, on both
// servers. (Failed before the column's restart rule: a DATETIME(n) that
// gained digits while etlq was stopped stopped the pipeline with
// "changed outside etlq".)
func TestUnixTimestampFollowsDeclaredDigits(t *testing.T) {
	t.Parallel()
	onBothServers(t, testUnixTimestampFollowsDeclaredDigits)
}

func testUnixTimestampFollowsDeclaredDigits(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, ts DATETIME NOT NULL)",
		"INSERT INTO "+db+".t VALUES (1, '2024-01-01 00:00:01')")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.t TRANSFORM id, unix_timestamp(ts) AS u INTO clickhouse dw.%[3]s.t MODE upsert WITH (flush_interval = '100ms');
`, myDSN, s.chDSN, db, testServerID()))
	myExec(t, my, "SET time_zone = '+00:00'")
	myQ := "SELECT id, CAST(unix_timestamp(ts) AS CHAR) FROM " + db + ".t ORDER BY id"
	// ClickHouse 18.16 prints a Decimal without its trailing zeros.
	chQ := "SELECT toString(id), toString(u) FROM " + db + ".t_current ORDER BY id"
	norm := func(rows []string) []string {
		for i, r := range rows {
			rows[i] = normDecimal(r)
		}
		return rows
	}
	wait := func(a *liveApply, when string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			want := norm(myRows(t, my, myQ))
			got, err := chTry(ch, chQ)
			if err == nil && fmt.Sprint(want) == fmt.Sprint(norm(got)) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: target %v (%v), source %v\n%s", when, got, err, want, a.out.String())
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	a := startApply(t, state, file)
	wait(a, "snapshot")
	myExec(t, my, "ALTER TABLE "+db+".t MODIFY ts DATETIME(2) NOT NULL",
		"INSERT INTO "+db+".t VALUES (2, '2024-01-01 00:00:02.12')")
	wait(a, "DATETIME(2) while running")
	a.stop(t)
	myExec(t, my, "ALTER TABLE "+db+".t MODIFY ts DATETIME(4) NOT NULL",
		"INSERT INTO "+db+".t VALUES (3, '2024-01-01 00:00:03.6543')",
		"UPDATE "+db+".t SET ts = '2024-01-01 00:00:01.5' WHERE id = 1")
	a = startApply(t, state, file)
	wait(a, "DATETIME(4) while stopped")
	// Behind: many changes before the ALTER and after it.
	a.stop(t)
	myExec(t, my, "INSERT INTO "+db+".t SELECT 100 + seq, '2024-01-01 00:00:00' + INTERVAL seq * 1001 MICROSECOND FROM "+db+".seq_1_to_2000")
	myExec(t, my, "ALTER TABLE "+db+".t MODIFY ts DATETIME(6) NOT NULL",
		"INSERT INTO "+db+".t SELECT 5000 + seq, '2024-01-01 00:00:00' + INTERVAL seq * 7 MICROSECOND FROM "+db+".seq_1_to_2000",
		"UPDATE "+db+".t SET ts = ts + INTERVAL 1 MICROSECOND WHERE id < 200")
	a = startApply(t, state, file)
	wait(a, "DATETIME(6) while behind")
	a.stop(t)
}
