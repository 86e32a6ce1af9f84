package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestComputedColumnsNotNullable: a ClickHouse table etlq creates has its
// computed columns without Nullable when they can never be NULL (id * 2,
// coalesce(n, -1), upper(s), year(d), concat over NOT NULL columns) and
// Nullable when they may be (a NULL-able column, json_value of an absent
// path, dayofweek); a table whose computed columns an earlier version
// created Nullable takes the snapshot's and the binlog's rows as it is: no
// error, no ALTER; a column whose source drops NOT NULL while etlq follows
// the binlog becomes Nullable, and takes the NULL. Failed before: every
// computed column was Nullable.
func TestComputedColumnsNotNullable(t *testing.T) {
	t.Parallel()
	onBothServers(t, testComputedColumnsNotNullable)
}

func testComputedColumnsNotNullable(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, n INT NULL, s VARCHAR(20) NOT NULL, d DATE NOT NULL, doc VARCHAR(100) NOT NULL)",
		"INSERT INTO "+db+".t VALUES (1, NULL, 'ab', '2024-02-29', '{\"a\": 1}'), (2, 5, 'xyz', '2000-01-01', '{}')")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.t SNAPSHOT initial
  TRANSFORM id, id * 2 AS twice, coalesce(n, -1) AS n1, upper(s) AS su, year(d) AS y, concat(s, '-', id) AS tag,
    n AS nraw, json_value(doc, '$.a') AS jv, dayofweek(d) AS wd
  INTO clickhouse dw.%[3]s.t;
`, myDSN, s.chDSN, db, testServerID()))
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	types := func() string {
		t.Helper()
		return strings.Join(chRows(t, ch, fmt.Sprintf("SELECT name, type FROM system.columns WHERE database = '%s' AND table = 't' AND substring(name, 1, 1) != '_'", db)), ", ")
	}
	want := "id|Int32, twice|Int64, n1|Int64, su|String, y|Int64, tag|String, nraw|Nullable(Int32), jv|Nullable(String), wd|Nullable(Int64)"
	if got := types(); got != want {
		t.Errorf("created columns:\n got %s\nwant %s", got, want)
	}
	rows := func() []string {
		t.Helper()
		return chRows(t, ch, fmt.Sprintf("SELECT toString(id), toString(twice), toString(n1), su, toString(y), tag, toString(nraw), jv, toString(wd) FROM %s.t_current ORDER BY id", db))
	}
	diffRows(t, []string{"1|2|-1|AB|2024|ab-1|NULL|1|5", "2|4|5|XYZ|2000|xyz-2|5|NULL|7"}, rows())

	// The columns as an earlier version created them: Nullable. The
	// next run writes its snapshot's table and the binlog's changes
	// into them as they are.
	chExec := func(q string) {
		t.Helper()
		if err := ch.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	chExec(fmt.Sprintf("ALTER TABLE %s.t MODIFY COLUMN twice Nullable(Int64), MODIFY COLUMN su Nullable(String), MODIFY COLUMN tag Nullable(String)", db))
	old := strings.NewReplacer("twice|Int64", "twice|Nullable(Int64)", "su|String", "su|Nullable(String)", "tag|String", "tag|Nullable(String)").Replace(want)
	myExec(t, my, "INSERT INTO "+db+".t VALUES (3, 7, 'q', '1999-12-31', '{\"a\": \"x\"}')", "UPDATE "+db+".t SET s = 'cd' WHERE id = 1")
	out := mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	if strings.Contains(out, "ALTER") || strings.Contains(out, "MODIFY") || strings.Contains(out, "ERROR") {
		t.Errorf("the run into the Nullable columns:\n%s", out)
	}
	if got := types(); got != old {
		t.Errorf("the Nullable columns changed:\n got %s\nwant %s", got, old)
	}
	diffRows(t, []string{"1|2|-1|CD|2024|cd-1|NULL|1|5", "2|4|5|XYZ|2000|xyz-2|5|NULL|7", "3|6|7|Q|1999|q-3|7|x|6"}, rows())

	// The source drops d's NOT NULL: year(d) may now be NULL, and its
	// column becomes Nullable before a NULL reaches it.
	myExec(t, my, "ALTER TABLE "+db+".t MODIFY d DATE NULL", "INSERT INTO "+db+".t VALUES (4, NULL, 'z', NULL, '{}')")
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	if got, want := types(), strings.Replace(old, "y|Int64", "y|Nullable(Int64)", 1); got != want {
		t.Errorf("after d dropped NOT NULL:\n got %s\nwant %s", got, want)
	}
	diffRows(t, []string{"1|2|-1|CD|2024|cd-1|NULL|1|5", "2|4|5|XYZ|2000|xyz-2|5|NULL|7", "3|6|7|Q|1999|q-3|7|x|6", "4|8|-1|Z|NULL|z-4|NULL|NULL|NULL"}, rows())
}
