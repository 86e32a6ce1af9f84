package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestUpsertSeveralTablesKeepsEveryRow: two tables with the same ids into
// one upsert target keep all their rows (the key starts with _table), and a
// pipeline whose output cannot tell the tables apart fails check, pointing
// at the tables, instead of losing rows.
func TestUpsertSeveralTablesKeepsEveryRow(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	myExec(t, s.my, "CREATE DATABASE "+s.db,
		"CREATE TABLE "+s.db+".orders (id INT PRIMARY KEY, amount INT)",
		"CREATE TABLE "+s.db+".payments (id INT PRIMARY KEY, amount INT)",
		"INSERT INTO "+s.db+".orders VALUES (1, 10), (2, 20), (3, 30), (4, 40)",
		"INSERT INTO "+s.db+".payments VALUES (1, 11), (2, 21), (3, 31), (4, 41), (5, 51)")
	head := fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = 7321);\nCREATE SINK dw INTO clickhouse '%s';\n", myDSN, s.chDSN)

	out, err := runCheck(t, head+fmt.Sprintf("CREATE PIPELINE p FROM binlog %[1]s.orders, %[1]s.payments INTO clickhouse dw.%[1]s.x;\n", s.db))
	if err == nil || !strings.Contains(out, ":3:31: pipeline p upserts several tables into one target") || !strings.Contains(out, "add _table to TRANSFORM") {
		t.Errorf("check: want a positioned refusal saying to add _table, got %v:\n%s", err, out)
	}

	path := filepath.Join(t.TempDir(), "shards.etl")
	os.WriteFile(path, []byte(head+fmt.Sprintf("CREATE PIPELINE p FROM binlog %[1]s.orders, %[1]s.payments TRANSFORM _table, * INTO clickhouse dw.%[1]s.x;\n", s.db)), 0o644)
	if out, err := runEtlq(t, "check", path); err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	mustEtlq(t, "apply", "--once", "--state-dir", filepath.Join(t.TempDir(), "state"), path)
	n, err := chCount(s.chDSN, "SELECT count() FROM "+s.db+".x FINAL WHERE _is_deleted = 0")
	if err != nil || n != 9 {
		t.Errorf("target holds %d rows (%v), want the 9 of both tables", n, err)
	}
	n, err = chCount(s.chDSN, "SELECT count() FROM "+s.db+".x FINAL WHERE _table = 'payments' AND _is_deleted = 0")
	if err != nil || n != 5 {
		t.Errorf("target holds %d payments (%v), want 5", n, err)
	}
}

// scanned lists the tables `etlq plan` says a file's pipelines read.
func scanned(t *testing.T, src string) ([]string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plan.etl")
	os.WriteFile(path, []byte(src), 0o644)
	out, err := runEtlq(t, "plan", path)
	if err != nil {
		return nil, out
	}
	var got []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "scan" && f[1] == "binlog" {
			got = append(got, f[2])
		}
	}
	return got, out
}

// TestBackQuotedNamesAreNotPatterns: a back-quoted table name is that name
// (`t?` reads t? only, `t[a]` reads t[a]); bare globs match tables, in the
// database part too; a ClickHouse target whose back-quoted parts hold dots
// is planned.
func TestBackQuotedNamesAreNotPatterns(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	db := checkDB(t, myDSN, map[string]string{"t1": "id INT PRIMARY KEY", "`t?`": "id INT PRIMARY KEY", "ta": "id INT PRIMARY KEY", "`t[a]`": "id INT PRIMARY KEY"})
	head := fmt.Sprintf("CREATE SOURCE s FROM mysql '%s';\nCREATE SINK dw INTO clickhouse '%s';\n", myDSN, testenv.ClickHouseDSN(t))
	for from, want := range map[string]string{
		db + ".`t?`":   db + ".t?",
		db + ".`t[a]`": db + ".t[a]",
		db + ".t?":     db + ".t1 " + db + ".t? " + db + ".ta",
		db + ".t*":     db + ".t1 " + db + ".t? " + db + ".t[a] " + db + ".ta",
	} {
		got, out := scanned(t, head+"CREATE PIPELINE p FROM binlog "+from+" TRANSFORM _table, * INTO stdout;\n")
		sort.Strings(got)
		if strings.Join(got, " ") != want {
			t.Errorf("FROM binlog %s reads %q, want %q\n%s", from, got, want, out)
		}
	}

	// Globs in the database part.
	table := testenv.UniqueName(t)
	s1 := checkDB(t, myDSN, map[string]string{table: "id INT PRIMARY KEY"})
	s2 := checkDB(t, myDSN, map[string]string{table: "id INT PRIMARY KEY"})
	first, second := min(s1, s2), max(s1, s2)
	for _, from := range []string{"*." + table, "s." + commonPrefix(s1, s2) + "*." + table} {
		got, out := scanned(t, head+"CREATE PIPELINE p FROM binlog "+from+" TRANSFORM _db, _table, * INTO stdout;\n")
		if want := first + "." + table + " " + second + "." + table; strings.Join(got, " ") != want {
			t.Errorf("FROM binlog %s reads %q, want %q\n%s", from, got, want, out)
		}
	}

	// A dotted database and table name in ClickHouse.
	_, out := scanned(t, head+"CREATE PIPELINE p FROM binlog "+db+".t1 INTO clickhouse dw.`"+db+".x`.`t.33`;\n")
	if !strings.Contains(out, "CREATE TABLE IF NOT EXISTS `"+db+".x`.`t.33`") {
		t.Errorf("INTO clickhouse dw.`%s.x`.`t.33`: want its DDL, got\n%s", db, out)
	}
}

func commonPrefix(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return a[:i]
}

// TestOddNamesIntoClickHouse: source columns and aliases with back quotes,
// quotes, backslashes, spaces, dots, parentheses and non-ASCII letters reach
// ClickHouse with their names and values, into a dotted database and table
// name, in upsert (with its view) and changelog tables, through the
// snapshot and then the binlog, with a column of such a name added while
// etlq is stopped.
func TestOddNamesIntoClickHouse(t *testing.T) {
	t.Parallel()
	onBothServers(t, testOddNamesIntoClickHouse)
}

func testOddNamesIntoClickHouse(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	chDB := s.db + ".x"
	t.Cleanup(func() { chCount(s.chDSN, "DROP DATABASE IF EXISTS `"+chDB+"`") })
	myExec(t, s.my, "CREATE DATABASE "+s.db,
		"CREATE TABLE "+s.db+".w (id INT PRIMARY KEY, `we``ird` INT, `back\\slash` VARCHAR(8), `sp ace` INT, `dot.ted` INT, `quo'te\"d` INT, `ünï` INT)",
		"INSERT INTO "+s.db+".w VALUES (1, 2, 'b', 4, 5, 6, 7), (2, NULL, NULL, 40, 50, 60, 70)")
	path := filepath.Join(t.TempDir(), "odd.etl")
	os.WriteFile(path, []byte(fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = 7322);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE up FROM binlog %[3]s.w TRANSFORM *, `+"`sp ace` + 1 AS `a (b), \"c\" d.e`"+` INTO clickhouse dw.`+"`%[4]s`.`t.33`"+`;
CREATE PIPELINE cl FROM binlog %[3]s.w INTO clickhouse dw.`+"`%[4]s`.`c``l`"+` MODE changelog;
`, myDSN, s.chDSN, s.db, chDB)), 0o644)
	if out, err := runEtlq(t, "check", path); err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	state := filepath.Join(t.TempDir(), "state")
	mustEtlq(t, "apply", "--once", "--state-dir", state, path)

	ch := testenv.ClickHouseConn(t, s.chDSN)
	var cols []string
	for _, c := range []string{"id", "`we\\`ird`", "`back\\\\slash`", "`sp ace`", "`dot.ted`", "`quo'te\"d`", "`ünï`", "`a (b), \"c\" d.e`"} {
		cols = append(cols, "ifNull(toString("+c+"), 'NULL')")
	}
	got := chCells(t, ch, "SELECT "+strings.Join(cols, ", ")+" FROM `"+chDB+"`.`t.33_current` ORDER BY id")
	want := [][]string{{"1", "2", "b", "4", "5", "6", "7", "5"}, {"2", "NULL", "NULL", "40", "50", "60", "70", "41"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("upsert view holds %v, want %v", got, want)
	}
	if n, err := chCount(s.chDSN, "SELECT count() FROM `"+chDB+"`.`c``l` WHERE `_before_we\\`ird` IS NULL AND _op = 'read'"); err != nil || n != 2 {
		t.Errorf("changelog table holds %d snapshot rows (%v), want 2", n, err)
	}

	// Through the binlog, with a new column of an odd name.
	myExec(t, s.my, "ALTER TABLE "+s.db+".w ADD COLUMN `n``e\\w.é` INT",
		"UPDATE "+s.db+".w SET `we``ird` = 9, `n``e\\w.é` = 1 WHERE id = 1",
		"INSERT INTO "+s.db+".w VALUES (3, 3, 'c d', 3, 3, 3, 3, 3)")
	mustEtlq(t, "apply", "--once", "--state-dir", state, path)
	got = chCells(t, ch, "SELECT "+strings.Join(cols, ", ")+", ifNull(toString(`n\\`e\\\\w.é`), 'NULL') FROM `"+chDB+"`.`t.33_current` ORDER BY id")
	want = [][]string{{"1", "9", "b", "4", "5", "6", "7", "5", "1"}, {"2", "NULL", "NULL", "40", "50", "60", "70", "41", "NULL"}, {"3", "3", "c d", "3", "3", "3", "3", "4", "3"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after the binlog, the upsert view holds %v, want %v", got, want)
	}
	if n, err := chCount(s.chDSN, "SELECT count() FROM `"+chDB+"`.`c``l` WHERE `_before_we\\`ird` = 2 AND `we\\`ird` = 9 AND _op = 'update'"); err != nil || n != 1 {
		t.Errorf("changelog table holds %d updates of we`ird from 2 to 9 (%v), want 1", n, err)
	}
}
