package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// collationWheres are WHERE clauses copied from MySQL queries over
// columns of different collations: etlq must select the rows MariaDB's own
// SELECT selects. my, when set, is MariaDB's spelling.
var collationWheres = []struct{ where, my string }{
	{where: "gen = 'PAID'"},
	{where: "gen = 'strasse'"},
	{where: "uni = 'strasse'"},
	{where: "uca = 'AEON'"},
	{where: "gen LIKE 'p%'"},
	{where: "uni LIKE 'stra_e'"},
	{where: "locate('ss', uni) > 0"},
	{where: "gen IN ('CAFE', 'naive', 'ANGSTROM')"},
	{where: "lat = 'CAFE'"},
	{where: "lat LIKE 'å%'"},
	{where: "bin = 'paid'"},
	{where: "gen COLLATE utf8mb4_bin = 'paid'"},
	{where: "gen > 'M' AND gen < 'T'"},
	{where: "regexp_like(gen, '^PA')", my: "gen REGEXP '^PA'"},
	{where: "instr(gen, 'Ä') > 0"},
	{where: "lower(gen) = 'CAFÉ'"},
	{where: "uca BETWEEN 'a' AND 'c'"},
	{where: "uni NOT IN ('SS', 'I')"},
}

// TestWhereFollowsTheCollation: pipelines whose WHERE compares _ci, _bin
// and latin1 columns keep exactly the rows MariaDB's SELECT … WHERE keeps,
// through the snapshot and then the binlog (rows inserted and updated
// across the condition afterwards), on both servers (the binlog's own
// collation ids with binlog_row_metadata=FULL, information_schema without).
func TestWhereFollowsTheCollation(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my, ch := s.db, s.my, s.ch
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+`.t (id INT PRIMARY KEY,
				gen VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci,
				uni VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci,
				uca VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_uca1400_ai_ci,
				lat VARCHAR(32) CHARACTER SET latin1 COLLATE latin1_swedish_ci,
				bin VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin)`)
		values := []string{"paid", "PAID", "Paid ", "päid", "paid ", "straße", "STRASSE", "Strasse", "ß", "s", "ss", "SS",
			"Bäckerei", "backerei", "ÆON", "aeon", "Ångström", "angstrom", "ı", "i", "I", "İ", "café", "CAFE", "cafe ",
			"naïve", "NAIVE", "😀", "😁", "", "Mango", "tea", "b", "Å"}
		insert := func(base int) {
			var rows []string
			for i, v := range values {
				q := "'" + strings.ReplaceAll(v, "'", "''") + "'"
				lat := q // latin1 holds it, else NULL (strict mode refuses it)
				for _, r := range v {
					if r > 0xFF {
						lat = "NULL"
					}
				}
				rows = append(rows, fmt.Sprintf("(%d, %s, %s, %s, %s, %s)", base+i, q, q, q, lat, q))
			}
			rows = append(rows, fmt.Sprintf("(%d, NULL, NULL, NULL, NULL, NULL)", base+len(values)))
			myExec(t, my, "INSERT INTO "+db+".t VALUES "+strings.Join(rows, ", "))
		}
		insert(1)

		var file strings.Builder
		fmt.Fprintf(&file, "CREATE SOURCE src FROM mysql '%s';\nCREATE SINK dw INTO clickhouse '%s';\n", myDSN, s.chDSN)
		for i, w := range collationWheres {
			fmt.Fprintf(&file, "CREATE PIPELINE p%d FROM binlog src.%s.t WHERE %s TRANSFORM id INTO clickhouse dw.%s.p%d;\n", i, db, w.where, db, i)
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "coll.etl")
		if err := os.WriteFile(path, []byte(file.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		state := filepath.Join(dir, "state")
		compare := func(stage string) {
			t.Helper()
			for i, w := range collationWheres {
				my := w.my
				if my == "" {
					my = w.where
				}
				want := myRows(t, s.my, "SELECT CAST(id AS CHAR) FROM "+db+".t WHERE "+my+" ORDER BY id")
				got := chRows(t, ch, fmt.Sprintf("SELECT toString(id) FROM %s.p%d_current ORDER BY id", db, i))
				if strings.Join(want, ",") != strings.Join(got, ",") {
					t.Errorf("%s: WHERE %s: etlq kept ids %v, MariaDB %v", stage, w.where, got, want)
				}
			}
		}
		mustEtlq(t, "apply", "--once", "--state-dir", state, path)
		compare("snapshot")

		// The binlog: new rows, and updates that move rows across the
		// conditions by case and accents alone.
		insert(101)
		myExec(t, my,
			"UPDATE "+db+".t SET gen = UPPER(gen), uni = LOWER(uni), lat = UPPER(lat) WHERE id % 3 = 0",
			"UPDATE "+db+".t SET gen = 'PÄID', uca = 'Aeon', bin = 'paid' WHERE id % 5 = 1",
			"DELETE FROM "+db+".t WHERE id % 7 = 2")
		mustEtlq(t, "apply", "--once", "--state-dir", state, path)
		compare("binlog")
	})
}
