package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestOutOfRangeNullNotNullDates: under out_of_range = 'null' a date the
// ClickHouse type cannot hold is written as NULL even when the planner
// knows the output is never NULL (date(created_at) over a NOT NULL
// DATETIME, a NOT NULL DATE column): its column is created Nullable, plan
// says so, and the snapshot's and the binlog's rows from 2200 and 1900 land
// as NULL; an existing table's NOT NULL column is widened to Nullable. A
// key column, which cannot be NULL, is refused by check with the column
// named. Failed before: the columns were created NOT NULL and
// the rows failed their insert.
func TestOutOfRangeNullNotNullDates(t *testing.T) {
	t.Parallel()
	onBothServers(t, testOutOfRangeNullNotNullDates)
}

func testOutOfRangeNullNotNullDates(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, created_at DATETIME NOT NULL, d DATE NOT NULL, n INT NOT NULL)",
		"INSERT INTO "+db+".t VALUES (1, '2024-05-06 07:08:09', '2024-05-06', 1), (2, '2200-01-01 00:00:00', '2200-01-01', 2), (3, '1900-01-01 12:00:00', '1900-01-01', 3)")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	header := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[3]d);
CREATE SINK dw INTO clickhouse '%[2]s';
`, myDSN, s.chDSN, testServerID())
	writeFile(t, file, header+fmt.Sprintf(`CREATE PIPELINE p FROM binlog s.%[1]s.t SNAPSHOT initial
  TRANSFORM id, date(created_at) AS day, d, n * 2 AS n2
  INTO clickhouse dw.%[1]s.t WITH (out_of_range = 'null');
`, db))
	plan := mustEtlq(t, "plan", file)
	for _, want := range []string{"`day` Nullable(Date)", "`d` Nullable(Date)", "`n2` Int64"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	if strings.Contains(plan, "fails the insert") {
		t.Errorf("plan says a row fails where out_of_range = 'null' writes NULL:\n%s", plan)
	}
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	types := strings.Join(chRows(t, ch, fmt.Sprintf("SELECT name, type FROM system.columns WHERE database = '%s' AND table = 't' AND substring(name, 1, 1) != '_'", db)), ", ")
	if want := "id|Int32, day|Nullable(Date), d|Nullable(Date), n2|Int64"; types != want {
		t.Errorf("created columns:\n got %s\nwant %s", types, want)
	}
	rows := func() []string {
		t.Helper()
		return chRows(t, ch, fmt.Sprintf("SELECT toString(id), toString(day), toString(d), toString(n2) FROM %s.t_current ORDER BY id", db))
	}
	diffRows(t, []string{"1|2024-05-06|2024-05-06|2", "2|NULL|NULL|4", "3|NULL|NULL|6"}, rows())

	// The binlog's rows the same way.
	myExec(t, my, "INSERT INTO "+db+".t VALUES (4, '2300-02-03 00:00:00', '1000-01-01', 4)",
		"UPDATE "+db+".t SET created_at = '1950-06-07 00:00:00', d = '2106-01-01' WHERE id = 1",
		"UPDATE "+db+".t SET created_at = '2001-02-03 04:05:06', d = '2001-02-03' WHERE id = 2")
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	diffRows(t, []string{"1|NULL|NULL|2", "2|2001-02-03|2001-02-03|4", "3|NULL|NULL|6", "4|NULL|NULL|8"}, rows())

	// A table an earlier version created with the column NOT NULL: the
	// column becomes Nullable (widened, as a source's dropped NOT NULL),
	// and the row from 2200 lands as NULL.
	if err := ch.Exec(t.Context(), fmt.Sprintf("CREATE TABLE %s.old (id Int32, day Date, _version UInt64, _is_deleted UInt8) ENGINE = ReplacingMergeTree(_version) ORDER BY id", db)); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "old.etl")
	writeFile(t, old, header+fmt.Sprintf(`CREATE PIPELINE o FROM binlog s.%[1]s.t SNAPSHOT initial
  TRANSFORM id, date(created_at) AS day
  INTO clickhouse dw.%[1]s.old WITH (out_of_range = 'null');
`, db))
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", filepath.Join(dir, "state-old"), old)
	if got := strings.Join(chRows(t, ch, fmt.Sprintf("SELECT type FROM system.columns WHERE database = '%s' AND table = 'old' AND name = 'day'", db)), ""); got != "Nullable(Date)" {
		t.Errorf("the NOT NULL column of an existing table is %s, want Nullable(Date)", got)
	}
	diffRows(t, []string{"1|NULL", "2|2001-02-03", "3|NULL", "4|NULL"},
		chRows(t, ch, fmt.Sprintf("SELECT toString(id), toString(day) FROM %s.old_current ORDER BY id", db)))

	// A key cannot be NULL: check refuses a date key under
	// out_of_range = 'null' before any row is read.
	keyed := filepath.Join(dir, "k.etl")
	writeFile(t, keyed, header+fmt.Sprintf(`CREATE PIPELINE k FROM binlog s.%[1]s.t SNAPSHOT initial
  TRANSFORM id, date(created_at) AS day
  INTO clickhouse dw.%[1]s.k MODE upsert KEY (id, day) WITH (out_of_range = 'null');
`, db))
	out, err := runEtlq(t, "check", keyed)
	if err == nil || !strings.Contains(out, `key column "day"`) || !strings.Contains(out, "out_of_range = 'null'") {
		t.Errorf("check of a date key under out_of_range = 'null': %v\n%s", err, out)
	}
}
